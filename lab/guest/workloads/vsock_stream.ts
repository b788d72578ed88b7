/**
 * The byte stream `vsock-send` writes and `vsock-sink` checks, and its running checksum, made
 * cheap enough not to be the bottleneck of a multi-Gbit/s stream (a per-byte JavaScript loop
 * costs about 1.3 ns a byte, as much as the whole transport at 4 Gbit/s):
 *
 * - byte `i` is `(i·131 + i/4096) mod 256`, which repeats every MiB
 *   ({@linkcode STREAM_PERIOD}), so the sender copies from one precomputed table
 *   ({@linkcode streamPattern}) instead of computing bytes;
 * - the checksum is FNV-1a over the stream's 32-bit little-endian words (a last partial word
 *   zero-padded), the same whatever the read and write sizes ({@linkcode StreamChecksum});
 * - {@linkcode StreamVerifier} compares what arrives with the table a word at a time and counts
 *   every byte out of place (loss, duplicate or reorder).
 *
 * Word-wise work needs the bytes at a 4-aligned address for 4-aligned stream offsets; callers
 * read into `buffer.subarray(position & 3)` for that (anything else is correct, only slower).
 * Used by the guest's vsock workloads and by host tests that stand in for one end.
 *
 * @module
 */

/** The stream repeats every `STREAM_PERIOD` bytes (1 MiB). */
export const STREAM_PERIOD = 1 << 20;

/** Bytes past the period the table holds, so a view of up to this many never wraps. */
export const STREAM_SPAN = 256 * 1024;

/** FNV-1a's offset basis (the checksum of an empty stream). */
export const FNV_BASIS = 0x811c9dc5;

const FNV_PRIME = 16777619;

/** Byte `i` of the stream. */
export function streamByte(i: number): number {
  return (Math.imul(i, 131) + (i >>> 12)) & 0xff;
}

let table: Uint8Array | null = null;

/**
 * The stream from offset 0 for `STREAM_PERIOD + STREAM_SPAN` bytes (computed once per thread):
 * bytes `[p, p + n)` of the stream, for `n ≤ STREAM_SPAN`, are the table's bytes from
 * `p % STREAM_PERIOD`.
 *
 * @example
 * ```ts
 * import { streamByte, streamPattern } from "./vsock_stream.ts";
 * streamPattern()[5000] === streamByte(5000); // true
 * ```
 */
export function streamPattern(): Uint8Array {
  if (table === null) {
    const t = new Uint8Array(STREAM_PERIOD + STREAM_SPAN);
    for (let i = 0; i < t.length; i++) t[i] = streamByte(i);
    table = t;
  }
  return table;
}

/**
 * FNV-1a over the stream's 32-bit little-endian words, fed in pieces of any size.
 *
 * @example
 * ```ts
 * import { StreamChecksum } from "./vsock_stream.ts";
 * const a = new StreamChecksum();
 * a.update(new Uint8Array([1, 2, 3, 4, 5]));
 * const b = new StreamChecksum();
 * b.update(new Uint8Array([1, 2]));
 * b.update(new Uint8Array([3, 4, 5]));
 * a.digest() === b.digest(); // true
 * ```
 */
export class StreamChecksum {
  /** Bytes fed so far. */
  position = 0;
  private h = FNV_BASIS;
  private word = 0;

  /** Feed `bytes`. */
  update(bytes: Uint8Array): void {
    const n = bytes.length;
    let i = 0;
    // Bounded by n: bytes one at a time until the stream offset is word-aligned.
    while (i < n && (this.position & 3) !== 0) this.byte(bytes[i++]);
    let h = this.h;
    const words = (n - i) >>> 2;
    if (words > 0 && ((bytes.byteOffset + i) & 3) === 0) {
      const w32 = new Int32Array(bytes.buffer, bytes.byteOffset + i, words);
      for (let k = 0; k < words; k++) h = Math.imul(h ^ w32[k], FNV_PRIME);
      i += words * 4;
      this.position += words * 4;
    } else {
      for (let k = 0; k < words; k++, i += 4) {
        const w = bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
        h = Math.imul(h ^ w, FNV_PRIME);
      }
      this.position += words * 4;
    }
    this.h = h;
    while (i < n) this.byte(bytes[i++]);
  }

