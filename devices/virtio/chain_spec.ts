/**
 * The driver halves' check of the buffers a caller posts: each must fit the descriptor's
 * fields exactly (`addr` le64, `len` le32), and a chain may not exceed 2^32 bytes in total
 * (virtio 1.2 §2.7.5, a driver requirement). Without it a `NaN` or fractional value, or a
 * length of 2^32, was written truncated and the device saw another buffer than the one posted.
 *
 * `add` checks each buffer in the loop that writes its descriptor (a second pass over the
 * chain cost ~5 % of a split request) and, on a bad value, returns before anything becomes
 * visible to the device.
 *
 * @module
 */

import type { DriverError } from "./errors.ts";

/** The most bytes a chain may hold (a driver MUST NOT add a longer one). */
export const MAX_CHAIN_BYTES = 2 ** 32;

/**
 * Whether a descriptor holds buffer `[gpa, len]` exactly: `gpa` a non-negative safe integer (a
 * 64-bit `addr` holds every one; whether memory is there is the device's to check, through its
 * DMA view: behind an IOMMU it is an I/O virtual address), `len` an integer in 0…2^32 − 1 (the
 * spec forbids no zero-length buffer, and the device accepts one). Allocates nothing.
 *
 * @example
 * ```ts
 * import { bufferFits } from "./chain_spec.ts";
 * bufferFits(0x1000, 64); // true
 * bufferFits(0x1000, 2 ** 32); // false: the 32-bit len would read 0
 * ```
 */
export function bufferFits(gpa: number, len: number): boolean {
  // `>>> 0` gives back the same value only for an integer in 0…2^32 − 1 (not for NaN, 1.5,
  // -1, 2^32, or anything that is not a number).
  return len >>> 0 === len && Number.isSafeInteger(gpa) && gpa >= 0;
}

/**
 * The error for buffer `index` of a chain (readable ones first) that `bufferFits` refused,
 * naming the bad value (the address when both are bad).
 *
 * @example
 * ```ts
 * import { badBuffer } from "./chain_spec.ts";
 * badBuffer(1, NaN, 64); // { kind: "bad-buffer-address", index: 1, gpa: NaN }
 * ```
 */
export function badBuffer(index: number, gpa: number, len: number): DriverError {
  return Number.isSafeInteger(gpa) && gpa >= 0
    ? { kind: "bad-buffer-length", index, len }
    : { kind: "bad-buffer-address", index, gpa };
}
