/**
 * The driver half of a split virtqueue (virtio 1.2 §2.7.13, §2.7.14): adds chains to the
 * descriptor table and available ring, publishes them, decides kicks, and reclaims used
 * buffers.
 *
 * Runs in the guest worker. The device is untrusted too (reliability.md section C): the free
 * list, chain lengths and tokens are private to the driver, never re-read from the shared
 * table, and a used id that is not a chain in flight breaks the queue.
 *
 * @module
 */

import type { GuestMemory } from "../memory/memory.ts";
import { err, ok, OK_VOID, type Result } from "../base/result.ts";
import { SplitDescFlag, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_USED_F_NO_NOTIFY } from "./constants.ts";
import {
  chainSegmentError,
  chainSpecError,
  type DriverError,
  interruptCountError,
  type QueueSetupError,
  tokenError,
} from "./errors.ts";
import { needEvent } from "./event.ts";
import type { ChainSpec, DriverQueue, QueueConfig, RingFeatures, UsedBuffer } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { badBuffer, bufferFits, MAX_CHAIN_BYTES } from "./chain_spec.ts";

export type { IndirectArea } from "./setup.ts";
import { type IndirectArea, prepareDriverRing } from "./setup.ts";
import { SplitAvail, SplitDesc, SplitUsed } from "./split_layout.ts";

const NONE: Result<UsedBuffer | null, DriverError> = Object.freeze({
  ok: true,
  value: null,
}) as Result<UsedBuffer | null, DriverError>;

/**
 * The driver half of a split queue.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { SplitDriverQueue } from "./split_driver.ts";
 * const mem = GuestMemory.create(65536);
 * const r = SplitDriverQueue.create(mem, new SharedRingAccess(mem), {
 *   layout: "split", size: 8, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000,
 *   features: { eventIdx: true, indirect: false, inOrder: false },
 * });
 * if (r.ok) {
 *   r.value.add({ readable: [[0x8000, 64]], writable: [] }, 1);
 *   r.value.publish(); // true: the device has not asked to be left alone
 * }
 * ```
 */
export class SplitDriverQueue implements DriverQueue {
  /** Layout. */
  readonly layout = "split" as const;
  /** Queue size. */
  readonly size: number;
  /** The device error that broke the queue, or null. */
  broken: DriverError | null = null;
  private readonly mask: number;
  private readonly desc: number;
  private readonly avail: number;
  private readonly used: number;
  private readonly features: RingFeatures;
  private readonly ring: RingAccess;
  private readonly indirect: IndirectArea | null;
  // Private, trusted bookkeeping (never re-read from shared memory).
  private readonly freeNext: Uint16Array;
  private readonly tail: Uint16Array;
  private readonly descCount: Uint16Array;
  private readonly tokens: Float64Array;
  private readonly writableLen: Float64Array;
  private readonly posted: Uint8Array;
  /** Heads in posting order (for IN_ORDER reclaim, where one used entry covers several). */
  private readonly fifo: Uint16Array;
  private fifoHead = 0;
  private freeHead = 0;
  private numFree: number;
  private nextInOrder = 0;
  private availIdx = 0;
  private staged = 0;
  private lastUsed = 0;
  private shadowUsed = 0;
  private interruptShadow = -1;
  private inFlight_ = 0;
  /** IN_ORDER: the head that ends the batch being reclaimed, or -1, and its used length. */
  private batchEnd = -1;
  private batchLen = 0;
  /** The used buffer `getUsed` returns, refilled by each call (no allocation per request). */
  private readonly usedBuffer: UsedBuffer = { token: 0, len: 0 };
  private readonly usedResult: Result<UsedBuffer | null, DriverError> = {
    ok: true,
    value: this.usedBuffer,
  };

  private constructor(ring: RingAccess, config: QueueConfig, indirect: IndirectArea | null) {
    this.ring = ring;
    this.size = config.size;
    this.mask = config.size - 1;
    this.desc = config.descAddr;
    this.avail = config.driverAddr;
    this.used = config.deviceAddr;
    this.features = { ...config.features };
    this.indirect = config.features.indirect ? indirect : null;
    this.freeNext = new Uint16Array(config.size);
    for (let i = 0; i < config.size; i++) this.freeNext[i] = (i + 1) & this.mask;
    this.tail = new Uint16Array(config.size);
    this.descCount = new Uint16Array(config.size);
    this.tokens = new Float64Array(config.size);
    this.writableLen = new Float64Array(config.size);
    this.posted = new Uint8Array(config.size);
    this.fifo = new Uint16Array(config.size);
    this.numFree = config.size;
  }

