/**
 * One stream connection's state machine and credit accounting (virtio 1.2 §5.10.6.3–5.10.6.5,
 * Linux `virtio_transport_common.c`), shared by both ends: the connecting side and the
 * accepting side run the same code. It is pure: packets go out through an `emit` callback and
 * come in through `receive`; the socket table (`sockets.ts`) owns the lookup, the listeners,
 * the clock and the output queue.
 *
 * States: `connecting` (REQUEST sent) → `established` (RESPONSE seen, or accepted) → `closing`
 * (we sent SHUTDOWN both ways and wait for the peer's RST) → `closed`. Any RST closes.
 *
 * Credit (all u32, wrapping): every packet we send carries `bufAlloc` and `fwdCnt`; every packet
 * we receive updates `peerBufAlloc` and `peerFwdCnt`. A write sends at most
 * `peerBufAlloc - (txCnt - peerFwdCnt)` bytes (clamped at 0, as Linux computes it in signed
 * arithmetic). After a read, a CREDIT_UPDATE goes out when the credit the peer last saw is
 * below one maximum packet (Linux's rule) or half the buffer, whichever is larger (a large
 * buffer is refreshed before the sender runs dry). A peer that sends beyond our buffer is reset
 * (reliability F6: no stream byte is dropped silently).
 *
 * @module
 */

import { copyAtPhase } from "../memory/allocator.ts";
import {
  VSOCK_MAX_PAYLOAD,
  type VsockHeader,
  VsockOp,
  VsockShutdown,
  VsockType,
} from "./header.ts";

/** Connection states. */
export type ConnectionState = "connecting" | "established" | "closing" | "closed";

/** Why a connection closed. */
export type CloseReason =
  /** Closed in order: SHUTDOWN both ways, then RST. */
  | "done"
  /** The peer refused the REQUEST (no listener, no resources). */
  | "refused"
  /**
   * The REQUEST was answered with RST and no VM has the peer's CID (the socket table was told
   * which CIDs exist): Linux's ENODEV for a host connecting to a CID no guest has, where
   * "refused" is its ECONNREFUSED. The wire is the same (an RST); only the table knows.
   */
  | "no-such-cid"
  /** The peer reset an open connection. */
  | "reset"
  /** No RESPONSE, or no final RST, in time (reliability F9). */
  | "timeout"
  /** The device's TRANSPORT_RESET event. */
  | "transport-reset"
  /** The peer sent more than our buffer (reliability F6). */
  | "credit-violation"
  /** The peer broke the protocol (an op the state does not allow). */
  | "protocol"
  /** The local side reset it. */
  | "aborted";

/** What a socket tells its user. */
export type SocketEvent = "connected" | "readable" | "writable" | "closed";

/**
 * Where a connection's packets go. `payload` is a view of the writer's bytes, valid only during
 * the call: a receiver that keeps it copies it (the socket table does when it must queue).
 */
export type PacketEmit = (h: VsockHeader, payload: Uint8Array | null) => void;

/** Construction options of a `Connection`. */
export interface ConnectionOptions {
  /** Our CID. */
  localCid: number;
  /** Our port. */
  localPort: number;
  /** Peer CID. */
  peerCid: number;
  /** Peer port. */
  peerPort: number;
  /** Our receive buffer in bytes (Linux default 256 KiB). */
  bufAlloc?: number;
  /** Largest RW payload we send (default 64 KiB). */
  maxPayload?: number;
  /** Where our packets go. */
  emit: PacketEmit;
  /** Clock in ms for the REQUEST and close deadlines (reliability F9); none: no deadline. */
  now?: () => number;
  /** Called when a write is cut short by the peer's credit (for a table-wide counter). */
  onStall?: () => void;
  /** How long a REQUEST waits for its RESPONSE, ms (default 2000). */
  timeoutMs?: number;
  /** How long a close waits for the peer's final RST, ms (default 8000). */
  closeTimeoutMs?: number;
  /**
   * No VM has `peerCid` (the socket table knows the lab's CIDs): an RST to the REQUEST closes
   * the connection as "no-such-cid" instead of "refused". Default false.
   */
  unknownPeer?: boolean;
}

/** Linux's default socket buffer. */
export const DEFAULT_BUF_ALLOC = 256 * 1024;

/**
 * How long a REQUEST waits for its RESPONSE by default, ms: Linux's
 * `VSOCK_DEFAULT_CONNECT_TIMEOUT` (2 s).
 */
export const DEFAULT_CONNECT_TIMEOUT_MS = 2000;

/**
 * How long a close (SHUTDOWN both ways) waits for the peer's final RST by default, ms: Linux's
 * `VSOCK_CLOSE_TIMEOUT` (8 s). The peer answers once it has read the stream to its end, so a
 * stream whose tail is still on a slow link when its sender closes is waited for, not reset.
 */
