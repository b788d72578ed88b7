/**
 * The plan's data types: what `planLab` (plan.ts) builds from a topology, as plain data the
 * lab, its workers and its tools read. Kept apart from the planner so that the planner's helpers
 * (plan_vhost_pci.ts) can name them without importing the planner.
 *
 * @module
 */

import type { Impairment, NicSpec } from "./topology/types.ts";
import type { ControlLayout } from "./wire/control.ts";
import type { DeviceSpec } from "./wire/specs.ts";

/** What kind of worker a thread is. */
export type ThreadKind = "guest" | "device" | "switch";

/** One worker thread of the lab. */
export interface ThreadPlan {
  /** Index of the thread: its doorbell slot. */
  index: number;
  /** What it runs. */
  kind: ThreadKind;
  /** The VM or switch it belongs to. */
  owner: string;
}

/** Who produces into or consumes from a directed link ring. */
export type RingPort =
  | { kind: "nic"; vm: string; nic: string; thread: number }
  | { kind: "switch"; switch: string; port: number; thread: number }
  | { kind: "vsock"; vm: string; thread: number };

/** One direction of a link. */
export interface RingPlan {
  /** Index in `LabPlan.rings`. */
  index: number;
  /** The link it belongs to. */
  link: string;
  /** "forward" (endpoints[0] → endpoints[1]) or "reverse". */
  direction: "forward" | "reverse";
  /** The writer (and the impairment stage: impairments are applied by the producer). */
  producer: RingPort;
  /** The reader. */
  consumer: RingPort;
  /** Impairment applied on the way. */
  impair: Impairment;
  /** Label of the impairment's PRNG stream (`link NAME forward`). */
  seedLabel: string;
  /** Seed of the impairment's PRNG stream: the lab seed forked by `seedLabel`. */
  seed: number;
  /** Its slots (a power of two). */
  slots: number;
  /** Bytes a slot holds: the largest frame or vsock piece. */
  slotBytes: number;
  /** Where a frame starts in its slot past a multiple of 8 (`link_ring_layout.ts`). */
  framePhase: number;
}

/** A NIC in a VM plan, with its rings (as written, for status and `--dry-run`). */
export interface NicPlan extends NicSpec {
  /** Its device slot in the VM (`VmPlan.devices`, the control block). */
  index: number;
  /** The link it is on, or null if it is not connected. */
  link: string | null;
  /** Ring the NIC transmits into, or -1. */
  txRing: number;
  /** Ring the NIC receives from, or -1. */
  rxRing: number;
}

/** One VM. */
export interface VmPlan {
  /** VM name. */
  name: string;
  /** Index of the VM in `LabPlan.vms`. */
  index: number;
  /** Seed of the VM's workers (its network stack): the lab seed forked by `vm NAME`. */
  seed: number;
  /** Bytes of guest memory. */
  memoryBytes: number;
  /** Busy-poll budget of its workers before they wait, in µs. */
  pollUs: number;
  /** Guest worker thread. */
  guestThread: number;
  /** Device worker thread. */
  deviceThread: number;
  /** Its NICs. */
  nics: NicPlan[];
  /** Its devices, one slot each, of every kind: what the workers run (NICs first). */
  devices: DeviceSpec[];
  /** Its control block's layout (computed once, here; the workers receive it). */
  control: ControlLayout;
  /** Bytes of its control block. */
  controlBytes: number;
}

/** One switch. */
export interface SwitchPlan {
  /** Switch name. */
  name: string;
  /** Its worker thread. */
  thread: number;
  /** MAC-table size bound. */
  portsMax: number;
  /** Its ports in order: the link, the ring it reads and the ring it writes. */
  ports: { link: string; rxRing: number; txRing: number }[];
  /** A vsock router (`vsock_routers`), not an L2 switch: the CID of the VM on each port. */
  vsockCids?: number[];
}

/** One link, both directions. */
export interface LinkPlan {
  /** Link name. */
  name: string;
  /** Endpoints as written, "vm:nic" or "switch". */
  endpoints: [string, string];
  /** Forward ring (endpoints[0] → endpoints[1]). */
  forwardRing: number;
  /** Reverse ring. */
  reverseRing: number;
}

/** One vhost-pci link: VM `peer`'s vhost-pci-net device serves VM `frontend`'s NIC. */
export interface VhostPciLinkPlan {
  /** Link name. */
  name: string;
  /** The frontend NIC (VM `a`) and its device slot. */
  frontend: { vm: string; nic: string; device: number };
  /** The serving device (VM `b`) and its device slot. */
  peer: { vm: string; device: string; slot: number };
  /** Whether `b` sees `a` through `a`'s vIOMMU (the NIC has `iommu: true`); false: all of `a`. */
  iommu: boolean;
}

/** Everything `start` builds, as plain data. */
export interface LabPlan {
  /** Lab name. */
  name: string;
  /** Lab seed. */
  seed: number;
  /** Where the topology came from. */
  source: string;
  /** Every worker. */
  threads: ThreadPlan[];
  /** VMs. */
  vms: VmPlan[];
  /** Switches. */
  switches: SwitchPlan[];
  /** Links. */
  links: LinkPlan[];
  /** vhost-pci links (no rings: `b` serves `a`'s queues in `a`'s memory), when there are any. */
  vhostPciLinks?: VhostPciLinkPlan[];
  /** Directed link rings. */
  rings: RingPlan[];
  /** Slots per ring of a NIC's link (each `RingPlan` says its own: vsock rings differ). */
  ringSlots: number;
  /**
   * Frame bytes per slot of the largest NIC link ring (each `RingPlan` says its own: a link's
   * slots hold the largest frame of its L2 segment, `linkSlotBytes`).
   */
  slotBytes: number;
  /** Shared memory the lab allocates, in bytes (guest memory, control blocks, link rings). */
  sharedBytes: number;
}
