/**
 * `vlab bench` and `vlab bench rings`: the command definition, the pure option parser
 * ({@linkcode parseRingsOptions}) and the command's run (progress on stderr, then the table or
 * the JSON report on stdout, and the chart file).
 *
 * Everything the run touches outside this module goes through a {@linkcode BenchRuntime}, so
 * tests can drive the command with a fake runner and fake output.
 *
 * @module
 */

import { netCommand } from "./bench_net.ts";
import { benchVsockCommand } from "./bench_vsock.ts";
import { iommuCommand } from "./bench_iommu.ts";
import { recoveryCommand } from "./bench_recovery.ts";
import { wakeupCommand } from "./bench_wakeup.ts";
import { Command } from "@commander-js/extra-typings";
import { DEFAULT_RINGS_OPTIONS, runRingsBench } from "../lab/bench/rings.ts";
import { disposeCompiledNow } from "../lab/bench/c_build.ts";
import { cleanUpOnInterrupt } from "./bench_partial.ts";
import { renderRingsChart } from "../lab/bench/chart.ts";
import { formatRingsTable } from "../lab/bench/report.ts";
import type {
  ProgressFn,
  RingLayout,
  RingMode,
  RingsBenchOptions,
  RingsBenchReport,
} from "../lab/bench/types.ts";
import { quote } from "../devices/base/quote.ts";
import { closestName, EXIT_CODES, ioReason, isSpecialFileRefusal, VlabError } from "./errors.ts";
import { onInterrupt } from "./interrupt.ts";
import { type ProgressLine, stderrProgressLine, writeAll } from "./progress.ts";
import { vlabRunArgs } from "./deno_run.ts";
import { CliExit } from "./usage.ts";

/** The largest queue size virtio allows (virtio 1.2, 2.7: packed queues up to 2^15). */
export const MAX_QUEUE_SIZE = 32768;
/** The largest number of timed runs per point. */
export const MAX_RUNS = 1000;
/** The largest number of requests per timed run. */
export const MAX_REQUESTS = 1_000_000_000;

/** The options of `vlab bench rings` as commander hands them over: strings and flags. */
export interface RawRingsOptions {
  /** `split`, `packed` or `both`. */
  layout?: string;
  /** Comma list of batch sizes. */
  batch?: string;
  /** `poll`, `notify` or `both`. */
  mode?: string;
  /** Queue size. */
  queueSize?: string;
  /** Timed runs per point. */
  runs?: string;
  /** Requests per timed run. */
  requests?: string;
  /** Keep up to `batch` requests in flight. */
  outstanding?: boolean;
  /** `--payload`. */
  payload?: boolean;
  /** Run the cache-line model too. */
  cacheModel?: boolean;
  /** Run both workers on one CPU. */
  sameCore?: boolean;
  /** Time the same points through the C ring too. */
  vsC?: boolean;
}

/**
 * Check the raw options of `vlab bench rings` and turn them into {@linkcode RingsBenchOptions};
 * a missing option takes its default from `DEFAULT_RINGS_OPTIONS`. Pure: it reads no
 * environment (the CLI decides about pinning).
 *
 * Batch sizes are sorted and duplicates dropped.
 *
 * @throws {VlabError} code `bad-option`, naming the option and the value, for any value that is
 * not allowed.
 *
 * @example
 * ```ts
 * import { parseRingsOptions } from "./bench.ts";
 *
 * parseRingsOptions({ layout: "packed", batch: "1,4", queueSize: "100" }).queueSize; // 100
 * parseRingsOptions({ batch: "4,x" }); // throws: --batch must be a comma list of integers …
 * ```
 */