export const DEFAULT_CLOSE_TIMEOUT_MS = 8000;

/**
 * A stream connection.
 *
 * @example
 * ```ts
 * import { Connection } from "./connection.ts";
 * const sent: number[] = [];
 * const c = Connection.connect({ localCid: 3, localPort: 1024, peerCid: 4, peerPort: 80,
 *   emit: (h) => sent.push(h.op) });
 * c.state; // "connecting"; sent = [1] (REQUEST)
 * ```
 */
export class Connection {
  /** Our CID (updated by a transport reset for listeners' children; fixed here). */
  readonly localCid: number;
  /** Our port. */
  readonly localPort: number;
  /** Peer CID. */
  readonly peerCid: number;
  /** Peer port. */
  readonly peerPort: number;
  /** Our receive buffer. */
  readonly bufAlloc: number;
  /** Largest RW payload we send. */
  readonly maxPayload: number;
  /** Current state. */
  state: ConnectionState = "connecting";
  /** Why it closed, once closed. */
  closeReason: CloseReason | null = null;
  /** Bytes consumed by our reader (u32). */
  fwdCnt = 0;
  /** `fwdCnt` as last sent to the peer. */
  lastFwdCnt = 0;
  /** Bytes we sent (u32). */
  txCnt = 0;
  /** The peer's buffer, as last seen. */
  peerBufAlloc = 0;
  /** The peer's consumed count, as last seen. */
  peerFwdCnt = 0;
  /** SHUTDOWN flags we sent (sticky). */
  localShutdown = 0;
  /** SHUTDOWN flags the peer sent (sticky, reliability F8). */
  peerShutdown = 0;
  /** Received bytes not yet read. */
  rxQueued = 0;
  /** Writes cut short because the peer had no credit. */
  creditStalls = 0;
  /** Deadline (ms, the socket table's clock) for `connecting` and `closing`. */
  deadline: number = Infinity;
  /** Event listener. */
  onEvent: ((e: SocketEvent) => void) | null = null;

  private readonly emit: PacketEmit;
  private readonly now: (() => number) | null;
  private readonly timeoutMs: number;
  private readonly closeTimeoutMs: number;
  private readonly onStall: (() => void) | null;
  private readonly unknownPeer: boolean;
  private readonly chunks: Uint8Array[] = [];
  private chunkHead = 0;
  private chunkOff = 0;
  /** Send a CREDIT_UPDATE once the credit the peer saw is below this (see `read`). */
  private readonly updateBelow: number;

  private constructor(o: ConnectionOptions) {
    this.localCid = o.localCid;
    this.localPort = o.localPort;
    this.peerCid = o.peerCid;
    this.peerPort = o.peerPort;
    this.bufAlloc = o.bufAlloc ?? DEFAULT_BUF_ALLOC;
    this.maxPayload = Math.min(o.maxPayload ?? VSOCK_MAX_PAYLOAD, VSOCK_MAX_PAYLOAD);
    if (!(this.maxPayload > 0) || !(this.bufAlloc > 0) || this.bufAlloc > 0xffffffff) {
      throw new RangeError(
        `Cannot create a vsock connection: bufAlloc ${this.bufAlloc} and maxPayload ${this.maxPayload} must be positive`,
      );
    }
    // Linux's rule is one maximum packet (64 KiB); with a large buffer that holds the sender
    // until nearly all of it is read, a bubble of one round trip per window: update at half.
    this.updateBelow = Math.max(VSOCK_MAX_PAYLOAD, this.bufAlloc / 2);
    this.emit = o.emit;
    this.now = o.now ?? null;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.closeTimeoutMs = o.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.onStall = o.onStall ?? null;
    this.unknownPeer = o.unknownPeer ?? false;
  }

  /** Start an outgoing connection: emits REQUEST, state `connecting`. */
  static connect(o: ConnectionOptions): Connection {
    const c = new Connection(o);
    c.send(VsockOp.REQUEST, 0, null);
    c.arm(c.timeoutMs);
    return c;
  }

  /** Accept a peer's REQUEST: takes its credit, emits RESPONSE, state `established`. */
  static accept(o: ConnectionOptions, request: Readonly<VsockHeader>): Connection {
    const c = new Connection(o);
    c.peerBufAlloc = request.bufAlloc;
    c.peerFwdCnt = request.fwdCnt;
    c.state = "established";
    c.send(VsockOp.RESPONSE, 0, null);
    return c;
  }

