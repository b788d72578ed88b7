/**
 * ICMP echo (RFC 792) for the guest network stack: the header layout, a writer that checksums
 * a message whose payload is already in place, and an allocation-free reader.
 *
 * ```
 * struct icmp_echo { u8 type; u8 code; be16 checksum; be16 id; be16 seq; u8 data[]; }
 * ```
 *
 * @module
 */

import { OK_VOID, type Result } from "../../../devices/base/result.ts";
import { internetChecksum, readU16, writeU16 } from "./ipv4.ts";

/**
 * Byte offsets of an ICMP echo message.
 *
 * @example
 * ```ts
 * import { IcmpOffset } from "./icmp.ts";
 * IcmpOffset.seq; // 6
 * ```
 */
export const IcmpOffset = { type: 0, code: 1, checksum: 2, id: 4, seq: 6, data: 8 } as const;

/**
 * Length of the ICMP echo header.
 *
 * @example
 * ```ts
 * import { ICMP_ECHO_HEADER_LEN } from "./icmp.ts";
 * ICMP_ECHO_HEADER_LEN; // 8
 * ```
 */
export const ICMP_ECHO_HEADER_LEN = 8;

/**
 * ICMP types the stack understands.
 *
 * @example
 * ```ts
 * import { IcmpType } from "./icmp.ts";
 * IcmpType.echoRequest; // 8
 * ```
 */
export const IcmpType = { echoReply: 0, echoRequest: 8 } as const;

/**
 * Write an echo header at `off` and checksum the `length` bytes of message from `off` (header
 * plus the payload, which must already be in place).
 *
 * @example
 * ```ts
 * import { IcmpType, writeIcmpEcho } from "./icmp.ts";
 * const b = new Uint8Array(8);
 * writeIcmpEcho(b, 0, { type: IcmpType.echoRequest, id: 1, seq: 1, length: 8 });
 * b[2] * 256 + b[3]; // 0xf7fd
 * ```
 */
export function writeIcmpEcho(
  buf: Uint8Array,
  off: number,
  m: { type: number; id: number; seq: number; length: number },
): void {
  buf[off + IcmpOffset.type] = m.type;
  buf[off + IcmpOffset.code] = 0;
  writeU16(buf, off + IcmpOffset.checksum, 0);
  writeU16(buf, off + IcmpOffset.id, m.id);
  writeU16(buf, off + IcmpOffset.seq, m.seq);
  writeU16(buf, off + IcmpOffset.checksum, internetChecksum(buf, off, m.length));
}

/**
 * A parsed echo header; `parseIcmpEcho` fills a caller-owned one.
 *
 * @example
 * ```ts
 * import type { IcmpEcho } from "./icmp.ts";
 * const e: IcmpEcho = { type: 0, id: 1, seq: 2 };
 * ```
 */
export interface IcmpEcho {
  type: number;
  id: number;
  seq: number;
}

/**
 * Why an ICMP message was rejected.
 *
 * @example
 * ```ts
 * import type { IcmpError } from "./icmp.ts";
 * const e: IcmpError = { kind: "unsupported-type", type: 3 };
 * ```
 */
export type IcmpError =
  /** Shorter than the 8-byte echo header. */
  | { kind: "truncated"; have: number }
  /** The checksum over the message does not verify. */
  | { kind: "bad-checksum" }
  /** Not an echo request or reply (code 0). */
  | { kind: "unsupported-type"; type: number };

/**
 * Validate the ICMP message of `length` bytes at `off` and fill `out`. Never throws.
 *
 * @example
 * ```ts
 * import { parseIcmpEcho } from "./icmp.ts";
 * parseIcmpEcho(new Uint8Array(4), 0, 4, { type: 0, id: 0, seq: 0 }).ok; // false
 * ```
 */
export function parseIcmpEcho(
  buf: Uint8Array,
  off: number,
  length: number,
  out: IcmpEcho,
): Result<void, IcmpError> {
  const have = Math.min(length, buf.length - off);
  if (have < ICMP_ECHO_HEADER_LEN) return { ok: false, error: { kind: "truncated", have } };
  if (internetChecksum(buf, off, have) !== 0) return { ok: false, error: { kind: "bad-checksum" } };
  const type = buf[off + IcmpOffset.type];
  if ((type !== IcmpType.echoReply && type !== IcmpType.echoRequest) || buf[off + 1] !== 0) {
    return { ok: false, error: { kind: "unsupported-type", type } };
  }
  out.type = type;
  out.id = readU16(buf, off + IcmpOffset.id);
  out.seq = readU16(buf, off + IcmpOffset.seq);
  return OK_VOID;
}
