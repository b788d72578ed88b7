/**
 * The guest's DMA modes over the virtio-iommu driver, as a user of Linux and DPDK knows them,
 * for a device driver (the net driver, later) to call:
 * - `strict`: `map` before a buffer is posted, `unmap` as soon as it completes (each UNMAP is
 *   sent at the next `flush`, one invalidation each);
 * - `lazy`: `unmap` only queues the range; `flush` sends the queued UNMAPs together once
 *   `lazyBatch` of them wait (or when forced), so the device invalidates once per batch
 *   (Linux's flush queue); ranges that follow on in IOVA space go as one UNMAP (it removes
 *   every mapping inside, none is cut). The IOVA stays reserved until its UNMAP completed;
 * - `static`: the whole buffer pool is mapped once at `setup`; `map` is arithmetic, `unmap`
 *   does nothing (DPDK's virtio PMD, the "static vIOMMU map");
 * - `passthrough`: the endpoint is attached in bypass; IOVA = GPA.
 *
 * Runs on the guest worker. IOVAs come from a page bitmap over `[iovaBase, iovaBase +
 * iovaPages × 4096)`.
 *
 * @module
 */

import { PAGE_SIZE } from "../memory/memory.ts";
import { err, ok, OK_VOID, type Result } from "../base/result.ts";
import { IommuStatus, ReqType } from "./config.ts";
import type { IommuCompletion, IommuDriver, IommuDriverError } from "./driver.ts";

/** A DMA mode. */
export type DmaMode = "strict" | "lazy" | "static" | "passthrough";

/** Options of an `IommuMapper`. */
export interface IommuMapperOptions {
  /** The virtio-iommu driver. */
  driver: IommuDriver;
  /** The mode. */
  mode: DmaMode;
  /** Domain ID for the endpoint. */
  domain: number;
  /** The endpoint (the device whose DMA this maps). */
  endpoint: number;
  /** First IOVA handed out (page aligned). */
  iovaBase: number;
  /** IOVA pages available (strict, lazy). */
  iovaPages: number;
  /** The buffer pool (static: mapped once at `iovaBase`; page aligned). */
  pool?: { gpa: number; len: number };
  /** Lazy: queued UNMAPs that trigger a flush (default 16). */
  lazyBatch?: number;
}

/** Why the mapper could not do what was asked. */
export type MapperError =
  | IommuDriverError
  /** No free IOVA range large enough. */
  | { kind: "iova-exhausted"; pages: number }
  /** Static mode: the buffer is not inside the mapped pool. */
  | { kind: "outside-pool"; gpa: number; len: number }
  /** `unmap` of an IOVA that `map` did not return. */
  | { kind: "not-mapped"; iova: number };

/**
 * DMA mapping for one endpoint in one mode.
 *
 * @example
 * ```ts
 * import type { IommuDriver } from "./driver.ts";
 * import { IommuMapper } from "./dma_modes.ts";
 * function post(driver: IommuDriver, gpa: number, kick: () => void): number {
 *   const m = new IommuMapper({ driver, mode: "strict", domain: 1, endpoint: 0, iovaBase: 1 << 30, iovaPages: 256 });
 *   m.setup();
 *   const r = m.map(gpa, 1514, 1); // the IOVA to put in the descriptor
 *   if (m.flush()) kick();
 *   return r.ok ? r.value : -1;
 * }
 * ```
 */
export class IommuMapper {
  /** The mode. */
  readonly mode: DmaMode;

  private readonly d: IommuDriver;
  private readonly opts: IommuMapperOptions;
  private readonly used: Uint8Array;
  private readonly runs = new Map<number, number>();
  /** UNMAP request token → the runs (first IOVA page index) it removes. */
  private readonly unmapTokens = new Map<number, number[]>();
  private readonly mapTokens = new Set<number>();
  private readonly queued: number[] = [];
  private cursor = 0;
  private failed_ = 0;
  private failedMaps_ = 0;

  /** A mapper; nothing is sent before `setup`. */
  constructor(opts: IommuMapperOptions) {
    this.mode = opts.mode;
    this.d = opts.driver;
    this.opts = opts;
    this.used = new Uint8Array(opts.mode === "strict" || opts.mode === "lazy" ? opts.iovaPages : 0);
  }

  /** MAP requests sent and not completed: post buffers only when 0. */
  get pendingMaps(): number {
    return this.mapTokens.size;
  }

  /** UNMAPs queued by lazy mode and not yet sent. */
  get queuedUnmaps(): number {
    return this.queued.length;
  }

  /** Requests the device refused (the status is in the completion). */
  get failed(): number {
    return this.failed_;
  }

  /** MAP requests the device refused (a buffer behind one must never be posted). */
  get failedMaps(): number {
    return this.failedMaps_;
  }

  /** Stage ATTACH (bypass for passthrough) and, for static, the MAP of the whole pool. */
  setup(): Result<void, MapperError> {
    const { domain, endpoint } = this.opts;
    const a = this.d.attach(domain, endpoint, { bypass: this.mode === "passthrough" });
    if (!a.ok) return a;
    if (this.mode === "static" && this.opts.pool) {
      const { gpa, len } = this.opts.pool;
      const pages = Math.ceil(len / PAGE_SIZE);
      const r = this.d.map(domain, {
        start: this.opts.iovaBase,
        end: this.opts.iovaBase + pages * PAGE_SIZE - 1,
        gpa,
        flags: 3,
      });
      if (!r.ok) return r;
      this.mapTokens.add(r.value);
    }
    return OK_VOID;
  }

