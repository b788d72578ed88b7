import assert from "node:assert/strict";
import { LabError } from "../lab/errors.ts";
import { drillNotRun } from "./drill.ts";
import { EXIT_CODES } from "./errors.ts";

Deno.test("a drill whose lab is already running did not run: exit 3, not the failed verdict's 1", () => {
  const running = new LabError(
    "lab-exists",
    'Cannot start lab "pair": it is already running (pid 7)',
    "Stop it with `vlab down pair`, or give this topology another name",
  );
  const e = drillNotRun(running)!;
  assert.equal(e.code, "drill-not-run");
  assert.equal(e.exitCode, 3);
  assert.equal(e.exitCode, EXIT_CODES.drillNotRun);
  assert.notEqual(e.exitCode, EXIT_CODES.failure);
  assert.equal(e.message, 'Cannot start lab "pair": it is already running (pid 7)');
  assert.match(e.hint, /^Stop it with `vlab down pair`.*topology's name$/);
  assert.equal(e.cause, running);
});

Deno.test("a lab that failed to start is not a verdict either; other errors are left alone", () => {
  assert.equal(drillNotRun(new LabError("lab-failed", "Cannot start lab", "x"))?.exitCode, 3);
  assert.equal(drillNotRun(new LabError("drill-invalid", "bad drill", "x")), null);
  assert.equal(drillNotRun(new LabError("workload-failed", "ping failed", "x")), null);
  assert.equal(drillNotRun(new Error("lab-exists")), null);
});
