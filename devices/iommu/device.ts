/**
 * The virtio-iommu device model (virtio 1.2 §5.13), run by the thread that owns the vIOMMU:
 * requestq (0) carries ATTACH, DETACH, MAP, UNMAP and PROBE from the guest driver; eventq (1)
 * carries fault reports to it. The model applies requests to the `Viommu` tables and reports
 * the faults that consumers logged.
 *
 * `service(now)` is the whole loop body: finish a pending invalidation, pop and handle requests,
 * report faults, publish. A request that removed translations (UNMAP, DETACH, a moving ATTACH)
 * is written but not completed until every consumer acknowledged the invalidation (viommu.ts);
 * meanwhile no further request is popped, so requests complete in order. Removals found in one
 * run share one invalidation (a lazy driver's batch costs one handshake).
 *
 * Postures (reliability.md D6, D7; QEMU's choices where the spec says "should"):
 * - no room for the head or the tail, or a buffer out of reach (A13): returned unwritten, used
 *   length 0;
 * - unknown type, or a feature-gated request without its feature: S_UNSUPP;
 * - wrong request size, non-zero ATTACH/DETACH reserved bytes, unknown flags, overlap, bypass
 *   domain, DETACH from another domain: S_INVAL;
 * - unaligned range, outside input_range or guest memory, domain outside domain_range, UNMAP
 *   splitting a mapping: S_RANGE; unknown domain or endpoint: S_NOENT; table full: S_NOMEM;
 * - a consumer that does not acknowledge within `invalidateTimeoutMs`: S_IOERR (counted, and
 *   `lastTimeout` names it); nothing throws on guest input.
 * - no event buffer for a fault: dropped and counted (D7).
 * - a malformed ring on either queue (a ring error: an avail index that jumped, a head out of
 *   range, a loop; reliability.md A1 to A17): the device stops (`fault`), counted
 *   (`queueErrors`), and serves nothing, not even fault reports, until it is reset; its worker sets
 *   DEVICE_NEEDS_RESET with a configuration interrupt (G13) and logs `device-error`. The removals
 *   the stopped run applied are still invalidated: no consumer keeps what it cached of them.
 *
 * @module
 */

import type { GuestMemory } from "../memory/memory.ts";
import { err, OK_VOID, type Result } from "../base/result.ts";
import type { DescriptorChain } from "../virtio/chain.ts";
import { VIRTIO_ID_IOMMU } from "../virtio/constants.ts";
import type { ActivateContext, ActivateError, VirtioDeviceModel } from "../virtio/device_model.ts";
import { type FeatureSet, featureSet, hasFeature, ringOfferBits } from "../virtio/features.ts";
import type { DeviceQueue } from "../virtio/queue.ts";
import { gatherSegments, scatterSegments } from "../virtio/segments.ts";
import {
  ATTACH_F_BYPASS,
  encodeIommuConfig,
  encodeProbe,
  FAULT_REPORT_SIZE,
  FaultFlag,
  granuleOf,
  HEAD_SIZE,
  type IommuConfig,
  IommuFeature,
  IommuStatus,
  Le,
  MapFlag,
  REQ_READABLE,
  ReqType,
  type ReservedRegion,
  TAIL_SIZE,
} from "./config.ts";
import { IOVA_LIMIT } from "./dma.ts";
import type { RingError } from "../virtio/errors.ts";
import type {
  InvalidationTimeout,
  IommuDeviceFault,
  IommuQueueName,
  TableError,
} from "./errors.ts";
import { CONSUMER_WORDS, Hdr } from "./layout.ts";
import { readFaults } from "./faults.ts";
import { IOMMU_COUNTER_COUNT, IommuCounter } from "./metrics.ts";
import type { Viommu } from "./viommu.ts";

