/**
 * What every `vlab` command loads before it runs: not the chart libraries (vega, vega-lite) nor
 * the dashboard's (ink, react). Each is imported when a command needs it (a chart, `vlab up` in a
 * terminal, `vlab dashboard`); loaded with the CLI, vega and vega-lite alone cost each command
 * 0.1 s (docs/performance.md, "The CLI's start-up").
 *
 * @module
 */

import assert from "node:assert/strict";
import { staticGraph } from "./module_graph.ts";

Deno.test("cli/main.ts loads no chart or dashboard library before a command needs one", async () => {
  const graph = await staticGraph("../cli/main.ts");
  assert.ok(graph.some((s) => s.endsWith("/cli/bench.ts")), "the bench command is in the graph");
  assert.ok(graph.some((s) => s.endsWith("/lab/drill/chart.ts")), "and the drill chart module");
  const heavy = graph.filter((s) => /^npm:(vega|vega-lite|ink|react)@/.test(s));
  assert.deepEqual(heavy, []);
});
