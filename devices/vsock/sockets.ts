/**
 * The guest's vsock socket table (the AF_VSOCK layer of the guest worker): listeners, stream
 * connections (`connection.ts`) keyed by their 4-tuple, ephemeral ports, an output queue in
 * front of the driver, and the clock that bounds REQUEST and close waits.
 *
 * Who calls it: the guest worker's pump hands every received packet to `handle`, calls
 * `flush` to move queued packets into the driver's TX ring as room allows, `tick` for
 * deadlines, and `transportReset` on the device's TRANSPORT_RESET event. Workloads use
 * `listen`, `connect` and the returned `Connection` (`write`, `read`, `shutdown`, `close`,
 * `onEvent`). The output queue is bounded by the credit the peers granted (a write never takes
 * more) plus a few control packets per connection.
 *
 * @module
 */

import { copyAtPhase } from "../memory/allocator.ts";
import { Connection, type ConnectionOptions, type PacketEmit } from "./connection.ts";
import { type VsockHeader, VsockOp, VsockType } from "./header.ts";
import { VSOCK_MAX_CONNECTIONS } from "./config.ts";
import { rstFor } from "./header.ts";
import { VSOCK_DRIVER_COUNTER_COUNT, VsockDriverCounter } from "./metrics.ts";

/** Where the table's packets go (the driver's `send`): false when the TX ring is full. */
export interface PacketSink {
  /** Queue one packet; false when there is no room now (the table retries on `flush`). */
  send(h: Readonly<VsockHeader>, payload: Uint8Array | null): boolean;
}

/** Construction options of `VsockSockets`. */
export interface VsockSocketsOptions {
  /** The guest's CID (from the config space). */
  cid: number;
  /** Where packets go. */
  sink: PacketSink;
  /** Clock in ms (deadlines); default: none, so nothing expires. */
  now?: () => number;
  /** Receive buffer per connection (default 256 KiB). */
  bufAlloc?: number;
  /** Largest RW payload (the driver's `maxPayload`). */
  maxPayload?: number;
  /** Connection bound (default 1023); a REQUEST beyond is refused with RST (F10). */
  maxConnections?: number;
  /** REQUEST deadline in ms (default 2000). */
  timeoutMs?: number;
  /** How long a close waits for the peer's final RST, ms (default 8000, Linux's). */
  closeTimeoutMs?: number;
  /** `VSOCK_DRIVER_COUNTER_COUNT` words (shared with the driver's counters). */
  counters?: Float64Array;
  /**
   * Every CID that exists (the lab's VMs with vsock, and the host): a connect to any other CID
   * that is refused closes as "no-such-cid", not "refused" (see `CloseReason`). Default: not
   * known, every refusal is "refused".
   */
  knownCids?: ReadonlySet<number>;
}

/** First ephemeral port (Linux picks above the reserved range 0…1023). */
const EPHEMERAL_BASE = 1024;

/**
 * The socket table.
 *
 * @example
 * ```ts
 * import { VsockSockets } from "./sockets.ts";
 * const out: number[] = [];
 * const s = new VsockSockets({ cid: 3, sink: { send: (h) => (out.push(h.op), true) } });
 * s.listen(80, (conn) => conn.write(new TextEncoder().encode("hi")));
 * const c = s.connect(4, 80);
 * s.flush(); // out = [1] (REQUEST)
 * ```
 */
export class VsockSockets {
  /** The guest's CID (a transport reset may change it). */
  cid: number;
  private readonly sink: PacketSink;
  private readonly now: (() => number) | undefined;
  private readonly bufAlloc: number | undefined;
  private readonly maxPayload: number | undefined;
  private readonly maxConnections: number;
  private readonly timeoutMs: number | undefined;
  private readonly closeTimeoutMs: number | undefined;
  private readonly c: Float64Array;
  private readonly knownCids: ReadonlySet<number> | null;
  private readonly conns = new Map<string, Connection>();
  private readonly listeners = new Map<number, (conn: Connection) => void>();
  private out: { h: VsockHeader; payload: Uint8Array | null }[] = [];
  private outHead = 0;
  private nextPort = EPHEMERAL_BASE;
  /** Packets that went straight to the sink (no queue) since the last `flush`. */
  private sentDirect = 0;
  private readonly emit: PacketEmit;

  /** An empty table. */
  constructor(o: VsockSocketsOptions) {
    this.cid = o.cid;
    this.sink = o.sink;
    this.now = o.now;
    this.bufAlloc = o.bufAlloc;
    this.maxPayload = o.maxPayload;
    this.maxConnections = o.maxConnections ?? VSOCK_MAX_CONNECTIONS;
    this.timeoutMs = o.timeoutMs;
    this.closeTimeoutMs = o.closeTimeoutMs;
    this.c = o.counters ?? new Float64Array(VSOCK_DRIVER_COUNTER_COUNT);
    this.knownCids = o.knownCids ?? null;
    this.emit = (h, payload) => {
      if (h.op === VsockOp.RST) this.c[VsockDriverCounter.rstSent]++;
      // Nothing waits: straight into the sink (the driver copies into a TX buffer, no copy
      // here). Otherwise the packet waits in order, with its own copy of the payload.
      if (this.outHead === this.out.length && this.sink.send(h, payload)) {
        this.sentDirect++;
        return;
      }
      this.out.push({ h, payload: payload === null ? null : copyAtPhase(payload) });
    };
  }

  /** Packets waiting for room in the TX ring. */
  get pendingOut(): number {
    return this.out.length - this.outHead;
  }

  /** Open connections (any state but closed). */
  get size(): number {
    let n = 0;
    for (const c of this.conns.values()) if (c.state !== "closed") n++;
    return n;
  }

