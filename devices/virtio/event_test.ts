import assert from "node:assert/strict";
import { needEvent, packedNeedNotify } from "./event.ts";
import { PackedEventFlag } from "./constants.ts";

const M = 0x10000;
const mod = (x: number) => ((x % M) + M) % M;

/**
 * Reference for `vring_need_event`, written without its formula: walk the indices the batch
 * moved over, `old`, `old + 1`, …, `new − 1` (mod 2^16), and look for `event`.
 */
function crossedByWalking(event: number, newIdx: number, old: number): boolean {
  const steps = mod(newIdx - old);
  for (let k = 0, i = old; k < steps; k++, i = mod(i + 1)) if (i === event) return true;
  return false;
}

Deno.test("needEvent matches the table of virtio-reference §5.7 (virtio 2.7.7.2)", () => {
  const rows: Array<[number, number, number, boolean]> = [
    [5, 3, 7, true],
    [10, 3, 7, false],
    [65535, 65534, 2, true],
    [3, 3, 4, true],
  ];
  for (const [event, old, newIdx, want] of rows) {
    assert.equal(needEvent(event, newIdx, old), want, `event ${event} old ${old} new ${newIdx}`);
  }
});

Deno.test("needEvent is true exactly for event in [old, new) around the 16-bit wrap (exhaustive)", () => {
  let checked = 0;
  for (const base of [0, 1, 32766, 32767, 32768, 65534, 65535]) {
    for (let dOld = -9; dOld <= 9; dOld++) {
      const old = mod(base + dOld);
      for (let span = 0; span <= 8; span++) {
        const newIdx = mod(old + span);
        for (let dEv = -10; dEv <= span + 10; dEv++) {
          const event = mod(old + dEv);
          const want = crossedByWalking(event, newIdx, old);
          assert.equal(
            needEvent(event, newIdx, old),
            want,
            `event ${event} old ${old} new ${newIdx}`,
          );
          checked++;
        }
      }
    }
  }
  assert.equal(checked, 7 * 19 * (9 * 21 + 36));
});

Deno.test("needEvent with an empty batch (old = new) never notifies", () => {
  for (const old of [0, 1, 32767, 32768, 65535]) {
    for (let d = -3; d <= 3; d++) assert.equal(needEvent(mod(old + d), old, old), false);
  }
});

Deno.test("needEvent over long batches up to 65535 steps (seeded)", () => {
  let seed = 0x5eed;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed >>> 16;
  };
  for (let n = 0; n < 3000; n++) {
    const old = rand();
    const span = n < 4 ? [65535, 32768, 32767, 1][n] : rand();
    const newIdx = mod(old + span);
    const event = rand();
    // Independent reference: the batch covers event iff event is at most span − 1 steps ahead.
    const want = mod(event - old) < span;
    assert.equal(needEvent(event, newIdx, old), want, `seed step ${n}: ${event} ${old} ${newIdx}`);
    assert.equal(crossedByWalking(event, newIdx, old), want);
  }
});

Deno.test("needEvent notifies at the boundaries: event = old yes, event = new no, event = new − 1 yes", () => {
  for (const old of [0, 65530, 65535]) {
    const newIdx = mod(old + 6);
    assert.equal(needEvent(old, newIdx, old), true);
    assert.equal(needEvent(newIdx, newIdx, old), false);
    assert.equal(needEvent(mod(newIdx - 1), newIdx, old), true);
    assert.equal(needEvent(mod(old - 1), newIdx, old), false);
  }
});

// ---- packed (virtio 2.8.10) ----

const { ENABLE, DISABLE, DESC } = PackedEventFlag;
const offWrap = (off: number, wrap: number) => off | (wrap << 15);

/**
 * Packed reference: the notifier moved over `k` ring positions ending at (`slot`, `wrap`);
 * walk backwards over them and look for the position (`off`, `w`).
 */
function packedCrossedByWalking(
  off: number,
  w: number,
  slot: number,
  wrap: number,
  k: number,
  size: number,
): boolean {
  let s = slot;
  let cw = wrap;
  for (let i = 0; i < k; i++) {
    if (s === 0) {
      s = size - 1;
      cw ^= 1;
    } else s--;
    if (s === off && cw === w) return true;
  }
  return false;
}

Deno.test("packedNeedNotify ENABLE always notifies (virtio 2.8.10)", () => {
  for (const eventIdx of [false, true]) {
    assert.equal(packedNeedNotify(ENABLE, 0, 0, 1, 1, 8, eventIdx), true);
    assert.equal(packedNeedNotify(ENABLE, offWrap(5, 0), 3, 4, 1, 8, eventIdx), true);
  }
});

Deno.test("packedNeedNotify DISABLE never notifies (virtio 2.8.10)", () => {
  for (const eventIdx of [false, true]) {
    assert.equal(packedNeedNotify(DISABLE, 0, 0, 1, 1, 8, eventIdx), false);
    assert.equal(packedNeedNotify(DISABLE, offWrap(0, 1), 0, 8, 0, 8, eventIdx), false);
  }
});

