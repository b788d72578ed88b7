/**
 * The cache model of `vlab bench rings --cache-model`: how many 64-byte cache lines of ring
 * memory move between the driver's cache and the device's cache per request.
 *
 * Our machines expose no hardware counters, so instead of measuring misses we replay the
 * benchmark's request sequence in a deterministic lockstep simulation: the real driver and
 * device halves run on one thread over guest memory, each through a tracing `RingAccess` that
 * feeds every load and store of ring memory to a two-cache MSI coherence model. A line moves
 * when one side reads a line that the other side wrote since this side last held it (a
 * cache-to-cache transfer, the stall the talk counts as a miss). Writes to a line the other
 * side holds are counted apart, as invalidations: the store buffer hides them from the writer,
 * but they are why the next read on the other side misses. Each side polls once while it
 * waits, as a spinning worker would, so a line it polls is shared when the other side writes.
 *
 * Called by `rings.ts` on the main thread; pure computation, no workers.
 *
 * @module
 */

import { GuestMemory } from "../../devices/memory/memory.ts";
import { createQueuePair } from "../../devices/virtio/pair.ts";
import type { DeviceQueue, DriverQueue, Layout } from "../../devices/virtio/queue.ts";
import { type RingAccess, SharedRingAccess } from "../../devices/virtio/ring_access.ts";
import { benchLayout, REQUEST_BYTES } from "./ring_layout.ts";

/** Which cache an access comes from. */
export const enum Side {
  /** The guest driver's core. */
  Driver = 1,
  /** The device's core. */
  Device = 2,
}

/** Cache line size in bytes. */
export const LINE_BYTES = 64;

/**
 * A two-cache MSI model: per line, which caches hold it and which (if any) holds it modified.
 *
 * @example
 * ```ts
 * import { CoherenceModel, Side } from "./cache_model.ts";
 * const m = new CoherenceModel();
 * m.access(Side.Driver, 0x1000, true); // cold write: nothing moves
 * m.access(Side.Device, 0x1004, false); // same line, written by the driver: 1 transfer
 * m.access(Side.Driver, 0x1008, true); // the device holds a copy: 1 invalidation
 * ```
 */
export class CoherenceModel {
  /** Lines moved to a reader from the other cache so far. */
  transfers = 0;
  /** Writes that had to invalidate the other cache's copy so far. */
  invalidations = 0;
  /** Per line: bit 1 driver holds it, bit 2 device holds it. */
  private readonly holders = new Map<number, number>();

  /** Record one access to the byte at `gpa`. */
  access(side: Side, gpa: number, write: boolean): void {
    const line = Math.floor(gpa / LINE_BYTES);
    const held = this.holders.get(line) ?? 0;
    const other = side === Side.Driver ? Side.Device : Side.Driver;
    if (write) {
      // Writing needs the only copy.
      if (held & other) this.invalidations++;
      this.holders.set(line, side);
    } else if (!(held & side)) {
      // A read miss is served by the other cache if it holds the line, else by memory (cold).
      if (held & other) this.transfers++;
      this.holders.set(line, held | side);
    }
  }
}

/** A `RingAccess` that reports every access to a coherence model, then performs it. */
export class TracingRingAccess implements RingAccess {
  private readonly inner: SharedRingAccess;

  /** Trace `memory` accesses made by `side` into `model`. */
  constructor(
    memory: GuestMemory,
    private readonly model: CoherenceModel,
    private readonly side: Side,
  ) {
    this.inner = new SharedRingAccess(memory);
  }

  /** Plain 16-bit load. */
  load16(gpa: number): number {
    this.model.access(this.side, gpa, false);
    return this.inner.load16(gpa);
  }
  /** Plain 16-bit store. */
  store16(gpa: number, value: number): void {
    this.model.access(this.side, gpa, true);
    this.inner.store16(gpa, value);
  }
  /** Plain 32-bit load. */
  load32(gpa: number): number {
    this.model.access(this.side, gpa, false);
    return this.inner.load32(gpa);
  }
  /** Plain 32-bit store. */
  store32(gpa: number, value: number): void {
    this.model.access(this.side, gpa, true);
    this.inner.store32(gpa, value);
  }
  /** Atomic 16-bit load. */
  observe16(gpa: number): number {
    this.model.access(this.side, gpa, false);
    return this.inner.observe16(gpa);
  }
  /** Atomic 16-bit store. */
  publish16(gpa: number, value: number): void {
    this.model.access(this.side, gpa, true);
    this.inner.publish16(gpa, value);
  }
}

