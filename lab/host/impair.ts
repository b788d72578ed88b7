/**
 * Link impairments, the way Linux `tc netem` applies them on the sending side of a link: loss,
 * duplication, corruption, delay with jitter, reordering and a rate limit, with a bounded queue
 * (`limit`). The producer of a link ring (a device worker's TX path or a switch port) offers each
 * frame to its link's stage, then drains the frames that are due into the ring, and sleeps no
 * longer than `nextDueUs()`.
 *
 * Decisions per offered frame, in this order (each draws from the link's seeded `Prng` only when
 * its knob is non-zero, so the same seed and offer times give the same output):
 * 1. duplicate (p%) and loss (p%): as netem, `count = 1 + duplicate - loss`; 0 drops the frame;
 *    2 queues a second copy that goes through steps 1–4 again with duplication off.
 * 2. corrupt (p%): flip one random bit at a random offset of the queued copy.
 * 3. reorder (p%, only with delay or jitter, as netem needs delay): the frame is due now and
 *    jumps ahead of every delayed frame.
 * 4. otherwise `due = max(now + delay ± jitter (clamped ≥ 0), lastDue)`, so that jitter never
 *    reorders (netem's behaviour with a rate), then, with a rate, `due += bits / rate`: the frame
 *    is due when the link would have finished serialising it.
 *
 * Frames are copied into a pool of `limit` preallocated buffers; no byte buffer is allocated per
 * frame once every pool buffer has grown to the link's largest frame. Runs on the producer's
 * thread; not shared.
 *
 * @module
 */

import type { Prng } from "../../devices/prng.ts";

/** netem knobs for one direction of a link. Percentages are 0..100. */
export interface Impairment {
  /** Added delay (µs). */
  delayUs: number;
  /** Uniform jitter around the delay, ± this (µs). */
  jitterUs: number;
  /** Percentage of frames dropped. */
  lossPct: number;
  /** Percentage of frames with one bit flipped. */
  corruptPct: number;
  /** Percentage of frames sent twice. */
  duplicatePct: number;
  /** Percentage of frames sent at once, ahead of delayed ones (needs delay or jitter). */
  reorderPct: number;
  /** Link rate in bits per second; 0 = unlimited. */
  rateBps: number;
  /** Frames the stage may hold; beyond it frames are dropped (netem default 1000). */
  limit: number;
}

/** The stage's counters. */
export interface ImpairCounters {
  /** Frames offered. */
  offered: number;
  /** Loss decisions. */
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
}

/** Impairment with every knob off (and netem's default limit). */
export const NO_IMPAIRMENT: Readonly<Impairment> = Object.freeze({
  delayUs: 0,
  jitterUs: 0,
  lossPct: 0,
  corruptPct: 0,
  duplicatePct: 0,
  reorderPct: 0,
  rateBps: 0,
  limit: 1000,
});

const INITIAL_BUFFER_BYTES = 1536;

/** A FIFO of pool indices. */
class IndexQueue {
  readonly #items: Int32Array;
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
  shift(): number {
    const v = this.#items[this.#head];
    this.#head = (this.#head + 1) % this.#items.length;
    this.count--;
    return v;
  }
}

/**
 * One direction's netem stage.
 *
 * @example
 * ```ts
 * import { Prng } from "../../devices/prng.ts";
 * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
 * const stage = new ImpairStage({ ...NO_IMPAIRMENT, delayUs: 1000 }, Prng.fromSeed(1).fork("a-b"));
 * stage.offer(new Uint8Array(60), 0);
 * stage.nextDueUs(); // 1000
 * stage.drain(1000, (frame) => true); // emits the frame
 * ```
 */
export class ImpairStage {
  /** True when every knob is 0: the caller may bypass the stage. */
  readonly passthrough: boolean;
  /** Counters (read-only for callers). */
  readonly counters: ImpairCounters = {
    offered: 0,
    lost: 0,
    corrupted: 0,
    duplicated: 0,
    reordered: 0,
    droppedLimit: 0,
    delivered: 0,
  };
  readonly #imp: Impairment;
  readonly #prng: Prng;
  readonly #bufs: Uint8Array[];
  readonly #lens: Int32Array;
  readonly #due: Float64Array;
  readonly #free: Int32Array;
  #freeCount: number;
  readonly #immediate: IndexQueue;
  readonly #delayed: IndexQueue;
  #lastDue = -Infinity;

