import assert from "node:assert/strict";
import { LAB_TEST } from "../testing.ts";
import { DEFAULT_NET_OPTIONS, formatNetReport } from "./net.ts";
import { besideFloodBench } from "./net_beside.ts";

Deno.test({
  name: "vlab bench net --beside-flood: pings from a flooding VM are answered, and timed",
  ...LAB_TEST,
  fn: async () => {
    const seen: string[] = [];
    const row = await besideFloodBench(
      "split",
      64,
      { pings: 10, pingIntervalMs: 20, runs: 1, warmupSeconds: 0 },
      (w) => seen.push(w),
    );
    assert.deepEqual(seen, ["ping beside a flood, split 64 B, run 1/1"]);
    const all = JSON.stringify(row);
    assert.equal(row.count, 10);
    assert.equal(row.runsPace.length, 1);
    // Nine intervals of 20 ms cannot pass in less than 180 ms; a run that waits for nothing
    // (no flood, or pings that never left) would be far from both bounds.
    assert.ok(row.pace >= 0.95 && row.pace < 10, all);
    assert.ok(row.medianUs > 0 && row.p99Us >= row.medianUs, all);
    assert.equal(row.lossPct, 0, all);
    assert.ok(row.floodPps > 10_000, all);
    const text = formatNetReport({
      date: "now",
      cpus: 2,
      options: { ...DEFAULT_NET_OPTIONS, besideFlood: true },
      rows: [row],
    });
    assert.match(text, /ping beside a flood +flood B +pings +every ms +pace/);
    assert.match(text, /split +64 +10 +20 +\d+\.\d\d +\d+\.\d\d +\d+ +\d+ +\d+ +0\.0 +\d+\.\d{3}/);
  },
});
