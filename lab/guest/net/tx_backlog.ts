/**
 * An interface's transmit backlog: the frames the stack accepted while the NIC's TX ring was
 * full, sent in order as soon as the driver reclaims room. It plays the part of Linux's qdisc
 * under a socket: a ping or an ARP reply that finds the ring full waits here (microseconds, until
 * the next reclaim) instead of being refused, while a flow that keeps the ring full (a flood) is
 * held to a few frames and then refused (`ring-full`, the back-pressure its sender waits on), so
 * it cannot crowd the others out, as `fq_codel` serves a new flow before a bulk one. Flows that
 * already hold frames share three quarters of the backlog at most, so that however many floods
 * run, the last quarter stays for the flows that hold none (a ping, an ARP reply, a datagram's
 * fragments).
 *
 * Frames are built into buffers the backlog keeps and reuses (the ring had no buffer to build
 * them in), only on this slow path; the fast path, an empty backlog and a ring with room, never
 * touches it. A flood that fills its ring thousands of times a second then allocates nothing.
 *
 * @module
 */

import { bytesAtPhase } from "../../../devices/memory/allocator.ts";

/** Frames one interface's backlog holds at most (Linux's `txqueuelen` is 1000; ours is short). */
export const BACKLOG_FRAMES = 128;
/**
 * Frames one flow may hold while it already holds some: past this, its sender is refused
 * (`ring-full`) until room comes back. A flow holding nothing may always hold one whole datagram
 * (all its fragments), within {@linkcode BACKLOG_FRAMES}.
 */
export const FLOW_FRAMES = 8;
/**
 * Frames the backlog may hold at most when a flow that already holds some asks for more: three
 * quarters of {@linkcode BACKLOG_FRAMES} (eight floods' shares and room for the stack's and a
 * ping's). The last quarter is kept for flows that hold none, so that sixteen floods cannot take
 * every place and refuse a ping or an ARP reply.
 */
export const BULK_FRAMES = (BACKLOG_FRAMES * 3) / 4;

/** The smallest buffer a slot keeps (a 1500-byte MTU's frame), so that it rarely grows. */
const MIN_STORE = 1514;

/**
 * Flow keys: which sender a frame belongs to, for the per-flow bound. UDP by source port, ping
 * requests by ICMP identifier, everything the stack answers on its own (ARP, echo replies) as one
 * flow, and the frames that waited for one neighbour's address as another.
 *
 * @example
 * ```ts
 * import { Flow } from "./tx_backlog.ts";
 * Flow.udp(49152) !== Flow.echo(49152); // true
 * ```
 */
export const Flow = {
  /** A UDP socket, by its source port. */
  udp: (srcPort: number): number => 0x10000 | srcPort,
  /** A ping socket, by its ICMP identifier. */
  echo: (id: number): number => 0x20000 | id,
  /** What the stack sends on its own: ARP, echo replies. */
  stack: 0x30000,
  /**
   * The frames that waited for a neighbour's address (IPv4 `ip`, as a u32), sent together once it
   * resolves: a flow of their own, so that they may wait as one unit (up to the ARP table's 16)
   * even while the stack's own flow holds frames.
   */
  neighbour: (ip: number): number => 0x1_0000_0000 + (ip >>> 0),
} as const;

/** A place in the backlog: the frame held there, its partial checksum (0: none) and its flow. */
interface Slot {
  frame: Uint8Array | null;
  csum: number;
  flow: number;
  /** The slot's own buffer, reused by `holdWith` (grown when a larger frame comes). */
  store: Uint8Array | null;
  /** The last view of `store` handed out (a flood's frames all have one length). */
  view: Uint8Array | null;
}

/**
 * The backlog of one interface. `admits` says whether a flow may hold more; `hold` keeps a frame;
 * `drain` hands frames, oldest first, to a sender until it refuses one.
 *
 * @example
 * ```ts
 * import { Flow, TxBacklog } from "./tx_backlog.ts";
 * const q = new TxBacklog();
 * if (q.admits(Flow.stack, 1)) q.holdWith(Flow.stack, 60, (buf) => buf.fill(0xff, 0, 6), 0);
 * q.drain(() => true); // 1: sent
 * q.length; // 0
 * ```
 */
