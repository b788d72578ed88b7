/**
 * A pause that an abort ends early, for the main thread's polling loops (the CLI's wait for a
 * detached lab, a drill's timeline).
 *
 * @module
 */

/**
 * Resolve after `ms` (at once when `ms` ≤ 0), or as soon as `signal` aborts; the pause's abort
 * listener is removed either way (a loop that pauses hundreds of times on one signal leaves none
 * behind). Never before `ms`: the timer is given `ms` rounded up to whole ms, as Deno truncates a
 * fractional delay (`setTimeout(f, 19.95)` may fire after 19 ms: a drill step could start before
 * its due time).
 *
 * @example
 * ```ts
 * import { pauseUnlessAborted } from "./pause.ts";
 * await pauseUnlessAborted(1, new AbortController().signal);
 * ```
 */
export function pauseUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.ceil(ms));
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
