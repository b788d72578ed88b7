/**
 * `IommuDma`: the DMA view of a device behind the vIOMMU (`VIRTIO_F_ACCESS_PLATFORM`
 * negotiated). Device-visible addresses are IOVAs, translated through the consumer's `Iotlb`;
 * an access outside a mapping or without its permission is refused (never performed), counted
 * and logged with the IOVA, the access kind and the endpoint.
 *
 * A range that crosses from one mapping into the next is one contiguous GPA range only when the
 * GPAs follow on; otherwise `translate`/`resolve` refuse it as `dma-fragmented` (not a fault:
 * nothing illegal was asked) and `segments` returns the pieces.
 *
 * The owner of the view calls `beginBatch()` before each batch of translations (the handshake,
 * see viommu.ts); a translation is valid until the next `beginBatch()`.
 *
 * @module
 */

import type { DmaAccess, DmaError, DmaFastWindow, DmaSegment, DmaView } from "../memory/dma.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { err, ok, type Result } from "../base/result.ts";
import { type Iotlb, IOVA_LIMIT, Lookup } from "./iotlb.ts";
import { Perm } from "./layout.ts";

export { IOVA_LIMIT };

/**
 * A device's DMA view through the vIOMMU.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { IommuDma } from "./dma.ts";
 * import { Iotlb } from "./iotlb.ts";
 * import { Viommu } from "./viommu.ts";
 * const v = Viommu.create({ mappings: 8, endpoints: 1, consumers: 1, faults: 4 });
 * v.attach(1, 0);
 * v.map(1, { start: 0x10000, end: 0x10fff, gpa: 0x2000, perms: 3 });
 * const dma = new IommuDma(GuestMemory.create(65536), new Iotlb(v.buffer, { slot: v.registerConsumer("nic"), endpoint: 0 }));
 * dma.beginBatch();
 * dma.resolve(0x10010, 16, "write"); // 0x2010
 * dma.resolve(0x20000, 16, "read"); // -1, counted and logged as a fault
 * ```
 */
export class IommuDma implements DmaView {
  /** The memory this view reaches. */
  readonly memory: GuestMemory;
  /** The consumer's IOTLB. */
  readonly iotlb: Iotlb;
  /** The IOTLB's last hit, for the data path to check inline. */
  readonly fast: DmaFastWindow;

  private readonly size: number;
  private readonly maxPieces: number;
  // Why the last refusal happened (set by `check`).
  private refusedKind: DmaError["kind"] = "dma-unmapped";
  // The last access `resolve` refused and logged, so `translate` right after does not log it twice.
  private lastAddr = -1;
  private lastLength = -1;
  private lastAccess: DmaAccess = "read";

  /** A view of `memory` through `iotlb`. */
  constructor(memory: GuestMemory, iotlb: Iotlb) {
    this.memory = memory;
    this.iotlb = iotlb;
    this.fast = iotlb.last;
    this.size = memory.size;
    this.maxPieces = iotlb.views.layout.mappings + 1;
  }

  /** Start a translation batch: the consumer's half of the invalidation handshake. */
  beginBatch(): boolean {
    this.lastAddr = -1;
    return this.iotlb.sync();
  }

  /** End a batch before the consumer sleeps: its IOTLB hits reach the shared counter. */
  endBatch(): void {
    this.iotlb.publishHits();
  }

  /** Translate to one contiguous GPA range, or refuse (and log a fault when it is one). */
  translate(addr: number, length: number, access: DmaAccess): Result<number, DmaError> {
    const repeat = addr === this.lastAddr && length === this.lastLength &&
      access === this.lastAccess;
    this.lastAddr = -1;
    if (!Number.isInteger(addr) || !Number.isInteger(length)) {
      return err({ kind: "dma-out-of-range", addr, length, access });
    }
    const gpa = this.check(addr, length, access, !repeat);
    return gpa >= 0 ? ok(gpa) : err({ kind: this.refusedKind, addr, length, access });
  }