  /** Accept connections on `port`; false if something already listens there. */
  listen(port: number, onAccept: (conn: Connection) => void): boolean {
    if (this.listeners.has(port)) return false;
    this.listeners.set(port, onAccept);
    return true;
  }

  /**
   * Stop listening on `port` (open connections stay); with `onAccept`, only if that handler is
   * still the one listening (a workload that stopped early leaves a later listener alone).
   */
  unlisten(port: number, onAccept?: (conn: Connection) => void): void {
    if (onAccept === undefined || this.listeners.get(port) === onAccept) {
      this.listeners.delete(port);
    }
  }

  /**
   * Connect to `cid:port` from a free ephemeral port; the connection starts `connecting` and
   * fires `connected` or `closed` ("refused", "no-such-cid" when `knownCids` lacks `cid`,
   * "timeout"). Throws a `RangeError` when every
   * port or the connection bound is taken (a local resource error, like EADDRNOTAVAIL).
   */
  connect(cid: number, port: number): Connection {
    this.sweep();
    if (this.conns.size >= this.maxConnections) {
      throw new RangeError(
        `Cannot connect to ${cid}:${port}: ${this.maxConnections} connections are open`,
      );
    }
    // Bounded: among size + listeners + 1 consecutive ports one is free.
    for (let i = 0; i <= this.conns.size + this.listeners.size; i++) {
      const p = this.nextPort;
      this.nextPort = p >= 0xfffffffe ? EPHEMERAL_BASE : p + 1;
      const k = key(p, cid, port);
      if (this.conns.has(k) || this.listeners.has(p)) continue;
      const unknownPeer = this.knownCids !== null && !this.knownCids.has(cid);
      const conn = Connection.connect({ ...this.options(p, cid, port), unknownPeer });
      this.conns.set(k, conn);
      return conn;
    }
    throw new RangeError(`Cannot connect to ${cid}:${port}: no free local port`);
  }

  /** Handle one received packet (header and payload are valid only during the call). */
  handle(h: Readonly<VsockHeader>, payload: Uint8Array | null): void {
    const c = this.c;
    if (h.op === VsockOp.RST) c[VsockDriverCounter.rstReceived]++;
    if (h.dstCid !== this.cid) {
      c[VsockDriverCounter.rxDropped]++;
      return;
    }
    if (h.type !== VsockType.STREAM) {
      this.refuse(h); // spec §5.10.6.6: unknown type → RST
      return;
    }
    const k = key(h.dstPort, h.srcCid, h.srcPort);
    let conn = this.conns.get(k);
    if (conn !== undefined && conn.state === "closed") {
      this.conns.delete(k);
      conn = undefined;
    }
    if (conn !== undefined) {
      conn.receive(h, payload);
      if (conn.state === "closed") this.conns.delete(k);
      return;
    }
    const onAccept = h.op === VsockOp.REQUEST ? this.listeners.get(h.dstPort) : undefined;
    if (onAccept === undefined || this.conns.size >= this.maxConnections) {
      this.refuse(h); // F5, F10
      return;
    }
    const accepted = Connection.accept(this.options(h.dstPort, h.srcCid, h.srcPort), h);
    this.conns.set(k, accepted);
    onAccept(accepted);
  }

  /** Reset connections whose REQUEST or close waited too long (F9); how many. */
  tick(): number {
    if (this.now === undefined) return 0;
    const t = this.now();
    let n = 0;
    for (const [k, conn] of this.conns) {
      if (conn.expire(t)) n++;
      if (conn.state === "closed") this.conns.delete(k);
    }
    return n;
  }

  /**
   * TRANSPORT_RESET: every connection closes ("transport-reset", no packet: the transport lost
   * them); listeners stay and take the new CID (virtio 1.2 §5.10.6.7).
   */
  transportReset(newCid: number = this.cid): void {
    this.cid = newCid;
    this.out = [];
    this.outHead = 0;
    const all = [...this.conns.values()];
    this.conns.clear();
    for (const conn of all) conn.abort("transport-reset");
  }

  /**
   * Move queued packets into the sink until it is full; how many went, counting those that
   * went straight to the sink since the last call.
   */
  flush(): number {
    let n = this.sentDirect;
    this.sentDirect = 0;
    // Bounded by the queue's length at entry.
    while (this.outHead < this.out.length) {
      const p = this.out[this.outHead];
      if (!this.sink.send(p.h, p.payload)) break;
      this.outHead++;
      n++;
    }
    if (this.outHead === this.out.length) {
      this.out = [];
      this.outHead = 0;
    } else if (this.outHead > 1024) {
      this.out = this.out.slice(this.outHead);
      this.outHead = 0;
    }
    return n;
  }

  /** The counters (`VsockDriverCounter` layout). */
  get counters(): Float64Array {
    return this.c;
  }

  private refuse(h: Readonly<VsockHeader>): void {
    if (h.op === VsockOp.RST) {
      this.c[VsockDriverCounter.rxDropped]++; // never answer an RST with an RST
      return;
    }
    this.emit(rstFor(h), null);
  }

  private sweep(): void {
    for (const [k, conn] of this.conns) if (conn.state === "closed") this.conns.delete(k);
  }

  private options(localPort: number, peerCid: number, peerPort: number): ConnectionOptions {
    const c = this.c;
    const emit = this.emit;
    return {
      localCid: this.cid,
      localPort,
      peerCid,
      peerPort,
      bufAlloc: this.bufAlloc,
      maxPayload: this.maxPayload,
      now: this.now,
      timeoutMs: this.timeoutMs,
      closeTimeoutMs: this.closeTimeoutMs,
      emit,
      onStall: () => c[VsockDriverCounter.creditStalls]++,
    };
  }
}

function key(localPort: number, peerCid: number, peerPort: number): string {
  return `${localPort}/${peerCid}/${peerPort}`;
}
