/**
 * The snapshot of a running lab that the dashboard draws: plain JSON data, taken from shared
 * memory by `lab/snapshot.ts` (counters, register files, queue state records, ring indices in
 * guest memory) and served on the control socket (`GET /snapshot`, `GET /ring`). Counters are
 * cumulative; the dashboard turns them into rates from the deltas between two snapshots.
 *
 * @module
 */

import type { VsockConnTable } from "../devices/vsock/conn_table.ts";

import type { LabEvent } from "./events.ts";
import type { PartitionInfo } from "./partition.ts";

/** What the dashboard shows for a VM. */
export type VmDisplayState =
  | "booting"
  | "running"
  | "needs-reset"
  | "restarting"
  | "resetting"
  | "failed"
  | "stopped";

/** One virtqueue of a device. */
export interface QueueSnapshot {
  /** Queue index (0 receiveq, 1 transmitq for virtio-net). */
  index: number;
  /** Queue name. */
  name: string;
  /** Ring layout. */
  layout: "split" | "packed";
  /** Queue size (0 when the driver has not set the queue up). */
  size: number;
  /** QueueReady as the driver left it. */
  ready: boolean;
  /**
   * Split: `avail.idx` as the driver last published it (read from guest memory). Packed: the
   * driver's next slot is not in memory; null.
   */
  availIdx: number | null;
  /** Split: `used.idx` as the device last published it. Packed: null. */
  usedIdx: number | null;
  /** The device's next slot (packed) or next avail index to read (split), from its state record. */
  deviceNextAvail: number;
  /** Packed: the device's avail wrap counter; split: null. */
  availWrapCounter: boolean | null;
  /** The device's next used slot (packed) or `used.idx` it will write next (split). */
  deviceNextUsed: number;
  /** Packed: the device's used wrap counter; split: null. */
  usedWrapCounter: boolean | null;
  /** Chains the device has taken and not returned yet. */
  inFlight: number;
  /**
   * Chains the driver made available that the device has not taken yet: split from `avail.idx`,
   * packed from the descriptors' AVAIL/USED bits against the device's wrap counter; null when the
   * queue is not set up or its ring is outside memory.
   */
  pending: number | null;
  /** Chains the device took (cumulative). */
  requests: number;
  /** Frame bytes through this queue (cumulative). */
  bytes: number;
  /** Driver notifications (kicks) received (cumulative). */
  kicks: number;
  /** Used-buffer interrupts raised (cumulative). */
  interrupts: number;
  /** Publishes whose interrupt event suppression saved (cumulative). */
  suppressed: number;
  /** Who serves the queue when not the VM's own device worker ("b:eth0 over vhost-pci a-b"). */
  servedBy?: string;
}

import type { IommuSnapshot } from "./iommu_view.ts";

/** One device of a VM. */
export interface DeviceSnapshot {
  /** Device name (a NIC's name for virtio-net). */
  nic: string;
  /** Device kind (`virtio-net`, …), from the kind's description. */
  kind: string;
  /** MAC address; null for a device that has none (not a NIC). */
  mac: string | null;
  /** "10.0.0.1/24" or null. */
  ip: string | null;
  /** The link it is on. */
  link: string | null;
  /**
   * What tells it apart beyond its interface, as `vlab status` says it: `cid 3` (vsock),
   * `mode static` (virtio-iommu), `serves a:eth0 over a-b` (vhost-pci); absent for a NIC.
   */
  detail?: string;
  /** Link status bit of its config space. */
  linkUp: boolean;
  /** The status byte. */
  status: number;
  /** The status bits set, by name (ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, DEVICE_NEEDS_RESET, FAILED). */
  statusNames: string[];
  /** The negotiated features, by spec name (VERSION_1, RING_PACKED, EVENT_IDX, MRG_RXBUF, MAC, …). */
  features: string[];
  /** Its queues. */
  queues: QueueSnapshot[];
  /** The device's counters (`NetCounter` names, cumulative). */
  counters: Record<string, number>;
  /** The guest driver's counters (`NetDriverCounter` names, cumulative). */
  driverCounters: Record<string, number>;
  /** Its connections with their credit (vsock only; the busiest, about once a second). */
  connections?: VsockConnTable;
}

