/**
 * IPv4 for the guest network stack: the Internet checksum (RFC 1071), address helpers, and the
 * header writer and reader. A datagram that fits the MTU is sent with DF set; larger ones are
 * cut into fragments (`fragment.ts`), whose headers `writeFragmentFields` rewrites. The reader
 * reports a fragment's fields; the stack reassembles. Readers work on untrusted bytes and fill a caller-owned header object so
 * the receive path allocates nothing.
 *
 * ```
 * struct iphdr { u8 versionIhl; u8 tos; be16 totalLength; be16 id; be16 flagsFragOffset;
 *                u8 ttl; u8 protocol; be16 checksum; be32 src; be32 dst; }   // 20 bytes
 * ```
 *
 * @module
 */

import { OK_VOID, type Result } from "../../../devices/base/result.ts";
import { checksumAdd, foldSum } from "../../../devices/net/checksum.ts";

export { checksumAdd };

/**
 * Byte offsets of the IPv4 header (relative to its start).
 *
 * @example
 * ```ts
 * import { Ipv4Offset } from "./ipv4.ts";
 * Ipv4Offset.dst; // 16
 * ```
 */
export const Ipv4Offset = {
  versionIhl: 0,
  tos: 1,
  totalLength: 2,
  id: 4,
  flagsFragOffset: 6,
  ttl: 8,
  protocol: 9,
  checksum: 10,
  src: 12,
  dst: 16,
} as const;

/**
 * Length of an IPv4 header without options (the only kind the stack sends).
 *
 * @example
 * ```ts
 * import { IPV4_HEADER_LEN } from "./ipv4.ts";
 * IPV4_HEADER_LEN; // 20
 * ```
 */
export const IPV4_HEADER_LEN = 20;

/**
 * The TTL of every datagram the stack sends.
 *
 * @example
 * ```ts
 * import { DEFAULT_TTL } from "./ipv4.ts";
 * DEFAULT_TTL; // 64
 * ```
 */
export const DEFAULT_TTL = 64;

/**
 * IP protocol numbers the stack understands.
 *
 * @example
 * ```ts
 * import { IpProtocol } from "./ipv4.ts";
 * IpProtocol.udp; // 17
 * ```
 */
export const IpProtocol = { icmp: 1, udp: 17 } as const;

/**
 * Fold a checksum accumulator to 16 bits and take the one's complement.
 *
 * @example
 * ```ts
 * import { foldChecksum } from "./ipv4.ts";
 * foldChecksum(0x1fffe); // 0x0000
 * ```
 */
export function foldChecksum(acc: number): number {
  return ~foldSum(acc) & 0xffff;
}

/**
 * The Internet checksum (RFC 1071) of `buf[off, off+len)`.
 *
 * @example
 * ```ts
 * import { internetChecksum } from "./ipv4.ts";
 * // RFC 1071 section 3 example: the sum is 0xddf2, the checksum its complement.
 * internetChecksum(new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0, 8); // 0x220d
 * ```
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number): number {
  return foldChecksum(checksumAdd(0, buf, off, len));
}

/**
 * Parse dotted-quad IPv4 text into its u32 value, or null if it is not one.
 *
 * @example
 * ```ts
 * import { parseIpv4Address } from "./ipv4.ts";
 * parseIpv4Address("10.0.0.1"); // 0x0a000001
 * ```
 */