export class TxBacklog {
  readonly #slots: Slot[];
  #head = 0;
  #length = 0;
  readonly #perFlow = new Map<number, number>();
  #draining = false;

  /**
   * `phase`: where the interface's TX buffers put a frame past a multiple of 8 (`framePhase`),
   * so that copying a held frame into the ring runs word by word. `limit`: frames held at most,
   * three quarters of them by flows that already hold some; `flowLimit`: a flow's share.
   */
  constructor(
    readonly phase = 0,
    readonly limit = BACKLOG_FRAMES,
    readonly flowLimit = FLOW_FRAMES,
  ) {
    this.#slots = Array.from(
      { length: limit },
      () => ({ frame: null, csum: 0, flow: 0, store: null, view: null }),
    );
  }

  /** Frames held now. */
  get length(): number {
    return this.#length;
  }

  /**
   * Whether `flow` may hold `frames` more frames now: a flow that holds none, within the limit; one
   * that holds some, within its share and within three quarters of the limit (`BULK_FRAMES`).
   */
  admits(flow: number, frames: number): boolean {
    if (this.#length + frames > this.limit) return false;
    const mine = this.#perFlow.get(flow) ?? 0;
    if (mine === 0) return true;
    return mine + frames <= this.flowLimit && this.#length + frames <= (this.limit * 3) / 4;
  }

  /** Keep `frame`, built ahead (the backlog owns it from now on); only after `admits` said yes. */
  hold(flow: number, frame: Uint8Array, csum: number): void {
    this.#tail(flow, csum).frame = frame;
  }

  /**
   * Keep a frame of `len` bytes that `fill` writes into one of the backlog's own buffers (every
   * byte of it: the buffer is reused); only after `admits` said yes.
   */
  holdWith(flow: number, len: number, fill: (buf: Uint8Array) => void, csum: number): void {
    const slot = this.#tail(flow, csum);
    let view = slot.view;
    if (view === null || view.length !== len) {
      let store = slot.store;
      if (store === null || store.length < len) {
        store = bytesAtPhase(Math.max(len, MIN_STORE), this.phase);
        slot.store = store;
      }
      view = new Uint8Array(store.buffer, store.byteOffset, len);
      slot.view = view;
    }
    fill(view);
    slot.frame = view;
  }

  /** The next free slot, taken for `flow`. */
  #tail(flow: number, csum: number): Slot {
    if (this.#length >= this.limit) throw new RangeError("hold past the backlog's limit");
    const slot = this.#slots[(this.#head + this.#length) % this.limit];
    slot.flow = flow;
    slot.csum = csum;
    this.#length++;
    this.#perFlow.set(flow, (this.#perFlow.get(flow) ?? 0) + 1);
    return slot;
  }

  /**
   * Offer the held frames, oldest first, to `send` until it returns false (no room: that frame
   * stays first). Returns how many were sent. A call from inside `send` (a driver that reclaims
   * room and announces it while sending) returns 0 at once: the outer drain goes on.
   */
  drain(send: (frame: Uint8Array, csum: number) => boolean): number {
    if (this.#draining) return 0;
    this.#draining = true;
    let n = 0;
    try {
      while (this.#length > 0) {
        const h = this.#slots[this.#head];
        if (!send(h.frame!, h.csum)) break;
        if (h.frame !== h.view) h.frame = null; // a frame built ahead: let it go
        this.#head = (this.#head + 1) % this.limit;
        this.#length--;
        const left = this.#perFlow.get(h.flow)! - 1;
        if (left === 0) this.#perFlow.delete(h.flow);
        else this.#perFlow.set(h.flow, left);
        n++;
      }
    } finally {
      this.#draining = false;
    }
    if (this.#length === 0) this.#head = 0; // the next frames reuse the first slots' buffers
    return n;
  }
}
