// Placeholder replaced by the ring benchmark runner (being written now).
import type { ProgressFn, RingsBenchOptions, RingsBenchReport } from "./types.ts";

/** Default options of `vlab bench rings`. */
export const DEFAULT_RINGS_OPTIONS: RingsBenchOptions = {
  layouts: ["split", "packed"],
  batches: [1, 2, 4, 8, 16, 32, 64],
  modes: ["poll"],
  queueSize: 256,
  runs: 5,
  requests: 200_000,
  outstanding: false,
  cacheModel: false,
  sameCore: false,
};

/** Run the ring benchmark. */
export function runRingsBench(
  _options: RingsBenchOptions,
  _progress?: ProgressFn,
): Promise<RingsBenchReport> {
  return Promise.reject(new Error("not implemented yet"));
}
