/**
 * The guest's virtio-iommu driver (virtio 1.2 §5.13, after Linux's `virtio-iommu.c`), run by
 * the guest worker on the driver halves of requestq and eventq.
 *
 * Every request buffer is allocated once (one slot per request-queue entry, token = slot):
 * the device-readable request, then the device-writable part (PROBE properties, tail). Requests
 * are staged with `attach`/`detach`/`map`/`unmap`/`probe`, made visible by `publish()` (kick
 * when it says so), and their outcome arrives through `collect()`. The device is untrusted
 * (reliability.md section C): a used token that is not in flight breaks the driver; a used
 * length shorter than the tail reads as a failed request (status `null`).
 *
 * Fault reports: `fillEvents()` posts writable 24-byte buffers on the eventq; `readEvents()`
 * parses what the device wrote and posts the buffers again.
 *
 * @module
 */

import type { PageAllocator } from "../memory/allocator.ts";
import { PAGE_SIZE } from "../memory/memory.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { err, ok, type Result } from "../base/result.ts";
import type { DriverError } from "../virtio/errors.ts";
import type { DriverQueue } from "../virtio/queue.ts";
import { splitAreaSizes } from "../virtio/split_layout.ts";
import {
  ATTACH_F_BYPASS,
  FAULT_REPORT_SIZE,
  FaultFlag,
  type IommuConfig,
  Le,
  parseProbe,
  REQ_READABLE,
  ReqType,
  type ReservedRegion,
  TAIL_SIZE,
} from "./config.ts";

/** Construction options of an `IommuDriver`. */
export interface IommuDriverOptions {
  /** Guest memory. */
  mem: GuestMemory;
  /** Where request and event buffers come from (allocated once). */
  alloc: PageAllocator;
  /** Driver half of requestq. */
  requestq: DriverQueue;
  /** Driver half of eventq. */
  eventq: DriverQueue;
  /** The config space as read at probe time. */
  config: IommuConfig;
}

/** A completed request. */
export interface IommuCompletion {
  /** The token `attach`/`map`/… returned. */
  token: number;
  /** The request type. */
  type: number;
  /** The device's status, or null when it returned the buffer without a tail (used len short). */
  status: number | null;
  /** PROBE only: the reserved regions the device reported. */
  regions?: ReservedRegion[];
}

/** A fault report the device posted on the eventq. */
export interface FaultReport {
  /** 0 unknown, 1 domain, 2 mapping. */
  reason: number;
  /** Read or write. */
  access: "read" | "write";
  /** The endpoint that faulted. */
  endpoint: number;
  /** The faulting address, or null when the device did not give one. */
  address: number | null;
}

/** Why a request could not be staged. */
export type IommuDriverError = DriverError | { kind: "no-slot"; inFlight: number };

/**
 * The guest-side virtio-iommu driver.
 *
 * @example
 * ```ts
 * import type { IommuDriver } from "./driver.ts";
 * function mapOne(d: IommuDriver, kick: () => void): void {
 *   d.attach(1, 0);
 *   d.map(1, { start: 0x100000, end: 0x100fff, gpa: 0x4000, flags: 3 });
 *   if (d.publish()) kick();
 *   // later: d.collect() → [{ token, type: 1, status: 0 }, { token, type: 3, status: 0 }]
 * }
 * ```
 */
export class IommuDriver {
  /** The config space as read at probe time. */
  readonly config: IommuConfig;

  private readonly u8: Uint8Array;
  private readonly rq: DriverQueue;
  private readonly eq: DriverQueue;
  private readonly stride: number;
  private readonly base: number;
  private readonly evBase: number;
  private readonly free: number[] = [];
  private readonly types: Uint8Array;
  private readonly spec = {
    readable: [[0, 0]] as [number, number][],
    writable: [[0, 0]] as [number, number][],
  };
  private broken_: DriverError | null = null;

  /** Allocate every buffer; throws a `RangeError` when the allocator has no room (guest setup). */
  constructor(opts: IommuDriverOptions) {
    this.config = opts.config;
    this.u8 = opts.mem.u8;
    this.rq = opts.requestq;
    this.eq = opts.eventq;
    this.stride = requestStride(opts.config.probeSize);
    this.base = allocate(opts.alloc, this.rq.size * this.stride);
    this.evBase = allocate(opts.alloc, this.eq.size * FAULT_REPORT_SIZE);
    this.types = new Uint8Array(this.rq.size);
    for (let i = this.rq.size - 1; i >= 0; i--) this.free.push(i);
  }

