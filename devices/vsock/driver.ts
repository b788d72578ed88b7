/**
 * The guest's virtio-vsock driver (virtio 1.2 §5.10.5–5.10.6), run by the guest worker on the
 * driver halves of the rx, tx and event queues.
 *
 * Buffers are allocated once at construction from the guest's `PageAllocator`, one per
 * descriptor, and reused by token (token = buffer index): a TX chain is one device-readable
 * descriptor (header + payload, contiguous), an RX chain one device-writable descriptor, an
 * event chain one 4-byte writable descriptor. The device is untrusted (reliability.md section
 * C): a used token not in flight or a used length over the buffer sets `fault` and the driver
 * stops; a used length shorter than the header, or a header `len` beyond the bytes written, is
 * counted and the buffer dropped.
 *
 * @module
 */

import { err, OK_VOID, type Result } from "../base/result.ts";
import { bufferStride, type PageAllocator } from "../memory/allocator.ts";
import type { GuestMemory } from "../memory/memory.ts";
import type { DriverError } from "../virtio/errors.ts";
import { packedAreaSizes } from "../virtio/packed_layout.ts";
import type { DriverQueue } from "../virtio/queue.ts";
import { splitAreaSizes } from "../virtio/split_layout.ts";
import { VSOCK_EVENT_SIZE } from "./config.ts";
import type { VsockDriverFault, VsockQueueName } from "./errors.ts";
import {
  decodeHeader,
  emptyHeader,
  encodeHeader,
  VSOCK_HDR_SIZE,
  VSOCK_MAX_PAYLOAD,
  type VsockHeader,
} from "./header.ts";
import { VSOCK_DRIVER_COUNTER_COUNT, VsockDriverCounter } from "./metrics.ts";

/** Default bytes per RX and TX buffer: a header and 4 KiB of payload (as Linux's RX buffers). */
export const DEFAULT_VSOCK_BUFFER: number = VSOCK_HDR_SIZE + 4096;

/** A TX buffer for Linux's largest packet: a header and 64 KiB (the lab's guests use it). */
export const VSOCK_LARGE_TX_BUFFER: number = VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD;

/** How many large TX buffers the lab's guests take: 2 MiB of packets in flight at most. */
export const VSOCK_LARGE_TX_BUFFERS = 32;

/** An RX buffer for up to 64 KiB of payload: the device fills it with consecutive RWs. */
export const VSOCK_LARGE_RX_BUFFER: number = VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD;

/** How many large RX buffers the lab's guests post (2 MiB). */
export const VSOCK_LARGE_RX_BUFFERS = 32;

/**
 * How many event buffers the lab's guests post, as Linux's virtio-vsock driver (its
 * `event_list[8]`): the event queue keeps free descriptors, as the rx and tx queues do.
 */
export const VSOCK_EVENT_BUFFERS = 8;

/** Construction options of a `VsockDriver`. */
export interface VsockDriverOptions {
  /** Guest memory. */
  mem: GuestMemory;
  /** Where buffers come from (allocated once). */
  alloc: PageAllocator;
  /** Driver half of the rx queue. */
  rx: DriverQueue;
  /** Driver half of the tx queue. */
  tx: DriverQueue;
  /** Driver half of the event queue. */
  event: DriverQueue;
  /** Bytes per RX buffer (default `DEFAULT_VSOCK_BUFFER`). */
  rxBufferSize?: number;
  /** Bytes per TX buffer (default `DEFAULT_VSOCK_BUFFER`); payload per packet is 44 less. */
  txBufferSize?: number;
  /**
   * TX buffers (default: one per descriptor of the tx queue; at most that). Large TX buffers
   * (64 KiB, as Linux's largest packet) need fewer of them for the same bytes in flight.
   */
  txBuffers?: number;
  /** RX buffers (default: one per descriptor of the rx queue; at most that). */
  rxBuffers?: number;
  /**
   * Event buffers (default: one per descriptor of the event queue; at most that). Linux posts 8
   * (its `event_list`), and so do the lab's guests (`VSOCK_EVENT_BUFFERS`).
   */
  eventBuffers?: number;
  /** `VSOCK_DRIVER_COUNTER_COUNT` words, laid out by `VsockDriverCounter`. */
  counters?: Float64Array;
}

