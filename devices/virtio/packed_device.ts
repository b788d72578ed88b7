/**
 * The device half of a packed virtqueue (virtio 1.2 §2.8): detects available descriptors by
 * their AVAIL/USED bits against its wrap counter, walks chains through consecutive slots,
 * writes used descriptors in place, and decides interrupts from the driver's event
 * suppression structure.
 *
 * Runs in the device worker. A packed ring keeps no index a restarted device could rewind to
 * (reliability.md B5), so each chain in flight is copied, descriptor by descriptor, into the
 * inflight log of the state record (`state.ts`): a free list of per-descriptor records
 * linked per buffer id, as vhost-user's packed inflight region does.
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import { err, ok, type Result } from "../base/result.ts";
import {
  chainPool,
  ChainWalker,
  type DescriptorChain,
  PooledChain,
  type PopError,
} from "./chain.ts";
import { PackedDescFlag, PackedEventFlag } from "./constants.ts";
import { pushChainError, type PushError, type QueueSetupError, type RingError } from "./errors.ts";
import { packedNeedNotify } from "./event.ts";
import { IndirectTable } from "./indirect_table.ts";
import { PackedDesc, PackedEvent } from "./packed_layout.ts";
import type { DeviceQueue, PopResult, QueueConfig, RingFeatures } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { checkQueueConfig } from "./setup.ts";
import { UsedStage } from "./used_stage.ts";
import type { RestoreError } from "./split_device.ts";
import {
  journalBase,
  LOG_NIL,
  LOG_RECORD_WORDS,
  logHeadBase,
  logRecordBase,
  type PublishSeen,
  resetState,
  settleState,
  STATE_HEADER_WORDS,
  StateWord,
  validateState,
} from "./state.ts";

const EMPTY: PopResult = Object.freeze({ ok: true, value: null }) as PopResult;
const INFLIGHT = STATE_HEADER_WORDS;
const AVAIL_SHIFT = 7;
const USED_SHIFT = 15;

/**
 * The device half of a packed queue.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { createState } from "./state.ts";
 * import { PackedDeviceQueue } from "./packed_device.ts";
 * const mem = GuestMemory.create(65536);
 * const config = {
 *   layout: "packed" as const, size: 8, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x2010,
 *   features: { eventIdx: true, indirect: false, inOrder: false },
 * };
 * const q = PackedDeviceQueue.create(new DirectDma(mem), new SharedRingAccess(mem), config,
 *   createState("packed", 8));
 * if (q.ok) q.value.pop(); // { ok: true, value: null }
 * ```
 */
export class PackedDeviceQueue implements DeviceQueue {
  /** Layout. */
  readonly layout = "packed" as const;
  /** Queue size. */
  readonly size: number;
  /** The fatal error that broke the queue, or null. */
  broken: RingError | null = null;
  private readonly desc: number;
  private readonly driverEvent: number;
  private readonly deviceEvent: number;
  private readonly features: RingFeatures;
  private readonly dma: DmaView;
  private readonly ring: RingAccess;
  private readonly st: Uint32Array;
  private readonly logBase: number;
  private readonly logHeads: number;
  private readonly journal: number;
  /** Completions pushed and not yet published. */
  private readonly stage: UsedStage;
  private notifyShadow = -1;
  /** See `DeviceQueue.observed`: every pop reads its head's flags afresh. */
  readonly observed = true;
  private readonly walker: ChainWalker;
  /** One chain per buffer id, plus a spare to walk into before the id is known. */
  private readonly pool: PooledChain[];
  private spare = new PooledChain();
  /** The indirect table being walked, copied out of guest memory (room only if negotiated). */
  private readonly table: IndirectTable;

  private constructor(
    dma: DmaView,
    ring: RingAccess,
    config: QueueConfig,
    areas: { descriptor: number; driver: number; device: number },
    st: Uint32Array,
  ) {
    this.dma = dma;
    this.ring = ring;
    this.size = config.size;
    this.features = { ...config.features };
    this.desc = areas.descriptor;
    this.driverEvent = areas.driver;
    this.deviceEvent = areas.device;
    this.st = st;
    this.logBase = logRecordBase(config.size);
    this.logHeads = logHeadBase(config.size);
    this.journal = journalBase(config.size);
    this.stage = new UsedStage(config.size, config.features.inOrder);
    this.walker = new ChainWalker(dma);
    this.pool = chainPool(config.size);
    this.table = new IndirectTable(config.features.indirect ? config.size : 0);
  }