/** Construction options of an `IommuDevice`. */
export interface IommuDeviceOptions {
  /** The vIOMMU the requests program. */
  viommu: Viommu;
  /** Guest memory (requests are not translated: the IOMMU device itself is not behind one). */
  memory: GuestMemory;
  /** QueueSizeMax of both queues. */
  queueMaxSize: number;
  /** Ring features to offer. */
  ring: { packed: boolean; eventIdx: boolean; indirect: boolean };
  /** `IOMMU_COUNTER_COUNT` words (shared memory). */
  counters?: Float64Array;
  /** PROBE property bytes (default 512). */
  probeSize?: number;
  /** Reserved regions every PROBE reports (RESV_MEM). */
  reserved?: readonly ReservedRegion[];
  /** Domain IDs offered (default 1…65535). */
  domainRange?: readonly [number, number];
  /** How long an invalidation may wait for consumers, in ms (default 1000). */
  invalidateTimeoutMs?: number;
}

/** What one `service` call did. The object is reused. */
export interface IommuServiceOutcome {
  /** Requests completed (made used). */
  completed: number;
  /** Raise the requestq interrupt. */
  interruptRequest: boolean;
  /** Raise the eventq interrupt. */
  interruptEvent: boolean;
  /** An invalidation is waiting for consumers: call again (after `Viommu.waitFlushed`). */
  waiting: boolean;
}

const REQ = 0;
const EVT = 1;
const PAGE_MASK_4K_TO_LIMIT = IOVA_LIMIT - 4096; // every power of two from 4 KiB to 2^47

/**
 * The virtio-iommu device model.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { IommuDevice } from "./device.ts";
 * import { Viommu } from "./viommu.ts";
 * const viommu = Viommu.create({ mappings: 256, endpoints: 4, consumers: 4, faults: 32 });
 * const dev = new IommuDevice({ viommu, memory: GuestMemory.create(1 << 20), queueMaxSize: 64,
 *   ring: { packed: false, eventIdx: true, indirect: false } });
 * dev.readConfig(32, 4); // probe_size: 512
 * ```
 */
export class IommuDevice implements VirtioDeviceModel {
  /** virtio-iommu. */
  readonly deviceId: number = VIRTIO_ID_IOMMU;
  /** requestq and eventq. */
  readonly queueCount = 2;
  /** QueueSizeMax. */
  readonly queueMaxSize: number;
  /** VERSION_1, INPUT_RANGE, DOMAIN_RANGE, MAP_UNMAP, PROBE, BYPASS_CONFIG and the ring bits. */
  readonly offered: FeatureSet;
  /** The 40-byte config space. */
  readonly configSize = 40;
  /** The config values. */
  readonly config: IommuConfig;
  /** Counters (`IommuCounter`). */
  readonly counters: Float64Array;

  private readonly viommu: Viommu;
  private readonly u8: Uint8Array;
  private readonly memSize: number;
  private configBytes: Uint8Array;
  private readonly granule: number;
  private readonly reserved: readonly ReservedRegion[];
  private readonly timeoutMs: number;
  private readonly req = new Uint8Array(128);
  private readonly tail = new Uint8Array(TAIL_SIZE);
  private readonly probe: Uint8Array;
  /** `apply` encoded PROBE properties into `probe` for the request in hand (`writeReply`). */
  private probeDue = false;
  private readonly report = new Uint8Array(FAULT_REPORT_SIZE);
  private readonly out: IommuServiceOutcome = {
    completed: 0,
    interruptRequest: false,
    interruptEvent: false,
    waiting: false,
  };
  private requestq: DeviceQueue | null = null;
  private eventq: DeviceQueue | null = null;
  private negotiated: FeatureSet = 0n;
  private readonly held: Array<{ chain: DescriptorChain; written: number; status: number }> = [];
  private heldGen = 0;
  private heldDeadline = 0;
  private waiting_ = false;
  private readonly faultCursor: number[];
  private lastTimeout_: InvalidationTimeout | null = null;
  private fault_: IommuDeviceFault | null = null;

