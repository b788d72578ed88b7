/**
 * Workload options over a `BackToBack` simulation, shared by the workload tests.
 *
 * @module
 */

import type { BackToBack } from "../net/testing.ts";
import type { WorkloadOptions } from "./options.ts";

/**
 * Options whose clock, sleep, waitAtMost and yield are the simulation's.
 *
 * @example
 * ```ts
 * import { BackToBack } from "../net/testing.ts";
 * import { simOptions } from "./testing_opts.ts";
 * const opts = simOptions(new BackToBack());
 * ```
 */
export function simOptions(
  net: BackToBack,
  signal = new AbortController().signal,
): WorkloadOptions {
  return {
    signal,
    clock: net.clock,
    yield: net.yield,
    sleep: net.sleep,
    // The simulation's timers cost nothing when they fire late: no need to clear the loser.
    waitAtMost: (ms, settled) =>
      Promise.race([settled.then(() => true, () => true), net.sleep(ms).then(() => false)]),
  };
}
