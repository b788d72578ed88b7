/**
 * Ctrl-C and SIGTERM, one way for every command: both end what the command is doing the same way
 * (a workload stopped, a capture ended, a drill reported), as the exit-code table promises. A
 * command that listened for SIGINT alone died at SIGTERM with nothing said and nothing cleaned.
 * So does SIGHUP, the terminal a command runs in closing (a closed window, a dropped ssh): a
 * foreground `vlab up` it killed left its lab's folder stale and its event log without `lab-down`.
 *
 * @module
 */

/** The signals that interrupt a command. */
export const INTERRUPT_SIGNALS: readonly Deno.Signal[] = ["SIGINT", "SIGTERM"];

/**
 * Whether SIGHUP interrupts this command too: only while it runs in a terminal (its stdin, stdout
 * or stderr is one), whose closing it means. `nohup` leaves none of them on the terminal, and
 * SIGHUP ignored: a listener would take that back, so none is added there.
 */
function hangupInterrupts(): boolean {
  try {
    return Deno.stdin.isTerminal() || Deno.stdout.isTerminal() || Deno.stderr.isTerminal();
  } catch {
    return false;
  }
}

/**
 * Call `fn` on Ctrl-C (SIGINT) or SIGTERM, and on SIGHUP in a terminal; returns the call that stops
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
export function onInterrupt(fn: () => void): () => void {
  const signals: Deno.Signal[] = [...INTERRUPT_SIGNALS];
  if (hangupInterrupts()) signals.push("SIGHUP");
  for (const s of signals) Deno.addSignalListener(s, fn);
  return () => {
    for (const s of signals) Deno.removeSignalListener(s, fn);
  };
}
