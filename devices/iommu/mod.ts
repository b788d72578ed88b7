/**
 * The vIOMMU (layer 3) and the virtio-iommu device (layer 4, virtio 1.2 §5.13).
 *
 * Layer 3, pure and thread-agnostic: `Viommu` (owner: domains, endpoints, the mapping table in
 * shared memory, consumer registry, invalidation handshake), `Iotlb` (one per consumer thread),
 * `IommuDma` (the `DmaView` of a device behind the vIOMMU), fault logs and counters.
 * Layer 4: `IommuDevice` (model), `IommuDriver` (guest driver), `IommuMapper` (DMA modes).
 *
 * @module
 */
export * from "./config.ts";
export {
  IommuDevice,
  type IommuDeviceOptions,
  type IommuServiceOutcome,
  tableStatus,
} from "./device.ts";
export { IommuDma, IOVA_LIMIT } from "./dma.ts";
export {
  type DmaMode,
  IommuMapper,
  type IommuMapperOptions,
  type MapperError,
} from "./dma_modes.ts";
export {
  type FaultReport,
  IOMMU_EVENT_QUEUE_SIZE,
  IOMMU_PROBE_SIZE,
  IOMMU_REQUEST_QUEUE_SIZE,
  type IommuCompletion,
  IommuDriver,
  type IommuDriverError,
  iommuDriverMemoryBytes,
  type IommuDriverOptions,
} from "./driver.ts";
export * from "./errors.ts";
export {
  FaultReason,
  type FaultRecord,
  IotlbCounter,
  readFaults,
  readIotlbCounters,
  recordFault,
} from "./faults.ts";
export { Iotlb, type IotlbOptions, Lookup } from "./iotlb.ts";
export {
  EndpointState,
  openViews,
  Perm,
  type ViommuCapacity,
  type ViommuLayout,
  viommuLayout,
  type ViommuViews,
} from "./layout.ts";
export * from "./metrics.ts";
export { type DomainInfo, type Mapping, Viommu, viommuBuffer, type WaitOptions } from "./viommu.ts";
