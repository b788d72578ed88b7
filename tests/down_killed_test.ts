/**
 * `vlab down` of a lab that takes the request and never lets go of its folder kills it after its
 * wait (15 s; `VLAB_DOWN_WAIT_MS` here) and says so: it printed only `lab NAME down`, as for a lab
 * that stopped, though the lab logged no `lab-down` and its clients got no answer.
 */

import assert from "node:assert/strict";
import { runVlab } from "./run.ts";

/** A lab process that answers `POST /down` with 202 and then goes on: it holds its folder. */
const STUCK = `
const { holdFakeLab } = await import(${
  JSON.stringify(new URL("../lab/fake_lab_testing.ts", import.meta.url).href)
});
holdFakeLab("stuck", {
  vms: 1,
  serve: () => Response.json({ stopping: "stuck" }, { status: 202 }),
});
console.log("ready");
`;

Deno.test({
  name: "vlab down of a lab that does not let go says it was killed (SIGKILL), not just down",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-down-killed-" });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", STUCK],
      env: { VLAB_STATE_DIR: stateDir },
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      assert.equal(first.value?.trim(), "ready");
      reader.releaseLock();
      const down = await runVlab(["down", "stuck"], {
        stateDir,
        env: { VLAB_DOWN_WAIT_MS: "500" },
      });
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.stdout, "lab stuck down (it did not stop within 0.5 s: SIGKILL)\n");
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL");
      assert.deepEqual([...Deno.readDirSync(stateDir)], [], "its folder is cleaned up");
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already ended.
      }
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