/** Why `VsockDriver.reattach` refused new queues: one's size differs from its buffers'. */
export interface VsockReattachError {
  /** Discriminant. */
  readonly kind: "queue-size-changed";
  /** The queue whose size changed. */
  readonly queue: VsockQueueName;
  /** Its new size. */
  readonly size: number;
  /** The size the driver's buffers were made for. */
  readonly expected: number;
}

/** Which queues to kick after `flush`. The object is reused. */
export interface VsockFlushOutcome {
  /** Notify the rx queue. */
  kickRx: boolean;
  /** Notify the tx queue. */
  kickTx: boolean;
  /** Notify the event queue. */
  kickEvent: boolean;
}

interface Pool {
  q: DriverQueue;
  name: VsockQueueName;
  base: number;
  /** Bytes a buffer holds (its descriptor's length). */
  size: number;
  /** Bytes from one buffer to the next (`bufferStride(size)`). */
  stride: number;
  free: Uint32Array;
  freeCount: number;
  busy: Uint8Array;
}

function pool(
  q: DriverQueue,
  name: VsockQueueName,
  alloc: PageAllocator,
  size: number,
  count = q.size,
): Pool {
  const stride = bufferStride(size);
  const r = alloc.allocBytes(count * stride);
  if (!r.ok) {
    throw new RangeError(
      `Cannot create the vsock driver: no room for ${name} buffers of ${
        count * stride
      } bytes (${r.error.freePages} pages free)`,
    );
  }
  // Tokens are buffer indexes 0…count-1; `busy` spans the queue so a device's token is checked.
  const free = new Uint32Array(count);
  for (let i = 0; i < count; i++) free[i] = count - 1 - i;
  return {
    q,
    name,
    base: r.value,
    size,
    stride,
    free,
    freeCount: count,
    busy: new Uint8Array(q.size),
  };
}

/**
 * The guest-side virtio-vsock driver.
 *
 * @example
 * ```ts
 * import type { VsockDriver } from "./driver.ts";
 * function poll(d: VsockDriver): number {
 *   d.fillRx();
 *   d.flush(); // kick where asked
 *   return d.receive((h, payload) => console.log(h.op, payload.length), 64);
 * }
 * ```
 */
export class VsockDriver {
  /** Bytes per RX buffer. */
  readonly rxBufferSize: number;
  /** Bytes per TX buffer. */
  readonly txBufferSize: number;
  /** Largest payload `send` takes. */
  readonly maxPayload: number;

  private readonly u8: Uint8Array;
  private readonly rx: Pool;
  private readonly tx: Pool;
  private readonly ev: Pool;
  private readonly c: Float64Array;
  private readonly seg: [number, number] = [0, 0];
  private readonly readSpec: { readable: [number, number][]; writable: [number, number][] };
  private readonly writeSpec: { readable: [number, number][]; writable: [number, number][] };
  private readonly h: VsockHeader = emptyHeader();
  private readonly flushOut: VsockFlushOutcome = { kickRx: false, kickTx: false, kickEvent: false };
  private fault_: VsockDriverFault | null = null;
  /** Queues a guest bug was written into behind the driver's back (`freeze`), until `reattach`. */
  private readonly frozen_: Record<VsockQueueName, boolean> = {
    rx: false,
    tx: false,
    event: false,
  };

