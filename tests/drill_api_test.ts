/**
 * A script writes a drill's reports from mod.ts as `vlab drill run --report DIR` does:
 * report.md linking chart.svg, report.json and the chart itself (`renderDrillChart`, exported
 * from mod.ts as the benchmarks' `renderRingsChart` is).
 */

import assert from "node:assert/strict";
import { type DrillResult, jsonReport, markdownReport, renderDrillChart } from "../mod.ts";

const RESULT: DrillResult = {
  name: "flap",
  source: "drills/flap.yaml",
  seed: 7,
  startedAt: "2026-01-01T00:00:00.000Z",
  durationMs: 1000,
  steps: [{
    step: 0,
    run: 0,
    kind: "link",
    plannedMs: 300,
    jitterMs: 0,
    what: "link a-b down for 200 ms",
    startedMs: 300,
    endedMs: 500,
  }],
  workloads: {},
  recovery: [],
  links: [],
  events: [],
  assertions: [],
  passed: true,
  document: { topology: { name: "t" }, seed: 7, timeline: [] },
};

Deno.test("mod.ts gives a script every report of a drill, its chart included", async () => {
  const svg = await renderDrillChart(RESULT);
  assert.match(svg, /^<svg/);
  assert.match(svg, /drill flap \(seed 7\): timeline/);
  assert.match(markdownReport(RESULT, "chart.svg"), /chart\.svg/);
  assert.equal(JSON.parse(jsonReport(RESULT)).seed, 7);
});
