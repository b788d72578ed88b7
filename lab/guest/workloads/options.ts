/**
 * What the guest worker hands every workload: the abort signal, the clock, and its two ways to
 * wait (`yield` to let the worker's event loop run, `sleep` for timed waits). Workloads have no
 * timers of their own.
 *
 * @module
 */

import type { Clock } from "../net/stack.ts";

/**
 * Options passed to every workload by the guest worker.
 *
 * @example
 * ```ts
 * import type { WorkloadOptions } from "./options.ts";
 * let t = 0;
 * const opts: WorkloadOptions = {
 *   signal: new AbortController().signal,
 *   clock: { now: () => t },
 *   yield: () => Promise.resolve(),
 *   sleep: (ms) => { t += ms; return Promise.resolve(); },
 * };
 * ```
 */
export interface WorkloadOptions {
  signal: AbortSignal;
  clock: Clock;
  /** Resolves after the worker's event loop ran (frames received, `tick()` run). */
  yield: () => Promise<void>;
  /** Resolves after `ms` milliseconds of the worker's clock. */
  sleep: (ms: number) => Promise<void>;
}

/**
 * A workload that could not run (no route, port in use, frame larger than the MTU…).
 *
 * @example
 * ```ts
 * import type { WorkloadError } from "./options.ts";
 * const e: WorkloadError = { kind: "error", message: "Cannot bind UDP port 7: in use", hint: "Pick another port with -p" };
 * ```
 */
export interface WorkloadError {
  kind: "error";
  message: string;
  hint: string;
}

/**
 * Wait until `deadline` (clock ms; null = forever) or the abort, in steps of at most `stepMs`
 * so an abort is noticed promptly. Loops are bounded by the deadline or the signal.
 *
 * @example
 * ```ts
 * import { waitUntil } from "./options.ts";
 * // await waitUntil(opts, opts.clock.now() + 1000);
 * ```
 */
export async function waitUntil(
  opts: WorkloadOptions,
  deadline: number | null,
  stepMs = 100,
): Promise<void> {
  while (!opts.signal.aborted) {
    const left = deadline === null ? stepMs : deadline - opts.clock.now();
    if (left <= 0) return;
    await opts.sleep(Math.min(left, stepMs));
  }
}
