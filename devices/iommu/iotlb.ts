/**
 * The IOTLB: one per consumer (a device worker's DMA view, a vhost-pci peer), on the consumer's
 * thread. A translation first looks in the small private cache (hit), else walks the shared
 * table (miss → walk → fill). `sync()` before every translation batch is the consumer's half
 * of the invalidation handshake (see viommu.ts): when the generation moved it drops every
 * cached entry, then acknowledges the generation it saw.
 *
 * In front of the cache sits a one-entry "last hit" (what hardware IOTLBs and vhost's device
 * IOTLB keep): the entry, or the bypass, that served the last lookup. `hit()` serves a range
 * wholly inside it, with the permission, in a few comparisons and no call into the cache loop;
 * anything else (another entry, a range over two entries, a missing permission) goes to
 * `lookup`, which refuses, walks and fills as before. The last hit is dropped with the cache.
 *
 * Memory ordering: `sync` observes GEN (pairs with publish GEN in `Viommu.invalidate`) and
 * publishes ackGen with `Atomics.store` + `notify` (pairs with observe ackGen in
 * `Viommu.waitFlushed`). Counters are plain stores: one writer, read for display only.
 *
 * @module
 */

import { DmaFastWindow } from "../memory/dma.ts";
import { FaultReason, IotlbCounter, recordFault } from "./faults.ts";
import {
  CONSUMER_WORDS,
  ConsumerState,
  COUNTER_WORDS,
  EndpointState,
  Hdr,
  openViews,
  Perm,
  PERM_MASK,
  type ViommuViews,
} from "./layout.ts";
import { newWalkResult, walk } from "./table.ts";

/** IOVAs are below 2^48 (the input range the device offers). */
export const IOVA_LIMIT = 2 ** 48;

/** `lookup` found a cached entry: its index is ≥ 0. These negative codes say otherwise. */
export const Lookup = {
  /** The endpoint is in bypass: identity translation, every access allowed. */
  BYPASS: -1,
  /** Refused: the endpoint is attached to no domain. */
  NO_DOMAIN: -2,
  /** Refused: no mapping covers the address. */
  UNMAPPED: -3,
  /** Refused: mapped without the permission. */
  DENIED: -4,
  /** Refused: the table kept changing during the walk. */
  BUSY: -5,
} as const;

/** Options of an `Iotlb`. */
export interface IotlbOptions {
  /** Cached entries (default 16), replaced round-robin. */
  entries?: number;
}

/**
 * A consumer's IOTLB over a vIOMMU buffer.
 *
 * @example
 * ```ts
 * import { Iotlb, Lookup } from "./iotlb.ts";
 * import { Viommu } from "./viommu.ts";
 * const v = Viommu.create({ mappings: 8, endpoints: 2, consumers: 2, faults: 4 });
 * v.attach(1, 0);
 * v.map(1, { start: 0x1000, end: 0x1fff, gpa: 0x8000, perms: 1 });
 * const tlb = new Iotlb(v.buffer, { slot: v.registerConsumer("net0"), endpoint: 0 });
 * tlb.sync();
 * const i = tlb.lookup(0x1800, "read"); // ≥ 0: tlb.gpaOf(i, 0x1800) === 0x8800
 * tlb.lookup(0x1800, "write") === Lookup.DENIED; // true
 * ```
 */
export class Iotlb {
  /** Views over the vIOMMU buffer. */
  readonly views: ViommuViews;
  /** This consumer's slot. */
  readonly slot: number;
  /** The endpoint (device) this consumer translates for. */
  readonly endpoint: number;

  private readonly cache: Float64Array;
  private readonly capacity: number;
  private count = 0;
  private victim = 0;
  private bypass = false;
  private gen: number;
  private readonly counterBase: number;
  private readonly ackWord: number;
  private readonly w = newWalkResult();
  private readonly hitsWord: number;
  /**
   * The last hit: the entry (or the bypass) that served the last lookup, checked before
   * anything else by `hit` and, inline, by the chain walker (its `DmaFastWindow`); emptied by
   * `sync` when the generation moved. Its `hits` are added to the shared counter by
   * `publishHits`.
   */
  readonly last: DmaFastWindow = new DmaFastWindow();

  /** An IOTLB for consumer `slot` (from `Viommu.registerConsumer`) translating for `endpoint`. */
  constructor(buffer: SharedArrayBuffer, opts: { slot: number; endpoint: number } & IotlbOptions) {
    this.views = openViews(buffer);
    const { layout } = this.views;
    if (!Number.isInteger(opts.slot) || opts.slot < 0 || opts.slot >= layout.consumers) {
      throw new RangeError(
        `IOTLB consumer slot must be in 0…${layout.consumers - 1}, got ${opts.slot}`,
      );
    }
    if (
      !Number.isInteger(opts.endpoint) || opts.endpoint < 0 || opts.endpoint >= layout.endpoints
    ) {
      throw new RangeError(
        `IOTLB endpoint must be in 0…${layout.endpoints - 1}, got ${opts.endpoint}`,
      );
    }
    this.slot = opts.slot;
    this.endpoint = opts.endpoint;
    this.capacity = opts.entries ?? 16;
    this.cache = new Float64Array(4 * this.capacity);
    this.counterBase = layout.counterBase + opts.slot * COUNTER_WORDS;
    this.hitsWord = this.counterBase + IotlbCounter.hits;
    this.ackWord = layout.consumerBase + opts.slot * CONSUMER_WORDS + 1;
    this.views.i32[layout.consumerBase + opts.slot * CONSUMER_WORDS + 3] = opts.endpoint;
    this.gen = Atomics.load(this.views.i32, this.ackWord);
    // A parked slot (its previous owner's thread died, `parkConsumer`) is this IOTLB's now: it is
    // active again before this IOTLB caches anything (its first `sync` drops nothing it holds
    // and acknowledges), so no UNMAP can complete past an entry it holds.
    Atomics.compareExchange(
      this.views.i32,
      layout.consumerBase + opts.slot * CONSUMER_WORDS,
      ConsumerState.PARKED,
      ConsumerState.ACTIVE,
    );
  }

