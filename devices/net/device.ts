/**
 * The virtio-net device model (virtio 1.2 §5.1), run by the device worker: one receiveq
 * (index 0) and one transmitq (index 1), a config space with mac, status and mtu, and the
 * `virtio_net_hdr_v1` on every frame.
 *
 * The worker calls `transmit` (TX chains → the link's `FrameSink`), `receive` (one frame from
 * the link → RX chains) and then `finish` once per run, which publishes both queues and says
 * which interrupts to raise. Nothing here allocates per frame: chains are the queue's pooled
 * objects, the header is written from a scratch array, and bytes are copied with plain loops.
 *
 * Postures (reliability.md section E):
 * - E1/E2: a TX chain shorter than the header, or whose frame is under 14 or over mtu + 14
 *   bytes, is completed with used length 0 and counted (`txMalformed`); the queue lives.
 * - A8: a TX chain with a device-writable part (`txMalformed`) or an RX chain with a
 *   device-readable part (`rxBadChain`) is returned with used length 0, as vhost-net refuses
 *   "unexpected descriptor format"; the queue lives.
 * - E3: TX header fields other than the checksum request are never read (no GSO is offered).
 *   With VIRTIO_NET_F_CSUM negotiated, a header with NEEDS_CSUM whose `csum_start` and
 *   `csum_offset` do not fit the frame is E1 (dropped, `txMalformed`), as Linux's tun refuses it;
 *   without CSUM the flags are not read at all.
 * - E4: RX chains that cannot hold the frame yet are kept popped ("held") and used first for
 *   the next frame, so no buffer is lost and none is returned empty; the caller keeps or drops
 *   the frame (`"no-buffers"`) and retries after the driver's RX kick.
 * - E5: merging depends on the negotiated set only.
 * - E6: `transmit` handles at most `budget` chains per call.
 * A fatal `PopError` sets `fault`: the device stops using both queues and the worker marks
 * DEVICE_NEEDS_RESET.
 *
 * @module
 */

import type { GuestMemory } from "../memory/memory.ts";
import { err, OK_VOID, type Result } from "../base/result.ts";
import type { DescriptorChain } from "../virtio/chain.ts";
import { Feature } from "../virtio/constants.ts";
import type { ActivateContext, ActivateError, VirtioDeviceModel } from "../virtio/device_model.ts";
import type { RingError } from "../virtio/errors.ts";
import { type FeatureSet, featureSet, hasFeature, ringOfferBits } from "../virtio/features.ts";
import type { DeviceQueue } from "../virtio/queue.ts";
import { gatherSegments, scatterSegments } from "../virtio/segments.ts";
import {
  encodeNetConfig,
  ETH_HEADER_SIZE,
  maxFrameLen,
  NET_CONFIG_SIZE,
  NET_HDR_SIZE,
  NetConfigOffset,
  NetFeature,
  NetHdr,
  NetHdrFlag,
  NetStatus,
  readConfigValue,
  readLe16,
  writeLe16,
  writeRxHeader,
} from "./config.ts";
import {
  completeChecksum,
  csumOffsetOf,
  csumStartOf,
  MAX_CSUM_OFFSET,
  partialChecksum,
  partialChecksumFits,
} from "./checksum.ts";
import type { NetDeviceFault, NetQueueName } from "./errors.ts";
import { NET_COUNTER_COUNT, NetCounter } from "./metrics.ts";

/** Where transmitted frames go (the link): reserve room, fill it, commit. */
export interface FrameSink {
  /** Room for a frame of up to `maxLen` bytes, or null when the link is full (back-pressure). */
  reserve(maxLen: number): Uint8Array | null;
  /**
   * Send the first `len` bytes of the last reserved buffer; `meta` is 0 or the partial checksum
   * still to complete (`partialChecksum` in checksum.ts).
   */
  commit(len: number, meta: number): void;
  /**
   * Whether chains the driver made available from now on must wait (optional). `transmit` asks
   * right after a pop that read the driver's index afresh (`DeviceQueue.observed`), once per such
   * load; true keeps that chain unsent (the rest stay in the ring) for the next `transmit`, which
   * asks again before it sends it (a chain that pop refused is dropped as ever, and the rest
   * stay). A lab worker answers with its control gate: a control message
   * posted and not yet read (`lab/wire/control_gate.ts`).
   */
  held?(): boolean;
}