  /** Bytes the peer can take now: `peerBufAlloc - (txCnt - peerFwdCnt)`, at least 0. */
  peerFree(): number {
    const inFlight = (this.txCnt - this.peerFwdCnt) >>> 0;
    return Math.max(0, this.peerBufAlloc - inFlight);
  }

  /** Whether `write` can send now (established, not shut for sending, peer has credit). */
  get writable(): boolean {
    return this.state === "established" && (this.localShutdown & VsockShutdown.SEND) === 0 &&
      (this.peerShutdown & VsockShutdown.RCV) === 0 && this.peerFree() > 0;
  }

  /** Whether the peer will send no more (end of stream once `rxQueued` is 0). */
  get peerDone(): boolean {
    return (this.peerShutdown & VsockShutdown.SEND) !== 0 || this.state === "closed";
  }

  /** Handle a packet of this connection (STREAM type; the table checked addresses and type). */
  receive(h: Readonly<VsockHeader>, payload: Uint8Array | null): void {
    if (this.state === "closed") return;
    const before = this.peerFree();
    this.peerBufAlloc = h.bufAlloc;
    this.peerFwdCnt = h.fwdCnt;
    switch (this.state) {
      case "connecting":
        // A RESPONSE at or past the deadline is too late, whichever came first to this pass (the
        // timer or the packet): the connect timed out (Linux's wait ended; its late RESPONSE
        // meets a closed socket and gets RST), so a 2 s round trip always times out.
        if (h.op !== VsockOp.RST && this.now !== null && this.now() >= this.deadline) {
          this.reset("timeout");
          return;
        }
        if (h.op === VsockOp.RESPONSE) {
          this.state = "established";
          this.deadline = Infinity;
          this.fire("connected");
          if (this.peerFree() > 0) this.fire("writable");
        } else if (h.op === VsockOp.RST) {
          this.finish(this.unknownPeer ? "no-such-cid" : "refused");
        } else if (h.op !== VsockOp.INVALID) {
          // Linux: anything else but INVALID while connecting is EPROTO and a reset.
          this.reset("protocol");
        }
        return;
      case "established":
        this.established(h, payload);
        break;
      case "closing":
        if (h.op === VsockOp.RST) {
          this.finish("done");
          return;
        }
        if (h.op === VsockOp.SHUTDOWN) {
          this.peerShutdown |= h.flags & VsockShutdown.BOTH;
          if (this.peerShutdown === VsockShutdown.BOTH) {
            // Both sides closed at once: answer with the RST rather than waiting for a timeout.
            this.reset("done");
            return;
          }
        }
        // Linux drops everything else while disconnecting.
        return;
    }
    // Credit back from 0: "writable", whether or not a write was cut short (a writer that sizes
    // its writes to `peerFree()`, as the echo does, never stalls, and a peer may shrink its
    // buf_alloc to 0 under a writer that is not writing), as Linux wakes any socket waiting
    // for space.
    if (this.state === "established" && before === 0 && this.writable) this.fire("writable");
  }

  private established(h: Readonly<VsockHeader>, payload: Uint8Array | null): void {
    switch (h.op) {
      case VsockOp.RW: {
        const len = payload === null ? 0 : Math.min(h.len, payload.length);
        if (len === 0) return; // reliability F7
        if (this.rxQueued + len > this.bufAlloc) {
          this.reset("credit-violation");
          return;
        }
        // Borrow the payload (valid only during this call) while the reader runs; keep a copy
        // of what it left unread. A reader that keeps up (the sink, the echo) copies once.
        const view = len === payload!.length ? payload! : payload!.subarray(0, len);
        this.chunks.push(view);
        this.rxQueued += len;
        this.fire("readable");
        const at = this.chunks.lastIndexOf(view);
        if (at >= this.chunkHead) {
          if (at === this.chunkHead && this.chunkOff > 0) {
            this.chunks[at] = copyAtPhase(view.subarray(this.chunkOff));
            this.chunkOff = 0;
          } else this.chunks[at] = copyAtPhase(view);
        }
        return;
      }
      case VsockOp.CREDIT_UPDATE:
        return;
      case VsockOp.CREDIT_REQUEST:
        this.send(VsockOp.CREDIT_UPDATE, 0, null);
        return;
      case VsockOp.SHUTDOWN:
        this.peerShutdown |= h.flags & VsockShutdown.BOTH;
        if (this.peerShutdown === VsockShutdown.BOTH && this.rxQueued === 0) {
          // Linux: the peer shut both ways and nothing is left to read: RST and close.
          this.reset("done");
        } else if (h.flags & VsockShutdown.SEND) this.fire("readable"); // end of stream
        return;
      case VsockOp.RST:
        this.finish("reset");
        return;
      default:
        // REQUEST, RESPONSE, INVALID or unknown ops: Linux drops them on a connected socket.
        return;
    }
  }

