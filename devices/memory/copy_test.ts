import assert from "node:assert/strict";
import { copyBytes, SET_MIN, WORDS_MIN } from "./copy.ts";

/** A view `offset` bytes into a fresh buffer of `bytes` bytes filled with `seed`'s pattern. */
function patterned(bytes: number, offset: number, seed: number, shared: boolean): Uint8Array {
  const buffer = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const all = new Uint8Array(buffer);
  for (let i = 0; i < bytes; i++) all[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return all.subarray(offset);
}

Deno.test("copyBytes copies exactly the range at every length and alignment, and nothing else", () => {
  let seed = 0;
  // Lengths around the word loop's edges and the switch to set; offsets at every phase mod 8.
  const edges = [WORDS_MIN - 1, WORDS_MIN, WORDS_MIN + 1, SET_MIN - 1, SET_MIN];
  const lengths = [0, 1, 3, 4, 7, 8, 12, 63, 64, 65, 100, 600, ...edges];
  for (const shared of [true, false]) {
    for (const n of lengths) {
      for (const viewOffset of [0, 4, 6]) {
        for (let dstAt = 0; dstAt < 8; dstAt++) {
          for (let srcAt = 0; srcAt < 8; srcAt++) {
            seed++;
            const dst = patterned(1024, viewOffset, seed, shared);
            const src = patterned(1024, 8 - viewOffset, seed + 1000, true);
            const want = dst.slice();
            want.set(src.subarray(srcAt, srcAt + n), dstAt);
            copyBytes(dst, dstAt, src, srcAt, n);
            assert.deepEqual(dst, want, `n ${n} view ${viewOffset} dst ${dstAt} src ${srcAt}`);
          }
        }
      }
    }
  }
});

Deno.test("copyBytes copies between more buffers than it keeps word views of", () => {
  // Ten buffers, copied between in turn: every word view it keeps is evicted many times.
  const views = Array.from({ length: 10 }, (_, i) => patterned(256, 0, i, true));
  const copies = views.map((v) => v.slice());
  for (let round = 0; round < 50; round++) {
    const a = round % 10;
    const b = (round * 3 + 1) % 10;
    if (a === b) continue;
    const at = (round * 4) % 64;
    copyBytes(views[a], at, views[b], 64 - at, 64);
    copies[a].set(copies[b].subarray(64 - at, 128 - at), at);
  }
  for (let i = 0; i < 10; i++) assert.deepEqual(views[i], copies[i], `buffer ${i}`);
});

Deno.test("copyBytes copies into a buffer that grew after its word view was made", () => {
  const grows = new SharedArrayBuffer(64, { maxByteLength: 4096 });
  const src = patterned(4096, 0, 3, true);
  copyBytes(new Uint8Array(grows), 0, src, 0, 32); // caches a word view of 64 bytes
  grows.grow(4096);
  const dst = new Uint8Array(grows);
  copyBytes(dst, 1024, src, 8, 100);
  assert.deepEqual(dst.subarray(1024, 1124), src.subarray(8, 108));
});
