/**
 * The virtio-vsock device model (virtio 1.2 §5.10), run by the device worker: rx (0), tx (1)
 * and event (2) queues, a config space holding `guest_cid`, and a connection table
 * (`conntrack.ts`) that judges every packet.
 *
 * The worker calls `transmit` (TX chains → the injected `VsockBackend`, later the lab's vsock
 * router), `deliver` (one packet from the backend → the guest's inbox), `pump` after the driver
 * posts RX or event buffers, and `finish` once per run, which writes the inbox into RX buffers,
 * publishes the queues and says which interrupts to raise.
 *
 * Postures (reliability.md rows F; nothing a guest writes throws):
 * - F1: a chain shorter than the header is completed with used length 0 and counted.
 * - F2: `len` over 64 KiB or over what the chain holds: dropped, counted; nothing is allocated
 *   by `len` (payloads are gathered into one 64 KiB scratch buffer).
 * - F3: `src_cid` not the guest's: dropped silently, counted (no RST to a forged address).
 * - F4: a type other than STREAM: answered with RST (SEQPACKET is not offered).
 * - Unknown op: answered with RST unless the connection is established (Linux drops it there).
 * - F5: a packet for no connection: RST (never an RST for an RST).
 * - F6: the guest sends beyond its peer's credit: both ends get RST.
 * - F7: an empty RW is ignored. F8: shutdown flags are sticky (the table ORs them).
 * - F10: at most `maxConnections` connections; a REQUEST beyond is refused with RST.
 * - F11: packets for the guest wait in one bounded queue; the backend gets `"busy"` when it
 *   is full, and TX pauses (rather than dropping replies) when the replies fill its reserve.
 * - F12: with no RX buffer, packets wait; `pump` resumes after the driver's RX kick.
 * - G11: packets for the guest that an RX buffer the queue refused took with it end their
 *   connections: RST to the peer and to the guest, and what else waits for them is dropped
 *   (`resetLost`), as no later byte may reach the guest after a gap.
 * The device never queues more for a connection than the guest's credit allows: the table
 * resets a peer that sends beyond it. Event buffers are taken as the driver makes them available
 * and held until an event needs one, so a ring the driver broke is met at once.
 *
 * A reset (the driver wrote 0 to Status) or `transportReset` (the host side lost its state)
 * sends RST to the backend for every connection; the next activation, or the transport reset
 * itself, puts TRANSPORT_RESET on the event queue (§5.10.6.7).
 *
 * @module
 */

import type { GuestMemory } from "../memory/memory.ts";
import { err, OK_VOID, type Result } from "../base/result.ts";
import type { DescriptorChain } from "../virtio/chain.ts";
import { DeviceId } from "../virtio/constants.ts";
import type { ActivateContext, ActivateError, VirtioDeviceModel } from "../virtio/device_model.ts";
import type { RingError } from "../virtio/errors.ts";
import { type FeatureSet, featureSet, ringOfferBits } from "../virtio/features.ts";
import type { DeviceQueue } from "../virtio/queue.ts";
import {
  encodeVsockConfig,
  readVsockConfig,
  VSOCK_CONFIG_SIZE,
  VSOCK_MAX_CONNECTIONS,
} from "./config.ts";
import { GuestInbox } from "./inbox.ts";
import { gatherSegments } from "../virtio/segments.ts";
import { ConnTrack, type TrackedConnection, Verdict } from "./conntrack.ts";
import type { VsockDeviceFault, VsockQueueName } from "./errors.ts";
import {
  copyHeader,
  decodeHeader,
  emptyHeader,
  rstFor,
  VSOCK_HDR_SIZE,
  VSOCK_MAX_PAYLOAD,
  VSOCK_OP_MAX,
  type VsockHeader,
  VsockOp,
  VsockType,
} from "./header.ts";
import { VSOCK_COUNTER_COUNT, VsockCounter } from "./metrics.ts";

/** Where the guest's packets go (the lab's vsock router). */
export interface VsockBackend {
  /**
   * Take one packet; false when full (the device keeps it and retries: back-pressure).
   * `payload` (exactly `h.len` bytes) and `h` are valid only during the call.
   */
  send(h: Readonly<VsockHeader>, payload: Uint8Array): boolean;
  /**
   * Whether chains the driver made available from now on must wait (optional): `transmit` asks
   * right after a pop that read the driver's index afresh (`DeviceQueue.observed`); true keeps
   * that chain, not yet judged, for the next `transmit`, which asks again before it takes it (a
   * chain that pop refused is dropped as ever, and the rest stay). A lab worker answers with its control gate (`lab/wire/control_gate.ts`).
   */
  held?(): boolean;
}

