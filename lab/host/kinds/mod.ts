/**
 * The registry of device kinds in the device worker: how to load the host slice of each kind, by
 * the plan's kind tag. A worker loads (dynamic `import()`) only the kinds its VM's devices use,
 * so a lab without vsock never compiles its code in its 64 device workers (docs/performance.md,
 * "A 64-VM lab up"), and starts them in this order. A warm standby worker loads the kinds of the
 * lab's plan ahead (`preload`), so that taking over a VM's devices pays no import.
 *
 * @module
 */

import type { HostKind } from "./types.ts";
import { loadKinds } from "../../wire/kind_loader.ts";

export type { HostContext, HostKind, HostKindInstance } from "./types.ts";

/** Every kind's host slice, by kind tag, as a loader, in start order. */
export const HOST_KINDS: ReadonlyMap<string, () => Promise<HostKind>> = new Map([
  // First: it owns the vIOMMU and registers the IOTLB consumers the net kind uses.
  ["iommu", async () => (await import("./iommu.ts")).IOMMU_HOST_KIND],
  ["net", async () => (await import("./net.ts")).NET_HOST_KIND],
  ["vsock", async () => (await import("./vsock.ts")).VSOCK_HOST_KIND],
  ["vhost-pci", async () => (await import("./vhost_pci.ts")).VHOST_PCI_HOST_KIND],
]);

/**
 * Load the host slices of `kinds` (kind tags; unknown ones are an error), in parallel, and
 * return them in start order. Loading a kind twice costs nothing (modules load once).
 *
 * @example
 * ```ts ignore
 * import { loadHostKinds } from "./mod.ts";
 * const [net] = await loadHostKinds(["net"]);
 * ```
 */
export function loadHostKinds(kinds: Iterable<string>): Promise<HostKind[]> {
  return loadKinds(HOST_KINDS, kinds);
}
