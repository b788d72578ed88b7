/**
 * Per-buffer DMA mapping in the guest worker, for a NIC behind the vIOMMU in `strict` or `lazy`
 * mode: the `NetDma` the net driver calls, over the virtio-iommu driver's `IommuMapper`.
 *
 * - `map` stages a MAP (IOVAs from the mapper's page bitmap, above guest memory); `sync`
 *   publishes, kicks the requestq and polls its used ring (bounded, with a short backoff) until
 *   every staged MAP completed, as Linux's `viommu_sync_req` spins: the net driver posts the
 *   buffers only then.
 * - `unmap`: strict stages one UNMAP per buffer (published on the next `tick`, one invalidation
 *   each); lazy queues it in a flush queue sent as one batch, one invalidation for all, when
 *   `lazyBatch` wait or the oldest waited `lazyMaxAgeMs` (Linux's IOVA flush queue: bounded in
 *   size and time). An UNMAP that found no request slot is retried on the next `tick`.
 *
 * Runs on the guest worker's thread; the iommu kind owns it (lab/guest/kinds/iommu.ts) and
 * routes every requestq completion to `complete`.
 *
 * @module
 */

import type { IommuCompletion, IommuMapper } from "../../../devices/iommu/mod.ts";
import {
  DMA_LATER,
  DMA_REFUSED,
  type DmaSyncOutcome,
  type NetDma,
} from "../../../devices/net/dma.ts";

/**
 * How long `sync` (and `map`, for room) waits for the device before it gives the pass up (the
 * buffers wait for a later pass: a backend restart is a pause, not an error).
 */
export const SYNC_TIMEOUT_MS = 500;
/** Lazy mode: UNMAPs that trigger a flush (Linux's flush queue holds 256 per CPU). */
export const LAZY_BATCH = 32;
/** Lazy mode: the longest an unmapped IOVA waits for its flush (Linux: 10 ms). */
export const LAZY_MAX_AGE_MS = 10;
/**
 * How long a wait for the device goes unanswered before the requestq is kicked again: a kick that
 * was lost (`vlab fault lost-kick VM iommu0 requestq`) delays the requests by this much per lost
 * kick, not until the wait gives up.
 */
export const RENOTIFY_MS = 10;

/** What a `GuestDma` needs from the iommu kind. */
export interface GuestDmaOptions {
  /** The endpoint's mapper (strict or lazy). */
  mapper: IommuMapper;
  /** Make staged requests visible and kick the requestq (called again, it kicks again). */
  publish: () => void;
  /** Collect requestq completions (the kind routes them to `complete`). */
  collect: () => void;
  /** Requests staged or in flight on the requestq (every endpoint's). */
  inFlight: () => number;
  /** Clock in ms (default `performance.now`). */
  now?: () => number;
  /** `sync`'s deadline (default `SYNC_TIMEOUT_MS`). */
  timeoutMs?: number;
  /** Lazy: the flush queue's age bound (default `LAZY_MAX_AGE_MS`). */
  lazyMaxAgeMs?: number;
  /**
   * True once the guest must stop (its VM crashed): a wait gives up at once instead of spinning
   * for a device worker that is gone (default: never).
   */
  stopped?: () => boolean;
}

/** The requestq has no room now (no free request, or no free descriptors). */
function busy(kind: string): boolean {
  return kind === "no-slot" || kind === "ring-full";
}

/** How many times `map` waits for room before it gives up. */
const MAP_ATTEMPTS = 4;
/** `sync` spins this long before it pauses between polls. */
const SPIN_MS = 0.2;
/** The pause between polls after the spin. */
const PAUSE_MS = 0.05;

// A word nobody notifies: `Atomics.wait` on it is a bounded pause of this thread.
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * A NIC's per-buffer DMA mapping through the guest's virtio-iommu driver.
 *
 * @example
 * ```ts
 * import type { IommuMapper } from "../../../devices/iommu/mod.ts";
 * import { GuestDma } from "./iommu_dma.ts";
 * function dmaFor(
 *   mapper: IommuMapper,
 *   publish: () => void,
 *   collect: () => void,
 *   inFlight: () => number,
 * ): GuestDma {
 *   return new GuestDma({ mapper, publish, collect, inFlight }); // hand to NetDriver as `dma`
 * }
 * ```
 */
export class GuestDma implements NetDma {
  private readonly m: IommuMapper;
  private readonly o: GuestDmaOptions;
  private readonly now: () => number;
  private readonly immediate: boolean;
  /** UNMAPs that found no request slot (strict), retried by `tick`. */
  private readonly deferred: number[] = [];
  /** When the oldest queued lazy UNMAP was queued (Infinity: none). */
  private queuedSince = Infinity;
  private staged = false;
  /** `failed` before the MAPs of a sync that gave up ("later"), or null. */
  private baseline: number | null = null;

  /** A mapping front end for one endpoint. */
  constructor(opts: GuestDmaOptions) {
    this.m = opts.mapper;
    this.immediate = opts.mapper.immediate;
    this.o = opts;
    this.now = opts.now ?? (() => performance.now());
  }

  /** UNMAPs not yet sent (lazy queue and deferred). */
  get unsent(): number {
    return this.m.queuedUnmaps + this.deferred.length;
  }