/** What the cache model simulates. */
export interface CacheModelOptions {
  /** Ring layout. */
  layout: Layout;
  /** Queue size. */
  queueSize: number;
  /** Batch size. */
  batch: number;
  /** Keep `batch` in flight (one completion per step) instead of closed batches. */
  outstanding: boolean;
  /** Requests to count (after a warm-up of a quarter as many). */
  requests: number;
  /** Notify mode: each side enables notifications before it waits. */
  notify: boolean;
}

/** The model's answer. */
export interface CacheModelResult {
  /** Cache lines of ring memory moved to a reader per request, in steady state. */
  linesPerRequest: number;
  /** Writes per request that invalidated the other side's copy of a ring line. */
  invalidationsPerRequest: number;
  /** Requests counted. */
  requests: number;
}

/**
 * Replay the benchmark's request sequence and count ring cache lines moved per request.
 *
 * @example
 * ```ts
 * import { runCacheModel } from "./cache_model.ts";
 * runCacheModel({ layout: "packed", queueSize: 256, batch: 1, outstanding: false, requests: 4096,
 *   notify: false }).linesPerRequest; // 2: the device reads the descriptor, the driver reads it back
 * ```
 */
export function runCacheModel(options: CacheModelOptions): CacheModelResult {
  // A batch of 0 would post nothing and complete nothing: the replay would never end.
  const { batch, queueSize, requests } = options;
  if (!Number.isInteger(batch) || batch < 1 || !(batch <= queueSize)) {
    throw new RangeError(
      `runCacheModel: batch must be a whole number from 1 to the queue size (${queueSize}), got ${batch}`,
    );
  }
  if (!Number.isInteger(requests) || requests < 1) {
    throw new RangeError(`runCacheModel: requests must be a whole number from 1, got ${requests}`);
  }
  const features = { eventIdx: true, indirect: false, inOrder: false };
  const placement = benchLayout(options.layout, options.queueSize, features);
  const memory = GuestMemory.create(placement.memoryBytes);
  const model = new CoherenceModel();
  const pair = createQueuePair(memory, placement.config, {
    driverRing: new TracingRingAccess(memory, model, Side.Driver),
    deviceRing: new TracingRingAccess(memory, model, Side.Device),
  });
  if (!pair.ok) throw new Error(`cache model: cannot create the queue (${pair.error.kind})`);
  const sim = new Lockstep(
    pair.value.driver,
    pair.value.device,
    placement.bufferBase,
    placement.bufferCount,
    options,
  );
  sim.run(Math.max(options.batch, Math.floor(options.requests / 4)));
  const before = model.transfers;
  const invalidationsBefore = model.invalidations;
  const counted = sim.run(options.requests);
  return {
    linesPerRequest: (model.transfers - before) / counted,
    invalidationsPerRequest: (model.invalidations - invalidationsBefore) / counted,
    requests: counted,
  };
}

/** Drives both halves in the order the two workers' steps interleave in steady state. */
class Lockstep {
  private posted = 0;

  constructor(
    private readonly driver: DriverQueue,
    private readonly device: DeviceQueue,
    private readonly bufferBase: number,
    private readonly bufferCount: number,
    private readonly options: CacheModelOptions,
  ) {}

  /** Run about `requests` requests; returns how many completed. */
  run(requests: number): number {
    let completed = 0;
    const { batch, outstanding, notify } = this.options;
    while (completed < requests) {
      // Driver: post a batch (or top up to `batch` in flight) and publish it.
      const target = outstanding ? batch : Math.min(batch, requests - completed);
      while (this.driver.inFlight < target) {
        const n = this.posted++;
        const gpa = this.bufferBase + REQUEST_BYTES * (n & (this.bufferCount - 1));
        if (!this.driver.add({ readable: [[gpa, REQUEST_BYTES]], writable: [] }, n).ok) break;
      }
      this.driver.publish();
      // Driver waits: one poll of the used ring (or enable interrupts and re-check).
      if (notify) this.driver.enableInterrupts(outstanding ? 1 : target);
      else this.driver.getUsed();
      // Device: take what is available (one chain per step when outstanding), use it, publish.
      for (let taken = 0; !outstanding || taken < 1; taken++) {
        const r = this.device.pop();
        if (!r.ok) throw new Error(`cache model: device error ${r.error.kind}`);
        if (r.value === null) break;
        this.device.push(r.value, 0);
      }
      this.device.publish();
      this.device.needsInterrupt();
      // Device waits: one poll of the available ring (or enable notifications and re-check).
      if (notify) this.device.enableNotifications();
      else this.device.pop();
      // Driver: reclaim everything used.
      for (;;) {
        const u = this.driver.getUsed();
        if (!u.ok) throw new Error(`cache model: driver error ${u.error.kind}`);
        if (u.value === null) break;
        completed++;
      }
      if (notify) this.driver.disableInterrupts();
      if (notify) this.device.disableNotifications();
    }
    return completed;
  }
}
