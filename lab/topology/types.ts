/**
 * The normalised topology: what the lab runs after a YAML file has been parsed, checked and
 * filled in with defaults. Every field is resolved (no optional values, no units left in strings);
 * names are the user's, in file order.
 *
 * @module
 */

/** Virtqueue ring layout of a NIC (virtio 1.2 §2.7 split, §2.8 packed). */
export type RingLayout = "split" | "packed";

export type { NicFeatures, NicSpec } from "../wire/specs.ts";
import type { NicSpec } from "../wire/specs.ts";

/** One simulated VM. */
export interface VmSpec {
  /** VM name (shares a namespace with switches). */
  name: string;
  /** Guest memory size in bytes. */
  memoryBytes: number;
  /** vCPU-worker busy-poll budget before it waits, in microseconds. */
  pollUs: number;
  /** NICs in file order. */
  nics: NicSpec[];
  /** Its virtio-vsock device, or null. */
  vsock: VsockSpec | null;
  /** Its virtio-iommu device, or null. */
  iommu: IommuSpec | null;
}

/** The guest's DMA mode behind a vIOMMU (see devices/iommu/dma_modes.ts). */
export type IommuMode = "strict" | "lazy" | "static" | "passthrough";

/** A VM's virtio-iommu device. */
export interface IommuSpec {
  /** How the guest maps its NICs' buffers. */
  mode: IommuMode;
}

/** A VM's virtio-vsock device. */
export interface VsockSpec {
  /** The guest's context id (3 and up, unique in the lab). */
  cid: number;
}

/** A vsock link: packets between two VMs' vsock devices. */
export interface VsockLinkSpec {
  /** Link name, unique among all links. */
  name: string;
  /** The two VMs. */
  vms: [string, string];
  /**
   * From `vms[0]` to `vms[1]`: delay (with jitter), rate, overhead and limit only
   * (`vsock_impairment.ts`).
   */
  forward: Impairment;
  /** From `vms[1]` to `vms[0]`. */
  reverse: Impairment;
}

/** A vsock router: joins the vsock devices of the VMs linked to it, routing by `dst_cid`. */
export interface VsockRouterSpec {
  /** Router name (shares a namespace with VMs and switches). */
  name: string;
  /** Its ports in link order: the link and the VM at its other end. */
  ports: { link: string; vm: string }[];
}

/** An L2 learning bridge. */
export interface SwitchSpec {
  /** Switch name (shares a namespace with VMs). */
  name: string;
  /** Most links that may attach to the switch. */
  portsMax: number;
}

/**
 * Impairments applied to one direction of a link (netem vocabulary, resolved units): the type
 * the impairment stage that applies them defines.
 */
export type { Impairment } from "../wire/specs.ts";
import type { Impairment } from "../wire/specs.ts";

/** One end of a link: a VM's NIC or a switch. */
export type Endpoint = { kind: "nic"; vm: string; nic: string } | {
  kind: "switch";
  switch: string;
};

/** A point-to-point link; `forward` applies from `endpoints[0]` to `endpoints[1]`. */
export interface LinkSpec {
  /** Link name, unique in the lab. */
  name: string;
  /** The two ends, as written. */
  endpoints: [Endpoint, Endpoint];
  /** Impairment from `endpoints[0]` to `endpoints[1]`. */
  forward: Impairment;
  /** Impairment from `endpoints[1]` to `endpoints[0]`. */
  reverse: Impairment;
  /** `vhost-pci`: `endpoints[1]`'s NIC becomes a vhost-pci-net device serving `endpoints[0]`'s
   * queues (no rings, no impairment). Absent: a net link. */
  kind?: "vhost-pci";
}

/** A validated, normalised topology. */
export interface Topology {
  /** Lab name. */
  name: string;
  /** Seed every random decision derives from (u32). */
  seed: number;
  /** File path, or `"<object>"` when built from a value. */
  source: string;
  /** VMs in file order. */
  vms: VmSpec[];
  /** Switches in file order. */
  switches: SwitchSpec[];
  /** Links in file order. */
  links: LinkSpec[];
  /** vsock links between two VMs in file order (`kind: vsock` in `links`). */
  vsockLinks: VsockLinkSpec[];
  /** vsock routers in file order, with the `kind: vsock` links to them. */
  vsockRouters: VsockRouterSpec[];
}

/** One problem found in a topology, located at the node that caused it. */
export interface TopologyIssue {
  /** Stable code, e.g. `"unknown-key"` (see `docs/topology.md`). */
  code: string;
  /** Where, e.g. `"links[0].endpoints[1]"`; `""` for the whole document. */
  path: string;
  /** 1-based line, or null when unknown (objects, unreadable files). */
  line: number | null;
  /** 1-based column, or null when unknown. */
  column: number | null;
  /** Sentence-case message without a final period. */
  message: string;
  /** What to do about it, or null. */
  hint: string | null;
}
