import assert from "node:assert/strict";
import { perUnit } from "./wake_counts.ts";

Deno.test("perUnit divides the counts' growth by the units", () => {
  const before = { wakeups: 10, kicks: 4, interrupts: 6 };
  const after = { wakeups: 70, kicks: 24, interrupts: 36 };
  assert.deepEqual(perUnit(before, after, 10), { wakeups: 6, kicks: 2, interrupts: 3 });
});

Deno.test("perUnit gives NaN for zero units rather than Infinity", () => {
  const c = perUnit({ wakeups: 0, kicks: 0, interrupts: 0 }, {
    wakeups: 5,
    kicks: 1,
    interrupts: 1,
  }, 0);
  assert.ok(Object.values(c).every(Number.isNaN));
});
