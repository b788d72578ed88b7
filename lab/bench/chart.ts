/**
 * The chart of `vlab bench rings`: nanoseconds per request (median, log scale) against batch size
 * (log 2 scale), one line per layout (and per mode when there are several; with `--vs-c` one per
 * layout of the C ring too), with the min–max
 * spread of the runs as error bars. Built as a vega-lite spec, compiled to vega and rendered to
 * an SVG string without a browser.
 *
 * @module
 */

import type * as vegaLite from "vega-lite";
import { renderVegaLiteSvg } from "../chart_svg.ts";
import type { RingsBenchReport } from "./types.ts";
import { checkRingsReport } from "./report.ts";

/** The chart's title. */
export const RINGS_CHART_TITLE = "vlab bench rings: ns per request vs batch size";

/** One plotted point. */
interface ChartPoint {
  layout: string;
  mode: string;
  batch: number;
  median: number;
  min: number;
  max: number;
}

/**
 * The vega-lite spec of the chart for a report (exported for tests and for other renderers).
 *
 * @example
 * ```ts
 * import { ringsChartSpec } from "./chart.ts";
 * import { DEFAULT_RINGS_OPTIONS } from "./rings.ts";
 *
 * const spec = ringsChartSpec({
 *   options: DEFAULT_RINGS_OPTIONS,
 *   environment: { deno: "2.9.6", v8: "15.0", cpus: 2, cpuModel: "AMD EPYC" },
 *   results: [],
 * });
 * ```
 */
export function ringsChartSpec(report: RingsBenchReport): vegaLite.TopLevelSpec {
  checkRingsReport("ringsChartSpec", report);
  const modes = new Set(report.results.map((row) => row.mode));
  // With --vs-c, the C ring's figures are one more line per layout ("C split", "C packed").
  const series = report.results.flatMap((row) => [
    { layout: row.layout as string, mode: row.mode, batch: row.batch, ns: row.nsPerRequest },
    ...(row.c === undefined
      ? []
      : [{ layout: `C ${row.layout}`, mode: row.mode, batch: row.batch, ns: row.c.nsPerRequest }]),
  ]);
  const points: ChartPoint[] = series
    .filter((s) => s.ns.median > 0 && s.batch > 0)
    .map((s) => ({
      layout: s.layout,
      mode: s.mode,
      batch: s.batch,
      median: s.ns.median,
      // Keep the error bar on the log scale even if a run measured 0.
      min: Math.max(s.ns.min, s.ns.median / 1000),
      max: s.ns.max,
    }));
  const env = report.environment;
  const o = report.options;
  const x = {
    field: "batch",
    type: "quantitative",
    title: "batch size (requests)",
    scale: { type: "log", base: 2 },
    axis: { values: [...new Set(points.map((p) => p.batch))].sort((a, b) => a - b) },
  } as const;
  const layouts = ["split", "packed", "C split", "C packed"].filter((layout) =>
    points.some((p) => p.layout === layout)
  );
  const color = {
    field: "layout",
    type: "nominal",
    title: "layout",
    scale: { domain: layouts },
  } as const;
  // One line per layout and mode: dashed lines for notify when both modes are shown.
  const strokeDash = modes.size > 1
    ? {
      strokeDash: {
        field: "mode",
        type: "nominal",
        title: "mode",
        scale: { domain: ["poll", "notify"], range: [[1, 0], [6, 3]] },
        legend: {
          symbolType: "stroke",
          symbolStrokeWidth: 2,
          encode: { symbols: { update: { stroke: { value: "gray" } } } },
        },
      },
    } as const
    : {};
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: RINGS_CHART_TITLE,
      subtitle:
        `queue size ${o.queueSize}, ${o.runs} run${
          o.runs === 1 ? "" : "s"
        } of ${o.requests} requests; ` +
        `Deno ${env.deno}, ${env.cpus} CPUs (${env.cpuModel})`,
    },
    width: 560,
    height: 320,
    background: "white",
    data: { values: points },
    layer: [
      {
        mark: { type: "rule" },
        encoding: {
          x,
          y: { field: "min", type: "quantitative" },
          y2: { field: "max" },
          color,
        },
      },
      {
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: {
            field: "median",
            type: "quantitative",
            title: "ns per request (median, min–max)",
            scale: { type: "log" },
          },
          color,
          ...strokeDash,
        },
      },
    ],
  };
}

/**
 * Render the chart of a report as an SVG document (a string starting with `<svg`).
 *
 * @example
 * ```ts
 * import { renderRingsChart } from "./chart.ts";
 * import { DEFAULT_RINGS_OPTIONS } from "./rings.ts";
 *
 * const svg = await renderRingsChart({
 *   options: DEFAULT_RINGS_OPTIONS,
 *   environment: { deno: "2.9.6", v8: "15.0", cpus: 2, cpuModel: "AMD EPYC" },
 *   results: [],
 * });
 * svg.startsWith("<svg"); // true: write it to a file, or serve it
 * ```
 */
export async function renderRingsChart(report: RingsBenchReport): Promise<string> {
  checkRingsReport("renderRingsChart", report);
  return await renderVegaLiteSvg(ringsChartSpec(report));
}
