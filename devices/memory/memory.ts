/**
 * Guest memory: one `SharedArrayBuffer` per VM, addressed by guest-physical address (GPA).
 *
 * Every multi-byte value is little-endian, as virtio ≥ 1.0 requires (virtio 1.2 §1.4). The
 * typed-array views are exposed for the ring code, which validates a ring's whole area once
 * (when the queue is enabled) and then indexes it directly; everything addressed by a value the
 * guest wrote goes through the checked accessors, which return an error value instead of
 * wrapping or throwing.
 *
 * @module
 */

import { err, ok, OK_VOID, type Result } from "../base/result.ts";
import type { OutOfRangeError } from "./errors.ts";

/** Guest page size in bytes. */
export const PAGE_SIZE = 4096;

/** Largest guest memory vlab creates (2 GiB), so every GPA is a small integer. */
export const MAX_MEMORY_BYTES = 2 ** 31;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  // Typed arrays use the platform's byte order; virtio rings are little-endian.
  throw new Error("vlab needs a little-endian platform");
}

/**
 * A VM's guest memory.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "./memory.ts";
 * const mem = GuestMemory.create(64 * 1024);
 * mem.writeU32(0x100, 0xdeadbeef);
 * const r = mem.readU32(0x100); // { ok: true, value: 0xdeadbeef }
 * const bad = mem.readU32(0x10000); // { ok: false, error: { kind: "out-of-range", … } }
 * ```
 */
