/**
 * `vlab bench wakeup`: what a thread wake-up costs by how the thread sleeps (see
 * `lab/bench/wakeup.ts`), and with `--vs-c` what it costs two C threads in the kernel's futex.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import {
  DEFAULT_WAKEUP_OPTIONS,
  formatWakeupTable,
  runWakeupBench,
  type WakeupBenchOptions,
  type WakeupRow,
} from "../lab/bench/wakeup.ts";
import { type CStatus, disposeCompiledNow } from "../lab/bench/c_build.ts";
import { CWakeup } from "../lab/bench/c_wakeup.ts";
import {
  CCold,
  COLD_LINES,
  COLD_SLEEPS_US,
  type ColdRun,
  formatColdTable,
} from "../lab/bench/c_cold.ts";
import { cleanUpOnInterrupt } from "./bench_partial.ts";
import { VlabError } from "./errors.ts";
import { intOption } from "./int_option.ts";
import { writeAll } from "./progress.ts";

/** The largest number of round trips per mode. */
export const MAX_WAKEUP_ROUNDS = 100_000;
/** The longest blocking slice `--slice-ms` takes, ms. */
const MAX_SLICE_MS = 1000;

/**
 * Parse the options of `vlab bench wakeup`.
 *
 * @throws {VlabError} code `bad-option` for a value out of range
 *
 * @example
 * ```ts
 * import { parseWakeupOptions } from "./bench_wakeup.ts";
 * parseWakeupOptions({ rounds: "500" }).rounds; // 500
 * ```
 */
export function parseWakeupOptions(
  raw: { rounds?: string; sliceMs?: string; vsC?: boolean },
): WakeupCommandOptions {
  const int = (option: string, text: string | undefined, dflt: number, max: number) =>
    text === undefined ? dflt : intOption(option, text, 1, max, String(dflt));
  return {
    modes: DEFAULT_WAKEUP_OPTIONS.modes,
    rounds: int("--rounds", raw.rounds, DEFAULT_WAKEUP_OPTIONS.rounds, MAX_WAKEUP_ROUNDS),
    sliceMs: int("--slice-ms", raw.sliceMs, DEFAULT_WAKEUP_OPTIONS.sliceMs, MAX_SLICE_MS),
    vsC: raw.vsC === true,
  };
}

/** The options of `vlab bench wakeup`: the benchmark's, and whether to time the C pair too. */
export interface WakeupCommandOptions extends WakeupBenchOptions {
  /** Time the same round trips between two C threads in futex waits (`--vs-c`). */
  vsC: boolean;
}

/**
 * What `vlab bench wakeup` prints on stdout: the table, or with `--json` the options and the rows
 * (`mode`, `rounds` kept after the warm-up tenth, `medianUs`, `p99Us`: a round trip is two
 * wake-ups). With `--vs-c`, `c` says whether the C pair ran (`{ ran, compiler }` or
 * `{ ran: false, reason }`); the text says why in one line when it did not. When it ran, `cold`
 * holds the C memory walk after each sleep (`lines`, and `points` of `sleepUs`, `rounds`,
 * `coldNs`, `warmNs`), printed as a second table.
 *
 * @example
 * ```ts
 * import { formatWakeupOutput } from "./bench_wakeup.ts";
 * const options = { modes: ["async" as const], rounds: 10, sliceMs: 2, vsC: false };
 * formatWakeupOutput(options, [{ mode: "async", rounds: 9, medianUs: 40, p99Us: 90 }], true);
 * ```
 */
export function formatWakeupOutput(
  options: WakeupCommandOptions,
  rows: readonly WakeupRow[],
  json: boolean,
  c?: CStatus,
  cold?: ColdRun,
): string {
  if (json) {
    return JSON.stringify(
      c ? { options, rows, c, ...(cold ? { cold } : {}) } : { options, rows },
      null,
      2,
    );
  }
  const table = formatWakeupTable(rows);
  if (c?.ran === false) return `${table}\nC futex: not measured: ${c.reason}`;
  return cold ? `${table}\n\n${formatColdTable(cold)}` : table;
}

/**
 * Measure: with `vsC`, the C pair and the C memory walk are built here and removed afterwards,
 * and on Ctrl-C or SIGTERM too (which end the process with 130). The walk runs last, alone.
 */
function measure(
  options: WakeupCommandOptions,
): Promise<{ rows: WakeupRow[]; c?: CStatus; cold?: ColdRun }> {
  return cleanUpOnInterrupt(disposeCompiledNow, async () => {
    if (!options.vsC) return { rows: await runWakeupBench(options) };
    const built = await CWakeup.build();
    if (!built.ok) {
      return { rows: await runWakeupBench(options), c: { ran: false, reason: built.error } };
    }
    let rows: WakeupRow[];
    try {
      rows = await runWakeupBench(options, built.value);
    } finally {
      await built.value.dispose();
    }
    const walker = await CCold.build(built.value.compiler);
    if (!walker.ok) return { rows, c: { ran: false, reason: walker.error } };
    try {
      const cold = await walker.value.measure(COLD_LINES, COLD_SLEEPS_US);
      return { rows, c: { ran: true, compiler: built.value.compiler }, cold };
    } finally {
      await walker.value.dispose();
    }
  });
}

/** The `wakeup` subcommand of `vlab bench`. */
export function wakeupCommand(): Command {
  return new Command("wakeup")
    .description(
      "measure a thread wake-up: doorbell round trips between two workers sleeping in " +
        "Atomics.waitAsync against a blocking Atomics.wait in bounded slices",
    )
    .option(
      "--rounds <n>",
      `round trips per mode, 1 to ${MAX_WAKEUP_ROUNDS}`,
      String(DEFAULT_WAKEUP_OPTIONS.rounds),
    )
    .option(
      "--slice-ms <n>",
      `longest blocking slice, ms, 1 to ${MAX_SLICE_MS}`,
      String(DEFAULT_WAKEUP_OPTIONS.sliceMs),
    )
    .option(
      "--vs-c",
      "also time the round trips between two C threads in futex waits, built with the " +
        "system's C compiler ($CC or cc): what a wake-up costs the machine itself; then what " +
        "a sleep of 0.2 to 100 ms costs the memory a C thread walks when it wakes",
    )
    .option("--json", "print the options and rows as JSON")
    .action(async (raw) => {
      const options = parseWakeupOptions(raw);
      const { rows, c, cold } = await measure(options).catch((error) => {
        const detail = error instanceof Error ? error.message : String(error);
        throw new VlabError("bench-failed", `Cannot run bench wakeup: ${detail}`, {
          hint: "Run it again with VLAB_DEBUG=1 for a stack trace" +
            (options.vsC ? ", or without --vs-c to leave the C pair out" : ""),
          cause: error,
        });
      });
      const text = formatWakeupOutput(options, rows, raw.json === true, c, cold);
      await writeAll(Deno.stdout, new TextEncoder().encode(text + "\n"));
    }) as unknown as Command;
}
