/**
 * The virtio-net kind as the lab sees it (main thread): how a topology NIC becomes a device slot
 * of its VM (the plan fragment, every value parsed once), what its slot in the control block
 * holds (two queues, the net counters), and how status, snapshot and metrics name its queues
 * and counters. The guest half is `lab/guest/kinds/net.ts`, the host half
 * `lab/host/kinds/net.ts`; the model and driver are `devices/net/`.
 *
 * @module
 */

import { NET_FEATURE_NAMES, NET_QUEUE_NAMES as NAMES } from "../../devices/net/config.ts";
import { NET_COUNTER_COUNT, NetCounter, NetDriverCounter } from "../../devices/net/metrics.ts";
import { parseCidr } from "../topology/addresses.ts";
import type { NicSpec } from "../topology/types.ts";
import type { NetDeviceSpec } from "../wire/specs.ts";
import { interfaceIdentity, type LabKind, NO_IDENTITY, ringLink } from "./types.ts";

/** Queue names of a virtio-net device, by queue index (virtio 1.2 §5.1.2). */
export const NET_QUEUE_NAMES: readonly string[] = NAMES;

/** Float64 slots of the guest driver's counters of one NIC (room to grow past the 9 in use). */
export const NET_DRIVER_COUNTER_SLOTS = 32;

/**
 * The device slot of a topology NIC: its queues, counter counts and parsed addresses. The rings
 * are filled in by the planner when it meets the NIC's link.
 *
 * @example
 * ```ts
 * import { netDeviceSpec } from "./net.ts";
 * const nic = {
 *   name: "eth0", mac: "02:00:00:00:00:01", ip: "10.0.0.1", prefix: 24, queueSize: 256,
 *   layout: "split", mtu: 1500, iommu: false,
 *   features: { eventIdx: true, indirect: true, mrgRxbuf: true, inOrder: false, csum: true },
 * } as const;
 * netDeviceSpec({ ...nic, features: { ...nic.features } }, 0).ip; // 167772161
 * ```
 */
export function netDeviceSpec(nic: NicSpec, index: number): NetDeviceSpec {
  const cidr = nic.ip === null ? null : parseCidr(`${nic.ip}/${nic.prefix}`);
  if (cidr !== null && !cidr.ok) {
    throw new Error(`NIC ${nic.name} has an address the topology should have refused: ${nic.ip}`);
  }
  return {
    kind: "net",
    name: nic.name,
    index,
    queues: NET_QUEUE_NAMES.map((name) => ({ name, layout: nic.layout, size: nic.queueSize })),
    deviceCounters: NET_COUNTER_COUNT,
    driverCounters: NET_DRIVER_COUNTER_SLOTS,
    mac: nic.mac.split(":").map((h) => parseInt(h, 16)),
    ip: cidr === null ? null : cidr.value.address,
    prefix: nic.prefix,
    mtu: nic.mtu,
    ...(nic.txTimeoutMs === undefined ? {} : { txTimeoutMs: nic.txTimeoutMs }),
    layout: nic.layout,
    queueSize: nic.queueSize,
    features: { ...nic.features },
    txRing: -1,
    rxRing: -1,
    iommu: null,
  };
}

/** The net kind's lab-side description. */
export const NET_KIND: LabKind = {
  kind: "net",
  snapshotKind: "virtio-net",
  // A vhost-pci frontend has no ring: its link is the vhost-pci link.
  identity: (d, plan) =>
    d.kind === "net"
      ? interfaceIdentity(d, d.vhostPci?.link ?? ringLink(plan, d.txRing))
      : NO_IDENTITY,
  featureNames: NET_FEATURE_NAMES,
  deviceCounters: NetCounter,
  driverCounters: NetDriverCounter,
  queueCounters: [
    {
      requests: NetCounter.rxChainsPopped,
      bytes: NetCounter.rxBytes,
      interrupts: NetCounter.rxInterrupts,
      suppressed: NetCounter.rxInterruptsSuppressed,
    },
    {
      requests: NetCounter.txChainsPopped,
      bytes: NetCounter.txBytes,
      interrupts: NetCounter.txInterrupts,
      suppressed: NetCounter.txInterruptsSuppressed,
    },
  ],
};