  /** Allocate every buffer. Throws a `RangeError` if the allocator has no room or a size is unusable. */
  constructor(opts: VsockDriverOptions) {
    this.u8 = opts.mem.u8;
    this.rxBufferSize = opts.rxBufferSize ?? DEFAULT_VSOCK_BUFFER;
    this.txBufferSize = opts.txBufferSize ?? DEFAULT_VSOCK_BUFFER;
    for (const s of [this.rxBufferSize, this.txBufferSize]) {
      if (!Number.isInteger(s) || s <= VSOCK_HDR_SIZE || s > VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD) {
        throw new RangeError(
          `Cannot create the vsock driver: buffer sizes must be 45…${
            VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD
          } bytes, got ${s}`,
        );
      }
    }
    this.maxPayload = this.txBufferSize - VSOCK_HDR_SIZE;
    this.c = opts.counters ?? new Float64Array(VSOCK_DRIVER_COUNTER_COUNT);
    this.rx = pool(opts.rx, "rx", opts.alloc, this.rxBufferSize, opts.rxBuffers ?? opts.rx.size);
    const txBuffers = opts.txBuffers ?? opts.tx.size;
    if (!Number.isInteger(txBuffers) || txBuffers < 1 || txBuffers > opts.tx.size) {
      throw new RangeError(
        `Cannot create the vsock driver: txBuffers must be 1…${opts.tx.size}, got ${txBuffers}`,
      );
    }
    this.tx = pool(opts.tx, "tx", opts.alloc, this.txBufferSize, txBuffers);
    const eventBuffers = opts.eventBuffers ?? opts.event.size;
    if (!Number.isInteger(eventBuffers) || eventBuffers < 1 || eventBuffers > opts.event.size) {
      throw new RangeError(
        `Cannot create the vsock driver: eventBuffers must be 1…${opts.event.size}, got ${eventBuffers}`,
      );
    }
    this.ev = pool(opts.event, "event", opts.alloc, VSOCK_EVENT_SIZE, eventBuffers);
    this.readSpec = { readable: [this.seg], writable: [] };
    this.writeSpec = { readable: [], writable: [this.seg] };
  }

  /** The device misbehaviour that stopped the driver, or null. */
  get fault(): VsockDriverFault | null {
    return this.fault_;
  }

  /** Counters (shared memory when given). */
  get counters(): Float64Array {
    return this.c;
  }

  /** GPA of TX buffer `token`. */
  txBufferAddr(token: number): number {
    return this.tx.base + token * this.tx.stride;
  }

  /** GPA of RX buffer `token`. */
  rxBufferAddr(token: number): number {
    return this.rx.base + token * this.rx.stride;
  }

  /** Post every free RX buffer; how many (visible after `flush`). */
  fillRx(): number {
    const n = this.fill(this.rx);
    this.c[VsockDriverCounter.rxPosted] += n;
    return n;
  }

  /** Post every free event buffer (driver init, virtio 1.2 §5.10.5); how many. */
  fillEvents(): number {
    return this.fill(this.ev);
  }

  /** Whether `send` has a free TX buffer (after reclaiming). */
  canSend(): boolean {
    if (this.tx.freeCount === 0) this.reclaimTx();
    return this.fault_ === null && !this.frozen_.tx && this.tx.freeCount > 0;
  }

  /** Whether `queue` is frozen: a guest bug was written into it and its reset has not come. */
  frozen(queue: VsockQueueName): boolean {
    return this.frozen_[queue];
  }

  /**
   * Add nothing more to `queue` until the next `reattach`: a guest bug was just written into its
   * ring behind the driver's back (`vlab fault guest-bug`), as the net driver's `freeze`. Its
   * next add would take the slot the bug took (and its next publish move the index back),
   * overwriting the bug before the device met it. Packets to send meanwhile count as
   * `txRingFull` and wait in the socket table; used buffers are still taken back.
   */
  freeze(queue: VsockQueueName): void {
    this.frozen_[queue] = true;
  }

  /**
   * Queue one packet: `h` with `len` set to the payload's length; false when every TX buffer is
   * in flight. Throws a `RangeError` for a payload over `maxPayload` (a caller bug).
   */
  send(h: Readonly<VsockHeader>, payload: Uint8Array | null): boolean {
    const len = payload === null ? 0 : payload.length;
    if (len > this.maxPayload) {
      throw new RangeError(
        `Cannot send a vsock packet of ${len} bytes: the limit is ${this.maxPayload}`,
      );
    }
    if (this.fault_ !== null) return false;
    if (this.frozen_.tx) {
      this.c[VsockDriverCounter.txRingFull]++;
      return false;
    }
    const p = this.tx;
    if (p.freeCount === 0) this.reclaimTx();
    if (p.freeCount === 0) {
      this.c[VsockDriverCounter.txRingFull]++;
      return false;
    }
    const token = p.free[--p.freeCount];
    const gpa = this.txBufferAddr(token);
    encodeHeader(this.u8, gpa, h.len === len ? h : { ...h, len });
    if (len > 0) this.u8.set(payload!, gpa + VSOCK_HDR_SIZE);
    this.seg[0] = gpa;
    this.seg[1] = VSOCK_HDR_SIZE + len;
    const r = p.q.add(this.readSpec, token);
    if (!r.ok) {
      p.free[p.freeCount++] = token;
      if (r.error.kind === "ring-full") this.c[VsockDriverCounter.txRingFull]++;
      else this.fail(p, r.error);
      return false;
    }
    p.busy[token] = 1;
    this.c[VsockDriverCounter.txPackets]++;
    this.c[VsockDriverCounter.txBytes] += len;
    return true;
  }

