/**
 * Short copies of shared memory, 32-bit words at a time.
 *
 * A byte loop over views of a `SharedArrayBuffer` costs about 1.2–1.9 ns a byte here (each
 * access is bounds-checked and kept relaxed-atomic): 76–120 ns for a 64-byte frame, which a
 * flood's devices copy twice. `TypedArray.prototype.set` costs 50 ns whatever the length up to a
 * few hundred bytes (a call into the runtime and a view to allocate). Between offsets that are
 * both multiples of 4, a loop of `Int32Array` moves does 64 bytes in about 15 ns, plus the lookup
 * of each buffer's word view (docs/performance.md, "2026-12-07, 22:00: short copies by words").
 *
 * @module
 */

/** Copies this long or longer go to `TypedArray.prototype.set` (a memcpy). */
export const SET_MIN = 256;

/**
 * Copies shorter than this go byte by byte: a virtio-net header (12 bytes) costs less that way
 * than the lookup of a buffer's word view, and a small buffer of its own (at offset 0) would
 * take the view slot of the guest memory's view.
 */
export const WORDS_MIN = 16;

/**
 * Word views of the buffers copied lately (a device worker copies between a few: its guest's
 * memory and its links' rings).
 */
const CACHE = 4;
const cachedBuffers: (ArrayBufferLike | null)[] = new Array(CACHE).fill(null);
const cachedWords: Int32Array[] = Array.from({ length: CACHE }, () => new Int32Array(0));
let cacheNext = 0;
/**
 * Views seen lately and their buffers' words, one slot per view, at the slot its byte offset
 * picks: a device's guest memory is one view, and a link ring hands out one view per slot (512
 * for a NIC), each at its own offset, so the views of a flood's copies keep their slots and the
 * `buffer` getter (a call into the runtime, about as dear as a 64-byte copy's moves) runs once
 * per view, not once per copy. The slot is the offset's 64-byte granule modulo a prime, so that
 * the evenly spaced views of a ring never share a slot (they would, modulo a power of two, for
 * a stride with a factor of two in it). A slot holds its view (and so its buffer) until
 * another view takes it.
 */
const VIEW_SLOTS = 4093;
const slotViews: (Uint8Array | null)[] = new Array(VIEW_SLOTS).fill(null);
const slotWords: Int32Array[] = new Array(VIEW_SLOTS).fill(cachedWords[0]);

/** The `Int32Array` over all of `view`'s buffer. */
function wordsOfView(view: Uint8Array): Int32Array {
  const slot = (view.byteOffset >>> 6) % VIEW_SLOTS;
  if (slotViews[slot] === view) return slotWords[slot];
  const words = wordsOf(view.buffer);
  slotViews[slot] = view;
  slotWords[slot] = words;
  return words;
}

/** The `Int32Array` over all of `buffer` (cached; made again when the buffer has grown). */
function wordsOf(buffer: ArrayBufferLike): Int32Array {
  const length = buffer.byteLength >>> 2;
  for (let i = 0; i < CACHE; i++) {
    if (cachedBuffers[i] === buffer) {
      if (cachedWords[i].length === length) return cachedWords[i];
      return cachedWords[i] = new Int32Array(buffer, 0, length);
    }
  }
  const words = new Int32Array(buffer, 0, length);
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
 * by byte. Allocates nothing below {@linkcode SET_MIN} (once the buffers' word views are cached).
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
      const dw = wordsOfView(dst);
      const sw = wordsOfView(src);
      const di = d >>> 2;
      const si = s >>> 2;
      const words = n >>> 2;
      // A word view made before its buffer grew would drop the moves past its end: bytes then.
      if (di + words <= dw.length && si + words <= sw.length) {
        for (let w = 0; w < words; w++) dw[di + w] = sw[si + w];
        i = words << 2;
      }
    }
  }
  for (; i < n; i++) dst[dstAt + i] = src[srcAt + i];
}