  /** A device in reset state. */
  constructor(opts: IommuDeviceOptions) {
    this.viommu = opts.viommu;
    this.u8 = opts.memory.u8;
    this.memSize = opts.memory.size;
    this.queueMaxSize = opts.queueMaxSize;
    this.counters = opts.counters ?? new Float64Array(IOMMU_COUNTER_COUNT);
    if (this.counters.length < IOMMU_COUNTER_COUNT) {
      throw new RangeError(
        `Cannot create the IOMMU device: counters need ${IOMMU_COUNTER_COUNT} words, got ${this.counters.length}`,
      );
    }
    const [domainStart, domainEnd] = opts.domainRange ?? [1, 65535];
    this.config = {
      pageSizeMask: PAGE_MASK_4K_TO_LIMIT,
      inputStart: 0,
      inputEnd: IOVA_LIMIT - 1,
      domainStart,
      domainEnd,
      probeSize: opts.probeSize ?? 512,
      bypass: false,
    };
    this.configBytes = encodeIommuConfig(this.config);
    this.granule = granuleOf(this.config.pageSizeMask);
    this.reserved = opts.reserved ?? [];
    this.timeoutMs = opts.invalidateTimeoutMs ?? 1000;
    this.probe = new Uint8Array(this.config.probeSize);
    this.faultCursor = new Array(this.viommu.views.layout.consumers).fill(0);
    const bits = [
      ...ringOfferBits(opts.ring),
      IommuFeature.INPUT_RANGE,
      IommuFeature.DOMAIN_RANGE,
      IommuFeature.MAP_UNMAP,
      IommuFeature.PROBE,
      IommuFeature.BYPASS_CONFIG,
    ];
    this.offered = featureSet(bits);
  }

  /** The last invalidation a consumer did not acknowledge in time, or null. */
  get lastTimeout(): InvalidationTimeout | null {
    return this.lastTimeout_;
  }

  /**
   * The ring error that stopped the device (a queue the guest broke), or null. While set,
   * `service` does nothing: the device waits for its reset (DEVICE_NEEDS_RESET).
   */
  get fault(): IommuDeviceFault | null {
    return this.fault_;
  }

  /** The generation a held request waits for, or null. */
  get waitingFor(): number | null {
    return this.waiting_ ? this.heldGen : null;
  }

  /**
   * Whether a consumer logged a fault that `service` has not reported yet: the worker must not
   * sleep on it (the eventq's buffers are the driver's supply for reports, not work).
   */
  faultsPending(): boolean {
    if (this.fault_ !== null) return false; // stopped: nothing is reported until the reset
    const { i32, layout } = this.viommu.views;
    for (let c = 0; c < this.faultCursor.length; c++) {
      // observe faultHead: pairs with publish faultHead in recordFault.
      const head = Atomics.load(i32, layout.consumerBase + c * CONSUMER_WORDS + 2);
      if (head !== this.faultCursor[c]) return true;
    }
    return false;
  }

  /** Read config space little-endian; out of range reads 0. */
  readConfig(offset: number, size: 1 | 2 | 4): number {
    if (!Number.isInteger(offset) || offset < 0 || offset + size > this.configBytes.length) {
      return 0;
    }
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.configBytes[offset + i];
    return v;
  }

  /** The driver wrote config `bypass` (BYPASS_CONFIG): unattached endpoints bypass or fault. */
  setBypass(on: boolean): void {
    this.config.bypass = on;
    this.configBytes = encodeIommuConfig(this.config);
    this.viommu.setBypassUnattached(on);
    if (this.viommu.dirty) this.viommu.invalidate();
  }

  /**
   * After a restore (a replaced device worker, `MmioDeviceTransport.restore`): take the requestq
   * chains the previous worker popped and did not complete, in fetch order. Between two passes
   * the only such chains are requests held for an invalidation (an UNMAP or DETACH, and the
   * requests after it): each was applied to the tables, which live in shared memory and stay,
   * and its status was written into its tail. They are held again, not applied a second time;
   * the next `service` starts a fresh invalidation (the new worker cannot know how far the old
   * one got) and completes them, in order, with the status their tails hold. (The eventq has no
   * chain in flight between passes: a fault report is popped and pushed at once.)
   */
  adoptInFlight(requests: ReadonlyArray<DescriptorChain>): void {
    for (const chain of requests) {
      if (chain.writableBytes < TAIL_SIZE) {
        // Not a request the old worker could have held (it completes those at once): finish it.
        if (this.requestq?.push(chain, 0).ok) this.out.completed++;
        continue;
      }
      gatherSegments(
        this.u8,
        chain.writable,
        chain.writableBytes - TAIL_SIZE,
        this.tail,
        TAIL_SIZE,
      );
      this.held.push({ chain, written: chain.writableBytes, status: this.tail[0] });
      this.counters[IommuCounter.adopted]++;
    }
  }

