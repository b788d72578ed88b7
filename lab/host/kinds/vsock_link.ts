/**
 * How the vsock backend puts a packet on its link ring (device worker): a packet larger than a
 * slot goes as several, each a valid packet with its own header and `len` (the same split the
 * peer's device makes into 4 KiB RX buffers, so the receiver sees a stream either way), all or
 * none: the ring must have room for every piece before the first is written.
 *
 * @module
 */

import {
  copyHeader,
  encodeHeader,
  VSOCK_HDR_SIZE,
  type VsockHeader,
} from "../../../devices/vsock/mod.ts";

/** The producer end the pieces go into (`LinkOut`). */
export interface PieceSink {
  /** Whether `frames` frames fit now (false also marks the producer blocked). */
  hasRoom(frames: number): boolean;
  /** A view for one frame of up to `maxLen` bytes, or null when full. */
  reserve(maxLen: number): Uint8Array | null;
  /** Send the reserved frame of `len` bytes. */
  commit(len: number): void;
}

/**
 * Payload bytes per piece for slots of `slotBytes`: whole 4 KiB pages when a slot holds one or
 * more (so the peer's 4 KiB RX buffers take whole pieces), else what fits; 0 if not even a
 * header does.
 *
 * @example
 * ```ts
 * import { linkPieceMax } from "./vsock_link.ts";
 * linkPieceMax(9216); // 8192
 * ```
 */
export function linkPieceMax(slotBytes: number): number {
  const room = slotBytes - VSOCK_HDR_SIZE;
  if (room <= 0) return 0;
  return room >= 4096 ? room - (room % 4096) : room;
}

/**
 * Put packet `h` with `payload` (`h.len` bytes) on `out` in pieces of at most `pieceMax`
 * payload bytes; false (nothing written) when the ring has no room for all of them.
 * `scratch` is a header the function may overwrite.
 *
 * @example
 * ```ts ignore
 * import { sendPieces } from "./vsock_link.ts";
 * if (!sendPieces(out, h, payload, 8192, scratch)) return false; // back-pressure
 * ```
 */
export function sendPieces(
  out: PieceSink,
  h: Readonly<VsockHeader>,
  payload: Uint8Array,
  pieceMax: number,
  scratch: VsockHeader,
): boolean {
  const pieces = h.len === 0 ? 1 : Math.ceil(h.len / pieceMax);
  if (!out.hasRoom(pieces)) return false;
  copyHeader(h, scratch);
  for (let off = 0, i = 0; i < pieces; i++) {
    const k = Math.min(pieceMax, h.len - off);
    const slot = out.reserve(VSOCK_HDR_SIZE + k);
    if (slot === null) return false; // not reached: hasRoom said there was room for all
    scratch.len = k;
    encodeHeader(slot, 0, scratch);
    if (k > 0) slot.set(payload.subarray(off, off + k), VSOCK_HDR_SIZE);
    out.commit(VSOCK_HDR_SIZE + k);
    off += k;
  }
  return true;
}
