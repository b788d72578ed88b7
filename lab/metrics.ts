/**
 * Reading a running lab: the status snapshot (`vlab status`, `GET /lab`), and (re-exported from
 * `prometheus.ts`) every counter in Prometheus text format (`GET /metrics`). Both read shared
 * memory directly: the register file and counters of each NIC in its VM's control block, the link
 * rings' own counters and the statistics regions the workers publish.
 *
 * @module
 */

import { vhostPciSnapshot } from "./vhost_pci_view.ts";
import type { LabMemory, VhostPciLinkSnapshot, VmReboot, VmRecovery } from "./snapshot_types.ts";
import { type IommuSnapshot, iommuSnapshot } from "./iommu_view.ts";
import { NetCounter, NetDriverCounter, readCounters } from "../devices/net/metrics.ts";
import type { VsockConnTable } from "../devices/vsock/conn_table.ts";
import type { Lab, VmState } from "./lab.ts";
import { RegFileWord } from "../devices/virtio/mmio.ts";
import type { PartitionInfo } from "./partition.ts";
import { describeImpair } from "./plan.ts";
import {
  directionCounter,
  type DirectionCounts,
  guestStackDrops,
  switchCounters,
} from "./link_counts.ts";
import {
  labMemory,
  linkKind,
  negotiatedFeatureNames,
  statusNames,
  switchKind,
  vmRecovery,
} from "./snapshot.ts";
import { deviceControl } from "./wire/control.ts";
import { labKind } from "./kinds/mod.ts";
import { type DeviceIdentity, NO_IDENTITY } from "./kinds/types.ts";

export { prometheusMetrics } from "./prometheus.ts";

/** One NIC in a status snapshot. */
export interface NicStatus {
  /** NIC name. */
  name: string;
  /**
   * Its device slot in the VM: the order of the VM's devices, its NICs as the topology lists them
   * (a vhost-pci-net device among them, in `devices`), then vsock and the vIOMMU. Absent in
   * statuses of labs older than this field.
   */
  slot?: number;
  /** MAC address. */
  mac: string;
  /** "10.0.0.1/24", or null. */
  ip: string | null;
  /** Ring layout. */
  layout: string;
  /** Queue size. */
  queueSize: number;
  /** The link, or null. */
  link: string | null;
  /** The device status byte. */
  status: number;
  /** The status bits set, by name (ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, …). */
  statusNames: string[];
  /** The negotiated features, by spec name (VERSION_1, RING_PACKED, MRG_RXBUF, …). */
  features: string[];
  /** Device counters. */
  device: Record<keyof typeof NetCounter, number>;
  /** Driver counters. */
  driver: Record<keyof typeof NetDriverCounter, number>;
}

/** A device that is not a NIC (read through its kind's description). */
export interface OtherDeviceStatus {
  /** Device name (`vsock0`). */
  name: string;
  /** Its device slot in the VM (see {@linkcode NicStatus.slot}); absent in older statuses. */
  slot?: number;
  /** Kind, as in snapshots (`virtio-vsock`). */
  kind: string;
  /** What identifies it (`cid 3`). */
  detail: string;
  /**
   * Its interface's address with prefix, if it gives its guest's stack an interface (a
   * vhost-pci-net device: `10.0.0.2/24`).
   */
  ip?: string;
  /** Its interface's MAC address (a vhost-pci-net device). */
  mac?: string;
  /** The link it is on (a vsock device's vsock link, a vhost-pci-net device's vhost-pci link). */
  link?: string;
  /** Frames its guest's stack sent through its interface (a vhost-pci-net device). */
  txFrames?: number;
  /** Frames its interface delivered to its guest's stack (a vhost-pci-net device). */
  rxFrames?: number;
  /** The device status byte. */
  status: number;
  /** The status bits set, by name. */
  statusNames: string[];
  /** The negotiated features, by spec name. */
  features: string[];
  /** Device counters, by the kind's names. */
  device: Record<string, number>;
  /** Driver counters, by the kind's names. */
  driver: Record<string, number>;
  /** A vsock device's open connections, the busiest first (the dashboard's Links panel's). */
  connections?: VsockConnTable;
}

/** A VM's device in a {@linkcode LabStatus}: a NIC, or another device. */
export type VmDeviceStatus =
  | { kind: "nic"; nic: NicStatus }
  | { kind: "other"; device: OtherDeviceStatus };