  /**
   * Feed `bytes` and count the bytes that differ from `t` from `at` on, in one pass when the
   * stream offset, `bytes` and `t[at]` are word-aligned (the compare rides along the hash's
   * multiply chain, so it costs next to nothing while the stream is right); otherwise the two are
   * done one after the other.
   * For {@linkcode StreamVerifier}: `at + bytes.length` must be within `t`.
   */
  updateVerify(bytes: Uint8Array, t: Uint8Array, at: number): number {
    const words = bytes.length >>> 2;
    if (
      words === 0 || (this.position & 3) !== 0 || (bytes.byteOffset & 3) !== 0 ||
      ((t.byteOffset + at) & 3) !== 0
    ) {
      const bad = ((bytes.byteOffset - at) & 3) === 0
        ? diffWords(bytes, t, at)
        : diffBytes(bytes, t, at, 0);
      this.update(bytes);
      return bad;
    }
    const wa = new Int32Array(bytes.buffer, bytes.byteOffset, words);
    const wt = new Int32Array(t.buffer, t.byteOffset + at, words);
    let h = this.h;
    // Only whether any word differs, branch-free (a branch per word made the loop 2.5 times
    // slower); the bytes are counted again, word by word, only when one does.
    let differ = 0;
    for (let k = 0; k < words; k++) {
      const w = wa[k];
      h = Math.imul(h ^ w, FNV_PRIME);
      differ |= w ^ wt[k];
    }
    this.h = h;
    const done = words * 4;
    this.position += done;
    let bad = differ === 0 ? 0 : diffWords(bytes.subarray(0, done), t, at);
    if (done < bytes.length) {
      bad += diffBytes(bytes, t, at, done);
      this.update(bytes.subarray(done));
    }
    return bad;
  }

  /** The checksum of what was fed (a partial last word zero-padded), as a u32. */
  digest(): number {
    if ((this.position & 3) === 0) return this.h >>> 0;
    return Math.imul(this.h ^ this.word, FNV_PRIME) >>> 0;
  }

  private byte(b: number): void {
    const shift = (this.position & 3) * 8;
    this.word |= b << shift;
    this.position++;
    if ((this.position & 3) === 0) {
      this.h = Math.imul(this.h ^ this.word, FNV_PRIME);
      this.word = 0;
    }
  }
}

/**
 * Checks a received stream against the pattern, word by word where aligned, and keeps its
 * checksum: `mismatches` counts the bytes that differ from the pattern at their offset.
 *
 * @example
 * ```ts
 * import { StreamVerifier, streamPattern } from "./vsock_stream.ts";
 * const v = new StreamVerifier();
 * v.update(streamPattern().subarray(0, 1000));
 * v.mismatches; // 0
 * ```
 */
export class StreamVerifier {
  /** Bytes that differ from the pattern at their offset. */
  mismatches = 0;
  /** The running checksum of what was read. */
  readonly checksum: StreamChecksum = new StreamChecksum();
  private readonly pattern = streamPattern();

  /** Bytes checked so far. */
  get position(): number {
    return this.checksum.position;
  }

  /** Check `bytes`, the next bytes of the stream. */
  update(bytes: Uint8Array): void {
    const t = this.pattern;
    // Bounded: each pass checks at most STREAM_SPAN bytes and advances.
    for (let off = 0; off < bytes.length;) {
      const n = Math.min(STREAM_SPAN, bytes.length - off);
      const piece = bytes.subarray(off, off + n);
      const at = this.position % STREAM_PERIOD;
      this.mismatches += this.checksum.updateVerify(piece, t, at);
      off += n;
    }
  }
}

/** Bytes of `a` from `from` on that differ from `t` from `at + from` on, a byte at a time. */
function diffBytes(a: Uint8Array, t: Uint8Array, at: number, from: number): number {
  let bad = 0;
  for (let i = from; i < a.length; i++) if (a[i] !== t[at + i]) bad++;
  return bad;
}

/** Bytes of `a` that differ from `t` from `at` on, where `a.byteOffset ≡ at (mod 4)`. */
function diffWords(a: Uint8Array, t: Uint8Array, at: number): number {
  const n = a.length;
  let bad = 0;
  let i = 0;
  while (i < n && ((a.byteOffset + i) & 3) !== 0) if (a[i] !== t[at + i++]) bad++;
  const words = (n - i) >>> 2;
  if (words > 0) {
    const wa = new Int32Array(a.buffer, a.byteOffset + i, words);
    const wt = new Int32Array(t.buffer, t.byteOffset + at + i, words);
    for (let k = 0; k < words; k++) {
      const x = wa[k] ^ wt[k];
      if (x !== 0) {
        bad += ((x & 0xff) !== 0 ? 1 : 0) + ((x & 0xff00) !== 0 ? 1 : 0) +
          ((x & 0xff0000) !== 0 ? 1 : 0) + ((x >>> 24) !== 0 ? 1 : 0);
      }
    }
    i += words * 4;
  }
  for (; i < n; i++) if (a[i] !== t[at + i]) bad++;
  return bad;
}
