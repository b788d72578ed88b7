/**
 * Rendering a vega-lite chart to an SVG document without a browser, for the charts of
 * `vlab bench rings` and of drills. vega and vega-lite are loaded on the first chart, not with the
 * module: together they cost every `vlab` command 0.1–0.17 s of start-up (docs/performance.md,
 * "The CLI's start-up"), and most commands draw nothing.
 *
 * @module
 */

import type { TopLevelSpec } from "vega-lite";

/**
 * Compile a vega-lite spec and render it to an SVG string (starting with `<svg`).
 *
 * @example
 * ```ts ignore
 * import { renderVegaLiteSvg } from "./chart_svg.ts";
 * const svg = await renderVegaLiteSvg({
 *   data: { values: [{ x: 1, y: 2 }] },
 *   mark: "point",
 *   encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
 * });
 * ```
 */
export async function renderVegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import("vega"), import("vega-lite")]);
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
