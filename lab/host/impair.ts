/**
 * Link impairments, the way Linux `tc netem` applies them on the sending side of a link: delay
 * with jitter, correlation and a distribution; loss (random with correlation, the 4-state model
 * or Gilbert-Elliott); corruption, duplication and reordering (with correlation, reorder with a
 * gap); a rate with a per-packet overhead; and a bounded queue (`limit`). The producer of a link
 * ring (a device worker's TX path or a switch port) offers each frame to its link's stage, then
 * drains the frames that are due into the ring, and sleeps no longer than `nextDueUs()`.
 *
 * Decisions per offered frame, in netem's order (each draws from the link's seeded `Prng` only
 * when its knob is non-zero, and every draw is taken before the `limit` check, so the same seed
 * and offer times give the same output, and a frame the limit drops, which is timing, does not
 * shift the decisions of the frames after it):
 * 1. duplicate and loss: as netem, `count = 1 + duplicate - loss`; 0 drops the frame; 2 queues a
 *    second copy that goes through steps 1–4 again with duplication off.
 * 2. corrupt: flip one random bit at a random offset of the queued copy.
 * 3. reorder (only with delay or jitter, as netem needs delay): every `gap`-th frame (netem's
 *    counter) is, with probability `reorder`, due now and jumps ahead of every delayed frame.
 * 4. otherwise `due = max(now + delay + jitter·f(u) (clamped ≥ 0), lastDue)`, where `f` is the
 *    distribution's quantile and `u` the correlated uniform, so that jitter never reorders
 *    (netem's behaviour with a rate), then, with a rate, `due += (bytes + overhead)·8 / rate`:
 *    the frame is due when the link would have finished serialising it.
 *
 * `setImpairment` changes the knobs of a running stage (netem's `change`): frames already held
 * keep their due times; the counters and the random state carry on. On a stage made with
 * `reorderOnChange` (Ethernet links), frames offered after a change of the delay, jitter,
 * distribution or rate to knobs without a rate do not wait behind the frames held under the
 * earlier knobs (a change of the other knobs alone keeps jittered frames in order): netem's queue is ordered by due time,
 * so after `delay 1s` → `delay 10ms` (or a cleared `rate 1kbit`) a new frame leaves 10 ms after it
 * was sent, ahead of the older ones; only a rate serialises it after the queue's last frame. A
 * stage without it (vsock: a stream must not be reordered) keeps every frame in order. A worker
 * restarted after a crash makes a new stage with a stream of its own (`restartSeed`).
 *
 * Frames are copied into a pool of `limit` preallocated buffers; no byte buffer is allocated per
 * frame once every pool buffer has grown to the link's largest frame. Runs on the producer's
 * thread; not shared.
 *
 * @module
 */

import { Prng } from "../../devices/base/prng.ts";
import { Correlated, jitterFactor, MarkovLoss } from "./impair_models.ts";
import type { Impairment } from "../wire/specs.ts";
import { bytesAtPhase } from "../../devices/memory/allocator.ts";

export type { DelayDistribution, Impairment, LossModel } from "../wire/specs.ts";

/** The stage's counters. */
export interface ImpairCounters {
  /** Frames offered. */
  offered: number;
  /** Frames the loss impairment dropped (a loss that meets a duplicate drops nothing). */
  lost: number;
  /** Frames with a bit flipped. */
  corrupted: number;
  /** Second copies queued. */
  duplicated: number;
  /** Frames sent ahead of delayed ones. */
  reordered: number;
  /** Frames dropped because `limit` frames were held. */
  droppedLimit: number;
  /** Frames emitted by `drain`. */
  delivered: number;
  /** Frames `purge` dropped (the link went down while the stage held them). */
  purged: number;
  /** Frames `drain` released at or after a due time (all but those `reorder` sends ahead). */
  delayed: number;
  /**
   * How late those frames left, summed: seconds from each one's due time to the `drain` that
   * released it (the worker's timer precision; `lateSeconds / delayed` is the mean).
   */
  lateSeconds: number;
}

/** Impairment with every knob off (and netem's default limit). */
export const NO_IMPAIRMENT: Readonly<Impairment> = Object.freeze({
  delayUs: 0,
  jitterUs: 0,
  delayCorrPct: 0,
  distribution: "uniform",
  lossPct: 0,
  lossCorrPct: 0,
  lossModel: null,
  corruptPct: 0,
  corruptCorrPct: 0,
  duplicatePct: 0,
  duplicateCorrPct: 0,
  reorderPct: 0,
  reorderCorrPct: 0,
  reorderGap: 1,
  rateBps: 0,
  overheadBytes: 0,
  limit: 1000,
});

