/**
 * A first-fit page allocator for guest-side buffers (rings, packet buffers).
 *
 * It runs on the guest side only: the guest driver owns its memory layout, exactly as a kernel
 * does. The device never allocates guest memory.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import type { OutOfMemoryError } from "./errors.ts";
import { PAGE_SIZE } from "./memory.ts";

/** The alignment of a driver's packet buffers: a cache line. */
export const BUFFER_ALIGN = 64;

/**
 * The distance from one of a driver's packet buffers of `bytes` to the next: `bytes` rounded up to
 * a cache line (`BUFFER_ALIGN`). Every buffer then starts on a line of its own, and the data at
 * the same place in every buffer (a virtio-net frame after its 12-byte header, a vsock payload
 * after its 44) at the same offset from a multiple of 8. That matters for speed: V8 copies shared
 * memory word by word only between offsets equal modulo 8, and byte by byte otherwise, five times
 * slower for a 1500-byte frame (docs/performance.md, "Copies at one phase").
 *
 * @example
 * ```ts
 * import { bufferStride } from "./allocator.ts";
 * bufferStride(12 + 1514); // 1536
 * ```
 */
export function bufferStride(bytes: number): number {
  return Math.ceil(bytes / BUFFER_ALIGN) * BUFFER_ALIGN;
}

/**
 * `length` zeroed bytes of a fresh (not shared) buffer, starting `phase` bytes past a multiple of
 * 8: a frame built or held outside guest memory at the phase it will be copied to or from, so that
 * the copy runs word by word (`bufferStride`).
 *
 * @example
 * ```ts
 * import { bytesAtPhase } from "./allocator.ts";
 * bytesAtPhase(1514, 4).byteOffset % 8; // 4
 * ```
 */
export function bytesAtPhase(length: number, phase: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(phase + length), phase, length);
}

/**
 * A private copy of `bytes` at the same phase (offset past a multiple of 8) as `bytes` itself, so
 * that copying them in, and later out again to where they came from, runs word by word: what
 * `slice()` does, but `slice()` puts its copy at offset 0.
 *
 * @example
 * ```ts
 * import { copyAtPhase } from "./allocator.ts";
 * const shared = new Uint8Array(new SharedArrayBuffer(64));
 * copyAtPhase(shared.subarray(4, 20)).byteOffset % 8; // 4
 * ```
 */
export function copyAtPhase(bytes: Uint8Array): Uint8Array {
  const copy = bytesAtPhase(bytes.length, bytes.byteOffset & 7);
  copy.set(bytes);
  return copy;
}

/**
 * Allocates whole pages from a range of guest-physical addresses.
 *
 * @example
 * ```ts
 * import { PageAllocator } from "./allocator.ts";
 * const pages = new PageAllocator(0x1000, 16 * 4096);
 * const r = pages.allocBytes(5000); // two pages
 * if (r.ok) pages.free(r.value);
 * ```
 */
export class PageAllocator {
  /** First GPA managed. */
  readonly base: number;
  /** Number of pages managed. */
  readonly pageCount: number;
  /** run length of each allocation, by first page; 0 = not the start of an allocation. */
  private readonly runs: Uint32Array;
  private readonly used: Uint8Array;
  private free_: number;

  /** Manage `[base, base + bytes)`; both must be page aligned (a programmer error otherwise). */
  constructor(base: number, bytes: number) {
    if (base % PAGE_SIZE !== 0 || bytes % PAGE_SIZE !== 0 || bytes <= 0 || base < 0) {
      throw new RangeError(`allocator range must be page aligned, got ${base}+${bytes}`);
    }
    this.base = base;
    this.pageCount = bytes / PAGE_SIZE;
    this.runs = new Uint32Array(this.pageCount);
    this.used = new Uint8Array(this.pageCount);
    this.free_ = this.pageCount;
  }

  /** Pages not allocated. */
  get freePages(): number {
    return this.free_;
  }

  /** Allocate `pages` contiguous pages; the GPA of the first. */
  alloc(pages: number): Result<number, OutOfMemoryError> {
    if (!Number.isInteger(pages) || pages <= 0) {
      throw new RangeError(`page count must be a positive integer, got ${pages}`);
    }
    let run = 0;
    for (let p = 0; p < this.pageCount; p++) {
      run = this.used[p] ? 0 : run + 1;
      if (run === pages) {
        const first = p - pages + 1;
        this.used.fill(1, first, p + 1);
        this.runs[first] = pages;
        this.free_ -= pages;
        return ok(this.base + first * PAGE_SIZE);
      }
    }
    return err({ kind: "out-of-memory", pages, freePages: this.free_ });
  }

  /** Allocate enough pages for `bytes` bytes (page aligned, so 16-byte ring alignment holds). */
  allocBytes(bytes: number): Result<number, OutOfMemoryError> {
    return this.alloc(Math.max(1, Math.ceil(bytes / PAGE_SIZE)));
  }

  /** Free an allocation by its first GPA; freeing anything else is a programmer error. */
  free(gpa: number): void {
    const first = (gpa - this.base) / PAGE_SIZE;
    const pages = Number.isInteger(first) && first >= 0 && first < this.pageCount
      ? this.runs[first]
      : 0;
    if (pages === 0) throw new RangeError(`0x${gpa.toString(16)} is not an allocation`);
    this.runs[first] = 0;
    this.used.fill(0, first, first + pages);
    this.free_ += pages;
  }
}