/** What one `transmit` call did. The object is reused: read it before the next call. */
export interface TxOutcome {
  /** Frames committed to the sink. */
  sent: number;
  /** Chains completed without sending (malformed, link down). */
  dropped: number;
  /** True when the sink was full: a chain is kept and retried first next time. */
  blocked: boolean;
}

/** What `receive` did with one frame. */
export type RxOutcome =
  /** Written into RX buffers (visible after `finish`). */
  | "delivered"
  /** Not enough RX buffers now: keep or drop the frame, retry after the driver refills (E4). */
  | "no-buffers"
  /** The link is down: the frame is not delivered. */
  | "link-down"
  /** The device is not activated, or a queue broke: the frame is dropped (counted, `rxNotLive`). */
  | "not-live"
  /** Larger than mtu + 14, or than the RX buffers can ever hold: dropped. */
  | "too-big"
  /** Shorter than an Ethernet header: dropped. */
  | "runt";

/** Interrupts `finish` asks for. The object is reused: read it before the next call. */
export interface FinishOutcome {
  /** Raise the receiveq's used-buffer interrupt. */
  interruptRx: boolean;
  /** Raise the transmitq's used-buffer interrupt. */
  interruptTx: boolean;
}

/** Construction options of a `NetDevice`. */
export interface NetDeviceOptions {
  /** Guest memory: the chains' translated segment addresses index it. */
  memory: GuestMemory;
  /** Six MAC bytes. */
  mac: Uint8Array;
  /** MTU (68…65535); frames are at most mtu + 14 bytes. */
  mtu: number;
  /** QueueSizeMax of both queues. */
  queueMaxSize: number;
  /** Initial link state. */
  linkUp: boolean;
  /** Ring features to offer. */
  ring: { packed: boolean; eventIdx: boolean; indirect: boolean; inOrder: boolean };
  /** Offer VIRTIO_NET_F_MRG_RXBUF. */
  mrgRxbuf: boolean;
  /** Offer VIRTIO_F_ACCESS_PLATFORM (the device is behind a vIOMMU). Default false. */
  accessPlatform?: boolean;
  /**
   * Offer checksum offload, VIRTIO_NET_F_CSUM and VIRTIO_NET_F_GUEST_CSUM (default false): a
   * partial checksum goes over the link as it is and is completed only where it must be.
   */
  csum?: boolean;
  /** `NET_COUNTER_COUNT` words (shared memory), laid out by `NetCounter`. */
  counters: Float64Array;
}

const RX = 0;
const TX = 1;

/**
 * The virtio-net device model.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { NetDevice } from "./device.ts";
 * import { NET_COUNTER_COUNT } from "./metrics.ts";
 * const dev = new NetDevice({ memory: GuestMemory.create(65536), mac: new Uint8Array(6),
 *   mtu: 1500, queueMaxSize: 256, linkUp: true, mrgRxbuf: true,
 *   ring: { packed: false, eventIdx: true, indirect: false, inOrder: false },
 *   counters: new Float64Array(NET_COUNTER_COUNT) });
 * dev.readConfig(6, 2); // 1: LINK_UP
 * ```
 */
export class NetDevice implements VirtioDeviceModel {
  /** Network card. */
  readonly deviceId = 1;
  /** receiveq1 and transmitq1. */
  readonly queueCount = 2;
  /** QueueSizeMax. */
  readonly queueMaxSize: number;
  /** VERSION_1, MAC, MTU, STATUS, optionally MRG_RXBUF, and the ring bits asked for. */
  readonly offered: FeatureSet;
  /** mac, status, max_virtqueue_pairs, mtu. */
  readonly configSize = NET_CONFIG_SIZE;

