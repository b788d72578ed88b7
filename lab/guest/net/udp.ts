/**
 * UDP (RFC 768) for the guest network stack: the header layout, the checksum over the IPv4
 * pseudo-header, an in-place writer and an allocation-free reader.
 *
 * ```
 * struct udphdr { be16 srcPort; be16 dstPort; be16 length; be16 checksum; }   // 8 bytes
 * ```
 *
 * @module
 */

import { OK_VOID, type Result } from "../../../devices/base/result.ts";
import { checksumAdd, foldChecksum, IpProtocol, readU16, writeU16 } from "./ipv4.ts";
import { foldSum } from "../../../devices/net/checksum.ts";

/**
 * Byte offsets of the UDP header.
 *
 * @example
 * ```ts
 * import { UdpOffset } from "./udp.ts";
 * UdpOffset.checksum; // 6
 * ```
 */
export const UdpOffset = { srcPort: 0, dstPort: 2, length: 4, checksum: 6 } as const;

/**
 * Length of the UDP header.
 *
 * @example
 * ```ts
 * import { UDP_HEADER_LEN } from "./udp.ts";
 * UDP_HEADER_LEN; // 8
 * ```
 */
export const UDP_HEADER_LEN = 8;

/**
 * The UDP checksum of the `length`-byte datagram at `off` (its checksum field taken as is):
 * 0 means it verifies when the field is filled, and on send the field must be zeroed first.
 *
 * @example
 * ```ts
 * import { udpChecksum } from "./udp.ts";
 * udpChecksum(new Uint8Array(8), 0, 8, { src: 1, dst: 2 }); // the complement of the pseudo-header sum
 * ```
 */
export function udpChecksum(
  buf: Uint8Array,
  off: number,
  length: number,
  ips: { src: number; dst: number },
): number {
  return foldChecksum(checksumAdd(udpPseudoSum(length, ips), buf, off, length));
}

/**
 * The sum of the IPv4 pseudo-header of a `length`-byte UDP datagram (RFC 768), unfolded.
 *
 * @example
 * ```ts
 * import { udpPseudoSum } from "./udp.ts";
 * udpPseudoSum(8, { src: 0x0a000001, dst: 0x0a000002 }); // 0x0a00 + 1 + 0x0a00 + 2 + 17 + 8
 * ```
 */
export function udpPseudoSum(length: number, ips: { src: number; dst: number }): number {
  return (ips.src >>> 16) + (ips.src & 0xffff) + (ips.dst >>> 16) + (ips.dst & 0xffff) +
    IpProtocol.udp + length;
}

/**
 * Write the UDP header at `off` for a datagram of `length` bytes whose payload is already in
 * place, computing the checksum (0 is sent as 0xffff, RFC 768). With `partial` (checksum
 * offload) the field gets only the pseudo-header's sum, as Linux leaves it for a NIC with
 * VIRTIO_NET_F_CSUM: whoever completes it sums from the UDP header to the end.
 *
 * @example
 * ```ts
 * import { writeUdp } from "./udp.ts";
 * const b = new Uint8Array(10);
 * writeUdp(b, 0, { srcPort: 9, dstPort: 9, length: 10, src: 0x0a000001, dst: 0x0a000002 });
 * b[5]; // 10
 * ```
 */
export function writeUdp(
  buf: Uint8Array,
  off: number,
  d: { srcPort: number; dstPort: number; length: number; src: number; dst: number },
  partial = false,
): void {
  writeU16(buf, off + UdpOffset.srcPort, d.srcPort);
  writeU16(buf, off + UdpOffset.dstPort, d.dstPort);
  writeU16(buf, off + UdpOffset.length, d.length);
  if (partial) {
    writeU16(buf, off + UdpOffset.checksum, foldSum(udpPseudoSum(d.length, d)));
    return;
  }
  writeU16(buf, off + UdpOffset.checksum, 0);
  const sum = udpChecksum(buf, off, d.length, d);
  writeU16(buf, off + UdpOffset.checksum, sum === 0 ? 0xffff : sum);
}

/**
 * A parsed UDP header; `parseUdp` fills a caller-owned one.
 *
 * @example
 * ```ts
 * import type { UdpHeader } from "./udp.ts";
 * const h: UdpHeader = { srcPort: 1, dstPort: 2, length: 8 };
 * ```
 */
export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  /** Header plus payload, as declared (and checked against the IP payload). */
  length: number;
}

/**
 * Why a UDP datagram was rejected.
 *
 * @example
 * ```ts
 * import type { UdpError } from "./udp.ts";
 * const e: UdpError = { kind: "bad-checksum" };
 * ```
 */
export type UdpError =
  /** The IP payload is shorter than the header. */
  | { kind: "truncated"; have: number }
  /** The declared length is under 8 or past the IP payload. */
  | { kind: "bad-length"; length: number; ipPayload: number }
  /** A non-zero checksum that does not verify. */
  | { kind: "bad-checksum" };

/**
 * Validate the UDP datagram in the `ipPayload` bytes at `off` and fill `out`. Never throws.
 *
 * @example
 * ```ts
 * import { parseUdp } from "./udp.ts";
 * parseUdp(new Uint8Array(4), 0, 4, { src: 1, dst: 2 }, { srcPort: 0, dstPort: 0, length: 0 }).ok; // false
 * ```
 */
export function parseUdp(
  buf: Uint8Array,
  off: number,
  ipPayload: number,
  ips: { src: number; dst: number },
  out: UdpHeader,
  verify = true,
): Result<void, UdpError> {
  const have = Math.min(ipPayload, buf.length - off);
  if (have < UDP_HEADER_LEN) return { ok: false, error: { kind: "truncated", have } };
  const length = readU16(buf, off + UdpOffset.length);
  if (length < UDP_HEADER_LEN || length > have) {
    return { ok: false, error: { kind: "bad-length", length, ipPayload: have } };
  }
  if (
    verify && readU16(buf, off + UdpOffset.checksum) !== 0 &&
    udpChecksum(buf, off, length, ips) !== 0
  ) {
    return { ok: false, error: { kind: "bad-checksum" } };
  }
  out.srcPort = readU16(buf, off + UdpOffset.srcPort);
  out.dstPort = readU16(buf, off + UdpOffset.dstPort);
  out.length = length;
  return OK_VOID;
}