export function parseRingsOptions(raw: RawRingsOptions): RingsBenchOptions {
  const defaults = DEFAULT_RINGS_OPTIONS;
  const layouts = raw.layout === undefined
    ? [...defaults.layouts]
    : parseChoice("--layout", raw.layout, ["split", "packed"] as const);
  const modes = raw.mode === undefined
    ? [...defaults.modes]
    : parseChoice("--mode", raw.mode, ["poll", "notify"] as const);
  const batches = raw.batch === undefined ? [...defaults.batches] : parseBatches(raw.batch);
  const queueSize = raw.queueSize === undefined
    ? defaults.queueSize
    : parseInteger("--queue-size", raw.queueSize, MAX_QUEUE_SIZE, "a queue size such as 256");
  const runs = raw.runs === undefined
    ? defaults.runs
    : parseInteger("--runs", raw.runs, MAX_RUNS, "a number of timed runs such as 5");
  const requests = raw.requests === undefined ? defaults.requests : parseInteger(
    "--requests",
    raw.requests,
    MAX_REQUESTS,
    `a number of requests per run such as ${defaults.requests}`,
  );

  if (layouts.includes("split") && !isPowerOfTwo(queueSize)) {
    const below = 2 ** Math.floor(Math.log2(queueSize));
    throw badOption(
      `--queue-size must be a power of 2 for the split layout, got ${queueSize}`,
      `Use --queue-size ${below} or ${below * 2}, or --layout packed, which allows any size ` +
        `from 1 to ${MAX_QUEUE_SIZE}`,
    );
  }
  const largest = Math.max(...batches);
  if (largest > queueSize) {
    const fits = layouts.includes("split") ? 2 ** Math.ceil(Math.log2(largest)) : largest;
    throw badOption(
      `--batch ${largest} does not fit in a queue of size ${queueSize}`,
      `Use --queue-size ${fits} or more, or batches of at most ${queueSize}`,
    );
  }
  if (requests < largest) {
    throw badOption(
      `--requests must be at least the largest batch (${largest}), got ${requests}`,
      `Use --requests ${defaults.requests}, or smaller batches`,
    );
  }
  return {
    layouts,
    batches,
    modes,
    queueSize,
    runs,
    requests,
    outstanding: raw.outstanding === true,
    payload: raw.payload === true,
    cacheModel: raw.cacheModel === true,
    sameCore: raw.sameCore === true,
    vsC: raw.vsC === true,
  };
}

/** What the `vlab bench rings` run needs from the outside world. */
export interface BenchRuntime {
  /** Run the benchmark. */
  runBench(options: RingsBenchOptions, progress: ProgressFn): Promise<RingsBenchReport>;
  /** A fresh progress line (on stderr). */
  progressLine(): ProgressLine;
  /** Write results to stdout. */
  writeOut(text: string): void;
  /** Write a note to stderr. */
  writeErr(text: string): void;
  /** Whether this process already runs pinned to one CPU (`VLAB_PINNED=1`). */
  isPinned(): boolean;
  /** Run the same command again pinned to CPU 0 and return its exit code. */
  runPinned(): Promise<number>;
  /** Throw a `bad-option` error if `path`'s folder does not exist. */
  checkOutputPath(path: string): Promise<void>;
  /** Write a text file (replacing it whole, never leaving half a file). */
  writeTextFile(path: string, text: string): Promise<void>;
}

/** The flags of `vlab bench rings` that are about output, not about what is measured. */
interface OutputFlags {
  json?: boolean;
  svg?: string;
}

/**
 * The `vlab bench` command with its `rings` subcommand.
 *
 * @example
 * ```ts
 * import { Command } from "@commander-js/extra-typings";
 * import { benchCommand } from "./bench.ts";
 *
 * const program = new Command("vlab").addCommand(benchCommand());
 * ```
 */
export function benchCommand(runtime: BenchRuntime = denoBenchRuntime()): Command {
  const bench = new Command("bench").description("measure parts of the lab");
  bench.addCommand(ringsCommand(runtime));
  bench.addCommand(netCommand());
  bench.addCommand(benchVsockCommand());
  bench.addCommand(iommuCommand());
  bench.addCommand(recoveryCommand());
  bench.addCommand(wakeupCommand());
  return showDefaultsAsTyped(bench);
}

