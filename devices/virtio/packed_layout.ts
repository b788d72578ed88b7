/**
 * Packed virtqueue layout (virtio 1.2 §2.8; Linux `include/uapi/linux/virtio_ring.h`).
 *
 * ```c
 * struct pvirtq_desc { le64 addr; le32 len; le16 id; le16 flags; };            // 16 bytes
 * struct pvirtq_event_suppress {
 *   le16 off_wrap;  // desc_event_off: 15 bits, desc_event_wrap: bit 15
 *   le16 flags;     // desc_event_flags: 2 bits (ENABLE 0, DISABLE 1, DESC 2)
 * };                                                                          // 4 bytes
 * ```
 * The descriptor ring is the Descriptor Area; the driver's event suppression structure is the
 * Driver Area, the device's is the Device Area. Alignment 16, 4, 4 (§2.8.10.1).
 *
 * @module
 */

/** Byte offsets inside one packed descriptor. */
export const PackedDesc = { ADDR: 0, LEN: 8, ID: 12, FLAGS: 14, SIZE: 16 } as const;

/** Byte offsets inside an event suppression structure. */
export const PackedEvent = { OFF_WRAP: 0, FLAGS: 2, SIZE: 4 } as const;

/** Required alignment of each area. */
export const PACKED_ALIGN = { descriptor: 16, driver: 4, device: 4 } as const;

/**
 * Byte sizes of the three areas of a packed queue of `size` descriptors.
 *
 * @example
 * ```ts
 * import { packedAreaSizes } from "./packed_layout.ts";
 * packedAreaSizes(256); // { descriptor: 4096, driver: 4, device: 4 }
 * ```
 */
export function packedAreaSizes(
  size: number,
): { descriptor: number; driver: number; device: number } {
  return { descriptor: 16 * size, driver: 4, device: 4 };
}

/** Whether `size` is a valid packed queue size: 1 to 32768, any value (§2.8). */
export function isValidPackedSize(size: number): boolean {
  return Number.isInteger(size) && size >= 1 && size <= 32768;
}
