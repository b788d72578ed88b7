/**
 * What a listened-to workload had done, as the main thread heard it: its lines (`exec-line`) and
 * its counts (`exec-progress`). `Lab.exec` keeps one per workload whose caller listens
 * (`onLine`: `vlab exec` in text mode, a streamed `POST /exec`, a script) and answers from it when
 * the guest cannot answer any more: a `vm-crash` terminates the guest mid-run, with no goodbye.
 * A `vlab exec a -- ping b -c 100` cut by it then prints iputils' statistics of the requests
 * sent and the replies heard before the error, as iputils prints them when interrupted, where it
 * printed the replies and the error alone.
 *
 * Runs on the main thread.
 *
 * @module
 */

import type { PingProgress } from "./guest/workloads/options.ts";
import { type PingResult, pingResult } from "./guest/workloads/ping.ts";
import { HeadTail } from "./guest/workloads/kept.ts";

/**
 * The lines and counts heard of one workload; {@linkcode ExecTally.partial} is its result so far.
 *
 * @example
 * ```ts
 * import { ExecTally } from "./exec_tally.ts";
 * const tally = new ExecTally();
 * tally.line("PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.");
 * tally.progress({ kind: "ping", dst: "10.0.0.2", transmitted: 1, late: 0, duplicates: 0, elapsedMs: 0 });
 * tally.partial()?.transmitted; // 1
 * ```
 */
export class ExecTally {
  // The first and last lines and replies, as the ping keeps them (kept.ts); every RTT.
  readonly #lines = new HeadTail<string>();
  #ping: PingProgress | null = null;
  /** When the last counts came, by the main thread's clock. */
  #heardAt = 0;
  readonly #replies = new HeadTail<{ seq: number; rttMs: number }>();
  readonly #rtts: number[] = [];

  /** A line of the workload's output. */
  line(line: string): void {
    this.#lines.push(line);
  }

  /** The workload's counts so far (an `exec-progress`); what this does not know is ignored. */
  progress(progress: unknown): void {
    const p = progress as Partial<PingProgress> | null;
    if (p === null || typeof p !== "object" || p.kind !== "ping") return;
    this.#ping = p as PingProgress;
    this.#heardAt = performance.now();
    if (p.reply !== undefined) (this.#replies.push(p.reply), this.#rtts.push(p.reply.rttMs));
  }

  /**
   * The workload's result as heard so far (its `text`: the lines heard, then its summary), or
   * null when it said no counts. A ping's time runs to now, as iputils' does at Ctrl-C.
   */
  partial(): PingResult | null {
    const p = this.#ping;
    if (p === null) return null;
    return pingResult({
      dst: p.dst,
      transmitted: p.transmitted,
      replies: this.#replies,
      rtts: this.#rtts,
      late: p.late,
      duplicates: p.duplicates,
      elapsedMs: p.elapsedMs + (performance.now() - this.#heardAt),
    }, this.#lines);
  }
}