/** How often recovery ran on a VM since the lab started. */
export interface VmRecovery {
  /**
   * Its device worker was replaced after a crash or a hang and the VM runs again
   * (`backend-ready`, logged as it leaves `restarting`).
   */
  backendRestarts: number;
  /**
   * Its guest reset a device (DEVICE_NEEDS_RESET, a broken queue, a transmit timeout) and the
   * device's queues are live again (`device-queues-live`, logged as it leaves `resetting`).
   */
  deviceResets: number;
  /**
   * The VM crashed and was rebooted (`vlab fault vm-crash`): counted at `vm-restarted`, as its
   * guest runs again. Absent in snapshots of labs from before reboots were counted.
   */
  reboots?: number;
}

/**
 * Where a VM's reboot after `vm-crash` is (`Lab.rebootOf`): what `vlab status` and the dashboard
 * say while the VM is `restarting` for it.
 */
export interface VmReboot {
  /** Its guest's boot time, ms, as the crash gave it (`vlab fault vm-crash VM --ms N`; 0 without). */
  ms: number;
  /**
   * `power-on`: its devices are being reset (a device worker at power-on state); `boot`: they run
   * with no driver while its guest waits out its boot time (`ms`); `guest-start`: its guest
   * worker starts and its drivers bring the devices up.
   */
  phase: "power-on" | "boot" | "guest-start";
  /** In phase `boot`: how long until its guest starts, ms. */
  bootsInMs?: number;
}

/**
 * How long a reboot after `vm-crash` still lasts at least, ms: what is left of its guest's boot
 * time (all of it while its devices power on, none once its guest starts).
 *
 * @example
 * ```ts
 * import { rebootLeftMs } from "./snapshot_types.ts";
 * rebootLeftMs({ ms: 3000, phase: "boot", bootsInMs: 1240 }); // 1240
 * rebootLeftMs({ ms: 3000, phase: "power-on" }); // 3000
 * ```
 */
export function rebootLeftMs(r: VmReboot): number {
  return r.phase === "boot" ? r.bootsInMs ?? 0 : r.phase === "power-on" ? r.ms : 0;
}

/**
 * What is left of a booting guest's wait, in seconds with one decimal, rounded up and at least
 * 0.1 while it boots: "boots in 0.0 s" was said in the boot's last 50 ms.
 *
 * @example
 * ```ts
 * import { bootsInSeconds } from "./snapshot_types.ts";
 * bootsInSeconds({ ms: 3000, phase: "boot", bootsInMs: 1240 }); // "1.3"
 * bootsInSeconds({ ms: 3000, phase: "boot", bootsInMs: 20 }); // "0.1"
 * ```
 */
export function bootsInSeconds(r: VmReboot): string {
  return tenthsUp(r.bootsInMs ?? 0);
}

/**
 * A reboot's whole boot time (`ms`, the crash's `--ms`), in seconds with one decimal, rounded up
 * and at least 0.1 when there is one, as {@linkcode bootsInSeconds} says what is left of it: a
 * `--ms 30` was said "its guest boots for 0.0 s" while its devices powered on.
 *
 * @example
 * ```ts
 * import { bootSeconds } from "./snapshot_types.ts";
 * bootSeconds({ ms: 3000, phase: "power-on" }); // "3.0"
 * bootSeconds({ ms: 30, phase: "power-on" }); // "0.1"
 * ```
 */
export function bootSeconds(r: VmReboot): string {
  return tenthsUp(r.ms);
}

/** `ms` as seconds with one decimal, rounded up to the next tenth, 0.1 at least. */
function tenthsUp(ms: number): string {
  return (Math.max(1, Math.ceil(ms / 100)) / 10).toFixed(1);
}

