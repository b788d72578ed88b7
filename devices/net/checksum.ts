/**
 * The Internet checksum (RFC 1071) and the partial checksum that virtio-net's checksum offload
 * carries (virtio 1.2 §5.1.6.2, VIRTIO_NET_F_CSUM / VIRTIO_NET_F_GUEST_CSUM).
 *
 * A driver that negotiated CSUM may send a frame whose layer-4 checksum is not done: the header's
 * NEEDS_CSUM flag says so, `csum_start` is where the summed bytes start (from the start of the
 * frame) and `csum_offset` where, after `csum_start`, the 16-bit result goes. The field holds the
 * sum of the pseudo-header, as Linux leaves it (CHECKSUM_PARTIAL). Whoever needs the true checksum
 * (a receiver without GUEST_CSUM, an impairment that corrupts the frame, a host TAP) completes it
 * with `completeChecksum`; a receiver that negotiated GUEST_CSUM gets the same flag and trusts the
 * frame. On a link the pair travels as one `meta` word with the frame (`partialChecksum`).
 *
 * @module
 */

/**
 * Sum 16-bit big-endian words of `buf[off, off+len)` into a 32-bit accumulator (odd trailing
 * byte padded with zero), without folding. Chain calls, then finish with `foldSum`.
 *
 * @example
 * ```ts
 * import { checksumAdd, foldSum } from "./checksum.ts";
 * foldSum(checksumAdd(0, new Uint8Array([0x00, 0x01, 0xf2, 0x03]), 0, 4)); // 0xf204
 * ```
 */
export function checksumAdd(acc: number, buf: Uint8Array, off: number, len: number): number {
  if (len < WIDE_MIN) return checksumBytes(acc, buf, off, len, 0);
  // Bytes up to the first 4-byte boundary one by one, the middle 4 bytes a load, the tail
  // bytes one by one. RFC 1071 §2(B): a sum taken in the other byte order is the byte swap of
  // the true one, and a run that starts at an odd byte of the data is swapped once more.
  const lead = (4 - ((buf.byteOffset + off) & 3)) & 3;
  let be = checksumBytes(0, buf, off, lead, 0);
  const start = off + lead;
  const n = (len - lead) >>> 2;
  const u32 = wordsOf(buf.buffer);
  const first = (buf.byteOffset + start) >>> 2;
  // 32-bit words summed in a double: exact below 2^53, i.e. for 2^21 words (8 MiB).
  let wide = 0;
  for (let k = first; k < first + n; k++) wide += u32[k];
  const lo = wide % 0x10000_0000;
  const hi = (wide - lo) / 0x10000_0000;
  let mid = (lo & 0xffff) + (lo >>> 16) + (hi & 0xffff) + Math.floor(hi / 0x10000);
  mid = (mid & 0xffff) + (mid >>> 16);
  mid = (mid & 0xffff) + (mid >>> 16);
  if (LITTLE_ENDIAN !== ((lead & 1) === 1)) mid = ((mid & 0xff) << 8) | (mid >>> 8);
  be += mid;
  const tail = start + 4 * n;
  be = checksumBytes(be, buf, tail, off + len - tail, lead & 1);
  acc += be;
  return (acc & 0xffff) + (acc >>> 16);
}

/** Below this many bytes the byte loop is as quick as setting up the word loop. */
const WIDE_MIN = 64;

/** Whether this machine stores the low byte of a word first (x86, Arm as run here). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The last buffer seen as 32-bit words: a stack sums frames of one guest memory. */
let wordsBuffer: ArrayBufferLike | null = null;
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

function wordsOf(buffer: ArrayBufferLike): Uint32Array<ArrayBufferLike> {
  if (buffer !== wordsBuffer || words.length !== buffer.byteLength >>> 2) {
    words = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
    wordsBuffer = buffer;
  }
  return words;
}

/**
 * Sum `buf[off, off+len)` as big-endian words into `acc`; `odd` = 1 when the first byte is the
 * low byte of a word (the run starts at an odd position of the data). Folds to 17 bits.
 */
function checksumBytes(
  acc: number,
  buf: Uint8Array,
  off: number,
  len: number,
  odd: number,
): number {
  const end = off + len;
  let i = off;
  if (odd && i < end) acc += buf[i++];
  for (; i + 1 < end; i += 2) acc += (buf[i] << 8) | buf[i + 1];
  if (i < end) acc += buf[i] << 8;
  // Fold early so the accumulator stays a small integer (bounded: len < 2^16 words per fold).
  return (acc & 0xffff) + (acc >>> 16);
}