/**
 * A VM's NICs and other devices of a {@linkcode LabStatus} in one list, in slot order: the
 * topology's order of its NICs, a vhost-pci-net device in its NIC's place (it is listed among
 * the other devices, so a list of the NICs then the devices put it last). A status older than
 * `slot` keeps NICs then devices.
 *
 * @example
 * ```ts ignore
 * vmDevicesInOrder(status.vms[1]).map((d) => d.kind === "nic" ? d.nic.name : d.device.name);
 * // ["eth0", "eth1"] where eth0 is a vhost-pci-net device
 * ```
 */
export function vmDevicesInOrder(
  vm: { nics: readonly NicStatus[]; devices?: readonly OtherDeviceStatus[] },
): VmDeviceStatus[] {
  const all: VmDeviceStatus[] = [
    ...vm.nics.map((nic) => ({ kind: "nic" as const, nic })),
    ...(vm.devices ?? []).map((device) => ({ kind: "other" as const, device })),
  ];
  const slot = (d: VmDeviceStatus, i: number) =>
    (d.kind === "nic" ? d.nic.slot : d.device.slot) ?? Number.MAX_SAFE_INTEGER - all.length + i;
  return all.map((d, i) => ({ d, key: slot(d, i) })).sort((x, y) => x.key - y.key).map((x) => x.d);
}

/** A status snapshot of a running lab. */
export interface LabStatus {
  /** Lab name. */
  name: string;
  /** Topology source. */
  source: string;
  /** Seed. */
  seed: number;
  /** Start time, ISO 8601. */
  startedAt: string;
  /** Seconds since start. */
  uptimeSeconds: number;
  /** The main process. */
  pid: number;
  /**
   * True once the lab was asked to stop (`vlab down`, a signal, a script's `stop()`): it is going,
   * whatever its VMs' states still say. Absent from labs older than this field.
   */
  stopping?: boolean;
  /** What the lab's memory is; absent in statuses of labs older than this field. */
  memory?: LabMemory;
  /** VMs. */
  vms: {
    name: string;
    state: VmState;
    nics: NicStatus[];
    /** Its other devices (vsock), in slot order; absent in statuses older than this field. */
    devices?: OtherDeviceStatus[];
    /** Frames and datagrams the guest stack dropped, by cause (camelCase). */
    guestDrops: Record<string, number>;
    /** Its vIOMMU per endpoint, on a VM that has one. */
    iommu?: IommuSnapshot;
    /** The CPU its guest and device workers are placed on; absent while not placed. */
    cpu?: number;
    /** How often recovery ran on it (backend restarts, device resets); absent from older labs. */
    recovery?: VmRecovery;
    /**
     * Where its reboot after `vm-crash` is (its devices powering on, its guest's boot time, its
     * guest starting), while it reboots; absent otherwise.
     */
    reboot?: VmReboot;
    /**
     * Why it is `failed`: the worker that failed, its message, and its hint when it gave one (a
     * guest driver that could not start its device). Absent while none failed.
     */
    failure?: { worker: "guest" | "device"; message: string; hint?: string };
  }[];
  /** Switches. */
  switches: {
    name: string;
    /** An L2 switch or a vsock router (absent from older labs: a switch). */
    kind?: "switch" | "vsock-router";
    ports: string[];
    /** Its counters (forwarded, flooded, learned, filtered, runts, …). */
    counters: Record<string, number>;
  }[];
  /** Links. */
  links: {
    name: string;
    endpoints: [string, string];
    /** Ethernet frames or vsock packets (absent from older labs: `net`). */
    kind?: "net" | "vsock";
    up: boolean;
    forward: LinkDirectionStatus;
    reverse: LinkDirectionStatus;
  }[];
  /** The partitions in force (`vlab partition`), oldest first. */
  partitions: PartitionInfo[];
  /** vhost-pci links (no rings: `b` serves `a`'s queues), when the lab has any. */
  vhostPciLinks?: VhostPciLinkSnapshot[];
}

/** One direction of a link in a status snapshot. */
export interface LinkDirectionStatus extends DirectionCounts {
  /** netem-style description of the impairment in force. */
  impair: string;
}

/**
 * Take a status snapshot.
 *
 * @example
 * ```ts ignore
 * import { labStatus } from "./metrics.ts";
 * console.log(labStatus(lab).vms.map((v) => `${v.name} ${v.state}`));
 * ```
 */
