/**
 * The dashboard's rates, steady for a steady flow: each counter's rate over the last 3 s of
 * snapshots, measured between the moments the counter moved.
 *
 * The counters a snapshot reads move in steps, not smoothly: a worker publishes its statistics
 * (a link's drops) once per 100 ms loop period, a device counts a batch of frames at a time, and a
 * delay stage under a flood releases what it held in bursts (with `delay=500ms` and netem's
 * 1000-frame limit, 1000 frames every half second). A rate taken over one 100 ms redraw period
 * counts zero, one or two such steps (10k/s, then 0, for a link carrying 2k/s). Over a longer
 * window the count of steps still varies by one at its ends, so `windowRate` measures from the
 * first step in the window to the last (a whole number of steps over the time they took), and
 * lets the quiet time since the last step count only once it is longer than the longest gap between
 * two steps in the window (the flow slowed or stopped: the rate falls, to 0 once no step is left
 * in the window). A burst may take two readings' steps, so the gaps are not all alike.
 *
 * Used by the dashboard's driver (`./run.ts`) on the main thread; panels read the `Rates`.
 *
 * @module
 */

import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { type Rates, ratesFrom, snapshotCounters } from "./rates.ts";

/** One reading of a cumulative counter. */
export interface CounterSample {
  /** When it was read (`takenAt` of its snapshot), ms. */
  readonly t: number;
  /** Its value. */
  readonly v: number;
}

/**
 * The per-second rate of a cumulative counter from its readings in a window, oldest first:
 * undefined with fewer than two; after a reading lower than the one before (the VM restarted and
 * its counters began again), only the readings from there on count. With one step in the
 * window, its mean over the window; with more, the steps after the first over the time from the
 * first to the last, that time stretched to the last reading once it has been quiet for longer
 * than the longest gap between two of the steps.
 *
 * @example
 * ```ts
 * import { windowRate } from "./rate_window.ts";
 * // 1000 frames released every 500 ms, read every 100 ms: 2000/s, not 10000/s or 0.
 * const bursts = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => ({
 *   t: i * 100,
 *   v: 1000 * Math.floor((i + 3) / 5),
 * }));
 * windowRate(bursts); // 2000
 * windowRate([{ t: 0, v: 10 }, { t: 1000, v: 10 }]); // 0
 * ```
 */
export function windowRate(samples: readonly CounterSample[]): number | undefined {
  const n = samples.length;
  if (n < 2) return undefined;
  let from = 0;
  for (let i = 1; i < n; i++) if (samples[i].v < samples[i - 1].v) from = i;
  const stepT: number[] = [];
  const stepV: number[] = [];
  for (let i = from + 1; i < n; i++) {
    if (samples[i].v > samples[i - 1].v) {
      stepT.push(samples[i].t);
      stepV.push(samples[i].v);
    }
  }
  const base = samples[from];
  const end = samples[n - 1];
  return stepRate(base, stepT, stepV, end);
}

/**
 * `windowRate` from the window's first reading (`base`), the readings where the counter rose
 * (`stepT`, `stepV`, oldest first) and the last reading (`end`).
 */
function stepRate(
  base: CounterSample,
  stepT: readonly number[],
  stepV: readonly number[],
  end: CounterSample,
): number {
  const steps = stepT.length;
  if (steps === 0) return 0;
  if (steps === 1) {
    const dt = (end.t - base.t) / 1000;
    return dt > 0 ? (end.v - base.v) / dt : 0;
  }
  let longestGap = 0;
  for (let i = 1; i < steps; i++) longestGap = Math.max(longestGap, stepT[i] - stepT[i - 1]);
  const firstT = stepT[0];
  const lastT = stepT[steps - 1];
  const until = end.t - lastT > longestGap ? end.t : lastT;
  const dt = (until - firstT) / 1000;
  return dt > 0 ? (stepV[steps - 1] - stepV[0]) / dt : 0;
}

/**
 * One counter's readings in the window, kept as `stepRate` needs them: the window's first
 * reading, the readings where it rose since, and the last (an idle counter costs nothing more).
 */
class Track {
  baseT: number;
  baseV: number;
  lastT: number;
  lastV: number;
  stepT: number[] = [];
  stepV: number[] = [];

