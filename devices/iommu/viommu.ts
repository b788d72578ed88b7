/**
 * The vIOMMU's owner side: domains, endpoints and the mapping table in shared memory, the
 * consumer registry and the invalidation handshake.
 *
 * Who calls it: the virtio-iommu device model (device.ts), on the thread that runs it, is the
 * only writer of the tables. Consumers (a device worker's `IommuDma`, a vhost-pci peer) run on
 * other threads with their own `Iotlb` over the same buffer (`Viommu.buffer`).
 *
 * The handshake (after vhost's device IOTLB): a removal (UNMAP, DETACH, reset) takes the
 * mappings out of the table under the seqlock, then `invalidate()` bumps `GEN`. Each consumer
 * calls `Iotlb.sync()` before every translation batch: it drops its cached entries and stores
 * the generation it saw in its slot's `ackGen`. `waitFlushed(gen)` resolves once every active
 * consumer acknowledged `gen` (or reports the first one that did not, after a timeout), and only
 * then does the device complete the UNMAP: nothing is read or written through a mapping after
 * its UNMAP returned.
 *
 * Memory ordering, publish/observe pairs:
 * - table writes: `beginWrite` makes SEQ odd, plain stores, `endWrite` makes it even again;
 *   pairs with the two SEQ loads around a walk in table.ts.
 * - GEN: `Atomics.add` in `invalidate` pairs with the `Atomics.load` in `Iotlb.sync`.
 * - ackGen: `Atomics.store` + `notify` in `Iotlb.sync` pairs with the loads and
 *   `Atomics.waitAsync` in `waitFlushed` here.
 *
 * @module
 */

import { err, ok, OK_VOID, type Result } from "../base/result.ts";
import type { InvalidationTimeout, TableError } from "./errors.ts";
import {
  CONSUMER_WORDS,
  ConsumerState,
  EndpointState,
  Hdr,
  HEADER_WORDS,
  LIVE,
  MAPPING_WORDS,
  openViews,
  PERM_MASK,
  reached,
  type ViommuCapacity,
  viommuLayout,
  type ViommuViews,
} from "./layout.ts";

/** One mapping: IOVA `[start, end]` (inclusive) → GPA `gpa`, with `Perm` bits. */
export interface Mapping {
  /** First IOVA. */
  start: number;
  /** Last IOVA (inclusive, as the spec writes ranges). */
  end: number;
  /** GPA of `start`. */
  gpa: number;
  /** `Perm` bits (READ 1, WRITE 2). */
  perms: number;
}

/** What the owner knows about a domain. */
export interface DomainInfo {
  /** Domain ID. */
  readonly id: number;
  /** Created with ATTACH_F_BYPASS. */
  readonly bypass: boolean;
  /** Attached endpoints. */
  readonly endpoints: ReadonlySet<number>;
  /** Live mappings. */
  readonly mappings: number;
}

interface Domain {
  id: number;
  bypass: boolean;
  endpoints: Set<number>;
  mappings: number;
}

/** Options of `waitFlushed`. */
export interface WaitOptions {
  /** Give up after this many ms and report the consumer (default 1000). */
  timeoutMs?: number;
  /** Clock in ms (default `performance.now`). */
  now?: () => number;
}

/**
 * The vIOMMU (owner side).
 *
 * @example
 * ```ts
 * import { Viommu } from "./viommu.ts";
 * const v = Viommu.create({ mappings: 64, endpoints: 4, consumers: 2, faults: 16 });
 * v.attach(1, 0);
 * v.map(1, { start: 0x10000, end: 0x10fff, gpa: 0x3000, perms: 3 });
 * v.unmap(1, 0x10000, 0x10fff);
 * const gen = v.invalidate();
 * await v.waitFlushed(gen); // every consumer dropped the entry
 * ```
 */
export class Viommu {
  /** The shared buffer: hand it to consumers (`new Iotlb(buffer, …)`). */
  readonly buffer: SharedArrayBuffer;
  /** Views and layout. */
  readonly views: ViommuViews;

