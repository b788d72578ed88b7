/**
 * V8's helper threads: the platform's worker pool, shared by every isolate of the process, which
 * runs the garbage collector's parallel and concurrent work and background compilation. At normal
 * priority each took a CPU from a woken lab worker for up to a few milliseconds (`perf sched`),
 * the main source of an idle ping's tail; but with the CPUs saturated an idle-policy helper gets
 * almost no CPU, and a lab thread whose garbage collection waits for the helper's share stalls
 * (the `star` under two floods moved a tenth of its frames). So the lab's CPU placement switches
 * them between `SCHED_IDLE` and the normal policy (`CpuPlacement`'s `onSaturated`, `lab.ts`;
 * docs/performance.md, "V8's helper threads yield to an idle lab").
 *
 * @module
 */

import { hasCapability, ownThreads } from "./proc.ts";
import { type NoAffinity, SCHED_IDLE, SCHED_OTHER, schedulerControl } from "./wire/affinity.ts";

/** Their name (`comm`, cut to 15 bytes). */
export const V8_HELPER_COMM = "V8 DefaultWorke";

/** `CAP_SYS_NICE`'s number (`linux/capability.h`). */
const CAP_SYS_NICE = 23;

/** This process's V8 helper threads, whose scheduling policy the lab switches. */
export interface V8Helpers {
  /** Their thread IDs (V8's pool is made at start and kept). */
  readonly tids: readonly number[];
  /** Give them the idle policy (true) or the normal one back (false); returns how many changed. */
  idle(on: boolean): number;
}

/**
 * This process's V8 helper threads ({@linkcode V8_HELPER_COMM}), or why they are left alone: not
 * Linux, no `--allow-ffi`, the threads could not be listed (`ownThreads`), or no right to undo a
 * lowered priority (`CAP_SYS_NICE`, or a nice ceiling `RLIMIT_NICE` of 20): a helper left idle
 * while the CPUs are saturated would stall the lab.
 *
 * @example
 * ```ts ignore
 * import { v8Helpers } from "./v8_helpers.ts";
 * const h = v8Helpers();
 * if ("idle" in h) h.idle(true); // V8's helpers now run on idle CPU time only
 * ```
 */
export function v8Helpers(): V8Helpers | NoAffinity {
  const sched = schedulerControl();
  if ("reason" in sched) return sched;
  if (sched.niceCeiling() < 20 && !hasCapability(CAP_SYS_NICE)) {
    return {
      reason: "V8's helper threads keep their priority: lowering it could not be undone " +
        "(needs CAP_SYS_NICE or RLIMIT_NICE 20)",
    };
  }
  const threads = ownThreads();
  if (!Array.isArray(threads)) return threads;
  const tids = threads.filter((t) => t.comm === V8_HELPER_COMM).map((t) => t.tid);
  return {
    tids,
    idle: (on) => tids.filter((tid) => sched.setPolicy(tid, on ? SCHED_IDLE : SCHED_OTHER)).length,
  };
}
