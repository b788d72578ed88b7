/**
 * The payload `udp-flood` sends and `sink` checks: a magic word, a 32-bit sequence number and
 * the send time, at the start of the UDP payload (the rest is zero).
 *
 * ```
 * struct floodPayload { be32 magic; be32 seq; be64 sentAtMs; }   // magic "VLFD", sentAtMs a float64
 * ```
 *
 * @module
 */

import { readU32, writeU32 } from "../net/ipv4.ts";

/**
 * Offsets and size of the flood payload header.
 *
 * @example
 * ```ts
 * import { FloodPayload } from "./flood_payload.ts";
 * FloodPayload.size; // 16
 * ```
 */
export const FloodPayload = {
  magic: 0,
  seq: 4,
  sentAtMs: 8,
  size: 16,
  magicValue: 0x564c4644,
} as const;

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const bigEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/**
 * Write the payload header at `buf[off..]`, sent now by `clock` (ms). Allocation-free: the
 * time is read here, not passed in, since a double passed between functions that V8 did not
 * inline is a new heap object at every frame.
 *
 * @example
 * ```ts
 * import { writeFloodPayload } from "./flood_payload.ts";
 * const b = new Uint8Array(16);
 * writeFloodPayload(b, 0, 7, { now: () => 1.5 });
 * b[7]; // 7
 * ```
 */
export function writeFloodPayload(
  buf: Uint8Array,
  off: number,
  seq: number,
  clock: { now(): number },
): void {
  writeU32(buf, off + FloodPayload.magic, FloodPayload.magicValue);
  writeU32(buf, off + FloodPayload.seq, seq);
  f64[0] = clock.now();
  for (let i = 0; i < 8; i++) {
    buf[off + FloodPayload.sentAtMs + i] = f64Bytes[bigEndianHost ? i : 7 - i];
  }
}

/**
 * The sequence number of a flood payload, or -1 if it is too short or lacks the magic word.
 *
 * @example
 * ```ts
 * import { readFloodSeq } from "./flood_payload.ts";
 * readFloodSeq(new Uint8Array(4)); // -1
 * ```
 */
export function readFloodSeq(payload: Uint8Array): number {
  if (payload.length < FloodPayload.size) return -1;
  if (readU32(payload, FloodPayload.magic) !== FloodPayload.magicValue) return -1;
  return readU32(payload, FloodPayload.seq);
}

/**
 * The send time of a flood payload (check `readFloodSeq` first).
 *
 * @example
 * ```ts
 * import { readFloodSentAt, writeFloodPayload } from "./flood_payload.ts";
 * const b = new Uint8Array(16);
 * writeFloodPayload(b, 0, 1, { now: () => 2.5 });
 * readFloodSentAt(b); // 2.5
 * ```
 */
export function readFloodSentAt(payload: Uint8Array): number {
  for (let i = 0; i < 8; i++) {
    f64Bytes[bigEndianHost ? i : 7 - i] = payload[FloodPayload.sentAtMs + i];
  }
  return f64[0];
}