Deno.test("packedNeedNotify treats DESC without EVENT_IDX as ENABLE", () => {
  // The event (slot 7, wrap 1) is not crossed by moving 0 → 1, yet it notifies.
  assert.equal(packedNeedNotify(DESC, offWrap(7, 1), 0, 1, 1, 8, false), true);
  assert.equal(packedNeedNotify(DESC, offWrap(7, 1), 0, 1, 1, 8, true), false);
});

Deno.test("packedNeedNotify treats the reserved flags value 3 as a notification (spurious is safe)", () => {
  assert.equal(packedNeedNotify(3, offWrap(7, 1), 0, 1, 1, 8, true), true);
  assert.equal(packedNeedNotify(3, offWrap(7, 1), 0, 1, 1, 8, false), true);
});

Deno.test("packedNeedNotify DESC with the notifier's wrap: event inside or outside the batch", () => {
  // Size 8, wrap 1, batch moved 2 → 5 (slots 2, 3, 4).
  const cases: Array<[number, boolean]> = [
    [1, false],
    [2, true],
    [3, true],
    [4, true],
    [5, false],
    [7, false],
  ];
  for (const [off, want] of cases) {
    assert.equal(packedNeedNotify(DESC, offWrap(off, 1), 2, 5, 1, 8, true), want, `off ${off}`);
  }
});

Deno.test("packedNeedNotify DESC with the other wrap refers to the previous lap (event − N)", () => {
  // Size 8: the batch moved from slot 6 (wrap 1) across the end to slot 2 (wrap 0):
  // positions 6, 7 (wrap 1) and 0, 1 (wrap 0). `old` is 6 − 8 in the notifier's count.
  const old = mod(2 - 4);
  const cases: Array<[number, number, boolean]> = [
    [6, 1, true],
    [7, 1, true],
    [0, 0, true],
    [1, 0, true],
    [5, 1, false], // before the batch, previous lap
    [2, 0, false], // the next position
    [6, 0, false], // a lap ahead
    [0, 1, false], // two laps back
  ];
  for (const [off, w, want] of cases) {
    assert.equal(packedNeedNotify(DESC, offWrap(off, w), old, 2, 0, 8, true), want, `${off}/${w}`);
  }
});

Deno.test("packedNeedNotify DESC across the ring end matches a walk over the positions (exhaustive)", () => {
  let checked = 0;
  for (const size of [1, 2, 3, 4, 5, 7, 8]) {
    for (let endSlot = 0; endSlot < size; endSlot++) {
      for (const wrap of [0, 1]) {
        for (let k = 0; k <= size; k++) {
          const old = mod(endSlot - k);
          for (let off = 0; off < size; off++) {
            for (const w of [0, 1]) {
              const want = packedCrossedByWalking(off, w, endSlot, wrap, k, size);
              const got = packedNeedNotify(DESC, offWrap(off, w), old, endSlot, wrap, size, true);
              assert.equal(
                got,
                want,
                `size ${size} end ${endSlot}/${wrap} k ${k} event ${off}/${w}`,
              );
              checked++;
            }
          }
        }
      }
    }
  }
  assert.ok(checked > 2000);
});

Deno.test("packedNeedNotify DESC on a non-power-of-two ring of 100 (sampled)", () => {
  const size = 100;
  for (const endSlot of [0, 1, 2, 49, 97, 98, 99]) {
    for (const wrap of [0, 1]) {
      for (const k of [0, 1, 2, 3, 50, 98, 99, 100]) {
        const old = mod(endSlot - k);
        for (let off = 0; off < size; off++) {
          for (const w of [0, 1]) {
            const want = packedCrossedByWalking(off, w, endSlot, wrap, k, size);
            const got = packedNeedNotify(DESC, offWrap(off, w), old, endSlot, wrap, size, true);
            assert.equal(got, want, `end ${endSlot}/${wrap} k ${k} event ${off}/${w}`);
          }
        }
      }
    }
  }
});

Deno.test("packedNeedNotify DESC on the largest ring (32768) across the end", () => {
  const size = 32768;
  // Moved from slot 32766 (wrap 0) to slot 1 (wrap 1): positions 32766, 32767, 0.
  const old = mod(1 - 3);
  assert.equal(packedNeedNotify(DESC, offWrap(32766, 0), old, 1, 1, size, true), true);
  assert.equal(packedNeedNotify(DESC, offWrap(32767, 0), old, 1, 1, size, true), true);
  assert.equal(packedNeedNotify(DESC, offWrap(0, 1), old, 1, 1, size, true), true);
  assert.equal(packedNeedNotify(DESC, offWrap(1, 1), old, 1, 1, size, true), false);
  assert.equal(packedNeedNotify(DESC, offWrap(32765, 0), old, 1, 1, size, true), false);
  assert.equal(packedNeedNotify(DESC, offWrap(32766, 1), old, 1, 1, size, true), false);
});