  /** Start using the queues (both are needed). */
  activate(ctx: ActivateContext): Result<void, ActivateError> {
    if (!ctx.queues[REQ]) return err({ kind: "missing-queue", queue: REQ });
    if (!ctx.queues[EVT]) return err({ kind: "missing-queue", queue: EVT });
    this.requestq = ctx.queues[REQ];
    this.eventq = ctx.queues[EVT];
    this.negotiated = ctx.negotiated;
    this.fault_ = null;
    // Faults logged before activation are not the driver's business.
    for (let c = 0; c < this.faultCursor.length; c++) {
      this.faultCursor[c] = readFaults(this.viommu.views, c, 0).next;
    }
    return OK_VOID;
  }

  /**
   * Forget queues, domains and mappings (after reset no endpoint is attached, §5.13.5), and start
   * the reset's invalidation: every consumer (a device worker's IOTLB, a vhost-pci peer's in
   * another VM) must drop what it cached of the old tables before the device takes a request
   * again, so that no stale entry outlives the reset into the new driver's mappings (a consumer
   * that does not acknowledge within `invalidateTimeoutMs` is reported, as for an UNMAP; when no
   * consumer can hold anything, tables empty and every consumer acknowledged, nobody is waited
   * for). Used by the driver's reset (status 0) and by a device worker at power-on over tables a
   * previous owner used (a VM reboot, lab/host/kinds/iommu.ts). Consumer slots and their counters
   * stay.
   */
  reset(): void {
    this.requestq = null;
    this.eventq = null;
    this.negotiated = 0n;
    this.held.length = 0;
    this.fault_ = null;
    // Whether a consumer may cache a translation: something is attached (or in bypass), a
    // removal is not invalidated yet, or a consumer is behind the last invalidation. If none,
    // no IOTLB holds anything (a first boot's reset): nobody to wait for, a peer not up included.
    const v = this.viommu;
    const cached = v.domainList().length > 0 || v.dirty ||
      Atomics.load(v.views.i32, Hdr.BYPASS_UNATTACHED) !== 0 ||
      v.unacked(v.generation).length > 0;
    v.reset();
    this.config.bypass = false;
    this.configBytes = encodeIommuConfig(this.config);
    v.setBypassUnattached(false);
    this.heldGen = v.invalidate();
    if (!cached) {
      this.waiting_ = false;
      return;
    }
    this.counters[IommuCounter.invalidations]++;
    // The deadline starts at the first service that looks (reset has no clock).
    this.heldDeadline = NaN;
    this.waiting_ = true;
  }

  /**
   * One run: finish a pending invalidation (or time it out at `now`, in ms), handle up to
   * `budget` requests, report faults, publish. `now` may be a clock, read only when an
   * invalidation waits or starts: a device worker's pass with nothing to do reads no clock
   * (`performance.now()` is a system call here, and this runs on every pass).
   */
  service(now: number | (() => number), budget = 64): IommuServiceOutcome {
    this.nowArg = now;
    this.nowValue = NaN;
    const o = this.out;
    o.completed = 0;
    o.interruptRequest = false;
    o.interruptEvent = false;
    if (this.fault_ !== null) {
      // Stopped on a broken queue: inert until the driver resets the device (G13).
      o.waiting = false;
      return o;
    }
    const rq = this.requestq;
    if (rq && !rq.broken) {
      if (this.waiting_) this.finishHeld(this.now());
      for (let n = 0; !this.waiting_ && n < budget; n++) {
        const r = rq.pop();
        if (!r.ok) {
          if (r.error.fatal) {
            // A malformed ring (a guest bug): the device stops and asks for a reset.
            this.breakOn(r.error, "requestq");
            break;
          }
          // A chain the device cannot walk (a buffer out of reach, A13; over 2^32 bytes, A16):
          // returned unused, as a request with no room for its head or tail. It stopped the loop
          // and stayed in flight for good.
          this.counters[IommuCounter.requests]++;
          if (rq.push(r.error.chain, 0).ok) {
            this.counters[IommuCounter.unparsable]++;
            o.completed++;
          }
          continue;
        }
        if (r.value === null) break;
        this.handle(r.value);
        this.counters[IommuCounter.requests]++;
      }
      if (!this.waiting_ && this.held.length > 0 && this.fault_ === null) {
        this.heldGen = this.viommu.invalidate();
        this.counters[IommuCounter.invalidations]++;
        this.heldDeadline = this.now() + this.timeoutMs;
        this.waiting_ = true;
        this.finishHeld(this.now());
      }
      rq.publish();
      o.interruptRequest = o.completed > 0 && rq.needsInterrupt();
    }
    if (this.fault_ === null) this.reportFaults();
    o.waiting = this.waiting_;
    return o;
  }