  /** The first GPA of a contiguous translation, or -1 (then `translate` says why). */
  resolve(addr: number, length: number, access: DmaAccess): number {
    // The data path's case: the range lies inside the IOTLB's last hit, with the permission.
    // A zero-length access still needs its address mapped, as in `check`.
    if (length >= 0) {
      const fast = this.iotlb.hit(
        addr,
        addr + (length > 0 ? length : 1) - 1,
        access === "read" ? Perm.READ : Perm.WRITE,
      );
      if (fast >= 0 && fast + length <= this.size) {
        this.lastAddr = -1;
        return fast;
      }
    }
    const gpa = this.check(addr, length, access, true);
    this.lastAddr = gpa < 0 ? addr : -1;
    this.lastLength = length;
    this.lastAccess = access;
    return gpa;
  }

  /**
   * The guest-physical pieces of `[addr, addr + length)`, merged where the GPAs follow on:
   * fills `out` (its objects are reused, it grows as needed) and returns how many, or refuses
   * the whole access (logged as a fault) if any byte of it is refused.
   */
  segments(
    addr: number,
    length: number,
    access: DmaAccess,
    out: DmaSegment[],
  ): Result<number, DmaError> {
    if (!this.inInput(addr, length)) return err({ kind: "dma-out-of-range", addr, length, access });
    if (length === 0) return ok(0);
    let n = 0;
    let cur = addr;
    const last = addr + length - 1;
    for (let guard = 0; guard < this.maxPieces && cur <= last; guard++) {
      const i = this.iotlb.lookup(cur, access);
      let gpa: number, pieceEnd: number;
      if (i === Lookup.BYPASS) {
        gpa = cur;
        pieceEnd = last;
      } else if (i < 0) {
        this.iotlb.fault(cur, access, i);
        return err({
          kind: i === Lookup.DENIED ? "dma-denied" : "dma-unmapped",
          addr,
          length,
          access,
        });
      } else {
        gpa = this.iotlb.gpaOf(i, cur);
        pieceEnd = Math.min(this.iotlb.endOf(i), last);
      }
      const len = pieceEnd - cur + 1;
      if (gpa + len > this.size) return err({ kind: "dma-out-of-range", addr, length, access });
      const prev = n > 0 ? out[n - 1] : undefined;
      if (prev && prev.gpa + prev.len === gpa) prev.len += len;
      else {
        if (n < out.length) {
          out[n].gpa = gpa;
          out[n].len = len;
        } else out.push({ gpa, len });
        n++;
      }
      cur = pieceEnd + 1;
    }
    if (cur <= last) return err({ kind: "dma-unmapped", addr, length, access });
    return ok(n);
  }

  private inInput(addr: number, length: number): boolean {
    return Number.isInteger(addr) && Number.isInteger(length) && addr >= 0 && length >= 0 &&
      addr + length <= IOVA_LIMIT;
  }

  /** The contiguous GPA, or -1 with `refusedKind` set; logs a fault when `log`. */
  private check(addr: number, length: number, access: DmaAccess, log: boolean): number {
    if (!this.inInput(addr, length)) {
      this.refusedKind = "dma-out-of-range";
      return -1;
    }
    // A zero-length access still needs its address mapped (it names a place in memory).
    const last = addr + Math.max(length, 1) - 1;
    const first = this.iotlb.lookup(addr, access);
    if (first === Lookup.BYPASS) return this.bounded(addr, length);
    if (first < 0) return this.refuse(addr, access, first, log);
    const gpa = this.iotlb.gpaOf(first, addr);
    let end = this.iotlb.endOf(first);
    let expect = gpa + (end - addr) + 1;
    for (let guard = 0; guard < this.maxPieces && end < last; guard++) {
      const next = end + 1;
      const i = this.iotlb.lookup(next, access);
      if (i < 0) return this.refuse(next, access, i, log);
      if (this.iotlb.gpaOf(i, next) !== expect) {
        this.refusedKind = "dma-fragmented";
        return -1;
      }
      end = this.iotlb.endOf(i);
      expect = this.iotlb.gpaOf(i, next) + (end - next) + 1;
    }
    if (end < last) {
      this.refusedKind = "dma-unmapped";
      return -1;
    }
    return this.bounded(gpa, length);
  }

  private bounded(gpa: number, length: number): number {
    if (gpa + length <= this.size) return gpa;
    this.refusedKind = "dma-out-of-range";
    return -1;
  }

  private refuse(iova: number, access: DmaAccess, code: number, log: boolean): number {
    this.refusedKind = code === Lookup.DENIED ? "dma-denied" : "dma-unmapped";
    if (log) this.iotlb.fault(iova, access, code);
    return -1;
  }
}
