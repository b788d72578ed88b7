import assert from "node:assert/strict";
import { Prng } from "../../../devices/base/prng.ts";
import {
  FNV_BASIS,
  STREAM_PERIOD,
  STREAM_SPAN,
  streamByte,
  StreamChecksum,
  streamPattern,
  StreamVerifier,
} from "./vsock_stream.ts";

/** FNV-1a over 32-bit little-endian words, zero-padded: the definition, byte by byte. */
function reference(bytes: Uint8Array): number {
  let h = FNV_BASIS;
  for (let i = 0; i < bytes.length; i += 4) {
    let w = 0;
    for (let k = 0; k < 4 && i + k < bytes.length; k++) w |= bytes[i + k] << (8 * k);
    h = Math.imul(h ^ w, 16777619);
  }
  return h >>> 0;
}

Deno.test("the pattern table is the stream, and the stream repeats every MiB", () => {
  const t = streamPattern();
  assert.equal(t.length, STREAM_PERIOD + STREAM_SPAN);
  for (const i of [0, 1, 4095, 4096, 123_457, STREAM_PERIOD - 1, STREAM_PERIOD + 77]) {
    assert.equal(t[i], streamByte(i), `byte ${i}`);
  }
  for (const i of [0, 5, 4097, 999_999]) {
    assert.equal(streamByte(i + STREAM_PERIOD), streamByte(i));
    assert.equal(streamByte(i + 7 * STREAM_PERIOD), streamByte(i));
  }
});

Deno.test("the stream checksum is the same whatever the pieces and their alignment", () => {
  const seed = 0x5eed;
  const rng = Prng.fromSeed(seed);
  const data = streamPattern().slice(3, 3 + 200_003);
  const want = reference(data);
  for (let round = 0; round < 20; round++) {
    const sum = new StreamChecksum();
    for (let off = 0; off < data.length;) {
      const n = Math.min(data.length - off, 1 + rng.below(9000));
      // Copy at a random buffer offset: word-aligned or not, the result must not change.
      const shift = rng.below(4);
      const buf = new Uint8Array(n + shift);
      buf.set(data.subarray(off, off + n), shift);
      sum.update(buf.subarray(shift));
      off += n;
    }
    assert.equal(sum.position, data.length);
    assert.equal(sum.digest(), want, `seed ${seed}, round ${round}`);
  }
  assert.equal(new StreamChecksum().digest(), FNV_BASIS);
});

Deno.test("the verifier counts every byte out of place, aligned or not", () => {
  const good = streamPattern().slice(0, 300_000);
  for (const shift of [0, 1, 2, 3]) {
    const v = new StreamVerifier();
    const bad = good.slice();
    bad[10] ^= 1;
    bad[4097] ^= 0xff;
    bad[4098] ^= 0x10; // two bytes of one word
    bad[299_999] ^= 2;
    const buf = new Uint8Array(bad.length + shift);
    buf.set(bad, shift);
    v.update(buf.subarray(shift, shift + 1000));
    v.update(buf.subarray(shift + 1000));
    assert.equal(v.mismatches, 4, `shift ${shift}`);
    assert.equal(v.position, bad.length);
    assert.equal(v.checksum.digest(), reference(bad));
  }
  // A lost byte shifts everything after it: the bytes after the gap are out of place.
  const v = new StreamVerifier();
  v.update(new Uint8Array([...good.subarray(0, 100), ...good.subarray(101, 200)]));
  assert.ok(v.mismatches > 90, `${v.mismatches} mismatches`);
});

Deno.test("the verifier's one-pass compare counts what the two-pass one does, tails included", () => {
  const good = streamPattern().slice(0, 20_000);
  const bad = good.slice();
  for (const i of [0, 3, 1000, 1001, 1002, 5003, 19_999]) bad[i] ^= 0x41;
  // Cuts that leave a word-aligned piece with a tail, then pieces at unaligned stream offsets.
  for (const cuts of [[1001, 1003, 9000], [4, 4096, 4099], [19_998]]) {
    const v = new StreamVerifier();
    let from = 0;
    for (const to of [...cuts, bad.length]) {
      const copy = new Uint8Array(to - from + 4); // each piece word-aligned in its own buffer
      copy.set(bad.subarray(from, to));
      v.update(copy.subarray(0, to - from));
      from = to;
    }
    assert.equal(v.mismatches, 7, `cuts ${cuts}`);
    assert.equal(v.checksum.digest(), reference(bad), `cuts ${cuts}`);
  }
});