  private readonly u8: Uint8Array;
  private readonly c: Float64Array;
  private readonly config: Uint8Array;
  private readonly maxFrame: number;
  private readonly hdr = new Uint8Array(NET_HDR_SIZE);
  private readonly txOut: TxOutcome = { sent: 0, dropped: 0, blocked: false };
  private readonly finishOut: FinishOutcome = { interruptRx: false, interruptTx: false };
  private rxq: DeviceQueue | null = null;
  private txq: DeviceQueue | null = null;
  private mrg = false;
  /** CSUM negotiated: the driver may send partial checksums. */
  private txCsum = false;
  /** GUEST_CSUM negotiated: the driver takes partial checksums as they are. */
  private rxCsum = false;
  private linkUp_: boolean;
  private fault_: NetDeviceFault | null = null;
  /** A popped TX chain the sink had no room for, or held (`txHeld`): sent first next time. */
  private pendingTx: DescriptorChain | null = null;
  /** `pendingTx` waits because the sink said `held`: sent once it no longer does. */
  private txHeld = false;
  /** TX chains a previous device worker popped and did not complete (restore): sent first. */
  private restoredTx: ReadonlyArray<DescriptorChain> = [];
  private restoredTxAt = 0;
  /** Popped RX chains not yet used (a ring of `held.length`), oldest first. */
  private held: DescriptorChain[] = [];
  private heldHead = 0;
  private heldCount = 0;
  private heldBytes = 0;
  private rxPushed = 0;
  // Frames (and their bytes) written into RX buffers since the last publish: counted in
  // `rxFrames` when `finish` publishes them. A worker that dies before it publishes never
  // delivered them; its successor delivers them again from the link ring and counts them then.
  private rxFramesPending = 0;
  private rxBytesPending = 0;
  // The same for frames sent: counted in `txFrames` when their used entries are published (a
  // successor sends again the chains its predecessor never completed to the driver).
  private txFramesPending = 0;
  private txBytesPending = 0;
  // And what the device did with the other chains it completed (dropped as malformed or for a
  // link that was down; partial checksums carried), counted when those completions publish.
  private txMalformedPending = 0;
  private txLinkDownPending = 0;
  private txCsumPartialPending = 0;
  private txPushed = 0;
  // Frames from the link the device dropped (too big, runt, link down, not live), counted when
  // the pass ends (`finish`), with the link ring's tail that takes them for good: a worker that
  // dies mid-pass leaves them in the link ring, and its successor drops and counts them once.
  private rxTooBigPending = 0;
  private rxRuntPending = 0;
  private rxLinkDownPending = 0;
  private rxNotLivePending = 0;

  /** A device in reset state. Throws a `RangeError` for a bad MAC, MTU or counter array. */
  constructor(opts: NetDeviceOptions) {
    if (opts.counters.length < NET_COUNTER_COUNT) {
      throw new RangeError(
        `Cannot create the net device: counters need ${NET_COUNTER_COUNT} words, got ${opts.counters.length}`,
      );
    }
    this.u8 = opts.memory.u8;
    this.c = opts.counters;
    this.queueMaxSize = opts.queueMaxSize;
    this.linkUp_ = opts.linkUp;
    this.maxFrame = maxFrameLen(opts.mtu);
    this.config = encodeNetConfig({
      mac: opts.mac,
      linkUp: opts.linkUp,
      maxVirtqueuePairs: 1,
      mtu: opts.mtu,
    });
    const bits = [...ringOfferBits(opts.ring), NetFeature.MAC, NetFeature.MTU, NetFeature.STATUS];
    if (opts.mrgRxbuf) bits.push(NetFeature.MRG_RXBUF);
    if (opts.accessPlatform) bits.push(Feature.ACCESS_PLATFORM);
    if (opts.csum) bits.push(NetFeature.CSUM, NetFeature.GUEST_CSUM);
    this.offered = featureSet(bits);
  }

