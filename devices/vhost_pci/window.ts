/**
 * The window: what a vhost-pci peer (VM `b`) sees of the frontend's (VM `a`'s) memory. It wraps
 * the DMA view the peer was given (an `IommuDma` over `a`'s memory through the peer's own IOTLB
 * consumer, or a `DirectDma` over all of `a`'s memory when `a`'s NIC is not behind a vIOMMU) and
 * counts every access the view refuses, with the address and the access kind of the last one,
 * so that the peer can treat a refusal as a device error of its connection. A refused access is
 * never performed: the view returns no address for it.
 *
 * Runs on `b`'s guest worker; the IOMMU view's own fault log (with the IOVA, the access and the
 * consumer) is `a`'s vIOMMU's, which reports it to `a`'s guest.
 *
 * @module
 */

import type { DmaAccess, DmaError, DmaFastWindow, DmaSegment, DmaView } from "../memory/dma.ts";
import type { GuestMemory } from "../memory/memory.ts";
import type { Result } from "../base/result.ts";

/** A DMA view that may need a translation batch started (an `IommuDma`). */
export interface BatchedDmaView extends DmaView {
  /** Start a translation batch (the IOTLB handshake); true when cached translations were dropped. */
  beginBatch?(): boolean;
  /** End a translation batch before sleeping (an `IommuDma` publishes its IOTLB hits). */
  endBatch?(): void;
}

/**
 * A peer's window onto the frontend's memory: a DMA view that counts what it refuses.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { PeerWindow } from "./window.ts";
 * const w = new PeerWindow(new DirectDma(GuestMemory.create(65536)));
 * w.resolve(0x20000, 4, "read"); // -1: outside a's memory
 * w.refusals; // 1
 * ```
 */
export class PeerWindow implements DmaView {
  /** The memory behind the window (the frontend's). */
  readonly memory: GuestMemory;
  /** The view's inline range: what it serves there is never refused, so nothing to count. */
  readonly fast?: DmaFastWindow;
  /** Accesses refused so far. */
  refusals = 0;
  /** Address (IOVA or GPA) of the last refused access, or -1. */
  lastAddr = -1;
  /** Kind of the last refused access, or null. */
  lastAccess: DmaAccess | null = null;

  readonly #view: BatchedDmaView;
  // The last refusal `resolve` counted, so that `translate` right after (asking why) does not
  // count it twice.
  #pendingAddr = -1;
  #pendingLength = -1;
  #pendingAccess: DmaAccess = "read";
  #pendingError: DmaError | null = null;

  /** A window through `view`. */
  constructor(view: BatchedDmaView) {
    this.#view = view;
    this.memory = view.memory;
    this.fast = view.fast;
  }

  /** Start a translation batch; true when cached translations were dropped (re-check rings). */
  beginBatch(): boolean {
    this.#pendingAddr = -1;
    return this.#view.beginBatch?.() ?? false;
  }

  /** End a translation batch before sleeping (the view's IOTLB hits are published). */
  endBatch(): void {
    this.#view.endBatch?.();
  }

  /** Translate through the view; a refusal is counted. */
  translate(addr: number, length: number, access: DmaAccess): Result<number, DmaError> {
    const repeat = addr === this.#pendingAddr && length === this.#pendingLength &&
      access === this.#pendingAccess;
    this.#pendingAddr = -1;
    // Asking why `resolve` refused: answer from it, so the view does not log the fault twice.
    if (repeat && this.#pendingError !== null) return { ok: false, error: this.#pendingError };
    const r = this.#view.translate(addr, length, access);
    if (!r.ok && r.error.kind !== "dma-fragmented") this.#refused(addr, access);
    return r;
  }

  /** Resolve through the view; a refusal is counted. */
  resolve(addr: number, length: number, access: DmaAccess): number {
    const gpa = this.#view.resolve(addr, length, access);
    this.#pendingAddr = -1;
    if (gpa < 0) {
      // Fragmented is not a refusal: ask the view why before counting.
      const why = this.#view.translate(addr, length, access);
      if (!why.ok && why.error.kind !== "dma-fragmented") {
        this.#refused(addr, access);
        this.#pendingError = why.error;
        this.#pendingAddr = addr;
        this.#pendingLength = length;
        this.#pendingAccess = access;
      }
    }
    return gpa;
  }

  /** The guest-physical pieces of a range, through the view; a refusal is counted. */
  segments(
    addr: number,
    length: number,
    access: DmaAccess,
    out: DmaSegment[],
  ): Result<number, DmaError> {
    this.#pendingAddr = -1;
    if (this.#view.segments === undefined) {
      const r = this.translate(addr, length, access);
      if (!r.ok) return r;
      if (out.length === 0) out.push({ gpa: r.value, len: length });
      else {
        out[0].gpa = r.value;
        out[0].len = length;
      }
      return { ok: true, value: length === 0 ? 0 : 1 };
    }
    const r = this.#view.segments(addr, length, access, out);
    if (!r.ok) this.#refused(addr, access);
    return r;
  }

  #refused(addr: number, access: DmaAccess): void {
    this.refusals++;
    this.lastAddr = addr;
    this.lastAccess = access;
  }
}
