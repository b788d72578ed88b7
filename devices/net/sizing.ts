/**
 * Buffer and memory sizing of the guest's virtio-net driver (`driver.ts`): RX and TX buffer
 * bytes from the MTU, segments per chain, indirect table entries, and the guest memory a NIC's
 * driver takes (the planner checks it fits). Pure functions, shared by the driver, the guest
 * worker and the planner.
 *
 * @module
 */

import { bufferStride } from "../memory/allocator.ts";
import { packedAreaSizes } from "../virtio/packed_layout.ts";
import { splitAreaSizes } from "../virtio/split_layout.ts";
import { maxFrameLen, NET_HDR_SIZE } from "./config.ts";

/** Largest frame the driver reassembles: a 65535-byte MTU plus the Ethernet header. */
export const MAX_REASSEMBLED_FRAME = 65549;

/** Bytes per segment of a multi-segment chain (a guest page, as Linux fragments are). */
export const SEGMENT_BYTES = 4096;

/** RX buffer bytes without MRG_RXBUF for an MTU up to 1500 (Linux: header + GOOD_PACKET_LEN). */
export const SMALL_RX_BUFFER = NET_HDR_SIZE + 1514;

/** RX buffer bytes with MRG_RXBUF (each frame may span several). */
const MERGEABLE_RX_BUFFER = 1536;

/**
 * Bytes of one RX buffer: 1536 with MRG_RXBUF; without it, header + MTU + Ethernet header
 * (at least the 1526 of a 1500 MTU), so that one buffer holds any frame the MTU allows.
 *
 * @example
 * ```ts
 * import { rxBufferBytes } from "./sizing.ts";
 * rxBufferBytes(9000, false); // 9026
 * rxBufferBytes(9000, true); // 1536
 * ```
 */
export function rxBufferBytes(mtu: number, mergeable: boolean): number {
  if (mergeable) return MERGEABLE_RX_BUFFER;
  return Math.max(SMALL_RX_BUFFER, NET_HDR_SIZE + maxFrameLen(mtu));
}

/**
 * Descriptors per indirect table the driver needs for `mtu`: enough for its longest chain (a
 * big RX buffer: the header segment and the page-sized ones; or a TX frame in pages).
 *
 * @example
 * ```ts
 * import { indirectEntriesFor } from "./sizing.ts";
 * indirectEntriesFor(1500); // 2
 * indirectEntriesFor(9000); // 4
 * ```
 */
export function indirectEntriesFor(mtu: number): number {
  const frame = maxFrameLen(mtu);
  const rx = 1 + Math.ceil(frame / SEGMENT_BYTES);
  const tx = Math.ceil((NET_HDR_SIZE + frame) / SEGMENT_BYTES);
  return Math.max(2, rx, tx);
}

/**
 * Where a frame starts in a driver's buffer past a multiple of 8: after the 12-byte virtio-net
 * header of a buffer that starts on a cache line (`bufferStride`), 4. Link rings and frames built
 * outside guest memory put their frames there too.
 */
export const NET_FRAME_PHASE: number = NET_HDR_SIZE % 8;

/**
 * Segment bytes for a buffer of `total` bytes in at most `maxSegments` segments: a page, or
 * more when the queue is too small for one descriptor per page.
 */
export function segmentBytes(total: number, maxSegments: number): number {
  return Math.max(SEGMENT_BYTES, Math.ceil(total / Math.max(1, maxSegments)));
}

/**
 * The guest memory a NIC's driver takes at start: both queues' ring areas (one page allocation
 * each), their indirect tables when INDIRECT_DESC is negotiated, and the RX and TX buffers
 * (sized from the MTU, see `rxBufferBytes`). The planner checks that a VM's NICs fit in its
 * memory.
 *
 * @example
 * ```ts
 * import { netDriverMemoryBytes } from "./sizing.ts";
 * netDriverMemoryBytes({ layout: "split", queueSize: 256, mtu: 1500, mrgRxbuf: true }); // about 0.8 MiB
 * ```
 */
export function netDriverMemoryBytes(
  o: {
    layout: "split" | "packed";
    queueSize: number;
    mtu: number;
    mrgRxbuf: boolean;
    indirect?: boolean;
  },
): number {
  const page = (b: number) => Math.ceil(b / 4096) * 4096;
  const rings = netDriverRingBytes(o);
  const rx = page(o.queueSize * bufferStride(rxBufferBytes(o.mtu, o.mrgRxbuf)));
  const tx = page(o.queueSize * bufferStride(NET_HDR_SIZE + maxFrameLen(o.mtu)));
  return rings + rx + tx;
}

/**
 * The part of `netDriverMemoryBytes` that holds both queues' ring areas and indirect tables
 * (page multiples): what a driver behind the vIOMMU in strict or lazy mode maps once, for the
 * device's lifetime, while its buffers are mapped one by one.
 *
 * @example
 * ```ts
 * import { netDriverRingBytes } from "./sizing.ts";
 * netDriverRingBytes({ layout: "split", queueSize: 256, mtu: 1500 }); // 6 pages: 24576
 * ```
 */
export function netDriverRingBytes(
  o: { layout: "split" | "packed"; queueSize: number; mtu: number; indirect?: boolean },
): number {
  const page = (b: number) => Math.ceil(b / 4096) * 4096;
  const a = o.layout === "split" ? splitAreaSizes(o.queueSize) : packedAreaSizes(o.queueSize);
  const tables = o.indirect ? page(16 * indirectEntriesFor(o.mtu) * o.queueSize) : 0;
  return 2 * (page(a.descriptor) + page(a.driver) + page(a.device) + tables);
}
