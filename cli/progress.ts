/**
 * The progress line of long commands, always on stderr (stdout is kept for results, so that
 * `--json` output stays clean).
 *
 * On a terminal each update rewrites one line in place (`\r`, then clear to the end of the
 * line); otherwise (a pipe, a CI log) each update is one plain line.
 *
 * @module
 */

import type { ProgressFn } from "../lab/bench/types.ts";
import { OutputError } from "./errors.ts";

/** Where progress goes: stderr in the CLI, a fake in tests. */
export interface ProgressSink {
  /** Write text as it is. */
  write(text: string): void;
  /** Whether the sink is a terminal (updates rewrite one line). */
  isTerminal: boolean;
  /** Terminal width in columns, to keep an updated line from wrapping; default 80 (also for 0). */
  columns?: number;
}

/** A progress reporter: `progress` for each update, `done` once at the end. */
export interface ProgressLine {
  /** Show a new progress line. */
  progress: ProgressFn;
  /** End the progress display (clears the in-place line on a terminal). */
  done(): void;
}

const CLEAR_TO_END_OF_LINE = "\x1b[K";

/**
 * Make a progress reporter writing to `sink`.
 *
 * @example
 * ```ts
 * import { createProgressLine } from "./progress.ts";
 *
 * const lines: string[] = [];
 * const line = createProgressLine({ write: (t) => lines.push(t), isTerminal: false });
 * line.progress("split poll batch 1: run 1/5");
 * line.done();
 * // lines: ["split poll batch 1: run 1/5\n"]
 * ```
 */
export function createProgressLine(sink: ProgressSink): ProgressLine {
  let shown = false;
  return {
    progress(line: string): void {
      const text = line.replace(/[\r\n]+/g, " ");
      if (sink.isTerminal) {
        // A terminal of no size (a pty nobody sized: `script` run from a pipe, some CI runners)
        // reports 0 columns: its width is unknown, not 0, so the line gets the default.
        const columns = sink.columns !== undefined && sink.columns > 0 ? sink.columns : 80;
        const width = Math.max(10, columns - 1);
        const fitted = text.length > width ? `${text.slice(0, width - 1)}…` : text;
        sink.write(`\r${fitted}${CLEAR_TO_END_OF_LINE}`);
        shown = true;
      } else {
        sink.write(`${text}\n`);
      }
    },
    done(): void {
      if (sink.isTerminal && shown) sink.write(`\r${CLEAR_TO_END_OF_LINE}`);
      shown = false;
    },
  };
}

/**
 * The progress reporter of the CLI: stderr, in place when stderr is a terminal.
 *
 * @example
 * ```ts
 * import { stderrProgressLine } from "./progress.ts";
 *
 * const line = stderrProgressLine();
 * line.progress("working");
 * line.done();
 * ```
 */
export function stderrProgressLine(): ProgressLine {
  const encoder = new TextEncoder();
  const isTerminal = Deno.stderr.isTerminal();
  let columns = 80;
  if (isTerminal) {
    try {
      columns = Deno.consoleSize().columns;
    } catch {
      // Not a console after all: keep the default width.
    }
  }
  return createProgressLine({
    write: (text) => writeAll(Deno.stderr, encoder.encode(text)),
    isTerminal,
    columns,
  });
}

/**
 * Write all of `bytes` to a synchronous writer (one `writeSync` may write only part). A failed
 * write throws an {@linkcode OutputError} naming `target` (by default `stdout` or `stderr` for
 * those, else "the output"), which the edge turns into a quiet exit (a closed stdout) or a
 * `write-failed` error, never an internal one.
 *
 * @example
 * ```ts
 * import { writeAll } from "./progress.ts";
 *
 * writeAll(Deno.stdout, new TextEncoder().encode("done\n"));
 * ```
 */
export function writeAll(
  writer: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
  target: string = outputName(writer),
): void {
  let written = 0;
  try {
    while (written < bytes.length) written += writer.writeSync(bytes.subarray(written));
  } catch (e) {
    throw e instanceof OutputError ? e : new OutputError(target, e);
  }
}

/** How an error names a writer: `stdout`, `stderr`, or "the output". */
function outputName(writer: unknown): string {
  return writer === Deno.stdout ? "stdout" : writer === Deno.stderr ? "stderr" : "the output";
}
