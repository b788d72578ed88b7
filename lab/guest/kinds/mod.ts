/**
 * The registry of device kinds in the guest worker: how to load the guest slice of each kind, by
 * the plan's kind tag. A worker loads (dynamic `import()`) only the kinds its VM's devices use
 * (and `net`, whose stack every VM has), so a lab without vsock or a vIOMMU never compiles their
 * code in its 64 guest workers (docs/performance.md, "A 64-VM lab up"), and starts them in this
 * order.
 *
 * @module
 */

import type { GuestKind } from "./types.ts";
import { loadKinds } from "../../wire/kind_loader.ts";

export type {
  GuestContext,
  GuestIommu,
  GuestKind,
  GuestKindInstance,
  GuestServices,
  VsockService,
} from "./types.ts";

/** Every kind's guest slice, by kind tag, as a loader, in start order. */
export const GUEST_KINDS: ReadonlyMap<string, () => Promise<GuestKind>> = new Map([
  // First: it sets ctx.iommu, which NICs behind the vIOMMU use before their drivers start.
  ["iommu", async () => (await import("./iommu.ts")).IOMMU_GUEST_KIND],
  ["net", async () => (await import("./net.ts")).NET_GUEST_KIND],
  ["vsock", async () => (await import("./vsock.ts")).VSOCK_GUEST_KIND],
  // After net: it adds its interfaces to the net kind's stack.
  ["vhost-pci", async () => (await import("./vhost_pci.ts")).VHOST_PCI_GUEST_KIND],
]);

/**
 * Load the guest slices of `kinds` (kind tags; unknown ones are an error), in parallel, and
 * return them in start order. Loading a kind twice costs nothing (modules load once).
 *
 * @example
 * ```ts ignore
 * import { loadGuestKinds } from "./mod.ts";
 * const [net] = await loadGuestKinds(["net"]);
 * ```
 */
export function loadGuestKinds(kinds: Iterable<string>): Promise<GuestKind[]> {
  return loadKinds(GUEST_KINDS, kinds);
}