  /** Enable a queue at power-on state: validates the configuration and resets `state`. */
  static create(
    dma: DmaView,
    ring: RingAccess,
    config: QueueConfig,
    state: Uint32Array,
  ): Result<PackedDeviceQueue, QueueSetupError> {
    const areas = checkQueueConfig(dma, { ...config, layout: "packed" });
    if (!areas.ok) return areas;
    resetState(state, "packed", config.size);
    return ok(new PackedDeviceQueue(dma, ring, config, areas.value, state));
  }

  /** Chains popped and not yet published as used. */
  get inFlight(): number {
    return this.st[StateWord.IN_FLIGHT];
  }

  /** Pop the next available buffer. */
  pop(): PopResult {
    if (this.broken) return err({ ...this.broken, fatal: true });
    const st = this.st;
    const slot = st[StateWord.NEXT_AVAIL];
    const wrap = st[StateWord.AVAIL_WRAP];
    // observe head flags: pairs with "publish head flags" in packed_driver.ts publish()
    const flags = this.ring.observe16(this.desc + PackedDesc.SIZE * slot + PackedDesc.FLAGS);
    if (((flags >>> AVAIL_SHIFT) & 1) !== wrap || ((flags >>> USED_SHIFT) & 1) === wrap) {
      return EMPTY; // B1
    }
    this.logFirst = this.logLast = LOG_NIL;
    const bad = this.walk(slot, wrap, flags, true);
    const id = this.lastId;
    const failure: RingError | null = bad ??
      (id >= this.size
        ? { kind: "id-out-of-range", id, size: this.size }
        : st[INFLIGHT + id] !== 0
        ? { kind: "head-in-flight", head: id }
        : null);
    if (failure) {
      this.unlogWalk();
      return this.fail(failure);
    }
    const count = this.lastCount;
    // Journaled: a worker that dies before POP_ID is cleared has its pop rolled back (and the
    // records of a walk it died in are found unreachable and freed).
    st[StateWord.POP_FROM] = slot | (wrap << 16);
    st[StateWord.POP_ID] = id + 1;
    st[this.logHeads + id] = this.logFirst;
    let next = slot + count;
    let nextWrap = wrap;
    if (next >= this.size) {
      next -= this.size;
      nextWrap ^= 1;
    }
    st[StateWord.NEXT_AVAIL] = next;
    st[StateWord.AVAIL_WRAP] = nextWrap;
    st[INFLIGHT + id] = st[StateWord.FETCH_SEQ];
    // fetch sequence numbers run 1 … 2^32 − 2 and skip 0, which means "not in flight"
    st[StateWord.FETCH_SEQ] = st[StateWord.FETCH_SEQ] >= 0xfffffffe
      ? 1
      : st[StateWord.FETCH_SEQ] + 1;
    st[StateWord.IN_FLIGHT]++;
    st[StateWord.POP_ID] = 0;
    this.stage.popped(id);
    const chain = this.adopt(id, count);
    if (this.walker.fault) return err({ ...this.walker.fault, fatal: false, chain });
    return chain.result;
  }

  /** The walked spare becomes the chain of `id`; the id's old chain becomes the spare. */
  private adopt(id: number, count: number): PooledChain {
    const chain = this.walker.end(id, count);
    this.spare = this.pool[id];
    this.pool[id] = chain;
    return chain;
  }

  private lastId = 0;
  private lastCount = 0;

  /**
   * Walk the buffer starting at `slot`. With `live`, every descriptor after the head must be
   * available with the wrap counter of its own slot (B4); a restore walks the log instead.
   */
  private walk(
    slot: number,
    wrap: number,
    headFlags: number,
    live: boolean,
  ): RingError | null {
    const ring = this.ring;
    const b = this.walker;
    b.begin(this.spare, slot);
    let cur = slot;
    let w = wrap;
    let flags = headFlags;
    for (let count = 0;;) {
      if (count >= this.size) return { kind: "chain-too-long", head: slot, limit: this.size };
      const off = this.desc + PackedDesc.SIZE * cur;
      if (count > 0) {
        flags = ring.load16(off + PackedDesc.FLAGS);
        if (live && (((flags >>> AVAIL_SHIFT) & 1) !== w || ((flags >>> USED_SHIFT) & 1) === w)) {
          return { kind: "chain-not-available", head: slot, slot: cur, flags };
        }
      }
      const lo = ring.load32(off);
      const hi = ring.load32(off + 4);
      const addr = hi === 0 ? lo : lo + hi * 2 ** 32;
      const len = ring.load32(off + PackedDesc.LEN);
      const id = ring.load16(off + PackedDesc.ID);
      this.lastId = id;
      if (live) {
        // More descriptors in flight than the ring holds (A17): the guest reused slots early.
        if (this.st[StateWord.LOG_FREE] === LOG_NIL) {
          return { kind: "too-many-in-flight", head: slot, limit: this.size };
        }
        this.logDesc(lo, hi, len, id | (flags << 16));
      }
      count++;
      if (flags & PackedDescFlag.INDIRECT) {
        if (!this.features.indirect) return { kind: "indirect-not-negotiated", head: slot };
        if (count > 1 || flags & PackedDescFlag.NEXT) {
          return { kind: "indirect-in-chain", head: slot, index: cur };
        }
        const bad = this.walkIndirect(b, slot, addr, len);
        if (bad) return bad;
      } else {
        const bad = b.add(cur, addr, len, (flags & PackedDescFlag.WRITE) !== 0);
        if (bad) return bad;
      }
      if (++cur === this.size) {
        cur = 0;
        w ^= 1;
      }
      if (!(flags & PackedDescFlag.NEXT)) {
        this.lastCount = count;
        return null;
      }
    }
  }