  /**
   * A ring error broke `queue`: stop (`fault`) until the reset. The requests held for an
   * invalidation are never completed (the queue takes no completion; the driver's reset takes
   * their buffers back), but what they removed from the tables stays removed: the invalidation
   * is started all the same (not waited for), so that no consumer keeps translating through a
   * removed mapping while the device waits for its reset.
   */
  private breakOn(e: RingError & { fatal: true }, queue: IommuQueueName): void {
    if (this.fault_ !== null) return;
    const { fatal: _fatal, ...cause } = e;
    this.fault_ = { kind: "queue-broken", queue, cause: cause as RingError };
    this.counters[IommuCounter.queueErrors]++;
    this.held.length = 0;
    this.waiting_ = false;
    if (this.viommu.dirty) {
      this.viommu.invalidate();
      this.counters[IommuCounter.invalidations]++;
    }
  }

  private nowArg: number | (() => number) = 0;
  private nowValue = NaN;

  /** `service`'s time, ms: its clock read once, at the first need. */
  private now(): number {
    if (Number.isNaN(this.nowValue)) {
      const a = this.nowArg;
      this.nowValue = typeof a === "number" ? a : a();
    }
    return this.nowValue;
  }

  private finishHeld(now: number): void {
    if (Number.isNaN(this.heldDeadline)) this.heldDeadline = now + this.timeoutMs;
    const behind = this.viommu.unacked(this.heldGen);
    if (behind.length > 0 && now < this.heldDeadline) return;
    if (behind.length > 0) {
      const c = behind[0];
      this.lastTimeout_ = {
        kind: "invalidation-timeout",
        consumer: c,
        name: this.viommu.consumerName(c),
        acked: Atomics.load(
          this.viommu.views.i32,
          this.viommu.views.layout.consumerBase + 4 * c + 1,
        ),
        wanted: this.heldGen,
        waitedMs: this.timeoutMs,
      };
      this.counters[IommuCounter.invalidationTimeouts]++;
    }
    for (const h of this.held) {
      // Staged before the failure is written over the status the tail holds (see `handle`).
      const staged = this.complete(
        h.chain,
        h.written,
        behind.length > 0 ? IommuStatus.IOERR : h.status,
      );
      if (staged && behind.length > 0) this.writeTail(h.chain, IommuStatus.IOERR);
    }
    this.held.length = 0;
    this.waiting_ = false;
  }

  /** Handle one request chain: complete it, or hold it for the invalidation. */
  private handle(chain: DescriptorChain): void {
    if (chain.readableBytes < HEAD_SIZE || chain.writableBytes < TAIL_SIZE) {
      if (this.requestq!.push(chain, 0).ok) {
        this.counters[IommuCounter.unparsable]++;
        this.out.completed++;
      }
      return;
    }
    const req = this.req;
    const rlen = Math.min(chain.readableBytes, req.length);
    gatherSegments(this.u8, chain.readable, 0, req, rlen);
    const type = req[0];
    const want = REQ_READABLE.get(type);
    const probeLen = type === ReqType.PROBE ? this.config.probeSize : 0;
    let status: number;
    if (want === undefined) status = IommuStatus.UNSUPP;
    else if (chain.readableBytes !== want || chain.writableBytes !== probeLen + TAIL_SIZE) {
      status = IommuStatus.INVAL;
    } else {
      const before = this.viommu.removals;
      status = this.apply(type, req);
      // A request after a held one is held too: requests complete in order.
      if (this.held.length > 0 || this.viommu.removals !== before) {
        // Written now (a restarted worker reads the status back: `adoptInFlight`), completed
        // after the handshake.
        this.writeReply(chain, status);
        this.held.push({ chain, written: chain.writableBytes, status });
        return;
      }
    }
    // Staged before it is written: a completion the queue refuses (a broken queue, or a chain not
    // in flight) is of a buffer no longer the device's to write, so it gets neither its PROBE
    // properties nor its status, and is not counted. (The request itself was applied: whether it
    // must wait for an invalidation is known only then. It is what the driver asked for, and
    // `service` popped it from a working queue just now, untouched since: only a queue that lost
    // track of its chains refuses it. A queue broken by a ring error stops the device, which
    // waits for its reset: `breakOn`.)
    // The tail is the last 4 bytes: everything up to it counts as written.
    if (this.complete(chain, chain.writableBytes, status)) this.writeReply(chain, status);
    else this.probeDue = false;
  }