  /** Take back TX buffers the device used; how many. */
  reclaimTx(): number {
    let n = 0;
    for (let i = 0; i < this.tx.q.size; i++) {
      const t = this.nextUsed(this.tx);
      if (t < 0) break;
      this.release(this.tx, t & 0xffff);
      n++;
    }
    return n;
  }

  /**
   * Hand up to `budget` received packets to `onPacket` (header and payload views valid only
   * during the call); the buffers go back to the free list (call `fillRx` to post them again).
   */
  receive(
    onPacket: (h: Readonly<VsockHeader>, payload: Uint8Array) => void,
    budget: number,
  ): number {
    let n = 0;
    for (; n < budget;) {
      const t = this.nextUsed(this.rx);
      if (t < 0) break;
      const token = t & 0xffff;
      const used = Math.floor(t / 65536);
      const gpa = this.rxBufferAddr(token);
      this.release(this.rx, token);
      if (used < VSOCK_HDR_SIZE) {
        this.c[VsockDriverCounter.rxLengthErrors]++;
        continue;
      }
      const h = decodeHeader(this.u8, gpa, this.h);
      if (h.len > used - VSOCK_HDR_SIZE) {
        this.c[VsockDriverCounter.rxLengthErrors]++;
        continue;
      }
      this.c[VsockDriverCounter.rxPackets]++;
      this.c[VsockDriverCounter.rxBytes] += h.len;
      n++;
      // The buffer is free but not reposted before `fillRx`, so the view stays intact.
      onPacket(h, this.u8.subarray(gpa + VSOCK_HDR_SIZE, gpa + VSOCK_HDR_SIZE + h.len));
    }
    return n;
  }

  /** Hand used event ids to `onEvent` and repost their buffers; how many. */
  pollEvents(onEvent: (id: number) => void): number {
    let n = 0;
    for (let i = 0; i < this.ev.q.size; i++) {
      const t = this.nextUsed(this.ev);
      if (t < 0) break;
      const token = t & 0xffff;
      const used = Math.floor(t / 65536);
      const at = this.ev.base + token * this.ev.stride;
      const id = (this.u8[at] | (this.u8[at + 1] << 8) | (this.u8[at + 2] << 16) |
        (this.u8[at + 3] << 24)) >>> 0;
      this.release(this.ev, token);
      if (used < VSOCK_EVENT_SIZE) continue;
      if (id === 0) this.c[VsockDriverCounter.transportResets]++;
      n++;
      onEvent(id);
    }
    this.fillEvents();
    return n;
  }

  /**
   * Take up fresh driver halves after the guest reset and re-initialised the device (its
   * DEVICE_NEEDS_RESET, or a queue this driver found broken): every buffer is free again (the
   * packets in flight are lost with their connections, which the reset ends: TRANSPORT_RESET;
   * those of the TX queue count as `txDropped`), the fault and any freeze are cleared, and
   * nothing is allocated. Each queue must have the size the driver
   * was built for; nothing changes otherwise. Post the buffers again after (`fillRx`,
   * `fillEvents`) and publish (`flush`).
   */
  reattach(
    rx: DriverQueue,
    tx: DriverQueue,
    event: DriverQueue,
  ): Result<void, VsockReattachError> {
    const pairs: [Pool, DriverQueue][] = [[this.rx, rx], [this.tx, tx], [this.ev, event]];
    for (const [p, q] of pairs) {
      if (q.size !== p.q.size) {
        return err({ kind: "queue-size-changed", queue: p.name, size: q.size, expected: p.q.size });
      }
    }
    // TX packets the device had not returned (the caller reclaims first what it did): lost.
    let dropped = 0;
    for (let i = 0; i < this.tx.busy.length; i++) dropped += this.tx.busy[i];
    this.c[VsockDriverCounter.txDropped] += dropped;
    for (const [p, q] of pairs) {
      p.q = q;
      this.frozen_[p.name] = false;
      const count = p.free.length;
      for (let i = 0; i < count; i++) p.free[i] = count - 1 - i;
      p.freeCount = count;
      p.busy.fill(0);
    }
    this.fault_ = null;
    return OK_VOID;
  }