/** What `deliver` did with a packet from the backend. */
export type DeliverOutcome =
  /** Accepted: written into RX buffers now or queued until there are some. */
  | "queued"
  /** The queue for the guest is full: keep the packet and retry after `pump` made room. */
  | "busy"
  /** Dropped (and answered with RST where the protocol says so). */
  | "dropped"
  /** The device is not activated, or a queue broke (or refused to take back an RX buffer for it). */
  | "not-live";

/** What one `transmit` call did. The object is reused: read it before the next call. */
export interface VsockTxOutcome {
  /** Packets handed to the backend. */
  sent: number;
  /** Chains completed without forwarding (malformed, refused, answered). */
  dropped: number;
  /** True when the backend or the reply queue was full: TX stopped, nothing was lost. */
  blocked: boolean;
}

/** Interrupts `finish` asks for. The object is reused. */
export interface VsockFinishOutcome {
  /** Raise the rx queue's used-buffer interrupt. */
  interruptRx: boolean;
  /** Raise the tx queue's used-buffer interrupt. */
  interruptTx: boolean;
  /** Raise the event queue's used-buffer interrupt. */
  interruptEvent: boolean;
}

/** Construction options of a `VsockDevice`. */
export interface VsockDeviceOptions {
  /** Guest memory: the chains' translated segment addresses index it. */
  memory: GuestMemory;
  /** The guest's CID (3 and up). */
  guestCid: number;
  /** QueueSizeMax of every queue. */
  queueMaxSize: number;
  /** Ring features to offer. */
  ring: { packed: boolean; eventIdx: boolean; indirect: boolean; inOrder: boolean };
  /** `VSOCK_COUNTER_COUNT` words (shared memory), laid out by `VsockCounter`. */
  counters: Float64Array;
  /** Where the guest's packets go. */
  backend: VsockBackend;
  /** Connection table bound (default 1023, as Firecracker). */
  maxConnections?: number;
  /** Packets waiting for the guest before `deliver` answers `"busy"` (default 256). */
  maxPendingRx?: number;
}

/** Room kept in the guest's queue for the device's own RSTs (F11). */
const REPLY_RESERVE = 64;

/**
 * The virtio-vsock device model.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { VsockDevice } from "./device.ts";
 * import { VSOCK_COUNTER_COUNT } from "./metrics.ts";
 * const dev = new VsockDevice({ memory: GuestMemory.create(65536), guestCid: 3, queueMaxSize: 128,
 *   ring: { packed: false, eventIdx: true, indirect: false, inOrder: false },
 *   counters: new Float64Array(VSOCK_COUNTER_COUNT), backend: { send: () => true } });
 * dev.readConfig(0, 4); // 3
 * ```
 */
export class VsockDevice implements VirtioDeviceModel {
  /** Socket device (virtio 1.2 §5). */
  readonly deviceId: number = DeviceId.VSOCK;
  /** rx, tx, event. */
  readonly queueCount: number = 3;
  /** QueueSizeMax. */
  readonly queueMaxSize: number;
  /** VERSION_1 and the ring bits asked for (no vsock bit: STREAM is implied). */
  readonly offered: FeatureSet;
  /** `guest_cid`. */
  readonly configSize: number = VSOCK_CONFIG_SIZE;
  /** The guest's CID. */
  readonly guestCid: number;

