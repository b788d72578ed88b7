/**
 * The virtio-vsock packet header (virtio 1.2 §5.10.6, Linux `struct virtio_vsock_hdr`): 44
 * bytes, little-endian, packed, followed by `len` payload bytes.
 *
 * ```c
 * struct virtio_vsock_hdr {
 *   le64 src_cid;   //  0
 *   le64 dst_cid;   //  8
 *   le32 src_port;  // 16
 *   le32 dst_port;  // 20
 *   le32 len;       // 24  payload bytes
 *   le16 type;      // 28  STREAM 1, SEQPACKET 2
 *   le16 op;        // 30
 *   le32 flags;     // 32
 *   le32 buf_alloc; // 36
 *   le32 fwd_cnt;   // 40
 * };
 * ```
 *
 * vlab speaks STREAM only: SEQPACKET is not offered, and a SEQPACKET packet is treated as an
 * unknown type (answered with RST, spec §5.10.6.6). CIDs are kept as numbers: the spec reserves
 * the upper 32 bits (zero), and a non-zero upper half decodes to a value no guest has.
 *
 * @module
 */

/** Size of the header in bytes. */
export const VSOCK_HDR_SIZE = 44;

/** Byte offsets of the header fields. */
export const VsockHdr = {
  SRC_CID: 0,
  DST_CID: 8,
  SRC_PORT: 16,
  DST_PORT: 20,
  LEN: 24,
  TYPE: 28,
  OP: 30,
  FLAGS: 32,
  BUF_ALLOC: 36,
  FWD_CNT: 40,
} as const;

/** `op` values (virtio 1.2 §5.10.6). */
export const VsockOp = {
  INVALID: 0,
  REQUEST: 1,
  RESPONSE: 2,
  RST: 3,
  SHUTDOWN: 4,
  RW: 5,
  CREDIT_UPDATE: 6,
  CREDIT_REQUEST: 7,
} as const;

/** Largest valid `op`. */
export const VSOCK_OP_MAX = 7;

/** `type` values. Only STREAM is supported (SEQPACKET is defined but never negotiated). */
export const VsockType = {
  STREAM: 1,
  SEQPACKET: 2,
} as const;

/** SHUTDOWN flags (values, i.e. bits 0 and 1). Hints are sticky. */
export const VsockShutdown = {
  /** The sender will receive no more. */
  RCV: 1,
  /** The sender will send no more. */
  SEND: 2,
  /** Both directions. */
  BOTH: 3,
} as const;

/** Seqpacket RW flags (not used: SEQPACKET is not offered). */
export const VsockSeqFlag = {
  EOM: 1,
  EOR: 2,
} as const;

/** Largest payload of one packet (Linux `VIRTIO_VSOCK_MAX_PKT_BUF_SIZE`, 64 KiB). */
export const VSOCK_MAX_PAYLOAD = 64 * 1024;

/** A decoded header. */
export interface VsockHeader {
  /** Source CID. */
  srcCid: number;
  /** Destination CID. */
  dstCid: number;
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Payload bytes. */
  len: number;
  /** Socket type. */
  type: number;
  /** Operation. */
  op: number;
  /** Op-specific flags. */
  flags: number;
  /** Sender's receive buffer size for this socket. */
  bufAlloc: number;
  /** Sender's free-running count of consumed bytes. */
  fwdCnt: number;
}

/**
 * A zeroed header object (to reuse with `decodeHeader`).
 *
 * @example
 * ```ts
 * import { emptyHeader } from "./header.ts";
 * emptyHeader().op; // 0
 * ```
 */
export function emptyHeader(): VsockHeader {
  return {
    srcCid: 0,
    dstCid: 0,
    srcPort: 0,
    dstPort: 0,
    len: 0,
    type: 0,
    op: 0,
    flags: 0,
    bufAlloc: 0,
    fwdCnt: 0,
  };
}

function rd32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

function wr32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

function rd64(b: Uint8Array, at: number): number {
  return rd32(b, at) + rd32(b, at + 4) * 0x1_0000_0000;
}

function wr64(b: Uint8Array, at: number, v: number): void {
  wr32(b, at, v >>> 0);
  wr32(b, at + 4, Math.floor(v / 0x1_0000_0000) >>> 0);
}

/**
 * Decode the header at `bytes[at…at+44)` into `out` (the caller bounds `at`); returns `out`.
 *
 * @example
 * ```ts
 * import { decodeHeader, emptyHeader, VSOCK_HDR_SIZE } from "./header.ts";
 * const b = new Uint8Array(VSOCK_HDR_SIZE);
 * b[30] = 5;
 * decodeHeader(b, 0, emptyHeader()).op; // 5 (RW)
 * ```
 */
export function decodeHeader(bytes: Uint8Array, at: number, out: VsockHeader): VsockHeader {
  out.srcCid = rd64(bytes, at + VsockHdr.SRC_CID);
  out.dstCid = rd64(bytes, at + VsockHdr.DST_CID);
  out.srcPort = rd32(bytes, at + VsockHdr.SRC_PORT);
  out.dstPort = rd32(bytes, at + VsockHdr.DST_PORT);
  out.len = rd32(bytes, at + VsockHdr.LEN);
  out.type = bytes[at + VsockHdr.TYPE] | (bytes[at + VsockHdr.TYPE + 1] << 8);
  out.op = bytes[at + VsockHdr.OP] | (bytes[at + VsockHdr.OP + 1] << 8);
  out.flags = rd32(bytes, at + VsockHdr.FLAGS);
  out.bufAlloc = rd32(bytes, at + VsockHdr.BUF_ALLOC);
  out.fwdCnt = rd32(bytes, at + VsockHdr.FWD_CNT);
  return out;
}

