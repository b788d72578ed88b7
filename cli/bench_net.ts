/**
 * `vlab bench net`: throughput, latency and scale of real labs (see `lab/bench/net.ts`).
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import {
  cWakeFloorUs,
  DEFAULT_NET_OPTIONS,
  DEFAULT_PING_INTERVAL_MS,
  delayOvershootPct,
  formatNetReport,
  idleCpuSkipped,
  type LatencyRow,
  type NetBenchOptions,
  type NetBenchReport,
  type NetBenchRow,
  type NetComparison,
  netComparisons,
  runNetBench,
  type ThroughputRow,
  wakeFloorUs,
} from "../lab/bench/net.ts";
import {
  endVethPair,
  type Killer,
  runVethBench,
  type VethNames,
  vethNames,
  type VethReport,
  vethUnavailable,
} from "../lab/bench/veth.ts";
import { type CommandRunner, systemRunner } from "../lab/bench/command.ts";
import {
  formatVethComparison,
  type VethOutcome,
  type VethRatios,
  vethRatios,
} from "../lab/bench/veth_report.ts";
import { attachDashboard } from "./bench_dashboard.ts";
import { quote } from "../devices/base/quote.ts";
import { closestName, VlabError } from "./errors.ts";
import { intListOption, intOption, type IntRange, rangeText } from "./int_option.ts";
import { writeAll } from "./progress.ts";
import {
  type BenchView,
  formatBenchOutput,
  INTERRUPTED,
  runBenchKeepingPartial,
  systemBenchDeps,
} from "./bench_partial.ts";
import type { PlacementMode } from "../lab/lab.ts";
import { onInterrupt } from "./interrupt.ts";

const encoder = new TextEncoder();

/** The bounds of `vlab bench net`'s integer options (its help and its parser both read them). */
const NET_RANGES = {
  queueSize: [8, 32768],
  scale: [2, 256],
  sizes: [60, 1514],
  seconds: [1, 60],
  warmup: [0, 60],
  runs: [1, 50],
  pings: [1, 100_000],
  pingInterval: [1, 10_000],
  delays: [0, 10_000],
  idleSeconds: [0, 60],
  pollUs: [0, 10_000],
} as const satisfies Record<string, IntRange>;