/** True when `imp` changes nothing: a producer may bypass the stage. */
export function isPassthrough(imp: Impairment): boolean {
  return imp.delayUs === 0 && imp.jitterUs === 0 && imp.lossPct === 0 && imp.lossModel === null &&
    imp.corruptPct === 0 && imp.duplicatePct === 0 && imp.reorderPct === 0 && imp.rateBps === 0;
}

const PERCENT_KEYS = [
  "delayCorrPct",
  "lossPct",
  "lossCorrPct",
  "corruptPct",
  "corruptCorrPct",
  "duplicatePct",
  "duplicateCorrPct",
  "reorderPct",
  "reorderCorrPct",
] as const;

/**
 * Throws a RangeError naming the first bad knob (a programmer error: callers validate first).
 *
 * @example
 * ```ts
 * import { checkImpairment, NO_IMPAIRMENT } from "./impair.ts";
 * checkImpairment({ ...NO_IMPAIRMENT, lossPct: 50 }); // fine
 * ```
 */
export function checkImpairment(imp: Impairment): void {
  for (const [k, v] of Object.entries(imp)) {
    if (k === "distribution" || k === "lossModel") continue;
    const signed = k === "overheadBytes";
    if (typeof v !== "number" || !Number.isFinite(v) || (!signed && !(v >= 0))) {
      throw new RangeError(`Cannot build impairment: ${k} must be a finite number >= 0, got ${v}`);
    }
  }
  for (const k of PERCENT_KEYS) {
    if (imp[k] > 100) {
      throw new RangeError(`Cannot build impairment: ${k} above 100, got ${imp[k]}`);
    }
  }
  const m = imp.lossModel;
  if (m !== null) {
    for (const [k, v] of Object.entries(m)) {
      if (k !== "kind" && !(typeof v === "number" && v >= 0 && v <= 100)) {
        throw new RangeError(`Cannot build impairment: loss model ${k} must be 0..100, got ${v}`);
      }
    }
  }
}

/**
 * The seed of a link direction's stage in the worker that produces into it, given the ring's seed
 * (derived from the lab's seed and the direction) and the producing device worker's epoch (0 for
 * the first worker, then one more per restart after a crash or a VM reboot). The first worker uses
 * the ring's seed as is; a successor cannot continue its predecessor's stream (that state died
 * with it), and starting it over would take the lab's first decisions again after every restart,
 * so it forks a stream of its own: still a function of the seed and the restart count only.
 *
 * @example
 * ```ts
 * import { restartSeed } from "./impair.ts";
 * restartSeed(42, 0); // 42
 * restartSeed(42, 1) !== 42; // true: the first successor's own stream
 * ```
 */
export function restartSeed(ringSeed: number, epoch: number): number {
  return epoch === 0 ? ringSeed : Prng.fromSeed(ringSeed).fork(`restart ${epoch}`).nextU32();
}

const INITIAL_BUFFER_BYTES = 1536;

/** A FIFO of pool indices. */
class IndexQueue {
  #items: Int32Array;
  #head = 0;
  count = 0;
  constructor(capacity: number) {
    this.#items = new Int32Array(capacity);
  }
  push(v: number): void {
    this.#items[(this.#head + this.count) % this.#items.length] = v;
    this.count++;
  }
  first(): number {
    return this.#items[this.#head];
  }
  last(): number {
    return this.#items[(this.#head + this.count - 1) % this.#items.length];
  }
  shift(): number {
    const v = this.#items[this.#head];
    this.#head = (this.#head + 1) % this.#items.length;
    this.count--;
    return v;
  }
  /** Grow to `capacity` (on a live change of the limit only), keeping the order. */
  grow(capacity: number): void {
    const items = new Int32Array(capacity);
    for (let i = 0; i < this.count; i++) {
      items[i] = this.#items[(this.#head + i) % this.#items.length];
    }
    this.#items = items;
    this.#head = 0;
  }
}

/**
 * What a link's kind does to a held frame's meta word before the stage changes the frame's bytes
 * (corruption); returns the new meta. Ethernet links complete a partial checksum
 * (`settleChecksum`), as netem does before it corrupts, so that the receiver can see the flip.
 */
export type MetaSettler = (frame: Uint8Array, meta: number) => number;

/**
 * One direction's netem stage.
 *
 * @example
 * ```ts
 * import { Prng } from "../../devices/base/prng.ts";
 * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
 * const stage = new ImpairStage({ ...NO_IMPAIRMENT, delayUs: 1000 }, Prng.fromSeed(1).fork("a-b"));
 * stage.offer(new Uint8Array(60), 0);
 * stage.nextDueUs(); // 1000
 * stage.drain(1000, (frame) => true); // emits the frame
 * ```
 */