  /**
   * Set up a queue in guest memory: zero its three areas (so `used.flags` starts at 0, §2.7.13)
   * and start with every descriptor free.
   */
  static create(
    mem: GuestMemory,
    ring: RingAccess,
    config: QueueConfig,
    indirect: IndirectArea | null = null,
  ): Result<SplitDriverQueue, QueueSetupError> {
    const ready = prepareDriverRing(mem, { ...config, layout: "split" }, indirect);
    if (!ready.ok) return ready;
    return ok(new SplitDriverQueue(ring, config, indirect));
  }

  /** Free descriptors. */
  get freeDescriptors(): number {
    return this.numFree;
  }

  /** Chains posted and not yet reclaimed. */
  get inFlight(): number {
    return this.inFlight_;
  }

  /**
   * The head the next `add` takes, a descriptor not posted, when nothing is staged: the slot a
   * guest bug written behind the driver's back (`guest_faults.ts`) can take, with the avail
   * entry at the avail index, which the device has consumed (at most `size − 1` chains are in
   * flight while a descriptor is free); -1 when no descriptor is free or chains are staged.
   */
  get unpostedHead(): number {
    if (this.staged !== 0 || this.numFree === 0) return -1;
    return this.features.inOrder ? this.nextInOrder : this.freeHead;
  }

  /**
   * The head of the chain published last (avail entry `availIdx − 1`) if `retractLast` can take
   * it back, else -1 (see there).
   */
  get newestHead(): number {
    if (this.staged !== 0 || this.inFlight_ === 0) return -1;
    const head = this.ring.load16(
      this.avail + SplitAvail.RING + SplitAvail.ENTRY * ((this.availIdx - 1) & this.mask),
    );
    if (head >= this.size || !this.posted[head]) return -1;
    // observe used idx: pairs with "publish used idx" in split_device.ts
    const usedIdx = this.ring.observe16(this.used + SplitUsed.IDX);
    const pending = (usedIdx - this.lastUsed) & 0xffff;
    if (pending > this.size) return -1;
    for (let i = 0; i < pending; i++) {
      const elem = this.used + SplitUsed.RING +
        SplitUsed.ENTRY * ((this.lastUsed + i) & this.mask);
      if (this.ring.load32(elem + SplitUsed.ELEM_ID) === head) return -1;
    }
    return head;
  }

  /**
   * Take back the chain published last (avail entry `availIdx − 1`) for a guest bug to be written
   * over (`guest_faults.ts`): the driver forgets it (not posted, not in flight; its descriptors
   * stay taken until the reset), so the used buffer the device returns for that head is one the
   * driver never posted (C1). Its head, or -1 when nothing is published and waiting, chains are
   * staged, or the device has already returned it (its head is in the used ring, unreclaimed).
   * The driver must add nothing more to the queue until it is reset.
   */
  retractLast(): number {
    const head = this.newestHead;
    if (head < 0) return -1;
    this.posted[head] = 0;
    this.inFlight_--;
    // The newest entry of the posting-order list (without IN_ORDER only a hint: remove it).
    if (this.fifo[(this.fifoHead + this.inFlight_) & this.mask] !== head) this.fifoRemove(head);
    return head;
  }