/** One VM. */
export interface VmSnapshot {
  /** VM name. */
  name: string;
  /** What the dashboard shows. */
  state: VmDisplayState;
  /** Its devices. */
  devices: DeviceSnapshot[];
  /**
   * Frames and datagrams its guest network stack dropped, by cause (camelCase, cumulative; the
   * causes the stack publishes). Absent in snapshots older than this field.
   */
  guestDrops?: Record<string, number>;
  /** Its vIOMMU per endpoint (mappings, IOTLB, faults); absent on a VM without one. */
  iommu?: IommuSnapshot;
  /**
   * The CPU its guest and device workers are placed on (the lab's CPU placement); absent while
   * they run wherever the scheduler puts them.
   */
  cpu?: number;
  /** How often recovery ran on it; absent in snapshots older than this field. */
  recovery?: VmRecovery;
  /** Where its reboot after `vm-crash` is, while it reboots; absent otherwise. */
  reboot?: VmReboot;
}

/** One direction of a link. */
export interface DirectionSnapshot {
  /** "a:eth0 → b:eth0". */
  from: string;
  /** Destination endpoint. */
  to: string;
  /** netem-style description of the impairment in force, or "no impairment". */
  impair: string;
  /** Frames delivered (cumulative). */
  frames: number;
  /** Bytes delivered (cumulative). */
  bytes: number;
  /** Frames discarded on the way, by cause (cumulative). */
  drops: LinkDrops;
  /** Times frames were held back and delivered later, by cause (cumulative; not drops). */
  waits: LinkWaits;
  /** Frames delivered with a flipped bit (the corrupt impairment; cumulative, not a drop). */
  corrupted: number;
  /** Second copies the duplicate impairment queued (cumulative). */
  duplicated: number;
  /** Frames the reorder impairment sent ahead of delayed ones (cumulative). */
  reordered: number;
  /**
   * Frames the impairment stage holds now, waiting for their delay or the rate (netem's
   * backlog; a gauge). Absent from a lab of an older vlab.
   */
  queued?: number;
}

/** Frames discarded on one link direction, by cause (cumulative). */
export interface LinkDrops {
  /** The loss impairment. */
  loss: number;
  /** The impairment stage's queue was full (`limit` frames held, e.g. behind a `rate`). */
  queueLimit: number;
  /** A partition cut the frame (`vlab partition`), at the producer of the direction. */
  partition: number;
  /** A switch found its out port's link ring full (a switch never waits). */
  fullRing: number;
  /** The link was down (at the sending or the receiving NIC). */
  linkDown: number;
  /** Larger than the receiver's MTU or RX buffers. */
  tooBig: number;
  /** Shorter than an Ethernet header. */
  runt: number;
  /** Malformed TX chains of the sending NIC's driver. */
  malformed: number;
  /** Link-ring slots longer than a slot (skipped by the reader). */
  badSlot: number;
  /** Frames the receiving guest driver dropped: shorter than a header, or longer than its MTU. */
  lengthError: number;
  /** The receiving NIC was not live: no driver yet, being reset, or stopped on an error. */
  notLive: number;
}

/** Times frames waited on one link direction, by cause (back-pressure: nothing lost). */
export interface LinkWaits {
  /** A frame found no free RX buffer at the receiving NIC and waited in the link ring. */
  rxBuffer: number;
  /** The sending NIC found the link ring full and kept the frame in its transmitq. */
  linkFull: number;
}

/** Drop causes in display order with their labels (dashboard and `vlab status`). */
export const DROP_LABELS: readonly (readonly [keyof LinkDrops, string])[] = [
  ["loss", "loss"],
  ["queueLimit", "queue limit"],
  ["partition", "partition"],
  ["fullRing", "full ring"],
  ["linkDown", "link down"],
  ["tooBig", "too big"],
  ["runt", "runt"],
  ["malformed", "malformed"],
  ["badSlot", "bad slot"],
  ["lengthError", "length error"],
  ["notLive", "NIC not live"],
];

/** Wait causes in display order with their labels. */
export const WAIT_LABELS: readonly (readonly [keyof LinkWaits, string])[] = [
  ["rxBuffer", "waited for RX buffer"],
  ["linkFull", "waited for link"],
];

/**
 * The sum of a direction's drops.
 *
 * @example
 * ```ts
 * import { totalDrops } from "./snapshot_types.ts";
 * totalDrops({ loss: 2, queueLimit: 3, partition: 0, fullRing: 0, linkDown: 0, tooBig: 0, runt: 0, malformed: 0, badSlot: 0, lengthError: 0, notLive: 0 }); // 5
 * ```
 */