/** Parse the options of `vlab bench net`. */
export function parseNetOptions(raw: {
  layout: string;
  sizes: string;
  seconds: string;
  warmup?: string;
  runs: string;
  pings: string;
  pingInterval?: string;
  delays: string;
  scale: string;
  idleSeconds: string;
  pollUs: string;
  queueSize: string;
  dashboard?: boolean;
  vhostPci?: boolean;
  star?: boolean;
  besideFlood?: boolean;
  csum?: string;
  placement?: string;
  hostWait?: string;
  guestWait?: string;
  vsVeth?: boolean;
}): NetBenchOptions {
  const layouts = raw.layout === "both"
    ? ["split", "packed"] as const
    : raw.layout === "split" || raw.layout === "packed"
    ? [raw.layout]
    : null;
  if (layouts === null) {
    // A near miss (`Split`, `paked`) gets a did-you-mean, as bench rings' --layout does.
    const close = closestName(raw.layout.trim(), ["split", "packed", "both"]);
    throw new VlabError(
      "bad-option",
      `--layout must be split, packed or both, got ${quote(raw.layout)}`,
      {
        hint: close === undefined
          ? "For example --layout packed"
          : `Did you mean --layout ${close}?`,
      },
    );
  }
  const queueSize = intOption("--queue-size", raw.queueSize, ...NET_RANGES.queueSize, "256");
  if (layouts.includes("split") && (queueSize & (queueSize - 1)) !== 0) {
    const below = 2 ** Math.floor(Math.log2(queueSize));
    throw new VlabError(
      "bad-option",
      `--queue-size must be a power of 2 for the split layout, got ${queueSize}`,
      { hint: `For example --queue-size ${below}, or --layout packed, which takes any size` },
    );
  }
  const scale = raw.scale === "none"
    ? []
    : [...new Set(intListOption("--scale", raw.scale, ...NET_RANGES.scale, "2,16,64"))];
  const odd = scale.find((n) => n % 2 !== 0);
  if (odd !== undefined) {
    // A scale lab is N/2 linked pairs: an odd N would measure a lab of N - 1 VMs.
    throw new VlabError(
      "bad-option",
      `--scale takes even lab sizes (N/2 linked pairs), got ${odd}`,
      { hint: `For example --scale ${odd - 1},${odd + 1}` },
    );
  }
  const alone = [
    raw.star && "--star",
    raw.dashboard && "--dashboard",
    raw.besideFlood && "--beside-flood",
  ].filter((x) => !!x);
  if (alone.length >= 2) {
    throw new VlabError(
      "bad-option",
      `${alone.join(" and ")} each measure instead of the rest`,
      { hint: "Run them one at a time" },
    );
  }
  if (alone.length === 1 && raw.vsVeth) {
    throw new VlabError(
      "bad-option",
      `--vs-veth compares the throughput and ping rows, which ${alone[0]} does not measure`,
      { hint: `Run --vs-veth without ${alone[0]}` },
    );
  }
  return {
    layouts: [...layouts] as NetBenchOptions["layouts"],
    // Each size and delay once: a second row of the same point would be paired with neither.
    frameSizes: [...new Set(intListOption("--sizes", raw.sizes, ...NET_RANGES.sizes, "64,1500"))],
    seconds: intOption("--seconds", raw.seconds, ...NET_RANGES.seconds, "2"),
    warmupSeconds: raw.warmup === undefined
      ? DEFAULT_NET_OPTIONS.warmupSeconds
      : intOption("--warmup", raw.warmup, ...NET_RANGES.warmup, "1"),
    runs: intOption("--runs", raw.runs, ...NET_RANGES.runs, "3"),
    pings: intOption("--pings", raw.pings, ...NET_RANGES.pings, "200"),
    pingIntervalMs: raw.pingInterval === undefined
      ? DEFAULT_PING_INTERVAL_MS
      : intOption("--ping-interval", raw.pingInterval, ...NET_RANGES.pingInterval, "1000"),
    delaysMs: [...new Set(intListOption("--delays", raw.delays, ...NET_RANGES.delays, "0,2"))],
    scale,
    idleSeconds: intOption("--idle-seconds", raw.idleSeconds, ...NET_RANGES.idleSeconds, "3"),
    pollUs: intOption("--poll-us", raw.pollUs, ...NET_RANGES.pollUs, "50"),
    queueSize,
    dashboard: raw.dashboard === true,
    vhostPci: raw.vhostPci !== false,
    star: raw.star === true,
    besideFlood: raw.besideFlood === true,
    csum: parseCsum(raw.csum),
    placement: parsePlacement(raw.placement),
    // None: the lab's default (`defaultWaitMode`).
    ...(raw.hostWait === undefined
      ? {}
      : { hostWait: settingsOption("--host-wait", raw.hostWait, ["hot", "async"]) }),
    ...(raw.guestWait === undefined
      ? {}
      : { guestWait: settingsOption("--guest-wait", raw.guestWait, ["hot", "async"]) }),
  };
}

/**
 * A list option of settings (`--csum off,on`, `--placement auto,off`, `--host-wait hot,async`):
 * the settings in the order given, each once, or one line and a hint naming only what it takes.
 */
function settingsOption<T extends string>(
  flag: string,
  text: string,
  allowed: readonly [T, T],
): T[] {
  const out: T[] = [];
  for (const item of text.split(",").map((t) => t.trim())) {
    if (!allowed.includes(item as T)) {
      const both = `${allowed[0]},${allowed[1]}`;
      const close = closestName(item, allowed);
      throw new VlabError(
        "bad-option",
        `${flag} takes ${allowed[0]}, ${allowed[1]} or ${both}, got ${quote(text)}`,
        { hint: close === undefined ? `For example ${flag} ${both}` : `Did you mean ${close}?` },
      );
    }
    if (!out.includes(item as T)) out.push(item as T);
  }
  return out;
}

/** `--placement auto`, `off`, `auto,off`. */
function parsePlacement(text: string | undefined): PlacementMode[] {
  return settingsOption("--placement", text ?? "auto", ["auto", "off"]);
}

/** `--csum on`, `off`, `off,on`. */
function parseCsum(text: string | undefined): boolean[] {
  return settingsOption("--csum", text ?? "on", ["off", "on"]).map((t) => t === "on");
}

