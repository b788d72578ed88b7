/**
 * `vlab bench vsock`: VM-to-VM vsock stream throughput against a Unix-socket reference,
 * connection set-up rate, one-byte round trip, and the lab's CPU idle and while a server waits
 * (see `lab/bench/vsock.ts`).
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import {
  DEFAULT_VSOCK_OPTIONS,
  formatVsockReport,
  runVsockBench,
  type VsockBenchOptions,
} from "../lab/bench/vsock.ts";
import { intOption, type IntRange, rangeText } from "./int_option.ts";
import { formatBenchOutput, runBenchKeepingPartial, systemBenchDeps } from "./bench_partial.ts";

/** The bounds of `vlab bench vsock`'s options (its help and its parser both read them). */
const VSOCK_RANGES = {
  bytes: [1, 16 * 2 ** 30],
  runs: [1, 50],
  connections: [1, 100_000],
  pings: [1, 1_000_000],
} as const satisfies Record<string, IntRange>;

/**
 * Parse the options of `vlab bench vsock`.
 *
 * @example
 * ```ts
 * import { parseVsockBenchOptions } from "./bench_vsock.ts";
 * parseVsockBenchOptions({ bytes: "1048576", runs: "1", connections: "10", pings: "10" }).runs; // 1
 * ```
 */
export function parseVsockBenchOptions(
  raw: { bytes: string; runs: string; connections: string; pings: string },
): VsockBenchOptions {
  return {
    bytes: intOption("--bytes", raw.bytes, ...VSOCK_RANGES.bytes),
    runs: intOption("--runs", raw.runs, ...VSOCK_RANGES.runs),
    connections: intOption("--connections", raw.connections, ...VSOCK_RANGES.connections),
    pings: intOption("--pings", raw.pings, ...VSOCK_RANGES.pings),
  };
}

/** The `vsock` subcommand of `vlab bench`. */
export function benchVsockCommand(): Command {
  const d = DEFAULT_VSOCK_OPTIONS;
  return new Command("vsock")
    .description(
      "measure vsock: VM-to-VM stream Gbit/s (64 KiB writes) beside a Unix-socket stream " +
        "between two host processes (ratio), connection set-up rate, one-byte round trip, " +
        "the lab's CPU idle and while vsock-echo waits",
    )
    .option(
      "--bytes <n>",
      `bytes per stream run, ${rangeText(VSOCK_RANGES.bytes)}`,
      String(d.bytes),
    )
    .option(
      "--runs <n>",
      `runs per figure, ${rangeText(VSOCK_RANGES.runs)} (medians are reported)`,
      String(d.runs),
    )
    .option(
      "--connections <n>",
      `connections per set-up run, ${rangeText(VSOCK_RANGES.connections)}`,
      String(d.connections),
    )
    .option(
      "--pings <n>",
      `one-byte round trips per run, ${rangeText(VSOCK_RANGES.pings)}`,
      String(d.pings),
    )
    .option("--json", "print the report as JSON")
    .action(async (raw) => {
      const options = parseVsockBenchOptions(raw);
      const deps = systemBenchDeps();
      const view = { text: formatVsockReport, json: (r: object) => r };
      const report = await runBenchKeepingPartial({
        name: "vsock",
        json: raw.json === true,
        hint: "Run it again with VLAB_DEBUG=1, or measure less (--bytes, --runs)",
        view,
        run: (progress, partial) => runVsockBench(options, progress, partial),
      }, deps);
      await deps.print(formatBenchOutput(report, view, { json: raw.json === true }));
    }) as unknown as Command;
}