export function totalDrops(d: LinkDrops): number {
  let n = 0;
  for (const [k] of DROP_LABELS) n += d[k] ?? 0;
  return n;
}

/** One link. */
export interface LinkSnapshot {
  /** Link name. */
  name: string;
  /** Endpoints as written. */
  endpoints: [string, string];
  /**
   * What it carries: Ethernet frames (`net`) or vsock packets (`vsock`, a link between two VMs'
   * vsock devices or to a vsock router). Absent in a snapshot from a lab older than the field.
   */
  kind?: "net" | "vsock";
  /** Up or down. */
  up: boolean;
  /** endpoints[0] → endpoints[1]. */
  forward: DirectionSnapshot;
  /** endpoints[1] → endpoints[0]. */
  reverse: DirectionSnapshot;
}

/** One vhost-pci link: VM `b`'s vhost-pci-net device serving VM `a`'s NIC in `a`'s memory. */
export interface VhostPciLinkSnapshot {
  /** Link name. */
  name: string;
  /** The frontend NIC, "a:eth0". */
  frontend: string;
  /** The serving device, "b:eth0". */
  peer: string;
  /** What `b` sees of `a`: "vIOMMU <mode> (endpoint N)" or "all of a's memory". */
  window: string;
  /**
   * "up" (serving), "down" (not handed over, or the link set down: then the connection is still
   * served, and every frame dropped) or "failed" (a device error; waits for `a`'s reset).
   */
  state: "up" | "down" | "failed";
  /** The connection served (0: none), with the link up or set down. */
  connection: number;
  /** Connections taken, and ended. */
  connects: number;
  /** Connections ended. */
  disconnects: number;
  /** Frames from `a`'s transmitq to `b`'s stack. */
  framesIn: number;
  /** Frames from `b`'s stack into `a`'s receiveq. */
  framesOut: number;
  /** Frames `b`'s stack sent while no connection was served (not delivered). */
  framesDropped: number;
  /**
   * Times `b`'s stack found no buffer in `a`'s receiveq and sent the frame again once `a`
   * refilled (back-pressure, nothing lost). Absent in snapshots older than this field.
   */
  rxWaits?: number;
  /** Frames of either direction a partition (`vlab partition`) cut on the link. */
  partitionDropped: number;
  /**
   * `a`'s frames dropped while its link was down (set down with `vlab link NAME down`, or `b` not
   * serving: rebooting, resetting its device): completed in `a`'s transmitq, never delivered.
   * Absent in snapshots older than this field.
   */
  linkDownIn?: number;
  /**
   * Frames of `b`'s stack dropped while the link was set down. Absent in snapshots older than
   * this field.
   */
  linkDownOut?: number;
  /** Interrupts `b` raised in `a`. */
  interrupts: number;
  /** Accesses of `b` the window refused (connections failed on one). */
  faults: number;
  /** Ring areas revoked under `b`. */
  revoked: number;
  /** The last refused access, "read 0x80000", or null. */
  lastFault: string | null;
}

/** One switch. */
export interface SwitchSnapshot {
  /** Switch name. */
  name: string;
  /**
   * An L2 switch (`switches`) or a vsock router (`vsock_routers`), which the lab runs the same way
   * (a worker with ports). Absent in a snapshot from a lab older than the field.
   */
  kind?: "switch" | "vsock-router";
  /** Links on its ports. */
  ports: string[];
  /** Its counters (forwarded, flooded, learned, …), cumulative. */
  counters: Record<string, number>;
}

/** A whole-lab snapshot. */
export interface LabSnapshot {
  /** When it was taken, ms since the epoch. */
  takenAt: number;
  /** The lab. */
  lab: {
    name: string;
    seed: number;
    source: string;
    startedAt: string;
    uptimeSeconds: number;
    pid: number;
  };
  /** VMs in plan order. */
  vms: VmSnapshot[];
  /** Switches. */
  switches: SwitchSnapshot[];
  /** Links. */
  links: LinkSnapshot[];
  /** vhost-pci links, when the lab has any. */
  vhostPciLinks?: VhostPciLinkSnapshot[];
  /** The partitions in force (`vlab partition`), oldest first, when there are any. */
  partitions?: PartitionInfo[];
  /** The most recent events, oldest first (at most 50). */
  events: LabEvent[];
}

