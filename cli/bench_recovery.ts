/**
 * `vlab bench recovery`: backend crashes under a flood and ring corruptions, measured on real
 * labs (see `lab/bench/recovery.ts`).
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import {
  DEFAULT_RECOVERY_OPTIONS,
  formatRecoveryReport,
  type RecoveryBenchOptions,
  runRecoveryBench,
} from "../lab/bench/recovery.ts";
import { VlabError } from "./errors.ts";
import { intOption, type IntRange, rangeText } from "./int_option.ts";
import { formatBenchOutput, runBenchKeepingPartial, systemBenchDeps } from "./bench_partial.ts";

/** The bounds of `vlab bench recovery`'s options (its help and its parser both read them). */
const RECOVERY_RANGES = {
  crashes: [0, 100_000],
  corruptions: [0, 100_000],
  rate: [100, 10_000_000],
} as const satisfies Record<string, IntRange>;

/**
 * Parse the options of `vlab bench recovery`.
 *
 * @throws {VlabError} code `bad-option` for a value out of range, or both counts 0
 * @example
 * ```ts
 * import { parseRecoveryOptions } from "./bench_recovery.ts";
 * parseRecoveryOptions({ crashes: "3", corruptions: "3", rate: "5000" }).crashes; // 3
 * ```
 */
export function parseRecoveryOptions(
  raw: { crashes: string; corruptions: string; rate: string },
): RecoveryBenchOptions {
  const options = {
    crashes: intOption("--crashes", raw.crashes, ...RECOVERY_RANGES.crashes, "3"),
    corruptions: intOption("--corruptions", raw.corruptions, ...RECOVERY_RANGES.corruptions, "3"),
    ratePps: intOption("--rate", raw.rate, ...RECOVERY_RANGES.rate, "20000"),
  };
  if (options.crashes === 0 && options.corruptions === 0) {
    throw new VlabError("bad-option", "--crashes 0 and --corruptions 0 leave nothing to measure", {
      hint: "Skip one of them at most, for example --crashes 3 --corruptions 0",
    });
  }
  return options;
}

/** `vlab bench recovery [--crashes N] [--corruptions N] [--rate PPS] [--json]`. */
export function recoveryCommand(): Command {
  const d = DEFAULT_RECOVERY_OPTIONS;
  return new Command("recovery")
    .description(
      "measure recovery: restart pause and frames lost or duplicated over N backend crashes " +
        "under a 64-byte flood; reset cycle over N ring corruptions, and another pair's rate",
    )
    .option(
      "--crashes <n>",
      `backend crashes, ${rangeText(RECOVERY_RANGES.crashes)} (0 skips)`,
      String(d.crashes),
    )
    .option(
      "--corruptions <n>",
      `ring corruptions, ${rangeText(RECOVERY_RANGES.corruptions)} (0 skips)`,
      String(d.corruptions),
    )
    .option(
      "--rate <pps>",
      `the floods' rate, datagrams per second, ${rangeText(RECOVERY_RANGES.rate)}`,
      String(d.ratePps),
    )
    .option("--json", "print the report as JSON")
    .action(async (raw) => {
      const options = parseRecoveryOptions(raw);
      const deps = systemBenchDeps();
      const view = { text: formatRecoveryReport, json: (r: object) => r };
      const report = await runBenchKeepingPartial({
        name: "recovery",
        json: raw.json === true,
        hint: "Run it again with fewer --crashes or --corruptions",
        view,
        run: (progress, partial) => runRecoveryBench(options, progress, partial),
      }, deps);
      await deps.print(formatBenchOutput(report, view, { json: raw.json === true }));
    }) as unknown as Command;
}
