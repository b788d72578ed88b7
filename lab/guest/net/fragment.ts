/**
 * IPv4 fragmentation and reassembly (RFC 791) for the guest network stack.
 *
 * Sending: `fragmentFrame` cuts an Ethernet frame whose datagram exceeds the MTU into frames
 * whose data is a multiple of 8 bytes (all but the last), each with its own header (MF, offset,
 * checksum) and the datagram's identification.
 *
 * Receiving: a `Reassembler` collects the fragments of each datagram (keyed by source,
 * destination, protocol and identification, as Linux's `ipq`) and hands back the datagram once
 * every byte has arrived. Like Linux it is bounded and never trusts a fragment:
 * - at most `maxDatagrams` datagrams and `maxBytes` bytes in reassembly (Linux:
 *   `ipfrag_high_thresh`, 4 MiB); past either the oldest datagram is evicted; a datagram of
 *   more than `maxFragments` fragments is dropped;
 * - a datagram not complete `timeoutMs` after its first fragment (Linux: `ipfrag_time`, 30 s) is
 *   dropped;
 * - a fragment whose data is not a multiple of 8 (unless last), that ends past 65535 bytes, that
 *   disagrees with the known end, or that overlaps another one (Linux drops overlapping
 *   fragments since 2018) drops; an overlap or a disagreement drops the whole datagram.
 * Every fragment dropped is reported with its reason, so the stack counts it.
 *
 * Runs on the guest worker's thread, inside the `NetStack`; time is the stack's clock.
 *
 * @module
 */

import { bytesAtPhase } from "../../../devices/memory/allocator.ts";
import { ETH_HEADER_LEN } from "./ethernet.ts";
import {
  IPV4_HEADER_LEN,
  type Ipv4Header,
  Ipv4Offset,
  writeFragmentFields,
  writeU16,
} from "./ipv4.ts";

/** The largest IPv4 datagram: header plus data. */
export const MAX_DATAGRAM = 65535;

/**
 * Cut `frame` (Ethernet header, a 20-byte IPv4 header, data) into frames that fit `mtu`, each
 * starting `phase` bytes past a multiple of 8 (where the interface's buffers put a frame, so the
 * copy into them runs word by word). The destination MAC is copied as it is (the caller writes it
 * once ARP has answered).
 *
 * @example
 * ```ts
 * import { fragmentFrame } from "./fragment.ts";
 * import { writeIpv4Header } from "./ipv4.ts";
 * const frame = new Uint8Array(14 + 20 + 3000);
 * writeIpv4Header(frame, 14, { src: 1, dst: 2, protocol: 17, totalLength: 3020, id: 7 });
 * fragmentFrame(frame, 1500).map((f) => f.length); // [1514, 1514, 74]
 * ```
 */
export function fragmentFrame(frame: Uint8Array, mtu: number, phase = 0): Uint8Array[] {
  const headers = ETH_HEADER_LEN + IPV4_HEADER_LEN;
  const dataLen = frame.length - headers;
  const step = Math.floor((mtu - IPV4_HEADER_LEN) / 8) * 8;
  if (step <= 0) throw new RangeError(`MTU ${mtu} leaves no room for fragment data`);
  const out: Uint8Array[] = [];
  for (let off = 0; off < dataLen; off += step) {
    const len = Math.min(step, dataLen - off);
    const f = bytesAtPhase(headers + len, phase);
    f.set(frame.subarray(0, headers));
    f.set(frame.subarray(headers + off, headers + off + len), headers);
    writeFragmentFields(f, ETH_HEADER_LEN, {
      totalLength: IPV4_HEADER_LEN + len,
      offset: off,
      more: off + len < dataLen,
    });
    out.push(f);
  }
  return out;
}

/**
 * The bounds of a `Reassembler`.
 *
 * @example
 * ```ts
 * import { REASSEMBLY_DEFAULTS } from "./fragment.ts";
 * REASSEMBLY_DEFAULTS.timeoutMs; // 30000
 * ```
 */
export interface ReassemblyLimits {
  /** Datagrams in reassembly at most. */
  maxDatagrams: number;
  /** Fragment data bytes held at most. */
  maxBytes: number;
  /** A datagram is dropped this long after its first fragment if still incomplete. */
  timeoutMs: number;
  /**
   * Fragments per datagram at most (every add scans the datagram's fragments): 65515 bytes at
   * the smallest MTU (68) take 1365.
   */
  maxFragments: number;
}

