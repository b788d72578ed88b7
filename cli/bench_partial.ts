/**
 * What a `vlab bench` subcommand prints when its run ends early: the figures measured so far,
 * marked `incomplete: <why>` (an `incomplete` key with `--json`), on failure and on Ctrl-C or
 * SIGTERM (then exit code 130, as a shell gives an interrupted command).
 *
 * `bench net`, `iommu`, `vsock` and `recovery` call {@linkcode runBenchKeepingPartial} from their
 * commander action: it runs the measurement, listens for the signals meanwhile and on an early
 * end prints the report the measurement last handed over (through the `partial` callback its
 * runner takes). {@linkcode formatBenchOutput} is the one place that marks a report incomplete.
 *
 * @module
 */

import { disposeCompiledNow } from "../lab/bench/c_build.ts";
import { VlabError } from "./errors.ts";
import { LabError } from "../lab/errors.ts";
import { type ProgressLine, stderrProgressLine, writeAll } from "./progress.ts";
import { onInterrupt } from "./interrupt.ts";

const encoder = new TextEncoder();

/** Why a run interrupted by a signal is incomplete (the text after `incomplete: `). */
export const INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)";

/** How one bench renders its report: as text, and as the object `--json` prints. */
export interface BenchView<R> {
  /** The report as text (an empty string prints nothing above the `incomplete` line). */
  text(report: R): string;
  /** The report as `--json` prints it. */
  json(report: R): object;
}

/**
 * What a bench prints on stdout: `view.text`, or with `json` `view.json` as JSON. With
 * `incomplete` (why the run ended early) the text ends with `incomplete: <why>` and the JSON has
 * an `incomplete` key.
 *
 * @example
 * ```ts
 * import { formatBenchOutput } from "./bench_partial.ts";
 * const view = { text: () => "rows", json: () => ({ rows: [] }) };
 * formatBenchOutput({}, view, { incomplete: "interrupted" }); // "rows\n\nincomplete: interrupted"
 * JSON.parse(formatBenchOutput({}, view, { json: true, incomplete: "x" })).incomplete; // "x"
 * ```
 */
export function formatBenchOutput<R>(
  report: R,
  view: BenchView<R>,
  options: { json?: boolean; incomplete?: string } = {},
): string {
  const { json = false, incomplete } = options;
  if (json) {
    const out = view.json(report);
    return JSON.stringify(incomplete === undefined ? out : { ...out, incomplete }, null, 2);
  }
  const parts = [view.text(report)];
  if (incomplete !== undefined) parts.push(`incomplete: ${incomplete}`);
  return parts.filter((p) => p !== "").join("\n\n");
}

/** What {@linkcode runBenchKeepingPartial} does to the outside world; fakes in tests. */
export interface BenchDeps {
  /** Write one output (a newline is added) on stdout. */
  print(text: string): Promise<void> | void;
  /** Call `fn` on Ctrl-C or SIGTERM; returns how to stop listening. */
  onSignal(fn: () => void): () => void;
  /** End the process with `code`. */
  exit(code: number): void;
  /** The progress line (stderr). */
  line: ProgressLine;
}

/**
 * The real system: stdout, SIGINT and SIGTERM listeners, `Deno.exit`, the stderr progress line.
 *
 * @example
 * ```ts ignore
 * const deps = systemBenchDeps();
 * deps.line.progress("measuring");
 * ```
 */
export function systemBenchDeps(): BenchDeps {
  return {
    print: (text) => writeAll(Deno.stdout, encoder.encode(text + "\n")),
    ...SYSTEM_SIGNALS,
    line: stderrProgressLine(),
  };
}

/** The process's signals and exit, as {@linkcode BenchDeps} has them. */
const SYSTEM_SIGNALS: Pick<BenchDeps, "onSignal" | "exit"> = {
  onSignal: onInterrupt,
  exit: (code) => Deno.exit(code),
};

/**
 * Run `body`; on Ctrl-C or SIGTERM meanwhile, run `cleanup` and end the process with exit code
 * 130. A signal ends Deno without running `finally` blocks, so what a bench leaves on disk
 * (a compiled C reference's folder) is removed here; `cleanup` must be synchronous, as nothing
 * may be awaited before the exit.
 *
 * @example
 * ```ts ignore
 * const rows = await cleanUpOnInterrupt(() => program.disposeNow(), () => measure(program));
 * ```
 */
export async function cleanUpOnInterrupt<T>(
  cleanup: () => void,
  body: () => Promise<T>,
  deps: Pick<BenchDeps, "onSignal" | "exit"> = SYSTEM_SIGNALS,
): Promise<T> {
  const stop = deps.onSignal(() => {
    try {
      cleanup();
    } finally {
      deps.exit(130);
    }
  });
  try {
    return await body();
  } finally {
    stop();
  }
}

/** One bench run for {@linkcode runBenchKeepingPartial}. */
export interface BenchRun<R> {
  /** The subcommand, for the error message: `Cannot run bench <name>: …`. */
  name: string;
  /** Whether `--json` was given. */
  json: boolean;
  /** The hint of the `bench-failed` error. */
  hint: string;
  /** How the report prints. */
  view: BenchView<R>;
  /**
   * Run the measurement: `progress` for the progress line, `partial` with the report of what is
   * measured so far, each time more is.
   */
  run(progress: (what: string) => void, partial: (soFar: R) => void): Promise<R>;
  /** The report to print when nothing was handed to `partial` yet (null: none, text prints nothing). */
  empty?: () => R | null;
}

/**
 * Run a bench and return its report, for the caller to print. If it fails, what was measured
 * is printed marked `incomplete: failed: <why>` (with `--json` always, so that stdout stays one
 * JSON document), then a `bench-failed` error is thrown; on Ctrl-C or SIGTERM it is printed
 * marked `incomplete: interrupted (Ctrl-C or SIGTERM)` and the process exits 130.
 *
 * @throws {VlabError} code `bench-failed` when the run fails
 * @example
 * ```ts ignore
 * const report = await runBenchKeepingPartial({
 *   name: "vsock", json: false, hint: "…", view,
 *   run: (progress, partial) => runVsockBench(options, progress, partial),
 * });
 * ```
 */
export async function runBenchKeepingPartial<R>(
  bench: BenchRun<R>,
  deps: BenchDeps = systemBenchDeps(),
): Promise<R> {
  let soFar: R | null = null;
  const partialOutput = (incomplete: string): string | null => {
    const report = soFar ?? bench.empty?.() ?? null;
    if (report !== null) {
      return formatBenchOutput(report, bench.view, { json: bench.json, incomplete });
    }
    if (bench.json) return JSON.stringify({ incomplete }, null, 2);
    return null;
  };
  const stop = deps.onSignal(() => {
    disposeCompiledNow(); // a C reference's folder (the wake-up floor's C pair)
    deps.line.done();
    try {
      const text = partialOutput(INTERRUPTED);
      // Printed synchronously enough: the exit waits for the write.
      void Promise.resolve(text === null ? undefined : deps.print(text)).finally(() =>
        deps.exit(130)
      );
    } catch {
      deps.exit(130);
    }
  });
  try {
    return await bench.run(deps.line.progress, (r) => soFar = r);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    deps.line.done();
    const text = partialOutput(`failed: ${detail}`);
    if (text !== null) await deps.print(text);
    throw new VlabError("bench-failed", `Cannot run bench ${bench.name}: ${detail}`, {
      // A LabError knows what to do about it (a folder to change); "measure less" would not help.
      hint: error instanceof LabError ? error.hint : bench.hint,
      cause: error,
    });
  } finally {
    stop();
    deps.line.done();
  }
}
