/**
 * The child processes the CLI starts (a detached `vlab up`, `vlab up`'s dashboard, the benchmark's
 * dashboard): quoting words for the shell line one runs, and ending them, SIGTERM first, so that
 * each ends the way it means to (a lab stops and removes its folder, a dashboard gives the
 * terminal back), and SIGKILL only when one does not.
 *
 * @module
 */

/**
 * `s` as one word of a POSIX shell line: in single quotes, each `'` in it written `'\''`.
 *
 * @example
 * ```ts
 * import { shellQuote } from "./child.ts";
 * shellQuote("it's"); // "'it'\\''s'"
 * ```
 */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * Send `child` (and each of `also`, processes it runs under another pid) SIGTERM, then SIGKILL
 * to whichever is left `graceMs` later; resolves once `child` has ended. A process already gone
 * is skipped. The child is ours and not yet reaped, so its pid cannot have been reused.
 *
 * @example
 * ```ts ignore
 * import { endChild } from "./child.ts";
 * const child = new Deno.Command("sleep", { args: ["60"] }).spawn();
 * await endChild(child, 3_000);
 * ```
 */
export async function endChild(
  child: Deno.ChildProcess,
  graceMs: number,
  also: readonly number[] = [],
): Promise<void> {
  const send = (signal: Deno.Signal) => {
    for (const pid of also) {
      try {
        Deno.kill(pid, signal);
      } catch {
        // Gone already.
      }
    }
    try {
      child.kill(signal);
    } catch {
      // Gone already.
    }
  };
  send("SIGTERM");
  const killer = setTimeout(() => send("SIGKILL"), graceMs);
  try {
    await child.status;
  } finally {
    clearTimeout(killer);
  }
}
