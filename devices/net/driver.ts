/**
 * The guest's virtio-net driver (virtio 1.2 §5.1.6), run by the guest worker on the driver
 * halves of receiveq1 and transmitq1.
 *
 * Every buffer is allocated once at construction from the guest's `PageAllocator`, one per
 * descriptor, and reused by token (token = buffer index), and sized from the MTU the device
 * reports (`VIRTIO_NET_F_MTU`). Chains are shaped as Linux's virtio_net shapes them:
 * - RX with MRG_RXBUF: one 1536-byte segment per buffer (a frame may span several buffers).
 * - RX without it, MTU up to 1500 ("small" buffers): one segment of header + 1514 bytes.
 * - RX without it, larger MTU ("big" buffers, `add_recvbuf_big`): header + MTU + Ethernet
 *   header, described as the header in its own segment followed by page-sized segments.
 * - TX: header and frame contiguous; one segment when they fit in a page (the header pushed in
 *   front of the data), otherwise page-sized fragments, as an skb carries a large frame.
 * A chain of more than one segment goes through an indirect table when INDIRECT_DESC is
 * negotiated (the queue decides: `virtqueue_use_indirect`), otherwise takes one ring descriptor
 * per segment. The device is untrusted (reliability.md section C): a used token not in flight, a used length
 * over the buffer, or a `num_buffers` the device did not back with buffers sets `fault` and the
 * driver stops.
 *
 * Per frame, nothing is allocated but the `Uint8Array` view handed to the callbacks (TX views
 * are cached per buffer and reused while the length repeats).
 *
 * @module
 */

import type { PageAllocator } from "../memory/allocator.ts";
import type { GuestMemory } from "../memory/memory.ts";
import type { DriverError } from "../virtio/errors.ts";
import type { FeatureSet } from "../virtio/features.ts";
import { hasFeature } from "../virtio/features.ts";
import { Feature } from "../virtio/constants.ts";
import type { DriverQueue } from "../virtio/queue.ts";
import {
  DEFAULT_MTU,
  maxFrameLen,
  NET_HDR_SIZE,
  NetFeature,
  NetHdr,
  NetHdrFlag,
  readLe16,
  writeLe16,
  writeTxHeader,
} from "./config.ts";
import { csumOffsetOf, csumStartOf } from "./checksum.ts";
import { copyBytes } from "../memory/copy.ts";
import type { NetDriverFault, NetQueueName } from "./errors.ts";
import { NET_DRIVER_COUNTER_COUNT, NetDriverCounter } from "./metrics.ts";
import { TxWatchdog } from "./tx_watchdog.ts";
import type { Result } from "../base/result.ts";
import { DMA_LATER, DmaPerm, type NetDma } from "./dma.ts";
import { err, OK_VOID } from "../base/result.ts";

export { parseNetConfig } from "./config.ts";
export {
  indirectEntriesFor,
  MAX_REASSEMBLED_FRAME,
  netDriverMemoryBytes,
  rxBufferBytes,
  SEGMENT_BYTES,
} from "./sizing.ts";
import { MAX_REASSEMBLED_FRAME, rxBufferBytes, segmentBytes, SMALL_RX_BUFFER } from "./sizing.ts";
import { bufferStride } from "../memory/allocator.ts";

/** Construction options of a `NetDriver`. */
export interface NetDriverOptions {
  /** Guest memory. */
  mem: GuestMemory;
  /** Where buffers come from (allocated once). */
  alloc: PageAllocator;
  /** Driver half of receiveq1. */
  rx: DriverQueue;
  /** Driver half of transmitq1. */
  tx: DriverQueue;
  /** The negotiated features (MRG_RXBUF decides how frames are received). */
  negotiated: FeatureSet;
  /** Bytes per RX buffer: default `rxBufferBytes(mtu, mergeable)`. */
  rxBufferSize?: number;
  /**
   * The device's `mtu` config field when VIRTIO_NET_F_MTU was negotiated (default 1500):
   * sizes the TX buffers and, without MRG_RXBUF, the RX buffers.
   */
  mtu?: number;
  /** `NET_DRIVER_COUNTER_COUNT` words, laid out by `NetDriverCounter`. */
  counters?: Float64Array;
  /** Transmit watchdog timeout (`checkTxTimeout`); default 5000 ms, as Linux. */
  txTimeoutMs?: number;
  /** The watchdog's clock in milliseconds; default `Date.now`. */
  now?: () => number;
  /**
   * Behind a vIOMMU in strict or lazy mode: map each buffer before posting it and unmap it on
   * completion (descriptors carry IOVAs). Without it descriptors carry GPAs.
   */
  dma?: NetDma;
  /**
   * Called whenever TX buffers come back to the free list, whichever call took them back (the
   * guest's pass, a send that found the ring full, the transmit watchdog): a sender waiting for
   * room must hear of every reclaim, for once room is back the driver no longer asks for
   * transmitq interrupts (see `enableInterrupts`), and nothing else would wake it.
   */
  onTxRoom?: () => void;
}