  /** The fault that stopped the queues, or null. */
  get fault(): NetDeviceFault | null {
    return this.fault_;
  }

  /** Current link state. */
  get linkUp(): boolean {
    return this.linkUp_;
  }

  /** Whether MRG_RXBUF was negotiated (valid after `activate`). */
  get mergeable(): boolean {
    return this.mrg;
  }

  /**
   * Whether `receive` completes a frame's partial checksum in the frame it is given, in place:
   * the driver did not negotiate GUEST_CSUM (valid after `activate`). The caller owns that
   * frame's bytes and meta word, and must not hand it over again with the old meta.
   */
  get completesChecksums(): boolean {
    return !this.rxCsum;
  }

  /** RX chains popped and held for the next frame (E4). */
  get heldRxBuffers(): number {
    return this.heldCount;
  }

  /** Read config space little-endian; out of range reads 0. */
  readConfig(offset: number, size: 1 | 2 | 4): number {
    return readConfigValue(this.config, offset, size);
  }

  /** Keep the queues and the negotiated features; behaviour follows the negotiated set (E5). */
  activate(ctx: ActivateContext): Result<void, ActivateError> {
    const rx = ctx.queues[RX] ?? null;
    const tx = ctx.queues[TX] ?? null;
    if (rx === null) return err({ kind: "missing-queue", queue: RX });
    if (tx === null) return err({ kind: "missing-queue", queue: TX });
    this.reset();
    this.rxq = rx;
    this.txq = tx;
    this.mrg = hasFeature(ctx.negotiated, NetFeature.MRG_RXBUF);
    this.txCsum = hasFeature(ctx.negotiated, NetFeature.CSUM);
    this.rxCsum = hasFeature(ctx.negotiated, NetFeature.GUEST_CSUM);
    this.held = new Array<DescriptorChain>(rx.size);
    return OK_VOID;
  }

  /** Forget queues, held chains and the fault (the driver wrote 0 to Status). */
  reset(): void {
    this.rxq = null;
    this.txq = null;
    this.mrg = false;
    this.txCsum = false;
    this.rxCsum = false;
    this.fault_ = null;
    this.pendingTx = null;
    this.txHeld = false;
    this.restoredTx = [];
    this.restoredTxAt = 0;
    this.held = [];
    this.heldHead = 0;
    this.heldCount = 0;
    this.heldBytes = 0;
    this.rxPushed = 0;
    this.rxFramesPending = 0;
    this.rxBytesPending = 0;
    this.txPushed = 0;
    this.txFramesPending = 0;
    this.txBytesPending = 0;
    this.txMalformedPending = 0;
    this.txLinkDownPending = 0;
    this.txCsumPartialPending = 0;
    // Frames dropped are dropped whatever the driver does next: counted, not forgotten.
    this.settleRxDrops();
  }

  /**
   * After a restore (`MmioDeviceTransport.restore`, a replaced device worker): take the chains
   * the previous worker popped and did not complete, in fetch order. RX chains are held for the
   * next frames (they were checked when first popped); TX chains are sent before any new one.
   * Each is completed exactly once, so no frame is lost or sent twice.
   */
  adoptInFlight(rx: ReadonlyArray<DescriptorChain>, tx: ReadonlyArray<DescriptorChain>): void {
    for (const chain of rx) {
      if (this.heldCount >= this.held.length) break;
      this.held[(this.heldHead + this.heldCount) % this.held.length] = chain;
      this.heldCount++;
      this.heldBytes += chain.writableBytes;
    }
    this.restoredTx = tx;
    this.restoredTxAt = 0;
  }

  /** Set the link state (config status bit 0); true if it changed (raise a config interrupt). */
  setLinkUp(up: boolean): boolean {
    if (up === this.linkUp_) return false;
    this.linkUp_ = up;
    writeLe16(this.config, NetConfigOffset.STATUS, up ? NetStatus.LINK_UP : 0);
    return true;
  }

