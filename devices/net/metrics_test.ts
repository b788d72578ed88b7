import assert from "node:assert/strict";
import {
  NET_COUNTER_COUNT,
  NET_DRIVER_COUNTER_COUNT,
  NetCounter,
  NetDriverCounter,
  readCounters,
} from "./metrics.ts";

Deno.test("counter layouts are dense and fit their word counts", () => {
  for (
    const [layout, count] of [[NetCounter, NET_COUNTER_COUNT], [
      NetDriverCounter,
      NET_DRIVER_COUNTER_COUNT,
    ]] as const
  ) {
    const idx = Object.values(layout).sort((a, b) => a - b);
    assert.deepEqual(idx, Array.from({ length: count }, (_, i) => i));
  }
});

Deno.test("readCounters names every word", () => {
  const w = new Float64Array(NET_COUNTER_COUNT);
  w[NetCounter.rxBufferWaits] = 7;
  const r = readCounters(w, NetCounter);
  assert.equal(r.rxBufferWaits, 7);
  assert.equal(r.txFrames, 0);
  assert.equal(Object.keys(r).length, NET_COUNTER_COUNT);
});