  /**
   * True when `map` is arithmetic and `unmap` nothing (`static`, `passthrough`): a buffer is
   * usable at once, with no request to wait for (see {@linkcode IommuMapper.mapNow}).
   */
  get immediate(): boolean {
    return this.mode === "static" || this.mode === "passthrough";
  }

  /**
   * `map` without a result object, for the data path of an {@linkcode IommuMapper.immediate}
   * mapper: the IOVA of `[gpa, gpa + len)`, or -1 when it lies outside the static pool (or the
   * mode needs a MAP request).
   */
  mapNow(gpa: number, len: number): number {
    if (this.mode === "passthrough") return gpa;
    const pool = this.opts.pool;
    if (this.mode !== "static" || !pool || gpa < pool.gpa || gpa + len > pool.gpa + pool.len) {
      return -1;
    }
    return this.opts.iovaBase + (gpa - pool.gpa);
  }

  /** The IOVA for `[gpa, gpa + len)` with `perms` (READ 1, WRITE 2), staging a MAP if needed. */
  map(gpa: number, len: number, perms: number): Result<number, MapperError> {
    if (this.immediate) {
      const iova = this.mapNow(gpa, len);
      return iova >= 0 ? ok(iova) : err({ kind: "outside-pool", gpa, len });
    }
    const first = Math.floor(gpa / PAGE_SIZE);
    const pages = Math.max(1, Math.ceil((gpa + len) / PAGE_SIZE) - first);
    const idx = this.allocIova(pages);
    if (idx < 0) return err({ kind: "iova-exhausted", pages });
    const start = this.opts.iovaBase + idx * PAGE_SIZE;
    const r = this.d.map(this.opts.domain, {
      start,
      end: start + pages * PAGE_SIZE - 1,
      gpa: first * PAGE_SIZE,
      flags: perms,
    });
    if (!r.ok) {
      this.freeIova(idx, pages);
      return r;
    }
    this.runs.set(idx, pages);
    this.mapTokens.add(r.value);
    return ok(start + (gpa - first * PAGE_SIZE));
  }

  /** Give back an IOVA from `map`: strict stages an UNMAP, lazy queues it, others do nothing. */
  unmap(iova: number): Result<void, MapperError> {
    if (this.mode === "static" || this.mode === "passthrough") return OK_VOID;
    const idx = Math.floor((iova - this.opts.iovaBase) / PAGE_SIZE);
    if (!this.runs.has(idx)) return err({ kind: "not-mapped", iova });
    if (this.mode === "lazy") {
      this.queued.push(idx);
      return OK_VOID;
    }
    return this.sendUnmap([idx]);
  }

  /**
   * Publish staged requests (lazy: first send the queued UNMAPs if `lazyBatch` wait, or if
   * `force`); true when the device wants a kick.
   */
  flush(force = false): boolean {
    if (this.queued.length > 0 && (force || this.queued.length >= (this.opts.lazyBatch ?? 16))) {
      // Runs that follow on in IOVA space go as one UNMAP.
      const q = this.queued.sort((a, b) => a - b);
      let sent = 0;
      while (sent < q.length) {
        let n = 1;
        while (
          sent + n < q.length &&
          q[sent + n - 1] + (this.runs.get(q[sent + n - 1]) ?? 1) === q[sent + n]
        ) n++;
        if (!this.sendUnmap(q.slice(sent, sent + n)).ok) break; // no slot now: the rest go next time
        sent += n;
      }
      q.splice(0, sent);
    }
    return this.d.publish();
  }

  /**
   * Account for completions from `IommuDriver.collect()`: release IOVAs whose UNMAP is done.
   * Completions of requests this mapper did not send are ignored.
   */
  complete(done: readonly IommuCompletion[]): void {
    for (const c of done) {
      const runs = this.unmapTokens.get(c.token);
      // Another endpoint's request (one driver serves several mappers): not ours to count.
      if (!this.mapTokens.has(c.token) && runs === undefined) continue;
      if (c.status !== IommuStatus.OK && c.type !== ReqType.PROBE) this.failed_++;
      if (c.status !== IommuStatus.OK && c.type === ReqType.MAP) this.failedMaps_++;
      this.mapTokens.delete(c.token);
      if (runs === undefined) continue;
      this.unmapTokens.delete(c.token);
      // A failed UNMAP keeps its IOVAs reserved: the device may still translate them.
      if (c.status !== IommuStatus.OK) continue;
      for (const idx of runs) {
        const pages = this.runs.get(idx) ?? 0;
        this.runs.delete(idx);
        this.freeIova(idx, pages);
      }
    }
  }

  /** One UNMAP of `runs` (ascending, each following on the previous in IOVA space). */
  private sendUnmap(runs: number[]): Result<void, MapperError> {
    const first = runs[0], last = runs[runs.length - 1];
    const start = this.opts.iovaBase + first * PAGE_SIZE;
    const end = this.opts.iovaBase + (last + (this.runs.get(last) ?? 1)) * PAGE_SIZE - 1;
    const r = this.d.unmap(this.opts.domain, start, end);
    if (!r.ok) return r;
    this.unmapTokens.set(r.value, runs);
    return OK_VOID;
  }

  private allocIova(pages: number): number {
    const n = this.used.length;
    for (let tried = 0; tried < n; tried++) {
      const at = (this.cursor + tried) % n;
      if (at + pages > n) continue;
      let free = true;
      for (let p = 0; p < pages && free; p++) free = this.used[at + p] === 0;
      if (!free) continue;
      this.used.fill(1, at, at + pages);
      this.cursor = (at + pages) % n;
      return at;
    }
    return -1;
  }

  private freeIova(idx: number, pages: number): void {
    this.used.fill(0, idx, idx + pages);
  }
}