  /**
   * Send up to `budget` TX chains into `sink` (E6). Stops early when the ring is empty or the
   * sink is full (the chain is kept, not dropped). The returned object is reused.
   */
  transmit(sink: FrameSink, budget: number): TxOutcome {
    const out = this.txOut;
    out.sent = 0;
    out.dropped = 0;
    out.blocked = false;
    const q = this.txq;
    if (q === null || this.fault_ !== null) return out;
    const c = this.c;
    for (let n = 0; n < budget; n++) {
      let chain = this.pendingTx;
      if (chain !== null && this.txHeld) {
        if (sink.held !== undefined && sink.held()) return out; // still held: it waits
        this.txHeld = false;
      }
      this.pendingTx = null;
      if (chain === null && this.restoredTxAt < this.restoredTx.length) {
        // No `held` here: these were published before this worker started, so what they must meet
        // was posted before it too, and came with its start (a lab worker's first pass reads it
        // before any frame); a later change may go either way for them, as for any frame in a ring.
        chain = this.restoredTx[this.restoredTxAt++];
      }
      if (chain === null) {
        const r = q.pop();
        if (!r.ok) {
          const e = r.error;
          if (e.fatal) {
            this.breakOn(e, "transmitq");
            return out;
          }
          c[NetCounter.txChainsPopped]++;
          if (e.chain.indirect) c[NetCounter.txIndirectChains]++;
          if (this.completeTx(q, e.chain)) {
            this.txMalformedPending++;
            out.dropped++;
          }
          // Its pop's load may have revealed chains after it, which the next pops take from the
          // shadow index without a load of their own: asked here, or they went unasked.
          if (q.observed && sink.held !== undefined && sink.held()) break;
          continue;
        }
        if (r.value === null) break;
        chain = r.value;
        c[NetCounter.txChainsPopped]++;
        if (chain.indirect) c[NetCounter.txIndirectChains]++;
        // A load that can have revealed chains published after the sink's state changed (a lab
        // worker's control message not yet read): this one waits, unsent, and so does the rest.
        if (q.observed && sink.held !== undefined && sink.held()) {
          this.pendingTx = chain;
          this.txHeld = true;
          break;
        }
      }
      // E1, E2: the header must be there; the frame must be an Ethernet frame within the MTU.
      // E3: only the checksum request is read, and only under CSUM (no GSO is offered).
      // A8: a TX chain is device-readable only (vhost-net: "unexpected descriptor format").
      const len = chain.readableBytes - NET_HDR_SIZE;
      const meta = this.txCsum && len >= 0 ? this.checksumRequest(chain, len) : 0;
      if (
        len < ETH_HEADER_SIZE || len > this.maxFrame || chain.writable.length > 0 || meta < 0
      ) {
        if (this.completeTx(q, chain)) {
          this.txMalformedPending++;
          out.dropped++;
        }
        continue;
      }
      if (!this.linkUp_) {
        if (this.completeTx(q, chain)) {
          this.txLinkDownPending++;
          out.dropped++;
        }
        continue;
      }
      const buf = sink.reserve(len);
      if (buf === null || buf.length < len) {
        this.pendingTx = chain;
        c[NetCounter.txBackpressure]++;
        out.blocked = true;
        break;
      }
      // Staged before it is sent: a completion the queue refuses (a broken queue, or a chain not
      // in flight) is of a chain no longer the device's to read, so its frame is not sent either.
      // Each chain is then counted once, as published: txUsedPublished = txFrames + txLinkDown +
      // txMalformed, and a link's framesIn is txFrames (`finish` publishes the stage).
      if (!this.completeTx(q, chain)) continue;
      gatherSegments(this.u8, chain.readable, NET_HDR_SIZE, buf, len);
      sink.commit(len, meta);
      if (meta !== 0) this.txCsumPartialPending++;
      this.txFramesPending++;
      this.txBytesPending += len;
      out.sent++;
    }
    return out;
  }

