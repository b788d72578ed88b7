/**
 * Short copies of shared memory, 32-bit words at a time.
 *
 * A byte loop over views of a `SharedArrayBuffer` costs about 1.2–1.9 ns a byte here (each
 * access is bounds-checked and kept relaxed-atomic): 76–120 ns for a 64-byte frame, which a
 * flood's devices copy twice. `TypedArray.prototype.set` costs 50 ns whatever the length up to a
 * few hundred bytes (a call into the runtime and a view to allocate). Between offsets that are
 * both multiples of 4, a loop of `Int32Array` moves does 64 bytes in about 15 ns, plus the lookup
 * of each buffer's word view (docs/performance.md, "Short copies, a word at a time").
 *
 * @module
 */

/** Copies this long or longer go to `TypedArray.prototype.set` (a memcpy). */
export const SET_MIN = 256;

/**
 * Copies shorter than this go byte by byte: a virtio-net header (12 bytes) costs less that way
 * than the lookup of a buffer's word view, which would also push the frame's views out of the
 * last-view slots below.
 */
export const WORDS_MIN = 16;

/** Word views of the buffers copied lately (a device worker copies between a few: its guest's
 * memory and its links' rings). */
const CACHE = 4;
const cachedBuffers: (ArrayBufferLike | null)[] = new Array(CACHE).fill(null);
const cachedWords: Int32Array[] = Array.from({ length: CACHE }, () => new Int32Array(0));
let cacheNext = 0;
// The last view copied into and the last copied from, with their buffers' words: a device's
// guest memory is one view, on one side of every frame's copy, and its `buffer` getter would cost
// about as much as the copy's moves.
let lastDst: Uint8Array | null = null;
let lastDstWords: Int32Array = cachedWords[0];
let lastSrc: Uint8Array | null = null;
let lastSrcWords: Int32Array = cachedWords[0];

/** The `Int32Array` over all of `buffer` (cached). */
function wordsOf(buffer: ArrayBufferLike): Int32Array {
  for (let i = 0; i < CACHE; i++) {
    if (cachedBuffers[i] === buffer) return cachedWords[i];
  }
  const words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
  cachedBuffers[cacheNext] = buffer;
  cachedWords[cacheNext] = words;
  cacheNext = (cacheNext + 1) % CACHE;
  return words;
}

/**
 * Copy `src[srcAt, srcAt + n)` into `dst[dstAt, dstAt + n)` (as
 * `dst.set(src.subarray(srcAt, srcAt + n), dstAt)`; the ranges must not overlap, and the caller
 * keeps them inside both views): by `set` from {@linkcode SET_MIN} bytes, else by 32-bit words
 * from {@linkcode WORDS_MIN} bytes when both start at a multiple of 4 in their buffers, else byte
 * by byte. Allocates nothing below
 * {@linkcode SET_MIN} (once the buffers' word views are cached).
 *
 * @example
 * ```ts
 * import { copyBytes } from "./copy.ts";
 * const mem = new Uint8Array(new SharedArrayBuffer(64)).map((_, i) => i);
 * const out = new Uint8Array(new SharedArrayBuffer(16));
 * copyBytes(out, 4, mem, 8, 10); // out[4..13] = 8..17
 * ```
 */
export function copyBytes(
  dst: Uint8Array,
  dstAt: number,
  src: Uint8Array,
  srcAt: number,
  n: number,
): void {
  if (n >= SET_MIN) {
    dst.set(src.subarray(srcAt, srcAt + n), dstAt);
    return;
  }
  let i = 0;
  if (n >= WORDS_MIN) {
    const d = dst.byteOffset + dstAt;
    const s = src.byteOffset + srcAt;
    if (((d | s) & 3) === 0) {
      if (dst !== lastDst) {
        lastDstWords = wordsOf(dst.buffer);
        lastDst = dst;
      }
      if (src !== lastSrc) {
        lastSrcWords = wordsOf(src.buffer);
        lastSrc = src;
      }
      const dw = lastDstWords;
      const sw = lastSrcWords;
      const di = d >>> 2;
      const si = s >>> 2;
      const words = n >>> 2;
      for (let w = 0; w < words; w++) dw[di + w] = sw[si + w];
      i = words << 2;
    }
  }
  for (; i < n; i++) dst[dstAt + i] = src[srcAt + i];
}
