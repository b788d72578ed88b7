/**
 * `vlab capture` of a vsock link counts packets, as `vlab status` does for that link (it said
 * "267 frames captured" where status said "258 packets" and "9 packets"), and its count is what
 * status says crossed the link.
 */

import assert from "node:assert/strict";
import { captureStarted, spawnVlab, withLab } from "./run.ts";

Deno.test({
  name: "a vsock link's capture summary counts packets, as many as vlab status says crossed it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("vsock-pair", async (vlab, stateDir) => {
      const pcap = `${stateDir}/a-b-vsock.pcap`;
      const child = spawnVlab(["capture", "a-b-vsock", "-w", pcap], { stateDir });
      const output = child.output();
      try {
        await captureStarted(pcap);
        const sink = vlab("exec", "b", "--", "vsock-sink", "-p", "5000", "-t", "10");
        for (let tries = 0;; tries++) {
          const send = await vlab("exec", "a", "--", "vsock-send", "4", "5000", "-b", "100000");
          if (send.code === 0) break;
          assert.ok(tries < 50, send.stderr); // the sink not listening yet
          await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal((await sink).code, 0);
        // Once the stream's last packets (shutdown, reset) have crossed, status stops moving.
        const crossedNow = async () => {
          const link = JSON.parse((await vlab("status", "--json")).stdout).links
            .find((l: { name: string }) => l.name === "a-b-vsock");
          return link.forward.frames + link.reverse.frames;
        };
        let crossed = await crossedNow();
        for (let tries = 0;; tries++) {
          await new Promise((r) => setTimeout(r, 200));
          const again = await crossedNow();
          if (again === crossed) break;
          assert.ok(tries < 25, "the vsock link never went quiet");
          crossed = again;
        }
        child.kill("SIGINT");
        const out = await output;
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, stderr);
        const m = /^(\d+) packets captured, 0 dropped$/m.exec(stderr);
        assert.ok(m !== null, stderr);
        assert.ok(crossed > 2, `${crossed} packets crossed`);
        assert.equal(Number(m[1]), crossed, stderr);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch {
          // Ended.
        }
        await output.catch(() => {});
      }
    });
  },
});