  /** Stage a chain; it becomes visible to the device at the next `publish`. */
  add(chain: ChainSpec, token: number): Result<void, DriverError> {
    // A token that is no finite number came back from getUsed as NaN (or "x"'s coercion):
    // refused with the argument's name (a string is a TypeError, NaN or Infinity a RangeError).
    if (typeof token !== "number" || token - token !== 0) {
      throw tokenError(token);
    }
    // NaN when `chain` is no ChainSpec (null was "Cannot read properties of null"): one test
    // on the refusal's path only.
    const nr = chain?.readable?.length;
    const n = nr + chain?.writable?.length;
    if (!(n > 0 && n <= this.size)) {
      if (Number.isNaN(n)) throw chainSpecError(chain);
      return err({ kind: "bad-chain-length", length: n, size: this.size });
    }
    const useIndirect = this.indirect !== null && n > 1 && n <= this.indirect.entries;
    const needed = useIndirect ? 1 : n;
    if (this.numFree < needed) return err({ kind: "ring-full", needed, free: this.numFree });
    const ring = this.ring;
    const head = this.features.inOrder ? this.nextInOrder : this.freeHead;
    let writable = 0;
    let bytes = 0;
    let d = head;
    // The segment being read: a null one threw "Cannot read properties of null" from `seg[0]`.
    // Caught (no check per segment on the normal path), it is a TypeError naming the segment;
    // nothing is staged yet (the descriptors written are free ones).
    let i = 0;
    try {
      if (useIndirect) {
        const table = this.indirect!.gpa + SplitDesc.SIZE * this.indirect!.entries * head;
        for (; i < n; i++) {
          const seg = i < nr ? chain.readable[i] : chain.writable[i - nr];
          const gpa = seg[0];
          const len = seg[1];
          // A bad value returns before the avail ring names the head: the descriptors written
          // so far are free ones (or the head's own indirect table), which the device never reads.
          if (!bufferFits(gpa, len)) return err(badBuffer(i, gpa, len));
          bytes += len;
          const flags = (i < nr ? 0 : SplitDescFlag.WRITE) | (i + 1 < n ? SplitDescFlag.NEXT : 0);
          if (i >= nr) writable += len;
          writeDesc(ring, table + SplitDesc.SIZE * i, gpa, len, flags, i + 1 < n ? i + 1 : 0);
        }
        writeDesc(
          ring,
          this.desc + SplitDesc.SIZE * head,
          table,
          SplitDesc.SIZE * n,
          SplitDescFlag.INDIRECT,
          0,
        );
      } else {
        for (; i < n; i++) {
          const seg = i < nr ? chain.readable[i] : chain.writable[i - nr];
          const gpa = seg[0];
          const len = seg[1];
          if (!bufferFits(gpa, len)) return err(badBuffer(i, gpa, len));
          bytes += len;
          const next = this.features.inOrder ? (d + 1) & this.mask : this.freeNext[d];
          const flags = (i < nr ? 0 : SplitDescFlag.WRITE) | (i + 1 < n ? SplitDescFlag.NEXT : 0);
          if (i >= nr) writable += len;
          writeDesc(ring, this.desc + SplitDesc.SIZE * d, gpa, len, flags, i + 1 < n ? next : 0);
          if (i + 1 < n) d = next;
        }
      }
    } catch (e) {
      throw chainSegmentError(chain, nr, i, e);
    }
    if (bytes > MAX_CHAIN_BYTES) return err({ kind: "bad-chain-bytes", bytes });
    // d is the chain's last ring descriptor.
    if (this.features.inOrder) this.nextInOrder = (d + 1) & this.mask;
    else this.freeHead = this.freeNext[d];
    this.numFree -= needed;
    this.tail[head] = d;
    this.descCount[head] = needed;
    this.tokens[head] = token;
    this.writableLen[head] = writable;
    this.posted[head] = 1;
    this.fifo[(this.fifoHead + this.inFlight_) & this.mask] = head;
    this.inFlight_++;
    const slot = this.avail + SplitAvail.RING +
      SplitAvail.ENTRY * ((this.availIdx + this.staged) & this.mask);
    ring.store16(slot, head);
    this.staged++;
    return OK_VOID;
  }

  /** Publish staged chains; true if the device wants a kick. */
  publish(): boolean {
    if (this.staged === 0) return false;
    const old = this.availIdx;
    this.availIdx = (old + this.staged) & 0xffff;
    this.staged = 0;
    // publish avail idx: pairs with "observe avail idx" in split_device.ts pop()
    this.ring.publish16(this.avail + SplitAvail.IDX, this.availIdx);
    // The publish is seq-cst, so the reads below cannot move before it (§2.7.13 step 6).
    if (this.features.eventIdx) {
      // observe avail_event: pairs with "publish avail_event" in split_device.ts
      const availEvent = this.ring.observe16(
        this.used + SplitUsed.RING + SplitUsed.ENTRY * this.size,
      );
      return needEvent(availEvent, this.availIdx, old);
    }
    return (this.ring.observe16(this.used + SplitUsed.FLAGS) & VIRTQ_USED_F_NO_NOTIFY) === 0;
  }

  /** Take the next used buffer. */
  getUsed(): Result<UsedBuffer | null, DriverError> {
    if (this.broken) return err(this.broken);
    if (this.batchEnd >= 0) {
      // Inside an IN_ORDER batch covered by one used entry (§2.7.9): each buffer still counts
      // one in the used index, but has no entry of its own.
      const head = this.fifo[this.fifoHead];
      const len = head === this.batchEnd ? this.batchLen : this.writableLen[head];
      if (head === this.batchEnd) this.batchEnd = -1;
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
      return this.detach(head, len);
    }
    if (this.lastUsed === this.shadowUsed) {
      // observe used idx: pairs with "publish used idx" in split_device.ts
      this.shadowUsed = this.ring.observe16(this.used + SplitUsed.IDX);
      if (this.lastUsed === this.shadowUsed) return NONE;
    }
    if (((this.shadowUsed - this.lastUsed) & 0xffff) > this.size) {
      return this.fail({
        kind: "used-index-jump",
        usedIdx: this.shadowUsed,
        lastUsed: this.lastUsed,
        size: this.size,
      });
    }
    const elem = this.used + SplitUsed.RING + SplitUsed.ENTRY * (this.lastUsed & this.mask);
    const id = this.ring.load32(elem + SplitUsed.ELEM_ID);
    let len = this.ring.load32(elem + SplitUsed.ELEM_LEN);
    if (id >= this.size) return this.fail({ kind: "used-id-out-of-range", id, size: this.size });
    if (!this.posted[id]) return this.fail({ kind: "used-id-not-in-flight", id });
    // C2: more bytes than were posted writable is a device bug (a chain with nothing writable
    // may carry any length: vhost-vsock reports one for TX buffers, reliability C2).
    const writable = this.writableLen[id];
    if (len > writable && writable > 0) {
      return this.fail({ kind: "used-length-too-large", id, len, writable });
    }
    let head = id;
    if (this.features.inOrder && this.fifo[this.fifoHead] !== id) {
      // One entry stands for every chain up to `id` in posting order (§2.7.9): those before it
      // were used in full.
      head = this.fifo[this.fifoHead];
      this.batchEnd = id;
      this.batchLen = len;
      len = this.writableLen[head];
    }
    this.lastUsed = (this.lastUsed + 1) & 0xffff;
    return this.detach(head, len);
  }