  /** Publish every queue; which ones the device must be notified about. */
  flush(): VsockFlushOutcome {
    const out = this.flushOut;
    const live = this.fault_ === null;
    const f = this.frozen_;
    out.kickRx = live && !f.rx && this.rx.q.publish();
    out.kickTx = live && !f.tx && this.tx.q.publish();
    out.kickEvent = live && !f.event && this.ev.q.publish();
    return out;
  }

  private fill(p: Pool): number {
    if (this.fault_ !== null || this.frozen_[p.name]) return 0;
    let n = 0;
    while (p.freeCount > 0) {
      const token = p.free[p.freeCount - 1];
      this.seg[0] = p.base + token * p.stride;
      this.seg[1] = p.size;
      const r = p.q.add(this.writeSpec, token);
      if (!r.ok) {
        if (r.error.kind !== "ring-full") this.fail(p, r.error);
        break;
      }
      p.freeCount--;
      p.busy[token] = 1;
      n++;
    }
    return n;
  }

  /** The next used buffer of `p` as `token + len * 65536`, or -1 (none, or a fault). */
  private nextUsed(p: Pool): number {
    if (this.fault_ !== null) return -1;
    const r = p.q.getUsed();
    if (!r.ok) {
      this.fail(p, r.error);
      return -1;
    }
    if (r.value === null) return -1;
    const { token, len } = r.value;
    if (token >= p.q.size || p.busy[token] === 0) {
      this.fault_ = { kind: "unknown-token", queue: p.name, token };
      return -1;
    }
    if (len > p.size) {
      this.fault_ = { kind: "used-len-too-big", queue: p.name, token, len, capacity: p.size };
      this.release(p, token);
      return -1;
    }
    return token + len * 65536;
  }

  private release(p: Pool, token: number): void {
    p.busy[token] = 0;
    p.free[p.freeCount++] = token;
  }

  private fail(p: Pool, cause: DriverError): void {
    this.fault_ ??= { kind: "queue-broken", queue: p.name, cause };
  }
}

/**
 * The guest memory a vsock driver takes at start: the three queues' ring areas (one page
 * allocation each) and the RX, TX and event buffers.
 *
 * @example
 * ```ts
 * import { vsockDriverMemoryBytes } from "./driver.ts";
 * vsockDriverMemoryBytes({ layout: "split", queueSize: 128 }); // about 1.1 MiB
 * ```
 */
export function vsockDriverMemoryBytes(
  o: {
    layout: "split" | "packed";
    queueSize: number;
    bufferSize?: number;
    txBufferSize?: number;
    txBuffers?: number;
    rxBuffers?: number;
  },
): number {
  const page = (b: number) => Math.ceil(b / 4096) * 4096;
  const a = o.layout === "split" ? splitAreaSizes(o.queueSize) : packedAreaSizes(o.queueSize);
  const rings = 3 * (page(a.descriptor) + page(a.driver) + page(a.device));
  const buf = o.bufferSize ?? DEFAULT_VSOCK_BUFFER;
  const tx = (o.txBuffers ?? o.queueSize) * bufferStride(o.txBufferSize ?? buf);
  const rx = (o.rxBuffers ?? o.queueSize) * bufferStride(buf);
  return rings + page(rx) + page(tx) + page(o.queueSize * bufferStride(VSOCK_EVENT_SIZE));
}