  /** The device error that stopped the driver, or null. */
  get broken(): DriverError | null {
    return this.broken_;
  }

  /** Requests staged or in flight. */
  get inFlight(): number {
    return this.rq.size - this.free.length;
  }

  /** Stage ATTACH(domain, endpoint), in bypass if asked (needs BYPASS_CONFIG). */
  attach(
    domain: number,
    endpoint: number,
    opts: { bypass?: boolean } = {},
  ): Result<number, IommuDriverError> {
    return this.stage(ReqType.ATTACH, (b) => {
      Le.set32(b, 4, domain);
      Le.set32(b, 8, endpoint);
      Le.set32(b, 12, opts.bypass ? ATTACH_F_BYPASS : 0);
    });
  }

  /** Stage DETACH(domain, endpoint). */
  detach(domain: number, endpoint: number): Result<number, IommuDriverError> {
    return this.stage(ReqType.DETACH, (b) => {
      Le.set32(b, 4, domain);
      Le.set32(b, 8, endpoint);
    });
  }

  /** Stage MAP(domain, [start, end] → gpa, flags). */
  map(
    domain: number,
    m: { start: number; end: number; gpa: number; flags: number },
  ): Result<number, IommuDriverError> {
    return this.stage(ReqType.MAP, (b) => {
      Le.set32(b, 4, domain);
      Le.set64(b, 8, m.start);
      Le.set64(b, 16, m.end);
      Le.set64(b, 24, m.gpa);
      Le.set32(b, 32, m.flags);
    });
  }

  /** Stage UNMAP(domain, [start, end]). */
  unmap(domain: number, start: number, end: number): Result<number, IommuDriverError> {
    return this.stage(ReqType.UNMAP, (b) => {
      Le.set32(b, 4, domain);
      Le.set64(b, 8, start);
      Le.set64(b, 16, end);
    });
  }

  /** Stage PROBE(endpoint). */
  probe(endpoint: number): Result<number, IommuDriverError> {
    return this.stage(ReqType.PROBE, (b) => Le.set32(b, 4, endpoint));
  }

  /** Make staged requests visible; true when the device wants a kick. */
  publish(): boolean {
    return this.rq.publish();
  }

  /** Every completed request since the last call (bounded by the queue size). */
  collect(): IommuCompletion[] {
    const out: IommuCompletion[] = [];
    for (let n = 0; n < this.rq.size && !this.broken_; n++) {
      const r = this.rq.getUsed();
      if (!r.ok) {
        this.broken_ = r.error;
        break;
      }
      if (r.value === null) break;
      const token = r.value.token, used = r.value.len;
      const type = this.types[token];
      const wlen = (type === ReqType.PROBE ? this.config.probeSize : 0) + TAIL_SIZE;
      const w = this.base + token * this.stride + REQ_READABLE.get(type)!;
      const c: IommuCompletion = {
        token,
        type,
        status: used >= wlen ? this.u8[w + wlen - TAIL_SIZE] : null,
      };
      if (type === ReqType.PROBE && c.status === 0) {
        c.regions = parseProbe(this.u8.subarray(w, w + this.config.probeSize));
      }
      this.free.push(token);
      out.push(c);
    }
    return out;
  }

  /** Post every free event buffer; true when the device wants a kick. */
  fillEvents(): boolean {
    let added = false;
    for (
      let i = 0;
      i < this.eq.size && this.eq.freeDescriptors > 0 && this.eq.inFlight < this.eq.size;
      i++
    ) {
      const slot = this.eventSlot++ % this.eq.size;
      this.spec.readable.length = 0;
      const w = this.spec.writable;
      w.length = 1;
      w[0] = [this.evBase + slot * FAULT_REPORT_SIZE, FAULT_REPORT_SIZE];
      if (!this.eq.add({ readable: [], writable: w }, slot).ok) break;
      added = true;
    }
    this.spec.readable.length = 1;
    return added && this.eq.publish();
  }

