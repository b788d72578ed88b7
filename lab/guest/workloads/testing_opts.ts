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

/**
 * Options on the real clock, for workload tests over real sockets: `sleep` and `waitAtMost` arm
 * real timers, which `clear` cancels (call it in `finally`, so no timer outlives the test).
 *
 * @example
 * ```ts
 * import { realTimeOptions } from "./testing_opts.ts";
 * const { opts, clear } = realTimeOptions();
 * try {
 *   await opts.sleep(1);
 * } finally {
 *   clear();
 * }
 * ```
 */
export function realTimeOptions(
  signal = new AbortController().signal,
): { opts: WorkloadOptions; clear: () => void } {
  const timers: ReturnType<typeof setTimeout>[] = [];
  const opts: WorkloadOptions = {
    signal,
    clock: { now: () => performance.now() },
    yield: () => Promise.resolve(),
    sleep: (ms) => new Promise<void>((r) => timers.push(setTimeout(r, ms))),
    waitAtMost: (ms, settled) =>
      Promise.race([
        settled.then(() => true),
        new Promise<boolean>((r) => timers.push(setTimeout(() => r(false), ms))),
      ]),
  };
  return { opts, clear: () => timers.forEach(clearTimeout) };
}
