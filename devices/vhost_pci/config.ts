/**
 * vhost-pci-net: the constants both sides share. VM `a` (the frontend) has an ordinary
 * virtio-net device; VM `b` has a vhost-pci-net device whose driver serves `a`'s queues in `a`'s
 * memory. The handover between them lives in `a`'s virtio-mmio register file (words the mmio
 * layout reserves), so it survives either side's device worker:
 *
 * | word | written by | meaning |
 * | --- | --- | --- |
 * | `RegFileWord.VHOST_CONN` | `a`'s device worker | 0: `a`'s device worker owns the queues; n > 0: handed over as connection n (at DRIVER_OK) |
 * | `RegFileWord.VHOST_SEQ` | `a`'s device worker | the last connection number given out |
 * | `RegFileWord.VHOST_PEER` | `b`'s guest worker | the connection `b` serves (0: none); `b` stores 0 to acknowledge a revocation |
 * | `RegFileWord.VHOST_PEER_LINK_DOWN` | `b`'s guest worker | 1 while `b` serves the connection with its link set down |
 * | `RegFileWord.VHOST_PEER_DOWNS` | whoever ends `b`'s serving (`b`, or the lab when `b` crashed) | times `b` stopped serving (`publishPeerDown`): `a`'s device worker takes a moved count as its link going down, even if `b` serves again by then |
 * | `QueueWord.NOTIFY_THREAD` | `a`'s device worker | thread + 1 that `a`'s kicks of that queue ring (0: its own device worker) |
 *
 * The vhost-pci-net device ID is 63 (`VHOST_PCI_NET_DEVICE_ID`): OASIS never allocated an ID
 * for vhost-pci (the 2017 prototype reused 21, which the spec gives to the Signal Distribution
 * Module), and 63 is the last ID virtio-pci's modern range can express (PCI device ID
 * 0x1040 + 63 = 0x107f), far above the IDs allocated so far, so it collides with nothing.
 *
 * @module
 */

/** The lab's device ID for vhost-pci-net (unallocated by OASIS; see the module note). */
export const VHOST_PCI_NET_DEVICE_ID = 63;

/** Config space of the vhost-pci-net device: `mac[6]` at 0, `status u16` at 6 (bit 0 LINK_UP). */
export const VhostPciConfigOffset = {
  MAC: 0,
  STATUS: 6,
} as const;

/** Bytes of the vhost-pci-net config space. */
export const VHOST_PCI_CONFIG_SIZE = 8;

/** States of a vhost-pci connection as `b` publishes them (`VhostPciCounter.state`). */
export const VhostPciState = {
  /** No connection: `a` has not handed its queues over (or took them back). */
  DOWN: 0,
  /** `b` serves `a`'s queues. */
  UP: 1,
  /** `b` stopped serving after a device error (an access refused by the window, a broken ring);
   * it waits for `a` to reset its NIC (a new connection). */
  FAILED: 2,
} as const;

/** `b`'s counters of a vhost-pci link (Float64 words in `b`'s control block). */
export const VhostPciCounter = {
  /** Connection state (`VhostPciState`). */
  state: 0,
  /** The connection number served (0: none). */
  connection: 1,
  /** Connections taken (handovers served). */
  connects: 2,
  /** Connections ended (revocations acknowledged, device errors). */
  disconnects: 3,
  /** Accesses of `b` the window refused (never performed). */
  faults: 4,
  /** IOVA (or GPA without an IOMMU) of the last refused access, -1: none. */
  lastFaultAddr: 5,
  /** Access of the last refused access: 1 read, 2 write, 0 none. */
  lastFaultAccess: 6,
  /** Frames popped from `a`'s transmitq: shown to `b`'s stack, unless a partition cut them. */
  framesIn: 7,
  /** Frames `b`'s stack sent into `a`'s receiveq, counted once published to `a`'s driver. */
  framesOut: 8,
  /**
   * Frames `b`'s stack sent while no connection was served (refused, not delivered), or that
   * the connection's end left unpublished in `a`'s receiveq (written, never shown to `a`'s
   * driver). A frame that finds no RX buffer in `a` is not one of them: it waits (`rxWaits`).
   */
  framesDropped: 9,
  /** Used-buffer interrupts `b` raised in `a`. */
  interrupts: 10,
  /** Wake-ups of `b` by `a`'s kicks that found work. */
  kicks: 11,
  /**
   * Ring areas revoked under `b` by an invalidation (the connection then fails). The re-check's
   * refused access is also one of `faults`: `a`'s vIOMMU logged it for `b`'s IOTLB.
   */
  revoked: 12,
  /** Frames of either direction that a partition (`vlab partition`) cut on the link. */
  partitionDropped: 13,
  /**
   * Times `b`'s stack found no RX buffer in `a`'s receiveq: the send is refused for want of room,
   * as a full TX ring refuses it (back-pressure). A flood waits for `a`'s refill and sends the
   * frame again, so nothing is lost; a frame whose sender does not retry (an echo reply, an ARP
   * answer) is lost there, and `b`'s stack counts it (`txRingFull`).
   */
  rxWaits: 14,
  /**
   * `a`'s frames dropped while its link was down, as a virtio-net link drops them: popped from
   * `a`'s transmitq and completed undelivered (also `a`'s `txLinkDown`). Sent while the link was
   * set down (`vlab link NAME down`), or while nobody served `a`'s queues (`b` rebooting or
   * resetting its device): those are dropped when `b` serves again, never delivered late.
   */
  linkDownIn: 15,
  /**
   * Frames of `b`'s stack dropped while the link was set down: refused at `a`'s device model
   * (also `a`'s `rxLinkDown`); `b`'s stack sees them sent, as a NIC with its link down takes them.
   */
  linkDownOut: 16,
} as const;

/** Words of `VhostPciCounter`. */
export const VHOST_PCI_COUNTER_COUNT = 17;