  private readonly u8: Uint8Array;
  private readonly c: Float64Array;
  private readonly config: Uint8Array;
  private readonly backend: VsockBackend;
  private readonly track: ConnTrack;
  private readonly maxPending: number;
  private readonly hdrBuf = new Uint8Array(VSOCK_HDR_SIZE);
  private readonly payloadBuf = new Uint8Array(VSOCK_MAX_PAYLOAD);
  private readonly h: VsockHeader = emptyHeader();
  private readonly txOut: VsockTxOutcome = { sent: 0, dropped: 0, blocked: false };
  private readonly finishOut: VsockFinishOutcome = {
    interruptRx: false,
    interruptTx: false,
    interruptEvent: false,
  };
  private rxq: DeviceQueue | null = null;
  private txq: DeviceQueue | null = null;
  private evq: DeviceQueue | null = null;
  private fault_: VsockDeviceFault | null = null;
  /**
   * A judged packet the backend had no room for (its chain already completed): its header and
   * its payload (null when none is kept), copied out of the guest's buffer into `keptBuf` at
   * the phase it had there, so the backend's copy of it still runs word by word.
   */
  private readonly keptHdr: VsockHeader = emptyHeader();
  private kept: Uint8Array | null = null;
  private keptBuf: Uint8Array | null = null;
  /** A popped TX chain the backend said `held` for: judged and sent once it no longer does. */
  private heldTx: DescriptorChain | null = null;
  /** Packets for the guest, oldest first. */
  private readonly inbox: GuestInbox;
  /** RSTs for the backend that it had no room for. */
  private toBackend: VsockHeader[] = [];
  private eventPending = false;
  private wasActive = false;
  private resetSince = false;
  private pushed = [0, 0, 0];

  /** A device in reset state. Throws a `RangeError` for a bad counter array. */
  constructor(opts: VsockDeviceOptions) {
    if (opts.counters.length < VSOCK_COUNTER_COUNT) {
      throw new RangeError(
        `Cannot create the vsock device: counters need ${VSOCK_COUNTER_COUNT} words, got ${opts.counters.length}`,
      );
    }
    this.u8 = opts.memory.u8;
    this.c = opts.counters;
    this.guestCid = opts.guestCid;
    this.queueMaxSize = opts.queueMaxSize;
    this.backend = opts.backend;
    this.track = new ConnTrack(opts.maxConnections ?? VSOCK_MAX_CONNECTIONS);
    this.maxPending = opts.maxPendingRx ?? 256;
    this.config = encodeVsockConfig(opts.guestCid);
    this.inbox = new GuestInbox(this.u8, this.c);
    this.offered = featureSet(ringOfferBits(opts.ring));
  }

  /** The fault that stopped the queues, or null. */
  get fault(): VsockDeviceFault | null {
    return this.fault_;
  }

  /** Packets waiting for RX buffers. */
  get pendingRx(): number {
    return this.inbox.length;
  }

  /** The tracked connections with their credit (a snapshot, for metrics and the dashboard). */
  connections(): TrackedConnection[] {
    return this.track.entries().map((e) => ({ ...e }));
  }

  /** Read config space little-endian; out of range reads 0. */
  readConfig(offset: number, size: 1 | 2 | 4): number {
    return readVsockConfig(this.config, offset, size);
  }

  /** Keep the three queues; after a reset, TRANSPORT_RESET goes on the event queue. */
  activate(ctx: ActivateContext): Result<void, ActivateError> {
    for (let i = 0; i < 3; i++) {
      if ((ctx.queues[i] ?? null) === null) return err({ kind: "missing-queue", queue: i });
    }
    const again = this.resetSince;
    this.clearQueues();
    this.rxq = ctx.queues[0];
    this.txq = ctx.queues[1];
    this.evq = ctx.queues[2];
    this.wasActive = true;
    this.resetSince = false;
    if (again) this.eventPending = true;
    this.pump();
    return OK_VOID;
  }

  /** The driver wrote 0 to Status: every connection is reset toward the backend. */
  reset(): void {
    this.dropConnections();
    this.dropKept();
    this.clearQueues();
    if (this.wasActive) this.resetSince = true;
  }

  /**
   * The device side lost its connections (a restarted backend, a migration): RST to the
   * backend for each, and TRANSPORT_RESET to the guest (virtio 1.2 §5.10.6.7).
   */
  transportReset(): void {
    this.dropConnections();
    this.dropKept();
    this.inbox.clear();
    this.eventPending = true;
    this.pump();
  }

  /**
   * After a restore (a replaced device worker, `MmioDeviceTransport.restore`): take the chains,
   * by queue, that the previous worker popped and did not complete. Its connection table died
   * with it, so the caller follows with `transportReset`: a TX packet in flight is completed
   * unsent (counted `restartDropped`; its connection is reset on both ends, so nothing the
   * sender was told was delivered is lost silently); RX and event buffers are held and filled
   * before any new one. Each chain is completed exactly once.
   */
  adoptInFlight(inFlight: ReadonlyArray<ReadonlyArray<DescriptorChain>>): void {
    for (const chain of inFlight[1] ?? []) {
      if (this.complete(chain)) this.c[VsockCounter.restartDropped]++;
    }
    this.inbox.hold(inFlight[0] ?? [], inFlight[2] ?? []);
  }

