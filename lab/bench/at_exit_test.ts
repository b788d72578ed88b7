import assert from "node:assert/strict";
import { benchTempDir, untilExit } from "./at_exit.ts";
import { LabError } from "../errors.ts";

Deno.test("untilExit's release runs the clean-up once, now, and not again", () => {
  let runs = 0;
  const release = untilExit(() => runs++);
  release();
  release();
  globalThis.dispatchEvent(new Event("unload")); // what Deno.exit does: nothing left to run
  assert.equal(runs, 1);
});

Deno.test("a bench's temporary folder under a TMPDIR that does not exist is one line naming it", () => {
  // Deno said "No such file or directory (os error 2): tmpdir" (bench vsock's whole message).
  const missing = `${Deno.makeTempDirSync({ prefix: "vlab-at-exit-" })}/gone`;
  Deno.removeSync(missing.slice(0, -"/gone".length));
  const saved = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", missing);
  try {
    assert.throws(
      () => benchTempDir("vlab-bench-test-"),
      (e) =>
        e instanceof LabError && e.code === "lab-failed" &&
        e.message === `no temporary folder under "${missing}": no such file or directory` &&
        e.hint === "Set TMPDIR to a folder you may write",
    );
  } finally {
    if (saved === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", saved);
  }
});

Deno.test("a bench's temporary folder goes at remove, and remove twice is no error", () => {
  const dir = benchTempDir("vlab-bench-test-");
  Deno.writeTextFileSync(`${dir.path}/x`, "x");
  dir.remove();
  dir.remove();
  assert.throws(() => Deno.statSync(dir.path), Deno.errors.NotFound);
});
