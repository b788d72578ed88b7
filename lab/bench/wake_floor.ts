/**
 * The floor under an idle ping in `vlab bench net`: what its wake-ups alone cost, from doorbell
 * round trips measured in the same run between two idle workers (as the lab's threads sleep) and
 * between two C threads in futex waits (what a wake-up costs the machine itself).
 *
 * @module
 */

import { err, type Result } from "../../devices/base/result.ts";
import { CWakeup } from "./c_wakeup.ts";
import type { WakeCounts } from "./wake_counts.ts";
import { runWakeupBench, type WakeupMode } from "./wakeup.ts";

/** The figures of a ping row that its floors are read from (`LatencyRow` has them). */
export interface FloorFigures {
  /** Wake-ups (and of them `blocking`), kicks and interrupts per ping. */
  perPing: WakeCounts;
  /** A doorbell round trip between two workers in `waitAsync`, µs; null if not measured. */
  wakeRoundTripUs: number | null;
  /** The same in blocking slices, µs. */
  wakeRoundTripBlockUs?: number | null;
  /** The same between two C threads in futex waits, µs. */
  cWakeRoundTripUs?: number | null;
}

/** The doorbell round trips a report's ping rows are read against, µs. */
export interface WakeRoundTrips {
  /** Two workers in `waitAsync`. */
  asyncUs: number;
  /** Two workers in blocking slices. */
  blockUs: number;
  /** Two C threads in futex waits, or null (`cNotMeasured` says why). */
  cUs: number | null;
  /** Why `cUs` is null: no compiler, or the C pair failed (the workers' figures stand). */
  cNotMeasured?: string;
}

/**
 * The wake-up floor's round trips: the workers' two ways to sleep, then the C pair's if it builds
 * (`build`, replaced in tests). A C pair that fails costs its figure, not the benchmark.
 *
 * @example
 * ```ts ignore
 * import { wakeRoundTrips } from "./wake_floor.ts";
 * const { blockUs, cUs } = await wakeRoundTrips();
 * ```
 */
export async function wakeRoundTrips(
  build: () => Promise<Result<CWakeup, string>> = () => CWakeup.build(),
): Promise<WakeRoundTrips> {
  const options = { modes: ["async", "block"] as WakeupMode[], rounds: 1000, sliceMs: 2 };
  const [a, b] = await runWakeupBench(options);
  const workers = { asyncUs: a.medianUs, blockUs: b.medianUs };
  const built = await build().catch((error) =>
    err(`it failed: ${error instanceof Error ? error.message : String(error)}`)
  );
  if (!built.ok) return { ...workers, cUs: null, cNotMeasured: built.error };
  try {
    const [c] = await runWakeupBench({ ...options, modes: [] }, built.value);
    return { ...workers, cUs: c.medianUs };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return { ...workers, cUs: null, cNotMeasured: `it failed: ${why}` };
  } finally {
    await built.value.dispose();
  }
}

/**
 * What a ping's wake-ups would cost if every hop were a C thread in a futex wait: each at half
 * the C round trip measured in the same run, µs; null without one. Nothing a lab on these
 * threads does can answer a ping sooner.
 *
 * @example
 * ```ts
 * import { cWakeFloorUs } from "./wake_floor.ts";
 * cWakeFloorUs({ perPing: { wakeups: 6, kicks: 2, interrupts: 2 }, cWakeRoundTripUs: 44 }); // 132
 * ```
 */
export function cWakeFloorUs(r: Pick<FloorFigures, "perPing" | "cWakeRoundTripUs">): number | null {
  const c = r.cWakeRoundTripUs;
  return c === undefined || c === null ? null : r.perPing.wakeups * c / 2;
}

/**
 * What a ping's wake-ups alone cost, µs: each wake-up at half a doorbell round trip of its own
 * kind measured in the same run, blocking ones (`perPing.blocking`) at the blocking round trip and
 * the rest at the `waitAsync` one (null without a round trip; every wake-up at the `waitAsync`
 * one when the row has no blocking figures).
 *
 * @example
 * ```ts
 * import { wakeFloorUs } from "./wake_floor.ts";
 * wakeFloorUs({ perPing: { wakeups: 6, kicks: 2, interrupts: 2 }, wakeRoundTripUs: 80 }); // 240
 * wakeFloorUs({
 *   perPing: { wakeups: 6, kicks: 2, interrupts: 2, blocking: 4 },
 *   wakeRoundTripUs: 80,
 *   wakeRoundTripBlockUs: 30,
 * }); // 4 × 15 + 2 × 40 = 140
 * ```
 */
export function wakeFloorUs(
  r: Pick<FloorFigures, "perPing" | "wakeRoundTripUs" | "wakeRoundTripBlockUs">,
): number | null {
  if (r.wakeRoundTripUs === null) return null;
  const blocking = r.perPing.blocking;
  const block = r.wakeRoundTripBlockUs;
  if (blocking === undefined || block === undefined || block === null) {
    return r.perPing.wakeups * r.wakeRoundTripUs / 2;
  }
  const b = Math.min(Math.max(blocking, 0), r.perPing.wakeups);
  return b * block / 2 + (r.perPing.wakeups - b) * r.wakeRoundTripUs / 2;
}