  /** Free a reclaimed chain and fill the reused used-buffer object. */
  private detach(head: number, len: number): Result<UsedBuffer | null, DriverError> {
    const token = this.tokens[head];
    const max = this.writableLen[head];
    this.posted[head] = 0;
    if (!this.features.inOrder) {
      this.freeNext[this.tail[head]] = this.freeHead;
      this.freeHead = head;
    }
    this.numFree += this.descCount[head];
    this.inFlight_--;
    // Without IN_ORDER, heads may complete out of posting order: the fifo is only a hint there.
    if (this.fifo[this.fifoHead] === head || this.features.inOrder) {
      this.fifoHead = (this.fifoHead + 1) & this.mask;
    } else this.fifoRemove(head);
    const used = this.usedBuffer;
    used.token = token;
    used.len = len > max ? max : len;
    return this.usedResult;
  }

  /** Drop a head completed out of posting order from the posting-order list. */
  private fifoRemove(head: number): void {
    // Out-of-order completion: drop `head` from the posting-order list, keeping the rest in order.
    let i = 0;
    while (i < this.inFlight_ + 1 && this.fifo[(this.fifoHead + i) & this.mask] !== head) i++;
    for (; i < this.inFlight_; i++) {
      this.fifo[(this.fifoHead + i) & this.mask] = this.fifo[(this.fifoHead + i + 1) & this.mask];
    }
  }

  /** Ask for an interrupt once `count` more buffers are used; true if some already are. */
  enableInterrupts(count = 1): boolean {
    if (!Number.isInteger(count)) throw interruptCountError(count);
    if (this.features.eventIdx) {
      const event = (this.lastUsed + Math.max(1, count) - 1) & 0xffff;
      // publish used_event: pairs with "observe used_event" in split_device.ts needsInterrupt()
      if (event !== this.interruptShadow) {
        this.ring.publish16(this.avail + SplitAvail.RING + SplitAvail.ENTRY * this.size, event);
      }
      this.interruptShadow = event;
    } else if (this.interruptShadow !== 0) {
      this.ring.publish16(this.avail + SplitAvail.FLAGS, 0);
      this.interruptShadow = 0;
    }
    // re-check after the seq-cst publish (§2.7.14): a buffer used before it cannot be missed
    this.shadowUsed = this.ring.observe16(this.used + SplitUsed.IDX);
    return this.shadowUsed !== this.lastUsed;
  }

  /** Ask the device not to interrupt. */
  disableInterrupts(): void {
    if (this.features.eventIdx) {
      // "Never": an event the device's next checks cannot cross. The device checks the range
      // from the used index it last signalled to the one it just published; the driver may
      // already have taken those entries (the device published, then was preempted before its
      // check), so that range can start up to `size` behind lastUsed. An event just behind it
      // (lastUsed - 1 would lie inside it and interrupt) is crossed only after ~64K entries.
      const event = (this.lastUsed - this.size - 1) & 0xffff;
      if (event !== this.interruptShadow) {
        this.ring.store16(this.avail + SplitAvail.RING + SplitAvail.ENTRY * this.size, event);
      }
      this.interruptShadow = event;
    } else if (this.interruptShadow !== 1) {
      this.ring.store16(this.avail + SplitAvail.FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT);
      this.interruptShadow = 1;
    }
  }

  /** Break the queue with a device fault (reliability C1, C2). */
  private fail(error: DriverError): Result<never, DriverError> {
    this.broken = error;
    return err(error);
  }
}

function writeDesc(
  ring: RingAccess,
  off: number,
  gpa: number,
  len: number,
  flags: number,
  next: number,
): void {
  ring.store32(off + SplitDesc.ADDR, gpa >>> 0);
  ring.store32(off + SplitDesc.ADDR + 4, gpa > 0xffffffff ? Math.floor(gpa / 2 ** 32) : 0);
  ring.store32(off + SplitDesc.LEN, len);
  ring.store16(off + SplitDesc.FLAGS, flags);
  ring.store16(off + SplitDesc.NEXT, next);
}