/**
 * Encode `h` into `bytes[at…at+44)` (the caller bounds `at`).
 *
 * @example
 * ```ts
 * import { emptyHeader, encodeHeader, VSOCK_HDR_SIZE } from "./header.ts";
 * const b = new Uint8Array(VSOCK_HDR_SIZE);
 * encodeHeader(b, 0, { ...emptyHeader(), srcCid: 3, op: 1 }); // b[0] === 3, b[30] === 1
 * ```
 */
export function encodeHeader(bytes: Uint8Array, at: number, h: Readonly<VsockHeader>): void {
  wr64(bytes, at + VsockHdr.SRC_CID, h.srcCid);
  wr64(bytes, at + VsockHdr.DST_CID, h.dstCid);
  wr32(bytes, at + VsockHdr.SRC_PORT, h.srcPort);
  wr32(bytes, at + VsockHdr.DST_PORT, h.dstPort);
  wr32(bytes, at + VsockHdr.LEN, h.len);
  bytes[at + VsockHdr.TYPE] = h.type & 0xff;
  bytes[at + VsockHdr.TYPE + 1] = (h.type >>> 8) & 0xff;
  bytes[at + VsockHdr.OP] = h.op & 0xff;
  bytes[at + VsockHdr.OP + 1] = (h.op >>> 8) & 0xff;
  wr32(bytes, at + VsockHdr.FLAGS, h.flags);
  wr32(bytes, at + VsockHdr.BUF_ALLOC, h.bufAlloc);
  wr32(bytes, at + VsockHdr.FWD_CNT, h.fwdCnt);
}

/**
 * Copy every field of `from` into `to`; returns `to`.
 *
 * @example
 * ```ts
 * import { copyHeader, emptyHeader } from "./header.ts";
 * copyHeader({ ...emptyHeader(), op: 3 }, emptyHeader()).op; // 3
 * ```
 */
export function copyHeader(from: Readonly<VsockHeader>, to: VsockHeader): VsockHeader {
  to.srcCid = from.srcCid;
  to.dstCid = from.dstCid;
  to.srcPort = from.srcPort;
  to.dstPort = from.dstPort;
  to.len = from.len;
  to.type = from.type;
  to.op = from.op;
  to.flags = from.flags;
  to.bufAlloc = from.bufAlloc;
  to.fwdCnt = from.fwdCnt;
  return to;
}

/**
 * The RST that answers `h` (source and destination swapped, no credit; Linux
 * `virtio_transport_reset_no_sock`). The caller never answers an RST.
 *
 * @example
 * ```ts
 * import { emptyHeader, rstFor } from "./header.ts";
 * rstFor({ ...emptyHeader(), srcCid: 3, srcPort: 9, dstCid: 4, dstPort: 7, op: 5, type: 1 }).dstPort; // 9
 * ```
 */
export function rstFor(h: Readonly<VsockHeader>): VsockHeader {
  return {
    srcCid: h.dstCid,
    dstCid: h.srcCid,
    srcPort: h.dstPort,
    dstPort: h.srcPort,
    len: 0,
    type: h.type,
    op: VsockOp.RST,
    flags: 0,
    bufAlloc: 0,
    fwdCnt: 0,
  };
}

/** The notice's destination: CID ANY (`VMADDR_CID_ANY`), which no guest can be. */
const NOTICE_CID = 0xffffffff;
/** The notice's ports: port ANY (`VMADDR_PORT_ANY`). */
const NOTICE_PORT = 0xffffffff;

/**
 * A backend-to-backend notice on a vsock link (never a guest's packet): "the device of CID
 * `cid` lost every connection" (its device worker restarted). An RST from `cid` to CID and port
 * ANY; the peer's backend resets each of its guest's connections with `cid`
 * (`VsockDevice.resetPeers`), and a vsock router hands it to every other port. A guest cannot
 * use it to reset more than its own connections: the source CID is checked at the sender's
 * device (F3) and at the router.
 *
 * @example
 * ```ts
 * import { isPeerResetNotice, peerResetNotice } from "./header.ts";
 * isPeerResetNotice(peerResetNotice(3)); // true
 * ```
 */
export function peerResetNotice(cid: number): VsockHeader {
  return {
    srcCid: cid,
    dstCid: NOTICE_CID,
    srcPort: NOTICE_PORT,
    dstPort: NOTICE_PORT,
    len: 0,
    type: VsockType.STREAM,
    op: VsockOp.RST,
    flags: 0,
    bufAlloc: 0,
    fwdCnt: 0,
  };
}

/** Whether `h` is a {@linkcode peerResetNotice}. */
export function isPeerResetNotice(h: Readonly<VsockHeader>): boolean {
  return h.op === VsockOp.RST && h.dstCid === NOTICE_CID && h.srcPort === NOTICE_PORT &&
    h.dstPort === NOTICE_PORT && h.len === 0;
}
