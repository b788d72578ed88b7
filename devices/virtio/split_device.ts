/**
 * The device half of a split virtqueue (virtio 1.2 §2.7): pops chains from the available ring,
 * stages and publishes used entries, decides interrupts and asks for kicks.
 *
 * Runs in the device worker. Everything read from the ring is guest input: indices are
 * bounded, each descriptor is read once into locals (snapshot, validate, use), and any ring-level
 * fault breaks the queue (`broken`) so the device model can set `DEVICE_NEEDS_RESET`. The
 * position in the ring and the chains in flight live in the state record (`state.ts`), so a
 * restarted worker resumes where its predecessor stopped (`restoreSplitDevice`).
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import { err, ok, type Result } from "../base/result.ts";
import {
  chainPool,
  ChainWalker,
  type DescriptorChain,
  type PooledChain,
  type PopError,
} from "./chain.ts";
import { SplitDescFlag, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_USED_F_NO_NOTIFY } from "./constants.ts";
import { pushChainError, type PushError, type QueueSetupError, type RingError } from "./errors.ts";
import { needEvent } from "./event.ts";
import { IndirectTable } from "./indirect_table.ts";
import type { DeviceQueue, PopResult, QueueConfig, RingFeatures } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { checkQueueConfig } from "./setup.ts";
import { UsedStage } from "./used_stage.ts";
import { SplitAvail, SplitDesc, SplitUsed } from "./split_layout.ts";
import {
  journalBase,
  type PublishSeen,
  resetState,
  settleState,
  STATE_HEADER_WORDS,
  type StateError,
  StateWord,
  validateState,
} from "./state.ts";

const EMPTY: PopResult = Object.freeze({ ok: true, value: null }) as PopResult;
const INFLIGHT = STATE_HEADER_WORDS;

/** Why a saved state cannot be resumed. */
export type RestoreError = QueueSetupError | StateError | RingError;

/**
 * The device half of a split queue.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { createState } from "./state.ts";
 * import { SplitDeviceQueue } from "./split_device.ts";
 * const mem = GuestMemory.create(65536);
 * const config = {
 *   layout: "split" as const, size: 8, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000,
 *   features: { eventIdx: false, indirect: false, inOrder: false },
 * };
 * const q = SplitDeviceQueue.create(new DirectDma(mem), new SharedRingAccess(mem), config,
 *   createState("split", 8));
 * if (q.ok) q.value.pop(); // { ok: true, value: null }: nothing available yet
 * ```
 */