  /** Write a request's reply: the PROBE properties `apply` prepared (if any), then the tail. */
  private writeReply(chain: DescriptorChain, status: number): void {
    if (this.probeDue) {
      this.probeDue = false;
      scatterSegments(this.u8, chain.writable, 0, this.probe, 0, this.probe.length);
    }
    this.writeTail(chain, status);
  }

  private apply(type: number, req: Uint8Array): number {
    const has = (bit: number) => hasFeature(this.negotiated, bit);
    switch (type) {
      case ReqType.ATTACH: {
        const domain = Le.get32(req, 4), endpoint = Le.get32(req, 8), flags = Le.get32(req, 12);
        if (Le.get32(req, 16) !== 0) return IommuStatus.INVAL;
        const known = has(IommuFeature.BYPASS_CONFIG) ? ATTACH_F_BYPASS : 0;
        if ((flags & ~known) !== 0) return IommuStatus.INVAL;
        if (!this.inDomainRange(domain)) return IommuStatus.RANGE;
        const r = this.viommu.attach(domain, endpoint, { bypass: (flags & ATTACH_F_BYPASS) !== 0 });
        return r.ok ? IommuStatus.OK : tableStatus(r.error);
      }
      case ReqType.DETACH: {
        const domain = Le.get32(req, 4), endpoint = Le.get32(req, 8);
        if (Le.get32(req, 12) !== 0 || Le.get32(req, 16) !== 0) return IommuStatus.INVAL;
        const r = this.viommu.detach(domain, endpoint);
        return r.ok ? IommuStatus.OK : tableStatus(r.error);
      }
      case ReqType.MAP: {
        if (!has(IommuFeature.MAP_UNMAP)) return IommuStatus.UNSUPP;
        const domain = Le.get32(req, 4), start = Le.get64(req, 8), end = Le.get64(req, 16);
        const gpa = Le.get64(req, 24), flags = Le.get32(req, 32);
        if ((flags & ~(MapFlag.READ | MapFlag.WRITE)) !== 0) return IommuStatus.INVAL;
        if (end < start) return IommuStatus.INVAL;
        const g = this.granule;
        if (start % g !== 0 || gpa % g !== 0 || (end + 1) % g !== 0) return IommuStatus.RANGE;
        if (start < this.config.inputStart || end > this.config.inputEnd) return IommuStatus.RANGE;
        if (gpa + (end - start) + 1 > this.memSize) return IommuStatus.RANGE;
        const r = this.viommu.map(domain, { start, end, gpa, perms: flags });
        if (r.ok) this.counters[IommuCounter.maps]++;
        return r.ok ? IommuStatus.OK : tableStatus(r.error);
      }
      case ReqType.UNMAP: {
        if (!has(IommuFeature.MAP_UNMAP)) return IommuStatus.UNSUPP;
        const domain = Le.get32(req, 4), start = Le.get64(req, 8), end = Le.get64(req, 16);
        if (end < start) return IommuStatus.INVAL;
        const r = this.viommu.unmap(domain, start, end);
        if (r.ok) this.counters[IommuCounter.unmapped] += r.value;
        return r.ok ? IommuStatus.OK : tableStatus(r.error);
      }
      case ReqType.PROBE: {
        if (!has(IommuFeature.PROBE)) return IommuStatus.UNSUPP;
        const endpoint = Le.get32(req, 4);
        if (!this.viommu.knownEndpoint(endpoint)) return IommuStatus.NOENT;
        encodeProbe(this.probe, this.reserved);
        this.probeDue = true; // written with the tail (`writeReply`)
        return IommuStatus.OK;
      }
    }
    return IommuStatus.UNSUPP;
  }