  private readonly domains = new Map<number, Domain>();
  private readonly freeSlots: number[] = [];
  private readonly names = new Map<number, string>();
  private dirty_ = false;
  private removals_ = 0;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.views = openViews(buffer);
    for (let s = this.views.layout.mappings - 1; s >= 0; s--) this.freeSlots.push(s);
  }

  /**
   * A fresh vIOMMU with fixed capacities, over `buffer` if given (zeroed, from `viommuBuffer`
   * with the same capacities: another thread keeps it to read counters). A bad capacity or
   * buffer is a programmer error and throws.
   */
  static create(cap: ViommuCapacity, buffer?: SharedArrayBuffer): Viommu {
    for (const [k, v] of Object.entries(cap)) {
      if (!Number.isInteger(v) || v < 1 || v > 1 << 20) {
        throw new RangeError(`vIOMMU capacity ${k} must be an integer in 1…${1 << 20}, got ${v}`);
      }
    }
    const layout = viommuLayout(cap);
    if (buffer && buffer.byteLength !== layout.bytes) {
      throw new RangeError(`vIOMMU buffer has ${buffer.byteLength} bytes, need ${layout.bytes}`);
    }
    buffer ??= new SharedArrayBuffer(layout.bytes);
    const i32 = new Int32Array(buffer);
    i32[Hdr.CAP_MAPPINGS] = cap.mappings;
    i32[Hdr.CAP_ENDPOINTS] = cap.endpoints;
    i32[Hdr.CAP_CONSUMERS] = cap.consumers;
    i32[Hdr.CAP_FAULTS] = cap.faults;
    return new Viommu(buffer);
  }

  /**
   * Take over a vIOMMU whose owner is gone (a device worker restarted after a crash, on the same
   * shared memory): the domains, endpoints and mappings are read back from `buffer`, which is
   * left as it was (a seqlock left odd by a writer that died is closed). Consumer slots stay as
   * they are: their owners keep using them (a restarted worker's IOTLBs take the same slots). A buffer that is
   * not a vIOMMU's throws (programmer error).
   */
  static adopt(buffer: SharedArrayBuffer): Viommu {
    const v = new Viommu(buffer);
    const { i32, f64, layout } = v.views;
    if ((Atomics.load(i32, Hdr.SEQ) & 1) !== 0) Atomics.add(i32, Hdr.SEQ, 1);
    for (let e = 0; e < layout.endpoints; e++) {
      const state = i32[layout.endpointBase + 2 * e];
      if (state === EndpointState.DETACHED) continue;
      const id = i32[layout.endpointBase + 2 * e + 1] >>> 0;
      const d = v.domains.get(id) ??
        { id, bypass: state === EndpointState.BYPASS, endpoints: new Set<number>(), mappings: 0 };
      d.endpoints.add(e);
      v.domains.set(id, d);
    }
    v.freeSlots.length = 0;
    const high = i32[Hdr.MAP_HIGH];
    for (let s = layout.mappings - 1; s >= 0; s--) {
      const w = layout.mappingBase + s * MAPPING_WORDS;
      if (s >= high || f64[w + 4] === 0) {
        v.freeSlots.push(s);
        continue;
      }
      const d = v.domains.get(f64[w]);
      if (d) d.mappings++;
    }
    return v;
  }

  /**
   * Whether `buffer` already holds a vIOMMU's tables (an owner wrote its header): a device
   * worker starting at power-on over it (a VM reboot) adopts it and resets the device, keeping
   * the consumer slots, rather than creating it anew (which would leave the old domains and
   * mappings in place and register every consumer a second time).
   *
   * @example
   * ```ts
   * import { Viommu, viommuBuffer } from "./viommu.ts";
   * const cap = { mappings: 8, endpoints: 1, consumers: 1, faults: 4 };
   * const buffer = viommuBuffer(cap);
   * Viommu.initialized(buffer); // false
   * Viommu.create(cap, buffer);
   * Viommu.initialized(buffer); // true
   * ```
   */
  static initialized(buffer: SharedArrayBuffer): boolean {
    return buffer.byteLength >= 4 * HEADER_WORDS &&
      Atomics.load(new Int32Array(buffer, 0, HEADER_WORDS), Hdr.CAP_CONSUMERS) !== 0;
  }

  /**
   * Name an adopted consumer slot (a registered slot's name lives with its registering owner):
   * a successor names the slots it knows from its plan, for timeout reports.
   */
  nameConsumer(slot: number, name: string): void {
    this.names.set(slot, name);
  }

  /** True when translations were removed since the last `invalidate()`. */
  get dirty(): boolean {
    return this.dirty_;
  }

  /** How many times translations were removed (monotonic): a change means "invalidate". */
  get removals(): number {
    return this.removals_;
  }

  /** The current invalidation generation. */
  get generation(): number {
    return Atomics.load(this.views.i32, Hdr.GEN);
  }

  /** Whether an unattached endpoint is in bypass (config `bypass` with BYPASS_CONFIG). */
  setBypassUnattached(on: boolean): void {
    if (!on && Atomics.load(this.views.i32, Hdr.BYPASS_UNATTACHED) === 1) this.markDirty();
    Atomics.store(this.views.i32, Hdr.BYPASS_UNATTACHED, on ? 1 : 0);
  }

  /** The domain, if it exists. */
  domain(id: number): DomainInfo | undefined {
    return this.domains.get(id);
  }

  /** Every domain (for metrics). */
  domainList(): DomainInfo[] {
    return [...this.domains.values()];
  }

  /** The domain `endpoint` is attached to, or undefined. */
  domainOf(endpoint: number): number | undefined {
    if (!this.knownEndpoint(endpoint)) return undefined;
    const e = this.views.layout.endpointBase + 2 * endpoint;
    return this.views.i32[e] === EndpointState.DETACHED ? undefined : this.views.i32[e + 1] >>> 0;
  }

  /** Whether `endpoint` exists. */
  knownEndpoint(endpoint: number): boolean {
    return Number.isInteger(endpoint) && endpoint >= 0 && endpoint < this.views.layout.endpoints;
  }

  /**
   * Attach `endpoint` to `domain` (created if new), detaching it from its current domain first.
   * virtio 1.2 §5.13.6.3.
   */
  attach(
    domain: number,
    endpoint: number,
    options: { bypass?: boolean } = {},
  ): Result<void, TableError> {
    if (!this.knownEndpoint(endpoint)) return err({ kind: "unknown-endpoint", endpoint });
    const bypass = options.bypass ?? false;
    const existing = this.domains.get(domain);
    if (existing && existing.bypass !== bypass) return err({ kind: "bypass-domain", domain });
    const current = this.domainOf(endpoint);
    if (current === domain) return OK_VOID;
    if (current !== undefined) this.detachUnchecked(current, endpoint);
    const d = existing ?? { id: domain, bypass, endpoints: new Set<number>(), mappings: 0 };
    this.domains.set(domain, d);
    d.endpoints.add(endpoint);
    this.beginWrite();
    const e = this.views.layout.endpointBase + 2 * endpoint;
    this.views.i32[e] = bypass ? EndpointState.BYPASS : EndpointState.ATTACHED;
    this.views.i32[e + 1] = domain | 0;
    this.endWrite();
    return OK_VOID;
  }

  /** Detach `endpoint` from `domain` (virtio 1.2 §5.13.6.4); an emptied domain ceases to exist. */
  detach(domain: number, endpoint: number): Result<void, TableError> {
    if (!this.knownEndpoint(endpoint)) return err({ kind: "unknown-endpoint", endpoint });
    if (this.domainOf(endpoint) !== domain) return err({ kind: "not-attached", domain, endpoint });
    this.detachUnchecked(domain, endpoint);
    return OK_VOID;
  }

  /** Add a mapping to `domain` (virtio 1.2 §5.13.6.5); ranges are checked by the caller. */
  map(domain: number, m: Mapping): Result<void, TableError> {
    const d = this.domains.get(domain);
    if (!d) return err({ kind: "unknown-domain", domain });
    if (d.bypass) return err({ kind: "bypass-domain", domain });
    const { f64, layout } = this.views;
    const high = this.views.i32[Hdr.MAP_HIGH];
    for (let s = 0; s < high; s++) {
      const w = layout.mappingBase + s * MAPPING_WORDS;
      if (f64[w + 4] !== 0 && f64[w] === domain && f64[w + 1] <= m.end && m.start <= f64[w + 2]) {
        return err({ kind: "overlap", domain, start: m.start, end: m.end });
      }
    }
    const slot = this.freeSlots.pop();
    if (slot === undefined) return err({ kind: "table-full", capacity: layout.mappings });
    const w = layout.mappingBase + slot * MAPPING_WORDS;
    this.beginWrite();
    f64[w] = domain;
    f64[w + 1] = m.start;
    f64[w + 2] = m.end;
    f64[w + 3] = m.gpa;
    f64[w + 4] = LIVE | (m.perms & PERM_MASK);
    if (slot >= high) this.views.i32[Hdr.MAP_HIGH] = slot + 1;
    this.endWrite();
    d.mappings++;
    return OK_VOID;
  }

  /**
   * Remove every mapping of `domain` inside `[start, end]` (virtio 1.2 §5.13.6.6): the count
   * removed, or `split` (nothing removed) if the range cuts a mapping. Call `invalidate()` and
   * `waitFlushed` before completing the request.
   */
  unmap(domain: number, start: number, end: number): Result<number, TableError> {
    const d = this.domains.get(domain);
    if (!d) return err({ kind: "unknown-domain", domain });
    if (d.bypass) return err({ kind: "bypass-domain", domain });
    const { f64, layout } = this.views;
    const high = this.views.i32[Hdr.MAP_HIGH];
    const hits: number[] = [];
    for (let s = 0; s < high; s++) {
      const w = layout.mappingBase + s * MAPPING_WORDS;
      if (f64[w + 4] === 0 || f64[w] !== domain) continue;
      const ms = f64[w + 1], me = f64[w + 2];
      if (me < start || ms > end) continue;
      if (ms < start || me > end) return err({ kind: "split", domain, start, end });
      hits.push(s);
    }
    if (hits.length > 0) {
      this.beginWrite();
      for (const s of hits) f64[layout.mappingBase + s * MAPPING_WORDS + 4] = 0;
      this.endWrite();
      for (const s of hits) this.freeSlots.push(s);
      d.mappings -= hits.length;
      this.markDirty();
    }
    return ok(hits.length);
  }

  /** The live mappings of `domain`, sorted by IOVA (tests, metrics). */
  mappings(domain: number): Mapping[] {
    const { f64, layout } = this.views;
    const out: Mapping[] = [];
    for (let s = 0; s < this.views.i32[Hdr.MAP_HIGH]; s++) {
      const w = layout.mappingBase + s * MAPPING_WORDS;
      if (f64[w + 4] === 0 || f64[w] !== domain) continue;
      out.push({
        start: f64[w + 1],
        end: f64[w + 2],
        gpa: f64[w + 3],
        perms: f64[w + 4] & PERM_MASK,
      });
    }
    return out.sort((a, b) => a.start - b.start);
  }

  /** Forget every domain and mapping (device reset: after reset no endpoint is attached). */
  reset(): void {
    const { i32, f64, layout } = this.views;
    this.beginWrite();
    for (let s = 0; s < i32[Hdr.MAP_HIGH]; s++) f64[layout.mappingBase + s * MAPPING_WORDS + 4] = 0;
    for (let e = 0; e < layout.endpoints; e++) {
      i32[layout.endpointBase + 2 * e] = EndpointState.DETACHED;
    }
    i32[Hdr.MAP_HIGH] = 0;
    this.endWrite();
    this.freeSlots.length = 0;
    for (let s = layout.mappings - 1; s >= 0; s--) this.freeSlots.push(s);
    this.domains.clear();
    this.markDirty();
  }

  /**
   * Register a consumer (an IOTLB owner) under `name`: its slot, to hand to `new Iotlb`. It
   * starts acknowledged at the current generation. Throws when every slot is taken.
   */
  registerConsumer(name: string): number {
    const { i32, layout } = this.views;
    for (let c = 0; c < layout.consumers; c++) {
      const w = layout.consumerBase + c * CONSUMER_WORDS;
      if (Atomics.load(i32, w) !== ConsumerState.FREE) continue;
      Atomics.store(i32, w + 1, this.generation);
      Atomics.store(i32, w, ConsumerState.ACTIVE);
      this.names.set(c, name);
      return c;
    }
    throw new RangeError(
      `Cannot register IOTLB consumer "${name}": all ${layout.consumers} slots are taken`,
    );
  }

  /** Free a consumer slot: UNMAP no longer waits for it. */
  unregisterConsumer(slot: number): void {
    const w = this.views.layout.consumerBase + slot * CONSUMER_WORDS;
    Atomics.store(this.views.i32, w, ConsumerState.FREE);
    // Wake a waitFlushed blocked on this slot's ack word.
    Atomics.notify(this.views.i32, w + 1);
    this.names.delete(slot);
  }

  /** The name a consumer slot was registered with. */
  consumerName(slot: number): string {
    return this.names.get(slot) ?? `consumer ${slot}`;
  }

  /** Start an invalidation: bump the generation (publish GEN) and return it. */
  invalidate(): number {
    this.dirty_ = false;
    return (Atomics.add(this.views.i32, Hdr.GEN, 1) + 1) | 0;
  }

  /** Active consumers that have not acknowledged `gen` yet. */
  unacked(gen: number): number[] {
    const { i32, layout } = this.views;
    const out: number[] = [];
    for (let c = 0; c < layout.consumers; c++) {
      const w = layout.consumerBase + c * CONSUMER_WORDS;
      if (Atomics.load(i32, w) !== ConsumerState.ACTIVE) continue;
      if (!reached(Atomics.load(i32, w + 1), gen)) out.push(c);
    }
    return out;
  }

  /**
   * Resolve once every active consumer acknowledged `gen`, or report the first consumer still
   * behind after `timeoutMs`. Waits with `Atomics.waitAsync` (re-checking at least every
   * 50 ms), never blocking the thread.
   */
  async waitFlushed(
    gen: number,
    options: WaitOptions = {},
  ): Promise<Result<void, InvalidationTimeout>> {
    const now = options.now ?? (() => performance.now());
    const timeoutMs = options.timeoutMs ?? 1000;
    const started = now();
    const { i32, layout } = this.views;
    // Bounded: each pass either finds everyone acknowledged or waits until the deadline.
    for (let pass = 0; pass < 1_000_000; pass++) {
      const behind = this.unacked(gen);
      if (behind.length === 0) return OK_VOID;
      const c = behind[0];
      const w = layout.consumerBase + c * CONSUMER_WORDS + 1;
      const acked = Atomics.load(i32, w);
      const left = timeoutMs - (now() - started);
      if (left <= 0) {
        return err({
          kind: "invalidation-timeout",
          consumer: c,
          name: this.consumerName(c),
          acked,
          wanted: gen,
          waitedMs: timeoutMs,
        });
      }
      const r = Atomics.waitAsync(i32, w, acked, left);
      if (r.async) {
        // Deno's waitAsync timeout does not keep the event loop alive: a timer does.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const deadline = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, Math.min(left, 50));
        });
        await Promise.race([r.value, deadline]);
        clearTimeout(timer);
      }
    }
    return OK_VOID;
  }

  private detachUnchecked(domain: number, endpoint: number): void {
    const d = this.domains.get(domain);
    this.beginWrite();
    this.views.i32[this.views.layout.endpointBase + 2 * endpoint] = EndpointState.DETACHED;
    this.endWrite();
    this.markDirty();
    if (!d) return;
    d.endpoints.delete(endpoint);
    if (d.endpoints.size > 0) return;
    // A domain with no endpoint ceases to exist, with its mappings.
    this.unmap(domain, 0, Number.MAX_SAFE_INTEGER);
    this.domains.delete(domain);
  }

  private markDirty(): void {
    this.dirty_ = true;
    this.removals_++;
  }

  // publish SEQ (odd): pairs with the first SEQ load of a walk in table.ts.
  private beginWrite(): void {
    Atomics.add(this.views.i32, Hdr.SEQ, 1);
  }

  // publish SEQ (even): pairs with the second SEQ load of a walk in table.ts.
  private endWrite(): void {
    Atomics.add(this.views.i32, Hdr.SEQ, 1);
  }
}

