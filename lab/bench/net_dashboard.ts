/**
 * The dashboard's cost to a lab (`vlab bench net --dashboard`): throughput runs with and
 * without a dashboard attached, interleaved, on the same lab shape; the difference of the
 * medians, and the dashboard's own CPU use (percent of one core, reported by the attached
 * `vlab dashboard --report-cpu` process).
 *
 * @module
 */

import type { RingLayout } from "../topology/types.ts";
import { type DashboardAttacher, throughputRun } from "./net_run.ts";

/** One dashboard-overhead point. */
export interface DashboardRow {
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
  /** Runs of each kind. */
  runs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

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
  o: { seconds: number; runs: number; pollUs: number; queueSize: number },
  attach: DashboardAttacher,
  progress: (what: string) => void = () => {},
): Promise<DashboardRow> {
  const without: number[] = [];
  const withIt: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    progress(`dashboard cost, ${layout} ${frameSize} B, run ${i + 1}/${o.runs} without`);
    without.push((await throughputRun(layout, frameSize, o.seconds, o.pollUs, o.queueSize)).pps);
    progress(`dashboard cost, ${layout} ${frameSize} B, run ${i + 1}/${o.runs} with`);
    const r = await throughputRun(layout, frameSize, o.seconds, o.pollUs, o.queueSize, attach);
    withIt.push(r.pps);
    cpu.push(r.dashboardCpuPct ?? NaN);
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
    runs: o.runs,
  };
}
