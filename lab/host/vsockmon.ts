/**
 * Captured vsock packets as Linux's `vsockmon` device shows them (pcap `LINKTYPE_VSOCK`, 271, which
 * Wireshark and tshark decode): each record is a vsockmon header, then the transport's own header
 * (virtio-vsock's 44 bytes), then the payload.
 * ```
 * struct af_vsockmon_hdr {   // 32 bytes, little-endian
 *   le64 src_cid; le64 dst_cid; le32 src_port; le32 dst_port;
 *   le16 op;        // 0 unknown, 1 connect, 2 disconnect, 3 control, 4 payload
 *   le16 transport; // 2: virtio
 *   le16 len;       // bytes of the transport header that follows (44)
 *   u8 reserved[2];
 * };
 * ```
 * The operation is the transport's op in vsockmon's words, as Linux's virtio transport maps it:
 * REQUEST and RESPONSE connect, RST and SHUTDOWN disconnect, RW is payload, the credit messages
 * are control.
 *
 * @module
 */

import { VSOCK_HDR_SIZE, VsockHdr, VsockOp } from "../../devices/vsock/header.ts";

/** Bytes of the vsockmon header in front of each captured packet. */
export const VSOCKMON_HDR_SIZE = 32;

/** vsockmon's operations (`enum af_vsockmon_op`). */
export const VsockmonOp = {
  unknown: 0,
  connect: 1,
  disconnect: 2,
  control: 3,
  payload: 4,
} as const;

/** vsockmon's transport number for virtio-vsock (`AF_VSOCK_TRANSPORT_VIRTIO`). */
export const VSOCKMON_TRANSPORT_VIRTIO = 2;

/** The vsockmon operation of a virtio-vsock `op`. */
export function vsockmonOp(op: number): number {
  switch (op) {
    case VsockOp.REQUEST:
    case VsockOp.RESPONSE:
      return VsockmonOp.connect;
    case VsockOp.RST:
    case VsockOp.SHUTDOWN:
      return VsockmonOp.disconnect;
    case VsockOp.RW:
      return VsockmonOp.payload;
    case VsockOp.CREDIT_UPDATE:
    case VsockOp.CREDIT_REQUEST:
      return VsockmonOp.control;
    default:
      return VsockmonOp.unknown;
  }
}

/**
 * Write `packet` (a virtio-vsock header and its payload, as a vsock link ring carries it) into
 * `target` at 0 as one vsockmon record: the vsockmon header, then the packet. Returns the bytes
 * written, or 0 when `packet` is shorter than a header (nothing to say about it) or `target`
 * too short.
 *
 * @example
 * ```ts
 * import { VSOCKMON_HDR_SIZE, writeVsockmonRecord } from "./vsockmon.ts";
 * const packet = new Uint8Array(44); // an INVALID header from CID 0 to 0
 * const out = new Uint8Array(VSOCKMON_HDR_SIZE + packet.length);
 * writeVsockmonRecord(out, packet); // 76
 * ```
 */
export function writeVsockmonRecord(target: Uint8Array, packet: Uint8Array): number {
  const total = VSOCKMON_HDR_SIZE + packet.length;
  if (packet.length < VSOCK_HDR_SIZE || target.length < total) return 0;
  const src = new DataView(packet.buffer, packet.byteOffset, VSOCK_HDR_SIZE);
  const dst = new DataView(target.buffer, target.byteOffset, VSOCKMON_HDR_SIZE);
  // CIDs are 64-bit in both headers: copy their bytes as they are (both little-endian).
  target.set(packet.subarray(VsockHdr.SRC_CID, VsockHdr.SRC_CID + 16), 0);
  dst.setUint32(16, src.getUint32(VsockHdr.SRC_PORT, true), true);
  dst.setUint32(20, src.getUint32(VsockHdr.DST_PORT, true), true);
  dst.setUint16(24, vsockmonOp(src.getUint16(VsockHdr.OP, true)), true);
  dst.setUint16(26, VSOCKMON_TRANSPORT_VIRTIO, true);
  dst.setUint16(28, VSOCK_HDR_SIZE, true);
  dst.setUint16(30, 0, true);
  target.set(packet, VSOCKMON_HDR_SIZE);
  return total;
}

/** Where a recorder's records go: a link end's capture tap (`TapWriter`). */
export interface VsockmonTap {
  /** Copy one record into the capture; false when it was dropped. */
  capture(record: Uint8Array, meta: { tsUs: number; direction: number }): boolean;
}

/**
 * Captures vsock packets on a tap as vsockmon records, with one scratch buffer made at the first
 * packet and grown for a larger one. The consumer end of every vsock link direction records what
 * it takes from the ring: a VM's device worker (the router's or peer's packets to it) and a vsock
 * router (a VM's packets to it).
 *
 * @example
 * ```ts
 * import { VsockmonRecorder } from "./vsockmon.ts";
 * const got: number[] = [];
 * const tap = { capture: (r: Uint8Array) => (got.push(r.length), true) };
 * new VsockmonRecorder().record(tap, new Uint8Array(44), 0); // got = [76]
 * ```
 */
export class VsockmonRecorder {
  #buf = new Uint8Array(0);

  /** Record `packet` (a header and its payload) on `tap` at `tsUs`; a runt is not recorded. */
  record(tap: VsockmonTap, packet: Uint8Array, tsUs: number): void {
    if (this.#buf.length < VSOCKMON_HDR_SIZE + packet.length) {
      this.#buf = new Uint8Array(Math.max(VSOCKMON_HDR_SIZE + packet.length, 2048));
    }
    const n = writeVsockmonRecord(this.#buf, packet);
    if (n > 0) tap.capture(this.#buf.subarray(0, n), { tsUs, direction: 0 });
  }
}
