/**
 * `vlab bench iommu`: the cost of the vIOMMU on the data path. For each DMA mode (`strict`,
 * `lazy`, `static`, `passthrough`) and without a vIOMMU (`none`), on each frame size, a fresh pair
 * floods `frames` UDP frames from a to b at full speed, the modes alternating run by run; the row
 * is the median rate over `runs` and the median of each run's ratio to the same run's `none`. Rows behind
 * the vIOMMU give the IOTLB hit rate of a's NIC. After each `static` run, a's NIC window is
 * revoked once (`iommu-unmap`): the UNMAP-to-flushed times (request sent → every IOTLB dropped
 * the entry → completion) give a median and p99. A benchmark, not a test: the lead runs it; the
 * smoke test runs tiny sizes.
 *
 * @module
 */

import { openViews, readIotlbCounters } from "../../devices/iommu/mod.ts";
import { Lab } from "../lab.ts";
import { planLab } from "../plan.ts";
import { topologyFromObject } from "../topology/mod.ts";
import { execOk, median } from "./net_run.ts";

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
}

/** The defaults of `vlab bench iommu`. */
export const DEFAULT_IOMMU_OPTIONS: IommuBenchOptions = {
  modes: ["none", "strict", "lazy", "static", "passthrough"],
  frameSizes: [64, 1500],
  frames: 200_000,
  runs: 3,
};

/** One mode at one frame size. */
export interface IommuBenchRow {
  /** The mode. */
  mode: IommuBenchMode;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** Median frames per second sent by a (every frame reached b's sink, or the run failed). */
  pps: number;
  /** The median over runs of this mode's rate over the same run's `none` rate, same size. */
  ratio: number;
  /** IOTLB hits over translations of a's NIC (null without a vIOMMU). */
  iotlbHitRate: number | null;
}

/** What `runIommuBench` measured. */
export interface IommuBenchReport {
  /** One row per mode and size. */
  rows: IommuBenchRow[];
  /** UNMAP-to-flushed times, ms (one per `static` run). */
  unmapFlushedMs: { median: number; p99: number; samples: number };
  /** Modes the lab cannot run (none today; kept for report readers). */
  notMeasured: string[];
}

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

async function oneRun(
  mode: IommuBenchMode,
  frameSize: number,
  frames: number,
): Promise<{ pps: number; hitRate: number | null; flushedMs: number | null }> {
  const lab = await Lab.start(plan(mode));
  try {
    await execOk(lab, "a", ["ping", "10.0.0.2", "-c", "1"]);
    const stopSink = new AbortController();
    const sink = lab.exec("b", ["sink", "-t", "0"], stopSink.signal);
    const flood = await execOk(lab, "a", [
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
    return { pps: flood.pps, hitRate, flushedMs };
  } finally {
    await lab.stop();
  }
}

/**
 * Run the bench; `progress` hears a line per run.
 *
 * @example
 * ```ts ignore
 * import { runIommuBench } from "./iommu.ts";
 * const r = await runIommuBench({ modes: ["none", "static"], frameSizes: [64], frames: 1000, runs: 1 });
 * r.rows[1].ratio; // static's rate over none's
 * ```
 */
export async function runIommuBench(
  opts: IommuBenchOptions,
  progress: (line: string) => void = () => {},
): Promise<IommuBenchReport> {
  const modes: IommuBenchMode[] = ["none", ...opts.modes.filter((m) => m !== "none")];
  const rows: IommuBenchRow[] = [];
  const flushed: number[] = [];
  for (const frameSize of opts.frameSizes) {
    // Modes alternate run by run (none, strict, …, none, strict, …), so that a machine whose
    // speed drifts during the benchmark weighs on every mode alike; each run's rate is divided
    // by the same run's rate without a vIOMMU, and the row's ratio is the median of those.
    const pps = new Map<IommuBenchMode, number[]>(modes.map((m) => [m, []]));
    const hits = new Map<IommuBenchMode, number[]>(modes.map((m) => [m, []]));
    for (let run = 0; run < opts.runs; run++) {
      for (const mode of modes) {
        progress(`iommu ${mode} ${frameSize} B run ${run + 1}/${opts.runs}`);
        const r = await oneRun(mode, frameSize, opts.frames);
        pps.get(mode)!.push(r.pps);
        if (r.hitRate !== null) hits.get(mode)!.push(r.hitRate);
        if (r.flushedMs !== null) flushed.push(r.flushedMs);
      }
    }
    const base = pps.get("none")!;
    for (const mode of modes) {
      const p = pps.get(mode)!;
      const h = hits.get(mode)!;
      rows.push({
        mode,
        frameSize,
        pps: median(p),
        ratio: median(p.map((v, i) => v / base[i])),
        iotlbHitRate: h.length > 0 ? median(h) : null,
      });
    }
  }
  return {
    rows,
    unmapFlushedMs: {
      median: median(flushed),
      p99: percentile(flushed, 99),
      samples: flushed.length,
    },
    notMeasured: [],
  };
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
  const lines = ["mode         frame  pps         vs none  IOTLB hit rate"];
  for (const row of r.rows) {
    lines.push(
      [
        row.mode.padEnd(12),
        `${row.frameSize} B`.padEnd(6),
        Math.round(row.pps).toString().padEnd(11),
        `${(row.ratio * 100).toFixed(1)} %`.padEnd(8),
        row.iotlbHitRate === null ? "-" : `${(row.iotlbHitRate * 100).toFixed(2)} %`,
      ].join(" "),
    );
  }
  const u = r.unmapFlushedMs;
  lines.push(
    `UNMAP to flushed: median ${u.median.toFixed(3)} ms, p99 ${
      u.p99.toFixed(3)
    } ms (${u.samples} samples)`,
  );
  if (r.notMeasured.length > 0) {
    lines.push(`not measured (not wired into the lab yet): ${r.notMeasured.join(", ")}`);
  }
  return lines.join("\n");
}
