import assert from "node:assert/strict";
import { sleepAfterPending } from "./options.ts";

Deno.test("a workload's sleep arms its timer after the kick its send queued", async () => {
  const order: string[] = [];
  queueMicrotask(() => order.push("kick")); // what a send while the loop waits queues
  await sleepAfterPending(1, (fn, ms) => {
    order.push("timer");
    return setTimeout(fn, ms);
  });
  assert.deepEqual(order, ["kick", "timer"]);
});

Deno.test("a workload's sleep lasts at least its milliseconds", async () => {
  const t0 = performance.now();
  await sleepAfterPending(5);
  assert.ok(performance.now() - t0 >= 4.5, "the timer ran early");
});