  /**
   * Send up to `len` bytes of `data` from `from`, as much as the peer's credit allows; how many
   * were accepted (0 when not writable).
   */
  write(data: Uint8Array, from = 0, len = data.length - from): number {
    if (this.state !== "established" || (this.localShutdown & VsockShutdown.SEND) !== 0) return 0;
    if ((this.peerShutdown & VsockShutdown.RCV) !== 0) return 0;
    const n = Math.min(len, this.peerFree());
    if (n < len) {
      this.creditStalls++;
      this.onStall?.();
    }
    for (let done = 0; done < n;) {
      const k = Math.min(this.maxPayload, n - done);
      this.txCnt = (this.txCnt + k) >>> 0;
      this.send(VsockOp.RW, k, data.subarray(from + done, from + done + k));
      done += k;
    }
    return n;
  }

  /** Copy up to `into.length` received bytes; 0 when nothing is queued (see `peerDone`). */
  read(into: Uint8Array): number {
    let n = 0;
    while (n < into.length && this.chunkHead < this.chunks.length) {
      const c = this.chunks[this.chunkHead];
      const k = Math.min(c.length - this.chunkOff, into.length - n);
      into.set(c.subarray(this.chunkOff, this.chunkOff + k), n);
      n += k;
      this.chunkOff += k;
      if (this.chunkOff === c.length) {
        this.chunkHead++;
        this.chunkOff = 0;
      }
    }
    if (this.chunkHead === this.chunks.length) {
      this.chunks.length = 0;
      this.chunkHead = 0;
    } else if (this.chunkHead > 64) {
      this.chunks.splice(0, this.chunkHead);
      this.chunkHead = 0;
    }
    if (n === 0) return 0;
    this.rxQueued -= n;
    this.fwdCnt = (this.fwdCnt + n) >>> 0;
    if (this.state === "established") {
      if (this.peerShutdown === VsockShutdown.BOTH && this.rxQueued === 0) {
        this.reset("done");
      } else if (this.bufAlloc - ((this.fwdCnt - this.lastFwdCnt) >>> 0) < this.updateBelow) {
        this.send(VsockOp.CREDIT_UPDATE, 0, null);
      }
    }
    return n;
  }

  /** Announce a half or full shutdown (flags are sticky). */
  shutdown(flags: number): void {
    if (this.state !== "established") return;
    const f = flags & VsockShutdown.BOTH;
    if ((this.localShutdown | f) === this.localShutdown) return;
    this.localShutdown |= f;
    this.send(VsockOp.SHUTDOWN, 0, null, this.localShutdown);
  }

  /**
   * Close: RST at once if the peer already shut both ways (or we never got connected);
   * otherwise SHUTDOWN both ways and wait for the peer's RST until `deadline` (set by the
   * table).
   */
  close(): void {
    if (this.state === "closed" || this.state === "closing") return;
    if (this.state === "connecting" || this.peerShutdown === VsockShutdown.BOTH) {
      this.reset(this.state === "connecting" ? "aborted" : "done");
      return;
    }
    this.localShutdown = VsockShutdown.BOTH;
    this.send(VsockOp.SHUTDOWN, 0, null, VsockShutdown.BOTH);
    this.state = "closing";
    this.arm(this.closeTimeoutMs);
  }

  /** Reset a connection whose REQUEST or close waited past its deadline (F9); true if so. */
  expire(now: number): boolean {
    if (now < this.deadline) return false;
    this.reset("timeout");
    return true;
  }

  private arm(ms: number): void {
    if (this.now !== null) this.deadline = this.now() + ms;
  }

  /** Send RST and close with `reason`. */
  reset(reason: CloseReason): void {
    if (this.state === "closed") return;
    this.send(VsockOp.RST, 0, null);
    this.finish(reason);
  }

  /** Close without a packet (the transport is gone). */
  abort(reason: CloseReason): void {
    this.finish(reason);
  }

  private finish(reason: CloseReason): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.closeReason = reason;
    this.deadline = Infinity;
    this.fire("closed");
  }

  private fire(e: SocketEvent): void {
    this.onEvent?.(e);
  }

  private send(op: number, len: number, payload: Uint8Array | null, flags = 0): void {
    this.lastFwdCnt = this.fwdCnt;
    this.emit({
      srcCid: this.localCid,
      dstCid: this.peerCid,
      srcPort: this.localPort,
      dstPort: this.peerPort,
      len,
      type: VsockType.STREAM,
      op,
      flags,
      bufAlloc: this.bufAlloc,
      fwdCnt: this.fwdCnt,
    }, payload);
  }
}