  /** Parse the fault reports the device returned (reports with reserved bits set are skipped). */
  readEvents(): FaultReport[] {
    const out: FaultReport[] = [];
    for (let n = 0; n < this.eq.size && !this.broken_; n++) {
      const r = this.eq.getUsed();
      if (!r.ok) {
        this.broken_ = r.error;
        break;
      }
      if (r.value === null) break;
      if (r.value.len < FAULT_REPORT_SIZE) continue;
      const b = this.u8.subarray(this.evBase + r.value.token * FAULT_REPORT_SIZE);
      if (b[1] !== 0 || b[2] !== 0 || b[3] !== 0) continue;
      const flags = Le.get32(b, 4);
      out.push({
        reason: b[0] <= 2 ? b[0] : 0,
        access: (flags & FaultFlag.WRITE) !== 0 ? "write" : "read",
        endpoint: Le.get32(b, 8),
        address: (flags & FaultFlag.ADDRESS) !== 0 ? Le.get64(b, 16) : null,
      });
    }
    return out;
  }

  private eventSlot = 0;

  private stage(type: number, fill: (b: Uint8Array) => void): Result<number, IommuDriverError> {
    if (this.broken_) return err(this.broken_);
    const token = this.free.pop();
    if (token === undefined) return err({ kind: "no-slot", inFlight: this.inFlight });
    const at = this.base + token * this.stride;
    const rlen = REQ_READABLE.get(type)!;
    const wlen = (type === ReqType.PROBE ? this.config.probeSize : 0) + TAIL_SIZE;
    const b = this.u8.subarray(at, at + rlen + wlen);
    b.fill(0); // reserved fields are zero; the tail starts as 0xff below so a silent device shows
    b[0] = type;
    fill(b);
    b[rlen + wlen - TAIL_SIZE] = 0xff;
    this.types[token] = type;
    this.spec.readable[0] = [at, rlen];
    this.spec.writable[0] = [at + rlen, wlen];
    const r = this.rq.add(this.spec, token);
    if (!r.ok) {
      this.free.push(token);
      return err(r.error);
    }
    return ok(token);
  }
}

/**
 * The requestq size the lab's guests give their virtio-iommu device: 128 requests in flight
 * (two descriptors each), so a strict or lazy NIC driver maps a whole refill per round trip.
 */
export const IOMMU_REQUEST_QUEUE_SIZE = 256;
/** The eventq size (fault-report buffers kept posted). */
export const IOMMU_EVENT_QUEUE_SIZE = 64;
/** The `probe_size` the lab's virtio-iommu devices offer (QEMU's 512). */
export const IOMMU_PROBE_SIZE = 512;

/**
 * The guest memory a virtio-iommu driver takes at start: both split queues' ring areas (one
 * page allocation each), one request buffer per requestq entry (head, the largest request,
 * the PROBE properties and the tail) and one fault-report buffer per eventq entry. The
 * topology check adds it to a VM's NICs so that a guest memory too small fails at validate.
 *
 * @example
 * ```ts
 * import { iommuDriverMemoryBytes } from "./driver.ts";
 * iommuDriverMemoryBytes({ requestq: 256, eventq: 64, probeSize: 512 }); // 180224
 * ```
 */
export function iommuDriverMemoryBytes(
  o: { requestq: number; eventq: number; probeSize: number },
): number {
  const page = (b: number) => Math.ceil(b / PAGE_SIZE) * PAGE_SIZE;
  const rings = (n: number) => {
    const a = splitAreaSizes(n);
    return page(a.descriptor) + page(a.driver) + page(a.device);
  };
  return rings(o.requestq) + rings(o.eventq) + page(o.requestq * requestStride(o.probeSize)) +
    page(o.eventq * FAULT_REPORT_SIZE);
}

/** Bytes per request buffer: the largest request (72), PROBE properties and the tail. */
function requestStride(probeSize: number): number {
  return Math.ceil((72 + probeSize + TAIL_SIZE) / 8) * 8;
}

function allocate(alloc: PageAllocator, bytes: number): number {
  const r = alloc.alloc(Math.ceil(bytes / PAGE_SIZE));
  if (!r.ok) {
    throw new RangeError(`Cannot create the IOMMU driver: ${r.error.freePages} guest pages free`);
  }
  return r.value;
}
