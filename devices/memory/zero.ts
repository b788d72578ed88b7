/**
 * Zeroing bytes of shared memory.
 *
 * `TypedArray.prototype.fill` on a view of a `SharedArrayBuffer` stores element by element (V8
 * keeps each store relaxed-atomic), about 0.3 ns a byte here: a 1472-byte run cost 450 ns against
 * 170 ns for `set()` from a buffer of zeros, which copies word by word (docs/performance.md,
 * "Zeroing shared memory"). Short runs are cheaper still as plain stores.
 *
 * @module
 */

/** Runs shorter than this are zeroed by stores; longer ones by `set()` from {@linkcode ZEROS}. */
const STORE_RUN = 64;
/** Bytes a `set()` from {@linkcode ZEROS} zeroes at most; longer runs take several copies. */
const ZERO_RUN = 4096;
/**
 * A source of zeros for `set()`, 8 bytes longer than a run: a run is copied from the offset that
 * matches its target modulo 8, since V8 copies shared memory word by word only between offsets
 * equal modulo 8 (and byte by byte, several times slower, otherwise).
 */
const ZEROS = new Uint8Array(ZERO_RUN + 8);

/**
 * Zero `buf[from, to)` (as `buf.fill(0, from, to)` with integer bounds inside `buf`), in the
 * fastest way for the run's length.
 *
 * @example
 * ```ts
 * import { zeroBytes } from "./zero.ts";
 * const b = new Uint8Array(new SharedArrayBuffer(2048)).fill(7);
 * zeroBytes(b, 10, 1500); // b[10..1499] are 0, b[9] and b[1500] still 7
 * ```
 */
export function zeroBytes(buf: Uint8Array, from: number, to: number): void {
  if (to - from < STORE_RUN) {
    for (let i = from; i < to; i++) buf[i] = 0;
    return;
  }
  const phase = buf.byteOffset & 7;
  for (let at = from; at < to; at += ZERO_RUN) {
    buf.set(zerosOf((phase + at) & 7, Math.min(ZERO_RUN, to - at)), at);
  }
}

// The last source handed out: a flood zeroes runs of one length at one phase, and a view per call
// would be garbage for the scavenger at every frame.
let lastView = ZEROS;
let lastPhase = -1;

/**
 * `n` zeros starting `phase` bytes into {@linkcode ZEROS}: the same view as the last call's for the
 * same `phase` and `n`.
 */
function zerosOf(phase: number, n: number): Uint8Array {
  if (lastView.length !== n || lastPhase !== phase) {
    lastView = ZEROS.subarray(phase, phase + n);
    lastPhase = phase;
  }
  return lastView;
}
