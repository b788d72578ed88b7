/**
 * `vlab capture` when the lab's process dies under it (SIGKILL, an OOM kill): the capture said
 * "Internal error: error reading a body from connection" and no summary. It now ends with its
 * summary and one line saying the lab is gone, and the file it wrote is a whole pcap.
 */

import assert from "node:assert/strict";
import { PcapRecordCounter } from "../lab/capture.ts";
import { runProgram, spawnVlab, withLab } from "./run.ts";

Deno.test({
  name:
    "capture of a lab killed mid-flood: the summary, 'its process is gone', a whole pcap, exit 1",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (vlab, stateDir) => {
      const { pid } = JSON.parse(await Deno.readTextFile(`${stateDir}/pair/lab.json`));
      const pcap = `${stateDir}/a-b.pcap`;
      const child = spawnVlab(["capture", "a-b", "-w", pcap], { stateDir });
      const output = child.output();
      try {
        const flood = vlab("exec", "a", "--", "udp-flood", "10.0.0.2", "--max", "-t", "5");
        // Kill the lab while frames stream into the file.
        const deadline = performance.now() + 20_000;
        while ((await Deno.stat(pcap).then((i) => i.size, () => 0)) < 1 << 20) {
          assert.ok(performance.now() < deadline, "the flood never reached the capture");
          await new Promise((r) => setTimeout(r, 20));
        }
        Deno.kill(pid, "SIGKILL");
        await flood;
        const out = await output;
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 1, stderr);
        const lines = stderr.trimEnd().split("\n");
        assert.match(lines[0], /^\d+ frames captured, dropped not known/, stderr);
        assert.equal(
          lines[1],
          'vlab: Lab "pair" stopped in the middle of the capture: its process is gone',
        );
        assert.match(lines[2], /^hint: What was written is a valid pcap/);
        const bytes = await Deno.readFile(pcap);
        const counter = new PcapRecordCounter();
        counter.push(bytes);
        assert.equal(counter.partialBytes, 0, "the file ends on a record's end");
        assert.equal(counter.complete, Number(lines[0].split(" ")[0]));
        const read = await runProgram("capinfos", ["-c", "-M", pcap]);
        assert.equal(read.code, 0, read.stderr);
        assert.match(read.stdout, new RegExp(`Number of packets:\\s+${counter.complete}\\b`));
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
