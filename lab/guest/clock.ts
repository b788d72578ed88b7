/**
 * The guest's clock. `performance.now()` (clock_gettime) was the top symbol of a flood's
 * profile, and a flood reads the clock several times per frame, so the value is cached and
 * re-read every 32 calls, at the start of every loop pass, and whenever a workload resumes from
 * a sleep or a yield. Staleness is bounded by 32 reads or one pass. Runs on the guest worker.
 *
 * @module
 */

/**
 * A cached monotonic clock (ms).
 *
 * @example
 * ```ts
 * import { GuestClock } from "./clock.ts";
 * const c = new GuestClock();
 * c.refresh();
 * c.now() >= 0; // true
 * ```
 */
export class GuestClock {
  #t = performance.now();
  #n = 0;
  /** Milliseconds, re-read from the system every 32 calls. */
  now(): number {
    if ((++this.#n & 31) === 0) this.#t = performance.now();
    return this.#t;
  }
  /** Re-read the system clock now. */
  refresh(): void {
    this.#t = performance.now();
    this.#n = 0;
  }
}
