/**
 * The driver half of a packed virtqueue (virtio 1.2 §2.8.21–2.8.22): writes chains into
 * consecutive ring slots, publishes each buffer by storing its first descriptor's flags last,
 * decides kicks from the device's event suppression structure, and reclaims used descriptors.
 *
 * Runs in the guest worker. Buffer ids, descriptor counts and tokens are private to the
 * driver; a used id that is not in flight breaks the queue (reliability.md C1).
 *
 * @module
 */

import type { GuestMemory } from "../memory/memory.ts";
import { err, ok, OK_VOID, type Result } from "../base/result.ts";
import { PackedDescFlag, PackedEventFlag } from "./constants.ts";
import {
  chainSegmentError,
  chainSpecError,
  type DriverError,
  interruptCountError,
  type QueueSetupError,
  tokenError,
} from "./errors.ts";
import { packedNeedNotify } from "./event.ts";
import { PackedDesc, PackedEvent } from "./packed_layout.ts";
import type { ChainSpec, DriverQueue, QueueConfig, RingFeatures, UsedBuffer } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { badBuffer, bufferFits, MAX_CHAIN_BYTES } from "./chain_spec.ts";
import { type IndirectArea, prepareDriverRing } from "./setup.ts";

const NONE: Result<UsedBuffer | null, DriverError> = Object.freeze({
  ok: true,
  value: null,
}) as Result<
  UsedBuffer | null,
  DriverError
>;
const AVAIL_SHIFT = 7;
const USED_SHIFT = 15;

/**
 * The driver half of a packed queue.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { PackedDriverQueue } from "./packed_driver.ts";
 * const mem = GuestMemory.create(65536);
 * const r = PackedDriverQueue.create(mem, new SharedRingAccess(mem), {
 *   layout: "packed", size: 8, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x2010,
 *   features: { eventIdx: true, indirect: false, inOrder: false },
 * });
 * if (r.ok) {
 *   r.value.add({ readable: [[0x8000, 64]], writable: [] }, 1);
 *   r.value.publish(); // true: the device event structure starts at ENABLE
 * }
 * ```
 */
