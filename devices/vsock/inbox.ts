/**
 * The device's way to the guest (device worker): the bounded queue of packets waiting for RX
 * buffers, writing them into RX chains (a packet larger than a buffer goes as several, each
 * with its own header and `len`, as vhost-vsock does), and the TRANSPORT_RESET event element.
 * `device.ts` decides what is queued; this module only moves bytes and counts.
 *
 * @module
 */

import type { DescriptorChain } from "../virtio/chain.ts";
import type { RingError } from "../virtio/errors.ts";
import type { DeviceQueue } from "../virtio/queue.ts";
import { VSOCK_EVENT_SIZE, VsockEventId } from "./config.ts";
import {
  copyHeader,
  emptyHeader,
  encodeHeader,
  VSOCK_HDR_SIZE,
  type VsockHeader,
  VsockOp,
} from "./header.ts";
import { VsockCounter } from "./metrics.ts";
import { scatterSegments } from "../virtio/segments.ts";

/** A packet waiting for the guest; `off` is how much of the payload already went. */
export interface PendingPacket {
  /** Header (its `len` is rewritten per piece). */
  h: VsockHeader;
  /** Payload, or null for a control packet. */
  payload: Uint8Array | null;
  /** Payload bytes already written. */
  off: number;
}

/** What a pump did: entries pushed, or the fatal ring error that broke the queue. */
export interface PumpResult {
  /** Used entries staged (publish them). */
  pushed: number;
  /** A fatal ring error, or null. */
  broken: RingError | null;
}

/**
 * The queue of packets for the guest.
 *
 * @example
 * ```ts
 * import { GuestInbox } from "./inbox.ts";
 * import { emptyHeader } from "./header.ts";
 * import { VSOCK_COUNTER_COUNT } from "./metrics.ts";
 * const box = new GuestInbox(new Uint8Array(4096), new Float64Array(VSOCK_COUNTER_COUNT));
 * box.add(emptyHeader(), null);
 * box.length; // 1
 * ```
 */
export class GuestInbox {
  private readonly u8: Uint8Array;
  private readonly c: Float64Array;
  private readonly hdr = new Uint8Array(VSOCK_HDR_SIZE);
  private readonly out: VsockHeader = emptyHeader();
  private readonly res: PumpResult = { pushed: 0, broken: null };
  private items: PendingPacket[] = [];
  private head = 0;
  /** RX and event chains a previous device worker popped and did not complete (`hold`). */
  private heldRx: DescriptorChain[] = [];
  private heldEvent: DescriptorChain[] = [];

  /** An empty inbox writing into guest memory `u8`, counting into `counters`. */
  constructor(u8: Uint8Array, counters: Float64Array) {
    this.u8 = u8;
    this.c = counters;
  }

  /** Packets waiting. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Queue a packet (the inbox keeps `h` and `payload`: pass copies). */
  add(h: VsockHeader, payload: Uint8Array | null): void {
    this.items.push({ h, payload, off: 0 });
  }

  /** Forget every waiting packet (held chains stay: they are the guest's buffers). */
  clear(): void {
    this.items = [];
    this.head = 0;
  }

  /**
   * Take the RX and event chains a previous device worker had popped and not completed
   * (a restore): they are filled before any new one is popped, so each is completed once.
   */
  hold(rx: ReadonlyArray<DescriptorChain>, event: ReadonlyArray<DescriptorChain>): void {
    this.heldRx.push(...rx);
    this.heldEvent.push(...event);
  }

  /** Chains held from a previous worker, not yet completed. */
  get held(): number {
    return this.heldRx.length + this.heldEvent.length;
  }

  /** Forget the held chains (the device reset: their ring is gone). */
  releaseHeld(): void {
    this.heldRx = [];
    this.heldEvent = [];
  }

