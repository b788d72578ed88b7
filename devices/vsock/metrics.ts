/**
 * Counter layouts in shared memory: one `Float64Array` word per counter, written by one thread
 * (the device worker for `VsockCounter`, the guest worker for `VsockDriverCounter`) and read by
 * anyone (the dashboard, tests).
 *
 * @module
 */

/** Device-side counter indexes (device worker). Letters name the reliability.md F row. */
export const VsockCounter = {
  /** Packets from the guest handed to the backend. */
  txPackets: 0,
  /** Payload bytes from the guest handed to the backend. */
  txBytes: 1,
  /** Packets written into RX buffers (a split RW counts once per piece). */
  rxPackets: 2,
  /** Payload bytes written into RX buffers. */
  rxBytes: 3,
  /** RSTs the device sent the guest on its own (answers to bad packets). */
  rstToGuest: 4,
  /** RSTs the device sent the backend on its own (credit violations, resets). */
  rstToBackend: 5,
  /** F1: TX chains shorter than the 44-byte header. */
  malformedShort: 6,
  /** F2: `len` beyond 64 KiB or beyond the chain (or a TX buffer the device cannot reach). */
  malformedLen: 7,
  /** F3: `src_cid` not the guest's CID (dropped silently). */
  malformedSpoofed: 8,
  /** F4: unknown `type` (answered with RST). */
  malformedType: 9,
  /** Unknown `op` (answered with RST outside an established connection). */
  malformedOp: 10,
  /** F5: packets for a connection that does not exist (answered with RST). */
  noConnection: 11,
  /** F6: the guest sent beyond its peer's credit (both ends reset). */
  creditViolations: 12,
  /** F7: zero-length RW packets ignored. */
  emptyRw: 13,
  /** F10: REQUESTs refused because the connection table was full. */
  tableFull: 14,
  /** RW packets from the guest that used up the peer's last credit (the sender must wait). */
  creditStalls: 15,
  /** Times a packet for the guest waited for an RX buffer (F12, back-pressure). */
  rxNoBuffer: 16,
  /** Times the backend was full and TX stopped with the packet kept. */
  txBackpressure: 17,
  /** Packets from the backend beyond the guest's credit (both ends reset). */
  peerCreditViolations: 18,
  /** Packets from the backend not addressed to this guest, dropped. */
  misrouted: 19,
  /** RX chains returned empty (no room for a header, unreachable). */
  rxBadChain: 20,
  /** TRANSPORT_RESET events written to the event queue. */
  transportResets: 21,
  /** Connections tracked now (a gauge). */
  connections: 22,
  /** Used-buffer interrupts requested, all queues. */
  interrupts: 23,
  /** Publishes whose interrupt the driver suppressed, all queues. */
  interruptsSuppressed: 24,
  /** Packets from the link discarded because the vsock link was down when they arrived. */
  rxLinkDown: 25,
  /** Packets from the link discarded because their slot was shorter than header plus `len`. */
  rxBadSlot: 26,
  /** Connections reset because the peer's device worker restarted (its `peerResetNotice`). */
  peerResets: 27,
  /**
   * TX packets completed unsent because the transport was reset: in flight at a backend restart,
   * or kept for a full backend at a transport reset or a device reset (their connection was reset).
   */
  restartDropped: 28,
  /**
   * Packets from the link or the host end (CID 2) discarded because the device was not live (no
   * driver yet, being reset, or stopped on an error), as a NIC that is down drops what reaches
   * it (their sender gets RST), and RX buffers not written because the queue refused to take
   * them back (a broken queue).
   */
  rxNotLive: 29,
  /** Connections reset because a partition (`vlab partition`) came to cut their peer's CID. */
  partitionResets: 30,
  /**
   * Packets a partition cut: the guest's to a cut CID (answered with RST, so a connect is
   * refused) and the link's from a cut CID (in flight when the cut came, discarded).
   */
  partitionRefused: 31,
} as const;

/** Number of device counter words. */
export const VSOCK_COUNTER_COUNT = 32;

/** Driver- and socket-side counter indexes (guest worker). */
export const VsockDriverCounter = {
  /** Packets queued on the TX queue. */
  txPackets: 0,
  /** Payload bytes queued on the TX queue. */
  txBytes: 1,
  /** Sends refused because every TX buffer was in flight. */
  txRingFull: 2,
  /** Packets received. */
  rxPackets: 3,
  /** Payload bytes received. */
  rxBytes: 4,
  /** RX buffers posted. */
  rxPosted: 5,
  /** RX buffers returned shorter than a header, or with `len` beyond the bytes written. */
  rxLengthErrors: 6,
  /** TRANSPORT_RESET events received. */
  transportResets: 7,
  /** Socket writes cut short by the peer's credit. */
  creditStalls: 8,
  /** RSTs the socket table sent (refusals, resets, answers to strays). */
  rstSent: 9,
  /** RSTs received. */
  rstReceived: 10,
  /** Packets dropped by the socket table (wrong CID, RST for no socket). */
  rxDropped: 11,
  /**
   * TX packets a device reset discarded: queued on the TX queue and not yet returned by the
   * device when the guest reset it (their connections end with the reset: `transport-reset`).
   * As the net driver's `txDropped`.
   */
  txDropped: 12,
} as const;

/** Number of driver counter words. */
export const VSOCK_DRIVER_COUNTER_COUNT = 13;
