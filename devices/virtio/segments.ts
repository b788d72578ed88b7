/**
 * Copies between a descriptor chain's segments (translated GPAs into guest memory) and flat
 * buffers: what every device model does with the chains it pops. The caller bounds every length
 * by the chain's snapshot lengths first; nothing here allocates except the one view a long copy
 * takes.
 *
 * @module
 */

import { copyBytes } from "../memory/copy.ts";
import type { Segment } from "./chain.ts";

/**
 * Copy `len` bytes of a chain's segments, starting `skip` bytes in, into `into[0…len)`. Segments
 * hold translated GPAs into `u8` (guest memory); the caller bounds `len` by the chain's length.
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
    copyBytes(into, out, u8, base, n);
    out += n;
    skip = 0;
  }
}

/**
 * Copy `src[from…from+len)` into a chain's segments, starting `skip` bytes in.
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
    copyBytes(u8, base, src, at, n);
    done += n;
    skip = 0;
  }
}
