import assert from "node:assert/strict";
import { pauseUnlessAborted } from "./pause.ts";

Deno.test("a pause ends at its time or at the abort, and leaves no listener behind", async () => {
  const ctl = new AbortController();
  let listeners = 0;
  const add = ctl.signal.addEventListener.bind(ctl.signal);
  const remove = ctl.signal.removeEventListener.bind(ctl.signal);
  ctl.signal.addEventListener = (...a: Parameters<typeof add>) => (listeners++, add(...a));
  ctl.signal.removeEventListener = (...a: Parameters<typeof remove>) => (listeners--, remove(...a));
  for (let i = 0; i < 3; i++) await pauseUnlessAborted(1, ctl.signal);
  assert.equal(listeners, 0, "a pause that timed out left its abort listener");
  const t0 = performance.now();
  const long = pauseUnlessAborted(10_000, ctl.signal);
  ctl.abort();
  await long;
  assert.ok(performance.now() - t0 < 1000, "the abort did not end the pause");
  await pauseUnlessAborted(10_000, ctl.signal); // aborted already: at once
  assert.ok(performance.now() - t0 < 1000);
});

Deno.test("a pause of 0 ms or less resolves at once, arming no timer", async () => {
  const ctl = new AbortController();
  let added = 0;
  ctl.signal.addEventListener = () => void added++;
  await pauseUnlessAborted(0, ctl.signal);
  await pauseUnlessAborted(-5, ctl.signal);
  assert.equal(added, 0);
});

Deno.test("a pause gives its timer its ms rounded up: it never ends before its time", async () => {
  // Before, setTimeout was given 19.95 and Deno truncates a fractional delay: it may fire after
  // 19 ms, and a drill step due then started before its time (a step 19 ms after a vm-crash
  // could find the VM running, which the loader took for sure to be rebooting).
  const asked: number[] = [];
  const real = globalThis.setTimeout;
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    asked.push(ms ?? 0);
    return real(fn, ms);
  }) as typeof setTimeout;
  const signal = new AbortController().signal;
  const t0 = performance.now();
  try {
    await pauseUnlessAborted(19.95, signal);
    await pauseUnlessAborted(0.2, signal);
    await pauseUnlessAborted(3, signal);
  } finally {
    globalThis.setTimeout = real;
  }
  assert.deepEqual(asked, [20, 1, 3]);
  assert.ok(performance.now() - t0 >= 23.15);
});
