/**
 * The device's way to the guest (device worker): packets written straight into RX chains when
 * nothing waits before them ({@linkcode GuestInbox.put}: the only copy is the one into guest
 * memory), the bounded queue of packets waiting for RX buffers otherwise (a packet larger than a
 * buffer goes as several, each with its own header and `len`, as vhost-vsock does), and the
 * TRANSPORT_RESET event element. `device.ts` decides what is delivered; this module only moves
 * bytes and counts.
 *
 * @module
 */

import { copyAtPhase } from "../memory/allocator.ts";
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
  /**
   * `put` only: the queue refused to take back an RX buffer that was to carry bytes of this
   * packet; that buffer was not written and the rest of the packet was dropped (the caller
   * counts it not live).
   */
  refused: boolean;
  /**
   * The packets (their headers) whose bytes an RX buffer the queue refused took with it, besides
   * `put`'s own (`refused`): queued packets `pumpRx` meant for it, or the earlier RWs of an open
   * buffer. What came after them on their connections must not reach the guest (the device
   * resets those connections). Valid until the next call.
   */
  lost: readonly VsockHeader[];
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
  private readonly lostList: VsockHeader[] = [];
  private readonly res: PumpResult = {
    pushed: 0,
    broken: null,
    refused: false,
    lost: this.lostList,
  };
  private items: PendingPacket[] = [];
  private head = 0;
  /**
   * The RX chain `put` is filling (popped, not yet used): the next RW of the same stream goes
   * on in it; `seal` (every `pumpRx`) completes it. Its header is `out`, its payload `filled`.
   */
  private open: DescriptorChain | null = null;
  private filled = 0;
  /**
   * RX and event chains a previous device worker popped and did not complete (`hold`), and event
   * chains taken as they came (`takeEvents`).
   */
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

  /**
   * Deliver a packet (`payload` exactly `h.len` bytes, or null) now: when nothing waits before
   * it, its bytes go straight into RX buffers, an RW continuing the open buffer's stream after
   * the bytes already there (the merge `pumpRx` does for queued packets), so a packet costs one
   * copy and no allocation. What finds no RX buffer, or anything while packets wait, is queued
   * (copied: `h` and `payload` are not kept). The open buffer is completed by the next `pumpRx`
   * (`close`), or as soon as it is full: then its completion is staged before its last piece
   * and its header are written, and a buffer the queue refuses is not written (`refused`).
   */
  put(q: DeviceQueue, h: Readonly<VsockHeader>, payload: Uint8Array | null): PumpResult {
    const res = this.start();
    if (this.head < this.items.length) {
      this.add(copyHeader(h, emptyHeader()), payload === null ? null : copyAtPhase(payload));
      return res;
    }
    const total = payload === null ? 0 : payload.length;
    const out = this.out;
    let off = 0;
    // Bounded: each pass fills an RX buffer to its end or writes the rest of the packet.
    for (;;) {
      let chain = this.open;
      if (chain !== null && (payload === null || !sameStream(out, h))) {
        this.close(q);
        chain = null;
      }
      if (chain === null) {
        chain = this.nextRx(q);
        if (chain === null) {
          if (res.broken === null) this.c[VsockCounter.rxNoBuffer]++;
          break;
        }
        this.open = chain;
        this.filled = 0;
        copyHeader(h, out);
      }
      const piece = Math.min(total - off, chain.writableBytes - VSOCK_HDR_SIZE - this.filled);
      out.bufAlloc = h.bufAlloc;
      out.fwdCnt = h.fwdCnt;
      if (payload === null || this.filled + piece + VSOCK_HDR_SIZE >= chain.writableBytes) {
        // The buffer is done with this piece: staged first, then written.
        this.open = null;
        if (!this.complete(q, chain, payload, off, piece)) {
          res.refused = true;
          return res;
        }
      } else {
        // It stays open for the stream's next RW: its completion (and its header) comes later.
        if (piece > 0) {
          scatterSegments(
            this.u8,
            chain.writable,
            VSOCK_HDR_SIZE + this.filled,
            payload,
            off,
            piece,
          );
        }
        this.filled += piece;
      }
      off += piece;
      if (off >= total) return res;
    }
    // No RX buffer for the rest: it waits, a packet of its own.
    const rest = copyHeader(h, emptyHeader());
    rest.len = total - off;
    this.add(rest, payload === null ? null : copyAtPhase(payload.subarray(off)));
    return res;
  }

  /** `res`, emptied for a new call. */
  private start(): PumpResult {
    const res = this.res;
    res.pushed = 0;
    res.broken = null;
    res.refused = false;
    this.lostList.length = 0;
    return res;
  }

  /**
   * Complete the open RX buffer, if any; pushes count in `res`. One the queue refuses gets no
   * header, and its bytes (of packets delivered before) count as not live, their connection
   * `lost`.
   */
  private close(q: DeviceQueue): void {
    const chain = this.open;
    if (chain === null) return;
    this.open = null;
    if (this.complete(q, chain, null, 0, 0)) return;
    this.c[VsockCounter.rxNotLive]++;
    this.lostList.push(copyHeader(this.out, emptyHeader()));
  }

  /**
   * Forget every waiting packet `matches` takes (the device reset its connection); how many, and
   * whether an RST was among them.
   */
  drop(matches: (h: Readonly<VsockHeader>) => boolean): { dropped: number; rst: boolean } {
    let dropped = 0;
    let rst = false;
    const kept: PendingPacket[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const p = this.items[i];
      if (!matches(p.h)) {
        kept.push(p);
        continue;
      }
      dropped++;
      if (p.h.op === VsockOp.RST) rst = true;
    }
    if (dropped > 0) {
      this.items = kept;
      this.head = 0;
    }
    return { dropped, rst };
  }

  /**
   * Stage `chain` as used with header `out` and `filled + piece` payload bytes, then, once the
   * queue took it, write `piece` bytes of `payload` from `off` after the `filled` already there,
   * and the header; counted as one packet. A completion the queue refuses (a broken queue, or a
   * chain not in flight) is of a buffer no longer the device's to write: nothing is written or
   * counted, and false is returned.
   */
  private complete(
    q: DeviceQueue,
    chain: DescriptorChain,
    payload: Uint8Array | null,
    off: number,
    piece: number,
  ): boolean {
    const len = this.filled + piece;
    if (!q.push(chain, VSOCK_HDR_SIZE + len).ok) return false;
    this.res.pushed++;
    if (piece > 0) {
      scatterSegments(this.u8, chain.writable, VSOCK_HDR_SIZE + this.filled, payload!, off, piece);
    }
    const out = this.out;
    out.len = len;
    encodeHeader(this.hdr, 0, out);
    scatterSegments(this.u8, chain.writable, 0, this.hdr, 0, VSOCK_HDR_SIZE);
    this.c[VsockCounter.rxPackets]++;
    this.c[VsockCounter.rxBytes] += len;
    return true;
  }

  /**
   * Forget every waiting packet (held chains stay: they are the guest's buffers). An open RX
   * buffer is not completed: it goes back to the held chains, to be filled afresh.
   */
  clear(): void {
    this.items = [];
    this.head = 0;
    if (this.open !== null) {
      this.heldRx.unshift(this.open);
      this.open = null;
      this.filled = 0;
    }
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

  /** Forget the held chains and the open one (the device reset: their ring is gone). */
  releaseHeld(): void {
    this.heldRx = [];
    this.heldEvent = [];
    this.open = null;
    this.filled = 0;
  }

  /**
   * Write waiting packets into RX chains until either runs out (F12: no spinning). An RX buffer
   * with room left after an RW takes the next RW of the same connection too (its bytes follow
   * in the stream, so the merged packet is the one the peer could have sent at once): one
   * header, `len` the sum, `buf_alloc` and `fwd_cnt` the latest. A packet larger than the
   * buffer goes as several. The buffer `put` left open is completed first: what waits came
   * after its bytes. Each buffer's completion is staged before it is written; the packets
   * meant for a buffer the queue refuses are dropped, counted not live, and the pump stops there,
   * their connections `lost`: the caller ends them before anything after them is written.
   */
  pumpRx(q: DeviceQueue): PumpResult {
    const res = this.start();
    this.close(q);
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
      const first = this.head;
      let p = this.items[first];
      const firstOff = p.off;
      copyHeader(p.h, out);
      let filled = 0;
      // What goes into this buffer, planned before anything is written. Bounded: each pass
      // either fills the buffer (break) or takes a whole packet (head++).
      for (;;) {
        const total = p.payload === null ? 0 : p.payload.length;
        const piece = Math.min(total - p.off, room - filled);
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
      // Staged before it is written, as in `put`. A buffer the queue refuses takes the packets
      // planned for it (and what was left of the last): their connections are `lost`.
      if (!q.push(chain, VSOCK_HDR_SIZE + filled).ok) {
        c[VsockCounter.rxNotLive]++;
        const last = Math.min(this.head, this.items.length - 1);
        for (let i = first; i <= last; i++) {
          if (i < this.head || this.items[i].off > 0) {
            this.lostList.push(copyHeader(this.items[i].h, emptyHeader()));
          }
        }
        // Stop here: what waits after them on their connections must not go before the device
        // ended those (its next pass goes on).
        break;
      }
      res.pushed++;
      // Bounded: the packets planned above, `filled` bytes in all.
      for (let i = first, from = firstOff, at = 0; at < filled; i++, from = 0) {
        const pay = this.items[i].payload;
        const piece = pay === null ? 0 : Math.min(pay.length - from, filled - at);
        if (piece > 0) {
          scatterSegments(this.u8, chain.writable, VSOCK_HDR_SIZE + at, pay!, from, piece);
        }
        at += piece;
      }
      out.len = filled;
      encodeHeader(this.hdr, 0, out);
      scatterSegments(this.u8, chain.writable, 0, this.hdr, 0, VSOCK_HDR_SIZE);
      c[VsockCounter.rxPackets]++;
      c[VsockCounter.rxBytes] += filled;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return res;
  }

  /**
   * Write one TRANSPORT_RESET element; `written` says whether a buffer took it. Its completion
   * is staged first: a buffer the queue refuses is not written, and the next one is tried.
   */
  pumpEvent(q: DeviceQueue): PumpResult & { written: boolean } {
    const res = {
      pushed: 0,
      broken: null as RingError | null,
      refused: false,
      lost: [],
      written: false,
    };
    for (let i = 0; i <= q.size; i++) {
      const chain = this.heldEvent.shift() ?? this.popEvent(q, res);
      if (chain === null) return res;
      if (chain === undefined) continue;
      if (chain.writableBytes < VSOCK_EVENT_SIZE) {
        if (q.push(chain, 0).ok) res.pushed++;
        continue;
      }
      if (!q.push(chain, VSOCK_EVENT_SIZE).ok) continue;
      res.pushed++;
      const ev = this.hdr;
      ev.fill(0, 0, VSOCK_EVENT_SIZE);
      ev[0] = VsockEventId.TRANSPORT_RESET; // le32 id
      scatterSegments(this.u8, chain.writable, 0, ev, 0, VSOCK_EVENT_SIZE);
      this.c[VsockCounter.transportResets]++;
      res.written = true;
      return res;
    }
    return res;
  }

  /**
   * Take every event buffer the driver made available, held until an event needs one (as a
   * restored device holds those its predecessor popped): a device may take a buffer whenever it
   * is available, and so meets a ring the driver broke at once, not at the next transport reset.
   * A chain the pop refused (not fatal) goes back empty.
   */
  takeEvents(q: DeviceQueue): PumpResult {
    const res = this.start();
    // Bounded: at most a queue's worth of buffers is available.
    for (let i = 0; i < q.size; i++) {
      const chain = this.popEvent(q, res);
      if (chain === null) break;
      if (chain !== undefined) this.heldEvent.push(chain);
    }
    return res;
  }

  /**
   * Pop the next event buffer: null when none is available or the ring broke (`res.broken`),
   * undefined for a chain the pop refused (not fatal), which goes back empty (`res.pushed`).
   */
  private popEvent(q: DeviceQueue, res: PumpResult): DescriptorChain | null | undefined {
    const r = q.pop();
    if (r.ok) return r.value;
    if (r.error.fatal) {
      res.broken = stripFatal(r.error);
      return null;
    }
    if (q.push(r.error.chain, 0).ok) res.pushed++;
    return undefined;
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
        if (this.returnBad(q, r.error.chain)) this.res.pushed++;
        continue;
      }
      const chain = r.value;
      if (chain === null) return null;
      if (chain.writableBytes <= VSOCK_HDR_SIZE) {
        if (this.returnBad(q, chain)) this.res.pushed++;
        continue;
      }
      return chain;
    }
    return null;
  }

  /**
   * Return an unusable RX chain empty; false when the queue refused it (a chain no longer the
   * device's: then it is not counted, so `rxBadChain` counts the bad chains published).
   */
  private returnBad(q: DeviceQueue, chain: DescriptorChain): boolean {
    if (!q.push(chain, 0).ok) return false;
    this.c[VsockCounter.rxBadChain]++;
    return true;
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
