/**
 * The transport-independent virtio core: constants, feature negotiation, the device status
 * machine, and split and packed virtqueues (driver half and device half of each) behind one
 * API, with the state record a restarted device resumes from.
 *
 * @module
 */
export * from "./constants.ts";
export type { DescriptorChain, PopError, Segment } from "./chain.ts";
export { chainPool, ChainWalker, MAX_CHAIN_BYTES, PooledChain } from "./chain.ts";
export * from "./errors.ts";
export { needEvent, packedNeedNotify } from "./event.ts";
export * from "./features.ts";
export * from "./status.ts";
export type {
  ChainSpec,
  DeviceQueue,
  DriverQueue,
  Layout,
  PopResult,
  QueueConfig,
  RingFeatures,
  UsedBuffer,
} from "./queue.ts";
export { type RingAccess, SharedRingAccess } from "./ring_access.ts";
export {
  checkQueueConfig,
  type IndirectArea,
  prepareDriverRing,
  type QueueAreas,
} from "./setup.ts";
export {
  isValidSplitSize,
  SPLIT_ALIGN,
  splitAreaSizes,
  SplitAvail,
  SplitDesc,
  SplitUsed,
} from "./split_layout.ts";
export {
  isValidPackedSize,
  PACKED_ALIGN,
  packedAreaSizes,
  PackedDesc,
  PackedEvent,
} from "./packed_layout.ts";
export { type RestoreError, SplitDeviceQueue } from "./split_device.ts";
export { SplitDriverQueue } from "./split_driver.ts";
export { PackedDeviceQueue } from "./packed_device.ts";
export { PackedDriverQueue } from "./packed_driver.ts";
export {
  createState,
  resetState,
  stateBytes,
  type StateError,
  StateWord,
  validateState,
} from "./state.ts";
export { createQueuePair, type QueuePair } from "./pair.ts";
export * from "./mmio.ts";
export * from "./mmio_device.ts";
export * from "./mmio_driver.ts";
export * from "./mmio_reinit.ts";
export * from "./guest_faults.ts";
export type { ActivateContext, ActivateError, VirtioDeviceModel } from "./device_model.ts";
