/**
 * The device's connection table: what the device model (device worker) knows of each stream
 * connection between its guest and a peer, learnt from the headers going by, so that it can
 * judge every packet the way a Linux transport would (reliability.md rows F) without being a
 * socket itself.
 *
 * Each entry mirrors both ends' credit: the guest's `buf_alloc`/`fwd_cnt` (from its TX
 * headers) against the bytes the device has taken for it (`toGuest`), and the peer's
 * `buf_alloc`/`fwd_cnt` (from packets the backend delivers) against the bytes the guest has
 * sent (`fromGuest`). So the guest cannot send beyond the peer's credit (F6), and the device
 * never queues more for the guest than the guest's credit allows.
 *
 * @module
 */

import { VsockCounter } from "./metrics.ts";
import { type VsockHeader, VsockOp, VsockShutdown } from "./header.ts";

/** What to do with a packet. */
export const Verdict = {
  /** Pass it on. */
  FORWARD: 0,
  /** Drop it (count `reason` if set). */
  DROP: 1,
  /** Drop it and answer its sender with RST. */
  RST_SENDER: 2,
  /** Drop it, RST both ends; the entry is gone. */
  RESET_BOTH: 3,
} as const;

/** A tracked connection (read-only outside this module). */
export interface TrackedConnection {
  /** The guest's port. */
  guestPort: number;
  /** The peer's CID. */
  peerCid: number;
  /** The peer's port. */
  peerPort: number;
  /** Who sent the REQUEST, and whether the RESPONSE came. */
  state: "guest-connecting" | "peer-connecting" | "established";
  /** The guest's advertised buffer. */
  guestBufAlloc: number;
  /** The guest's consumed count. */
  guestFwdCnt: number;
  /** Payload bytes taken for the guest (u32). */
  toGuest: number;
  /** The peer's advertised buffer. */
  peerBufAlloc: number;
  /** The peer's consumed count. */
  peerFwdCnt: number;
  /** Payload bytes the guest sent (u32). */
  fromGuest: number;
  /** SHUTDOWN flags seen from the guest (sticky). */
  guestShutdown: number;
  /** SHUTDOWN flags seen from the peer (sticky). */
  peerShutdown: number;
  /** Total payload bytes guest → peer. */
  bytesOut: number;
  /** Total payload bytes peer → guest. */
  bytesIn: number;
  /** Guest RW packets that used up the peer's credit. */
  creditStalls: number;
}

function key(guestPort: number, peerCid: number, peerPort: number): string {
  return `${guestPort}/${peerCid}/${peerPort}`;
}

function credit(bufAlloc: number, sent: number, fwdCnt: number): number {
  return Math.max(0, bufAlloc - ((sent - fwdCnt) >>> 0));
}

/**
 * The connection table, bounded at `maxConnections` entries (F10).
 *
 * @example
 * ```ts
 * import { ConnTrack, Verdict } from "./conntrack.ts";
 * import { emptyHeader, VsockOp } from "./header.ts";
 * const t = new ConnTrack(4);
 * t.fromGuest({ ...emptyHeader(), srcCid: 3, srcPort: 1024, dstCid: 4, dstPort: 80,
 *   op: VsockOp.RW, len: 1 }) === Verdict.RST_SENDER; // true: no such connection (F5)
 * ```
 */
export class ConnTrack {
  /** The `VsockCounter` index explaining the last non-forward verdict, or -1. */
  reason: number = -1;
  /** Whether the last forwarded guest RW used up the peer's credit. */
  stalled: boolean = false;
  private readonly table = new Map<string, TrackedConnection>();
  private readonly max: number;

  /** A table of at most `maxConnections` entries. */
  constructor(maxConnections: number) {
    this.max = maxConnections;
  }

  /** Entries now. */
  get size(): number {
    return this.table.size;
  }

  /** Every entry (a snapshot array). */
  entries(): TrackedConnection[] {
    return [...this.table.values()];
  }

  /** Forget every entry. */
  clear(): void {
    this.table.clear();
  }

  /** Forget one connection (no verdict, no counter). */
  delete(guestPort: number, peerCid: number, peerPort: number): void {
    this.table.delete(key(guestPort, peerCid, peerPort));
  }

  /** The guest's connection, or undefined (read-only: the table's own entry). */
  get(
    guestPort: number,
    peerCid: number,
    peerPort: number,
  ): Readonly<TrackedConnection> | undefined {
    return this.table.get(key(guestPort, peerCid, peerPort));
  }

  /** Whether the guest's connection exists. */
  has(guestPort: number, peerCid: number, peerPort: number): boolean {
    return this.table.has(key(guestPort, peerCid, peerPort));
  }