  /**
   * Write one frame into RX buffers (published by `finish`). Without MRG_RXBUF one chain must
   * hold header + frame; with it, chains are filled in order until they cover it and the first
   * header carries `num_buffers` (virtio 1.2 §5.1.6.4). `meta` is the link's word for the frame:
   * a partial checksum goes to a driver with GUEST_CSUM as NEEDS_CSUM, and is completed in
   * `frame` (which the device may write) for one without.
   */
  receive(frame: Uint8Array, meta = 0): RxOutcome {
    const q = this.rxq;
    if (q === null || this.fault_ !== null) return this.notLive();
    if (!this.linkUp_) {
      this.rxLinkDownPending++;
      return "link-down";
    }
    const len = frame.length;
    if (len < ETH_HEADER_SIZE) {
      this.rxRuntPending++;
      return "runt";
    }
    if (len > this.maxFrame) {
      this.rxTooBigPending++;
      return "too-big";
    }
    const need = NET_HDR_SIZE + len;
    if (!this.mrg) {
      if (this.heldCount === 0 && !this.holdNext(q)) return this.noBuffers();
      const chain = this.held[this.heldHead];
      if (chain.writableBytes < need) {
        // The driver's buffer is too small for this frame (it should post header + MTU + 14
        // bytes): drop the frame, keep the buffer for the next one.
        this.rxTooBigPending++;
        return "too-big";
      }
      this.dropHeld(1);
      // Staged before it is written, as in `transmit`: a buffer the queue refuses to return is
      // not the device's to write, and the frame is dropped as not live.
      if (!this.pushRx(q, chain, need)) return this.notLive();
      this.putRxHeader(chain, frame, meta, 1);
      scatterSegments(this.u8, chain.writable, NET_HDR_SIZE, frame, 0, len);
    } else {
      for (let i = 0; this.heldBytes < need && i < q.size; i++) {
        if (!this.holdNext(q)) break;
      }
      if (this.fault_ !== null) return this.notLive();
      if (this.heldBytes < need) {
        if (this.heldCount >= q.size) {
          // Every buffer the ring can hold is held and still too small: it can never fit.
          this.rxTooBigPending++;
          return "too-big";
        }
        return this.noBuffers();
      }
      // How many held chains cover `need` (bounded by heldCount).
      let n = 0;
      for (let covered = 0; covered < need; n++) {
        covered += this.held[(this.heldHead + n) % this.held.length].writableBytes;
      }
      let from = 0;
      let refused = false;
      for (let i = 0; i < n; i++) {
        const chain = this.held[this.heldHead];
        this.dropHeld(1);
        const at = i === 0 ? NET_HDR_SIZE : 0;
        const take = Math.min(chain.writableBytes - at, len - from);
        // Pushed in order and published together by `finish`: split writes all n entries and
        // then one used.idx; packed writes b2…bn first and b1's flags last (packed_device.ts
        // publish), so the driver never sees part of a merged frame (virtio 1.2 §5.1.6.4 step 3).
        // A buffer the queue refuses to return is not written (see the case without MRG_RXBUF).
        if (this.pushRx(q, chain, at + take)) {
          if (i === 0) this.putRxHeader(chain, frame, meta, n);
          scatterSegments(this.u8, chain.writable, at, frame, from, take);
        } else refused = true;
        from += take;
      }
      if (refused) return this.notLive();
    }
    this.rxFramesPending++;
    this.rxBytesPending += len;
    return "delivered";
  }

