/**
 * The plain-data specs the plan hands to workers: what a NIC is and what a link direction's
 * impairment is, as resolved values. The topology (layer 7) builds them, the workers (layer 6)
 * read them; they live here, below both, so that neither imports the other.
 *
 * @module
 */

import type { Layout } from "../../devices/virtio/queue.ts";

/** Negotiable virtio-net / ring features a NIC offers. */
export interface NicFeatures {
  /** `VIRTIO_F_EVENT_IDX`: notification suppression by event index. */
  eventIdx: boolean;
  /** `VIRTIO_F_INDIRECT_DESC`: indirect descriptor tables. */
  indirect: boolean;
  /** `VIRTIO_NET_F_MRG_RXBUF`: merge receive buffers. */
  mrgRxbuf: boolean;
  /** `VIRTIO_F_IN_ORDER`: buffers used in the order they were made available. */
  inOrder: boolean;
  /**
   * `VIRTIO_NET_F_CSUM` and `VIRTIO_NET_F_GUEST_CSUM`: checksum offload (not offered on a
   * vhost-pci link).
   */
  csum: boolean;
}

/** One virtio-net NIC of a VM. */
export interface NicSpec {
  /** NIC name, unique within its VM (e.g. `eth0`). */
  name: string;
  /** Lower-case unicast MAC, e.g. `"02:00:00:00:01:00"`. */
  mac: string;
  /** Host address without prefix (e.g. `"10.0.0.1"`), or null for an L2-only NIC. */
  ip: string | null;
  /** Prefix length of `ip`, or null when there is no `ip`. */
  prefix: number | null;
  /** Queue size of each of the NIC's queues. */
  queueSize: number;
  /** Ring layout of the NIC's queues. */
  layout: Layout;
  /** Features the device offers. */
  features: NicFeatures;
  /** MTU in bytes (68..9000). */
  mtu: number;
  /** Offers VIRTIO_F_ACCESS_PLATFORM: behind the VM's vIOMMU. */
  iommu: boolean;
  /** The guest driver's transmit watchdog, ms (`tx_timeout`; default 5000, as Linux). */
  txTimeoutMs?: number;
}

/** netem's delay distributions (the jitter's shape). */
export type DelayDistribution = "uniform" | "normal" | "pareto" | "paretonormal";

/**
 * A Markov loss model, percentages 0..100 (netem's `loss state` and `loss gemodel`; see
 * `lab/host/impair_models.ts`).
 */
export type LossModel =
  | { kind: "state"; p13: number; p31: number; p32: number; p23: number; p14: number }
  | { kind: "gemodel"; p: number; r: number; oneMinusH: number; oneMinusK: number };

/** netem knobs for one direction of a link. Percentages are 0..100. */
export interface Impairment {
  /** Added delay (µs). */
  delayUs: number;
  /** Jitter around the delay (µs): ± this for `uniform`, one standard deviation otherwise. */
  jitterUs: number;
  /** Correlation of successive jitter values, %. */
  delayCorrPct: number;
  /** Shape of the jitter (netem's `distribution`; netem's default is uniform). */
  distribution: DelayDistribution;
  /** Percentage of frames dropped at random (ignored when `lossModel` is set). */
  lossPct: number;
  /** Correlation of successive random loss decisions, %. */
  lossCorrPct: number;
  /** A Markov loss model instead of random loss, or null. */
  lossModel: LossModel | null;
  /** Percentage of frames with one bit flipped. */
  corruptPct: number;
  /** Correlation of corruption decisions, %. */
  corruptCorrPct: number;
  /** Percentage of frames sent twice. */
  duplicatePct: number;
  /** Correlation of duplication decisions, %. */
  duplicateCorrPct: number;
  /** Percentage of frames sent at once, ahead of delayed ones (needs delay or jitter). */
  reorderPct: number;
  /** Correlation of reorder decisions, %. */
  reorderCorrPct: number;
  /** Only every `reorderGap`-th frame may be reordered (netem `gap`; 1 = any frame). */
  reorderGap: number;
  /** Link rate in bits per second; 0 = unlimited. */
  rateBps: number;
  /** Bytes added to (or, negative, taken from) each frame's length for the rate. */
  overheadBytes: number;
  /** Frames the stage may hold; beyond it frames are dropped (netem default 1000). */
  limit: number;
}

/** One virtqueue of a device slot, as the plan describes it. */
export interface QueueSpec {
  /** The spec's name of the queue (`receiveq`, `transmitq`, `rx`, `event`, …). */
  name: string;
  /** Ring layout the device offers. */
  layout: Layout;
  /** QueueSizeMax of the queue. */
  size: number;
}

/** What every device slot of a VM has, whatever its kind. */
export interface SlotSpec {
  /** Device kind (`net`, …): picks the kind's guest and host slices. */
  kind: string;
  /** Device name within its VM (a NIC's name for `net`). */
  name: string;
  /** Slot index in the VM's control block. */
  index: number;
  /** Its virtqueues, in queue-index order. */
  queues: QueueSpec[];
  /** Float64 slots of its device-model counters. */
  deviceCounters: number;
  /** Float64 slots of its guest driver's counters. */
  driverCounters: number;
}