  /**
   * The path to some peers is gone (the vsock link to them went down): every connection the
   * guest has with a peer whose CID `matches` is reset toward the guest, as if that peer had
   * answered RST, so no guest waits (a connect, a write) on a connection that can no longer make
   * progress. Connections to other peers are untouched. Returns how many were reset.
   */
  resetPeers(matches: (peerCid: number) => boolean): number {
    let n = 0;
    for (const e of this.track.entries()) {
      if (!matches(e.peerCid)) continue;
      // rstFor of a guest-to-peer header is the peer's RST to the guest.
      this.rstGuest({
        ...emptyHeader(),
        srcCid: this.guestCid,
        dstCid: e.peerCid,
        srcPort: e.guestPort,
        dstPort: e.peerPort,
        type: VsockType.STREAM,
      });
      this.track.delete(e.guestPort, e.peerCid, e.peerPort);
      n++;
    }
    this.c[VsockCounter.connections] = this.track.size;
    this.pump();
    return n;
  }

  /**
   * Forward up to `budget` TX chains to the backend. Stops early when the ring is empty, the
   * backend is full (the packet is kept, copied; its chain was returned) or the replies for the
   * guest fill their reserve.
   */
  transmit(budget: number): VsockTxOutcome {
    const out = this.txOut;
    out.sent = 0;
    out.dropped = 0;
    out.blocked = false;
    const q = this.txq;
    if (q === null || this.fault_ !== null) return out;
    if (!this.flushBackend()) {
      out.blocked = true;
      return out;
    }
    const c = this.c;
    for (let n = 0; n < budget; n++) {
      if (this.kept !== null) {
        if (!this.send(this.keptHdr, this.kept)) {
          out.blocked = true;
          break;
        }
        this.kept = null;
        out.sent++;
        continue;
      }
      if (this.pendingRx >= this.maxPending + REPLY_RESERVE) {
        out.blocked = true; // F11: TX pauses until the guest takes its replies
        break;
      }
      let chain: DescriptorChain;
      if (this.heldTx !== null) {
        if (this.backend.held !== undefined && this.backend.held()) break; // still held
        chain = this.heldTx;
        this.heldTx = null;
      } else {
        const r = q.pop();
        if (!r.ok) {
          const e = r.error;
          if (e.fatal) {
            this.breakOn(e, "tx");
            return out;
          }
          if (this.complete(e.chain)) {
            c[VsockCounter.malformedLen]++;
            out.dropped++;
          }
          // Its pop's load may have revealed chains after it, which the next pops take from the
          // shadow index without a load of their own: asked here, or they went unasked.
          if (q.observed && this.backend.held !== undefined && this.backend.held()) break;
          continue;
        }
        if (r.value === null) break;
        chain = r.value;
        // A load that can have revealed chains published after the backend's state changed (a
        // lab worker's control message not yet read): this one waits, unjudged, and so does the
        // rest.
        if (q.observed && this.backend.held !== undefined && this.backend.held()) {
          this.heldTx = chain;
          break;
        }
      }
      // Staged before it is judged and sent: a completion the queue refuses (a broken queue, or a
      // chain not in flight) is of a chain no longer the device's to read, so it is neither
      // judged (no connection state moves, no RST answers it) nor sent nor counted. Each chain
      // counts once, as published (`finish` publishes the stage; the buffer stays the device's
      // to read until then).
      if (!this.complete(chain)) continue;
      if (!this.judge(chain)) {
        out.dropped++;
        continue;
      }
      if (!this.forward(chain)) {
        c[VsockCounter.txBackpressure]++;
        out.blocked = true;
        break;
      }
      out.sent++;
    }
    this.pump();
    return out;
  }