/**
 * Linux's defaults where it has one (`ipfrag_high_thresh` 4 MiB, `ipfrag_time` 30 s).
 *
 * @example
 * ```ts
 * import { REASSEMBLY_DEFAULTS } from "./fragment.ts";
 * REASSEMBLY_DEFAULTS.maxBytes; // 4194304
 * ```
 */
export const REASSEMBLY_DEFAULTS: ReassemblyLimits = {
  maxDatagrams: 64,
  maxBytes: 4 * 1024 * 1024,
  timeoutMs: 30_000,
  maxFragments: 2048,
};

/**
 * Why fragments were dropped: `fragment` (a fragment that cannot belong to a valid datagram:
 * bad length, past 65535, overlapping, inconsistent end, a duplicate), `reassemblyLimit`
 * (evicted to stay within the bounds) or `reassemblyTimeout`.
 *
 * @example
 * ```ts
 * import type { FragmentDropReason } from "./fragment.ts";
 * const r: FragmentDropReason = "reassemblyTimeout";
 * ```
 */
export type FragmentDropReason = "fragment" | "reassemblyLimit" | "reassemblyTimeout";

/**
 * What became of one fragment: still waiting (or dropped: drops are reported through the
 * `Reassembler`'s callback), or the whole datagram (a frame with Ethernet and a 20-byte IPv4
 * header, then `length` data bytes).
 *
 * @example
 * ```ts
 * import type { ReassemblyOutcome } from "./fragment.ts";
 * const o: ReassemblyOutcome = { kind: "incomplete" };
 * ```
 */
export type ReassemblyOutcome =
  | { kind: "incomplete" }
  | { kind: "complete"; frame: Uint8Array; length: number; ttl: number };

interface Datagram {
  deadline: number;
  /** Ethernet + IPv4 header of the first fragment seen (the offset-0 one once it came). */
  head: Uint8Array;
  ttl: number;
  pieces: { off: number; data: Uint8Array }[];
  bytes: number;
  /** The data length, once the last fragment (MF clear) came; else -1. */
  total: number;
}

/**
 * Collects fragments into datagrams, within `ReassemblyLimits`.
 *
 * @example
 * ```ts
 * import { Reassembler } from "./fragment.ts";
 * const drops: string[] = [];
 * const r = new Reassembler((reason, n) => drops.push(`${reason} ${n}`));
 * r.expire(0); // nothing held
 * ```
 */
export class Reassembler {
  readonly #limits: ReassemblyLimits;
  readonly #drop: (reason: FragmentDropReason, fragments: number) => void;
  /** In arrival order of their first fragment (Map order): the oldest is evicted first. */
  readonly #datagrams = new Map<string, Datagram>();
  #bytes = 0;

  /**
   * @param drop called for every drop, with the number of fragments it discards
   * @param limits the bounds (Linux-like defaults)
   */
  constructor(
    drop: (reason: FragmentDropReason, fragments: number) => void,
    limits: Partial<ReassemblyLimits> = {},
  ) {
    this.#drop = drop;
    this.#limits = { ...REASSEMBLY_DEFAULTS, ...limits };
  }

  /** Datagrams in reassembly. */
  get size(): number {
    return this.#datagrams.size;
  }

