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

Deno.test("a sleep whose signal aborts ends at once and leaves no timer behind", async () => {
  // Armed, then aborted: the 10-second timer is cleared (the test's sanitizer would see it).
  const armed = new AbortController();
  const t0 = performance.now();
  const sleeping = sleepAfterPending(10_000, setTimeout, armed.signal);
  await new Promise((r) => setTimeout(r, 1));
  armed.abort();
  await sleeping;
  assert.ok(performance.now() - t0 < 1_000, "the abort did not end the sleep");
  // Aborted before the timer would be armed: none is.
  const early = new AbortController();
  let timers = 0;
  const quick = sleepAfterPending(10_000, (fn, ms) => {
    timers++;
    return setTimeout(fn, ms);
  }, early.signal);
  early.abort();
  await quick;
  assert.equal(timers, 0);
});
