/**
 * What both workers and the main thread share about a VM's vIOMMU: the guest driver's counter
 * words in the control block, and the capacities the tables' buffer (`VmStart.iommu`) is sized
 * for.
 *
 * @module
 */

import type { ViommuCapacity } from "../../devices/iommu/mod.ts";
import type { IommuDeviceSpec } from "./specs.ts";

/** The guest driver's counter words (see `IommuDriverCounter`). */
export const IOMMU_DRIVER_COUNTER_COUNT = 8;
/** The guest driver's counters of the virtio-iommu device. */
export const IommuDriverCounter = {
  /** Requests completed with S_OK. */
  completedOk: 0,
  /** Requests the device refused. */
  refused: 1,
  /** Fault reports read from the eventq. */
  faultReports: 2,
  /** IOVA of the last fault report (-1: none yet). */
  lastFaultIova: 3,
  /** Access of the last fault report: 1 read, 2 write, 0 none. */
  lastFaultAccess: 4,
  /** Endpoint of the last fault report. */
  lastFaultEndpoint: 5,
} as const;

/**
 * The capacities of a vIOMMU device's tables (what `VmStart.iommu` is sized for).
 *
 * @example
 * ```ts
 * import { iommuCapacity } from "./iommu.ts";
 * iommuCapacity({ mappings: 64, endpoints: [] } as never).consumers; // 1
 * ```
 */
export function iommuCapacity(spec: IommuDeviceSpec): ViommuCapacity {
  // One consumer per endpoint (its device worker), then one per vhost-pci peer.
  const consumers = Math.max(1, spec.endpoints.length + (spec.peers?.length ?? 0));
  // Endpoint IDs are slot indexes: room up to the highest one.
  const endpoints = Math.max(1, ...spec.endpoints.map((e) => e.endpoint + 1));
  return { mappings: spec.mappings, endpoints, consumers, faults: 64 };
}
