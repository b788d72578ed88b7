/**
 * Copies between a descriptor chain's segments (translated GPAs into guest memory) and flat
 * buffers. The caller bounds every length by the chain's snapshot lengths first.
 *
 * @module
 */

import type { Segment } from "../virtio/chain.ts";

/**
 * Fill `into` with the chain's bytes starting `skip` bytes in (fewer if the segments end).
 *
 * @example
 * ```ts
 * import { gather } from "./segments.ts";
 * const mem = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7]);
 * const out = new Uint8Array(3);
 * gather(mem, [{ gpa: 0, len: 2 }, { gpa: 6, len: 2 }], 1, out); // out = [1, 6, 7]
 * ```
 */
export function gather(
  u8: Uint8Array,
  segs: readonly Segment[],
  skip: number,
  into: Uint8Array,
): void {
  let out = 0;
  for (let s = 0; s < segs.length && out < into.length; s++) {
    const seg = segs[s];
    if (skip >= seg.len) {
      skip -= seg.len;
      continue;
    }
    const n = Math.min(seg.len - skip, into.length - out);
    into.set(u8.subarray(seg.gpa + skip, seg.gpa + skip + n), out);
    out += n;
    skip = 0;
  }
}

/**
 * Copy `src[from…from+len)` into the chain's segments, starting `skip` bytes in.
 *
 * @example
 * ```ts
 * import { scatter } from "./segments.ts";
 * const mem = new Uint8Array(8);
 * scatter(mem, [{ gpa: 0, len: 2 }, { gpa: 6, len: 2 }], 0, new Uint8Array([9, 8, 7]), 0, 3);
 * // mem = [9, 8, 0, 0, 0, 0, 7, 0]
 * ```
 */
export function scatter(
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
    u8.set(src.subarray(from + done, from + done + n), seg.gpa + skip);
    done += n;
    skip = 0;
  }
}
