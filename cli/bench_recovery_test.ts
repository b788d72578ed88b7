import assert from "node:assert/strict";
import { parseRecoveryOptions } from "./bench_recovery.ts";
import { VlabError } from "./errors.ts";

Deno.test("bench recovery options parse, and either count may be 0 to skip it", () => {
  assert.deepEqual(parseRecoveryOptions({ crashes: "3", corruptions: "0", rate: "5000" }), {
    crashes: 3,
    corruptions: 0,
    ratePps: 5000,
  });
  assert.equal(parseRecoveryOptions({ crashes: "0", corruptions: "2", rate: "100" }).crashes, 0);
});

Deno.test("bench recovery refuses to skip both measurements (it would print nothing)", () => {
  assert.throws(
    () => parseRecoveryOptions({ crashes: "0", corruptions: "0", rate: "20000" }),
    (e) =>
      e instanceof VlabError && e.code === "bad-option" &&
      e.message === "--crashes 0 and --corruptions 0 leave nothing to measure",
  );
  assert.throws(
    () => parseRecoveryOptions({ crashes: "3", corruptions: "3", rate: "99" }),
    /--rate must be an integer from 100 to 10000000, got "99"/,
  );
});