/** Why `NetDriver.reattach` refused new queues: their sizes differ from the buffers' count. */
export interface NetReattachError {
  /** Discriminant. */
  readonly kind: "queue-size-changed";
  /** The new receiveq size. */
  readonly rx: number;
  /** The new transmitq size. */
  readonly tx: number;
  /** The receiveq size the driver's buffers were made for. */
  readonly expectedRx: number;
  /** The transmitq size the driver's buffers were made for. */
  readonly expectedTx: number;
}

/** Which queues to kick after `flush`. The object is reused. */
export interface FlushOutcome {
  /** Notify receiveq1. */
  kickRx: boolean;
  /** Notify transmitq1. */
  kickTx: boolean;
}

/**
 * The guest-side virtio-net driver.
 *
 * @example
 * ```ts
 * import type { NetDriver } from "./driver.ts";
 * function pingPong(d: NetDriver, frame: Uint8Array): number {
 *   d.send(frame);
 *   d.fillRx();
 *   d.flush(); // kick where asked
 *   return d.receive((f) => console.log(f.length), 64);
 * }
 * ```
 */
export class NetDriver {
  /** Bytes per RX buffer. */
  readonly rxBufferSize: number;
  /** Bytes per TX buffer (header + largest frame). */
  readonly txBufferSize: number;
  /** Largest frame `send` accepts (the MTU plus the Ethernet header). */
  readonly maxFrame: number;
  /** The MTU the driver was created with. */
  readonly mtu: number;
  /** Whether MRG_RXBUF was negotiated. */
  readonly mergeable: boolean;

  private readonly u8: Uint8Array;
  private rx: DriverQueue;
  private tx: DriverQueue;
  /** VIRTIO_NET_F_CSUM negotiated: `sendWith` may leave a checksum partial for the device. */
  readonly checksumOffload: boolean;
  /** VIRTIO_NET_F_GUEST_CSUM negotiated: received headers' NEEDS_CSUM / DATA_VALID count. */
  readonly guestChecksum: boolean;
  private readonly watchdog: TxWatchdog;
  private readonly c: Float64Array;
  private readonly rxBase: number;
  private readonly txBase: number;
  /** Bytes from one RX / TX buffer to the next (`bufferStride`: every frame at one phase). */
  private readonly rxStride: number;
  private readonly txStride: number;
  private readonly rxFree: Uint32Array;
  private rxFreeCount: number;
  private readonly txFree: Uint32Array;
  private txFreeCount: number;
  // A frame could not be sent for want of room since the last reclaim: TX interrupts wanted.
  private txStarved = false;
  private readonly rxBusy: Uint8Array;
  private readonly txBusy: Uint8Array;
  private readonly txViews: Uint8Array[];
  private readonly rxViews: (Uint8Array | undefined)[] = [];
  private readonly scratch: Uint8Array;
  /** The RX chain shape (the same for every buffer): segments posted for buffer 0. */
  private readonly rxSegs: [number, number][];
  private readonly rxOffsets: number[];
  private readonly rxSpec: { readable: [number, number][]; writable: [number, number][] };
  /** TX segments; `txSpecs[k]` describes a chain of the first k + 1 of them. */
  private readonly txSegs: [number, number][];
  private readonly txSpecs: { readable: [number, number][]; writable: [number, number][] }[];
  private readonly txChunk: number;
  private readonly flushOut: FlushOutcome = { kickRx: false, kickTx: false };
  private fault_: NetDriverFault | null = null;
  // Queues a guest bug was written into behind the driver's back (`freeze`), until `reattach`.
  private frozenRx = false;
  private frozenTx = false;
  /** Per-buffer mapping (strict, lazy), or null: descriptors carry GPAs. */
  private readonly dma: NetDma | null;
  /** The IOVA each RX / TX buffer is mapped at while it is posted (with `dma`). */
  private readonly rxIova: Float64Array;
  private readonly txIova: Float64Array;
  /** Buffers mapped and waiting for `flush` to sync their MAPs and post them (with `dma`). */
  private readonly rxPending: Uint32Array;
  private rxPendingCount = 0;
  private readonly txPending: Uint32Array;
  private readonly txPendingLen: Uint32Array;
  private txPendingCount = 0;
  private readonly onTxRoom: (() => void) | null;
  /**
   * Ring descriptors one RX chain takes: its segments, or 1 through an indirect table (the
   * queue decides: learnt from each chain added).
   */
  private rxChainDescs: number;
  /** A TX chain of more than one segment goes through an indirect table (learnt as RX's). */
  private txIndirect: boolean;
  /** With `dma`: ring descriptors the held TX frames take at `flush`. */
  private txPendingDescs = 0;