export class PackedDriverQueue implements DriverQueue {
  /** Layout. */
  readonly layout = "packed" as const;
  /** Queue size. */
  readonly size: number;
  /** The device error that broke the queue, or null. */
  broken: DriverError | null = null;
  private readonly desc: number;
  private readonly driverEvent: number;
  private readonly deviceEvent: number;
  private readonly features: RingFeatures;
  private readonly ring: RingAccess;
  private readonly indirect: IndirectArea | null;
  // Private, trusted bookkeeping.
  private readonly idNext: Uint16Array;
  private readonly descCount: Uint16Array;
  private readonly tokens: Float64Array;
  private readonly writableLen: Float64Array;
  private readonly posted: Uint8Array;
  /** Ids in posting order (IN_ORDER reclaim and delayed interrupts). */
  private readonly fifo: Uint16Array;
  private fifoHead = 0;
  /** Staged heads not yet published: their slots and flags. */
  private readonly stagedOff: Uint32Array;
  private readonly stagedFlags: Uint16Array;
  private staged = 0;
  private freeId = 0;
  private numFree: number;
  private nextAvail = 0;
  private availWrap = 1;
  private numAdded = 0;
  private nextUsed = 0;
  private usedWrap = 1;
  private interruptShadow = -1;
  private inFlight_ = 0;
  /** IN_ORDER: the id that ends the batch being reclaimed, or -1, and its used length. */
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
    this.desc = config.descAddr;
    this.driverEvent = config.driverAddr;
    this.deviceEvent = config.deviceAddr;
    this.features = { ...config.features };
    this.indirect = config.features.indirect ? indirect : null;
    this.idNext = new Uint16Array(config.size);
    for (let i = 0; i < config.size; i++) this.idNext[i] = i + 1;
    this.descCount = new Uint16Array(config.size);
    this.tokens = new Float64Array(config.size);
    this.writableLen = new Float64Array(config.size);
    this.posted = new Uint8Array(config.size);
    this.fifo = new Uint16Array(config.size);
    this.stagedOff = new Uint32Array(config.size);
    this.stagedFlags = new Uint16Array(config.size);
    this.numFree = config.size;
  }

  /** Set up a queue in guest memory: a zero-filled ring (§2.8) and zeroed event structures. */
  static create(
    mem: GuestMemory,
    ring: RingAccess,
    config: QueueConfig,
    indirect: IndirectArea | null = null,
  ): Result<PackedDriverQueue, QueueSetupError> {
    const ready = prepareDriverRing(mem, { ...config, layout: "packed" }, indirect);
    if (!ready.ok) return ready;
    return ok(new PackedDriverQueue(ring, config, indirect));
  }

  /** Free descriptors. */
  get freeDescriptors(): number {
    return this.numFree;
  }

  /** Buffers posted and not yet reclaimed. */
  get inFlight(): number {
    return this.inFlight_;
  }

  /**
   * The buffer id the next `add` takes, which is not in flight; -1 when every id is. A guest bug
   * written behind the driver's back (`guest_faults.ts`) carries it, so that the device's used
   * buffer for the bad chain is one the driver knows it never posted (C1).
   */
  get unpostedId(): number {
    return this.freeId < this.size ? this.freeId : -1;
  }

  /**
   * The buffer published last (its id, first slot and descriptor count) if `retractLast` can take
   * it back, else null: nothing is staged, it is in flight, and the device has not returned it
   * (no used descriptor waiting for the driver names it; with IN_ORDER, where one used
   * descriptor may stand for a batch ending with it, none may be waiting at all).
   */
  get newestBuffer(): { id: number; slot: number; count: number } | null {
    if (this.staged !== 0 || this.inFlight_ === 0 || this.batchEnd >= 0) return null;
    let last = this.fifoHead + this.inFlight_ - 1;
    if (last >= this.size) last -= this.size;
    const id = this.fifo[last];
    if (!this.posted[id]) return null;
    const count = this.descCount[id];
    let slot = this.nextAvail - count;
    if (slot < 0) slot += this.size;
    // The used descriptors waiting for the driver, from `nextUsed` on: one slot each, `count`
    // slots apart (§2.8.9).
    let at = this.nextUsed;
    let wrap = this.usedWrap;
    for (let n = 0; n < this.inFlight_; n++) {
      const off = this.desc + PackedDesc.SIZE * at;
      // observe used flags: pairs with "publish used flags" in packed_device.ts publish()
      const flags = this.ring.observe16(off + PackedDesc.FLAGS);
      if (((flags >>> AVAIL_SHIFT) & 1) !== wrap || ((flags >>> USED_SHIFT) & 1) !== wrap) break;
      if (this.features.inOrder) return null;
      const used = this.ring.load16(off + PackedDesc.ID);
      if (used === id || used >= this.size || !this.posted[used]) return null;
      at += this.descCount[used];
      if (at >= this.size) {
        at -= this.size;
        wrap ^= 1;
      }
    }
    return { id, slot, count };
  }

  /**
   * Take back the buffer published last (`newestBuffer`) for a guest bug to be written over
   * (`guest_faults.ts`): the driver forgets it (not posted, not in flight; its id and slots stay
   * taken until the reset), so the used buffer the device returns with that id is one the driver
   * never posted (C1). Its id, or -1 when `newestBuffer` is null. The driver must add nothing
   * more to the queue until it is reset.
   */
  retractLast(): number {
    const newest = this.newestBuffer;
    if (newest === null) return -1;
    this.posted[newest.id] = 0;
    // The newest entry of the posting-order list, at its tail: dropped with the count.
    this.inFlight_--;
    return newest.id;
  }

  /** Stage a buffer; it becomes visible to the device at the next `publish`. */
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
    const id = this.freeId;
    const wrapBits = this.availWrap ? PackedDescFlag.AVAIL : PackedDescFlag.USED;
    let writable = 0;
    let bytes = 0;
    // The segment being read: a null one threw "Cannot read properties of null" from `seg[0]`.
    // Caught (no check per segment on the normal path), it is a TypeError naming the segment,
    // after the slots written so far are taken back as for a bad buffer.
    let i = 0;
    if (useIndirect) {
      const table = this.indirect!.gpa + PackedDesc.SIZE * this.indirect!.entries * id;
      try {
        for (; i < n; i++) {
          const seg = i < nr ? chain.readable[i] : chain.writable[i - nr];
          const gpa = seg[0];
          const len = seg[1];
          // A bad value returns before the ring changes: only the id's own table was written.
          if (!bufferFits(gpa, len)) return err(badBuffer(i, gpa, len));
          bytes += len;
          if (i >= nr) writable += len;
          writeDesc(ring, table + PackedDesc.SIZE * i, gpa, len, 0);
          ring.store16(
            table + PackedDesc.SIZE * i + PackedDesc.FLAGS,
            i < nr ? 0 : PackedDescFlag.WRITE,
          );
        }
      } catch (e) {
        // Only the id's own table was written.
        throw chainSegmentError(chain, nr, i, e);
      }
      if (bytes > MAX_CHAIN_BYTES) return err({ kind: "bad-chain-bytes", bytes });
      this.stageHead(
        this.nextAvail,
        table,
        PackedDesc.SIZE * n,
        id,
        PackedDescFlag.INDIRECT | wrapBits,
      );
      this.advance();
    } else {
      let wrap = wrapBits;
      const startSlot = this.nextAvail;
      const startWrap = this.availWrap;
      try {
        for (; i < n; i++) {
          const seg = i < nr ? chain.readable[i] : chain.writable[i - nr];
          const gpa = seg[0];
          const len = seg[1];
          if (!bufferFits(gpa, len)) {
            this.unwind(startSlot, startWrap, i);
            return err(badBuffer(i, gpa, len));
          }
          bytes += len;
          if (i >= nr) writable += len;
          const flags = (i < nr ? 0 : PackedDescFlag.WRITE) |
            (i + 1 < n ? PackedDescFlag.NEXT : 0) |
            wrap;
          if (i === 0) {
            this.stageHead(this.nextAvail, gpa, len, id, flags);
          } else {
            const off = this.desc + PackedDesc.SIZE * this.nextAvail;
            writeDesc(ring, off, gpa, len, id);
            ring.store16(off + PackedDesc.FLAGS, flags);
          }
          if (this.advance()) wrap = this.availWrap ? PackedDescFlag.AVAIL : PackedDescFlag.USED;
        }
      } catch (e) {
        // Whatever threw (a null segment, or a length `bufferFits` cannot compare: `16n`), the
        // slots written so far are taken back: left, the staged head went out at the next
        // publish with the refused chain's slots and an id the next chain took again.
        this.unwind(startSlot, startWrap, i);
        throw chainSegmentError(chain, nr, i, e);
      }
      if (bytes > MAX_CHAIN_BYTES) {
        this.unwind(startSlot, startWrap, n);
        return err({ kind: "bad-chain-bytes", bytes });
      }
    }
    this.freeId = this.idNext[id];
    this.numFree -= needed;
    this.numAdded += needed;
    this.descCount[id] = needed;
    this.tokens[id] = token;
    this.writableLen[id] = writable;
    this.posted[id] = 1;
    let tailSlot = this.fifoHead + this.inFlight_;
    if (tailSlot >= this.size) tailSlot -= this.size;
    this.fifo[tailSlot] = id;
    this.inFlight_++;
    return OK_VOID;
  }

  /**
   * Take back the first `written` slots of a chain `add` refused part way (a bad buffer value):
   * the head was only staged (its flags are stored at `publish`); the slots after it had their
   * flags stored as available, so they get the flags of a descriptor used in the previous lap
   * (both bits the inverse of the slot's wrap), which no reader takes as available, before
   * `nextAvail` moves back. Runs only on that error.
   */
  private unwind(startSlot: number, startWrap: number, written: number): void {
    if (written === 0) return;
    this.staged--;
    let slot = startSlot;
    let wrap = startWrap;
    for (let i = 1; i < written; i++) {
      if (++slot === this.size) {
        slot = 0;
        wrap ^= 1;
      }
      this.ring.store16(
        this.desc + PackedDesc.SIZE * slot + PackedDesc.FLAGS,
        wrap ? 0 : PackedDescFlag.AVAIL | PackedDescFlag.USED,
      );
    }
    this.nextAvail = startSlot;
    this.availWrap = startWrap;
  }

  /** Write a head descriptor except its flags, which `publish` stores. */
  private stageHead(slot: number, gpa: number, len: number, id: number, flags: number): void {
    const off = this.desc + PackedDesc.SIZE * slot;
    writeDesc(this.ring, off, gpa, len, id);
    this.stagedOff[this.staged] = off + PackedDesc.FLAGS;
    this.stagedFlags[this.staged] = flags;
    this.staged++;
  }

  /** Move `nextAvail` one slot; true if it wrapped. */
  private advance(): boolean {
    if (++this.nextAvail < this.size) return false;
    this.nextAvail = 0;
    this.availWrap ^= 1;
    return true;
  }

  /**
   * Publish staged buffers: each head's flags store makes its buffer available. The first
   * buffer's head is stored last, so the device (polling that slot) sees the batch at once.
   */
  publish(): boolean {
    const n = this.staged;
    if (n === 0) return false;
    const ring = this.ring;
    // The heads after the first are plain stores: the device reaches them only after it has
    // observed the first head, whose (seq-cst) publish below orders everything before it.
    for (let i = 1; i < n; i++) ring.store16(this.stagedOff[i], this.stagedFlags[i]);
    // publish head flags: pairs with "observe head flags" in packed_device.ts pop()
    ring.publish16(this.stagedOff[0], this.stagedFlags[0]);
    this.staged = 0;
    const added = this.numAdded;
    this.numAdded = 0;
    // observe device event: pairs with "publish device event" in packed_device.ts (after our
    // seq-cst publish, so this is the full fence of §2.8.21.3 step 5)
    const flags = ring.observe16(this.deviceEvent + PackedEvent.FLAGS);
    const offWrap = ring.load16(this.deviceEvent + PackedEvent.OFF_WRAP);
    return packedNeedNotify(
      flags,
      offWrap,
      (this.nextAvail - added) & 0xffff,
      this.nextAvail,
      this.availWrap,
      this.size,
      this.features.eventIdx,
    );
  }

  /** Take the next used buffer. */
  getUsed(): Result<UsedBuffer | null, DriverError> {
    if (this.broken) return err(this.broken);
    if (this.batchEnd >= 0) {
      // Inside an IN_ORDER batch covered by one used descriptor: no ring access needed.
      const which = this.fifo[this.fifoHead];
      const len = which === this.batchEnd ? this.batchLen : this.writableLen[which];
      if (which === this.batchEnd) this.batchEnd = -1;
      if (++this.fifoHead === this.size) this.fifoHead = 0;
      return this.detach(which, len);
    }
    const off = this.desc + PackedDesc.SIZE * this.nextUsed;
    // observe used flags: pairs with "publish used flags" in packed_device.ts publish()
    const flags = this.ring.observe16(off + PackedDesc.FLAGS);
    if (
      ((flags >>> AVAIL_SHIFT) & 1) !== this.usedWrap ||
      ((flags >>> USED_SHIFT) & 1) !== this.usedWrap
    ) return NONE;
    const id = this.ring.load16(off + PackedDesc.ID);
    let len = flags & PackedDescFlag.WRITE ? this.ring.load32(off + PackedDesc.LEN) : 0;
    if (id >= this.size) return this.fail({ kind: "used-id-out-of-range", id, size: this.size });
    if (!this.posted[id]) return this.fail({ kind: "used-id-not-in-flight", id });
    // C2: more bytes than were posted writable is a device bug (see split_driver.ts).
    const writable = this.writableLen[id];
    if (len > writable && writable > 0) {
      return this.fail({ kind: "used-length-too-large", id, len, writable });
    }
    let which = id;
    if (this.features.inOrder) {
      // One used descriptor may stand for every buffer up to `id` in posting order (§2.8.8).
      which = this.fifo[this.fifoHead];
      if (which !== id) {
        this.batchEnd = id;
        this.batchLen = len;
        len = this.writableLen[which];
      }
    } else if (this.fifo[this.fifoHead] !== id) {
      this.fifoRemove(id);
    }
    if (++this.fifoHead === this.size) this.fifoHead = 0;
    return this.detach(which, len);
  }

  /** Free a reclaimed buffer and fill the reused used-buffer object. */
  private detach(id: number, len: number): Result<UsedBuffer | null, DriverError> {
    const count = this.descCount[id];
    this.nextUsed += count;
    if (this.nextUsed >= this.size) {
      this.nextUsed -= this.size;
      this.usedWrap ^= 1;
    }
    this.numFree += count;
    this.posted[id] = 0;
    this.idNext[id] = this.freeId;
    this.freeId = id;
    this.inFlight_--;
    const max = this.writableLen[id];
    const used = this.usedBuffer;
    used.token = this.tokens[id];
    used.len = len > max ? max : len;
    return this.usedResult;
  }

  /** Move an id completed out of posting order to the front of the posting-order list. */
  private fifoRemove(id: number): void {
    // Out-of-order completion: move `id` to the front of the posting-order list.
    let i = 0;
    while (i < this.inFlight_ && this.fifo[(this.fifoHead + i) % this.size] !== id) i++;
    for (; i > 0; i--) {
      this.fifo[(this.fifoHead + i) % this.size] = this.fifo[(this.fifoHead + i - 1) % this.size];
    }
    this.fifo[this.fifoHead] = id;
  }

  /** Ask for an interrupt once `count` more buffers are used; true if one already is. */
  enableInterrupts(count = 1): boolean {
    if (!Number.isInteger(count)) throw interruptCountError(count);
    // Inside an IN_ORDER batch the rest of the batch is already used: no need to wait.
    if (this.batchEnd >= 0) return true;
    if (this.features.eventIdx) {
      // The k-th next used descriptor lands after the slots of the k−1 oldest buffers in flight.
      let slot = this.nextUsed;
      let wrap = this.usedWrap;
      const k = Math.min(Math.max(1, count), Math.max(1, this.inFlight_));
      for (let i = 0; i < k - 1; i++) {
        slot += this.descCount[this.fifo[(this.fifoHead + i) % this.size]];
      }
      while (slot >= this.size) {
        slot -= this.size;
        wrap ^= 1;
      }
      const offWrap = slot | (wrap << 15);
      if (this.interruptShadow !== offWrap) {
        this.ring.store16(this.driverEvent + PackedEvent.OFF_WRAP, offWrap);
        // publish driver event: pairs with "observe driver event flags" in packed_device.ts
        this.ring.publish16(this.driverEvent + PackedEvent.FLAGS, PackedEventFlag.DESC);
        this.interruptShadow = offWrap;
      }
    } else if (this.interruptShadow !== -2) {
      this.ring.publish16(this.driverEvent + PackedEvent.FLAGS, PackedEventFlag.ENABLE);
      this.interruptShadow = -2;
    }
    const flags = this.ring.observe16(
      this.desc + PackedDesc.SIZE * this.nextUsed + PackedDesc.FLAGS,
    );
    return ((flags >>> AVAIL_SHIFT) & 1) === this.usedWrap &&
      ((flags >>> USED_SHIFT) & 1) === this.usedWrap;
  }

  /** Ask the device not to interrupt. */
  disableInterrupts(): void {
    if (this.interruptShadow === -3) return;
    this.ring.store16(this.driverEvent + PackedEvent.FLAGS, PackedEventFlag.DISABLE);
    this.interruptShadow = -3;
  }

  /** Break the queue with a device fault (reliability C1, C2). */
  private fail(error: DriverError): Result<never, DriverError> {
    this.broken = error;
    return err(error);
  }
}

function writeDesc(ring: RingAccess, off: number, gpa: number, len: number, id: number): void {
  ring.store32(off + PackedDesc.ADDR, gpa >>> 0);
  ring.store32(off + PackedDesc.ADDR + 4, gpa > 0xffffffff ? Math.floor(gpa / 2 ** 32) : 0);
  ring.store32(off + PackedDesc.LEN, len);
  ring.store16(off + PackedDesc.ID, id);
}