export class ImpairStage {
  /** Counters (read-only for callers). */
  readonly counters: ImpairCounters = {
    offered: 0,
    lost: 0,
    corrupted: 0,
    duplicated: 0,
    reordered: 0,
    droppedLimit: 0,
    delivered: 0,
    purged: 0,
    delayed: 0,
    lateSeconds: 0,
  };
  #imp: Impairment;
  #passthrough: boolean;
  readonly #prng: Prng;
  #bufs: Uint8Array[] = [];
  #lens = new Int32Array(0);
  #metas = new Uint32Array(0);
  readonly #settle: MetaSettler | null;
  #due = new Float64Array(0);
  #free = new Int32Array(0);
  #freeCount = 0;
  #capacity = 0;
  readonly #immediate = new IndexQueue(0);
  readonly #delayed = new IndexQueue(0);
  /** Frames held under earlier knobs (`reorderOnChange`), ordered by due time. */
  readonly #earlier = new IndexQueue(0);
  readonly #reorderOnChange: boolean;
  #lastDue = -Infinity;
  #reorderCounter = 0;
  readonly #delayCorr = new Correlated();
  readonly #lossCorr = new Correlated();
  readonly #corruptCorr = new Correlated();
  readonly #duplicateCorr = new Correlated();
  readonly #reorderCorr = new Correlated();
  readonly #markov = new MarkovLoss();

  /**
   * Throws on invalid knobs (negative values, percentages above 100): the planner validates
   * topologies first, so that is a programmer error.
   *
   * @param reorderOnChange as netem: after a live change to knobs without a rate, new frames do
   *   not wait behind frames held under the earlier knobs (Ethernet links); false keeps every
   *   frame in the order offered (a vsock link's stream)
   */
  constructor(
    imp: Impairment,
    prng: Prng,
    settle: MetaSettler | null = null,
    reorderOnChange = false,
  ) {
    this.#prng = prng;
    this.#settle = settle;
    this.#reorderOnChange = reorderOnChange;
    this.#imp = imp;
    this.#passthrough = true;
    this.setImpairment(imp);
  }

  /** True when every knob is 0: the caller may bypass the stage (once it holds nothing). */
  get passthrough(): boolean {
    return this.#passthrough;
  }

  /** The knobs in force. */
  get impairment(): Readonly<Impairment> {
    return this.#imp;
  }

  /**
   * Change the knobs (netem's `change`): frames already held keep their due times; the counters
   * and random state carry on. With `reorderOnChange` and no rate in the new knobs, frames offered
   * from now on are not held behind the ones already held (netem orders its queue by due time: a
   * frame sent after `delay 1s` became `delay 10ms` leaves after 10 ms). A larger `limit` grows
   * the pool (the only allocation after start). Throws like the constructor.
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/base/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * const stage = new ImpairStage(NO_IMPAIRMENT, Prng.fromSeed(1));
   * stage.setImpairment({ ...NO_IMPAIRMENT, lossPct: 100 });
   * stage.passthrough; // false
   * ```
   */
  setImpairment(imp: Impairment): void {
    checkImpairment(imp);
    const old = this.#imp;
    const oldModel = old.lossModel?.kind;
    // Only a change of when frames leave lets new ones pass held ones: a change of loss alone
    // keeps a jittered link's frames in order, as before it.
    const timing = old.delayUs !== imp.delayUs || old.jitterUs !== imp.jitterUs ||
      old.distribution !== imp.distribution || old.rateBps !== imp.rateBps;
    const limit = imp.limit >= 1 ? Math.floor(imp.limit) : NO_IMPAIRMENT.limit;
    this.#imp = {
      ...imp,
      limit,
      reorderGap: Math.max(1, Math.floor(imp.reorderGap)),
      lossModel: imp.lossModel === null ? null : { ...imp.lossModel },
    };
    if (imp.lossModel?.kind !== oldModel) this.#markov.state = 1;
    this.#passthrough = isPassthrough(imp);
    if (limit > this.#capacity) this.#grow(limit);
    if (this.#reorderOnChange && timing && imp.rateBps === 0 && this.#delayed.count > 0) {
      this.#mergeIntoEarlier();
      this.#lastDue = -Infinity; // a new frame's due time no longer waits for the held ones
    } else if (imp.rateBps > 0 && this.#earlier.count > 0) {
      // netem's rate serialises a frame after the last one its queue holds, whichever knobs
      // queued it.
      this.#lastDue = Math.max(this.#lastDue, this.#due[this.#earlier.last()]);
    }
  }

