/**
 * The registry of device kinds in the guest worker: the guest slice of each kind, by the plan's
 * kind tag. The worker starts every registered kind (with the VM's devices of that kind, maybe
 * none) in this order.
 *
 * @module
 */

import { NET_GUEST_KIND } from "./net.ts";
import { VSOCK_GUEST_KIND } from "./vsock.ts";
import { IOMMU_GUEST_KIND } from "./iommu.ts";
import { VHOST_PCI_GUEST_KIND } from "./vhost_pci.ts";
import type { GuestKind } from "./types.ts";

export type {
  GuestContext,
  GuestIommu,
  GuestKind,
  GuestKindInstance,
  GuestServices,
  VsockService,
} from "./types.ts";

/** Every kind's guest slice, by kind tag. */
export const GUEST_KINDS: ReadonlyMap<string, GuestKind> = new Map([
  // First: it sets ctx.iommu, which NICs behind the vIOMMU use before their drivers start.
  [IOMMU_GUEST_KIND.kind, IOMMU_GUEST_KIND],
  [NET_GUEST_KIND.kind, NET_GUEST_KIND],
  [VSOCK_GUEST_KIND.kind, VSOCK_GUEST_KIND],
  // After net: it adds its interfaces to the net kind's stack.
  [VHOST_PCI_GUEST_KIND.kind, VHOST_PCI_GUEST_KIND],
]);