  /** Take one packet from the backend for the guest (`payload` is not kept: it may be reused after). */
  deliver(h: Readonly<VsockHeader>, payload: Uint8Array | null): DeliverOutcome {
    if (this.rxq === null || this.fault_ !== null) return "not-live";
    if (this.pendingRx >= this.maxPending) {
      this.pump(); // what RX buffers can take goes now; busy only if the rest fills the bound
      if (this.pendingRx >= this.maxPending) return "busy";
    }
    const c = this.c;
    const len = payload === null ? 0 : payload.length;
    if (h.dstCid !== this.guestCid || len > VSOCK_MAX_PAYLOAD || h.len !== len) {
      c[VsockCounter.misrouted]++;
      return "dropped";
    }
    if (h.type !== VsockType.STREAM) {
      c[VsockCounter.malformedType]++;
      if (h.op !== VsockOp.RST) this.rstBackend(rstFor(h));
      return "dropped";
    }
    const v = this.track.fromPeer(h);
    c[VsockCounter.connections] = this.track.size;
    if (this.track.reason >= 0) c[this.track.reason]++;
    switch (v) {
      case Verdict.DROP:
        return "dropped";
      case Verdict.RST_SENDER:
        this.rstBackend(rstFor(h));
        return "dropped";
      case Verdict.RESET_BOTH:
        this.rstBackend(rstFor(h));
        this.inbox.add(
          { ...copyHeader(h, emptyHeader()), op: VsockOp.RST, len: 0, flags: 0 },
          null,
        );
        c[VsockCounter.rstToGuest]++;
        this.pump();
        return "dropped";
    }
    // Written into RX buffers now when nothing waits (else queued, copied); the last buffer is
    // completed by the next `pump` or `finish`, so packets delivered in one batch share RX
    // buffers (see `GuestInbox.put`).
    const r = this.inbox.put(this.rxq, h, len === 0 ? null : payload);
    this.pushed[0] += r.pushed;
    if (r.broken !== null) this.fault_ = { kind: "queue-broken", queue: "rx", cause: r.broken };
    // An RX buffer the queue refused to take back was not written: the packet did not arrive
    // (its sender gets RST from the caller, `not-live`), and its connection ends here as the
    // connections of the RWs of an open buffer refused before it do (`resetLost`): the guest may
    // have its first pieces.
    const refused = r.refused;
    if (refused) this.resetLost([...r.lost, copyHeader(h, emptyHeader())], h);
    else if (r.lost.length > 0) this.resetLost(r.lost);
    return refused ? "not-live" : "queued";
  }

  /**
   * Take the event buffers the driver made available (held until an event needs one), write
   * waiting packets into RX buffers and a pending event into an event buffer.
   */
  pump(): void {
    if (this.fault_ !== null) return;
    if (this.evq !== null) {
      const t = this.inbox.takeEvents(this.evq);
      this.pushed[2] += t.pushed;
      if (t.broken !== null) {
        this.fault_ = { kind: "queue-broken", queue: "event", cause: t.broken };
        return;
      }
    }
    if (this.eventPending && this.evq !== null) {
      const r = this.inbox.pumpEvent(this.evq);
      this.pushed[2] += r.pushed;
      if (r.written) this.eventPending = false;
      if (r.broken !== null) {
        this.fault_ = { kind: "queue-broken", queue: "event", cause: r.broken };
      }
    }
    // A pass that met a refused buffer stops there; the next goes on once the connections it
    // cost were ended (`resetLost`). Bounded: each refusal took one of the queue's buffers.
    const passes = this.rxq === null ? 0 : this.rxq.size + 1;
    for (let pass = 0; pass < passes && this.rxq !== null && this.fault_ === null; pass++) {
      const r = this.inbox.pumpRx(this.rxq);
      this.pushed[0] += r.pushed;
      if (r.broken !== null) this.fault_ = { kind: "queue-broken", queue: "rx", cause: r.broken };
      if (r.lost.length === 0) break;
      this.resetLost(r.lost);
    }
  }

