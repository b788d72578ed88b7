/**
 * The registry of device kinds in the device worker: the host slice of each kind, by the plan's
 * kind tag. The worker starts every registered kind (with the VM's devices of that kind, maybe
 * none) in this order.
 *
 * @module
 */

import { NET_HOST_KIND } from "./net.ts";
import { VSOCK_HOST_KIND } from "./vsock.ts";
import { IOMMU_HOST_KIND } from "./iommu.ts";
import { VHOST_PCI_HOST_KIND } from "./vhost_pci.ts";
import type { HostKind } from "./types.ts";

export type { HostContext, HostKind, HostKindInstance } from "./types.ts";

/** Every kind's host slice, by kind tag. */
export const HOST_KINDS: ReadonlyMap<string, HostKind> = new Map([
  // First: it owns the vIOMMU and registers the IOTLB consumers the net kind uses.
  [IOMMU_HOST_KIND.kind, IOMMU_HOST_KIND],
  [NET_HOST_KIND.kind, NET_HOST_KIND],
  [VSOCK_HOST_KIND.kind, VSOCK_HOST_KIND],
  [VHOST_PCI_HOST_KIND.kind, VHOST_PCI_HOST_KIND],
]);
