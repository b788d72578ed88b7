/**
 * The `--vs-veth` part of `vlab bench net`'s report: the veth pair's figures beside the lab's,
 * and vlab's ratio to each (frame rate and throughput: above 1 is vlab faster; ping: above 1 is
 * vlab slower). Pure text from two reports.
 *
 * @module
 */

import {
  cWakeFloorUs,
  DEFAULT_PING_INTERVAL_MS,
  type LatencyRow,
  type NetBenchReport,
  rowName,
  type ThroughputRow,
} from "./net.ts";
import type { VethReport } from "./veth.ts";

/** What `--vs-veth` adds to the report: the figures, or why it skipped. */
export type VethOutcome = { ran: true; veth: VethReport } | { ran: false; reason: string };

/**
 * The comparison as text: one line when it skipped, else two small tables.
 *
 * @example
 * ```ts
 * import { formatVethComparison } from "./veth_report.ts";
 * const report = { date: "", cpus: 2, options: {} as never, rows: [] };
 * formatVethComparison(report, { ran: false, reason: "iperf3 not found" });
 * // "veth comparison skipped: iperf3 not found"
 * ```
 */
export function formatVethComparison(report: NetBenchReport, outcome: VethOutcome): string {
  if (!outcome.ran) return `veth comparison skipped: ${outcome.reason}`;
  const { veth } = outcome;
  const tp = report.rows.filter((r): r is ThroughputRow => r.kind === "throughput");
  const lat = report.rows.filter((r): r is LatencyRow => r.kind === "latency" && r.delayMs === 0);
  // One column per throughput variant: with `--csum off,on`, `--placement auto,off` or
  // `--host-wait hot,async` a layout has a row per setting, each named as in the lab's table.
  const variantOf = (r: ThroughputRow) => rowName(r, tp);
  const variants = [...new Set(tp.map(variantOf))];
  const ratio = (x: number | undefined, y: number) =>
    x === undefined || !(y > 0) ? "-" : (x / y).toFixed(2);
  const table = (rows: string[][]) => {
    const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    return rows.map((r) => r.map((x, c) => c === 0 ? x.padEnd(w[c]) : x.padStart(w[c])).join("  "));
  };
  const every = report.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const lines = [
    `veth pair between two namespaces (iperf3 UDP, one flow; iputils ping every ${every} ms), ` +
    "same run",
    ...table([
      ["frame B", "veth Mpps", "veth Gbit/s", ...variants.map((l) => `${l}/veth`)],
      ...veth.throughput.map((v) => [
        String(v.frameSize),
        (v.pps / 1e6).toFixed(3),
        v.gbitPerSecond.toFixed(2),
        ...variants.map((l) =>
          ratio(tp.find((r) => variantOf(r) === l && r.frameSize === v.frameSize)?.pps, v.pps)
        ),
      ]),
    ]),
    "",
    ...table([
      ["ping at idle", "median µs", "p99 µs", "median/veth", "p99/veth", "C floor/veth"],
      ["veth", veth.rttMedianUs.toFixed(0), veth.rttP99Us.toFixed(0), "1.00", "1.00", "-"],
      ...lat.map((r) => [
        rowName(r, lat),
        r.rttMedianUs.toFixed(0),
        r.rttP99Us.toFixed(0),
        ratio(r.rttMedianUs, veth.rttMedianUs),
        ratio(r.rttP99Us, veth.rttP99Us),
        ratio(cWakeFloorUs(r) ?? undefined, veth.rttMedianUs),
      ]),
    ]),
  ];
  if (lat.some((r) => cWakeFloorUs(r) !== null)) {
    lines.push(
      "C floor/veth: the ping's wake-ups alone, at a C thread's price (the ping table's C floor " +
        "µs), over the veth's median",
    );
  }
  return lines.join("\n");
}

/** vlab's figures over the veth pair's, as the comparison's tables print them. */
export interface VethRatios {
  /** Per lab throughput row whose frame size the veth pair measured: its `pps` over the veth's. */
  throughput: {
    layout: ThroughputRow["layout"];
    csum: boolean;
    placement: NonNullable<ThroughputRow["placement"]>;
    hostWait?: ThroughputRow["hostWait"];
    guestWait?: ThroughputRow["guestWait"];
    frameSize: number;
    ppsRatio: number | null;
  }[];
  /**
   * Per idle ping row, its median and p99 over the veth's (above 1: vlab slower), and its C floor
   * (`cWakeFloorUs`) over the veth's median (null without one).
   */
  ping: {
    layout: LatencyRow["layout"];
    hostWait?: LatencyRow["hostWait"];
    guestWait?: LatencyRow["guestWait"];
    medianRatio: number | null;
    p99Ratio: number | null;
    cFloorRatio: number | null;
  }[];
}

/**
 * The ratios of {@linkcode formatVethComparison}'s tables as data, for `--json` (null where the
 * veth figure is 0).
 *
 * @example
 * ```ts
 * import { vethRatios } from "./veth_report.ts";
 * const report = { date: "", cpus: 2, options: {} as never, rows: [] };
 * vethRatios(report, { throughput: [], rttMedianUs: 50, rttP99Us: 90 }); // { throughput: [], ping: [] }
 * ```
 */
export function vethRatios(report: NetBenchReport, veth: VethReport): VethRatios {
  const over = (x: number, y: number) => y > 0 ? x / y : null;
  const throughput: VethRatios["throughput"] = [];
  for (const r of report.rows) {
    if (r.kind !== "throughput") continue;
    const v = veth.throughput.find((t) => t.frameSize === r.frameSize);
    if (!v) continue;
    throughput.push({
      layout: r.layout,
      csum: r.csum !== false,
      placement: r.placement ?? "auto",
      ...(r.hostWait ? { hostWait: r.hostWait } : {}),
      ...(r.guestWait ? { guestWait: r.guestWait } : {}),
      frameSize: r.frameSize,
      ppsRatio: over(r.pps, v.pps),
    });
  }
  const ping = report.rows
    .filter((r): r is LatencyRow => r.kind === "latency" && r.delayMs === 0)
    .map((r) => {
      const floor = cWakeFloorUs(r);
      return {
        layout: r.layout,
        ...(r.hostWait ? { hostWait: r.hostWait } : {}),
        ...(r.guestWait ? { guestWait: r.guestWait } : {}),
        medianRatio: over(r.rttMedianUs, veth.rttMedianUs),
        p99Ratio: over(r.rttP99Us, veth.rttP99Us),
        cFloorRatio: floor === null ? null : over(floor, veth.rttMedianUs),
      };
    });
  return { throughput, ping };
}