export function parseIpv4Address(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/**
 * Render a u32 IPv4 address as dotted-quad text.
 *
 * @example
 * ```ts
 * import { formatIpv4 } from "./ipv4.ts";
 * formatIpv4(0x0a000002); // "10.0.0.2"
 * ```
 */
export function formatIpv4(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

/**
 * True if `ip` is inside the subnet `net/prefix`.
 *
 * @example
 * ```ts
 * import { inSubnet } from "./ipv4.ts";
 * inSubnet(0x0a000002, 0x0a000001, 24); // true
 * ```
 */
export function inSubnet(ip: number, net: number, prefix: number): boolean {
  return networkOf(ip, prefix) === networkOf(net, prefix);
}

/**
 * The network address of `ip`'s subnet of `prefix` bits (its host bits cleared), as a u32.
 *
 * @example
 * ```ts
 * import { formatIpv4, networkOf } from "./ipv4.ts";
 * formatIpv4(networkOf(0x0a0000ff, 24)); // "10.0.0.0"
 * ```
 */
export function networkOf(ip: number, prefix: number): number {
  if (prefix <= 0) return 0;
  if (prefix >= 32) return ip >>> 0;
  return (ip & (0xffffffff << (32 - prefix))) >>> 0;
}

/**
 * Whether `ip` is a broadcast address for an interface at `net/prefix`: the limited broadcast
 * 255.255.255.255, or the subnet's own (its host bits all ones; a /31 or /32 has none).
 *
 * @example
 * ```ts
 * import { isBroadcast } from "./ipv4.ts";
 * isBroadcast(0x0a0000ff, 0x0a000001, 24); // true: 10.0.0.255 in 10.0.0.0/24
 * isBroadcast(0x0a0000fe, 0x0a000001, 24); // false
 * ```
 */
export function isBroadcast(ip: number, net: number, prefix: number): boolean {
  if ((ip >>> 0) === 0xffffffff) return true;
  if (prefix >= 31 || !inSubnet(ip, net, prefix)) return false;
  const host = 0xffffffff >>> prefix;
  return ((ip & host) >>> 0) === host;
}

/**
 * Read a big-endian u16 (the caller checks the bounds).
 *
 * @example
 * ```ts
 * import { readU16 } from "./ipv4.ts";
 * readU16(new Uint8Array([0x08, 0x06]), 0); // 0x0806
 * ```
 */
export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/**
 * Read a big-endian u32 as an unsigned number (the caller checks the bounds).
 *
 * @example
 * ```ts
 * import { readU32 } from "./ipv4.ts";
 * readU32(new Uint8Array([10, 0, 0, 1]), 0); // 0x0a000001
 * ```
 */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/**
 * Write a big-endian u16.
 *
 * @example
 * ```ts
 * import { writeU16 } from "./ipv4.ts";
 * const b = new Uint8Array(2);
 * writeU16(b, 0, 0x0800); // b is [8, 0]
 * ```
 */
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/**
 * Write a big-endian u32.
 *
 * @example
 * ```ts
 * import { writeU32 } from "./ipv4.ts";
 * const b = new Uint8Array(4);
 * writeU32(b, 0, 0x0a000001); // b is [10, 0, 0, 1]
 * ```
 */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/**
 * Write a 20-byte IPv4 header (DF set, TTL 64 unless given) at `off`, with its checksum.
 *
 * @example
 * ```ts
 * import { IpProtocol, writeIpv4Header } from "./ipv4.ts";
 * const buf = new Uint8Array(34);
 * writeIpv4Header(buf, 14, { src: 0x0a000001, dst: 0x0a000002, protocol: IpProtocol.udp, totalLength: 20, id: 1 });
 * buf[14]; // 0x45
 * ```
 */
export function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  h: { src: number; dst: number; protocol: number; totalLength: number; id: number; ttl?: number },
): void {
  const ttlProtocol = ((h.ttl ?? DEFAULT_TTL) << 8) | h.protocol;
  const src = h.src, dst = h.dst;
  buf[off + Ipv4Offset.versionIhl] = 0x45;
  buf[off + Ipv4Offset.tos] = 0;
  writeU16(buf, off + Ipv4Offset.totalLength, h.totalLength);
  writeU16(buf, off + Ipv4Offset.id, h.id);
  writeU16(buf, off + Ipv4Offset.flagsFragOffset, 0x4000); // DF, offset 0
  writeU16(buf, off + Ipv4Offset.ttl, ttlProtocol);
  writeU32(buf, off + Ipv4Offset.src, src);
  writeU32(buf, off + Ipv4Offset.dst, dst);
  // The checksum summed from the fields just written, not read back from the buffer (guest
  // memory, where each byte read costs more than this arithmetic).
  const sum = 0x4500 + h.totalLength + h.id + 0x4000 + ttlProtocol + (src >>> 16) + (src & 0xffff) +
    (dst >>> 16) + (dst & 0xffff);
  writeU16(buf, off + Ipv4Offset.checksum, foldChecksum(sum));
}

/**
 * A parsed IPv4 header; the reader fills a caller-owned one to avoid allocation.
 *
 * @example
 * ```ts
 * import { newIpv4Header } from "./ipv4.ts";
 * const h = newIpv4Header(); // reuse across packets
 * ```
 */
export interface Ipv4Header {
  headerLength: number;
  totalLength: number;
  protocol: number;
  ttl: number;
  src: number;
  dst: number;
  /** The identification field (fragments of one datagram share it). */
  id: number;
  /** MF: more fragments follow. */
  moreFragments: boolean;
  /** Where this fragment's data goes in the datagram, in bytes (0 for an unfragmented one). */
  fragmentOffset: number;
}

/**
 * A fresh, zeroed header to pass to `parseIpv4`.
 *
 * @example
 * ```ts
 * import { newIpv4Header } from "./ipv4.ts";
 * newIpv4Header().ttl; // 0
 * ```
 */
export function newIpv4Header(): Ipv4Header {
  return {
    headerLength: 0,
    totalLength: 0,
    protocol: 0,
    ttl: 0,
    src: 0,
    dst: 0,
    id: 0,
    moreFragments: false,
    fragmentOffset: 0,
  };
}

/**
 * Why an IPv4 header was rejected.
 *
 * @example
 * ```ts
 * import type { Ipv4Error } from "./ipv4.ts";
 * const e: Ipv4Error = { kind: "bad-checksum" };
 * ```
 */
export type Ipv4Error =
  /** The bytes end before the header or the declared total length. */
  | { kind: "truncated"; have: number; need: number }
  /** Not version 4, or a header length under 20 bytes. */
  | { kind: "bad-header"; versionIhl: number }
  /** The total length is smaller than the header. */
  | { kind: "bad-length"; totalLength: number }
  /** The header checksum does not verify. */
  | { kind: "bad-checksum" };

/**
 * Validate the IPv4 header at `buf[off..]` and fill `out`. Never throws.
 *
 * @example
 * ```ts
 * import { newIpv4Header, parseIpv4 } from "./ipv4.ts";
 * parseIpv4(new Uint8Array(10), 0, newIpv4Header()).ok; // false (truncated)
 * ```
 */
export function parseIpv4(buf: Uint8Array, off: number, out: Ipv4Header): Result<void, Ipv4Error> {
  const have = buf.length - off;
  if (have < IPV4_HEADER_LEN) return { ok: false, error: { kind: "truncated", have, need: 20 } };
  const versionIhl = buf[off];
  const headerLength = (versionIhl & 0x0f) * 4;
  if (versionIhl >>> 4 !== 4 || headerLength < IPV4_HEADER_LEN) {
    return { ok: false, error: { kind: "bad-header", versionIhl } };
  }
  if (have < headerLength) {
    return { ok: false, error: { kind: "truncated", have, need: headerLength } };
  }
  const totalLength = readU16(buf, off + Ipv4Offset.totalLength);
  if (totalLength < headerLength) return { ok: false, error: { kind: "bad-length", totalLength } };
  if (have < totalLength) {
    return { ok: false, error: { kind: "truncated", have, need: totalLength } };
  }
  // Each 16-bit word of the header is read once, for its fields and for the checksum (options
  // are summed apart).
  const id = readU16(buf, off + Ipv4Offset.id);
  const flagsOffset = readU16(buf, off + Ipv4Offset.flagsFragOffset);
  const ttlProtocol = readU16(buf, off + Ipv4Offset.ttl);
  const srcHi = readU16(buf, off + Ipv4Offset.src), srcLo = readU16(buf, off + Ipv4Offset.src + 2);
  const dstHi = readU16(buf, off + Ipv4Offset.dst), dstLo = readU16(buf, off + Ipv4Offset.dst + 2);
  let sum = ((versionIhl << 8) | buf[off + Ipv4Offset.tos]) + totalLength + id + flagsOffset +
    ttlProtocol + readU16(buf, off + Ipv4Offset.checksum) + srcHi + srcLo + dstHi + dstLo;
  if (headerLength > IPV4_HEADER_LEN) {
    sum += checksumAdd(0, buf, off + IPV4_HEADER_LEN, headerLength - IPV4_HEADER_LEN);
  }
  if (foldChecksum(sum) !== 0) return { ok: false, error: { kind: "bad-checksum" } };
  out.id = id;
  out.moreFragments = (flagsOffset & 0x2000) !== 0;
  out.fragmentOffset = (flagsOffset & 0x1fff) * 8;
  out.headerLength = headerLength;
  out.totalLength = totalLength;
  out.protocol = ttlProtocol & 0xff;
  out.ttl = ttlProtocol >>> 8;
  out.src = srcHi * 0x10000 + srcLo;
  out.dst = dstHi * 0x10000 + dstLo;
  return OK_VOID;
}

/**
 * Turn the 20-byte header at `off` into a fragment's: total length, MF, offset (bytes, a
 * multiple of 8), DF cleared, checksum recomputed.
 *
 * @example
 * ```ts
 * import { IpProtocol, writeFragmentFields, writeIpv4Header } from "./ipv4.ts";
 * const buf = new Uint8Array(20);
 * writeIpv4Header(buf, 0, { src: 1, dst: 2, protocol: IpProtocol.udp, totalLength: 20, id: 1 });
 * writeFragmentFields(buf, 0, { totalLength: 1500, offset: 1480, more: true });
 * buf[6] * 256 + buf[7]; // 0x20b9: MF, offset 185 × 8
 * ```
 */
export function writeFragmentFields(
  buf: Uint8Array,
  off: number,
  f: { totalLength: number; offset: number; more: boolean },
): void {
  writeU16(buf, off + Ipv4Offset.totalLength, f.totalLength);
  writeU16(buf, off + Ipv4Offset.flagsFragOffset, (f.more ? 0x2000 : 0) | (f.offset >>> 3));
  writeU16(buf, off + Ipv4Offset.checksum, 0);
  writeU16(buf, off + Ipv4Offset.checksum, internetChecksum(buf, off, IPV4_HEADER_LEN));
}