  /** An indirect table: `len / 16` consecutive descriptors; only WRITE counts inside (§2.8.7). */
  private walkIndirect(b: ChainWalker, head: number, addr: number, len: number): RingError | null {
    if (len === 0 || len % PackedDesc.SIZE !== 0) {
      return { kind: "indirect-length", head, length: len };
    }
    // No alignment check: the spec sets none for indirect tables (§2.8.7, unlike the 16 bytes
    // of the descriptor ring in §2.8.10).
    const entries = len / PackedDesc.SIZE;
    if (entries > this.size) return { kind: "indirect-too-large", head, entries, limit: this.size };
    const t = this.dma.translate(addr, len, "read");
    if (!t.ok) return { kind: "indirect-unreachable", head, cause: t.error };
    // Read from a private copy: any alignment, and immune to later guest writes.
    const table = this.table;
    table.load(this.dma.memory.u8, t.value, len);
    b.markIndirect();
    for (let i = 0; i < entries; i++) {
      const flags = table.word14(i);
      if (flags & PackedDescFlag.INDIRECT) return { kind: "nested-indirect", head, index: i };
      const bad = b.add(i, table.addr(i), table.len(i), (flags & PackedDescFlag.WRITE) !== 0);
      if (bad) return bad;
    }
    return null;
  }

  /** First and last inflight-log record of the buffer being walked (LOG_NIL when none). */
  private logFirst = LOG_NIL;
  private logLast = LOG_NIL;

  /**
   * Copy one ring descriptor of the buffer being walked into the inflight log. Never runs dry:
   * at most `size` descriptors are in flight, and the log has `size` records.
   */
  private logDesc(lo: number, hi: number, len: number, idFlags: number): void {
    const st = this.st;
    const r = st[StateWord.LOG_FREE];
    const rec = this.logBase + r * LOG_RECORD_WORDS;
    st[StateWord.LOG_FREE] = st[rec + 4];
    st[rec] = lo;
    st[rec + 1] = hi;
    st[rec + 2] = len;
    st[rec + 3] = idFlags;
    st[rec + 4] = LOG_NIL;
    if (this.logLast === LOG_NIL) this.logFirst = r;
    else st[this.logBase + this.logLast * LOG_RECORD_WORDS + 4] = r;
    this.logLast = r;
  }

  /** Give the walked buffer's records back (the walk failed: the queue is now broken). */
  private unlogWalk(): void {
    const st = this.st;
    if (this.logLast !== LOG_NIL) {
      st[this.logBase + this.logLast * LOG_RECORD_WORDS + 4] = st[StateWord.LOG_FREE];
      st[StateWord.LOG_FREE] = this.logFirst;
    }
    this.logFirst = this.logLast = LOG_NIL;
  }

  /** Return buffer `id`'s log records to the free list and clear its in-flight mark. */
  private unlogChain(id: number): void {
    const st = this.st;
    let r = st[this.logHeads + id];
    while (r !== LOG_NIL) {
      const link = this.logBase + r * LOG_RECORD_WORDS + 4;
      const next = st[link];
      st[link] = st[StateWord.LOG_FREE];
      st[StateWord.LOG_FREE] = r;
      r = next;
    }
    st[this.logHeads + id] = LOG_NIL;
    st[INFLIGHT + id] = 0;
  }

