/**
 * `vlab capture -c N` ends by itself after N frames, as tcpdump's and tshark's `-c` do: the file
 * holds exactly N records (tshark reads them), and the frames the lab sent after the Nth are left
 * out by request, not reported as "not written".
 */

import assert from "node:assert/strict";
import { captureStarted, runProgram, spawnVlab, withLab } from "./run.ts";

Deno.test({
  name: "capture -c 4 writes exactly 4 frames and ends by itself while traffic goes on",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (vlab, stateDir) => {
      const pcap = `${stateDir}/a-b.pcap`;
      const child = spawnVlab(["capture", "a-b", "-c", "4", "-w", pcap], { stateDir });
      const output = child.output();
      try {
        await captureStarted(pcap);
        // Ten echo requests and their replies: 20 frames cross, the capture keeps 4.
        const ping = await vlab("exec", "a", "--", "ping", "10.0.0.2", "-c", "10", "-i", "0.02");
        assert.equal(ping.code, 0, ping.stderr);
        const out = await Promise.race([
          output,
          new Promise<null>((r) => setTimeout(() => r(null), 10_000)),
        ]);
        assert.ok(out !== null, "the capture did not end after 4 frames");
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 0, stderr);
        assert.match(stderr, /^4 frames captured, 0 dropped$/m);
        const read = await runProgram("tshark", ["-r", pcap, "-T", "fields", "-e", "frame.number"]);
        assert.equal(read.code, 0, read.stderr);
        // The first four: ARP's request and reply, then the first echo request and reply.
        assert.deepEqual(read.stdout.trim().split("\n"), ["1", "2", "3", "4"]);
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
