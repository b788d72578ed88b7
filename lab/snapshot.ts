/**
 * Snapshots of a running lab for the dashboard (`GET /snapshot`, contract in
 * `lab/snapshot_types.ts`), and the ring view of one queue (`GET /ring`, `lab/ring_view.ts`).
 *
 * A snapshot is read from shared memory only – each NIC's register file, queue state records
 * and counters in its VM's control block, the split ring indices in guest memory, the link
 * rings' counters and the statistics regions the workers publish – so taking one sends no
 * message to any worker and costs well under a millisecond for a small lab: the dashboard takes
 * ten a second next to a busy lab. The values are read without a lock while the workers run; a
 * snapshot is a consistent picture of each word, not of the lab as a whole.
 *
 * @module
 */

import { servedBy, vhostPciSnapshot } from "./vhost_pci_view.ts";
import { NO_IDENTITY } from "./kinds/types.ts";
import { Status } from "../devices/virtio/constants.ts";
import { iommuSnapshot } from "./iommu_view.ts";
import { QueueWord, queueWord, RegFileWord } from "../devices/virtio/mmio.ts";
import { StateWord } from "../devices/virtio/state.ts";
import { featureNames } from "../devices/virtio/features.ts";
import { NET_FEATURE_NAMES } from "../devices/net/config.ts";
import { readCounters } from "../devices/net/metrics.ts";
import type { Lab, VmState } from "./lab.ts";
import type { RingPlan, SwitchPlan } from "./plan_types.ts";
import { describeImpair } from "./plan.ts";
import { directionCounter, guestStackDrops, switchCounters } from "./link_counts.ts";
import {
  type DeviceViews,
  type GuestReader,
  labViews,
  packedPending,
  queueAddr,
  queueLayout,
} from "./ring_view.ts";
import { SplitAvail, SplitUsed } from "../devices/virtio/split_layout.ts";
import type {
  DeviceSnapshot,
  DirectionSnapshot,
  LabMemory,
  LabSnapshot,
  QueueSnapshot,
  VmDisplayState,
  VmRecovery,
} from "./snapshot_types.ts";

export { RING_VIEW_MAX, type RingViewError, takeRingView } from "./ring_view.ts";

/** Most events a snapshot carries. */
export const SNAPSHOT_EVENTS = 50;

const STATUS_NAMES: readonly [string, number][] = [
  ["ACKNOWLEDGE", Status.ACKNOWLEDGE],
  ["DRIVER", Status.DRIVER],
  ["FEATURES_OK", Status.FEATURES_OK],
  ["DRIVER_OK", Status.DRIVER_OK],
  ["DEVICE_NEEDS_RESET", Status.DEVICE_NEEDS_RESET],
  ["FAILED", Status.FAILED],
];

/**
 * The names of the bits set in a device status byte.
 *
 * @example
 * ```ts
 * import { statusNames } from "./snapshot.ts";
 * statusNames(0x0f); // ["ACKNOWLEDGE", "DRIVER", "FEATURES_OK", "DRIVER_OK"]
 * ```
 */
export function statusNames(status: number): string[] {
  const out: string[] = [];
  for (const [name, bit] of STATUS_NAMES) if ((status & bit) !== 0) out.push(name);
  return out;
}

/** Decoded feature lists by the two register words (a NIC's features rarely change). */
const FEATURE_CACHE = new WeakMap<
  Readonly<Record<number, string>>,
  Map<string, readonly string[]>
>();

/**
 * The negotiated features of a register file (the DriverFeatures words), by spec name.
 *
 * @example
 * ```ts
 * import { negotiatedFeatureNames } from "./snapshot.ts";
 * import { regFileWords, RegFileWord } from "../devices/virtio/mmio.ts";
 * const regs = new Int32Array(regFileWords(2));
 * regs[RegFileWord.DRIVER_FEATURES_LO] = 1 << 5;
 * regs[RegFileWord.DRIVER_FEATURES_HI] = 1;
 * negotiatedFeatureNames(regs); // ["MAC", "VERSION_1"]
 * ```
 */
