import assert from "node:assert/strict";
import {
  checksumAdd,
  completeChecksum,
  csumOffsetOf,
  csumStartOf,
  MAX_CSUM_OFFSET,
  partialChecksum,
  partialChecksumFits,
  settleChecksum,
} from "./checksum.ts";

/** The folded sum of `seed` and `buf[from, to)` (0xffff when a checksum over it verifies). */
function foldedSum(seed: number, buf: Uint8Array, from: number, to: number): number {
  let acc = checksumAdd(seed, buf, from, to - from);
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

Deno.test("a partial checksum's meta word keeps start and offset", () => {
  for (const [start, offset] of [[0, 0], [34, 6], [54, 16], [MAX_CSUM_OFFSET, MAX_CSUM_OFFSET]]) {
    const meta = partialChecksum(start, offset);
    assert.notEqual(meta, 0);
    // A small integer to V8 (below 2^30): passed at every frame, it allocates nothing.
    assert.ok(meta > 0 && meta < 2 ** 30, `meta ${meta}`);
    assert.equal(csumStartOf(meta), start);
    assert.equal(csumOffsetOf(meta), offset);
  }
  assert.equal(partialChecksumFits(34, 6, 42), true);
  assert.equal(partialChecksumFits(34, 6, 41), false);
  assert.equal(partialChecksumFits(2000, 6, 1514), false);
});

Deno.test("completeChecksum writes the complement of the sum from csum_start, seed included", () => {
  const frame = new Uint8Array(1514);
  for (let i = 0; i < frame.length; i++) frame[i] = (i * 13 + 5) & 0xff;
  // The field holds a seed (a pseudo-header sum) before completion, as a sender leaves it.
  frame[40] = 0x12;
  frame[41] = 0x34;
  const before = frame.slice();
  assert.equal(completeChecksum(frame, partialChecksum(34, 6)), true);
  // A receiver adds the pseudo-header (the seed) itself, and the datagram then verifies.
  assert.equal(foldedSum(0x1234, frame, 34, frame.length), 0xffff);
  assert.notEqual(foldedSum(0, frame, 34, frame.length), 0xffff);
  // Only the field changed; the seed was part of the sum.
  assert.deepEqual(frame.subarray(0, 40), before.subarray(0, 40));
  assert.deepEqual(frame.subarray(42), before.subarray(42));
  const seedless = before.slice();
  seedless[40] = seedless[41] = 0;
  completeChecksum(seedless, partialChecksum(34, 6));
  assert.notDeepEqual(seedless.subarray(40, 42), frame.subarray(40, 42));
});

Deno.test("a complement of 0 is sent as 0xffff; nothing happens without a fitting partial checksum", () => {
  // Sum of the covered bytes 0xffff (with the zero field): the complement would be 0.
  const f = new Uint8Array([0xaa, 0xff, 0xff, 0, 0]);
  assert.equal(completeChecksum(f, partialChecksum(1, 2)), true);
  assert.deepEqual([...f.subarray(3)], [0xff, 0xff]);
  const g = new Uint8Array(8).fill(9);
  assert.equal(completeChecksum(g, 0), false);
  assert.equal(completeChecksum(g, partialChecksum(4, 4)), false); // field past the end
  assert.deepEqual([...g], new Array(8).fill(9));
  const h = new Uint8Array(8);
  assert.equal(settleChecksum(h, partialChecksum(0, 2)), 0);
  assert.deepEqual([...h.subarray(2, 4)], [0xff, 0xff]);
  assert.equal(settleChecksum(new Uint8Array(4), 0), 0);
});