/** What {@linkcode vethOutcome} needs from the system (tests replace it). */
export interface VethDeps {
  /** Runs `ip`, `ping` and `iperf3`. */
  run: CommandRunner;
  /** This process's uid (null: not allowed to ask). */
  uid: number | null;
  /** The run's namespace and veth names. */
  names: VethNames;
  /** Call `fn` on Ctrl-C or SIGTERM; returns how to stop listening. */
  onSignal(fn: () => void): () => void;
  /** End the process with `code` (after a signal, once the namespaces are gone). */
  exit(code: number): void;
  /** Send a signal to a process in the namespaces (after a signal; default `Deno.kill`). */
  kill?: Killer;
}

/** The real system: `Deno.Command`, `Deno.uid`, signal listeners. */
function systemVethDeps(): VethDeps {
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch {
    // Not allowed to ask: treated as not root.
  }
  return {
    run: systemRunner,
    uid,
    names: vethNames(Deno.pid, Math.random()),
    onSignal: onInterrupt,
    exit: (code) => Deno.exit(code),
  };
}

/**
 * Why the veth comparison cannot run here (one line), or null when it can: checked before the
 * labs run, so that the run's end says it at once.
 *
 * @example
 * ```ts ignore
 * const why = await vethPrerequisites(); // "it needs root to create network namespaces (uid 1000)"
 * ```
 */
export function vethPrerequisites(deps: VethDeps = systemVethDeps()): Promise<string | null> {
  return vethUnavailable(deps.run, deps.uid);
}

/**
 * The veth pair's side of `--vs-veth`, or why it did not run. A failure on the way (iperf3 or
 * ping failing) is a reason too, so that the labs' figures measured before are still reported;
 * on Ctrl-C or SIGTERM the namespaces are deleted before the process ends (exit code 130).
 *
 * @example
 * ```ts ignore
 * const outcome = await vethOutcome(options, (what) => console.error(what));
 * if (!outcome.ran) console.log(`veth comparison skipped: ${outcome.reason}`);
 * ```
 */
