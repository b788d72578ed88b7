/**
 * The dashboard's cost to a lab (`vlab bench net --dashboard`): throughput runs with and
 * without a dashboard attached, interleaved, on the same lab shape; the difference of the
 * medians, and the dashboard's own CPU use (percent of one core, reported by the attached
 * `vlab dashboard --report-cpu` process); and ping at idle with and without one, interleaved
 * the same way (the speed issue asks for the idle ping's target both ways).
 *
 * @module
 */

import type { RingLayout } from "../topology/types.ts";
import {
  type DashboardAttacher,
  type DashboardUse,
  median,
  pingRun,
  roundOrder,
  throughputRun,
} from "./net_run.ts";

/** How the attached dashboards ran: the priority they took, and their time in their idle group. */
export interface DashboardPriority {
  /** The priority the dashboard took ("idle group", "idle", "nice N", "normal"; the last run's). */
  dashboardPriority: string;
  /** The share of the measured windows it spent in its idle CPU group, percent (median of runs). */
  dashboardGroupPct: number;
}

/**
 * A table cell for how the dashboards ran: the priority they took, and with an idle group the
 * share of the windows they spent in it when they left it for part of them ("idle group 40%").
 *
 * @example
 * ```ts
 * priorityCell({ dashboardPriority: "idle group", dashboardGroupPct: 41.7 }); // "idle group 42%"
 * priorityCell({ dashboardPriority: "idle", dashboardGroupPct: 0 }); // "idle"
 * ```
 */
export function priorityCell(r: DashboardPriority): string {
  if (r.dashboardPriority !== "idle group") return r.dashboardPriority;
  const pct = Math.round(r.dashboardGroupPct);
  return pct >= 100 ? "idle group" : `idle group ${pct}%`;
}

/** The priority of the dashboards of `runs` (see {@linkcode DashboardPriority}). */
function priorityOf(runs: readonly (DashboardUse | null)[]): DashboardPriority {
  const used = runs.filter((u) => u !== null);
  return {
    dashboardPriority: used.at(-1)?.priority ?? "unknown",
    dashboardGroupPct: used.length > 0 ? median(used.map((u) => u.groupPct)) : NaN,
  };
}

/** One dashboard-overhead point. */
export interface DashboardRow extends DashboardPriority {
  /** Row kind. */
  kind: "dashboard";
  /** Ring layout. */
  layout: RingLayout;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** Received pps without a dashboard (median). */
  ppsWithout: number;
  /** Received pps with a dashboard attached (median). */
  ppsWith: number;
  /** (ppsWith − ppsWithout) / ppsWithout, percent. */
  deltaPct: number;
  /** The dashboard process's CPU use, percent of one core (median). */
  dashboardCpuPct: number;
  /** New snapshots the dashboard drew a second during the flood (median; 10 when never late). */
  dashboardUpdatesPerSecond: number;
  /** What the dashboard drew into: a terminal's size ("160x50"), or "none" (80×24). */
  terminal: string;
  /** Runs of each kind. */
  runs: number;
}

/**
 * Measure the dashboard's cost at one point.
 *
 * @example
 * ```ts ignore
 * const row = await dashboardOverhead("split", 64, { seconds: 2, runs: 3, pollUs: 0, queueSize: 256 }, attach);
 * ```
 */
export async function dashboardOverhead(
  layout: RingLayout,
  frameSize: number,
  o: { seconds: number; warmupSeconds?: number; runs: number; pollUs: number; queueSize: number },
  attach: DashboardAttacher,
  progress: (what: string) => void = () => {},
): Promise<DashboardRow> {
  const without: number[] = [];
  const withIt: number[] = [];
  const cpu: number[] = [];
  const updates: number[] = [];
  const uses: (DashboardUse | null)[] = [];
  let terminal = "none";
  const run = { ...o, warmupSeconds: o.warmupSeconds ?? 0, layout, frameSize };
  for (let i = 0; i < o.runs; i++) {
    // Without and with lead a run in turn (`roundOrder`).
    for (const attached of roundOrder([false, true], i)) {
      progress(
        `dashboard cost, ${layout} ${frameSize} B, run ${i + 1}/${o.runs} ${
          attached ? "with" : "without"
        }`,
      );
      if (!attached) {
        without.push((await throughputRun(run)).pps);
        continue;
      }
      const r = await throughputRun(run, attach);
      withIt.push(r.pps);
      cpu.push(r.dashboard?.cpuPct ?? NaN);
      updates.push(r.dashboard?.updatesPerSecond ?? NaN);
      terminal = r.dashboard?.terminal ?? terminal;
      uses.push(r.dashboard);
    }
  }
  const ppsWithout = median(without);
  const ppsWith = median(withIt);
  return {
    kind: "dashboard",
    layout,
    frameSize,
    ppsWithout,
    ppsWith,
    deltaPct: 100 * (ppsWith - ppsWithout) / ppsWithout,
    dashboardCpuPct: median(cpu),
    dashboardUpdatesPerSecond: median(updates),
    terminal,
    ...priorityOf(uses),
    runs: o.runs,
  };
}

/** Idle ping with and without a dashboard attached, one layout. */
export interface DashboardPingRow extends DashboardPriority {
  /** Row kind. */
  kind: "dashboard-ping";
  /** Ring layout. */
  layout: RingLayout;
  /** Pings per run. */
  count: number;
  /** Median round trip without a dashboard, µs (median over runs). */
  medianUsWithout: number;
  /** Median round trip with a dashboard attached, µs (median over runs). */
  medianUsWith: number;
  /** 99th percentile without, µs (median over runs). */
  p99UsWithout: number;
  /** 99th percentile with, µs (median over runs). */
  p99UsWith: number;
  /** Runs of each kind. */
  runs: number;
}

/**
 * Measure idle ping with and without a dashboard attached, runs alternated.
 *
 * @example
 * ```ts ignore
 * const row = await dashboardPing("split", { pings: 200, runs: 3, pollUs: 0, queueSize: 256 }, attach);
 * ```
 */
export async function dashboardPing(
  layout: RingLayout,
  o: {
    pings: number;
    pingIntervalMs?: number;
    warmupSeconds?: number;
    runs: number;
    pollUs: number;
    queueSize: number;
  },
  attach: DashboardAttacher,
  progress: (what: string) => void = () => {},
): Promise<DashboardPingRow> {
  const run = {
    ...o,
    layout,
    count: o.pings,
    intervalMs: o.pingIntervalMs,
    delayMs: 0,
    warmupSeconds: o.warmupSeconds ?? 0,
  };
  const without: { medianUs: number; p99Us: number }[] = [];
  const withIt: { medianUs: number; p99Us: number; dashboard: DashboardUse | null }[] = [];
  for (let i = 0; i < o.runs; i++) {
    for (const attached of roundOrder([false, true], i)) {
      const what = attached ? "with" : "without";
      progress(`ping and the dashboard, ${layout}, run ${i + 1}/${o.runs} ${what}`);
      (attached ? withIt : without).push(await pingRun(run, attached ? attach : undefined));
    }
  }
  return {
    kind: "dashboard-ping",
    layout,
    count: o.pings,
    medianUsWithout: median(without.map((r) => r.medianUs)),
    medianUsWith: median(withIt.map((r) => r.medianUs)),
    p99UsWithout: median(without.map((r) => r.p99Us)),
    p99UsWith: median(withIt.map((r) => r.p99Us)),
    ...priorityOf(withIt.map((r) => r.dashboard)),
    runs: o.runs,
  };
}
