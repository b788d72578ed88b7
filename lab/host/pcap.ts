/**
 * The classic libpcap file format (what tcpdump and Wireshark read), for `vlab capture`:
 * ```
 * struct pcapGlobalHeader { le32 magic = 0xa1b2c3d4; le16 versionMajor = 2; le16 versionMinor = 4;
 *                           le32 thisZone = 0; le32 sigFigs = 0; le32 snapLen; le32 linkType; };
 * struct pcapRecordHeader { le32 tsSec; le32 tsUsec; le32 inclLen; le32 origLen; };
 * ```
 * Written little-endian (readers detect the byte order from the magic).
 *
 * @module
 */

/** Byte offsets and sizes of the pcap headers. */
export const Pcap = {
  magic: 0xa1b2c3d4,
  globalHeaderBytes: 24,
  recordHeaderBytes: 16,
  linkTypeEthernet: 1,
  /** `LINKTYPE_VSOCK`: Linux vsockmon records (see `vsockmon.ts`). */
  linkTypeVsock: 271,
  defaultSnaplen: 65535,
} as const;

/**
 * The 24-byte pcap global header (v2.4), of `LINKTYPE_ETHERNET` unless `linkType` says otherwise
 * (a vsock link's capture is `Pcap.linkTypeVsock`).
 *
 * @example
 * ```ts
 * import { Pcap, pcapGlobalHeader } from "./pcap.ts";
 * const h = pcapGlobalHeader(); // starts d4 c3 b2 a1
 * const v = pcapGlobalHeader(Pcap.defaultSnaplen, Pcap.linkTypeVsock); // link type 271
 * ```
 */
export function pcapGlobalHeader(
  snaplen: number = Pcap.defaultSnaplen,
  linkType: number = Pcap.linkTypeEthernet,
): Uint8Array {
  const out = new Uint8Array(Pcap.globalHeaderBytes);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, Pcap.magic, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, snaplen, true);
  dv.setUint32(20, linkType, true);
  return out;
}

/**
 * The size of the record `writePcapRecord` writes for a frame of `frameLen` bytes.
 *
 * @example
 * ```ts
 * import { pcapRecordBytes } from "./pcap.ts";
 * pcapRecordBytes(60); // 76
 * ```
 */
export function pcapRecordBytes(frameLen: number, snaplen: number = Pcap.defaultSnaplen): number {
  return Pcap.recordHeaderBytes + Math.min(frameLen, snaplen);
}

/**
 * Write one record (header and at most `snaplen` bytes of `frame`, whose original length was
 * `origLen`) into `target` at `offset`; returns the bytes written. `target` must have room for
 * `pcapRecordBytes(frame.length, snaplen)` bytes.
 *
 * @example
 * ```ts
 * import { pcapRecordBytes, writePcapRecord } from "./pcap.ts";
 * const frame = new Uint8Array(60);
 * const out = new Uint8Array(pcapRecordBytes(frame.length));
 * writePcapRecord(out, 0, { tsUs: 1.5e6, frame }); // 76
 * ```
 */
export function writePcapRecord(
  target: Uint8Array,
  offset: number,
  rec: { tsUs: number; frame: Uint8Array; origLen?: number; snaplen?: number },
): number {
  const incl = Math.min(rec.frame.length, rec.snaplen ?? Pcap.defaultSnaplen);
  const tsUs = Math.max(0, Math.floor(rec.tsUs));
  const sec = Math.floor(tsUs / 1e6);
  const dv = new DataView(target.buffer, target.byteOffset + offset, Pcap.recordHeaderBytes);
  dv.setUint32(0, sec >>> 0, true);
  dv.setUint32(4, tsUs - sec * 1e6, true);
  dv.setUint32(8, incl, true);
  dv.setUint32(12, Math.max(rec.origLen ?? rec.frame.length, incl), true);
  target.set(
    incl === rec.frame.length ? rec.frame : rec.frame.subarray(0, incl),
    offset + Pcap.recordHeaderBytes,
  );
  return Pcap.recordHeaderBytes + incl;
}

/**
 * One pcap record as a new array.
 *
 * @example
 * ```ts
 * import { pcapRecord } from "./pcap.ts";
 * pcapRecord(1_700_000_000_000_000, new Uint8Array(60)).length; // 76
 * ```
 */
export function pcapRecord(
  tsUs: number,
  frame: Uint8Array,
  snaplen: number = Pcap.defaultSnaplen,
): Uint8Array {
  const out = new Uint8Array(pcapRecordBytes(frame.length, snaplen));
  writePcapRecord(out, 0, { tsUs, frame, snaplen });
  return out;
}
