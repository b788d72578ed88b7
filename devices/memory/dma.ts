/**
 * The DMA view: how a device reaches guest memory.
 *
 * A device model never indexes guest memory by an address it read from a ring; it asks its
 * `DmaView` to translate `[addr, addr + length)` for a read or a write first. Without
 * `VIRTIO_F_ACCESS_PLATFORM` the view is `DirectDma` (addresses are GPAs, checked against the
 * memory size). With it, the vIOMMU supplies a view that translates IOVAs and enforces
 * permissions; devices do not change.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import type { GuestMemory } from "./memory.ts";

/** The direction of a device access. */
export type DmaAccess = "read" | "write";

/** A device access that the view refuses. */
export interface DmaError {
  /**
   * Discriminant: out of memory, not mapped, mapped without the permission, or (IOMMU views
   * only) mapped to GPAs that are not contiguous, which `segments` can still serve.
   */
  readonly kind: "dma-out-of-range" | "dma-unmapped" | "dma-denied" | "dma-fragmented";
  /** Device-visible address of the access (GPA or IOVA). */
  readonly addr: number;
  /** Length of the access in bytes. */
  readonly length: number;
  /** Read or write. */
  readonly access: DmaAccess;
}

/** One guest-physical piece of a device-visible range. */
export interface DmaSegment {
  /** First guest-physical address of the piece. */
  gpa: number;
  /** Length of the piece in bytes. */
  len: number;
}

/**
 * The range of device addresses a view translates without a call: `[start, end]` maps to
 * `gpa + (addr - start)` for the accesses in `perms` (bit 0 read, bit 1 write), and nothing when
 * `end < start`. A direct view's covers all of memory; an IOMMU view's is its IOTLB's last hit,
 * emptied at every invalidation, so an address it serves is valid until the view's next batch,
 * as `resolve`'s are. The data path (the chain walker) checks it inline, counts each hit in
 * `hits` (the view publishes them), and calls `resolve` only on a miss: one call site and one
 * object shape whatever the view.
 *
 * @example
 * ```ts
 * import { DmaFastWindow } from "./dma.ts";
 * const f = new DmaFastWindow();
 * f.start = 0x1000;
 * f.end = 0x1fff;
 * f.gpa = 0x8000;
 * f.perms = 3; // 0x1800 translates to 0x8800, for reads and writes
 * ```
 */
export class DmaFastWindow {
  /** First device address of the range. */
  start: number = 0;
  /** Last device address of the range (below `start`: empty). */
  end: number = -1;
  /** Guest-physical address of `start`. */
  gpa: number = 0;
  /** Accesses allowed: bit 0 read, bit 1 write. */
  perms: number = 0;
  /** Accesses served from the range since the view last published them. */
  hits: number = 0;
}

/**
 * A device's window onto guest memory.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "./memory.ts";
 * import { DirectDma } from "./dma.ts";
 * const dma = new DirectDma(GuestMemory.create(65536));
 * const r = dma.translate(0x1000, 64, "write"); // { ok: true, value: 0x1000 }
 * ```
 */
export interface DmaView {
  /** The memory this view reaches. */
  readonly memory: GuestMemory;
  /**
   * Translate a device-visible range to a contiguous guest-physical range (its first GPA), or
   * refuse it. A refused access must not be performed.
   */
  translate(addr: number, length: number, access: DmaAccess): Result<number, DmaError>;
  /**
   * The same decision without an allocation, for the data path: the first GPA, or -1 when
   * refused (then `translate` says why). `addr` and `length` must be integers.
   */
  resolve(addr: number, length: number, access: DmaAccess): number;
  /**
   * Optional: the range this view translates without a call ({@linkcode DmaFastWindow}); a view
   * without one is asked through `resolve` for every access.
   */
  readonly fast?: DmaFastWindow;
  /**
   * Optional: the guest-physical pieces of `[addr, addr + length)` in order, for a range that
   * is valid but not contiguous in guest memory (an IOVA range over several mappings). Fills
   * `out` (reusing its objects, growing it as needed) and returns the number of pieces, or
   * refuses the whole access exactly as `translate` would. A view without it serves only
   * contiguous ranges.
   */
  segments?(
    addr: number,
    length: number,
    access: DmaAccess,
    out: DmaSegment[],
  ): Result<number, DmaError>;
}

/**
 * Direct DMA: device addresses are guest-physical addresses; the only check is the memory size.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "./memory.ts";
 * import { DirectDma } from "./dma.ts";
 * const dma = new DirectDma(GuestMemory.create(4096));
 * dma.translate(4000, 200, "read"); // { ok: false, error: { kind: "dma-out-of-range", … } }
 * ```
 */
export class DirectDma implements DmaView {
  /** The memory this view reaches. */
  readonly memory: GuestMemory;
  /** All of memory, for reads and writes (its hits are counted nowhere else). */
  readonly fast: DmaFastWindow = new DmaFastWindow();

  private readonly size: number;

  /** A direct view of `memory`. */
  constructor(memory: GuestMemory) {
    this.memory = memory;
    this.size = memory.size;
    this.fast.end = memory.size - 1;
    this.fast.perms = 3;
  }

  /** Identity translation with a bounds check. */
  translate(addr: number, length: number, access: DmaAccess): Result<number, DmaError> {
    if (this.memory.contains(addr, length)) return ok(addr);
    return err({ kind: "dma-out-of-range", addr, length, access });
  }

  /** Identity translation with a bounds check: the GPA, or -1. */
  resolve(addr: number, length: number, _access: DmaAccess): number {
    // Integers only (ring code assembles them from 32-bit fields): no integer checks here.
    return addr >= 0 && length >= 0 && addr + length <= this.size ? addr : -1;
  }

  /** A direct range is one piece (none when `length` is 0), or refused as by `translate`. */
  segments(
    addr: number,
    length: number,
    access: DmaAccess,
    out: DmaSegment[],
  ): Result<number, DmaError> {
    const t = this.translate(addr, length, access);
    if (!t.ok) return t;
    if (length === 0) return ok(0);
    if (out.length === 0) out.push({ gpa: t.value, len: length });
    else {
      out[0].gpa = t.value;
      out[0].len = length;
    }
    return ok(1);
  }
}

/**
 * Copy bytes from device-visible memory (through the view) into `into`.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "./memory.ts";
 * import { DirectDma, dmaRead } from "./dma.ts";
 * const dma = new DirectDma(GuestMemory.create(4096));
 * const buf = new Uint8Array(8);
 * dmaRead(dma, 0x10, buf); // { ok: true, value: undefined }
 * ```
 */
export function dmaRead(view: DmaView, addr: number, into: Uint8Array): Result<void, DmaError> {
  const t = view.translate(addr, into.length, "read");
  if (!t.ok) return t;
  into.set(view.memory.u8.subarray(t.value, t.value + into.length));
  return ok(undefined);
}

/**
 * Copy `from` into device-visible memory (through the view).
 *
 * @example
 * ```ts
 * import { GuestMemory } from "./memory.ts";
 * import { DirectDma, dmaWrite } from "./dma.ts";
 * const dma = new DirectDma(GuestMemory.create(4096));
 * dmaWrite(dma, 0x10, new Uint8Array([1, 2, 3]));
 * ```
 */
export function dmaWrite(view: DmaView, addr: number, from: Uint8Array): Result<void, DmaError> {
  const t = view.translate(addr, from.length, "write");
  if (!t.ok) return t;
  view.memory.u8.set(from, t.value);
  return ok(undefined);
}
