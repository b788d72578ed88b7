import assert from "node:assert/strict";
import {
  formatIommuReport,
  type IommuBenchReport,
  medianInterval,
  percentile,
  runIommuBench,
  verdictOf,
} from "./iommu.ts";
import { LAB_TEST } from "../testing.ts";

Deno.test("percentile is nearest-rank and NaN for no samples", () => {
  assert.equal(percentile([3, 1, 2], 50), 2);
  assert.equal(percentile([1, 2, 3, 4], 99), 4);
  assert.ok(Number.isNaN(percentile([], 50)));
});

Deno.test("medianInterval takes the order statistics whose binomial coverage reaches the confidence", () => {
  // n = 8: only (min, max) covers the median with ≥ 95 % (1 − 2/256); the next pair has 93 %.
  const eight = [0.99, 0.91, 1.03, 0.97, 0.95, 1.0, 0.98, 0.96];
  assert.deepEqual(medianInterval(eight, 0.95), { low: 0.91, high: 1.03, coverage: 1 - 2 / 256 });
  const e90 = medianInterval(eight, 0.9);
  assert.equal(e90.low, 0.95);
  assert.equal(e90.high, 1.0);
  assert.ok(Math.abs(e90.coverage - (1 - (2 * 9) / 256)) < 1e-12);
  // n = 12: the 3rd smallest and 3rd largest (coverage 1 − 2·79/4096 ≈ 96.1 %).
  const twelve = Array.from({ length: 12 }, (_, i) => (i * 7) % 12);
  const t = medianInterval(twelve, 0.95);
  assert.deepEqual([t.low, t.high], [2, 9]);
  assert.ok(t.coverage >= 0.95 && t.coverage < 0.97);
  // Too few samples for the confidence: the widest interval and the coverage it really has.
  assert.deepEqual(medianInterval([1.2, 0.8, 1], 0.95), { low: 0.8, high: 1.2, coverage: 0.75 });
  assert.equal(medianInterval([1], 0.95).coverage, 0);
  assert.ok(Number.isNaN(medianInterval([], 0.95).low));
});

Deno.test("verdictOf places the interval against the 95 % bound, only at the confidence asked", () => {
  assert.equal(verdictOf({ low: 0.95, high: 1.1, coverage: 0.99 }, 0.95, 0.95), "within");
  assert.equal(verdictOf({ low: 0.8, high: 0.949, coverage: 0.99 }, 0.95, 0.95), "over");
  assert.equal(verdictOf({ low: 0.9, high: 1.0, coverage: 0.99 }, 0.95, 0.95), "undecided");
  assert.equal(
    verdictOf({ low: 0.96, high: 0.99, coverage: 0.9375 }, 0.95, 0.95),
    "undecided",
    "five runs cannot give a 95 % interval",
  );
});

Deno.test("the report prints the interval, the verdict, the runs and the load", () => {
  const report: IommuBenchReport = {
    rows: [
      {
        mode: "none",
        frameSize: 64,
        pps: 500_000,
        ratio: 1,
        ratios: [1, 1],
        interval: { low: 1, high: 1, coverage: 0.5 },
        verdict: null,
        iotlbHitRate: null,
      },
      {
        mode: "static",
        frameSize: 64,
        pps: 480_000,
        ratio: 0.962,
        ratios: [0.95, 0.974],
        interval: { low: 0.95, high: 0.974, coverage: 0.5 },
        verdict: "within",
        iotlbHitRate: 1,
      },
    ],
    unmapFlushedMs: { median: 1, p99: 2, samples: 2 },
    notMeasured: [],
    load: { before: 0.5, after: 1.25 },
    options: { modes: ["static"], frameSizes: [64], frames: 1000, runs: 2, warmupSeconds: 1 },
  };
  const text = formatIommuReport(report);
  assert.match(text, /^none +64 B +500000 +100\.0 % +- +- +-$/m);
  assert.match(
    text,
    /^static +64 B +480000 +96\.2 % +95\.0–97\.4 % \(50\.0 %\) +within +100\.00 %$/m,
  );
  assert.match(
    text,
    /2 runs per mode and size, 1000 frames each after 1 s of warm-up in the same lab/,
  );
  assert.match(text, /load average \(1 min\): 0\.50 before, 1\.25 after/);
  assert.match(text, /^UNMAP to flushed: median 1\.000 ms, p99 2\.000 ms \(2 samples\)$/m);
  // Without a static run nothing timed an UNMAP: said so, not NaN.
  const none = formatIommuReport({
    ...report,
    unmapFlushedMs: { median: null, p99: null, samples: 0 },
  });
  assert.match(none, /^UNMAP to flushed: not measured \(it is timed once per static run\)$/m);
  assert.doesNotMatch(none, /NaN/);
  // Cut short after one round of the two asked (Ctrl-C): it said "2 runs per mode and size".
  const cut = formatIommuReport({
    ...report,
    rows: report.rows.map((row) => ({ ...row, ratios: row.ratios.slice(0, 1) })),
  });
  assert.match(cut, /2 runs per mode and size \(64 B: 1 of 2, cut short\), 1000 frames each/);
});

Deno.test({
  name:
    "bench iommu smoke: tiny sizes give a row per mode, none's ratio 1, a hit rate and an UNMAP time",
  ...LAB_TEST,
  fn: async () => {
    const lines: string[] = [];
    const r = await runIommuBench(
      { modes: ["static"], frameSizes: [64], frames: 300, runs: 1, warmupSeconds: 0.1 },
      (l) => lines.push(l),
    );
    assert.deepEqual(r.rows.map((x) => x.mode), ["none", "static"]);
    assert.equal(r.rows[0].ratio, 1);
    assert.equal(r.rows[0].verdict, null);
    assert.deepEqual(r.rows[1].ratios, [r.rows[1].ratio]);
    assert.equal(r.rows[1].verdict, "undecided", "one run gives no interval");
    assert.equal(r.rows[0].iotlbHitRate, null);
    assert.ok(r.rows[1].pps > 0 && r.rows[1].ratio > 0);
    assert.ok((r.rows[1].iotlbHitRate ?? 0) > 0.5, "a static map mostly hits");
    assert.equal(r.unmapFlushedMs.samples, 1);
    const u = r.unmapFlushedMs;
    assert.ok(u.median !== null && u.p99 !== null && u.median >= 0 && u.p99 >= u.median);
    assert.equal(lines.length, 2);
    const text = formatIommuReport(r);
    assert.match(text, /^static +64 B/m);
    assert.doesNotMatch(text, /not measured/);
  },
});