  /**
   * G11: packets for the guest (headers `lost`, from peers) were dropped with an RX buffer the
   * queue refused: what follows them on their connections would reach the guest after a gap. Each
   * connection ends explicitly: what else waits for it is dropped, its peer gets RST (if the
   * device still tracks it), and so does the guest, unless it never heard of the connection (a
   * peer's REQUEST it has not answered) and no RST was among the packets dropped. The peer of
   * `answered`'s connection gets no RST here: the caller answers it (`deliver`'s `not-live`).
   */
  private resetLost(
    lost: readonly VsockHeader[],
    answered: Readonly<VsockHeader> | null = null,
  ): void {
    const done = new Set<string>();
    // Copied: `lost` is the inbox's, and `drop` below runs before it is read through.
    for (const h of lost.slice()) {
      const guestPort = h.dstPort;
      const peerCid = h.srcCid;
      const peerPort = h.srcPort;
      const k = `${guestPort}/${peerCid}/${peerPort}`;
      if (done.has(k)) continue;
      done.add(k);
      const waiting = this.inbox.drop((p) =>
        p.srcCid === peerCid && p.srcPort === peerPort && p.dstPort === guestPort &&
        p.dstCid === h.dstCid
      );
      const e = this.track.get(guestPort, peerCid, peerPort);
      if (e !== undefined) {
        this.track.delete(guestPort, peerCid, peerPort);
        this.c[VsockCounter.connections] = this.track.size;
        const told = answered !== null && answered.srcCid === peerCid &&
          answered.srcPort === peerPort && answered.dstPort === guestPort;
        if (!told) this.rstBackend(rstFor(h));
      }
      const known = e !== undefined && e.state !== "peer-connecting";
      if (known || waiting.rst || h.op === VsockOp.RST) {
        this.inbox.add(
          { ...copyHeader(h, emptyHeader()), op: VsockOp.RST, len: 0, flags: 0 },
          null,
        );
        this.c[VsockCounter.rstToGuest]++;
      }
    }
  }

  /**
   * Write what waits into RX buffers (`pump`), then publish every queue; the interrupts to
   * raise, per the driver's event suppression.
   */
  finish(): VsockFinishOutcome {
    this.pump();
    const out = this.finishOut;
    out.interruptRx = this.publish(this.rxq, 0);
    out.interruptTx = this.publish(this.txq, 1);
    out.interruptEvent = this.publish(this.evq, 2);
    return out;
  }

  private publish(q: DeviceQueue | null, i: number): boolean {
    if (q === null || this.pushed[i] === 0) return false;
    q.publish();
    this.pushed[i] = 0;
    const irq = q.needsInterrupt();
    this.c[irq ? VsockCounter.interrupts : VsockCounter.interruptsSuppressed]++;
    return irq;
  }

  /** Validate a TX chain into `this.h`; false when it was dropped or answered (counted). */
  private judge(chain: DescriptorChain): boolean {
    const c = this.c;
    if (chain.readableBytes < VSOCK_HDR_SIZE) {
      c[VsockCounter.malformedShort]++; // F1
      return false;
    }
    gatherSegments(this.u8, chain.readable, 0, this.hdrBuf, this.hdrBuf.length);
    const h = decodeHeader(this.hdrBuf, 0, this.h);
    if (h.len > VSOCK_MAX_PAYLOAD || h.len > chain.readableBytes - VSOCK_HDR_SIZE) {
      c[VsockCounter.malformedLen]++; // F2
      return false;
    }
    if (h.srcCid !== this.guestCid) {
      c[VsockCounter.malformedSpoofed]++; // F3: silently
      return false;
    }
    if (h.type !== VsockType.STREAM) {
      c[VsockCounter.malformedType]++; // F4
      if (h.op !== VsockOp.RST) this.rstGuest(h);
      return false;
    }
    if (h.op === VsockOp.INVALID || h.op > VSOCK_OP_MAX) {
      c[VsockCounter.malformedOp]++;
      if (!this.track.has(h.srcPort, h.dstCid, h.dstPort)) this.rstGuest(h);
      return false;
    }
    const v = this.track.fromGuest(h);
    c[VsockCounter.connections] = this.track.size;
    if (this.track.reason >= 0) c[this.track.reason]++;
    if (this.track.stalled) c[VsockCounter.creditStalls]++;
    if (v === Verdict.FORWARD) return true;
    if (v === Verdict.RST_SENDER) this.rstGuest(h);
    if (v === Verdict.RESET_BOTH) {
      this.rstGuest(h);
      this.rstBackend({ ...copyHeader(h, emptyHeader()), op: VsockOp.RST, len: 0, flags: 0 });
    }
    return false;
  }

