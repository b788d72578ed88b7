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
  let first = -1;
  let last = -1;
  let steps = 0;
  let longestGap = 0;
  for (let i = from + 1; i < n; i++) {
    if (samples[i].v > samples[i - 1].v) {
      if (first < 0) first = i;
      else longestGap = Math.max(longestGap, samples[i].t - samples[last].t);
      last = i;
      steps++;
    }
  }
  const end = samples[n - 1];
  if (steps === 0) return 0;
  if (steps === 1) {
    const start = samples[from];
    const dt = (end.t - start.t) / 1000;
    return dt > 0 ? (end.v - start.v) / dt : 0;
  }
  const a = samples[first];
  const b = samples[last];
  const until = end.t - b.t > longestGap ? end.t : b.t;
  const dt = (until - a.t) / 1000;
  return dt > 0 ? (b.v - a.v) / dt : 0;
}

/** Options of `RateWindow`. */
export interface RateWindowOptions {
  /** How far back each rate looks, ms (default 3000). */
  windowMs?: number;
}

/**
 * The live dashboard's rates: fed every new snapshot, it keeps each counter's readings over the
 * last `windowMs` (and the newest one older, where the window starts) and gives the `Rates` of
 * the newest snapshot by `windowRate`. Timestamps come from the snapshots, so recorded snapshots
 * give the same rates again.
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
  readonly #series = new Map<string, { t: number[]; v: number[] }>();
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
    this.#times.push(now);
    const horizon = now - this.#windowMs;
    const trim = (t: number[], v?: number[]) => {
      let drop = 0;
      while (t.length - drop > 2 && t[drop + 1] <= horizon) drop++;
      if (drop > 0) {
        t.splice(0, drop);
        v?.splice(0, drop);
      }
    };
    trim(this.#times);
    const counters = snapshotCounters(snapshot);
    for (const [key, value] of counters) {
      let s = this.#series.get(key);
      if (s === undefined) {
        s = { t: [], v: [] };
        this.#series.set(key, s);
      }
      s.t.push(now);
      s.v.push(value);
      trim(s.t, s.v);
    }
    // What the lab no longer has (a VM, a link, a switch gone) is forgotten.
    for (const key of this.#series.keys()) if (!counters.has(key)) this.#series.delete(key);
    if (this.#times.length < 2) return null;
    return ratesFrom(snapshot, (key) => {
      const s = this.#series.get(key);
      if (s === undefined) return undefined;
      return windowRate(s.t.map((t, i) => ({ t, v: s.v[i] })));
    }, (now - this.#times[0]) / 1000);
  }
}