  /** Cached entries right now. */
  get size(): number {
    return this.count;
  }

  /**
   * The consumer's half of the handshake; call before every translation batch. Drops the cache
   * if the generation moved and acknowledges it. Returns true when it dropped the cache (ring
   * areas translated earlier must be translated again).
   */
  sync(): boolean {
    const i32 = this.views.i32;
    this.publishHits();
    // observe GEN: pairs with publish GEN in Viommu.invalidate.
    const g = Atomics.load(i32, Hdr.GEN);
    if (g === this.gen) return false;
    this.count = 0;
    this.victim = 0;
    this.bypass = false;
    this.last.end = -1;
    this.gen = g;
    this.views.f64[this.counterBase + IotlbCounter.invalidations]++;
    // publish ackGen: pairs with observe ackGen in Viommu.waitFlushed.
    Atomics.store(i32, this.ackWord, g);
    Atomics.notify(i32, this.ackWord);
    return true;
  }

  /**
   * Add the hits served from the last hit since the last call (by `hit`, and inline by the
   * chain walker) to the shared counter. `sync` does it at every batch; a consumer does it too
   * before it sleeps (`IommuDma.endBatch`), so the counter is exact whenever it is idle.
   */
  publishHits(): void {
    const w = this.last;
    if (w.hits === 0) return;
    this.views.f64[this.hitsWord] += w.hits;
    w.hits = 0;
  }

  /**
   * The fast path: the GPA of `iova` when `[iova, last]` lies wholly inside the last entry that
   * hit (or the endpoint is in bypass) and that entry grants `need` (`Perm` bits), counted as a
   * hit; otherwise -1 and nothing counted (then `lookup` decides, refuses or walks).
   */
  hit(iova: number, last: number, need: number): number {
    const w = this.last;
    if (iova >= w.start && last <= w.end && (w.perms & need) !== 0) {
      w.hits++;
      return w.gpa + (iova - w.start);
    }
    return -1;
  }

  /**
   * Find the entry that translates `iova` for `access`: its cache index (≥ 0), `Lookup.BYPASS`,
   * or a negative refusal code. Counts a hit or a miss; refusals are not recorded here (see
   * `fault`).
   */
  lookup(iova: number, access: "read" | "write"): number {
    const f64 = this.views.f64;
    const need = access === "read" ? Perm.READ : Perm.WRITE;
    if (this.bypass) {
      f64[this.hitsWord]++;
      return Lookup.BYPASS;
    }
    const c = this.cache;
    for (let i = 0; i < this.count; i++) {
      if (c[4 * i] <= iova && iova <= c[4 * i + 1]) {
        f64[this.hitsWord]++;
        this.remember(i);
        return (c[4 * i + 3] & need) !== 0 ? i : Lookup.DENIED;
      }
    }
    f64[this.counterBase + IotlbCounter.misses]++;
    const w = this.w;
    walk(this.views, this.endpoint, iova, w);
    if (w.miss === "domain") return Lookup.NO_DOMAIN;
    if (w.miss === "unmapped") return Lookup.UNMAPPED;
    if (w.miss === "busy") return Lookup.BUSY;
    if (w.endpointState === EndpointState.BYPASS) {
      this.bypass = true;
      // Identity over the whole input range, every access allowed.
      const last = this.last;
      last.start = 0;
      last.end = IOVA_LIMIT - 1;
      last.gpa = 0;
      last.perms = Perm.READ | Perm.WRITE;
      return Lookup.BYPASS;
    }
    let i = this.count;
    if (i < this.capacity) this.count++;
    else {
      i = this.victim;
      this.victim = (this.victim + 1) % this.capacity;
    }
    c[4 * i] = w.start;
    c[4 * i + 1] = w.end;
    c[4 * i + 2] = w.gpa;
    c[4 * i + 3] = w.perms;
    this.remember(i);
    return (w.perms & need) !== 0 ? i : Lookup.DENIED;
  }

  /** Cached entry `i` becomes the last hit. */
  private remember(i: number): void {
    const c = this.cache;
    const last = this.last;
    last.start = c[4 * i];
    last.end = c[4 * i + 1];
    last.gpa = c[4 * i + 2];
    last.perms = c[4 * i + 3] & PERM_MASK;
  }

  /** The GPA of `iova` through cached entry `index`. */
  gpaOf(index: number, iova: number): number {
    return this.cache[4 * index + 2] + (iova - this.cache[4 * index]);
  }

  /** The last IOVA of cached entry `index`. */
  endOf(index: number): number {
    return this.cache[4 * index + 1];
  }

  /** Record a refused access in this consumer's fault log (and its `faults` counter). */
  fault(iova: number, access: "read" | "write", code: number): void {
    const reason = code === Lookup.NO_DOMAIN
      ? FaultReason.DOMAIN
      : code === Lookup.BUSY
      ? FaultReason.UNKNOWN
      : FaultReason.MAPPING;
    recordFault(this.views, this.slot, { iova, access, endpoint: this.endpoint, reason });
  }
}
