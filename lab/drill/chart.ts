/**
 * The chart of a drill report, drawn with vega-lite and rendered to SVG without a browser (as
 * `lab/bench/chart.ts` does): recovery time per fault when the drill measured recovery times,
 * otherwise the timeline (each step run as a bar from its start to its end).
 *
 * @module
 */

import type * as vegaLite from "vega-lite";
import { renderVegaLiteSvg } from "../chart_svg.ts";
import type { DrillResult } from "./types.ts";
import { checkDrillResult } from "./check.ts";

/**
 * The vega-lite spec of a drill's chart.
 *
 * @example
 * ```ts
 * import { drillChartSpec } from "./chart.ts";
 * const spec = drillChartSpec({ name: "d", seed: 1, steps: [], recovery: [] });
 * spec.title; // "drill d (seed 1): timeline"
 * ```
 */
export function drillChartSpec(
  result: Pick<DrillResult, "name" | "seed" | "steps" | "recovery">,
): vegaLite.TopLevelSpec & { title: string } {
  checkDrillResult("drillChartSpec", result, ["name", "seed", "steps", "recovery"]);
  // Numbered among all the faults, so that one that never recovered leaves its gap (and the
  // title counts it) rather than vanishing from the chart.
  const measured = result.recovery.flatMap((r, i) => r.ms === null ? [] : [{ ...r, fault: i + 1 }]);
  const unrecovered = result.recovery.length - measured.length;
  if (measured.length > 0) {
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: `drill ${result.name} (seed ${result.seed}): recovery time per fault${
        unrecovered === 0 ? "" : `; ${unrecovered} not recovered (no bar)`
      }`,
      width: 480,
      height: 240,
      data: {
        values: measured.map((r) => ({
          fault: r.fault,
          subject: r.subject,
          ms: r.ms,
          at: r.atMs,
        })),
      },
      mark: { type: "bar", tooltip: true },
      encoding: {
        x: {
          field: "fault",
          type: "ordinal",
          title: "fault (in order)",
          // Every fault's place on the axis, the unrecovered ones' too.
          scale: { domain: result.recovery.map((_, i) => i + 1) },
        },
        y: { field: "ms", type: "quantitative", title: "time until traffic flowed again (ms)" },
        color: { field: "subject", type: "nominal", title: "fault" },
      },
    };
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `drill ${result.name} (seed ${result.seed}): timeline${
      // Faults timed that all went unrecovered: no recovery bar to draw, but not nothing to say.
      result.recovery.length === 0
        ? ""
        : `; ${result.recovery.length} fault${
          result.recovery.length === 1 ? "" : "s"
        }, none recovered`}`,
    width: 480,
    height: Math.max(60, 24 * new Set(result.steps.map((s) => s.step)).size),
    data: {
      values: result.steps.map((s) => ({
        step: `#${s.step} ${s.what}`.slice(0, 48),
        start: s.startedMs / 1000,
        end: Math.max(s.endedMs, s.startedMs + 5) / 1000,
        kind: s.kind,
      })),
    },
    mark: { type: "bar", tooltip: true },
    encoding: {
      y: { field: "step", type: "nominal", title: null, sort: null },
      x: { field: "start", type: "quantitative", title: "seconds since the start" },
      x2: { field: "end" },
      color: { field: "kind", type: "nominal", title: "step kind" },
    },
  };
}

/**
 * Render the chart to an SVG string. Anything but a drill's result is a `TypeError` naming what
 * is missing.
 *
 * @example
 * ```ts ignore
 * import { renderDrillChart } from "./chart.ts";
 * await Deno.writeTextFile("chart.svg", await renderDrillChart(result));
 * ```
 */
export async function renderDrillChart(
  result: Pick<DrillResult, "name" | "seed" | "steps" | "recovery">,
): Promise<string> {
  checkDrillResult("renderDrillChart", result, ["name", "seed", "steps", "recovery"]);
  return await renderVegaLiteSvg(drillChartSpec(result));
}