export class GuestMemory {
  /** The shared buffer; hand it to another worker with `GuestMemory.fromBuffer`. */
  readonly buffer: SharedArrayBuffer;
  /** Size in bytes. */
  readonly size: number;
  /** Byte view of the whole memory. */
  readonly u8: Uint8Array;
  /** 16-bit view (index = GPA / 2). */
  readonly u16: Uint16Array;
  /** 32-bit view (index = GPA / 4). */
  readonly u32: Uint32Array;
  /** 32-bit signed view, for `Atomics.wait`/`notify` on doorbells placed in guest memory. */
  readonly i32: Int32Array;
  private readonly view: DataView;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.size = buffer.byteLength;
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer, 0, this.size >>> 1);
    this.u32 = new Uint32Array(buffer, 0, this.size >>> 2);
    this.i32 = new Int32Array(buffer, 0, this.size >>> 2);
    this.view = new DataView(buffer);
  }

  /**
   * Allocate zeroed guest memory of `bytes` (a whole number of pages, at most 2 GiB).
   * A bad size is a programmer error and throws.
   */
  static create(bytes: number): GuestMemory {
    if (!Number.isInteger(bytes) || bytes <= 0 || bytes % PAGE_SIZE !== 0) {
      throw new RangeError(
        `guest memory must be a positive multiple of ${PAGE_SIZE}, got ${bytes}`,
      );
    }
    if (bytes > MAX_MEMORY_BYTES) {
      throw new RangeError(`guest memory must be at most ${MAX_MEMORY_BYTES} bytes, got ${bytes}`);
    }
    return new GuestMemory(new SharedArrayBuffer(bytes));
  }

  /** View memory that another thread created (the buffer arrives by `postMessage`). */
  static fromBuffer(buffer: SharedArrayBuffer): GuestMemory {
    if (buffer.byteLength % PAGE_SIZE !== 0 || buffer.byteLength > MAX_MEMORY_BYTES) {
      throw new RangeError(`not a guest memory buffer: ${buffer.byteLength} bytes`);
    }
    return new GuestMemory(buffer);
  }

  /**
   * Whether `[gpa, gpa + length)` lies entirely inside memory. Works for any numbers, including
   * negative, fractional and huge ones (so a 64-bit address from a descriptor cannot wrap).
   */
  contains(gpa: number, length: number): boolean {
    return Number.isInteger(gpa) && Number.isInteger(length) && gpa >= 0 && length >= 0 &&
      gpa + length <= this.size;
  }

  /** Check a range, as a result carrying the values involved. */
  check(gpa: number, length: number): Result<void, OutOfRangeError> {
    return this.contains(gpa, length) ? OK_VOID : err(this.outOfRange(gpa, length));
  }

  /** Read one byte. */
  readU8(gpa: number): Result<number, OutOfRangeError> {
    return this.contains(gpa, 1) ? ok(this.u8[gpa]) : err(this.outOfRange(gpa, 1));
  }

  /** Read a little-endian 16-bit value (any alignment). */
  readU16(gpa: number): Result<number, OutOfRangeError> {
    return this.contains(gpa, 2)
      ? ok(this.view.getUint16(gpa, true))
      : err(this.outOfRange(gpa, 2));
  }

  /** Read a little-endian 32-bit value (any alignment). */
  readU32(gpa: number): Result<number, OutOfRangeError> {
    return this.contains(gpa, 4)
      ? ok(this.view.getUint32(gpa, true))
      : err(this.outOfRange(gpa, 4));
  }

  /**
   * Read a little-endian 64-bit value as a number. Values above 2^53 lose precision, which is
   * harmless for addresses: any such address is out of range anyway.
   */
  readU64(gpa: number): Result<number, OutOfRangeError> {
    if (!this.contains(gpa, 8)) return err(this.outOfRange(gpa, 8));
    return ok(this.view.getUint32(gpa, true) + this.view.getUint32(gpa + 4, true) * 2 ** 32);
  }

  /** Write one byte. */
  writeU8(gpa: number, value: number): Result<void, OutOfRangeError> {
    if (!this.contains(gpa, 1)) return err(this.outOfRange(gpa, 1));
    this.u8[gpa] = value;
    return OK_VOID;
  }

  /** Write a little-endian 16-bit value. */
  writeU16(gpa: number, value: number): Result<void, OutOfRangeError> {
    if (!this.contains(gpa, 2)) return err(this.outOfRange(gpa, 2));
    this.view.setUint16(gpa, value, true);
    return OK_VOID;
  }

  /** Write a little-endian 32-bit value. */
  writeU32(gpa: number, value: number): Result<void, OutOfRangeError> {
    if (!this.contains(gpa, 4)) return err(this.outOfRange(gpa, 4));
    this.view.setUint32(gpa, value, true);
    return OK_VOID;
  }

  /** Write a little-endian 64-bit value (`value` must be a safe integer ≥ 0). */
  writeU64(gpa: number, value: number): Result<void, OutOfRangeError> {
    if (!this.contains(gpa, 8)) return err(this.outOfRange(gpa, 8));
    this.view.setUint32(gpa, value >>> 0, true);
    this.view.setUint32(gpa + 4, Math.floor(value / 2 ** 32) >>> 0, true);
    return OK_VOID;
  }

  /** Copy `length` bytes out of guest memory. */
  read(gpa: number, length: number): Result<Uint8Array, OutOfRangeError> {
    if (!this.contains(gpa, length)) return err(this.outOfRange(gpa, length));
    return ok(this.u8.slice(gpa, gpa + length));
  }

  /** A live view of `length` bytes of guest memory (no copy: the guest may change it). */
  bytes(gpa: number, length: number): Result<Uint8Array, OutOfRangeError> {
    if (!this.contains(gpa, length)) return err(this.outOfRange(gpa, length));
    return ok(this.u8.subarray(gpa, gpa + length));
  }

  /** Copy bytes into guest memory. */
  write(gpa: number, data: Uint8Array): Result<void, OutOfRangeError> {
    if (!this.contains(gpa, data.length)) return err(this.outOfRange(gpa, data.length));
    this.u8.set(data, gpa);
    return OK_VOID;
  }

  /** The error value for an access that does not fit. */
  private outOfRange(gpa: number, length: number): OutOfRangeError {
    return { kind: "out-of-range", gpa, length, size: this.size };
  }
}
