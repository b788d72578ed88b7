/**
 * Ctrl-C and SIGTERM, one way for every command: both end what the command is doing the same way
 * (a workload stopped, a capture ended, a drill reported), as the exit-code table promises. A
 * command that listened for SIGINT alone died at SIGTERM with nothing said and nothing cleaned.
 * So does SIGHUP, the terminal a command runs in closing (a closed window, a dropped ssh): a
 * foreground `vlab up` it killed left its lab's folder stale and its event log without `lab-down`.
 * (Deno sets SIGHUP back to its default action when it starts, even under `nohup`, which ignores
 * it: without a listener SIGHUP always killed the process.)
 *
 * @module
 */

/** The signals that interrupt a command. */
export const INTERRUPT_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Call `fn` on Ctrl-C (SIGINT), SIGTERM or SIGHUP (or only `signals`); returns the call that stops
 * listening. While a listener is on, the signals no longer end the process: `fn` decides what
 * happens.
 *
 * @example
 * ```ts
 * import { onInterrupt } from "./interrupt.ts";
 * const abort = new AbortController();
 * const off = onInterrupt(() => abort.abort());
 * off();
 * ```
 */
export function onInterrupt(
  fn: () => void,
  signals: readonly Deno.Signal[] = INTERRUPT_SIGNALS,
): () => void {
  for (const s of signals) Deno.addSignalListener(s, fn);
  return () => {
    for (const s of signals) Deno.removeSignalListener(s, fn);
  };
}