  /** Publish both queues; the interrupts to raise, per the driver's event suppression. */
  finish(): FinishOutcome {
    const out = this.finishOut;
    out.interruptRx = false;
    out.interruptTx = false;
    const c = this.c;
    this.settleRxDrops();
    if (this.rxq !== null && this.rxPushed > 0) {
      this.rxq.publish();
      c[NetCounter.rxUsedPublished] += this.rxPushed;
      this.rxPushed = 0;
      c[NetCounter.rxFrames] += this.rxFramesPending;
      c[NetCounter.rxBytes] += this.rxBytesPending;
      this.rxFramesPending = 0;
      this.rxBytesPending = 0;
      out.interruptRx = this.rxq.needsInterrupt();
      c[out.interruptRx ? NetCounter.rxInterrupts : NetCounter.rxInterruptsSuppressed]++;
    }
    if (this.txq !== null && this.txPushed > 0) {
      this.txq.publish();
      c[NetCounter.txUsedPublished] += this.txPushed;
      this.txPushed = 0;
      c[NetCounter.txFrames] += this.txFramesPending;
      c[NetCounter.txBytes] += this.txBytesPending;
      c[NetCounter.txMalformed] += this.txMalformedPending;
      c[NetCounter.txLinkDown] += this.txLinkDownPending;
      c[NetCounter.txCsumPartial] += this.txCsumPartialPending;
      this.txFramesPending = 0;
      this.txBytesPending = 0;
      this.txMalformedPending = 0;
      this.txLinkDownPending = 0;
      this.txCsumPartialPending = 0;
      out.interruptTx = this.txq.needsInterrupt();
      c[out.interruptTx ? NetCounter.txInterrupts : NetCounter.txInterruptsSuppressed]++;
    }
    return out;
  }

  /** Count the frames from the link dropped since the last `finish` (see `rxTooBigPending`). */
  private settleRxDrops(): void {
    const c = this.c;
    c[NetCounter.rxTooBig] += this.rxTooBigPending;
    c[NetCounter.rxRunt] += this.rxRuntPending;
    c[NetCounter.rxLinkDown] += this.rxLinkDownPending;
    c[NetCounter.rxNotLive] += this.rxNotLivePending;
    this.rxTooBigPending = 0;
    this.rxRuntPending = 0;
    this.rxLinkDownPending = 0;
    this.rxNotLivePending = 0;
  }

  private noBuffers(): RxOutcome {
    if (this.fault_ !== null) return this.notLive();
    this.c[NetCounter.rxBufferWaits]++;
    return "no-buffers";
  }

  private notLive(): RxOutcome {
    this.rxNotLivePending++;
    return "not-live";
  }

  /**
   * Count `n` frames from the link that found this NIC not live (no driver yet, or being reset):
   * the device worker drops them without asking `receive`, whose queues are not the driver's now.
   */
  dropNotLive(n: number): void {
    this.c[NetCounter.rxNotLive] += n;
  }

  /** Pop one usable RX chain into `held`; false when none is available (or the queue broke). */
  private holdNext(q: DeviceQueue): boolean {
    const c = this.c;
    // Bounded: each pass pops one chain, and a ring holds at most q.size of them.
    for (let i = 0; i <= q.size; i++) {
      const r = q.pop();
      if (!r.ok) {
        const e = r.error;
        if (e.fatal) {
          this.breakOn(e, "receiveq");
          return false;
        }
        c[NetCounter.rxChainsPopped]++;
        if (e.chain.indirect) c[NetCounter.rxIndirectChains]++;
        if (this.pushRx(q, e.chain, 0)) c[NetCounter.rxBadChain]++;
        continue;
      }
      const chain = r.value;
      if (chain === null) return false;
      c[NetCounter.rxChainsPopped]++;
      if (chain.indirect) c[NetCounter.rxIndirectChains]++;
      if (chain.writableBytes < NET_HDR_SIZE || chain.readable.length > 0) {
        // A buffer that cannot even hold the header (virtio 1.2 §5.1.6.3.1), or with a
        // device-readable part (A8: RX buffers are device-writable only): return it empty.
        if (this.pushRx(q, chain, 0)) c[NetCounter.rxBadChain]++;
        continue;
      }
      this.held[(this.heldHead + this.heldCount) % this.held.length] = chain;
      this.heldCount++;
      this.heldBytes += chain.writableBytes;
      return true;
    }
    return false;
  }