export function negotiatedFeatureNames(
  regs: Int32Array,
  kindNames: Readonly<Record<number, string>> = NET_FEATURE_NAMES,
): string[] {
  const lo = regs[RegFileWord.DRIVER_FEATURES_LO] >>> 0;
  const hi = regs[RegFileWord.DRIVER_FEATURES_HI] >>> 0;
  const key = `${lo}:${hi}`;
  let cache = FEATURE_CACHE.get(kindNames);
  if (!cache) FEATURE_CACHE.set(kindNames, cache = new Map());
  let names = cache.get(key);
  if (!names) {
    names = featureNames(BigInt(lo) | (BigInt(hi) << 32n), kindNames);
    if (cache.size < 256) cache.set(key, names);
  }
  return names.slice();
}

/**
 * What the dashboard shows for a VM, from the supervisor's view of its workers and its devices'
 * status bytes: a failed worker is "failed", a stopped VM "stopped", workers still starting
 * "booting", a device worker being replaced after a crash "restarting", a guest resetting a
 * device "resetting"; then any device with DEVICE_NEEDS_RESET makes it "needs-reset", any device whose
 * driver set FAILED "failed", any device short of DRIVER_OK "booting"; else "running".
 *
 * @example
 * ```ts
 * import { displayState } from "./snapshot.ts";
 * displayState("running", [0x0f, 0x4f]); // "needs-reset"
 * displayState("running", [0x07]); // "booting"
 * displayState("restarting", [0x0f]); // "restarting"
 * ```
 */
export function displayState(state: VmState, statuses: readonly number[]): VmDisplayState {
  if (state === "failed") return "failed";
  if (state === "stopped") return "stopped";
  if (state === "starting") return "booting";
  if (state === "restarting") return "restarting";
  if (state === "resetting") return "resetting";
  let failed = false;
  let booting = false;
  for (const s of statuses) {
    if ((s & Status.DEVICE_NEEDS_RESET) !== 0) return "needs-reset";
    if ((s & Status.FAILED) !== 0) failed = true;
    if ((s & Status.DRIVER_OK) === 0) booting = true;
  }
  return failed ? "failed" : booting ? "booting" : "running";
}

const NO_STATS: Record<string, number> = Object.freeze({}) as Record<string, number>;

/**
 * How often recovery ran on a VM since the lab started, counted from the event log (every event,
 * not only the recent ones it keeps): `vlab status`, the dashboard and `/metrics` show it. A
 * backend restart counts at `backend-ready`, logged as the VM goes from `restarting` to
 * `running`, and a device reset at `device-queues-live`, logged as it leaves `resetting`: a VM
 * shown running again shows its recovery counted. (`backend-restarted` and a NIC's
 * `device-reset`, which carry the pause, come at the first work after, up to a quarter second
 * later.) A reboot after `vm-crash` counts at `vm-restarted`, as its guest runs again.
 *
 * @example
 * ```ts ignore
 * vmRecovery(lab, "a"); // { backendRestarts: 1, deviceResets: 0, reboots: 0 }
 * ```
 */
export function vmRecovery(lab: Lab, vm: string): VmRecovery {
  return {
    backendRestarts: lab.events.count("backend-ready", vm),
    deviceResets: lab.events.count("device-queues-live", vm),
    reboots: lab.events.count("vm-restarted", vm),
  };
}

/**
 * Take a snapshot of a running (or stopped) lab. Synchronous; reads shared memory only.
 *
 * Per queue: layout from the negotiated RING_PACKED, size/ready/kicks from the register file;
 * split `avail.idx`/`used.idx` from guest memory at the addresses the driver programmed, when
 * the queue is ready and the area lies inside memory (else null); the device side and
 * `inFlight` from its state record; `pending` = `avail.idx` − next avail (mod 2^16, split), or
 * the chains the descriptors' AVAIL/USED bits mark available ahead of the device (packed).
 * Per link direction: frames and bytes delivered, every drop cause and every wait, gathered by
 * `lab/link_counts.ts` from the link ring, the producer's impairment stage and both NICs.
 *
 * @example
 * ```ts ignore
 * import { takeSnapshot } from "./snapshot.ts";
 * const s = takeSnapshot(lab);
 * console.log(s.vms.map((v) => `${v.name} ${v.state}`), s.links[0].forward.frames);
 * ```
 */
