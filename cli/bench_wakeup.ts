/**
 * `vlab bench wakeup`: what a thread wake-up costs by how the thread sleeps (see
 * `lab/bench/wakeup.ts`).
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
import { intOption } from "./int_option.ts";
import { writeAll } from "./progress.ts";

/** The largest number of round trips per mode. */
export const MAX_WAKEUP_ROUNDS = 100_000;

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
  raw: { rounds?: string; sliceMs?: string },
): WakeupBenchOptions {
  const int = (option: string, text: string | undefined, dflt: number, max: number) =>
    text === undefined ? dflt : intOption(option, text, 1, max, String(dflt));
  return {
    modes: DEFAULT_WAKEUP_OPTIONS.modes,
    rounds: int("--rounds", raw.rounds, DEFAULT_WAKEUP_OPTIONS.rounds, MAX_WAKEUP_ROUNDS),
    sliceMs: int("--slice-ms", raw.sliceMs, DEFAULT_WAKEUP_OPTIONS.sliceMs, 1000),
  };
}

/**
 * What `vlab bench wakeup` prints on stdout: the table, or with `--json` the options and the rows
 * (`mode`, `rounds` kept after the warm-up tenth, `medianUs`, `p99Us`: a round trip is two
 * wake-ups).
 *
 * @example
 * ```ts
 * import { formatWakeupOutput } from "./bench_wakeup.ts";
 * const options = { modes: ["async" as const], rounds: 10, sliceMs: 2 };
 * formatWakeupOutput(options, [{ mode: "async", rounds: 9, medianUs: 40, p99Us: 90 }], true);
 * ```
 */
export function formatWakeupOutput(
  options: WakeupBenchOptions,
  rows: readonly WakeupRow[],
  json: boolean,
): string {
  return json ? JSON.stringify({ options, rows }, null, 2) : formatWakeupTable(rows);
}

/** The `wakeup` subcommand of `vlab bench`. */
export function wakeupCommand(): Command {
  return new Command("wakeup")
    .description(
      "measure a thread wake-up: doorbell round trips between two workers sleeping in " +
        "Atomics.waitAsync against a blocking Atomics.wait in bounded slices",
    )
    .option("--rounds <n>", "round trips per mode", String(DEFAULT_WAKEUP_OPTIONS.rounds))
    .option("--slice-ms <n>", "longest blocking slice, ms", String(DEFAULT_WAKEUP_OPTIONS.sliceMs))
    .option("--json", "print the options and rows as JSON")
    .action(async (raw) => {
      const options = parseWakeupOptions(raw);
      const rows = await runWakeupBench(options);
      const text = formatWakeupOutput(options, rows, raw.json === true);
      await writeAll(Deno.stdout, new TextEncoder().encode(text + "\n"));
    }) as unknown as Command;
}