export async function vethOutcome(
  options: NetBenchOptions,
  progress: (what: string) => void,
  deps: VethDeps = systemVethDeps(),
): Promise<VethOutcome> {
  const reason = await vethUnavailable(deps.run, deps.uid);
  if (reason) return { ran: false, reason };
  progress("veth pair between two namespaces");
  const { names } = deps;
  let ending: Promise<void> | null = null;
  const stop = deps.onSignal(() => {
    // The namespaces and what runs in them (iperf3, ping) outlive the process: end them and
    // delete the namespaces, then end as the signal would.
    ending ??= endVethPair(deps.run, names, deps.kill).catch(() => {}).then(() => deps.exit(130));
  });
  try {
    const veth = await runVethBench(
      {
        frameSizes: options.frameSizes,
        seconds: options.seconds,
        warmupSeconds: options.warmupSeconds,
        pings: options.pings,
        pingIntervalMs: options.pingIntervalMs,
      },
      deps.run,
      names,
    );
    return { ran: true, veth };
  } catch (error) {
    return {
      ran: false,
      reason: `it failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  } finally {
    stop();
    // Interrupted: ending the pair's processes made the run fail; the process ends with 130 once
    // the pair is gone, not with that failure for an outcome (it printed "it failed", exit 0).
    if (ending !== null) await ending;
  }
}

/** `vlab bench net --json`: the report with every figure its text prints. */
export interface NetBenchJson extends Omit<NetBenchReport, "rows"> {
  /**
   * The rows; latency rows also carry `overPct`, `wakeFloorUs` and `cWakeFloorUs` (the table's
   * `over %`, `wake floor µs` and `C floor µs`).
   */
  rows: (
    | NetBenchRow
    | LatencyRow & {
      overPct: number | null;
      wakeFloorUs: number | null;
      cWakeFloorUs: number | null;
    }
  )[];
  /** The ratio lines under the throughput table. */
  comparisons: NetComparison[];
  /** Why the scale table's idle CPU is null in every row (its `idle CPU not measured:` line). */
  idleCpuSkipped?: string;
  /** With `--vs-veth`: the veth pair's figures and vlab's ratios to them, or why it skipped. */
  veth?: { ran: false; reason: string } | { ran: true; veth: VethReport; ratios: VethRatios };
}

/**
 * The report as `--json` prints it: the rows, the figures the text derives from them (a delayed
 * ping's `overPct`, each ping's `wakeFloorUs` and `cWakeFloorUs`, the `comparisons` under the
 * throughput table), and
 * with `--vs-veth` the veth outcome with vlab's `ratios` to it.
 *
 * @example
 * ```ts
 * import { netBenchJson } from "./bench_net.ts";
 * netBenchJson({ date: "", cpus: 2, options: {} as never, rows: [] }, null).comparisons; // []
 * ```
 */
export function netBenchJson(report: NetBenchReport, veth: VethOutcome | null): NetBenchJson {
  const lat = report.rows.filter((r): r is LatencyRow => r.kind === "latency");
  const tp = report.rows.filter((r): r is ThroughputRow => r.kind === "throughput");
  const rows = report.rows.map((r) =>
    r.kind === "latency"
      ? {
        ...r,
        overPct: delayOvershootPct(r, lat),
        wakeFloorUs: wakeFloorUs(r),
        cWakeFloorUs: cWakeFloorUs(r),
      }
      : r
  );
  const json: NetBenchJson = { ...report, rows, comparisons: netComparisons(tp) };
  // Beside the scale table, as its text prints it.
  const skipped = report.rows.some((r) => r.kind === "scale") && idleCpuSkipped(report.options);
  if (skipped) json.idleCpuSkipped = skipped;
  if (veth) json.veth = veth.ran ? { ...veth, ratios: vethRatios(report, veth.veth) } : veth;
  return json;
}

/**
 * What `vlab bench net` prints on stdout: the tables (and the veth comparison), or with `json`
 * {@linkcode netBenchJson}. With `incomplete` (why the run ended early) the report holds the rows
 * measured so far: the text ends with `incomplete: <why>`, the JSON has an `incomplete` key.
 *
 * @example
 * ```ts
 * import { formatNetOutput } from "./bench_net.ts";
 * const report = { date: "", cpus: 2, options: {} as never, rows: [] };
 * JSON.parse(formatNetOutput(report, null, true, "interrupted")).incomplete; // "interrupted"
 * ```
 */
export function formatNetOutput(
  report: NetBenchReport,
  veth: VethOutcome | null,
  json: boolean,
  incomplete?: string,
): string {
  return formatBenchOutput(report, netView(veth), { json, incomplete });
}

/** How `vlab bench net` prints a report: the tables and the veth comparison, or its JSON. */
function netView(veth: VethOutcome | null): BenchView<NetBenchReport> {
  return {
    text: (report) =>
      [formatNetReport(report), veth ? formatVethComparison(report, veth) : ""]
        .filter((p) => p !== "").join("\n\n"),
    json: (report) => netBenchJson(report, veth),
  };
}

/** The `net` subcommand of `vlab bench`. */
export function netCommand(): Command {
  const d = DEFAULT_NET_OPTIONS;
  return new Command("net")
    .description(
      "measure labs: VM-to-VM frames per second and Gbit/s (split and packed), the bare link " +
        "ring limit, ping at idle, up time and memory for N VMs, idle CPU",
    )
    .option("--layout <layout>", "split, packed or both", "both")
    .option(
      "--sizes <list>",
      `Ethernet frame sizes, ${rangeText(NET_RANGES.sizes)}`,
      d.frameSizes.join(","),
    )
    .option(
      "--seconds <n>",
      `seconds of flood per run, ${rangeText(NET_RANGES.seconds)}`,
      String(d.seconds),
    )
    .option(
      "--warmup <n>",
      `seconds of unmeasured flood (or pings) before each measured one, in the same lab, ${
        rangeText(NET_RANGES.warmup)
      } (0: none)`,
      String(d.warmupSeconds),
    )
    .option(
      "--runs <n>",
      `runs per point, ${rangeText(NET_RANGES.runs)} (medians are reported)`,
      String(d.runs),
    )
    .option(
      "--pings <n>",
      `pings per latency point, ${rangeText(NET_RANGES.pings)}`,
      String(d.pings),
    )
    .option(
      "--ping-interval <ms>",
      `milliseconds between two pings, ${
        rangeText(NET_RANGES.pingInterval)
      }, in every ping measured (the veth's too)`,
      String(DEFAULT_PING_INTERVAL_MS),
    )
    .option(
      "--delays <list>",
      `link delays (ms, each way, ${rangeText(NET_RANGES.delays)}) at which ping is measured`,
      d.delaysMs.join(","),
    )
    .option(
      "--scale <list>",
      `even lab sizes (VMs, ${
        rangeText(NET_RANGES.scale)
      }; N/2 linked pairs) for up time and memory, or none`,
      d.scale.join(","),
    )
    .option(
      "--idle-seconds <n>",
      `seconds of idle CPU measurement (16-VM lab), ${rangeText(NET_RANGES.idleSeconds)} (0 skips)`,
      String(d.idleSeconds),
    )
    .option(
      "--poll-us <n>",
      `the VMs' busy-poll budget (topology poll_us), µs, ${rangeText(NET_RANGES.pollUs)}`,
      String(d.pollUs),
    )
    .option(
      "--queue-size <n>",
      `queue size of the NICs, ${rangeText(NET_RANGES.queueSize)} (split: a power of 2)`,
      String(d.queueSize),
    )
    .option(
      "--dashboard",
      "measure instead what an attached dashboard costs: throughput and idle ping with and without one, and its CPU",
    )
    .option(
      "--star",
      "measure instead the star topology under two floods at once (more busy workers than cores)",
    )
    .option(
      "--beside-flood",
      "measure instead pings from a VM that floods the same link as fast as it can: how late they leave (pace), their round trips and loss",
    )
    .option(
      "--csum <list>",
      "checksum offload of the throughput labs' NICs: on, off, or off,on to measure what it saves",
      "on",
    )
    .option(
      "--placement <list>",
      "CPU placement of the throughput labs: auto, off, or auto,off to measure what placing each VM on one CPU buys",
      "auto",
    )
    .option(
      "--host-wait <list>",
      "how the throughput and ping labs' host workers sleep after work: hot, async, or hot,async to measure what blocking waits buy (default: the lab's, hot unless VLAB_HOT_MS=0)",
    )
    .option(
      "--guest-wait <list>",
      "how the throughput and ping labs' guests sleep after work while their workloads wait: hot, async, or hot,async to measure what blocking waits buy (default: the lab's, hot unless VLAB_HOT_MS=0)",
    )
    .option("--no-vhost-pci", "skip the virtio-net link vs vhost-pci link comparison")
    .option(
      "--vs-veth",
      "also measure a veth pair between two namespaces (needs root, ip, ping, iperf3) and print vlab's ratios",
    )
    .option("--json", "print the report as JSON")
    .action(async (raw) => {
      const options = parseNetOptions(raw);
      const json = raw.json === true;
      // Rows as they are measured: what a failed or interrupted run still reports.
      const rows: NetBenchRow[] = [];
      const partial = (): NetBenchReport => ({
        date: new Date().toISOString(),
        cpus: navigator.hardwareConcurrency,
        options,
        rows,
      });
      const print = (text: string) => writeAll(Deno.stdout, encoder.encode(text + "\n"));
      const bench = systemBenchDeps();
      const line = bench.line;
      // Ctrl-C during the veth run: the namespaces go first, then what was measured, marked.
      const system = raw.vsVeth ? systemVethDeps() : null;
      const deps: VethDeps | null = system && {
        ...system,
        exit: (code) => {
          line.done();
          const veth: VethOutcome = { ran: false, reason: INTERRUPTED };
          try {
            print(formatNetOutput(partial(), veth, json, INTERRUPTED));
          } finally {
            system.exit(code);
          }
        },
      };
      // A missing prerequisite is known before the labs run, and said at the end in one line.
      const missing = deps && await vethPrerequisites(deps);
      // The labs: on failure or a signal, the rows measured so far, marked incomplete.
      const report = await runBenchKeepingPartial({
        name: "net",
        json,
        hint: "Run it again with VLAB_DEBUG=1, or measure less (--sizes, --layout, --scale none)",
        view: netView(null),
        run: (progress) => runNetBench(options, progress, attachDashboard, rows),
        empty: () => rows.length > 0 || json ? partial() : null,
      }, bench);
      let veth: VethOutcome | null = null;
      try {
        if (deps) {
          veth = missing
            ? { ran: false, reason: missing }
            : await vethOutcome(options, line.progress, deps);
        }
      } finally {
        line.done();
      }
      print(formatNetOutput(report, veth, json));
    }) as unknown as Command;
}