  /**
   * Allocate every buffer. Throws a `RangeError` if the allocator has no room or a size is
   * unusable (setup errors of the guest itself, not device input).
   */
  constructor(opts: NetDriverOptions) {
    this.u8 = opts.mem.u8;
    this.rx = opts.rx;
    this.tx = opts.tx;
    this.onTxRoom = opts.onTxRoom ?? null;
    this.mergeable = hasFeature(opts.negotiated, NetFeature.MRG_RXBUF);
    this.checksumOffload = hasFeature(opts.negotiated, NetFeature.CSUM);
    this.guestChecksum = hasFeature(opts.negotiated, NetFeature.GUEST_CSUM);
    const mtu = opts.mtu ?? DEFAULT_MTU;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
      throw new RangeError(`Cannot create the net driver: mtu must be 68 to 65535, got ${mtu}`);
    }
    this.rxBufferSize = opts.rxBufferSize ?? rxBufferBytes(mtu, this.mergeable);
    this.mtu = mtu;
    this.maxFrame = maxFrameLen(mtu);
    this.txBufferSize = NET_HDR_SIZE + this.maxFrame;
    // Reassembly never needs more than the largest frame the MTU allows (the device's limit).
    this.scratch = new Uint8Array(Math.min(this.maxFrame, MAX_REASSEMBLED_FRAME));
    if (!Number.isInteger(this.rxBufferSize) || this.rxBufferSize < NET_HDR_SIZE) {
      throw new RangeError(
        `Cannot create the net driver: rxBufferSize must be at least ${NET_HDR_SIZE}, got ${this.rxBufferSize}`,
      );
    }
    this.c = opts.counters ?? new Float64Array(NET_DRIVER_COUNTER_COUNT);
    this.watchdog = new TxWatchdog({ timeoutMs: opts.txTimeoutMs, now: opts.now });
    this.rxStride = bufferStride(this.rxBufferSize);
    this.txStride = bufferStride(this.txBufferSize);
    this.rxBase = allocate(opts.alloc, this.rx.size * this.rxStride, "RX");
    this.txBase = allocate(opts.alloc, this.tx.size * this.txStride, "TX");
    this.rxFree = new Uint32Array(this.rx.size);
    this.txFree = new Uint32Array(this.tx.size);
    // Stacks popped from the end: token 0 is used first.
    for (let i = 0; i < this.rx.size; i++) this.rxFree[i] = this.rx.size - 1 - i;
    for (let i = 0; i < this.tx.size; i++) this.txFree[i] = this.tx.size - 1 - i;
    this.rxFreeCount = this.rx.size;
    this.txFreeCount = this.tx.size;
    this.rxBusy = new Uint8Array(this.rx.size);
    this.txBusy = new Uint8Array(this.tx.size);
    this.dma = opts.dma ?? null;
    this.rxIova = new Float64Array(this.dma ? this.rx.size : 0);
    this.txIova = new Float64Array(this.dma ? this.tx.size : 0);
    this.rxPending = new Uint32Array(this.dma ? this.rx.size : 0);
    this.txPending = new Uint32Array(this.dma ? this.tx.size : 0);
    this.txPendingLen = new Uint32Array(this.dma ? this.tx.size : 0);
    this.txViews = [];
    for (let i = 0; i < this.tx.size; i++) {
      const at = this.txBase + i * this.txStride + NET_HDR_SIZE;
      this.txViews.push(this.u8.subarray(at, at + this.maxFrame));
    }
    // RX: one segment, or (big buffers) the header then page-sized segments.
    this.rxOffsets = [0];
    if (!this.mergeable && this.rxBufferSize > SMALL_RX_BUFFER && this.rx.size >= 2) {
      this.rxOffsets.push(NET_HDR_SIZE);
      const chunk = segmentBytes(this.rxBufferSize - NET_HDR_SIZE, this.rx.size - 1);
      for (let at = NET_HDR_SIZE + chunk; at < this.rxBufferSize; at += chunk) {
        this.rxOffsets.push(at);
      }
    }
    this.rxSegs = this.rxOffsets.map((at, i) => [
      at,
      (i + 1 < this.rxOffsets.length ? this.rxOffsets[i + 1] : this.rxBufferSize) - at,
    ]);
    this.rxSpec = { readable: [], writable: this.rxSegs.map((s) => [s[0], s[1]]) };
    const indirect = hasFeature(opts.negotiated, Feature.INDIRECT_DESC);
    this.rxChainDescs = indirect ? 1 : this.rxSegs.length;
    this.txIndirect = indirect;
    // TX: header + frame split at page boundaries (one segment when it fits in a page).
    this.txChunk = segmentBytes(this.txBufferSize, this.tx.size);
    const txMax = Math.ceil(this.txBufferSize / this.txChunk);
    this.txSegs = [];
    this.txSpecs = [];
    for (let i = 0; i < txMax; i++) {
      this.txSegs.push([0, 0]);
      this.txSpecs.push({ readable: this.txSegs.slice(), writable: [] });
    }
  }

  /** Segments per RX chain (more than one: big buffers, indirect when negotiated). */
  get rxSegments(): number {
    return this.rxSegs.length;
  }

  /** The device misbehaviour that stopped the driver, or null. */
  get fault(): NetDriverFault | null {
    return this.fault_;
  }

  /** GPA of RX buffer `token` (for tests and diagnostics). */
  rxBufferAddr(token: number): number {
    return this.rxBase + token * this.rxStride;
  }

  /** GPA of TX buffer `token` (header first). */
  txBufferAddr(token: number): number {
    return this.txBase + token * this.txStride;
  }

  /**
   * Post every free RX buffer; how many were posted (visible after `flush`). With `dma` each
   * buffer is mapped now and posted by `flush`, once its MAP completed.
   */
  fillRx(): number {
    if (this.fault_ !== null || this.frozenRx) return 0;
    if (this.dma !== null) return this.mapFreeRx(this.dma);
    return this.postRx(-1);
  }

  /**
   * Map every free RX buffer the receiveq has room for (WRITE) and hold it for `flush`. Not
   * more: a buffer the ring cannot take was unmapped again at once, and a ring of big buffers
   * without INDIRECT_DESC (four descriptors each at `mtu: 9000`) holds a quarter of them, so
   * every pass mapped and unmapped the other three quarters, thousands of vIOMMU requests a
   * second on an idle NIC.
   */
  private mapFreeRx(dma: NetDma): number {
    const room = Math.floor(this.rx.freeDescriptors / this.rxChainDescs) - this.rxPendingCount;
    let n = 0;
    while (this.rxFreeCount > 0 && n < room) {
      const token = this.rxFree[this.rxFreeCount - 1];
      const iova = dma.map(this.rxBufferAddr(token), this.rxBufferSize, DmaPerm.WRITE);
      if (iova === DMA_LATER) break; // the next fill tries again
      if (iova < 0) {
        this.setFault({ kind: "dma-map-failed", queue: "receiveq", token });
        break;
      }
      this.rxFreeCount--;
      this.rxBusy[token] = 1;
      this.rxIova[token] = iova;
      this.rxPending[this.rxPendingCount++] = token;
      n++;
    }
    return n;
  }

  /**
   * Add RX buffers to the ring: the free ones (`count` < 0, GPAs) or the first `count` of
   * `rxPending` (mapped, IOVAs). How many were added.
   */
  private postRx(count: number): number {
    let posted = 0;
    const mapped = count >= 0;
    for (let n = 0; mapped ? n < count : this.rxFreeCount > 0; n++) {
      const token = mapped ? this.rxPending[n] : this.rxFree[this.rxFreeCount - 1];
      const base = mapped ? this.rxIova[token] : this.rxBufferAddr(token);
      const w = this.rxSpec.writable;
      for (let i = 0; i < w.length; i++) {
        w[i][0] = base + this.rxSegs[i][0];
        w[i][1] = this.rxSegs[i][1];
      }
      const free = this.rx.freeDescriptors;
      const r = this.rx.add(this.rxSpec, token);
      if (!r.ok) {
        if (r.error.kind !== "ring-full") this.fail("receiveq", r.error);
        break;
      }
      this.rxChainDescs = Math.max(1, free - this.rx.freeDescriptors);
      if (!mapped) this.rxFreeCount--;
      this.rxBusy[token] = 1;
      posted++;
    }
    // Mapped buffers the ring had no room for: unmapped and free again.
    for (let n = posted; mapped && n < count; n++) this.freeRx(this.rxPending[n]);
    this.c[NetDriverCounter.rxPosted] += posted;
    return posted;
  }

  /**
   * Queue a frame of `len` bytes that `fill` writes straight into guest memory; false when every
   * TX buffer is in flight (after reclaiming). Throws a `RangeError` if `len` is not 0…maxFrame.
   * `csum` (with `checksumOffload`) is the partial checksum the frame leaves to the device
   * (`partialChecksum`): its header then says NEEDS_CSUM with that start and offset.
   */
  sendWith(len: number, fill: (buf: Uint8Array) => void, csum = 0): boolean {
    const token = this.takeTx(len);
    if (token < 0) return false;
    let view = this.txViews[token];
    if (view.length !== len) {
      const at = this.txBufferAddr(token) + NET_HDR_SIZE;
      view = this.u8.subarray(at, at + len);
      this.txViews[token] = view;
    }
    fill(view);
    return this.postTx(token, len, csum);
  }

  /** Queue a copy of `frame`; false when every TX buffer is in flight. */
  send(frame: Uint8Array): boolean {
    const token = this.takeTx(frame.length);
    if (token < 0) return false;
    this.u8.set(frame, this.txBufferAddr(token) + NET_HDR_SIZE);
    return this.postTx(token, frame.length, 0);
  }

  /** Take back TX buffers the device used; how many. */
  reclaimTx(): number {
    if (this.fault_ !== null) return 0;
    let n = 0;
    for (let i = 0; i < this.tx.size; i++) {
      const r = this.tx.getUsed();
      if (!r.ok) {
        this.fail("transmitq", r.error);
        break;
      }
      if (r.value === null) break;
      const token = r.value.token;
      if (token >= this.tx.size || this.txBusy[token] === 0) {
        this.setFault({ kind: "unknown-token", queue: "transmitq", token });
        break;
      }
      this.releaseTx(token);
      n++;
    }
    this.c[NetDriverCounter.txReclaimed] += n;
    if (n > 0) {
      this.watchdog.progressed();
      this.txStarved = false;
      this.onTxRoom?.();
    }
    return n;
  }

  /**
   * Hand up to `budget` received frames to `onFrame`; the view is valid only during the call.
   * Mergeable frames (`num_buffers` > 1) are reassembled into a scratch buffer. Used buffers
   * go back to the free list: call `fillRx` to post them again. `checksumTrusted` is true when,
   * with GUEST_CSUM, the header said NEEDS_CSUM or DATA_VALID: the layer-4 checksum is partial
   * or already checked, and the stack must not verify it.
   */
  receive(
    onFrame: (frame: Uint8Array, checksumTrusted: boolean) => void,
    budget: number,
  ): number {
    let frames = 0;
    const c = this.c;
    // Each error below ends this call (break); a fault that left the receiveq intact does not.
    for (; frames < budget && this.receiveqIntact();) {
      const first = this.nextRx();
      if (first < 0) break;
      const token = first & 0xffff;
      const len = first >>> 16;
      const gpa = this.rxBufferAddr(token);
      if (len < NET_HDR_SIZE) {
        // Shorter than the header (virtio 1.2 §5.1.6.4.1): dropped and counted.
        c[NetDriverCounter.rxLengthErrors]++;
        this.freeRx(token);
        continue;
      }
      const trusted = this.guestChecksum &&
        (this.u8[gpa + NetHdr.FLAGS] & (NetHdrFlag.NEEDS_CSUM | NetHdrFlag.DATA_VALID)) !== 0;
      // Without MRG_RXBUF num_buffers is not ours to trust: one buffer per frame (E5).
      const numBuffers = this.mergeable ? readLe16(this.u8, gpa + NetHdr.NUM_BUFFERS) : 1;
      if (numBuffers === 0 || numBuffers > this.rx.size) {
        this.setFault({ kind: "bad-num-buffers", numBuffers, available: this.rx.inFlight + 1 });
        this.freeRx(token);
        break;
      }
      let frame: Uint8Array;
      if (numBuffers === 1 && len - NET_HDR_SIZE > this.maxFrame) {
        // Longer than the MTU allows (a mergeable buffer has room for 10 bytes more): a device
        // error, dropped and counted as Linux does ("rx error: len exceeds max size").
        c[NetDriverCounter.rxLengthErrors]++;
        this.freeRx(token);
        continue;
      } else if (numBuffers === 1) {
        // One view per RX buffer, kept while frames keep their length (no allocation per frame).
        const cached = this.rxViews[token];
        frame = cached !== undefined && cached.length === len - NET_HDR_SIZE
          ? cached
          : (this.rxViews[token] = this.u8.subarray(gpa + NET_HDR_SIZE, gpa + len));
        this.freeRx(token);
      } else if (!this.reassemble(gpa, len, numBuffers)) {
        this.freeRx(token);
        break;
      } else {
        this.freeRx(token);
        frame = this.scratch.subarray(0, this.reassembled);
        c[NetDriverCounter.rxMerged]++;
      }
      c[NetDriverCounter.rxFrames]++;
      c[NetDriverCounter.rxBytes] += frame.length;
      frames++;
      // The buffer is free but not reposted before `fillRx`, so the view stays intact.
      onFrame(frame, trusted);
    }
    return frames;
  }

  /**
   * Whether the receiveq's used ring can still be read: no fault, or one that is not the
   * receiveq's (the transmit watchdog's, a refused MAP, a broken transmitq). What the device
   * returned there before the reset is then received, not discarded uncounted with the queue.
   */
  private receiveqIntact(): boolean {
    const f = this.fault_;
    if (f === null) return true;
    switch (f.kind) {
      case "tx-timeout":
      case "dma-map-failed":
        return true;
      case "queue-broken":
      case "unknown-token":
        return f.queue === "transmitq";
      default:
        return false;
    }
  }

  /** Publish both queues; which ones the device must be notified about. */
  flush(): FlushOutcome {
    // A frozen queue's held buffers wait for its reset; the other queue's are posted: a
    // receiveq bug still waiting for the frames before it must not stop the replies to them.
    if (this.dma !== null && this.fault_ === null) this.postHeld(this.dma);
    const out = this.flushOut;
    out.kickRx = this.fault_ === null && !this.frozenRx && this.rx.publish();
    out.kickTx = this.fault_ === null && !this.frozenTx && this.tx.publish();
    return out;
  }

  /** Whether `queue` is frozen: a guest bug was written into it and its reset has not come. */
  frozen(queue: NetQueueName): boolean {
    return queue === "receiveq" ? this.frozenRx : this.frozenTx;
  }

  /**
   * Add nothing more to `queue` until the next `reattach`: a guest bug (any: see `breaksQueue`
   * for which ones break the queue) was just written into its ring behind the driver's back
   * (`vlab fault guest-bug`). The driver's
   * next add would go to the slot the bug took (and its next publish would move the index back),
   * overwriting the bug before a busy device met it; a buggy driver goes on from its broken state
   * instead. Frames to send meanwhile count as `txRingFull` and are not sent. The device's
   * DEVICE_NEEDS_RESET ends it with a reset; on a frozen transmitq the bug counts as a buffer in
   * flight, so a device that never meets it (a lost kick) is reset by the transmit watchdog.
   */
  freeze(queue: NetQueueName): void {
    if (queue === "receiveq") {
      this.frozenRx = true;
      return;
    }
    if (!this.frozenTx) this.watchdog.posted(this.tx.inFlight);
    this.frozenTx = true;
  }

  /** Buffers the transmit watchdog waits for: those in flight, and a frozen queue's bug. */
  private get txOutstanding(): number {
    return this.tx.inFlight + (this.frozenTx ? 1 : 0);
  }

  /**
   * Before the guest sleeps: ask for used-buffer interrupts on the receiveq, and on the
   * transmitq only while a frame waits for room (see `DriverQueue.enableInterrupts`); true if
   * used buffers the guest asked for are already waiting.
   *
   * Sent buffers are otherwise reclaimed lazily, at the driver's next pass or send (`takeTx`),
   * as Linux's virtio_net does without `napi_tx`: a completion then wakes no sleeping guest, so
   * a ping costs two interrupts, not four (docs/performance.md, "Fewer wake-ups per ping"). A
   * buffer left in flight holds no one up: the transmit watchdog reclaims before it decides.
   */
  enableInterrupts(): boolean {
    const r = this.rx.enableInterrupts();
    if (!this.txStarved) {
      this.tx.disableInterrupts();
      return r;
    }
    const t = this.tx.enableInterrupts();
    return r || t;
  }

  /** Ask the device not to interrupt on either queue (a hint). */
  disableInterrupts(): void {
    this.rx.disableInterrupts();
    this.tx.disableInterrupts();
  }

  private reassembled = 0;

  /** Copy the n buffers of a merged frame into `scratch`; false (and `fault`) on device error. */
  private reassemble(gpa: number, len: number, n: number): boolean {
    const scratch = this.scratch;
    let total = len - NET_HDR_SIZE;
    if (total > scratch.length) {
      this.setFault({ kind: "frame-too-big", len: total, limit: scratch.length });
      return false;
    }
    copyBytes(scratch, 0, this.u8, gpa + NET_HDR_SIZE, total);
    for (let i = 1; i < n; i++) {
      const next = this.nextRx();
      if (next < 0) {
        // virtio 1.2 §5.1.6.4: the device publishes all n together, so fewer is its error.
        this.setFault({ kind: "bad-num-buffers", numBuffers: n, available: i });
        return false;
      }
      const token = next & 0xffff;
      const l = next >>> 16;
      if (total + l > scratch.length) {
        this.setFault({ kind: "frame-too-big", len: total + l, limit: scratch.length });
        this.freeRx(token);
        return false;
      }
      const at = this.rxBufferAddr(token);
      copyBytes(scratch, total, this.u8, at, l);
      total += l;
      this.freeRx(token);
    }
    this.reassembled = total;
    return true;
  }

  /** The next used RX buffer as `token | len << 16`, or -1 (none, or a fault was set). */
  private nextRx(): number {
    const r = this.rx.getUsed();
    if (!r.ok) {
      this.fail("receiveq", r.error);
      return -1;
    }
    if (r.value === null) return -1;
    const { token, len } = r.value;
    if (token >= this.rx.size || this.rxBusy[token] === 0) {
      this.setFault({ kind: "unknown-token", queue: "receiveq", token });
      return -1;
    }
    if (len > this.rxBufferSize) {
      this.setFault({ kind: "used-len-too-big", token, len, capacity: this.rxBufferSize });
      this.freeRx(token);
      return -1;
    }
    return token + len * 65536;
  }

  private freeRx(token: number): void {
    // The device is done with it: take its mapping back (the data is read through the GPA).
    if (this.dma !== null) this.dma.unmap(this.rxIova[token]);
    this.rxBusy[token] = 0;
    this.rxFree[this.rxFreeCount++] = token;
  }

  /** TX buffer `token` is free again (unmapped first with `dma`). */
  private releaseTx(token: number): void {
    if (this.dma !== null) this.dma.unmap(this.txIova[token]);
    this.txBusy[token] = 0;
    this.txFree[this.txFreeCount++] = token;
  }

  /**
   * With `dma`: wait for the held buffers' MAPs, then add them to the rings, but not to a frozen
   * queue (its held buffers stay held, mapped, until its reset: `reattach` gives them back).
   */
  private postHeld(dma: NetDma): void {
    const rxCount = this.frozenRx ? 0 : this.rxPendingCount;
    const txCount = this.frozenTx ? 0 : this.txPendingCount;
    if (rxCount === 0 && txCount === 0) return;
    const synced = dma.sync();
    // The device did not answer in time (slow, or restarting): hold them for the next flush.
    if (synced === "later") return;
    if (rxCount > 0) this.rxPendingCount = 0;
    if (txCount > 0) {
      this.txPendingCount = 0;
      this.txPendingDescs = 0;
    }
    if (synced === "refused") {
      // A MAP was refused or not answered: nothing held may reach the device.
      for (let n = 0; n < rxCount; n++) this.freeRx(this.rxPending[n]);
      for (let n = 0; n < txCount; n++) this.releaseTx(this.txPending[n]);
      this.c[NetDriverCounter.txDropped] += txCount;
      const token = rxCount > 0 ? this.rxPending[0] : this.txPending[0];
      this.setFault({
        kind: "dma-map-failed",
        queue: rxCount > 0 ? "receiveq" : "transmitq",
        token,
      });
      return;
    }
    this.postRx(rxCount);
    for (let n = 0; n < txCount; n++) {
      const token = this.txPending[n];
      this.txBusy[token] = 0;
      this.addTx(token, this.txPendingLen[n], this.txIova[token]);
    }
  }

  /** A free TX token for a frame of `len`, or -1 when none is free even after reclaiming. */
  private takeTx(len: number): number {
    if (!Number.isInteger(len) || len < 0 || len > this.maxFrame) {
      throw new RangeError(`Cannot send a frame of ${len} bytes: the limit is ${this.maxFrame}`);
    }
    if (this.fault_ !== null) return -1;
    if (this.txFreeCount === 0) this.reclaimTx();
    // With `dma` the frame is held until `flush`: taken only if the ring will have room for it
    // then, as a full ring refuses it without (a frame held beyond the room was unmapped at
    // `flush` and lost, its sender told it was sent).
    if (this.dma !== null && this.txFreeCount > 0 && this.txNoRoom(len)) this.reclaimTx();
    if (this.txFreeCount === 0 || this.frozenTx || (this.dma !== null && this.txNoRoom(len))) {
      this.c[NetDriverCounter.txRingFull]++;
      this.txStarved = true;
      return -1;
    }
    return this.txFree[--this.txFreeCount];
  }

  /** With `dma`: the ring will have no room at `flush` for a frame of `len` beyond those held. */
  private txNoRoom(len: number): boolean {
    return this.tx.freeDescriptors - this.txPendingDescs < this.txChainDescs(len);
  }

  /** Ring descriptors a TX chain of `len` frame bytes takes. */
  private txChainDescs(len: number): number {
    const n = Math.ceil((NET_HDR_SIZE + len) / this.txChunk);
    return n > 1 && this.txIndirect ? 1 : n;
  }

  private postTx(token: number, len: number, csum: number): boolean {
    const gpa = this.txBufferAddr(token);
    writeTxHeader(this.u8, gpa);
    if (csum !== 0 && this.checksumOffload) {
      this.u8[gpa + NetHdr.FLAGS] = NetHdrFlag.NEEDS_CSUM;
      writeLe16(this.u8, gpa + NetHdr.CSUM_START, csumStartOf(csum));
      writeLe16(this.u8, gpa + NetHdr.CSUM_OFFSET, csumOffsetOf(csum));
    }
    if (this.dma !== null) return this.holdTx(this.dma, token, len);
    return this.addTx(token, len, gpa);
  }

  /** Map TX buffer `token` (READ) and hold it for `flush`; false if it cannot be mapped. */
  private holdTx(dma: NetDma, token: number, len: number): boolean {
    const iova = dma.map(this.txBufferAddr(token), NET_HDR_SIZE + len, DmaPerm.READ);
    if (iova < 0) {
      this.txFree[this.txFreeCount++] = token;
      // Not now: as a full ring (the frame is not sent). Refused: the NIC stops.
      if (iova === DMA_LATER) {
        this.c[NetDriverCounter.txRingFull]++;
        this.txStarved = true;
      } else this.setFault({ kind: "dma-map-failed", queue: "transmitq", token });
      return false;
    }
    this.txIova[token] = iova;
    this.txBusy[token] = 1;
    this.txPending[this.txPendingCount] = token;
    this.txPendingLen[this.txPendingCount++] = len;
    this.txPendingDescs += this.txChainDescs(len);
    return true;
  }

  /** Add TX buffer `token` (`len` frame bytes, at device address `addr`) to the ring. */
  private addTx(token: number, len: number, addr: number): boolean {
    const gpa = addr;
    const total = NET_HDR_SIZE + len;
    const chunk = this.txChunk;
    const n = Math.ceil(total / chunk);
    const segs = this.txSegs;
    for (let i = 0; i < n; i++) {
      segs[i][0] = gpa + i * chunk;
      segs[i][1] = i + 1 < n ? chunk : total - i * chunk;
    }
    const free = this.tx.freeDescriptors;
    const r = this.tx.add(this.txSpecs[n - 1], token);
    if (n > 1 && r.ok) this.txIndirect = free - this.tx.freeDescriptors === 1;
    if (!r.ok) {
      this.releaseTx(token);
      if (r.error.kind === "ring-full") {
        this.c[NetDriverCounter.txRingFull]++;
        this.txStarved = true;
      } else this.fail("transmitq", r.error);
      return false;
    }
    this.watchdog.posted(this.tx.inFlight - 1);
    this.txBusy[token] = 1;
    this.c[NetDriverCounter.txFrames]++;
    this.c[NetDriverCounter.txBytes] += len;
    return true;
  }

  private fail(queue: NetQueueName, cause: DriverError): void {
    this.setFault({ kind: "queue-broken", queue, cause });
  }

  /** Record the first fault (later ones follow from it) and count it. */
  private setFault(f: NetDriverFault): void {
    if (this.fault_ !== null) return;
    this.fault_ = f;
    this.c[f.kind === "tx-timeout" ? NetDriverCounter.txTimeouts : NetDriverCounter.deviceFaults]++;
  }

  /**
   * The transmit watchdog (Linux's `ndo_tx_timeout`): reclaim what the device returned, then,
   * if the transmitq still has buffers outstanding and no used entry arrived for `txTimeoutMs`,
   * stop with a `tx-timeout` fault (counted in `txTimeouts`) that the guest answers with a
   * device reset. Returns the driver's fault, if any. Call it from the guest loop now and then.
   */
  checkTxTimeout(): NetDriverFault | null {
    if (this.fault_ !== null) return this.fault_;
    this.reclaimTx();
    const inFlight = this.txOutstanding;
    if (this.fault_ === null && this.watchdog.expired(inFlight)) {
      this.setFault({ kind: "tx-timeout", inFlight, idleMs: this.watchdog.idleMs() });
    }
    return this.fault_;
  }

  /**
   * Start the transmit watchdog's wait over, as Linux does when a NIC's carrier comes back
   * (`dev_activate`'s `netif_trans_update`): its guest checks the watchdog only while the link is
   * up (`dev_watchdog` skips a NIC without carrier), so time spent down is no stall.
   */
  restartTxWatchdog(): void {
    this.watchdog.restart();
  }

  /**
   * Milliseconds until the transmit watchdog could fire (0 if it is due), or Infinity while
   * nothing is outstanding: the guest loop wakes by then to call `checkTxTimeout`.
   */
  txTimeoutDueMs(): number {
    if (this.txOutstanding === 0) return Infinity;
    return Math.max(0, this.watchdog.timeoutMs - this.watchdog.idleMs());
  }

  /**
   * Take up two fresh driver halves after the guest reset and re-initialised the device
   * (reliability I4): every buffer is free again (in-flight frames are lost, as after Linux's
   * virtnet reset), the fault is cleared, and nothing is allocated. The queues must have the
   * sizes the driver was built for.
   */
  reattach(rx: DriverQueue, tx: DriverQueue): Result<void, NetReattachError> {
    if (rx.size !== this.rx.size || tx.size !== this.tx.size) {
      return err({
        kind: "queue-size-changed",
        rx: rx.size,
        tx: tx.size,
        expectedRx: this.rx.size,
        expectedTx: this.tx.size,
      });
    }
    this.rx = rx;
    this.tx = tx;
    // Buffers lost with the old queues give their mappings back; the frames among them are
    // dropped, and counted (in the transmitq, or held for their MAP).
    if (this.dma !== null) {
      for (let i = 0; i < rx.size; i++) if (this.rxBusy[i] === 1) this.dma.unmap(this.rxIova[i]);
      for (let i = 0; i < tx.size; i++) if (this.txBusy[i] === 1) this.dma.unmap(this.txIova[i]);
    }
    for (let i = 0; i < tx.size; i++) this.c[NetDriverCounter.txDropped] += this.txBusy[i];
    this.rxPendingCount = 0;
    this.txPendingCount = 0;
    this.txPendingDescs = 0;
    for (let i = 0; i < rx.size; i++) this.rxFree[i] = rx.size - 1 - i;
    for (let i = 0; i < tx.size; i++) this.txFree[i] = tx.size - 1 - i;
    this.rxFreeCount = rx.size;
    this.txFreeCount = tx.size;
    this.txStarved = false;
    this.rxBusy.fill(0);
    this.txBusy.fill(0);
    this.fault_ = null;
    this.frozenRx = false;
    this.frozenTx = false;
    this.watchdog.restart();
    return OK_VOID;
  }
}

function allocate(alloc: PageAllocator, bytes: number, what: string): number {
  const r = alloc.allocBytes(bytes);
  if (!r.ok) {
    throw new RangeError(
      `Cannot create the net driver: no room for ${what} buffers of ${bytes} bytes (${r.error.freePages} pages free)`,
    );
  }
  return r.value;
}