  constructor(t: number, v: number) {
    this.baseT = this.lastT = t;
    this.baseV = this.lastV = v;
  }

  /** Add the reading `v` at `t`; the window now starts at the reading taken at `windowStart`. */
  push(t: number, v: number, windowStart: number): void {
    if (v < this.lastV) {
      // The counter began again (a restarted VM): the window starts here.
      this.baseT = t;
      this.baseV = v;
      this.stepT.length = 0;
      this.stepV.length = 0;
    } else if (v > this.lastV) {
      this.stepT.push(t);
      this.stepV.push(v);
    }
    this.lastT = t;
    this.lastV = v;
    let k = 0;
    while (k < this.stepT.length && this.stepT[k] <= windowStart) k++;
    if (k > 0) {
      this.baseV = this.stepV[k - 1];
      this.stepT.splice(0, k);
      this.stepV.splice(0, k);
    }
    // Unchanged since, the counter read baseV at the window's first reading too.
    if (this.baseT < windowStart) this.baseT = windowStart;
  }

  /** The rate at the last reading; undefined before a second reading. */
  rate(): number | undefined {
    if (this.lastT === this.baseT && this.stepT.length === 0) return undefined;
    return stepRate(
      { t: this.baseT, v: this.baseV },
      this.stepT,
      this.stepV,
      { t: this.lastT, v: this.lastV },
    );
  }
}

/** Options of `RateWindow`. */
export interface RateWindowOptions {
  /** How far back each rate looks, ms (default 3000). */
  windowMs?: number;
}

/**
 * The live dashboard's rates: fed every new snapshot, it keeps each counter's readings over the
 * last `windowMs` (from the newest reading at least that old) and gives the `Rates` of the newest
 * snapshot by `windowRate`. Timestamps come from the snapshots, so recorded snapshots give the
 * same rates again.
 *
 * @example
 * ```ts ignore
 * import { RateWindow } from "./rate_window.ts";
 * const w = new RateWindow();
 * w.add(snap0); // null: one snapshot gives no rate
 * const rates = w.add(snap1); // Rates over snap0 → snap1
 * ```
 */
export class RateWindow {
  readonly #windowMs: number;
  /** By `counterObject`: when it was first read, and its counters by field. */
  readonly #tracks = new Map<string, { since: number; fields: Map<string, Track> }>();
  /** When each snapshot in the window was taken, oldest first. */
  #times: number[] = [];

  /** A window of `windowMs` (default 3000). */
  constructor(options: RateWindowOptions = {}) {
    this.#windowMs = Math.max(0, options.windowMs ?? 3000);
  }

  /**
   * Record `snapshot`'s counters and return the rates at it, or null when there is no earlier
   * snapshot to measure from. A snapshot not newer than the last one is ignored (null).
   */
  add(snapshot: LabSnapshot): Rates | null {
    const now = snapshot.takenAt;
    const lastT = this.#times.at(-1);
    if (lastT !== undefined && !(now > lastT)) return null;
    const times = this.#times;
    times.push(now);
    let drop = 0;
    while (times.length - drop > 2 && times[drop + 1] <= now - this.#windowMs) drop++;
    if (drop > 0) times.splice(0, drop);
    const windowStart = times[0];
    const counters = snapshotCounters(snapshot);
    for (const [object, fields] of counters) {
      let tracks = this.#tracks.get(object);
      if (tracks === undefined) {
        tracks = { since: now, fields: new Map() };
        this.#tracks.set(object, tracks);
      }
      for (const [field, value] of fields) {
        const track = tracks.fields.get(field);
        if (track === undefined) tracks.fields.set(field, new Track(now, value));
        else track.push(now, value, windowStart);
      }
    }
    // What the lab no longer has (a VM, a link, a switch gone) is forgotten.
    for (const object of this.#tracks.keys()) {
      if (!counters.has(object)) this.#tracks.delete(object);
    }
    if (times.length < 2) return null;
    return ratesFrom(snapshot, {
      has: (object) => (this.#tracks.get(object)?.since ?? now) < now,
      rate: (object, field) => this.#tracks.get(object)?.fields.get(field)?.rate() ?? 0,
    }, (now - windowStart) / 1000);
  }
}