  /** Stage `chain` as used with `written` bytes. */
  push(chain: DescriptorChain, written: number): Result<void, PushError> {
    // null was "Cannot read properties of null (reading 'id')".
    const id = chain?.id;
    if (id === undefined) throw pushChainError(chain);
    return this.stage.add(
      chain,
      written,
      !this.broken && id < this.size && this.st[INFLIGHT + id] !== 0,
    );
  }

  /**
   * Write the staged used descriptors. The first one's flags are stored last, so the driver
   * (which polls that slot) sees the whole batch at once (§2.8.9's rule for multi-buffer
   * requests, applied to every batch).
   */
  publish(): void {
    const n = this.stage.count;
    // A queue that broke in this pass still returns what it used before the fault (`push`
    // stages nothing after it): see split_device.ts `publish`.
    if (n === 0) return;
    const ring = this.ring;
    const st = this.st;
    let slot = st[StateWord.USED_IDX];
    let wrap = st[StateWord.USED_WRAP];
    // Journal first: a worker that dies from here on is settled by what the ring shows.
    let to = slot;
    let toWrap = wrap;
    for (let i = 0; i < n; i++) {
      st[this.journal + i] = this.stage.id[i] | (this.stage.descs[i] << 16);
      to += this.stage.descs[i];
      if (to >= this.size) {
        to -= this.size;
        toWrap ^= 1;
      }
    }
    st[StateWord.PUBLISH_FROM] = slot | (wrap << 16);
    st[StateWord.PUBLISH_TO] = to | (toWrap << 16);
    st[StateWord.PUBLISH_COUNT] = n;
    let firstOff = -1;
    let firstFlags = 0;
    let advanced = 0;
    for (let i = 0; i < n; i++) {
      // IN_ORDER (§2.8.8): a run of fully used buffers may share one used descriptor carrying
      // the last id; the used index skips all of their slots.
      let last = i;
      let descs = this.stage.descs[i];
      if (this.features.inOrder) {
        while (last + 1 < n && this.stage.full[last]) descs += this.stage.descs[++last];
      }
      const off = this.desc + PackedDesc.SIZE * slot;
      const len = this.stage.len[last];
      ring.store16(off + PackedDesc.ID, this.stage.id[last]);
      ring.store32(off + PackedDesc.LEN, len);
      const flags = (wrap ? PackedDescFlag.AVAIL | PackedDescFlag.USED : 0) |
        (len > 0 ? PackedDescFlag.WRITE : 0);
      if (firstOff < 0) {
        firstOff = off;
        firstFlags = flags;
      } else {
        ring.store16(off + PackedDesc.FLAGS, flags);
      }
      slot += descs;
      advanced += descs;
      if (slot >= this.size) {
        slot -= this.size;
        wrap ^= 1;
      }
      i = last;
    }
    // publish used flags: pairs with "observe used flags" in packed_driver.ts getUsed()
    ring.publish16(firstOff + PackedDesc.FLAGS, firstFlags);
    for (let i = 0; i < n; i++) this.unlogChain(this.stage.id[i]);
    st[StateWord.IN_FLIGHT] -= n;
    st[StateWord.USED_IDX] = slot;
    st[StateWord.USED_WRAP] = wrap;
    st[StateWord.SIGNALLED_USED] = Math.min(st[StateWord.SIGNALLED_USED] + advanced, 0xffff);
    st[StateWord.PUBLISH_COUNT] = 0;
    this.stage.clear();
  }

  /** Whether the driver wants a used-buffer notification for what was published since the last check. */
  needsInterrupt(): boolean {
    if (this.broken) return false;
    const st = this.st;
    // SIGNALLED_USED counts slots used since the last check (packed has no free-running index).
    const advanced = st[StateWord.SIGNALLED_USED];
    const valid = st[StateWord.SIGNALLED_VALID] === 1;
    st[StateWord.SIGNALLED_USED] = 0;
    st[StateWord.SIGNALLED_VALID] = 1;
    if (valid && advanced === 0) return false;
    // observe driver event flags after publishing (seq-cst: the fence of §2.8.22)
    const flags = this.ring.observe16(this.driverEvent + PackedEvent.FLAGS);
    // DISABLE and ENABLE hold from the first check on; only DESC needs a previous check.
    if (!valid) return flags !== PackedEventFlag.DISABLE;
    const offWrap = this.ring.load16(this.driverEvent + PackedEvent.OFF_WRAP);
    const newIdx = st[StateWord.USED_IDX];
    return packedNeedNotify(
      flags,
      offWrap,
      (newIdx - advanced) & 0xffff,
      newIdx,
      st[StateWord.USED_WRAP],
      this.size,
      this.features.eventIdx,
    );
  }