function ringsCommand(runtime: BenchRuntime) {
  const d = DEFAULT_RINGS_OPTIONS;
  return new Command("rings")
    .description(
      "time request hand-offs through a virtqueue between a driver worker and a device worker " +
        "(ns per request against batch size, split and packed layouts)",
    )
    .option("--layout <layout>", "split, packed or both", choiceName(d.layouts))
    .option("--batch <list>", "comma list of batch sizes, 1 to 32768", d.batches.join(","))
    .option("--mode <mode>", "poll, notify or both", choiceName(d.modes))
    .option(
      "--queue-size <n>",
      "queue size: 1 to 32768 for packed, a power of 2 for split",
      String(d.queueSize),
    )
    .option(
      "--runs <n>",
      `timed runs per point, 1 to ${MAX_RUNS} (the median is reported)`,
      String(d.runs),
    )
    .option("--requests <n>", `requests per timed run, 1 to ${MAX_REQUESTS}`, String(d.requests))
    .option("--outstanding", "keep up to <batch> requests in flight instead of closed batches")
    .option("--payload", "write and check each request's sequence number in its buffer")
    .option("--cache-model", "also count ring cache lines moved per request (cache model)")
    .option("--same-core", "run both workers on CPU 0 (re-runs vlab under taskset -c 0)")
    .option(
      "--vs-c",
      "also time each point through a C ring built with the system's C compiler ($CC or " +
        "cc), for each layout's ratio to C from the same run",
    )
    .option("--json", "print the report as JSON on stdout instead of the table")
    .option("--svg <file>", "write a chart of ns per request against batch size")
    .action(async (raw) => {
      await runRingsCommand(raw, runtime);
    });
}

/**
 * The run of `vlab bench rings` once commander has parsed the command line.
 *
 * @throws {VlabError} for bad options, a failed benchmark or an unwritable chart file
 * @throws {CliExit} after a pinned re-run, with its exit code
 *
 * @example
 * ```ts
 * import { denoBenchRuntime, runRingsCommand } from "./bench.ts";
 *
 * await runRingsCommand({ layout: "packed", batch: "1,8", json: true }, denoBenchRuntime());
 * ```
 */