  /**
   * Throws on invalid knobs (negative values, percentages above 100): the planner validates
   * topologies first, so that is a programmer error.
   */
  constructor(imp: Impairment, prng: Prng) {
    for (const [k, v] of Object.entries(imp)) {
      if (typeof v !== "number" || !(v >= 0) || !Number.isFinite(v)) {
        throw new RangeError(
          `Cannot build impairment: ${k} must be a finite number >= 0, got ${v}`,
        );
      }
    }
    for (const k of ["lossPct", "corruptPct", "duplicatePct", "reorderPct"] as const) {
      if (imp[k] > 100) {
        throw new RangeError(`Cannot build impairment: ${k} above 100, got ${imp[k]}`);
      }
    }
    this.#imp = { ...imp, limit: imp.limit >= 1 ? Math.floor(imp.limit) : NO_IMPAIRMENT.limit };
    this.#prng = prng;
    this.passthrough = imp.delayUs === 0 && imp.jitterUs === 0 && imp.lossPct === 0 &&
      imp.corruptPct === 0 && imp.duplicatePct === 0 && imp.reorderPct === 0 && imp.rateBps === 0;
    const n = this.#imp.limit;
    this.#bufs = new Array(n);
    for (let i = 0; i < n; i++) this.#bufs[i] = new Uint8Array(0); // grown on first use
    this.#lens = new Int32Array(n);
    this.#due = new Float64Array(n);
    this.#free = new Int32Array(n);
    for (let i = 0; i < n; i++) this.#free[i] = n - 1 - i;
    this.#freeCount = n;
    this.#immediate = new IndexQueue(n);
    this.#delayed = new IndexQueue(n);
  }

  /** Frames held. */
  get held(): number {
    return this.#imp.limit - this.#freeCount;
  }

  /**
   * Offer a frame sent at `nowUs`; the stage copies it (the caller keeps its buffer).
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * const stage = new ImpairStage({ ...NO_IMPAIRMENT, lossPct: 100 }, Prng.fromSeed(1));
   * stage.offer(new Uint8Array(60), 0);
   * stage.counters.lost; // 1
   * ```
   */
  offer(frame: Uint8Array, nowUs: number): void {
    this.counters.offered++;
    this.#enqueue(frame, nowUs, this.#imp.duplicatePct > 0);
  }

  #enqueue(frame: Uint8Array, nowUs: number, mayDuplicate: boolean): void {
    const imp = this.#imp;
    const prng = this.#prng;
    const dup = mayDuplicate && prng.chance(imp.duplicatePct / 100);
    const loss = prng.chance(imp.lossPct / 100);
    if (loss) this.counters.lost++;
    const count = 1 + (dup ? 1 : 0) - (loss ? 1 : 0);
    if (count === 0) return;
    if (this.#freeCount === 0) {
      this.counters.droppedLimit++;
    } else {
      const idx = this.#free[--this.#freeCount];
      let buf = this.#bufs[idx];
      if (buf.length < frame.length) {
        buf = new Uint8Array(Math.max(frame.length, INITIAL_BUFFER_BYTES));
        this.#bufs[idx] = buf;
      }
      buf.set(frame);
      this.#lens[idx] = frame.length;
      if (frame.length > 0 && prng.chance(imp.corruptPct / 100)) {
        buf[prng.below(frame.length)] ^= 1 << prng.below(8);
        this.counters.corrupted++;
      }
      const delaying = imp.delayUs > 0 || imp.jitterUs > 0;
      if (delaying && prng.chance(imp.reorderPct / 100)) {
        this.counters.reordered++;
        this.#due[idx] = nowUs;
        this.#immediate.push(idx);
      } else {
        let due = nowUs + imp.delayUs;
        if (imp.jitterUs > 0) due = Math.max(nowUs, due + (prng.float() * 2 - 1) * imp.jitterUs);
        due = Math.max(due, this.#lastDue);
        if (imp.rateBps > 0) due += (frame.length * 8 * 1e6) / imp.rateBps;
        this.#lastDue = due;
        this.#due[idx] = due;
        this.#delayed.push(idx);
      }
    }
    if (count === 2) {
      this.counters.duplicated++;
      this.#enqueue(frame, nowUs, false);
    }
  }

  /**
   * Emit every frame due at `nowUs`, in order, while `out` accepts (returns true). A refused
   * frame stays queued and is offered again on the next drain. The view passed to `out` is
   * valid only during the call.
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * const stage = new ImpairStage(NO_IMPAIRMENT, Prng.fromSeed(1));
   * stage.offer(new Uint8Array([1]), 5);
   * const got: number[] = [];
   * stage.drain(5, (f) => got.push(f[0]) > 0); // got = [1]
   * ```
   */
  drain(nowUs: number, out: (frame: Uint8Array) => boolean): void {
    for (let guard = this.#imp.limit; guard > 0; guard--) {
      let q: IndexQueue;
      if (this.#immediate.count > 0) q = this.#immediate;
      else if (this.#delayed.count > 0 && this.#due[this.#delayed.first()] <= nowUs) {
        q = this.#delayed;
      } else return;
      const idx = q.first();
      if (!out(this.#bufs[idx].subarray(0, this.#lens[idx]))) return;
      q.shift();
      this.#free[this.#freeCount++] = idx;
      this.counters.delivered++;
    }
  }

  /**
   * When the next frame is due (µs, same clock as `offer`), or Infinity when nothing is held.
   *
   * @example
   * ```ts
   * import { Prng } from "../../devices/prng.ts";
   * import { ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
   * new ImpairStage(NO_IMPAIRMENT, Prng.fromSeed(1)).nextDueUs(); // Infinity
   * ```
   */
  nextDueUs(): number {
    if (this.#immediate.count > 0) return this.#due[this.#immediate.first()];
    if (this.#delayed.count > 0) return this.#due[this.#delayed.first()];
    return Infinity;
  }
}
