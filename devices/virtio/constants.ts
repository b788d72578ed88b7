/**
 * Virtio constants shared by every layer: device status bits, device-independent feature bits,
 * descriptor flags and event-suppression values. Numbers and names follow the virtio 1.2 spec
 * (section numbers in each block) and Linux's `include/uapi/linux/virtio_{config,ring}.h`.
 *
 * @module
 */

/** Device status bits (virtio 1.2 §2.1). */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

/** Virtio device IDs (virtio 1.2 §5). */
export const DeviceId = {
  NET: 1,
  VSOCK: 19,
} as const;

/** Device-independent feature bit numbers (virtio 1.2 §6). */
export const Feature = {
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  NOTIFICATION_DATA: 38,
  RING_RESET: 40,
} as const;

/** Descriptor flags of the split ring (virtio 1.2 §2.7.5). */
export const SplitDescFlag = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
} as const;

/** Descriptor flags of the packed ring (virtio 1.2 §2.8.1, §2.8.6). */
export const PackedDescFlag = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
  /** Bit 7: equals the driver's wrap counter when the driver makes a descriptor available. */
  AVAIL: 1 << 7,
  /** Bit 15: the inverse of AVAIL when available; equal to it when used. */
  USED: 1 << 15,
} as const;

/** `avail.flags` bit: the driver asks for no used-buffer notifications (§2.7.7). */
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
/** `used.flags` bit: the device asks for no available-buffer notifications (§2.7.7). */
export const VIRTQ_USED_F_NO_NOTIFY = 1;

/** Packed event-suppression `flags` values (§2.8.10). */
export const PackedEventFlag = {
  ENABLE: 0,
  DISABLE: 1,
  /** Notify at a given descriptor (needs EVENT_IDX). */
  DESC: 2,
} as const;

/** Largest queue size the spec allows (§2.6, §2.8). */
export const MAX_QUEUE_SIZE = 32768;

/** Size of one descriptor, split or packed (§2.7.5, §2.8.13). */
export const DESC_SIZE = 16;

/** Device ID of virtio-iommu (virtio 1.2 §5 table). */
export const VIRTIO_ID_IOMMU = 23;