export async function runRingsCommand(
  raw: RawRingsOptions & OutputFlags,
  runtime: BenchRuntime,
): Promise<void> {
  const options = parseRingsOptions(raw);
  if (options.sameCore && !runtime.isPinned()) {
    throw new CliExit(await runtime.runPinned());
  }
  if (raw.svg !== undefined) await runtime.checkOutputPath(raw.svg);

  const line = runtime.progressLine();
  let report: RingsBenchReport;
  try {
    report = await runtime.runBench(options, line.progress);
  } catch (error) {
    if (error instanceof VlabError) throw error;
    const detail = error instanceof Error ? error.message : String(error);
    throw new VlabError("bench-failed", `Cannot run bench rings: ${detail}`, {
      hint: "Run it again with VLAB_DEBUG=1 for a stack trace, or with fewer points " +
        "(--layout, --mode, --batch) to narrow it down",
      cause: error,
    });
  } finally {
    line.done();
  }

  if (raw.json === true) {
    runtime.writeOut(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    runtime.writeOut(`${formatRingsTable(report)}\n`);
  }
  if (raw.svg !== undefined) {
    const svg = await renderRingsChart(report);
    try {
      await runtime.writeTextFile(raw.svg, svg);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new VlabError("write-failed", `Cannot write chart to ${quote(raw.svg)}: ${detail}`, {
        hint: "Check that the folder exists and that you may write to it",
        cause: error,
      });
    }
    runtime.writeErr(`Wrote chart to ${raw.svg}\n`);
  }
}

/**
 * The runtime of the real CLI: Deno's stdout and stderr, files, `taskset`.
 *
 * @example
 * ```ts
 * import { benchCommand, denoBenchRuntime } from "./bench.ts";
 *
 * const bench = benchCommand(denoBenchRuntime());
 * ```
 */
export function denoBenchRuntime(): BenchRuntime {
  const encoder = new TextEncoder();
  return {
    runBench: runRingsWithCRing,
    progressLine: stderrProgressLine,
    writeOut: (text) => writeAll(Deno.stdout, encoder.encode(text)),
    writeErr: (text) => writeAll(Deno.stderr, encoder.encode(text)),
    isPinned: () => Deno.env.get("VLAB_PINNED") === "1",
    runPinned,
    checkOutputPath,
    writeTextFile: async (path, text) => {
      const temporary = `${path}.tmp`;
      await Deno.writeTextFile(temporary, text);
      await Deno.rename(temporary, path);
    },
  };
}

/**
 * Run the ring benchmark; Ctrl-C or SIGTERM (which end the process with 130) remove the C ring's
 * folder first.
 */
function runRingsWithCRing(
  options: RingsBenchOptions,
  progress: ProgressFn,
): Promise<RingsBenchReport> {
  return cleanUpOnInterrupt(disposeCompiledNow, () => runRingsBench(options, progress));
}

/** Run this same command line again under `taskset -c 0`, with `VLAB_PINNED=1`. */
async function runPinned(): Promise<number> {
  // Ctrl-C or SIGTERM: the pinned run is the one measuring, so it is told (it removes its C
  // ring's folder and ends with 130), and waited for. SIGTERM ended this process alone with 143
  // and left the pinned run busy-polling CPU 0 to its end. Listening before the spawn: a signal
  // between the two did that too.
  let interrupted = false;
  let child: Deno.ChildProcess | null = null;
  const off = onInterrupt(() => {
    interrupted = true;
    try {
      child?.kill("SIGTERM");
    } catch {
      // Ended already.
    }
  });
  try {
    try {
      child = new Deno.Command("taskset", {
        args: ["-c", "0", Deno.execPath(), ...vlabRunArgs(Deno.args)],
        env: { VLAB_PINNED: "1" },
        stdin: "inherit",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new VlabError(
          "missing-tool",
          "Cannot run bench on one core: taskset is not installed",
          {
            hint: "Install it with apt-get install util-linux, or run without --same-core",
            cause: error,
          },
        );
      }
      throw error;
    }
    const status = await child.status;
    return interrupted ? EXIT_CODES.interrupted : status.code;
  } finally {
    off();
  }
}

/**
 * What `at` is for `--svg PATH`'s check, or null when nothing is there (or a file stands where
 * one of its folders should: the folder's own check says so). Any other failure (a path under
 * /proc, no permission) is a `bad-option` with the system's reason: it was an internal error.
 */
async function statForSvg(at: string, path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(at);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return null;
    }
    throw badOption(
      `--svg cannot be written at ${quote(path)}: ${ioReason(error)}`,
      isSpecialFileRefusal(error)
        ? "Write the chart to a file outside /dev, /proc and /sys, such as --svg rings.svg"
        : "Write the chart to a regular file in a folder you can write, such as --svg rings.svg",
    );
  }
}

async function checkOutputPath(path: string): Promise<void> {
  // A folder given as the file (`--svg out/` or `--svg /tmp`) would fail only at the end, after
  // the whole run, when the chart is renamed onto it.
  let isFolderItself = path.endsWith("/");
  isFolderItself ||= (await statForSvg(path, path))?.isDirectory === true;
  if (isFolderItself) {
    throw badOption(
      `--svg needs a file name, ${quote(path)} is a folder`,
      `Name the chart's file, for example --svg ${quote(path.replace(/\/+$/, "") + "/rings.svg")}`,
    );
  }
  const slash = path.lastIndexOf("/");
  const folder = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const info = await statForSvg(folder, path);
  if (info !== null && !info.isDirectory) {
    throw badOption(
      `--svg needs an existing folder, ${quote(folder)} is a file (got ${quote(path)})`,
      "Give a path whose folders are folders, or write the chart elsewhere",
    );
  }
  if (info === null) {
    throw badOption(
      `--svg needs an existing folder, ${quote(folder)} is not one (got ${quote(path)})`,
      `Create the folder first (mkdir -p ${quote(folder)}) or write the chart elsewhere`,
    );
  }
}

