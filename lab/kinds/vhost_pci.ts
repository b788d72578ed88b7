/**
 * The vhost-pci kind as the lab sees it (main thread): on a link `kind: vhost-pci` the NIC of
 * VM `b` becomes a vhost-pci-net device slot (no queues of its own, the vhost-pci counters) whose
 * driver serves the queues of VM `a`'s NIC, and `a`'s NIC slot learns who serves it. Status,
 * snapshot and metrics name its counters. The guest half is `lab/guest/kinds/vhost_pci.ts` (the
 * data path), the host half `lab/host/kinds/vhost_pci.ts` (the device `b` probes); the model
 * pieces are `devices/vhost_pci/`.
 *
 * @module
 */

import { VHOST_PCI_COUNTER_COUNT, VhostPciCounter } from "../../devices/vhost_pci/config.ts";
import type { NetDeviceSpec, VhostPciDeviceSpec } from "../wire/specs.ts";
import { interfaceIdentity, type LabKind, NO_IDENTITY } from "./types.ts";

/** Driver counters of the vhost-pci-net device (none yet; one spare word). */
export const VHOST_PCI_DRIVER_COUNTER_COUNT = 1;

/**
 * The vhost-pci-net device slot that replaces `b`'s NIC `served` (same slot index, name, MAC and
 * address), serving `a`'s NIC `frontend`.
 *
 * @example
 * ```ts ignore
 * const dev = vhostPciDeviceSpec(bNic, aNic, { link: "a-b", vm: "a", nic: "eth0",
 *   guestThread: 0, deviceThread: 1, iommu: null });
 * dev.kind; // "vhost-pci"
 * ```
 */
export function vhostPciDeviceSpec(
  served: NetDeviceSpec,
  frontend: NetDeviceSpec,
  at: {
    link: string;
    vm: string;
    guestThread: number;
    deviceThread: number;
    iommu: { endpoint: number; consumer: number } | null;
  },
): VhostPciDeviceSpec {
  return {
    kind: "vhost-pci",
    name: served.name,
    index: served.index,
    queues: [],
    deviceCounters: VHOST_PCI_COUNTER_COUNT,
    driverCounters: VHOST_PCI_DRIVER_COUNTER_COUNT,
    link: at.link,
    mac: served.mac,
    ip: served.ip,
    prefix: served.prefix,
    mtu: frontend.mtu,
    frontend: {
      vm: at.vm,
      nic: frontend.name,
      mac: frontend.mac,
      device: frontend.index,
      guestThread: at.guestThread,
      deviceThread: at.deviceThread,
      queueSize: frontend.queueSize,
      iommu: at.iommu,
    },
    txRing: -1,
    rxRing: -1,
  };
}

/** The vhost-pci kind's lab-side description. */
export const VHOST_PCI_KIND: LabKind = {
  kind: "vhost-pci",
  snapshotKind: "vhost-pci-net",
  identity: (d) => d.kind === "vhost-pci" ? interfaceIdentity(d, d.link) : NO_IDENTITY,
  detail: (d) =>
    d.kind === "vhost-pci" ? `serves ${d.frontend.vm}:${d.frontend.nic} over ${d.link}` : "",
  // b's stack sends into a's receiveq and is given what b pops from a's transmitq.
  interfaceFrames: { tx: VhostPciCounter.framesOut, rx: VhostPciCounter.framesIn },
  featureNames: Object.freeze({}),
  deviceCounters: VhostPciCounter,
  driverCounters: Object.freeze({}),
  gauges: new Set(["state", "connection", "lastFaultAddr", "lastFaultAccess"]),
  queueCounters: [],
};