  map(gpa: number, len: number, perms: number): number {
    // static and passthrough: arithmetic, nothing to send or wait for (a frame's data path).
    if (this.immediate) {
      const iova = this.m.mapNow(gpa, len);
      return iova >= 0 ? iova : DMA_REFUSED;
    }
    // UNMAPs first: a mapping is never made while an unmap waits for room (Linux's strict
    // unmap is synchronous), so live mappings stay bounded by the buffers in flight. Bounded:
    // every wait sends at least one deferred UNMAP, or times out and the map fails.
    // Lazy: the flush queue is bounded too; a full one is sent (and waited for) first.
    const backlog = () => this.retryDeferred() || this.m.queuedUnmaps >= 2 * LAZY_BATCH;
    for (let round = this.unsent + 1; backlog() && round > 0; round--) {
      if (!this.wait()) return DMA_LATER;
    }
    if (this.deferred.length > 0) return DMA_LATER;
    for (let attempt = 0; attempt < MAP_ATTEMPTS; attempt++) {
      const r = this.m.map(gpa, len, perms);
      if (r.ok) {
        this.staged = true;
        return r.value;
      }
      // Room comes back as requests complete (lazy: as the flush queue is sent).
      if (!busy(r.error.kind) && r.error.kind !== "iova-exhausted") return DMA_REFUSED;
      if (!this.wait()) return DMA_LATER;
    }
    return DMA_LATER;
  }

  /** Send everything staged (lazy: the whole flush queue); false if it did not complete in time. */
  private wait(): boolean {
    this.m.flush(true);
    this.o.publish();
    this.staged = false;
    this.queuedSince = Infinity;
    return this.waitFor(() => this.o.inFlight() === 0);
  }

  unmap(iova: number): void {
    if (this.immediate) return; // static and passthrough unmap nothing
    const r = this.m.unmap(iova);
    if (!r.ok && busy(r.error.kind)) this.deferred.push(iova);
    else if (this.m.mode === "lazy" && this.queuedSince === Infinity) this.queuedSince = this.now();
    this.staged = true;
  }

  sync(): DmaSyncOutcome {
    // MAP refusals since the MAPs being synced were staged (a sync that gave up keeps its
    // baseline). A refused UNMAP (of a window revoked meanwhile) is not the buffers' business.
    const failed = this.baseline ?? this.m.failedMaps;
    if (this.m.pendingMaps > 0) {
      this.m.flush();
      this.o.publish();
      this.staged = false;
      this.waitFor(() => this.m.pendingMaps === 0);
    }
    if (this.m.pendingMaps > 0) {
      this.baseline = failed;
      return "later";
    }
    this.baseline = null;
    return this.m.failedMaps === failed ? "done" : "refused";
  }

  /** Route completions of this endpoint's requests (the kind calls it with every batch). */
  complete(done: readonly IommuCompletion[]): void {
    this.m.complete(done);
  }

  /**
   * Send what waits (strict: the staged UNMAPs; lazy: the flush queue once full or old); true
   * if requests were published. Called on every pass of the guest loop.
   */
  tick(): boolean {
    this.retryDeferred();
    const due = this.m.queuedUnmaps > 0 &&
      this.now() - this.queuedSince >= (this.o.lazyMaxAgeMs ?? LAZY_MAX_AGE_MS);
    const before = this.m.queuedUnmaps;
    if (!this.staged && !due && before === 0) return false;
    this.m.flush(due);
    if (this.m.queuedUnmaps < before) {
      this.queuedSince = this.m.queuedUnmaps > 0 ? this.now() : Infinity;
    }
    const sent = this.staged || this.m.queuedUnmaps < before;
    this.staged = false;
    if (sent) this.o.publish();
    return sent;
  }

  /** Milliseconds until `tick` has something to send (Infinity: nothing waits). */
  dueMs(): number {
    if (this.staged || this.deferred.length > 0) return 0;
    if (this.m.queuedUnmaps === 0) return Infinity;
    const left = (this.o.lazyMaxAgeMs ?? LAZY_MAX_AGE_MS) - (this.now() - this.queuedSince);
    return Math.max(0, left);
  }

  /** Stage deferred UNMAPs while there is room; true if some still wait for room. */
  private retryDeferred(): boolean {
    // Bounded: each retry either takes a slot or stops.
    while (this.deferred.length > 0) {
      const r = this.m.unmap(this.deferred[0]);
      if (!r.ok && busy(r.error.kind)) return true;
      this.deferred.shift();
      this.staged = true;
    }
    return false;
  }

  /**
   * Poll the requestq until `done()` or the deadline: spin for `SPIN_MS` (a device worker that
   * is awake answers in microseconds), then pause `PAUSE_MS` between polls, and kick again every
   * `RENOTIFY_MS` without an answer (a lost kick cost the whole wait, 500 ms of a blocked guest
   * thread, and the buffers' next pass). (Deno's `Atomics.wait` with a timeout under about
   * 0.02 ms sleeps 2 ms, so the pause is not shorter.)
   */
  private waitFor(done: () => boolean): boolean {
    const start = this.now();
    const deadline = start + (this.o.timeoutMs ?? SYNC_TIMEOUT_MS);
    let kicked = start;
    // Bounded by the deadline (and the round count, whatever the clock does).
    for (let round = 0; round < 10_000_000 && !done(); round++) {
      this.o.collect();
      if (done() || this.o.stopped?.()) break;
      const now = this.now();
      if (now >= deadline) break;
      if (now - kicked >= RENOTIFY_MS) {
        this.o.publish(); // publishes nothing new: kicks the requestq again
        kicked = now;
      }
      if (now - start > SPIN_MS) Atomics.wait(PAUSE, 0, 0, PAUSE_MS);
    }
    return done();
  }
}