/**
 * Fold a one's-complement accumulator (below 2^32) to 16 bits, not complemented: the value a
 * partial checksum field holds, or the complement of a finished checksum.
 *
 * @example
 * ```ts
 * import { foldSum } from "./checksum.ts";
 * foldSum(0x1fffe); // 0xffff
 * ```
 */
export function foldSum(acc: number): number {
  acc = (acc & 0xffff) + (acc >>> 16);
  return (acc & 0xffff) + (acc >>> 16);
}

/**
 * `meta` bit: the frame carries a partial checksum (start in bits 0–13, offset in 14–27). The
 * word stays below 2^30, a small integer to V8 (a heap object above it): a meta word passed
 * between functions at every frame would otherwise be allocated at every frame.
 */
export const CSUM_PARTIAL = 1 << 28;

/**
 * The largest `csum_start` and `csum_offset` a link's meta word carries (14 bits each: more than
 * any frame's length, 9014 bytes at the largest MTU; UDP's offset is 6, TCP's 16).
 */
export const MAX_CSUM_OFFSET = 0x3fff;

/** Bits of the meta word below `csum_offset`. */
const OFFSET_SHIFT = 14;

/**
 * The `meta` word of a frame whose checksum is partial: `start`, `offset` as in the virtio-net
 * header. Callers check that both are at most {@linkcode MAX_CSUM_OFFSET} (`partialChecksumFits`
 * for a frame of at most 16 KiB does).
 *
 * @example
 * ```ts
 * import { csumOffsetOf, csumStartOf, partialChecksum } from "./checksum.ts";
 * const meta = partialChecksum(34, 6); // a UDP datagram after Ethernet and IPv4 headers
 * [csumStartOf(meta), csumOffsetOf(meta)]; // [34, 6]
 * ```
 */
export function partialChecksum(start: number, offset: number): number {
  return CSUM_PARTIAL | (offset << OFFSET_SHIFT) | start;
}

/** `csum_start` of a partial-checksum `meta` word. */
export function csumStartOf(meta: number): number {
  return meta & MAX_CSUM_OFFSET;
}

/** `csum_offset` of a partial-checksum `meta` word. */
export function csumOffsetOf(meta: number): number {
  return (meta >>> OFFSET_SHIFT) & MAX_CSUM_OFFSET;
}

/**
 * Whether a partial checksum fits `len` bytes of frame: the 16-bit field at `start + offset`
 * lies inside it (the check Linux's `skb_partial_csum_set` makes of a guest's header).
 *
 * @example
 * ```ts
 * import { partialChecksumFits } from "./checksum.ts";
 * partialChecksumFits(34, 6, 42); // true: the field is bytes 40 and 41
 * partialChecksumFits(34, 6, 41); // false
 * ```
 */
export function partialChecksumFits(start: number, offset: number, len: number): boolean {
  return start + offset + 2 <= len;
}

/**
 * Complete the partial checksum `meta` describes in `frame`, in place: sum the bytes from
 * `csum_start` to the end (the field holds the pseudo-header's sum) and store the complement at
 * `csum_start + csum_offset`, 0 sent as 0xffff (as Linux's `skb_checksum_help`). False, and the
 * frame untouched, when `meta` carries none or does not fit the frame.
 *
 * @example
 * ```ts
 * import { completeChecksum, partialChecksum } from "./checksum.ts";
 * const f = new Uint8Array([0, 0, 0x12, 0x34, 0, 0]); // sum from byte 2, result at 2 + 2
 * completeChecksum(f, partialChecksum(2, 2)); // true: f[4], f[5] = 0xed, 0xcb
 * ```
 */
export function completeChecksum(frame: Uint8Array, meta: number): boolean {
  if ((meta & CSUM_PARTIAL) === 0) return false;
  const start = csumStartOf(meta);
  const at = start + csumOffsetOf(meta);
  if (!partialChecksumFits(start, csumOffsetOf(meta), frame.length)) return false;
  const sum = ~foldSum(checksumAdd(0, frame, start, frame.length - start)) & 0xffff;
  const value = sum === 0 ? 0xffff : sum;
  frame[at] = value >>> 8;
  frame[at + 1] = value & 0xff;
  return true;
}

/**
 * Complete `meta`'s partial checksum in `frame` (if it carries one that fits) and return the meta
 * word the frame has then: 0. For a link stage about to change the frame's bytes.
 *
 * @example
 * ```ts
 * import { partialChecksum, settleChecksum } from "./checksum.ts";
 * settleChecksum(new Uint8Array(8), partialChecksum(2, 2)); // 0, and the checksum is written
 * ```
 */
export function settleChecksum(frame: Uint8Array, meta: number): number {
  completeChecksum(frame, meta);
  return 0;
}