  /**
   * Write waiting packets into RX chains until either runs out (F12: no spinning). An RX buffer
   * with room left after an RW takes the next RW of the same connection too (its bytes follow
   * in the stream, so the merged packet is the one the peer could have sent at once): one
   * header, `len` the sum, `buf_alloc` and `fwd_cnt` the latest. A packet larger than the
   * buffer goes as several.
   */
  pumpRx(q: DeviceQueue): PumpResult {
    const res = this.res;
    res.pushed = 0;
    res.broken = null;
    const c = this.c;
    const out = this.out;
    // Bounded: each pass fills one RX buffer, and the ring holds at most q.size of them.
    while (this.head < this.items.length) {
      const chain = this.nextRx(q);
      if (chain === null) {
        if (res.broken === null) c[VsockCounter.rxNoBuffer]++;
        break;
      }
      const room = chain.writableBytes - VSOCK_HDR_SIZE;
      let p = this.items[this.head];
      copyHeader(p.h, out);
      let filled = 0;
      // Bounded: each pass either fills the buffer (break) or takes a whole packet (head++).
      for (;;) {
        const total = p.payload === null ? 0 : p.payload.length;
        const piece = Math.min(total - p.off, room - filled);
        if (piece > 0) {
          scatterSegments(
            this.u8,
            chain.writable,
            VSOCK_HDR_SIZE + filled,
            p.payload!,
            p.off,
            piece,
          );
        }
        p.off += piece;
        filled += piece;
        out.bufAlloc = p.h.bufAlloc;
        out.fwdCnt = p.h.fwdCnt;
        if (p.off < total) break; // the buffer is full; the rest goes in the next one
        this.head++;
        if (filled >= room || this.head >= this.items.length) break;
        const next = this.items[this.head];
        if (!sameStream(p.h, next.h) || next.payload === null || next.off !== 0) break;
        p = next;
      }
      out.len = filled;
      encodeHeader(this.hdr, 0, out);
      scatterSegments(this.u8, chain.writable, 0, this.hdr, 0, VSOCK_HDR_SIZE);
      if (q.push(chain, VSOCK_HDR_SIZE + filled).ok) res.pushed++;
      c[VsockCounter.rxPackets]++;
      c[VsockCounter.rxBytes] += filled;
    }
    if (this.head === this.items.length) this.clear();
    else if (this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return res;
  }

  /** Write one TRANSPORT_RESET element; `written` says whether a buffer was there. */
  pumpEvent(q: DeviceQueue): PumpResult & { written: boolean } {
    const res = { pushed: 0, broken: null as RingError | null, written: false };
    for (let i = 0; i <= q.size; i++) {
      const held = this.heldEvent.shift();
      const r = held === undefined ? q.pop() : { ok: true as const, value: held };
      if (!r.ok) {
        if (r.error.fatal) {
          res.broken = stripFatal(r.error);
          return res;
        }
        if (q.push(r.error.chain, 0).ok) res.pushed++;
        continue;
      }
      const chain = r.value;
      if (chain === null) return res;
      if (chain.writableBytes < VSOCK_EVENT_SIZE) {
        if (q.push(chain, 0).ok) res.pushed++;
        continue;
      }
      const ev = this.hdr;
      ev.fill(0, 0, VSOCK_EVENT_SIZE);
      ev[0] = VsockEventId.TRANSPORT_RESET; // le32 id
      scatterSegments(this.u8, chain.writable, 0, ev, 0, VSOCK_EVENT_SIZE);
      if (q.push(chain, VSOCK_EVENT_SIZE).ok) res.pushed++;
      this.c[VsockCounter.transportResets]++;
      res.written = true;
      return res;
    }
    return res;
  }

  /** Pop one RX chain with room for a header and a byte; null when none (or the ring broke). */
  private nextRx(q: DeviceQueue): DescriptorChain | null {
    for (let i = 0; i <= q.size; i++) {
      const held = this.heldRx.shift();
      const r = held === undefined ? q.pop() : { ok: true as const, value: held };
      if (!r.ok) {
        if (r.error.fatal) {
          this.res.broken = stripFatal(r.error);
          return null;
        }
        this.c[VsockCounter.rxBadChain]++;
        if (q.push(r.error.chain, 0).ok) this.res.pushed++;
        continue;
      }
      const chain = r.value;
      if (chain === null) return null;
      if (chain.writableBytes <= VSOCK_HDR_SIZE) {
        this.c[VsockCounter.rxBadChain]++;
        if (q.push(chain, 0).ok) this.res.pushed++;
        continue;
      }
      return chain;
    }
    return null;
  }
}

function stripFatal(e: RingError & { fatal: true }): RingError {
  const { fatal: _fatal, ...cause } = e;
  return cause as RingError;
}

/** Whether `b` is an RW that continues RW `a`'s stream (same connection, same direction). */
function sameStream(a: Readonly<VsockHeader>, b: Readonly<VsockHeader>): boolean {
  return a.op === VsockOp.RW && b.op === VsockOp.RW && a.flags === 0 && b.flags === 0 &&
    a.srcPort === b.srcPort && a.dstPort === b.dstPort && a.srcCid === b.srcCid &&
    a.dstCid === b.dstCid && a.type === b.type;
}
