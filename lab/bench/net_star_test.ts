import assert from "node:assert/strict";
import { LAB_TEST } from "../testing.ts";
import { DEFAULT_NET_OPTIONS, formatNetReport } from "./net.ts";
import { starBench } from "./net_star.ts";

Deno.test({
  name: "vlab bench net --star: both floods of the star topology reach their sinks, summed",
  ...LAB_TEST,
  fn: async () => {
    const seen: string[] = [];
    const row = await starBench("packed", 64, { seconds: 1, runs: 1 }, (w) => seen.push(w));
    assert.deepEqual(seen, ["star under two floods, packed 64 B, run 1/1"]);
    assert.equal(row.flows, 2);
    assert.equal(row.runsPps.length, 1);
    assert.ok(row.pps > 0, JSON.stringify(row));
    assert.ok(row.lossPct >= 0 && row.lossPct < 100, JSON.stringify(row));
    const text = formatNetReport({
      date: "now",
      cpus: 2,
      options: { ...DEFAULT_NET_OPTIONS, star: true },
      rows: [row],
    });
    assert.match(text, /star, 2 floods +frame B +Mpps \(both sinks\)/);
    assert.match(text, /packed +64 +\d+\.\d{3} +\d+\.\d{3} +\d+\.\d/);
  },
});