/** Which queue a ring view shows. */
export interface RingSelector {
  /** VM name. */
  vm: string;
  /** NIC name. */
  nic: string;
  /** Queue index. */
  queue: number;
}

/** Who owns a descriptor right now. */
export type DescriptorOwner = "driver" | "device" | "free";

/** One descriptor of a ring view. */
export interface DescriptorView {
  /** Index in the descriptor table (split) or ring slot (packed). */
  index: number;
  /** Buffer address (GPA). */
  addr: number;
  /** Buffer length. */
  len: number;
  /** Raw flags. */
  flags: number;
  /** Flags decoded (NEXT, WRITE, INDIRECT; packed also AVAIL, USED). */
  flagNames: string[];
  /** Split: `next`; packed: null. */
  next: number | null;
  /** Packed: buffer id; split: null. */
  id: number | null;
  /** Who owns it now: made available and not yet taken ("driver" side until taken), held by the device, or free/used. */
  owner: DescriptorOwner;
}

/** The ring view of one queue: the descriptor table and where each side's index points. */
export interface RingView {
  /** The queue. */
  selector: RingSelector;
  /** Ring layout. */
  layout: "split" | "packed";
  /** Queue size (0: not set up; `descriptors` is then empty). */
  size: number;
  /** The descriptors (at most 256 shown: the first `size` up to that). */
  descriptors: DescriptorView[];
  /** Split: the avail ring slot by slot, `availRing[i] = avail.ring[i]` (as many slots as descriptors shown); packed: null. */
  availRing: number[] | null;
  /** Split: the used ring slot by slot, `usedRing[i] = used.ring[i]` as `{ id, len }`; packed: null. */
  usedRing: { id: number; len: number }[] | null;
  /** Split: driver's `avail.idx`; packed: null. */
  availIdx: number | null;
  /** Split: device's `used.idx`; packed: null. */
  usedIdx: number | null;
  /** The device's next avail position and wrap (packed). */
  deviceNextAvail: number;
  /** Packed avail wrap counter, or null. */
  availWrapCounter: boolean | null;
  /** The device's next used position. */
  deviceNextUsed: number;
  /** Packed used wrap counter, or null. */
  usedWrapCounter: boolean | null;
  /** Event suppression: split `used_event`/`avail_event` (with EVENT_IDX), packed event structures' off/wrap/flags. */
  events: Record<string, number>;
  /** Who serves the queue when not the VM's own device worker ("b:eth0 over vhost-pci a-b"). */
  servedBy?: string;
}

/**
 * Whether a status or snapshot entry of `switches` is a vsock router: its `kind` says so, and in
 * a status from a lab older than `kind` a router is the entry with no MAC table (no `learned`
 * counter). `vlab status`, `vlab graph` and the dashboard tell them apart by this one rule.
 *
 * @example
 * ```ts
 * import { isVsockRouter } from "./snapshot_types.ts";
 * isVsockRouter({ kind: "vsock-router", counters: {} }); // true
 * isVsockRouter({ counters: { learned: 3 } }); // false: a switch of an older lab
 * ```
 */
export function isVsockRouter(
  w: { kind?: "switch" | "vsock-router"; counters?: Record<string, number> },
): boolean {
  if (w.kind !== undefined) return w.kind === "vsock-router";
  return w.counters !== undefined && w.counters.learned === undefined;
}

/** A running lab's memory, bytes. */
export interface LabMemory {
  /**
   * The shared memory it reserved (guest memory, control blocks, link rings): the plan's, which
   * `vlab up --dry-run` compares with the machine's; pages are committed when first touched.
   */
  sharedBytes: number;
  /**
   * What the lab's process holds in RAM now (resident set: every worker's heap and stack, and the
   * shared pages touched so far).
   */
  residentBytes: number;
}