  /**
   * Hand a judged chain's packet (header in `this.h`) to the backend. A payload contiguous in one
   * descriptor (header and payload in one buffer, as the lab's driver and Linux's write them)
   * goes as a view of guest memory: the backend's copy is the only one. Otherwise it is gathered
   * into the scratch buffer. (The header was snapshotted by `judge`; payload bytes the guest
   * changes meanwhile are its own stream's bytes.) When the backend is full, the packet is kept,
   * copied (its chain's completion is staged, so the buffer goes back to the guest at `finish`),
   * for the next `transmit`; false then.
   */
  private forward(chain: DescriptorChain): boolean {
    const h = this.h;
    const segs = chain.readable;
    let payload: Uint8Array;
    if (segs.length === 1 && segs[0].len >= VSOCK_HDR_SIZE + h.len) {
      const at = segs[0].gpa + VSOCK_HDR_SIZE;
      payload = this.u8.subarray(at, at + h.len);
    } else {
      payload = this.payloadBuf.subarray(0, h.len);
      gatherSegments(this.u8, segs, VSOCK_HDR_SIZE, payload, payload.length);
    }
    if (this.send(h, payload)) return true;
    copyHeader(h, this.keptHdr);
    this.keptBuf ??= new Uint8Array(VSOCK_MAX_PAYLOAD + 8);
    const phase = payload.byteOffset & 7;
    this.kept = this.keptBuf.subarray(phase, phase + payload.length);
    this.kept.set(payload);
    return false;
  }

  /** One packet to the backend, counted when it took it; false when it is full. */
  private send(h: Readonly<VsockHeader>, payload: Uint8Array): boolean {
    if (!this.backend.send(h, payload)) return false;
    this.c[VsockCounter.txPackets]++;
    this.c[VsockCounter.txBytes] += h.len;
    return true;
  }

  private rstGuest(h: Readonly<VsockHeader>): void {
    this.inbox.add(rstFor(h), null);
    this.c[VsockCounter.rstToGuest]++;
  }

  private rstBackend(h: VsockHeader): void {
    this.c[VsockCounter.rstToBackend]++;
    this.toBackend.push(h);
    this.flushBackend();
  }

  /** Send the RSTs the backend had no room for; false if some are still waiting. */
  private flushBackend(): boolean {
    let i = 0;
    for (; i < this.toBackend.length; i++) {
      const h = this.toBackend[i];
      if (!this.backend.send(h, this.payloadBuf.subarray(0, 0))) break;
    }
    if (i > 0) this.toBackend.splice(0, i);
    return this.toBackend.length === 0;
  }

  private dropConnections(): void {
    for (const e of this.track.entries()) {
      this.rstBackend({
        srcCid: this.guestCid,
        dstCid: e.peerCid,
        srcPort: e.guestPort,
        dstPort: e.peerPort,
        len: 0,
        type: VsockType.STREAM,
        op: VsockOp.RST,
        flags: 0,
        bufAlloc: 0,
        fwdCnt: 0,
      });
    }
    this.track.clear();
    this.c[VsockCounter.connections] = 0;
  }

  /**
   * Forget the packet kept for a full backend: its connection was just reset (an RST to the
   * backend went before it), so sent after that RST it would reach a peer that drops it. Its
   * chain was completed when it was taken; counted as a TX packet the transport reset left
   * unsent (`restartDropped`).
   */
  private dropKept(): void {
    if (this.kept === null) return;
    this.kept = null;
    this.c[VsockCounter.restartDropped]++;
  }

  private clearQueues(): void {
    this.rxq = null;
    this.txq = null;
    this.evq = null;
    this.fault_ = null;
    this.kept = null;
    this.heldTx = null;
    this.inbox.clear();
    this.inbox.releaseHeld();
    this.eventPending = false;
    this.pushed = [0, 0, 0];
  }

  /** A fatal pop error: stop using the queues (the worker sets DEVICE_NEEDS_RESET). */
  private breakOn(e: RingError & { fatal: true }, queue: VsockQueueName): void {
    const { fatal: _fatal, ...cause } = e;
    this.fault_ ??= { kind: "queue-broken", queue, cause: cause as RingError };
  }

  /** Stage a TX completion; false when the queue refused it (then nothing of it is counted). */
  private complete(chain: DescriptorChain): boolean {
    if (this.txq === null || !this.txq.push(chain, 0).ok) return false;
    this.pushed[1]++;
    return true;
  }
}
