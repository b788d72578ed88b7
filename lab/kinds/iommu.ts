/**
 * The virtio-iommu kind as the lab sees it (main thread): a VM's `iommu: { mode }` becomes a
 * device slot (requestq and eventq, the IOMMU device counters) whose endpoints are the VM's NICs
 * with `iommu: true` (endpoint ID = the NIC's slot index, IOTLB consumer slot = its position in
 * the list). The vIOMMU's tables live in their own shared buffer (`VmStart.iommu`), sized by
 * `iommuCapacity`. The guest half is `lab/guest/kinds/iommu.ts`, the host half
 * `lab/host/kinds/iommu.ts`; the model and driver are `devices/iommu/`.
 *
 * @module
 */

import {
  IOMMU_COUNTER_COUNT,
  IOMMU_EVENT_QUEUE_SIZE,
  IOMMU_REQUEST_QUEUE_SIZE,
  IommuCounter,
  IommuFeature,
} from "../../devices/iommu/mod.ts";
import type { IommuSpec } from "../topology/types.ts";
import type { DeviceSpec, IommuDeviceSpec, NetDeviceSpec } from "../wire/specs.ts";
import type { LabKind } from "./types.ts";
import { IOMMU_DRIVER_COUNTER_COUNT, IommuDriverCounter } from "../wire/iommu.ts";

export { IOMMU_DRIVER_COUNTER_COUNT, iommuCapacity, IommuDriverCounter } from "../wire/iommu.ts";

/** Queue names of a virtio-iommu device, by queue index (virtio 1.2 §5.13.2). */
export const IOMMU_QUEUE_NAMES: readonly string[] = ["requestq", "eventq"];
/** Queue sizes, by queue index (requestq, eventq). */
export const IOMMU_QUEUE_SIZES: readonly number[] = [
  IOMMU_REQUEST_QUEUE_SIZE,
  IOMMU_EVENT_QUEUE_SIZE,
];
/** The device name of a VM's virtio-iommu device. */
export const IOMMU_DEVICE_NAME = "iommu0";
/** Mapping-table entries of a vIOMMU: room for every in-flight buffer of a few NICs. */
export const IOMMU_MAPPINGS = 4096;

/**
 * The device slot of a VM's vIOMMU, with the NICs of `devices` that have `iommu` as endpoints;
 * it fills each such NIC's `iommu` (endpoint and consumer slot).
 *
 * @example
 * ```ts
 * import { iommuDeviceSpec } from "./iommu.ts";
 * iommuDeviceSpec({ mode: "static" }, [], new Set()).queues.map((q) => q.name); // ["requestq", "eventq"]
 * ```
 */
export function iommuDeviceSpec(
  iommu: IommuSpec,
  devices: DeviceSpec[],
  behind: ReadonlySet<string>,
): IommuDeviceSpec {
  const endpoints: IommuDeviceSpec["endpoints"] = [];
  for (const d of devices) {
    if (d.kind !== "net" || !behind.has(d.name)) continue;
    (d as NetDeviceSpec).iommu = { endpoint: d.index, consumer: endpoints.length };
    endpoints.push({ endpoint: d.index, device: d.index, name: d.name });
  }
  return {
    kind: "iommu",
    name: IOMMU_DEVICE_NAME,
    index: devices.length,
    queues: IOMMU_QUEUE_NAMES.map((name, q) => ({
      name,
      layout: "split",
      size: IOMMU_QUEUE_SIZES[q],
    })),
    deviceCounters: IOMMU_COUNTER_COUNT,
    driverCounters: IOMMU_DRIVER_COUNTER_COUNT,
    mode: iommu.mode,
    endpoints,
    mappings: IOMMU_MAPPINGS,
    txRing: -1,
    rxRing: -1,
  };
}

/** The iommu kind's lab-side description. */
export const IOMMU_KIND: LabKind = {
  kind: "iommu",
  snapshotKind: "virtio-iommu",
  featureNames: Object.freeze(
    Object.fromEntries(Object.entries(IommuFeature).map(([name, bit]) => [bit, name])),
  ),
  deviceCounters: IommuCounter,
  driverCounters: IommuDriverCounter,
  gauges: new Set(["lastFaultIova", "lastFaultAccess", "lastFaultEndpoint"]),
  queueCounters: [
    { requests: IommuCounter.requests, bytes: null, interrupts: null, suppressed: null },
    { requests: IommuCounter.faultReports, bytes: null, interrupts: null, suppressed: null },
  ],
};