export function takeSnapshot(lab: Lab): LabSnapshot {
  const plan = lab.plan;
  const views = labViews(lab);
  const workers = lab.workerStats();
  const statsOf = (kind: string, owner: string): Record<string, number> => {
    for (const w of workers) if (w.kind === kind && w.owner === owner) return w.stats;
    return NO_STATS;
  };
  const vms = plan.vms.map((vm) => {
    const devices = views.devices[vm.index].map(deviceSnapshot(lab));
    return {
      name: vm.name,
      state: displayState(lab.vmState(vm.name), devices.map((d) => d.status)),
      devices,
      guestDrops: guestStackDrops(statsOf("guest", vm.name)),
      ...((iommu) => iommu ? { iommu } : {})(iommuSnapshot(lab, vm.index)),
      ...((cpu) => cpu === null ? {} : { cpu })(lab.vmCpu(vm.name)),
      recovery: vmRecovery(lab, vm.name),
      ...((reboot) => reboot === null ? {} : { reboot })(lab.rebootOf(vm.name)),
    };
  });

  const count = directionCounter(lab);
  const direction = (ring: number, from: string, to: string): DirectionSnapshot => {
    const c = count(ring);
    return {
      from,
      to,
      impair: describeImpair(lab.links.ringImpairment(ring)),
      frames: c.frames,
      bytes: c.bytes,
      drops: c.drops,
      waits: c.waits,
      corrupted: c.corrupted,
      duplicated: c.duplicated,
      reordered: c.reordered,
      queued: c.queued,
    };
  };

  const snapshot: LabSnapshot = {
    takenAt: Date.now(),
    lab: {
      name: plan.name,
      seed: plan.seed,
      source: plan.source,
      startedAt: new Date(lab.startedAt).toISOString(),
      uptimeSeconds: lab.uptimeSeconds(),
      pid: Deno.pid,
    },
    vms,
    switches: plan.switches.map((sw) => {
      const counters = switchCounters(statsOf("switch", sw.name));
      return { name: sw.name, kind: switchKind(sw), ports: sw.ports.map((p) => p.link), counters };
    }),
    links: plan.links.map((l) => ({
      name: l.name,
      endpoints: [l.endpoints[0], l.endpoints[1]],
      kind: linkKind(plan.rings[l.forwardRing]),
      up: lab.linkUp(l.name),
      forward: direction(l.forwardRing, l.endpoints[0], l.endpoints[1]),
      reverse: direction(l.reverseRing, l.endpoints[1], l.endpoints[0]),
    })),
    events: lab.events.recent().slice(-SNAPSHOT_EVENTS),
  };
  const vp = vhostPciSnapshot(lab);
  if (vp.length > 0) snapshot.vhostPciLinks = vp;
  const partitions = lab.links.partitions();
  if (partitions.length > 0) snapshot.partitions = partitions;
  return snapshot;
}

/**
 * One device slot's snapshot, through its kind's description: the identity fields (MAC, address,
 * link) from the plan, then status, features, queues and counters.
 */
const deviceSnapshot = (lab: Lab) => (v: DeviceViews): DeviceSnapshot => {
  const { device, ctl, kind } = v;
  const regs = ctl.regs;
  const status = regs[RegFileWord.STATUS] & 0xff;
  const { mac, ip, link } = kind.identity?.(device, lab.plan) ?? NO_IDENTITY;
  return {
    nic: device.name,
    kind: kind.snapshotKind,
    mac,
    ip,
    link,
    ...(kind.detail ? { detail: kind.detail(device) } : {}),
    // The config space lives in the device worker; its link bit follows the supervisor's flips.
    linkUp: link !== null && lab.linkUp(link),
    status,
    statusNames: statusNames(status),
    features: negotiatedFeatureNames(regs, kind.featureNames),
    queues: device.queues.map((q, i) => queueSnapshot(v, i, q.name, queueLayout(regs, q.layout))),
    counters: readCounters(ctl.deviceCounters, kind.deviceCounters),
    driverCounters: readCounters(ctl.driverCounters, kind.driverCounters),
    ...(kind.connections ? { connections: kind.connections(ctl.deviceCounters) } : {}),
  };
};

