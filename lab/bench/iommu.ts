/**
 * `vlab bench iommu`: the cost of the vIOMMU on the data path. For each DMA mode (`strict`,
 * `lazy`, `static`, `passthrough`) and without a vIOMMU (`none`), on each frame size, a fresh pair
 * first floods UDP frames from a to b for `warmupSeconds` (not measured: a fresh lab's first
 * second moves frames at half its later rate or less while its workers compile their hot code,
 * as `vlab bench net` found; its `warmUp`, on a port of its own), then `frames` more at full
 * speed, measured. The modes alternate run by run, each round starting one mode further (so that no
 * mode always runs right after another), and each run's rate is divided by the same round's
 * `none` rate: the row gives the median rate, the median of those paired ratios and a
 * distribution-free confidence interval of that median (order statistics), and says whether the
 * interval lies above 95 % of `none` (within 5 %), below it, or across it (undecided: more runs).
 * Rows behind the vIOMMU give the IOTLB hit rate of a's NIC. After each `static` run, a's NIC
 * window is revoked once (`iommu-unmap`): the UNMAP-to-flushed times (request sent → every IOTLB
 * dropped the entry → completion) give a median and p99. The load average before and after is
 * reported (other work on the machine shows there). A benchmark, not a test: the lead runs it;
 * the smoke test runs tiny sizes.
 *
 * @module
 */

import { openViews, readIotlbCounters } from "../../devices/iommu/mod.ts";
import { Lab } from "../lab.ts";
import { planLab } from "../plan.ts";
import { topologyFromObject } from "../topology/mod.ts";
import { execOk, median, roundOrder, warmUp } from "./net_run.ts";

/** A mode of the bench: a DMA mode, or no vIOMMU. */
export type IommuBenchMode = "none" | "strict" | "lazy" | "static" | "passthrough";

/** Options of `runIommuBench`. */
export interface IommuBenchOptions {
  /** Modes to measure (`none` is added if missing: ratios need it). */
  modes: IommuBenchMode[];
  /** Ethernet frame sizes. */
  frameSizes: number[];
  /** Frames per run. */
  frames: number;
  /** Runs per mode and size (the median is kept). */
  runs: number;
  /** Seconds of flood before each measured flood, not measured (0: none). */
  warmupSeconds: number;
}

/** The defaults of `vlab bench iommu`. */
export const DEFAULT_IOMMU_OPTIONS: IommuBenchOptions = {
  modes: ["none", "strict", "lazy", "static", "passthrough"],
  frameSizes: [64, 1500],
  frames: 200_000,
  runs: 6,
  warmupSeconds: 1,
};

/** The confidence the interval of each row's ratio aims at. */
export const RATIO_CONFIDENCE = 0.95;
/** The issue's bound: a mode within 5 % of no vIOMMU keeps at least this ratio. */
export const TARGET_RATIO = 0.95;