/** A virtio-net device as its workers need it: every value parsed once by the planner. */
export interface NetDeviceSpec extends SlotSpec {
  /** Kind tag. */
  kind: "net";
  /** MAC address bytes. */
  mac: number[];
  /** IPv4 address as a u32, or null for an L2-only NIC. */
  ip: number | null;
  /** Prefix length of `ip`, or null. */
  prefix: number | null;
  /** MTU in bytes. */
  mtu: number;
  /** The guest driver's transmit watchdog, ms (default 5000). */
  txTimeoutMs?: number;
  /** Ring layout of both queues. */
  layout: Layout;
  /** Size of both queues. */
  queueSize: number;
  /** Features the device offers. */
  features: NicFeatures;
  /** Ring the NIC transmits into, or -1 (not connected). */
  txRing: number;
  /** Ring the NIC receives from, or -1. */
  rxRing: number;
  /** Behind the VM's vIOMMU (offers ACCESS_PLATFORM), or null. */
  iommu: NicIommu | null;
  /** Its queues are served by another VM over a vhost-pci link, or absent/null. */
  vhostPci?: NicVhostPci | null;
}

/** The serving side of a NIC on a vhost-pci link (the NIC is the link's frontend). */
export interface NicVhostPci {
  /** The link's name. */
  link: string;
  /** The VM that serves the NIC's queues. */
  peerVm: string;
  /** Its guest worker thread (kicks and the handover ring it). */
  peerThread: number;
  /** The serving vhost-pci-net device's name in that VM. */
  peerDevice: string;
}

/** A vhost-pci-net device (VM `b` of a vhost-pci link) as its workers need it. */
export interface VhostPciDeviceSpec extends SlotSpec {
  /** Kind tag. */
  kind: "vhost-pci";
  /** The link's name. */
  link: string;
  /** MAC bytes of `b`'s interface. */
  mac: number[];
  /** IPv4 address of `b`'s interface as a u32, or null. */
  ip: number | null;
  /** Prefix length of `ip`, or null. */
  prefix: number | null;
  /** MTU (the frontend NIC's). */
  mtu: number;
  /** The frontend: VM `a`'s NIC whose queues this device serves. */
  frontend: {
    /** VM name. */
    vm: string;
    /** NIC name. */
    nic: string;
    /** MAC bytes of the NIC (a partition cuts `b`'s broadcasts to it by this address). */
    mac: number[];
    /** The NIC's device slot in `a`. */
    device: number;
    /** `a`'s guest worker thread (interrupts ring it). */
    guestThread: number;
    /** `a`'s device worker thread (peer state changes ring it). */
    deviceThread: number;
    /** QueueSizeMax of the NIC's queues. */
    queueSize: number;
    /** The NIC's place in `a`'s vIOMMU with this device's IOTLB consumer slot, or null (no
     * vIOMMU: the window is all of `a`'s memory). */
    iommu: { endpoint: number; consumer: number } | null;
  };
  /** No link rings (always -1). */
  txRing: -1;
  /** No link rings (always -1). */
  rxRing: -1;
}

/** Where a NIC behind the vIOMMU sits in it. */
export interface NicIommu {
  /** Its endpoint ID (the virtio-iommu endpoint the guest attaches). */
  endpoint: number;
  /** Its IOTLB consumer slot in the vIOMMU (registered in endpoint order by the IOMMU device). */
  consumer: number;
}

/** One endpoint of a virtio-iommu device. */
export interface IommuEndpointSpec {
  /** Endpoint ID. */
  endpoint: number;
  /** The device slot behind it. */
  device: number;
  /** The device's name (the consumer's name). */
  name: string;
  /**
   * Strict and lazy: the IOVA pages the guest hands the endpoint's buffers out of, room for every
   * buffer its queues can hold in flight (`iovaPagesFor` in lab/kinds/iommu.ts).
   */
  iovaPages: number;
}

/** A virtio-iommu device (the VM's vIOMMU) as its workers need it. */
export interface IommuDeviceSpec extends SlotSpec {
  /** Kind tag. */
  kind: "iommu";
  /** The guest's DMA mode. */
  mode: "strict" | "lazy" | "static" | "passthrough";
  /** Its endpoints, in consumer-slot order. */
  endpoints: IommuEndpointSpec[];
  /** Mapping-table entries. */
  mappings: number;
  /** vhost-pci peers translating for an endpoint (IOTLB consumer slots after the endpoints'),
   * with the thread to ring when an invalidation waits for them. */
  peers?: { name: string; endpoint: number; thread: number }[];
  /** No link rings (always -1). */
  txRing: -1;
  /** No link rings (always -1). */
  rxRing: -1;
}

/** A virtio-vsock device as its workers need it. */
export interface VsockDeviceSpec extends SlotSpec {
  /** Kind tag. */
  kind: "vsock";
  /** The guest's CID. */
  cid: number;
  /** The CID at the other end of its vsock link, or -1 (no link: every packet gets RST). */
  peerCid: number;
  /**
   * The CID and name of every VM of the lab with vsock (this one too): the guest's socket table
   * tells a connect refused because no VM has the CID ("no-such-cid") from one refused by a VM.
   */
  labCids?: [number, string][];
  /**
   * The CIDs of the VMs that a vsock link or a vsock router joins this one to (the planner's):
   * the guest tells a connect refused because nothing joins the two VMs (every packet answered
   * with RST) from one refused by the VM. Absent: not known.
   */
  joinedCids?: number[];
  /**
   * For each CID of `joinedCids`, the path the lab has to that VM, as a refusal's hint
   * names it: `the vsock link a-b`, or `vsock router r and its links a-r and b-r`. Absent: not known.
   */
  joinedPaths?: [number, string][];
  /** Ring the device sends packets into, or -1. */
  txRing: number;
  /** Ring the device receives packets from, or -1. */
  rxRing: number;
}

/** Every device kind's worker spec (a union on `kind`). */
export type DeviceSpec =
  | NetDeviceSpec
  | VsockDeviceSpec
  | IommuDeviceSpec
  | VhostPciDeviceSpec;