function splitIndex(g: GuestReader, addr: number, areaBytes: number, at: number): number | null {
  return g.has(addr, areaBytes) ? g.u16(addr + at) : null;
}

function queueSnapshot(
  v: DeviceViews,
  q: number,
  name: string,
  layout: "split" | "packed",
): QueueSnapshot {
  const regs = v.ctl.regs;
  const st = v.ctl.queueState[q];
  const c = v.ctl.deviceCounters;
  const { requests, bytes, interrupts, suppressed } = v.kind.queueCounters[q];
  const size = regs[queueWord(q, QueueWord.SIZE)] >>> 0;
  const ready = regs[queueWord(q, QueueWord.READY)] !== 0;
  const packed = layout === "packed";
  let availIdx: number | null = null;
  let usedIdx: number | null = null;
  if (!packed && ready && size > 0) {
    const driver = queueAddr(regs, q, QueueWord.DRIVER_LO, QueueWord.DRIVER_HI);
    const device = queueAddr(regs, q, QueueWord.DEVICE_LO, QueueWord.DEVICE_HI);
    availIdx = splitIndex(v.guest, driver, 6 + 2 * size, SplitAvail.IDX);
    usedIdx = splitIndex(v.guest, device, 6 + 8 * size, SplitUsed.IDX);
  }
  const nextAvail = st[StateWord.NEXT_AVAIL];
  return {
    index: q,
    name,
    layout,
    size,
    ready,
    availIdx,
    usedIdx,
    deviceNextAvail: nextAvail,
    availWrapCounter: packed ? st[StateWord.AVAIL_WRAP] === 1 : null,
    deviceNextUsed: st[StateWord.USED_IDX],
    usedWrapCounter: packed ? st[StateWord.USED_WRAP] === 1 : null,
    inFlight: st[StateWord.IN_FLIGHT],
    pending: packed
      ? packedPending(v, q)
      : availIdx === null
      ? null
      : (availIdx - nextAvail) & 0xffff,
    requests: requests === null ? 0 : c[requests],
    bytes: bytes === null ? 0 : c[bytes],
    kicks: regs[queueWord(q, QueueWord.NOTIFY_COUNT)] >>> 0,
    interrupts: interrupts === null ? 0 : c[interrupts],
    suppressed: suppressed === null ? 0 : c[suppressed],
    ...((s) => s === null ? {} : { servedBy: s })(servedBy(v.device)),
  };
}

/**
 * What a link carries, by its forward ring's ends: vsock packets when either end is a vsock
 * device (a vsock link, or a VM's link to a vsock router), Ethernet frames otherwise.
 *
 * @example
 * ```ts ignore
 * linkKind(plan.rings[link.forwardRing]); // "vsock" for a-r1-vsock
 * ```
 */
export function linkKind(ring: RingPlan): "net" | "vsock" {
  return ring.producer.kind === "vsock" || ring.consumer.kind === "vsock" ? "vsock" : "net";
}

/**
 * An L2 switch or a vsock router: the plan lists both among its switches (a worker with ports),
 * a router with the CID of each port's VM.
 *
 * @example
 * ```ts ignore
 * switchKind(plan.switches[0]); // "vsock-router" for r1
 * ```
 */
export function switchKind(sw: SwitchPlan): "switch" | "vsock-router" {
  return sw.vsockCids === undefined ? "switch" : "vsock-router";
}

/**
 * The lab's memory now: its planned shared memory and its process's resident set. A lab runs in
 * one process (each worker a thread), so the resident set is the whole lab's.
 *
 * @example
 * ```ts ignore
 * import { labMemory } from "./snapshot.ts";
 * labMemory(lab).residentBytes; // 154_000_000 for a fresh pair
 * ```
 */
export function labMemory(lab: Lab): LabMemory {
  return { sharedBytes: lab.plan.sharedBytes, residentBytes: Deno.memoryUsage().rss };
}