/** One mode at one frame size. */
export interface IommuBenchRow {
  /** The mode. */
  mode: IommuBenchMode;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** Median frames per second sent by a (every frame reached b's sink, or the run failed). */
  pps: number;
  /** The median over runs of this mode's rate over the same round's `none` rate, same size. */
  ratio: number;
  /** Each round's ratio, in run order. */
  ratios: number[];
  /** A confidence interval of the median ratio (see `medianInterval`). */
  interval: MedianInterval;
  /** Where the interval lies against `TARGET_RATIO` (null for `none`). */
  verdict: Verdict | null;
  /** IOTLB hits over translations of a's NIC (null without a vIOMMU). */
  iotlbHitRate: number | null;
}

/** What `runIommuBench` measured. */
export interface IommuBenchReport {
  /** One row per mode and size. */
  rows: IommuBenchRow[];
  /** UNMAP-to-flushed times, ms (one per `static` run; median and p99 null without one). */
  unmapFlushedMs: { median: number | null; p99: number | null; samples: number };
  /** Modes the lab cannot run (none today; kept for report readers). */
  notMeasured: string[];
  /** The 1-minute load average before and after the runs (null where the OS does not say). */
  load?: { before: number; after: number } | null;
  /** The options the runs used. */
  options?: IommuBenchOptions;
}

/**
 * A distribution-free confidence interval of a median: the k-th smallest and k-th largest of
 * the samples, with k the largest for which the interval still covers the true median with
 * probability `coverage` ≥ the confidence asked (binomial order statistics); with too few samples
 * for that confidence, the widest interval (min, max) and the coverage it has.
 */
export interface MedianInterval {
  /** Lower bound (the k-th smallest sample). */
  low: number;
  /** Upper bound (the k-th largest sample). */
  high: number;
  /** Probability that such an interval covers the median (0 with fewer than 2 samples). */
  coverage: number;
}

/**
 * `within`: the interval lies at or above the target (the cost is at most 5 %); `over`: it lies
 * below (the cost is more than 5 %); `undecided`: it contains the target, or too few runs give
 * it the confidence asked.
 */
export type Verdict = "within" | "over" | "undecided";

function plan(mode: IommuBenchMode) {
  const nic = (ip: string) => ({ ip, ...(mode === "none" ? {} : { iommu: true }) });
  const vm = (ip: string) => ({
    ...(mode === "none" ? {} : { iommu: { mode } }),
    nics: { eth0: nic(ip) },
  });
  const t = topologyFromObject({
    name: `bench-iommu-${mode}`,
    vms: { a: vm("10.0.0.1/24"), b: vm("10.0.0.2/24") },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  }, `<bench iommu ${mode}>`);
  if (!t.ok) throw new Error(`bench topology: ${t.error.map((i) => i.message).join("; ")}`);
  return planLab(t.value);
}

/** The p-th percentile (0..100) of a list, nearest rank (NaN when empty). */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/**
 * The confidence interval of the median of `xs` by order statistics (see `MedianInterval`).
 *
 * @example
 * ```ts
 * import { medianInterval } from "./iommu.ts";
 * medianInterval([0.97, 0.99, 1.01, 0.96, 1.0, 0.98, 1.02, 0.95], 0.95);
 * // { low: 0.95, high: 1.02, coverage: 0.9921875 }: with 8 samples only (min, max) reaches 95 %
 * ```
 */
export function medianInterval(xs: number[], confidence: number): MedianInterval {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { low: NaN, high: NaN, coverage: 0 };
  if (n === 1) return { low: s[0], high: s[0], coverage: 0 };
  // P(the k-th smallest ≤ median ≤ the k-th largest) = 1 − 2·P(Binomial(n, ½) ≤ k − 1).
  const tail = (k: number): number => {
    let sum = 0;
    let c = 1; // C(n, 0)
    for (let i = 0; i < k; i++) {
      sum += c;
      c = (c * (n - i)) / (i + 1);
    }
    return sum / 2 ** n;
  };
  let k = 1;
  while (k + 1 <= Math.floor(n / 2) && 1 - 2 * tail(k + 1) >= confidence) k++;
  return { low: s[k - 1], high: s[n - k], coverage: 1 - 2 * tail(k) };
}

/**
 * Where `interval` lies against `target`; `undecided` when its coverage is below `confidence`.
 *
 * @example
 * ```ts
 * import { verdictOf } from "./iommu.ts";
 * verdictOf({ low: 0.96, high: 1.01, coverage: 0.96 }, 0.95, 0.95); // "within"
 * ```
 */
export function verdictOf(interval: MedianInterval, target: number, confidence: number): Verdict {
  if (!(interval.coverage >= confidence)) return "undecided";
  if (interval.low >= target) return "within";
  if (interval.high < target) return "over";
  return "undecided";
}

/** The 1-minute load average, or null where the OS does not say. */
function loadAverage(): number | null {
  try {
    return Deno.loadavg()[0];
  } catch {
    return null;
  }
}

async function oneRun(
  mode: IommuBenchMode,
  frameSize: number,
  frames: number,
  warmupSeconds: number,
): Promise<{ pps: number; hitRate: number | null; flushedMs: number | null }> {
  const lab = await Lab.start(plan(mode));
  try {
    await execOk(lab, "a", ["ping", "10.0.0.2", "-c", "1"]);
    await warmUp(lab, [{ from: "a", to: "b", dst: "10.0.0.2" }], frameSize, warmupSeconds);
    const stopSink = new AbortController();
    const sink = (await lab.spawn("b", ["sink", "-t", "0"], stopSink.signal)).result;
    const measured = await execOk(lab, "a", [
      "udp-flood",
      "10.0.0.2",
      "--max",
      "-n",
      String(frames),
      "-s",
      String(frameSize),
    ]);
    let hitRate: number | null = null;
    const buf = lab.iommuOf(0);
    if (buf !== null) {
      const c = readIotlbCounters(openViews(buf), 0);
      hitRate = c.hits + c.misses > 0 ? c.hits / (c.hits + c.misses) : 0;
    }
    let flushedMs: number | null = null;
    if (mode === "static") {
      flushedMs = (await execOk(lab, "a", ["iommu-unmap", "eth0"])).flushedMs;
    }
    stopSink.abort();
    await sink;
    return { pps: measured.pps, hitRate, flushedMs };
  } finally {
    await lab.stop();
  }
}

/**
 * Run the bench; `progress` hears a line per run, `partial` the report of the whole rounds
 * measured so far after each round (what an interrupted or failed run still prints).
 *
 * @example
 * ```ts ignore
 * import { runIommuBench } from "./iommu.ts";
 * const r = await runIommuBench({
 *   modes: ["none", "static"], frameSizes: [64], frames: 1000, runs: 1, warmupSeconds: 0,
 * });
 * r.rows[1].ratio; // static's rate over none's
 * ```
 */
export async function runIommuBench(
  opts: IommuBenchOptions,
  progress: (line: string) => void = () => {},
  partial: (soFar: IommuBenchReport) => void = () => {},
): Promise<IommuBenchReport> {
  const modes: IommuBenchMode[] = ["none", ...opts.modes.filter((m) => m !== "none")];
  const rows: IommuBenchRow[] = [];
  const flushed: number[] = [];
  const before = loadAverage();
  const report = (rowsSoFar: IommuBenchRow[]): IommuBenchReport => {
    const after = loadAverage();
    return {
      rows: rowsSoFar,
      unmapFlushedMs: {
        median: flushed.length > 0 ? median(flushed) : null,
        p99: flushed.length > 0 ? percentile(flushed, 99) : null,
        samples: flushed.length,
      },
      notMeasured: [],
      load: before === null || after === null ? null : { before, after },
      options: opts,
    };
  };
  for (const frameSize of opts.frameSizes) {
    // Modes alternate run by run (none, strict, …, then strict, …, none, …), so that a machine
    // whose speed drifts during the benchmark weighs on every mode alike; each run's rate is
    // divided by the same round's rate without a vIOMMU, and the row's ratio is the median.
    const pps = new Map<IommuBenchMode, number[]>(modes.map((m) => [m, []]));
    const hits = new Map<IommuBenchMode, number[]>(modes.map((m) => [m, []]));
    for (let run = 0; run < opts.runs; run++) {
      for (const mode of roundOrder(modes, run)) {
        progress(`iommu ${mode} ${frameSize} B run ${run + 1}/${opts.runs}`);
        const r = await oneRun(mode, frameSize, opts.frames, opts.warmupSeconds);
        pps.get(mode)!.push(r.pps);
        if (r.hitRate !== null) hits.get(mode)!.push(r.hitRate);
        if (r.flushedMs !== null) flushed.push(r.flushedMs);
      }
      // A whole round is measured: this size's rows over the rounds so far.
      if (run + 1 < opts.runs) {
        partial(report([...rows, ...iommuRows(frameSize, modes, pps, hits)]));
      }
    }
    rows.push(...iommuRows(frameSize, modes, pps, hits));
    partial(report([...rows]));
  }
  return report(rows);
}

/**
 * One row per mode at one frame size, from the rates and hit rates of the whole rounds measured
 * (each mode has as many rates as `none`).
 */
function iommuRows(
  frameSize: number,
  modes: readonly IommuBenchMode[],
  pps: Map<IommuBenchMode, number[]>,
  hits: Map<IommuBenchMode, number[]>,
): IommuBenchRow[] {
  const base = pps.get("none")!;
  return modes.map((mode) => {
    const p = pps.get(mode)!;
    const h = hits.get(mode)!;
    const ratios = p.map((v, i) => v / base[i]);
    const interval = medianInterval(ratios, RATIO_CONFIDENCE);
    return {
      mode,
      frameSize,
      pps: median(p),
      ratio: median(ratios),
      ratios,
      interval,
      verdict: mode === "none" ? null : verdictOf(interval, TARGET_RATIO, RATIO_CONFIDENCE),
      iotlbHitRate: h.length > 0 ? median(h) : null,
    };
  });
}

/**
 * The report as text.
 *
 * @example
 * ```ts
 * import { formatIommuReport } from "./iommu.ts";
 * formatIommuReport({ rows: [], unmapFlushedMs: { median: 0.2, p99: 0.4, samples: 3 },
 *   notMeasured: [] }).includes("UNMAP"); // true
 * ```
 */
export function formatIommuReport(r: IommuBenchReport): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}`;
  const lines = [
    "mode         frame   pps       vs none   interval of vs none    5 % target  IOTLB hit rate",
  ];
  for (const row of r.rows) {
    const iv = row.interval;
    const interval = row.verdict === null || !(iv.coverage > 0)
      ? "-"
      : `${pct(iv.low)}–${pct(iv.high)} % (${pct(iv.coverage)} %)`;
    lines.push(
      [
        row.mode.padEnd(12),
        `${row.frameSize} B`.padEnd(7),
        Math.round(row.pps).toString().padEnd(9),
        `${pct(row.ratio)} %`.padEnd(9),
        interval.padEnd(22),
        (row.verdict ?? "-").padEnd(11),
        row.iotlbHitRate === null ? "-" : `${(row.iotlbHitRate * 100).toFixed(2)} %`,
      ].join(" "),
    );
  }
  const u = r.unmapFlushedMs;
  lines.push(
    u.median === null || u.p99 === null
      ? "UNMAP to flushed: not measured (it is timed once per static run)"
      : `UNMAP to flushed: median ${u.median.toFixed(3)} ms, p99 ${
        u.p99.toFixed(3)
      } ms (${u.samples} samples)`,
  );
  const o = r.options;
  if (o) {
    // A run cut short (Ctrl-C, a failure) reports its last size over the rounds it completed:
    // say how many, not only the runs asked.
    const short = [...new Set(r.rows.map((row) => row.frameSize))].flatMap((size) => {
      const done = Math.min(
        ...r.rows.filter((row) => row.frameSize === size).map((row) => row.ratios.length),
      );
      return done < o.runs ? [`${size} B: ${done} of ${o.runs}`] : [];
    });
    lines.push(
      `${o.runs} run${o.runs === 1 ? "" : "s"} per mode and size${
        short.length > 0 ? ` (${short.join("; ")}, cut short)` : ""
      }, ${o.frames} frames each after ${o.warmupSeconds} s ` +
        "of warm-up in the same lab; vs none: median of the runs' ratios to the same round's none",
    );
  }
  lines.push(
    `interval: order-statistic confidence interval of that median (its coverage in brackets); ` +
      `within: the interval lies at or above ${pct(TARGET_RATIO)} %, over: below it, ` +
      `undecided: across it, or a coverage below ${pct(RATIO_CONFIDENCE)} % (more runs)`,
  );
  if (r.load) {
    lines.push(
      `load average (1 min): ${r.load.before.toFixed(2)} before, ${r.load.after.toFixed(2)} after`,
    );
  }
  if (r.notMeasured.length > 0) {
    lines.push(`not measured (not wired into the lab yet): ${r.notMeasured.join(", ")}`);
  }
  return lines.join("\n");
}
