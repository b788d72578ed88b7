/**
 * Wake-ups, kicks and interrupts of a whole lab, for `vlab bench net`'s per-frame figures: a
 * round trip or a frame costs thread wake-ups (a sleeping worker woken by a doorbell), driver
 * kicks (guest → device) and interrupts (device → guest); event suppression and the loop's way
 * of sleeping decide how many. Read from shared memory (doorbell words, the queues' counters),
 * no message to any worker.
 *
 * @module
 */

import type { Lab } from "../lab.ts";
import { takeSnapshot } from "../snapshot.ts";
import { DoorbellWord } from "../wire/doorbell.ts";

/** Cumulative counts over a whole lab. */
export interface WakeCounts {
  /**
   * Waits that another thread's ring ended, over every thread: a thread's rings of itself
   * (`ringSelf`: code on its event loop re-planning the loop's wait) are left out.
   */
  wakeups: number;
  /** Driver notifications received, over every queue. */
  kicks: number;
  /** Used-buffer interrupts raised, over every queue. */
  interrupts: number;
  /**
   * Of `wakeups`, the waits a ring ended in a blocking `Atomics.wait` (the workers' published
   * statistics, up to ~100 ms stale; absent in older reports).
   */
  blocking?: number;
}

/** The lab's counts now (subtract two of them with {@linkcode perUnit}). */
export function wakeCounts(lab: Lab): WakeCounts {
  let wakeups = 0;
  for (const t of lab.plan.threads) {
    const all = lab.threadWord(t.index, DoorbellWord.WAKEUPS);
    wakeups += (all - lab.threadWord(t.index, DoorbellWord.SELF_RINGS)) >>> 0;
  }
  let kicks = 0;
  let interrupts = 0;
  for (const vm of takeSnapshot(lab).vms) {
    for (const d of vm.devices) {
      for (const q of d.queues) {
        kicks += q.kicks;
        interrupts += q.interrupts;
      }
    }
  }
  let blocking = 0;
  for (const w of lab.workerStats()) blocking += w.stats.loop_wakeups_blocking ?? 0;
  return { wakeups, kicks, interrupts, blocking };
}

/**
 * The counts between `before` and `after`, each divided by `units` (frames or round trips);
 * NaN each when `units` is 0.
 *
 * @example
 * ```ts
 * import { perUnit } from "./wake_counts.ts";
 * perUnit({ wakeups: 0, kicks: 0, interrupts: 0 }, { wakeups: 60, kicks: 20, interrupts: 30 }, 10);
 * // { wakeups: 6, kicks: 2, interrupts: 3 } (and `blocking` when both counts have it)
 * ```
 */
export function perUnit(before: WakeCounts, after: WakeCounts, units: number): WakeCounts {
  const per = (a: number, b: number) => units > 0 ? (b - a) / units : NaN;
  return {
    wakeups: per(before.wakeups, after.wakeups),
    kicks: per(before.kicks, after.kicks),
    interrupts: per(before.interrupts, after.interrupts),
    ...(before.blocking !== undefined && after.blocking !== undefined
      ? { blocking: per(before.blocking, after.blocking) }
      : {}),
  };
}
