import assert from "node:assert/strict";
import { formatIommuReport, percentile, runIommuBench } from "./iommu.ts";
import { LAB_TEST } from "../testing.ts";

Deno.test("percentile is nearest-rank and NaN for no samples", () => {
  assert.equal(percentile([3, 1, 2], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 99), 4);
  assert.ok(Number.isNaN(percentile([], 50)));
});

Deno.test({
  name:
    "bench iommu smoke: tiny sizes give a row per mode, none's ratio 1, a hit rate and an UNMAP time",
  ...LAB_TEST,
  fn: async () => {
    const lines: string[] = [];
    const r = await runIommuBench(
      { modes: ["static"], frameSizes: [64], frames: 300, runs: 1 },
      (l) => lines.push(l),
    );
    assert.deepEqual(r.rows.map((x) => x.mode), ["none", "static"]);
    assert.equal(r.rows[0].ratio, 1);
    assert.equal(r.rows[0].iotlbHitRate, null);
    assert.ok(r.rows[1].pps > 0 && r.rows[1].ratio > 0);
    assert.ok((r.rows[1].iotlbHitRate ?? 0) > 0.5, "a static map mostly hits");
    assert.equal(r.unmapFlushedMs.samples, 1);
    assert.ok(r.unmapFlushedMs.median >= 0 && r.unmapFlushedMs.p99 >= r.unmapFlushedMs.median);
    assert.equal(lines.length, 2);
    const text = formatIommuReport(r);
    assert.match(text, /^static +64 B/m);
    assert.doesNotMatch(text, /not measured/);
  },
});