/**
 * A zeroed buffer for a vIOMMU of `cap` (its owner passes it to `Viommu.create`).
 *
 * @example
 * ```ts
 * import { Viommu, viommuBuffer } from "./viommu.ts";
 * const cap = { mappings: 8, endpoints: 1, consumers: 1, faults: 4 };
 * Viommu.create(cap, viommuBuffer(cap)).views.layout.mappings; // 8
 * ```
 */
export function viommuBuffer(cap: ViommuCapacity): SharedArrayBuffer {
  return new SharedArrayBuffer(viommuLayout(cap).bytes);
}

/**
 * Park consumer `slot` of the vIOMMU in `buffer` because its thread is gone (a vhost-pci peer
 * whose VM crashed or whose guest worker failed): an UNMAP stops waiting for its acknowledgement,
 * as QEMU stops waiting for a vhost backend that disconnected, instead of timing out (1 s) on
 * every invalidation until the peer is back. The peer's next IOTLB on the slot starts empty and
 * makes it active again. Any thread may call it; true when the slot was active.
 *
 * @example
 * ```ts
 * import { parkConsumer, Viommu } from "./viommu.ts";
 * const v = Viommu.create({ mappings: 8, endpoints: 1, consumers: 2, faults: 4 });
 * const slot = v.registerConsumer("b:eth0");
 * parkConsumer(v.buffer, slot); // true: v.unacked(v.invalidate()) leaves it out
 * ```
 */
export function parkConsumer(buffer: SharedArrayBuffer, slot: number): boolean {
  const { i32, layout } = openViews(buffer);
  if (!Number.isInteger(slot) || slot < 0 || slot >= layout.consumers) return false;
  const w = layout.consumerBase + slot * CONSUMER_WORDS;
  const was = Atomics.compareExchange(i32, w, ConsumerState.ACTIVE, ConsumerState.PARKED);
  // Wake a waitFlushed blocked on this slot's ack word: it re-reads the states.
  Atomics.notify(i32, w + 1);
  return was === ConsumerState.ACTIVE;
}