  private dropHeld(n: number): void {
    for (let i = 0; i < n; i++) {
      this.heldBytes -= this.held[this.heldHead].writableBytes;
      this.heldHead = (this.heldHead + 1) % this.held.length;
      this.heldCount--;
    }
  }

  /** A fatal pop error: stop using the queues (the worker sets DEVICE_NEEDS_RESET). */
  private breakOn(e: RingError & { fatal: true }, queue: NetQueueName): void {
    const { fatal: _fatal, ...cause } = e;
    this.fault_ ??= { kind: "queue-broken", queue, cause: cause as RingError };
  }

  /** Stage an RX completion; false when the queue refused it (see `completeTx`). */
  private pushRx(q: DeviceQueue, chain: DescriptorChain, written: number): boolean {
    if (!q.push(chain, written).ok) return false;
    this.rxPushed++;
    return true;
  }

  /**
   * The partial checksum a TX header asks for (CSUM negotiated): 0 for none, the link's meta
   * word, or -1 when `csum_start` and `csum_offset` do not fit the frame's `len` bytes (E1).
   */
  private checksumRequest(chain: DescriptorChain, len: number): number {
    // The header is read where it lies when its first segment holds it (every chain the vlab
    // driver posts), else gathered.
    const first = chain.readable[0];
    let hdr = this.u8;
    let at = first.gpa;
    if (first.len < NET_HDR_SIZE) {
      hdr = this.hdr;
      at = 0;
      gatherSegments(this.u8, chain.readable, 0, hdr, NET_HDR_SIZE);
    }
    if ((hdr[at + NetHdr.FLAGS] & NetHdrFlag.NEEDS_CSUM) === 0) return 0;
    const start = readLe16(hdr, at + NetHdr.CSUM_START);
    const offset = readLe16(hdr, at + NetHdr.CSUM_OFFSET);
    if (
      start > MAX_CSUM_OFFSET || offset > MAX_CSUM_OFFSET ||
      !partialChecksumFits(start, offset, len)
    ) return -1;
    return partialChecksum(start, offset);
  }

  /**
   * Write the RX header of a frame into the first buffer of `chain`: NEEDS_CSUM with its start
   * and offset for a driver with GUEST_CSUM; otherwise the checksum is completed in `frame` now
   * (before the frame is written). Written where it lies when the first segment holds all 12
   * bytes (every buffer the vlab driver posts), else through `this.hdr`.
   */
  private putRxHeader(
    chain: DescriptorChain,
    frame: Uint8Array,
    meta: number,
    numBuffers: number,
  ): void {
    const segs = chain.writable;
    const inPlace = segs.length > 0 && segs[0].len >= NET_HDR_SIZE;
    const buf = inPlace ? this.u8 : this.hdr;
    const at = inPlace ? segs[0].gpa : 0;
    writeRxHeader(buf, at, numBuffers);
    if (meta !== 0) {
      if (this.rxCsum) {
        if (partialChecksumFits(csumStartOf(meta), csumOffsetOf(meta), frame.length)) {
          buf[at + NetHdr.FLAGS] = NetHdrFlag.NEEDS_CSUM;
          writeLe16(buf, at + NetHdr.CSUM_START, csumStartOf(meta));
          writeLe16(buf, at + NetHdr.CSUM_OFFSET, csumOffsetOf(meta));
          this.c[NetCounter.rxCsumPartial]++;
        }
      } else if (completeChecksum(frame, meta)) {
        this.c[NetCounter.rxCsumCompleted]++;
      }
    }
    if (!inPlace) scatterSegments(this.u8, chain.writable, 0, this.hdr, 0, NET_HDR_SIZE);
  }

  /** Stage a TX completion; false when the queue refused it (then it is not counted at all). */
  private completeTx(q: DeviceQueue, chain: DescriptorChain): boolean {
    if (!q.push(chain, 0).ok) return false;
    this.txPushed++;
    return true;
  }
}
