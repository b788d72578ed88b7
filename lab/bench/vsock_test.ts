import assert from "node:assert/strict";
import { formatVsockReport, quantile, runVsockBench } from "./vsock.ts";

Deno.test("quantile takes the nearest rank", () => {
  const xs = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(quantile(xs, 0.99), 99);
  assert.equal(quantile(xs, 0.5), 50);
  assert.equal(quantile([7], 0.99), 7);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test({
  name: "bench vsock smoke: tiny sizes give every figure, positive and finite",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lines: string[] = [];
    const r = await runVsockBench(
      { bytes: 256 * 1024, runs: 1, connections: 3, pings: 5 },
      (l) => lines.push(l),
    );
    for (const k of ["streamGbit", "unixGbit", "ratio", "connectionsPerSecond", "rttMedianUs"]) {
      const v = r[k as keyof typeof r] as number;
      assert.ok(Number.isFinite(v) && v > 0, `${k} = ${v}`);
    }
    assert.ok(r.rttP99Us >= r.rttMedianUs);
    assert.equal(r.streamRuns.length, 1);
    assert.ok(lines.some((l) => /Unix-socket stream/.test(l)));
    assert.match(formatVsockReport(r), /ratio vsock \/ Unix/);
  },
});
