/**
 * The registry of device kinds on the main thread: one entry per kind, looked up by the plan's
 * `kind` tag. Adding a kind adds its file beside `net.ts` and one line here (and one in
 * `lab/guest/kinds/mod.ts` and `lab/host/kinds/mod.ts`).
 *
 * @module
 */

import { NET_KIND } from "./net.ts";
import { VSOCK_KIND } from "./vsock.ts";
import { IOMMU_KIND } from "./iommu.ts";
import { VHOST_PCI_KIND } from "./vhost_pci.ts";
import type { LabKind } from "./types.ts";

export type { LabKind, QueueCounterIndices } from "./types.ts";
export {
  IOMMU_DEVICE_NAME,
  IOMMU_KIND,
  iommuCapacity,
  iommuDeviceSpec,
  IommuDriverCounter,
} from "./iommu.ts";
export { VHOST_PCI_KIND, vhostPciDeviceSpec } from "./vhost_pci.ts";
export { NET_DRIVER_COUNTER_SLOTS, NET_KIND, NET_QUEUE_NAMES, netDeviceSpec } from "./net.ts";
export {
  labVsockCids,
  VSOCK_DEVICE_NAME,
  VSOCK_KIND,
  VSOCK_QUEUE_NAMES,
  VSOCK_QUEUE_SIZE,
  vsockDeviceSpec,
} from "./vsock.ts";

/** Every device kind of the lab, by kind tag. */
export const LAB_KINDS: ReadonlyMap<string, LabKind> = new Map([
  [NET_KIND.kind, NET_KIND],
  [VSOCK_KIND.kind, VSOCK_KIND],
  [IOMMU_KIND.kind, IOMMU_KIND],
  [VHOST_PCI_KIND.kind, VHOST_PCI_KIND],
]);

/**
 * The description of a kind (a programmer error if the plan names an unknown one).
 *
 * @example
 * ```ts
 * import { labKind } from "./mod.ts";
 * labKind("net").snapshotKind; // "virtio-net"
 * ```
 */
export function labKind(kind: string): LabKind {
  const k = LAB_KINDS.get(kind);
  if (!k) throw new Error(`Unknown device kind ${JSON.stringify(kind)}`);
  return k;
}
