/**
 * Copies between a descriptor chain's segments (translated GPAs into guest memory) and flat
 * buffers: what every device model does with the chains it pops. The caller bounds every length
 * by the chain's snapshot lengths first; nothing here allocates except the one view a long copy
 * takes.
 *
 * @module
 */

import type { Segment } from "./chain.ts";

/**
 * Copies shorter than this many bytes run as a loop; longer ones use `TypedArray.set`, a
 * memcpy that costs one view allocation (the loop is faster for small frames, slower beyond).
 */
const COPY_LOOP_MAX = 128;

/**
 * Copy `len` bytes of a chain's segments, starting `skip` bytes in, into `into[0…len)` (a byte
 * loop: no view is allocated). Segments hold translated GPAs into `u8` (guest memory); the
 * caller bounds `len` by the chain's length.
 *
 * @example
 * ```ts
 * import { gatherSegments } from "./segments.ts";
 * const mem = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
 * const out = new Uint8Array(3);
 * gatherSegments(mem, [{ gpa: 0, len: 2 }, { gpa: 6, len: 2 }], 1, out, 3); // out = [1, 6, 7]
 * ```
 */
export function gatherSegments(
  u8: Uint8Array,
  segs: readonly Segment[],
  skip: number,
  into: Uint8Array,
  len: number,
): void {
  let out = 0;
  for (let s = 0; s < segs.length && out < len; s++) {
    const seg = segs[s];
    if (skip >= seg.len) {
      skip -= seg.len;
      continue;
    }
    const n = Math.min(seg.len - skip, len - out);
    const base = seg.gpa + skip;
    if (n < COPY_LOOP_MAX) {
      for (let i = 0; i < n; i++) into[out + i] = u8[base + i];
    } else {
      into.set(u8.subarray(base, base + n), out); // memcpy; one view allocated
    }
    out += n;
    skip = 0;
  }
}

/**
 * Copy `src[from…from+len)` into a chain's segments, starting `skip` bytes in (a byte loop).
 *
 * @example
 * ```ts
 * import { scatterSegments } from "./segments.ts";
 * const mem = new Uint8Array(8);
 * scatterSegments(mem, [{ gpa: 0, len: 2 }, { gpa: 6, len: 2 }], 0, new Uint8Array([9, 8, 7]), 0, 3);
 * // mem = [9, 8, 0, 0, 0, 0, 7, 0]
 * ```
 */
export function scatterSegments(
  u8: Uint8Array,
  segs: readonly Segment[],
  skip: number,
  src: Uint8Array,
  from: number,
  len: number,
): void {
  let done = 0;
  for (let s = 0; s < segs.length && done < len; s++) {
    const seg = segs[s];
    if (skip >= seg.len) {
      skip -= seg.len;
      continue;
    }
    const n = Math.min(seg.len - skip, len - done);
    const base = seg.gpa + skip;
    const at = from + done;
    if (n < COPY_LOOP_MAX) {
      for (let i = 0; i < n; i++) u8[base + i] = src[at + i];
    } else {
      u8.set(src.subarray(at, at + n), base); // memcpy; one view allocated
    }
    done += n;
    skip = 0;
  }
}
