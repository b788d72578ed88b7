import assert from "node:assert/strict";
import fc from "fast-check";
import { zeroBytes } from "./zero.ts";

/** Fixed by default so CI is repeatable; fast-check prints the seed of a failing run. */
const SEED = Number(Deno.env.get("VLAB_FUZZ_SEED") ?? "") || 0x2e50;

Deno.test("zeroBytes zeroes exactly [from, to) of shared memory, short runs and runs over the zero source", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 9000 }),
      fc.integer({ min: 0, max: 9000 }),
      (a, b) => {
        const [from, to] = a <= b ? [a, b] : [b, a];
        const buf = new Uint8Array(new SharedArrayBuffer(9001));
        for (let i = 0; i < buf.length; i++) buf[i] = (i % 251) + 1; // never 0
        zeroBytes(buf, from, to);
        for (let i = 0; i < buf.length; i++) {
          const want = i >= from && i < to ? 0 : (i % 251) + 1;
          if (buf[i] !== want) return false;
        }
        return true;
      },
    ),
    { numRuns: 300, seed: SEED },
  );
});

Deno.test("zeroBytes covers the lengths around its two thresholds", () => {
  // Below, at and above the store-run length (64) and the zero source's length (4096), and two
  // sources' worth: each case is zeroed exactly, with its neighbours untouched.
  for (const len of [0, 1, 63, 64, 65, 4095, 4096, 4097, 8192, 8193]) {
    const buf = new Uint8Array(len + 2).fill(9);
    zeroBytes(buf, 1, len + 1);
    assert.equal(buf[0], 9, `len ${len}: byte before`);
    assert.equal(buf[len + 1], 9, `len ${len}: byte after`);
    assert.equal(buf.subarray(1, len + 1).every((x) => x === 0), true, `len ${len}: the run`);
  }
});
