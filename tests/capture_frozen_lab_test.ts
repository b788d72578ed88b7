/**
 * `vlab capture` of a lab frozen with `kill -STOP` under it: Ctrl-C cannot get the lab's counts
 * (it does not answer), and the summary said "it stopped" of a lab that had not. It now names
 * the signal and how to resume the lab.
 */

import assert from "node:assert/strict";
import { spawnVlab, withLab } from "./run.ts";

Deno.test({
  name: "Ctrl-C on a capture of a frozen lab says the lab got SIGSTOP, not that it stopped",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (_vlab, stateDir) => {
      const pid = JSON.parse(await Deno.readTextFile(`${stateDir}/pair/lab.json`)).pid as number;
      const child = spawnVlab(["capture", "a-b", "-w", `${stateDir}/a-b.pcap`], { stateDir });
      let frozen = false;
      try {
        // The capture is on once its file holds the pcap header.
        const deadline = performance.now() + 10_000;
        while ((await Deno.stat(`${stateDir}/a-b.pcap`).catch(() => null))?.size !== 24) {
          assert.ok(performance.now() < deadline, "the capture never started");
          await new Promise((r) => setTimeout(r, 50));
        }
        Deno.kill(pid, "SIGSTOP");
        frozen = true;
        child.kill("SIGINT");
        const { code } = await child.status;
        const stderr = await new Response(child.stderr).text();
        assert.equal(code, 0, stderr);
        assert.equal(
          stderr.trim(),
          `0 frames captured, dropped not known (the lab did not answer: its process ${pid} got ` +
            `SIGSTOP (kill -CONT ${pid}))`,
        );
      } finally {
        if (frozen) Deno.kill(pid, "SIGCONT");
        try {
          child.kill("SIGKILL");
        } catch {
          // Ended.
        }
        await child.stdout.cancel().catch(() => {});
        await child.stderr.cancel().catch(() => {});
      }
    });
  },
});