  /** Ask for kicks again; true if a buffer arrived meanwhile. */
  enableNotifications(): boolean {
    if (this.broken) return false;
    const slot = this.st[StateWord.NEXT_AVAIL];
    const wrap = this.st[StateWord.AVAIL_WRAP];
    if (this.features.eventIdx) {
      this.ring.store16(this.deviceEvent + PackedEvent.OFF_WRAP, slot | (wrap << 15));
      // publish device event: pairs with "observe device event" in packed_driver.ts publish()
      this.ring.publish16(this.deviceEvent + PackedEvent.FLAGS, PackedEventFlag.DESC);
    } else if (this.notifyShadow !== PackedEventFlag.ENABLE) {
      this.ring.publish16(this.deviceEvent + PackedEvent.FLAGS, PackedEventFlag.ENABLE);
    }
    this.notifyShadow = PackedEventFlag.ENABLE;
    const flags = this.ring.observe16(this.desc + PackedDesc.SIZE * slot + PackedDesc.FLAGS);
    return ((flags >>> AVAIL_SHIFT) & 1) === wrap && ((flags >>> USED_SHIFT) & 1) !== wrap;
  }

  /** Ask the driver not to kick. */
  disableNotifications(): void {
    if (this.notifyShadow === PackedEventFlag.DISABLE) return;
    this.ring.store16(this.deviceEvent + PackedEvent.FLAGS, PackedEventFlag.DISABLE);
    this.notifyShadow = PackedEventFlag.DISABLE;
  }

  /** Break the queue: every later pop returns the same error until the device is reset. */
  private fail(error: RingError): { ok: false; error: PopError } {
    this.broken = error;
    return err({ ...error, fatal: true });
  }

  /**
   * Resume from a saved state record: validate it, then rebuild each chain in flight from the
   * inflight log (the ring slots may already hold other buffers), in fetch order.
   */
  static restore(
    dma: DmaView,
    ring: RingAccess,
    config: QueueConfig,
    state: Uint32Array,
  ): Result<{ queue: PackedDeviceQueue; inFlight: DescriptorChain[] }, RestoreError> {
    const areas = checkQueueConfig(dma, { ...config, layout: "packed" });
    if (!areas.ok) return areas;
    const desc = areas.value.descriptor;
    // The USED bit of the batch's first slot tells whether its publish happened: before, it is
    // the inverse of the used wrap; after, it equals it (and stays so if the driver reuses it).
    const seen = (from: number): PublishSeen => {
      const wrap = from >>> 16;
      const flags = ring.observe16(desc + PackedDesc.SIZE * (from & 0xffff) + PackedDesc.FLAGS);
      if (((flags >>> USED_SHIFT) & 1) === wrap) return "published";
      return ((flags >>> AVAIL_SHIFT) & 1) === wrap ? "not-published" : "inconsistent";
    };
    const settled = settleState(state, "packed", config.size, seen);
    if (!settled.ok) return settled;
    const valid = validateState(state, "packed", config.size);
    if (!valid.ok) return valid;
    const q = new PackedDeviceQueue(dma, ring, config, areas.value, state);
    const ids: number[] = [];
    for (let id = 0; id < config.size; id++) if (state[INFLIGHT + id] !== 0) ids.push(id);
    ids.sort((a, b) => state[INFLIGHT + a] - state[INFLIGHT + b]);
    const inFlight: DescriptorChain[] = [];
    for (const id of ids) {
      const bad = q.rebuild(id);
      if (bad) return err(bad);
      inFlight.push(q.adopt(id, q.lastCount));
      q.stage.popped(id);
    }
    return ok({ queue: q, inFlight });
  }

  /** Rebuild buffer `id` from its inflight-log records (restore). */
  private rebuild(id: number): RingError | null {
    const st = this.st;
    const b = this.walker;
    b.begin(this.spare, id);
    let count = 0;
    for (
      let r = st[this.logHeads + id];
      r !== LOG_NIL;
      r = st[this.logBase + r * LOG_RECORD_WORDS + 4]
    ) {
      const rec = this.logBase + r * LOG_RECORD_WORDS;
      const addr = st[rec] + st[rec + 1] * 2 ** 32;
      const flags = st[rec + 3] >>> 16;
      count++;
      const bad = flags & PackedDescFlag.INDIRECT
        ? this.walkIndirect(b, id, addr, st[rec + 2])
        : b.add(count - 1, addr, st[rec + 2], (flags & PackedDescFlag.WRITE) !== 0);
      if (bad) return bad;
    }
    this.lastCount = count;
    return null;
  }
}
