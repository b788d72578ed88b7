/**
 * `iommu-unmap NIC`: the guest takes back the DMA window of one of its NICs behind the vIOMMU
 * (static: UNMAP of the pool's mapping; strict, lazy and passthrough: DETACH of the endpoint), as
 * a driver does when it frees a device's buffers, or as a drill of a revocation while traffic
 * flows. The request completes only after the NIC's device worker dropped the translation from
 * its IOTLB, so nothing reaches the window after this returns: the NIC's next access is refused,
 * counted, reported to the guest as a fault, and the NIC stops (device error). The result gives
 * the request-to-flushed latency, and its text names the request.
 *
 * @module
 */

import type { IommuWorkloadService, WorkloadError } from "./options.ts";

/** The result of `iommu-unmap`. */
export interface IommuUnmapResult {
  /** Discriminant. */
  kind: "iommu-unmap";
  /** The NIC whose window was revoked. */
  device: string;
  /** From the request to its completion (every IOTLB flushed), in ms. */
  flushedMs: number;
  /** What `vlab exec` prints. */
  text: string;
}

/**
 * Run `iommu-unmap`.
 *
 * @example
 * ```ts
 * import { runIommuUnmap } from "./iommu.ts";
 * const svc = { revoke: () => Promise.resolve({ ok: true as const, ms: 0.2 }) };
 * await runIommuUnmap(svc, { kind: "iommu-unmap", device: "eth0" }); // { kind: "iommu-unmap", … }
 * ```
 */
export async function runIommuUnmap(
  svc: IommuWorkloadService | undefined,
  req: { kind: "iommu-unmap"; device: string },
): Promise<IommuUnmapResult | WorkloadError> {
  if (!svc) {
    return {
      kind: "error",
      message: "Cannot run iommu-unmap: this VM has no vIOMMU",
      // The VM may be `b` of a vhost-pci link, whose NIC must not take `iommu`: the window it
      // serves through is its frontend's, revoked in the frontend's VM.
      hint:
        "Add iommu: { mode: static } to the VM and iommu: true to its NIC; a vhost-pci link's window is the frontend's: run it in the VM of the link's first endpoint",
    };
  }
  const r = await svc.revoke(req.device);
  if (!r.ok) {
    return {
      kind: "error",
      message: r.message,
      hint: r.hint ??
        "Name a NIC of this VM with iommu: true; a revoked window is mapped again by the NIC's reset (event device-reset)",
    };
  }
  return {
    kind: "iommu-unmap",
    device: req.device,
    flushedMs: r.ms,
    text: `iommu-unmap ${req.device}: DMA window revoked, every IOTLB flushed ${
      r.ms.toFixed(3)
    } ms after the ${r.request ?? "UNMAP"}; the NIC's next access faults`,
  };
}
