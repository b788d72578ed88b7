/**
 * Counter layouts in shared memory: one `Float64Array` word per counter, written by one thread
 * (the device worker for `NetCounter`, the guest worker for `NetDriverCounter`) and read by
 * anyone (the dashboard, tests). A word holds integers exactly up to 2^53.
 *
 * @module
 */

/**
 * Device-side counter indexes (device worker). What the device did with a chain (`txFrames`,
 * `txMalformed`, `txLinkDown`, `txCsumPartial`, `rxFrames` and the bytes) is counted when the
 * chain's used entry is published: a backend that dies before it publishes has done nothing the
 * driver can see, and its successor, which does it again, counts it once. Likewise the frames
 * from the link it drops (`rxTooBig`, `rxRunt`, `rxLinkDown`, `rxNotLive`) are counted when the
 * pass ends (`finish`), with the link ring's tail that takes them for good: a backend that dies
 * mid-pass leaves them in the link ring, and its successor drops them again and counts them once.
 */
export const NetCounter = {
  /** Frames handed to the link, counted when their used entries are published. */
  txFrames: 0,
  /** Frame bytes handed to the link (virtio-net header excluded), counted as `txFrames` is. */
  txBytes: 1,
  /** TX chains dropped as malformed (E1: header missing or short; E2: frame size out of range; A8: a device-writable part; unreachable buffer). */
  txMalformed: 2,
  /** Times the link was full and transmit stopped with the chain kept (back-pressure). */
  txBackpressure: 3,
  /** TX frames dropped because the link was down. */
  txLinkDown: 4,
  /** Frames written into RX buffers, counted when their used entries are published. */
  rxFrames: 5,
  /** Frame bytes written into RX buffers (header excluded), counted as `rxFrames` is. */
  rxBytes: 6,
  /**
   * Times a frame found no free RX buffer and waited in the link ring until the driver refilled
   * (E4): back-pressure, not a drop (the frame is delivered later; one frame may wait many times).
   */
  rxBufferWaits: 7,
  /** Frames dropped as larger than the MTU or than the RX buffers can ever hold. */
  rxTooBig: 8,
  /** Frames dropped as shorter than an Ethernet header. */
  rxRunt: 9,
  /** Frames not delivered because the link was down. */
  rxLinkDown: 10,
  /** RX chains returned with used length 0 because they were unusable (under 12 writable bytes, a device-readable part, unreachable). */
  rxBadChain: 11,
  /** Chains popped from the receiveq. */
  rxChainsPopped: 12,
  /** Used entries published on the receiveq. */
  rxUsedPublished: 13,
  /** Used-buffer interrupts requested for the receiveq. */
  rxInterrupts: 14,
  /** Publishes on the receiveq whose interrupt the driver suppressed. */
  rxInterruptsSuppressed: 15,
  /** Chains popped from the transmitq. */
  txChainsPopped: 16,
  /** Used entries published on the transmitq. */
  txUsedPublished: 17,
  /** Used-buffer interrupts requested for the transmitq. */
  txInterrupts: 18,
  /** Publishes on the transmitq whose interrupt the driver suppressed. */
  txInterruptsSuppressed: 19,
  /** Chains popped from the receiveq that the driver described with an indirect table. */
  rxIndirectChains: 20,
  /** Chains popped from the transmitq that the driver described with an indirect table. */
  txIndirectChains: 21,
  /** Frames sent with a partial checksum (NEEDS_CSUM under VIRTIO_NET_F_CSUM), carried as is. */
  txCsumPartial: 22,
  /** Partial checksums the device completed for a driver without VIRTIO_NET_F_GUEST_CSUM. */
  rxCsumCompleted: 23,
  /** Frames handed to the driver with NEEDS_CSUM (GUEST_CSUM: the checksum was never computed). */
  rxCsumPartial: 24,
  /**
   * Frames from the link dropped because the NIC was not live: no driver yet, being reset, or
   * stopped on an error (DEVICE_NEEDS_RESET), as a real NIC that is down drops what reaches it.
   */
  rxNotLive: 25,
} as const;

/** Number of device counter words. */
export const NET_COUNTER_COUNT = 26;

/** Driver-side counter indexes (guest worker). */
export const NetDriverCounter = {
  /** Frames queued for transmit. */
  txFrames: 0,
  /** Frame bytes queued for transmit. */
  txBytes: 1,
  /** Sends refused because every TX buffer was in flight. */
  txRingFull: 2,
  /** TX buffers reclaimed. */
  txReclaimed: 3,
  /** Frames received. */
  rxFrames: 4,
  /** Frame bytes received. */
  rxBytes: 5,
  /** RX buffers posted. */
  rxPosted: 6,
  /** Frames spanning more than one buffer (MRG_RXBUF). */
  rxMerged: 7,
  /** RX frames dropped because the device returned fewer bytes than a header, or a frame longer than the MTU allows. */
  rxLengthErrors: 8,
  /** Device faults that stopped the driver (reliability section C: a broken queue, a bad token, length or num_buffers). */
  deviceFaults: 9,
  /** Transmit watchdog expiries (`ndo_tx_timeout`): the transmitq stalled with buffers outstanding. */
  txTimeouts: 10,
  /**
   * Frames taken for transmit that a device reset (or a refused MAP) discarded before the device
   * returned them: in the transmitq, or held for their MAP behind a vIOMMU in strict or lazy mode
   * (Linux's `tx_dropped`). The stack's frames out = `txReclaimed` + `txDropped` + those in flight.
   */
  txDropped: 11,
} as const;

/** Number of driver counter words. */
export const NET_DRIVER_COUNTER_COUNT = 12;

/**
 * Counters as a plain record by name (for tests and the dashboard).
 *
 * @example
 * ```ts
 * import { NET_COUNTER_COUNT, NetCounter, readCounters } from "./metrics.ts";
 * const words = new Float64Array(NET_COUNTER_COUNT);
 * words[NetCounter.txFrames] = 3;
 * readCounters(words, NetCounter).txFrames; // 3
 * ```
 */
export function readCounters<K extends string>(
  words: Float64Array,
  layout: Readonly<Record<K, number>>,
): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const name of Object.keys(layout) as K[]) out[name] = words[layout[name]] ?? 0;
  return out;
}