  /** Judge a STREAM packet the guest sent (addresses, length and type already checked). */
  fromGuest(h: Readonly<VsockHeader>): number {
    this.reason = -1;
    this.stalled = false;
    const k = key(h.srcPort, h.dstCid, h.dstPort);
    const e = this.table.get(k);
    if (h.op === VsockOp.REQUEST) {
      return this.open(k, e, h.srcPort, h.dstCid, h.dstPort, "guest-connecting", h, true);
    }
    if (e === undefined) return this.stray(h.op);
    e.guestBufAlloc = h.bufAlloc;
    e.guestFwdCnt = h.fwdCnt;
    switch (h.op) {
      case VsockOp.RESPONSE:
        return this.respond(k, e, "peer-connecting");
      case VsockOp.RW: {
        if (e.state !== "established") return this.kill(k, VsockCounter.malformedOp);
        if (h.len === 0) return this.drop(VsockCounter.emptyRw);
        const free = credit(e.peerBufAlloc, e.fromGuest, e.peerFwdCnt);
        if (h.len > free) return this.kill(k, VsockCounter.creditViolations);
        e.fromGuest = (e.fromGuest + h.len) >>> 0;
        e.bytesOut += h.len;
        if (h.len === free) {
          e.creditStalls++;
          this.stalled = true;
        }
        return Verdict.FORWARD;
      }
      case VsockOp.SHUTDOWN:
        e.guestShutdown |= h.flags & VsockShutdown.BOTH;
        return Verdict.FORWARD;
      case VsockOp.RST:
        this.table.delete(k);
        return Verdict.FORWARD;
      default:
        return Verdict.FORWARD; // CREDIT_UPDATE, CREDIT_REQUEST
    }
  }

  /** Judge a STREAM packet the backend delivers for the guest (already addressed to it). */
  fromPeer(h: Readonly<VsockHeader>): number {
    this.reason = -1;
    this.stalled = false;
    const k = key(h.dstPort, h.srcCid, h.srcPort);
    const e = this.table.get(k);
    if (h.op === VsockOp.REQUEST) {
      return this.open(k, e, h.dstPort, h.srcCid, h.srcPort, "peer-connecting", h, false);
    }
    if (e === undefined) return this.stray(h.op);
    e.peerBufAlloc = h.bufAlloc;
    e.peerFwdCnt = h.fwdCnt;
    switch (h.op) {
      case VsockOp.RESPONSE:
        return this.respond(k, e, "guest-connecting");
      case VsockOp.RW: {
        if (e.state !== "established") return this.kill(k, VsockCounter.malformedOp);
        if (h.len === 0) return this.drop(VsockCounter.emptyRw);
        if (h.len > credit(e.guestBufAlloc, e.toGuest, e.guestFwdCnt)) {
          return this.kill(k, VsockCounter.peerCreditViolations);
        }
        e.toGuest = (e.toGuest + h.len) >>> 0;
        e.bytesIn += h.len;
        return Verdict.FORWARD;
      }
      case VsockOp.SHUTDOWN:
        e.peerShutdown |= h.flags & VsockShutdown.BOTH;
        return Verdict.FORWARD;
      case VsockOp.RST:
        this.table.delete(k);
        return Verdict.FORWARD;
      default:
        return Verdict.FORWARD;
    }
  }

  private open(
    k: string,
    e: TrackedConnection | undefined,
    guestPort: number,
    peerCid: number,
    peerPort: number,
    state: "guest-connecting" | "peer-connecting",
    h: Readonly<VsockHeader>,
    fromGuest: boolean,
  ): number {
    // A REQUEST on a live 4-tuple breaks the rule that it is not reused before it closed.
    if (e !== undefined) return this.kill(k, VsockCounter.malformedOp);
    if (this.table.size >= this.max) {
      this.reason = VsockCounter.tableFull;
      return Verdict.RST_SENDER;
    }
    this.table.set(k, {
      guestPort,
      peerCid,
      peerPort,
      state,
      guestBufAlloc: fromGuest ? h.bufAlloc : 0,
      guestFwdCnt: fromGuest ? h.fwdCnt : 0,
      toGuest: 0,
      peerBufAlloc: fromGuest ? 0 : h.bufAlloc,
      peerFwdCnt: fromGuest ? 0 : h.fwdCnt,
      fromGuest: 0,
      guestShutdown: 0,
      peerShutdown: 0,
      bytesOut: 0,
      bytesIn: 0,
      creditStalls: 0,
    });
    return Verdict.FORWARD;
  }

  private respond(k: string, e: TrackedConnection, expected: TrackedConnection["state"]): number {
    if (e.state !== expected) return this.kill(k, VsockCounter.malformedOp);
    e.state = "established";
    return Verdict.FORWARD;
  }

  /** A packet for no connection: RST (F5), but never answer an RST with an RST. */
  private stray(op: number): number {
    this.reason = VsockCounter.noConnection;
    return op === VsockOp.RST ? Verdict.DROP : Verdict.RST_SENDER;
  }

  private drop(reason: number): number {
    this.reason = reason;
    return Verdict.DROP;
  }

  private kill(k: string, reason: number): number {
    this.table.delete(k);
    this.reason = reason;
    return Verdict.RESET_BOTH;
  }
}
