/**
 * The planner's part for a vhost-pci link (`plan.ts` calls it for each link of
 * `kind: vhost-pci`): VM `b`'s NIC slot becomes a vhost-pci-net device serving VM `a`'s NIC, `a`'s
 * NIC learns who serves it (its kicks ring `b`'s guest worker), and, when `a`'s NIC is behind
 * `a`'s vIOMMU, `b` gets an IOTLB consumer slot in it (registered by `a`'s iommu device after
 * the endpoints', rung when an invalidation waits for `b`). `b`'s control block is laid out
 * again: the slot has no queues of its own.
 *
 * @module
 */

import type { LinkSpec } from "./topology/types.ts";
import { controlLayout } from "./wire/control.ts";
import type { IommuDeviceSpec, NetDeviceSpec } from "./wire/specs.ts";
import { vhostPciDeviceSpec } from "./kinds/vhost_pci.ts";
import type { VhostPciLinkPlan, VmPlan } from "./plan_types.ts";

/**
 * Plan one vhost-pci link (the topology checked it: two NICs of two VMs, each on this link only).
 *
 * @example
 * ```ts ignore
 * planVhostPciLink(link, vmByName).peer.device; // "eth0"
 * ```
 */
export function planVhostPciLink(
  link: LinkSpec,
  vmByName: ReadonlyMap<string, VmPlan>,
): VhostPciLinkPlan {
  const [ea, eb] = link.endpoints;
  if (ea.kind !== "nic" || eb.kind !== "nic") {
    throw new Error(`Vhost-pci link ${link.name} does not join two NICs`);
  }
  const a = vmByName.get(ea.vm)!;
  const b = vmByName.get(eb.vm)!;
  const aNic = a.nics.find((n) => n.name === ea.nic)!;
  const bNic = b.nics.find((n) => n.name === eb.nic)!;
  aNic.link = link.name;
  const aDev = a.devices[aNic.index] as NetDeviceSpec;
  const bDev = b.devices[bNic.index] as NetDeviceSpec;
  // a's NIC offers what its topology says, checksum offload included: b's stack trusts a partial
  // checksum a leaves (as a receiving NIC with GUEST_CSUM does) and leaves its own partial for
  // the device model that writes a's RX buffers, which completes it unless a takes it as it is.
  aDev.vhostPci = {
    link: link.name,
    peerVm: b.name,
    peerThread: b.guestThread,
    peerDevice: bDev.name,
  };
  let iommu: { endpoint: number; consumer: number } | null = null;
  if (aDev.iommu !== null) {
    const v = a.devices.find((d): d is IommuDeviceSpec => d.kind === "iommu")!;
    v.peers ??= [];
    v.peers.push({
      name: `${b.name}:${bDev.name}`,
      endpoint: aDev.iommu.endpoint,
      thread: b.guestThread,
    });
    iommu = { endpoint: aDev.iommu.endpoint, consumer: v.endpoints.length + v.peers.length - 1 };
  }
  b.devices[bNic.index] = vhostPciDeviceSpec(bDev, aDev, {
    link: link.name,
    vm: a.name,
    guestThread: a.guestThread,
    deviceThread: a.deviceThread,
    iommu,
  });
  // b's NIC is a vhost-pci-net device now: it leaves the NIC list (status shows it as a device).
  b.nics = b.nics.filter((n) => n !== bNic);
  b.control = controlLayout(b.devices);
  b.controlBytes = b.control.bytes;
  return {
    name: link.name,
    frontend: { vm: a.name, nic: aNic.name, device: aNic.index },
    peer: { vm: b.name, device: bDev.name, slot: bNic.index },
    iommu: iommu !== null,
  };
}

/**
 * What of the frontend VM's memory a vhost-pci link's peer reaches, as `vlab status`, the
 * dashboard and `--dry-run` say it: the window of the frontend NIC's endpoint in its vIOMMU
 * (`vIOMMU static (endpoint 0)`), or all of the frontend's memory, with no vIOMMU in front of the
 * NIC or with one in `passthrough`, whose bypass translates nothing
 * (`all of a's memory (vIOMMU passthrough, endpoint 0)`).
 *
 * @example
 * ```ts ignore
 * vhostPciWindow(plan.vhostPciLinks[0], plan.vms); // "vIOMMU static (endpoint 0)"
 * ```
 */
export function vhostPciWindow(link: VhostPciLinkPlan, vms: readonly VmPlan[]): string {
  const a = vms.find((v) => v.name === link.frontend.vm);
  const iommu = a?.devices.find((d): d is IommuDeviceSpec => d.kind === "iommu");
  const all = `all of ${link.frontend.vm}'s memory`;
  if (!link.iommu || !iommu) return all;
  const endpoint = `endpoint ${link.frontend.device}`;
  return iommu.mode === "passthrough"
    ? `${all} (vIOMMU passthrough, ${endpoint})`
    : `vIOMMU ${iommu.mode} (${endpoint})`;
}
