import assert from "node:assert/strict";
import { sleepAfterPending, waitAtMostAfterPending } from "./options.ts";

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

Deno.test("waitAtMost: the promise that settles first wins, and no timer is left behind", async () => {
  // Settled after the timer was armed: true, and the 10-second timer is cleared.
  let settle!: () => void;
  const armed: ReturnType<typeof setTimeout>[] = [];
  const cleared: ReturnType<typeof setTimeout>[] = [];
  const t0 = performance.now();
  const waiting = waitAtMostAfterPending(
    10_000,
    new Promise<void>((r) => settle = r),
    (fn, ms) => {
      const id = setTimeout(fn, ms);
      armed.push(id);
      return id;
    },
    (id) => {
      cleared.push(id);
      clearTimeout(id);
    },
  );
  await new Promise((r) => setTimeout(r, 1));
  settle();
  assert.equal(await waiting, true);
  assert.equal(armed.length, 1, "the timer was not armed before the promise settled");
  assert.deepEqual(cleared, armed, "the losing timer was left armed");
  assert.ok(performance.now() - t0 < 1_000, "the settled promise did not end the wait");
  // Settled before the timer would be armed: none is.
  let timers = 0;
  const quick = waitAtMostAfterPending(10_000, Promise.resolve(), (fn, ms) => {
    timers++;
    return setTimeout(fn, ms);
  });
  assert.equal(await quick, true);
  assert.equal(timers, 0);
  // A rejection settles it too.
  assert.equal(await waitAtMostAfterPending(10_000, Promise.reject(new Error("x"))), true);
  // Never settled: false once the time is out.
  const t1 = performance.now();
  assert.equal(await waitAtMostAfterPending(5, new Promise(() => {})), false);
  assert.ok(performance.now() - t1 >= 4.5, "the timer ran early");
});