  private inDomainRange(domain: number): boolean {
    return !hasFeature(this.negotiated, IommuFeature.DOMAIN_RANGE) ||
      (domain >= this.config.domainStart && domain <= this.config.domainEnd);
  }

  private writeTail(chain: DescriptorChain, status: number): void {
    this.tail[0] = status;
    scatterSegments(
      this.u8,
      chain.writable,
      chain.writableBytes - TAIL_SIZE,
      this.tail,
      0,
      TAIL_SIZE,
    );
  }

  /** Stage a request's completion, counted; false when the queue refused it (not counted). */
  private complete(chain: DescriptorChain, written: number, status: number): boolean {
    if (!this.requestq!.push(chain, written).ok) return false;
    this.counters[status === IommuStatus.OK ? IommuCounter.ok : IommuCounter.refused]++;
    this.out.completed++;
    return true;
  }

  /** Turn every consumer's new fault-log entries into fault reports on the eventq. */
  private reportFaults(): void {
    const eq = this.eventq;
    const views = this.viommu.views;
    let pushed = 0;
    for (let c = 0; c < this.faultCursor.length; c++) {
      // Nothing new in this consumer's log (every pass but a fault's): no read, no allocation.
      // observe faultHead: pairs with publish faultHead in recordFault.
      const head = Atomics.load(views.i32, views.layout.consumerBase + c * CONSUMER_WORDS + 2);
      if (head === this.faultCursor[c]) continue;
      const log = readFaults(views, c, this.faultCursor[c]);
      this.faultCursor[c] = log.next;
      this.counters[IommuCounter.faultReportsDropped] += log.lost;
      for (const f of log.records) {
        const r = eq && !eq.broken ? eq.pop() : null;
        // A malformed eventq ring (a guest bug): the device stops; this and the rest are dropped.
        if (r && !r.ok && r.error.fatal) this.breakOn(r.error, "eventq");
        if (!r || !r.ok || r.value === null) {
          // A buffer the device cannot reach (A13) is returned unused (it stayed in flight).
          if (r && !r.ok && !r.error.fatal && eq!.push(r.error.chain, 0).ok) pushed++;
          this.counters[IommuCounter.faultReportsDropped]++;
          continue;
        }
        const chain = r.value;
        if (chain.writableBytes < FAULT_REPORT_SIZE) {
          if (eq!.push(chain, 0).ok) pushed++;
          this.counters[IommuCounter.faultReportsDropped]++;
          continue;
        }
        // Staged before it is written: a buffer the queue refuses is not written, and the
        // report is dropped, as for no buffer (D7).
        if (!eq!.push(chain, FAULT_REPORT_SIZE).ok) {
          this.counters[IommuCounter.faultReportsDropped]++;
          continue;
        }
        pushed++;
        const b = this.report;
        b.fill(0);
        b[0] = f.reason;
        Le.set32(
          b,
          4,
          (f.access === "read" ? FaultFlag.READ : FaultFlag.WRITE) | FaultFlag.ADDRESS,
        );
        Le.set32(b, 8, f.endpoint);
        Le.set64(b, 16, f.iova);
        scatterSegments(this.u8, chain.writable, 0, b, 0, FAULT_REPORT_SIZE);
        this.counters[IommuCounter.faultReports]++;
      }
    }
    if (eq && pushed > 0) {
      eq.publish();
      this.out.interruptEvent = eq.needsInterrupt();
    }
  }
}

/** The virtio-iommu status of a table refusal. */
export function tableStatus(e: TableError): number {
  switch (e.kind) {
    case "unknown-endpoint":
    case "unknown-domain":
      return IommuStatus.NOENT;
    case "bypass-domain":
    case "not-attached":
    case "overlap":
      return IommuStatus.INVAL;
    case "split":
      return IommuStatus.RANGE;
    case "table-full":
      return IommuStatus.NOMEM;
  }
}