function parseChoice<const T extends string>(
  option: string,
  value: string,
  names: readonly [T, T],
): T[] {
  // Exact, as every other option value and the topology's `layout:` are; a near miss (`Split`,
  // `spilt`) gets a did-you-mean.
  const word = value.trim();
  if (word === "both") return [...names];
  const found = names.find((name) => name === word);
  if (found !== undefined) return [found];
  const allowed = [...names, "both"];
  const close = closestName(word, allowed);
  throw badOption(
    `${option} must be ${names[0]}, ${names[1]} or both, got ${quote(value)}`,
    close === undefined
      ? `Use ${allowed.map((name) => `${option} ${name}`).join(", ")}`
      : `Did you mean ${option} ${close}?`,
  );
}

function parseBatches(value: string): number[] {
  const items = value.split(",").map((item) => item.trim());
  const batches: number[] = [];
  for (const item of items) {
    const batch = integerOrUndefined(item);
    if (batch === undefined || batch < 1 || batch > MAX_QUEUE_SIZE) {
      const what = item === "" ? "An empty item" : quote(item);
      throw badOption(
        `--batch must be a comma list of integers from 1 to ${MAX_QUEUE_SIZE}, got ${quote(value)}`,
        `${what} is not an integer from 1 to ${MAX_QUEUE_SIZE}: give batch sizes such as ` +
          `--batch 1,4,16`,
      );
    }
    batches.push(batch);
  }
  return [...new Set(batches)].sort((a, b) => a - b);
}

function parseInteger(option: string, value: string, max: number, example: string): number {
  const n = integerOrUndefined(value.trim());
  if (n === undefined || n < 1 || n > max) {
    throw badOption(
      `${option} must be an integer from 1 to ${max}, got ${quote(value)}`,
      `Give ${example}`,
    );
  }
  return n;
}

/** A decimal integer written with digits only, or `undefined`. */
function integerOrUndefined(text: string): number | undefined {
  if (!/^[0-9]{1,10}$/.test(text)) return undefined;
  return Number(text);
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * Show every default of `command`'s subcommands in their help as it is typed (`(default: both)`,
 * not commander's JSON `(default: "both")`), as docs/cli.md shows them; one place for every
 * bench subcommand.
 *
 * @example
 * ```ts
 * import { Command } from "@commander-js/extra-typings";
 * import { showDefaultsAsTyped } from "./bench.ts";
 * const bench = new Command("bench").addCommand(
 *   new Command("net").option("--layout <layout>", "split, packed or both", "both"),
 * );
 * showDefaultsAsTyped(bench);
 * bench.commands[0].helpInformation().includes("(default: both)"); // true
 * ```
 */
export function showDefaultsAsTyped<C extends Command>(command: C): C {
  for (const sub of command.commands) {
    for (const option of sub.options) {
      if (typeof option.defaultValue === "string" && option.defaultValueDescription === undefined) {
        option.defaultValueDescription = option.defaultValue;
      }
    }
  }
  return command;
}

function choiceName(values: readonly (RingLayout | RingMode)[]): string {
  return values.length === 1 ? values[0] : "both";
}

/** A `bad-option` error whose message names the option first, as every bench subcommand's. */
function badOption(detail: string, hint: string): VlabError {
  return new VlabError("bad-option", detail, { hint });
}