  /** Fragment data bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Add the fragment in `frame` whose header `h` was parsed (data at `dataOff`, of
   * `h.totalLength - h.headerLength` bytes).
   */
  add(h: Ipv4Header, frame: Uint8Array, dataOff: number, now: number): ReassemblyOutcome {
    const len = h.totalLength - h.headerLength;
    const off = h.fragmentOffset;
    const end = off + len;
    if ((h.moreFragments && (len === 0 || len % 8 !== 0)) || IPV4_HEADER_LEN + end > MAX_DATAGRAM) {
      this.#drop("fragment", 1);
      return { kind: "incomplete" };
    }
    const key = `${h.src}>${h.dst}/${h.protocol}#${h.id}`;
    const endsHere = !h.moreFragments;
    let d = this.#datagrams.get(key);
    if (d !== undefined) {
      // The end must agree with what the last fragment said; pieces must not overlap.
      if (
        (endsHere && d.total >= 0 && d.total !== end) ||
        (d.total >= 0 && end > d.total) ||
        (endsHere && d.pieces.some((p) => p.off + p.data.length > end))
      ) {
        this.#discard(key, d, "fragment", 1);
        return { kind: "incomplete" };
      }
      for (const p of d.pieces) {
        const pEnd = p.off + p.data.length;
        if (off >= pEnd || p.off >= end) continue;
        if (p.off === off && pEnd === end) {
          this.#drop("fragment", 1); // an exact duplicate: the datagram lives on
        } else {
          this.#discard(key, d, "fragment", 1);
        }
        return { kind: "incomplete" };
      }
    }
    const max = this.#limits.maxBytes;
    if (d !== undefined && d.pieces.length >= this.#limits.maxFragments) {
      this.#discard(key, d, "reassemblyLimit", 1);
      return { kind: "incomplete" };
    }
    if (d === undefined) {
      this.#makeRoom(len, 1);
      if (this.#bytes + len > max) {
        this.#drop("reassemblyLimit", 1);
        return { kind: "incomplete" };
      }
      d = {
        deadline: now + this.#limits.timeoutMs,
        head: frame.slice(0, ETH_HEADER_LEN + IPV4_HEADER_LEN),
        ttl: h.ttl,
        pieces: [],
        bytes: 0,
        total: -1,
      };
      this.#datagrams.set(key, d);
    } else if (this.#bytes + len > max) {
      this.#makeRoom(len, 0, key);
      if (this.#bytes + len > max) {
        this.#discard(key, d, "reassemblyLimit", 1);
        return { kind: "incomplete" };
      }
    }
    if (endsHere) d.total = end;
    if (off === 0) {
      d.head = frame.slice(0, ETH_HEADER_LEN + IPV4_HEADER_LEN);
      d.ttl = h.ttl;
    }
    d.pieces.push({ off, data: frame.slice(dataOff, dataOff + len) });
    d.bytes += len;
    this.#bytes += len;
    if (d.total < 0 || d.bytes !== d.total) return { kind: "incomplete" };
    // Complete: no overlaps and bytes === total means [0, total) is covered.
    this.#datagrams.delete(key);
    this.#bytes -= d.bytes;
    const headers = ETH_HEADER_LEN + IPV4_HEADER_LEN;
    const out = new Uint8Array(headers + d.total);
    out.set(d.head);
    out[ETH_HEADER_LEN + Ipv4Offset.versionIhl] = 0x45; // options, if any, are not kept
    writeU16(out, ETH_HEADER_LEN + Ipv4Offset.totalLength, IPV4_HEADER_LEN + d.total);
    writeU16(out, ETH_HEADER_LEN + Ipv4Offset.flagsFragOffset, 0);
    for (const p of d.pieces) out.set(p.data, headers + p.off);
    return { kind: "complete", frame: out, length: d.total, ttl: d.ttl };
  }

  /** Drop every datagram past its deadline (each fragment counted). */
  expire(now: number): void {
    for (const [key, d] of this.#datagrams) {
      if (d.deadline <= now) this.#discard(key, d, "reassemblyTimeout", 0);
    }
  }

  /** The earliest deadline, or Infinity. */
  nextDeadline(): number {
    let next = Infinity;
    for (const d of this.#datagrams.values()) if (d.deadline < next) next = d.deadline;
    return next;
  }

  /** Evict the oldest datagrams (except `keep`) until `len` more bytes and `count` more fit. */
  #makeRoom(len: number, count: number, keep?: string): void {
    for (const [key, d] of this.#datagrams) {
      const fits = this.#datagrams.size + count <= this.#limits.maxDatagrams &&
        this.#bytes + len <= this.#limits.maxBytes;
      if (fits) return;
      if (key !== keep) this.#discard(key, d, "reassemblyLimit", 0);
    }
  }

  #discard(key: string, d: Datagram, reason: FragmentDropReason, extra: number): void {
    this.#datagrams.delete(key);
    this.#bytes -= d.bytes;
    this.#drop(reason, d.pieces.length + extra);
  }
}
