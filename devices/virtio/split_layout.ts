/**
 * Split virtqueue layout (virtio 1.2 §2.7; Linux `include/uapi/linux/virtio_ring.h`).
 *
 * ```c
 * struct virtq_desc  { le64 addr; le32 len; le16 flags; le16 next; };          // 16 bytes
 * struct virtq_avail { le16 flags; le16 idx; le16 ring[N]; le16 used_event; }; // 6 + 2N
 * struct virtq_used_elem { le32 id; le32 len; };                               // 8 bytes
 * struct virtq_used  { le16 flags; le16 idx; struct virtq_used_elem ring[N];
 *                      le16 avail_event; };                                    // 6 + 8N
 * ```
 * Alignment: descriptor table 16, avail ring 2, used ring 4 (§2.7.1–2.7.2).
 *
 * @module
 */

/** Byte offsets inside one descriptor. */
export const SplitDesc = { ADDR: 0, LEN: 8, FLAGS: 12, NEXT: 14, SIZE: 16 } as const;

/** Byte offsets inside the available ring (`RING` + 2·i; `usedEvent` at `ring(N)`). */
export const SplitAvail = { FLAGS: 0, IDX: 2, RING: 4, ENTRY: 2 } as const;

/** Byte offsets inside the used ring (`RING` + 8·i; `availEvent` at `ring(N)`). */
export const SplitUsed = { FLAGS: 0, IDX: 2, RING: 4, ENTRY: 8, ELEM_ID: 0, ELEM_LEN: 4 } as const;

/** Required alignment of each area. */
export const SPLIT_ALIGN = { descriptor: 16, driver: 2, device: 4 } as const;

/**
 * Byte sizes of the three areas of a split queue of `size` descriptors.
 *
 * @example
 * ```ts
 * import { splitAreaSizes } from "./split_layout.ts";
 * splitAreaSizes(256); // { descriptor: 4096, driver: 518, device: 2054 }
 * ```
 */
export function splitAreaSizes(
  size: number,
): { descriptor: number; driver: number; device: number } {
  return { descriptor: 16 * size, driver: 6 + 2 * size, device: 6 + 8 * size };
}

/** Whether `size` is a valid split queue size: a power of two from 1 to 32768 (§2.7). */
export function isValidSplitSize(size: number): boolean {
  return Number.isInteger(size) && size >= 1 && size <= 32768 && (size & (size - 1)) === 0;
}