export function labStatus(lab: Lab): LabStatus {
  const plan = lab.plan;
  const workers = lab.workerStats();
  const statsOf = (kind: string, owner: string): Record<string, number> =>
    workers.find((w) => w.kind === kind && w.owner === owner)?.stats ?? {};
  const count = directionCounter(lab);
  const ringInfo = (i: number): LinkDirectionStatus => ({
    impair: describeImpair(lab.links.ringImpairment(i)),
    ...count(i),
  });
  return {
    name: plan.name,
    source: plan.source,
    seed: plan.seed,
    startedAt: new Date(lab.startedAt).toISOString(),
    uptimeSeconds: lab.uptimeSeconds(),
    pid: Deno.pid,
    stopping: lab.stopped,
    memory: labMemory(lab),
    vms: plan.vms.map((vm) => {
      return {
        name: vm.name,
        state: lab.vmState(vm.name),
        nics: vm.nics.map((nic) => {
          const ctl = deviceControl(lab.controlOf(vm.index), vm.control.devices[nic.index]);
          const status = ctl.regs[RegFileWord.STATUS] & 0xff;
          return {
            name: nic.name,
            slot: nic.index,
            mac: nic.mac,
            ip: nic.ip === null ? null : `${nic.ip}/${nic.prefix}`,
            layout: nic.layout,
            queueSize: nic.queueSize,
            link: nic.link,
            status,
            statusNames: statusNames(status),
            features: negotiatedFeatureNames(ctl.regs),
            device: readCounters(ctl.deviceCounters, NetCounter),
            driver: readCounters(ctl.driverCounters, NetDriverCounter),
          };
        }),
        devices: vm.devices.filter((d) => d.kind !== "net").map((d) => {
          const kind = labKind(d.kind);
          const ctl = deviceControl(lab.controlOf(vm.index), vm.control.devices[d.index]);
          const status = ctl.regs[RegFileWord.STATUS] & 0xff;
          const device = readCounters(ctl.deviceCounters, kind.deviceCounters);
          return {
            name: d.name,
            slot: d.index,
            kind: kind.snapshotKind,
            // The kind's own words, as the snapshot (the dashboard) has them.
            detail: kind.detail?.(d) ?? "",
            ...identityFields(kind.identity?.(d, plan) ?? NO_IDENTITY),
            ...(kind.interfaceFrames
              ? {
                txFrames: ctl.deviceCounters[kind.interfaceFrames.tx],
                rxFrames: ctl.deviceCounters[kind.interfaceFrames.rx],
              }
              : {}),
            status,
            statusNames: statusNames(status),
            features: negotiatedFeatureNames(ctl.regs, kind.featureNames),
            device,
            driver: readCounters(ctl.driverCounters, kind.driverCounters),
            ...(kind.connections ? { connections: kind.connections(ctl.deviceCounters) } : {}),
          };
        }),
        guestDrops: guestStackDrops(statsOf("guest", vm.name)),
        ...((iommu) => iommu ? { iommu } : {})(iommuSnapshot(lab, vm.index)),
        ...((cpu) => cpu === null ? {} : { cpu })(lab.vmCpu(vm.name)),
        recovery: vmRecovery(lab, vm.name),
        ...((reboot) => reboot === null ? {} : { reboot })(lab.rebootOf(vm.name)),
        ...((failure) => failure === null ? {} : { failure })(lab.vmFailure(vm.name)),
      };
    }),
    switches: plan.switches.map((s) => ({
      name: s.name,
      kind: switchKind(s),
      ports: s.ports.map((p) => p.link),
      counters: switchCounters(statsOf("switch", s.name)),
    })),
    links: plan.links.map((l) => ({
      name: l.name,
      endpoints: l.endpoints,
      kind: linkKind(plan.rings[l.forwardRing]),
      up: lab.linkUp(l.name),
      forward: ringInfo(l.forwardRing),
      reverse: ringInfo(l.reverseRing),
    })),
    partitions: lab.links.partitions(),
    ...((vp) => vp.length > 0 ? { vhostPciLinks: vp } : {})(vhostPciSnapshot(lab)),
  };
}

/** The identity fields a device's status carries: those it has. */
function identityFields(id: DeviceIdentity): { mac?: string; ip?: string; link?: string } {
  return {
    ...(id.mac !== null ? { mac: id.mac } : {}),
    ...(id.ip !== null ? { ip: id.ip } : {}),
    ...(id.link !== null ? { link: id.link } : {}),
  };
}
