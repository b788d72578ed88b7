/**
 * `vlab bench iommu`: the cost of the vIOMMU per DMA mode against no vIOMMU, the IOTLB hit rate
 * and the UNMAP-to-flushed latency (see `lab/bench/iommu.ts`).
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import {
  DEFAULT_IOMMU_OPTIONS,
  formatIommuReport,
  type IommuBenchMode,
  type IommuBenchOptions,
  runIommuBench,
} from "../lab/bench/iommu.ts";
import { quote } from "../devices/base/quote.ts";
import { closestName, VlabError } from "./errors.ts";
import { intListOption, intOption, type IntRange, rangeText } from "./int_option.ts";
import { formatBenchOutput, runBenchKeepingPartial, systemBenchDeps } from "./bench_partial.ts";

const MODES: readonly IommuBenchMode[] = ["none", "strict", "lazy", "static", "passthrough"];

/** The bounds of `vlab bench iommu`'s integer options (its help and its parser both read them). */
const IOMMU_RANGES = {
  sizes: [60, 1514],
  frames: [1, 100_000_000],
  runs: [1, 500],
  warmup: [0, 60],
} as const satisfies Record<string, IntRange>;

/**
 * Parse the options of `vlab bench iommu`; a bad value is a usage error naming the option.
 *
 * @example
 * ```ts
 * import { parseIommuOptions } from "./bench_iommu.ts";
 * parseIommuOptions({ modes: "static", sizes: "64", frames: "1000", runs: "1", warmup: "0" }).modes;
 * // ["static"]
 * ```
 */
export function parseIommuOptions(
  raw: { modes: string; sizes: string; frames: string; runs: string; warmup: string },
): IommuBenchOptions {
  // Each mode once: a mode named twice would run twice a round and pool both runs in one row.
  const modes = [...new Set(raw.modes.split(",").map((s) => s.trim()))];
  const bad = modes.find((m) => !(MODES as readonly string[]).includes(m));
  if (bad !== undefined) {
    const close = closestName(bad, MODES);
    const hint = close === undefined
      ? `For example --modes ${MODES.join(",")}`
      : `Did you mean ${close}? (for example --modes ${MODES.join(",")})`;
    throw new VlabError("bad-option", `--modes takes ${MODES.join(", ")}, got ${quote(bad)}`, {
      hint,
    });
  }
  return {
    modes: modes as IommuBenchMode[],
    frameSizes: [...new Set(intListOption("--sizes", raw.sizes, ...IOMMU_RANGES.sizes, "64,1500"))],
    frames: intOption("--frames", raw.frames, ...IOMMU_RANGES.frames, "200000"),
    runs: intOption("--runs", raw.runs, ...IOMMU_RANGES.runs, "6"),
    warmupSeconds: intOption("--warmup", raw.warmup, ...IOMMU_RANGES.warmup, "1"),
  };
}

/** The `iommu` subcommand of `vlab bench`. */
export function iommuCommand(): Command {
  const d = DEFAULT_IOMMU_OPTIONS;
  return new Command("iommu")
    .description(
      "measure the vIOMMU: frames per second in each DMA mode against no vIOMMU (64 and " +
        "1500-byte frames), IOTLB hit rate, UNMAP-to-flushed latency (median, p99)",
    )
    .option("--modes <list>", MODES.join(", "), d.modes.join(","))
    .option(
      "--sizes <list>",
      `Ethernet frame sizes, ${rangeText(IOMMU_RANGES.sizes)}`,
      d.frameSizes.join(","),
    )
    .option("--frames <n>", `frames per run, ${rangeText(IOMMU_RANGES.frames)}`, String(d.frames))
    .option(
      "--runs <n>",
      `runs per point, ${rangeText(IOMMU_RANGES.runs)} (medians are reported)`,
      String(d.runs),
    )
    .option(
      "--warmup <n>",
      `seconds of unmeasured flood before each measured one, in the same lab, ${
        rangeText(IOMMU_RANGES.warmup)
      } (0: none)`,
      String(d.warmupSeconds),
    )
    .option("--json", "print the report as JSON")
    .action(async (raw) => {
      const options = parseIommuOptions(raw);
      const deps = systemBenchDeps();
      const view = { text: formatIommuReport, json: (r: object) => r };
      const report = await runBenchKeepingPartial({
        name: "iommu",
        json: raw.json === true,
        hint: "Run it again with VLAB_DEBUG=1, or measure less (--sizes, --frames)",
        view,
        run: (progress, partial) => runIommuBench(options, progress, partial),
      }, deps);
      await deps.print(formatBenchOutput(report, view, { json: raw.json === true }));
    });
}
