import assert from "node:assert/strict";
import { formatWakeupTable, quantile, runWakeupBench } from "./wakeup.ts";

Deno.test("quantile takes the nearest rank", () => {
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.99), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("the wake-up benchmark times round trips in both sleeping modes", async () => {
  const rows = await runWakeupBench({ modes: ["async", "block"], rounds: 50, sliceMs: 2 });
  assert.deepEqual(rows.map((r) => r.mode), ["async", "block"]);
  for (const r of rows) {
    assert.equal(r.rounds, 45, "a tenth dropped as warm-up");
    assert.ok(r.medianUs > 0 && r.medianUs < 1_000_000, `${r.mode}: median ${r.medianUs}`);
    assert.ok(r.p99Us >= r.medianUs);
  }
  assert.match(formatWakeupTable(rows), /^mode {5}rounds {2}median µs {2}p99 µs\nasync /);
});