  /** Move the delayed frames into `#earlier`, keeping it ordered by due time (ties: older first). */
  #mergeIntoEarlier(): void {
    const merged = new Int32Array(this.#earlier.count + this.#delayed.count);
    let n = 0;
    while (this.#earlier.count > 0 || this.#delayed.count > 0) {
      const fromEarlier = this.#delayed.count === 0 ||
        (this.#earlier.count > 0 &&
          this.#due[this.#earlier.first()] <= this.#due[this.#delayed.first()]);
      merged[n++] = (fromEarlier ? this.#earlier : this.#delayed).shift();
    }
    for (let i = 0; i < n; i++) this.#earlier.push(merged[i]);
  }

  /** The queue whose first frame is due first among the delayed ones (null when none is held). */
  #nextDelayed(): IndexQueue | null {
    const e = this.#earlier, d = this.#delayed;
    if (e.count === 0) return d.count > 0 ? d : null;
    if (d.count === 0) return e;
    return this.#due[e.first()] <= this.#due[d.first()] ? e : d;
  }

  #grow(n: number): void {
    const old = this.#capacity;
    for (let i = old; i < n; i++) this.#bufs.push(new Uint8Array(0)); // grown on first use
    const lens = new Int32Array(n);
    lens.set(this.#lens);
    this.#lens = lens;
    const metas = new Uint32Array(n);
    metas.set(this.#metas);
    this.#metas = metas;
    const due = new Float64Array(n);
    due.set(this.#due);
    this.#due = due;
    const free = new Int32Array(n);
    free.set(this.#free.subarray(0, this.#freeCount));
    for (let i = n - 1; i >= old; i--) free[this.#freeCount++] = i;
    this.#free = free;
    this.#immediate.grow(n);
    this.#delayed.grow(n);
    this.#earlier.grow(n);
    this.#capacity = n;
  }

  /** Frames held. */
  get held(): number {
    return this.#capacity - this.#freeCount;
  }

  /**
   * Offer a frame sent at `nowUs`, with the meta word of its link ring slot; the stage copies it
   * (the caller keeps its buffer).
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/base/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * const stage = new ImpairStage({ ...NO_IMPAIRMENT, lossPct: 100 }, Prng.fromSeed(1));
   * stage.offer(new Uint8Array(60), 0);
   * stage.counters.lost; // 1
   * ```
   */
  offer(frame: Uint8Array, nowUs: number, meta = 0): void {
    this.counters.offered++;
    this.#enqueue(frame, nowUs, meta, this.#imp.duplicatePct > 0);
  }

  #lose(): boolean {
    const imp = this.#imp;
    if (imp.lossModel !== null) return this.#markov.lose(imp.lossModel, this.#prng);
    return this.#lossCorr.chance(this.#prng, imp.lossPct, imp.lossCorrPct);
  }

  #enqueue(frame: Uint8Array, nowUs: number, meta: number, mayDuplicate: boolean): void {
    const imp = this.#imp;
    const prng = this.#prng;
    const dup = mayDuplicate &&
      this.#duplicateCorr.chance(prng, imp.duplicatePct, imp.duplicateCorrPct);
    const loss = this.#lose();
    const count = 1 + (dup ? 1 : 0) - (loss ? 1 : 0);
    // As netem: a loss that meets a duplicate cancels it (one copy leaves, nothing is dropped);
    // only a frame with no copy left is a drop. (The second copy takes a loss draw of its own.)
    if (count === 0) {
      this.counters.lost++;
      return;
    }
    // Every random value this copy needs is drawn before the limit check, in netem's order: a
    // queue-limit drop is timing (how fast the ring drained), and skipping its draws would shift
    // the stream, and so the fate of every frame after it, by when the drop happened.
    const corrupt = frame.length > 0 &&
      this.#corruptCorr.chance(prng, imp.corruptPct, imp.corruptCorrPct);
    const flipAt = corrupt ? prng.below(frame.length) : 0;
    const flipBit = corrupt ? prng.below(8) : 0;
    const delaying = imp.delayUs > 0 || imp.jitterUs > 0;
    // netem: frames inside the gap are delayed and counted; the gap-th one may jump ahead.
    const reorder = delaying && imp.reorderPct > 0 &&
      this.#reorderCounter >= imp.reorderGap - 1 &&
      this.#reorderCorr.chance(prng, imp.reorderPct, imp.reorderCorrPct);
    const jitter = !reorder && imp.jitterUs > 0
      ? jitterFactor(imp.distribution, this.#delayCorr.next(prng, imp.delayCorrPct)) * imp.jitterUs
      : 0;
    // The gap counts a frame the limit dropped too, so that it does not depend on timing either.
    this.#reorderCounter = reorder ? 0 : this.#reorderCounter + 1;
    if (this.held >= imp.limit) {
      this.counters.droppedLimit++;
    } else {
      const idx = this.#free[--this.#freeCount];
      let buf = this.#bufs[idx];
      // The copy starts where the frame does past a multiple of 8 (its ring's frame phase), so that
      // V8 copies it, and later back into a ring, word by word, not byte by byte.
      const phase = frame.byteOffset & 7;
      if (buf.length < frame.length || (buf.byteOffset & 7) !== phase) {
        const n = Math.max(frame.length, INITIAL_BUFFER_BYTES);
        buf = bytesAtPhase(n, phase);
        this.#bufs[idx] = buf;
      }
      buf.set(frame);
      this.#lens[idx] = frame.length;
      this.#metas[idx] = meta;
      if (corrupt) {
        // As netem: a checksum still to compute is computed first, so the flip is detectable.
        if (meta !== 0 && this.#settle) {
          this.#metas[idx] = this.#settle(buf.subarray(0, frame.length), meta);
        }
        buf[flipAt] ^= 1 << flipBit;
        this.counters.corrupted++;
      }
      if (reorder) {
        this.counters.reordered++;
        this.#due[idx] = nowUs;
        this.#immediate.push(idx);
      } else {
        let due = nowUs + imp.delayUs;
        if (imp.jitterUs > 0) due = Math.max(nowUs, due + jitter);
        due = Math.max(due, this.#lastDue);
        if (imp.rateBps > 0) {
          due += (Math.max(0, frame.length + imp.overheadBytes) * 8 * 1e6) / imp.rateBps;
        }
        this.#lastDue = due;
        this.#due[idx] = due;
        this.#delayed.push(idx);
      }
    }
    if (count === 2) {
      this.counters.duplicated++;
      this.#enqueue(frame, nowUs, meta, false);
    }
  }

  /**
   * Emit every frame due at `nowUs`, with its meta word, in order, while `out` accepts (returns true). A refused
   * frame stays queued and is offered again on the next drain. The view passed to `out` is
   * valid only during the call.
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/base/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * const stage = new ImpairStage(NO_IMPAIRMENT, Prng.fromSeed(1));
   * stage.offer(new Uint8Array([1]), 5);
   * const got: number[] = [];
   * stage.drain(5, (f) => got.push(f[0]) > 0); // got = [1]
   * ```
   */
  drain(nowUs: number, out: (frame: Uint8Array, meta: number) => boolean): void {
    for (let guard = this.#capacity; guard > 0; guard--) {
      let q: IndexQueue | null = this.#immediate;
      if (q.count === 0) {
        q = this.#nextDelayed();
        if (q === null || this.#due[q.first()] > nowUs) return;
      }
      const idx = q.first();
      if (!out(this.#bufs[idx].subarray(0, this.#lens[idx]), this.#metas[idx])) return;
      if (q !== this.#immediate) {
        this.counters.delayed++;
        this.counters.lateSeconds += (nowUs - this.#due[idx]) / 1e6;
      }
      q.shift();
      this.#free[this.#freeCount++] = idx;
      this.counters.delivered++;
    }
  }

  /**
   * Drop every frame held, as Linux does when it resets a device's qdisc (the device went down):
   * nothing held is delivered later. Returns how many were dropped; the caller counts them (a
   * link that went down counts them as `link down`). The counters, the random state and the knobs
   * carry on; the next frame's due time no longer waits behind the dropped ones.
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/base/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * const stage = new ImpairStage({ ...NO_IMPAIRMENT, delayUs: 1000 }, Prng.fromSeed(1));
   * stage.offer(new Uint8Array(60), 0);
   * stage.purge(); // 1
   * stage.held; // 0
   * ```
   */
  purge(): number {
    let n = 0;
    for (const q of [this.#immediate, this.#delayed, this.#earlier]) {
      while (q.count > 0) {
        this.#free[this.#freeCount++] = q.shift();
        n++;
      }
    }
    this.#lastDue = -Infinity;
    this.counters.purged += n;
    return n;
  }

  /**
   * When the next frame is due (µs, same clock as `offer`), or Infinity when nothing is held.
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/base/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * new ImpairStage(NO_IMPAIRMENT, Prng.fromSeed(1)).nextDueUs(); // Infinity
   * ```
   */
  nextDueUs(): number {
    if (this.#immediate.count > 0) return this.#due[this.#immediate.first()];
    const q = this.#nextDelayed();
    return q === null ? Infinity : this.#due[q.first()];
  }
}
