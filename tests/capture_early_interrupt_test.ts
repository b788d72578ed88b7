/**
 * `vlab capture -w FILE` interrupted as soon as its file exists (a script that waits for the file,
 * then sends Ctrl-C or SIGTERM): the file was made before the command listened for either, so a
 * signal in between ended the process, with an empty file (no pcap: tshark refuses it) and no
 * summary. It now ends as any interrupted capture does.
 */

import assert from "node:assert/strict";
import { within } from "../lab/testing.ts";
import { runProgram, spawnVlab, withLab } from "./run.ts";

Deno.test({
  name: "capture -w FILE interrupted once its file exists: a whole pcap, the summary, exit 0",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (_vlab, stateDir) => {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        const pcap = `${stateDir}/a-b-${signal}.pcap`;
        const child = spawnVlab(["capture", "a-b", "-w", pcap], { stateDir });
        const output = child.output();
        try {
          // The file, not its pcap header (written once the capture listens): the earliest
          // moment a script can see that the capture began.
          const deadline = performance.now() + 20_000;
          while (!(await Deno.stat(pcap).then(() => true, () => false))) {
            assert.ok(performance.now() < deadline, `${signal}: the capture's file never appeared`);
            await new Promise((r) => setTimeout(r, 2));
          }
          child.kill(signal);
          // Bounded: a capture that ignored the signal would hang the suite, not fail it.
          const out = await within(15_000, `${signal}: the capture's end`, output);
          const stderr = new TextDecoder().decode(out.stderr);
          assert.deepEqual([out.signal, out.code], [null, 0], `${signal}: ${stderr}`);
          assert.equal(stderr, "0 frames captured, 0 dropped\n", signal);
          const read = await runProgram("capinfos", ["-c", "-M", pcap]);
          assert.equal(read.code, 0, `${signal}: ${read.stderr}`);
          assert.match(read.stdout, /Number of packets:\s+0\b/, signal);
        } finally {
          try {
            child.kill("SIGKILL");
          } catch {
            // Ended.
          }
          await output.catch(() => {});
        }
      }
    });
  },
});