export class SplitDeviceQueue implements DeviceQueue {
  /** Layout. */
  readonly layout = "split" as const;
  /** Queue size. */
  readonly size: number;
  /** The fatal error that broke the queue, or null. */
  broken: RingError | null = null;
  private readonly mask: number;
  private readonly desc: number;
  private readonly avail: number;
  private readonly used: number;
  private readonly features: RingFeatures;
  private readonly dma: DmaView;
  private readonly ring: RingAccess;
  private readonly st: Uint32Array;
  /**
   * Last avail.idx observed; re-read when the device has caught up with it, and at the first pop
   * after each publish.
   */
  private shadowAvail: number;
  /** See `DeviceQueue.observed`: the last pop read avail idx afresh. */
  observed = false;
  /** Completions pushed and not yet published. */
  private readonly stage: UsedStage;
  private readonly journal: number;
  private notifyShadow = -1;
  private readonly walker: ChainWalker;
  private readonly pool: PooledChain[];
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
    this.mask = config.size - 1;
    this.features = { ...config.features };
    this.desc = areas.descriptor;
    this.avail = areas.driver;
    this.used = areas.device;
    this.st = st;
    this.shadowAvail = st[StateWord.NEXT_AVAIL];
    this.stage = new UsedStage(config.size, config.features.inOrder);
    this.journal = journalBase(config.size);
    this.walker = new ChainWalker(dma);
    this.pool = chainPool(config.size);
    this.table = new IndirectTable(config.features.indirect ? config.size : 0);
  }

  /**
   * Enable a queue at power-on state: validates the configuration (A18–A20) and resets `state`.
   */
  static create(
    dma: DmaView,
    ring: RingAccess,
    config: QueueConfig,
    state: Uint32Array,
  ): Result<SplitDeviceQueue, QueueSetupError> {
    const areas = checkQueueConfig(dma, { ...config, layout: "split" });
    if (!areas.ok) return areas;
    resetState(state, "split", config.size);
    return ok(new SplitDeviceQueue(dma, ring, config, areas.value, state));
  }

  /** Chains popped and not yet published as used. */
  get inFlight(): number {
    return this.st[StateWord.IN_FLIGHT];
  }

  /** Pop the next available chain. */
  pop(): PopResult {
    if (this.broken) return err({ ...this.broken, fatal: true });
    const st = this.st;
    const nextAvail = st[StateWord.NEXT_AVAIL];
    if (nextAvail === this.shadowAvail) {
      // observe avail idx: pairs with "publish avail idx" in split_driver.ts
      this.shadowAvail = this.ring.observe16(this.avail + SplitAvail.IDX);
      if (nextAvail === this.shadowAvail) return EMPTY;
      this.observed = true;
    } else this.observed = false;
    if (((this.shadowAvail - nextAvail) & 0xffff) > this.size) {
      return this.fail({
        kind: "avail-index-jump",
        availIdx: this.shadowAvail,
        nextAvail,
        size: this.size,
      });
    }
    const slot = this.avail + SplitAvail.RING + SplitAvail.ENTRY * (nextAvail & this.mask);
    const head = this.ring.load16(slot);
    if (head >= this.size) return this.fail({ kind: "head-out-of-range", head, size: this.size });
    if (st[INFLIGHT + head] !== 0) return this.fail({ kind: "head-in-flight", head });
    const bad = this.walk(head);
    if (bad) return this.fail(bad);
    // Journaled: a worker that dies before POP_ID is cleared has its pop rolled back.
    st[StateWord.POP_FROM] = nextAvail;
    st[StateWord.POP_ID] = head + 1;
    st[INFLIGHT + head] = st[StateWord.FETCH_SEQ];
    st[StateWord.NEXT_AVAIL] = (nextAvail + 1) & 0xffff;
    // fetch sequence numbers run 1 … 2^32 − 2 and skip 0, which means "not in flight"
    st[StateWord.FETCH_SEQ] = st[StateWord.FETCH_SEQ] >= 0xfffffffe
      ? 1
      : st[StateWord.FETCH_SEQ] + 1;
    st[StateWord.IN_FLIGHT]++;
    st[StateWord.POP_ID] = 0;
    this.stage.popped(head);
    const chain = this.walker.end(head, this.lastWalkLength);
    if (this.walker.fault) return err({ ...this.walker.fault, fatal: false, chain });
    return chain.result;
  }

  private lastWalkLength = 0;

  /** Walk the chain at `head` into its pooled chain; the ring error, if any. */
  private walk(head: number): RingError | null {
    const ring = this.ring;
    const b = this.walker;
    b.begin(this.pool[head], head);
    const table = this.table;
    let tableSize = this.size;
    let indirect = false;
    let index = head;
    let seen = 0;
    let ringDescs = 0;
    for (;;) {
      if (++seen > tableSize) return { kind: "chain-too-long", head, limit: tableSize };
      let addr: number, len: number, flags: number, next: number;
      if (indirect) {
        // Read from the private copy (any alignment, and immune to later guest writes).
        addr = table.addr(index);
        len = table.len(index);
        flags = table.word12(index);
        next = table.word14(index);
      } else {
        ringDescs++;
        const off = this.desc + SplitDesc.SIZE * index;
        const lo = ring.load32(off);
        const hi = ring.load32(off + 4);
        addr = hi === 0 ? lo : lo + hi * 2 ** 32;
        len = ring.load32(off + SplitDesc.LEN);
        flags = ring.load16(off + SplitDesc.FLAGS);
        next = ring.load16(off + SplitDesc.NEXT);
      }
      if (flags & SplitDescFlag.INDIRECT) {
        if (!this.features.indirect) return { kind: "indirect-not-negotiated", head };
        if (indirect) return { kind: "nested-indirect", head, index };
        if (flags & SplitDescFlag.NEXT) return { kind: "indirect-in-chain", head, index };
        if (len === 0 || len % SplitDesc.SIZE !== 0) {
          return { kind: "indirect-length", head, length: len };
        }
        // No alignment check: the spec sets none for indirect tables (§2.7.5.3, unlike the
        // 16 bytes of the descriptor table in §2.7.2).
        const entries = len / SplitDesc.SIZE;
        if (entries > this.size) {
          return { kind: "indirect-too-large", head, entries, limit: this.size };
        }
        const t = this.dma.translate(addr, len, "read");
        if (!t.ok) return { kind: "indirect-unreachable", head, cause: t.error };
        table.load(this.dma.memory.u8, t.value, len);
        b.markIndirect();
        tableSize = entries;
        indirect = true;
        index = 0;
        seen = 0;
        continue;
      }
      const bad = b.add(index, addr, len, (flags & SplitDescFlag.WRITE) !== 0);
      if (bad) return bad;
      if (!(flags & SplitDescFlag.NEXT)) break;
      if (next >= tableSize) return { kind: "next-out-of-range", head, next, tableSize };
      index = next;
    }
    this.lastWalkLength = ringDescs;
    return null;
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

  /** Write staged used entries and publish the new used index. */
  publish(): void {
    // Forget the avail index seen: the next pass's first pop reads it again. A device that took
    // a few buffers of many (a receiveq takes one a frame) would otherwise go on through the
    // buffers it saw for a long while, and meet an index jump the driver wrote meanwhile only
    // when it had caught up with them; one load a pass meets it at the next pop.
    this.shadowAvail = this.st[StateWord.NEXT_AVAIL];
    const stage = this.stage;
    const n = stage.count;
    // A queue that broke in this pass still returns what it used before the fault (`push`
    // stages nothing after it), as vhost flushes its done heads on an error: frames already
    // written into RX buffers, TX frames already sent. Kept back, they were lost unseen.
    if (n === 0) return;
    const ids = stage.id;
    const ring = this.ring;
    const st = this.st;
    const from = st[StateWord.USED_IDX];
    // Journal first: a worker that dies from here on is settled by what the ring shows.
    for (let i = 0; i < n; i++) st[this.journal + i] = ids[i];
    st[StateWord.PUBLISH_FROM] = from;
    st[StateWord.PUBLISH_TO] = (from + n) & 0xffff;
    st[StateWord.PUBLISH_COUNT] = n;
    let usedIdx = from;
    for (let i = 0; i < n; i++) {
      // IN_ORDER (§2.7.9): a run of fully used buffers may be returned as one entry, carrying
      // the last id, with the used index advanced by the whole run.
      let last = i;
      if (this.features.inOrder) { while (last + 1 < n && stage.full[last]) last++; }
      const elem = this.used + SplitUsed.RING + SplitUsed.ENTRY * (usedIdx & this.mask);
      ring.store32(elem + SplitUsed.ELEM_ID, ids[last]);
      ring.store32(elem + SplitUsed.ELEM_LEN, stage.len[last]);
      usedIdx = (usedIdx + (last - i + 1)) & 0xffff;
      i = last;
    }
    // publish used idx: pairs with "observe used idx" in split_driver.ts
    ring.publish16(this.used + SplitUsed.IDX, usedIdx);
    for (let i = 0; i < n; i++) st[INFLIGHT + ids[i]] = 0;
    st[StateWord.IN_FLIGHT] -= n;
    st[StateWord.USED_IDX] = usedIdx;
    st[StateWord.PUBLISH_COUNT] = 0;
    stage.clear();
  }

  /** Whether the driver wants a used-buffer notification for what was published since the last check. */
  needsInterrupt(): boolean {
    if (this.broken) return false;
    const st = this.st;
    const newIdx = st[StateWord.USED_IDX];
    const old = st[StateWord.SIGNALLED_USED];
    const valid = st[StateWord.SIGNALLED_VALID] === 1;
    st[StateWord.SIGNALLED_USED] = newIdx;
    st[StateWord.SIGNALLED_VALID] = 1;
    if (valid && newIdx === old) return false;
    if (this.features.eventIdx) {
      // observe used_event after publishing used idx (seq-cst: the store-load fence of §2.7.10)
      const usedEvent = this.ring.observe16(
        this.avail + SplitAvail.RING + SplitAvail.ENTRY * this.size,
      );
      return !valid || needEvent(usedEvent, newIdx, old);
    }
    return (this.ring.observe16(this.avail + SplitAvail.FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Ask for kicks again; true if buffers arrived meanwhile. */
  enableNotifications(): boolean {
    if (this.broken) return false;
    const next = this.st[StateWord.NEXT_AVAIL];
    if (this.features.eventIdx) {
      // publish avail_event: pairs with "observe avail_event" in split_driver.ts publish()
      this.ring.publish16(this.used + SplitUsed.RING + SplitUsed.ENTRY * this.size, next);
    } else if (this.notifyShadow !== 0) {
      this.ring.publish16(this.used + SplitUsed.FLAGS, 0);
    }
    this.notifyShadow = 0;
    // re-check after the (seq-cst) publish: a buffer added before it cannot be missed. Not kept
    // as the shadow: a chain is taken only after a pop's own load (`observed`).
    return this.ring.observe16(this.avail + SplitAvail.IDX) !== next;
  }

  /** Ask the driver not to kick. With EVENT_IDX nothing needs writing: kicks stop by themselves. */
  disableNotifications(): void {
    if (this.features.eventIdx || this.notifyShadow === 1) return;
    this.ring.store16(this.used + SplitUsed.FLAGS, VIRTQ_USED_F_NO_NOTIFY);
    this.notifyShadow = 1;
  }

  /** Break the queue: every later pop returns the same error until the device is reset. */
  private fail(error: RingError): { ok: false; error: PopError } {
    this.broken = error;
    return err({ ...error, fatal: true });
  }

  /**
   * Resume a queue from a saved state record (after the previous device worker died).
   * Validates the record, reconciles it with the used index in the ring (a batch published
   * just before the crash), re-walks every chain in flight, and returns them in fetch order so
   * the device completes each exactly once.
   */
  static restore(
    dma: DmaView,
    ring: RingAccess,
    config: QueueConfig,
    state: Uint32Array,
  ): Result<{ queue: SplitDeviceQueue; inFlight: DescriptorChain[] }, RestoreError> {
    const areas = checkQueueConfig(dma, { ...config, layout: "split" });
    if (!areas.ok) return areas;
    const used = areas.value.device;
    // The ring's used idx is written by the device only: it tells whether a publish happened.
    const seen = (from: number, to: number): PublishSeen => {
      const ringUsed = ring.observe16(used + SplitUsed.IDX);
      return ringUsed === to ? "published" : ringUsed === from ? "not-published" : "inconsistent";
    };
    const settled = settleState(state, "split", config.size, seen);
    if (!settled.ok) return settled;
    const valid = validateState(state, "split", config.size);
    if (!valid.ok) return valid;
    const q = new SplitDeviceQueue(dma, ring, config, areas.value, state);
    const byFetch = () => {
      const ids: number[] = [];
      for (let id = 0; id < config.size; id++) if (state[INFLIGHT + id] !== 0) ids.push(id);
      return ids.sort((a, b) => state[INFLIGHT + a] - state[INFLIGHT + b]);
    };
    const heads = byFetch();
    const inFlight: DescriptorChain[] = [];
    for (const head of heads) {
      const bad = q.walk(head);
      if (bad) return err(bad);
      inFlight.push(q.walker.end(head, q.lastWalkLength));
      q.stage.popped(head);
    }
    return ok({ queue: q, inFlight });
  }
}
