import assert from "node:assert/strict";
import { drillChartSpec, renderDrillChart } from "./chart.ts";

const recovery = [
  { subject: "link a-b", atMs: 300, ms: 12 },
  { subject: "link a-b", atMs: 900, ms: null },
  { subject: "link a-b", atMs: 1500, ms: 20 },
];

Deno.test("the recovery chart numbers every fault and says how many never recovered", async () => {
  const spec = drillChartSpec({ name: "d", seed: 1, steps: [], recovery });
  // Before: the third fault was drawn as "fault 2" and the title did not mention the second.
  assert.equal(spec.title, "drill d (seed 1): recovery time per fault; 1 not recovered (no bar)");
  const values = (spec.data as { values: { fault: number }[] }).values;
  assert.deepEqual(values.map((v) => v.fault), [1, 3]);
  const svg = await renderDrillChart({ name: "d", seed: 1, steps: [], recovery });
  assert.match(svg, /1 not recovered/);
  assert.equal(
    drillChartSpec({ name: "d", seed: 1, steps: [], recovery: [recovery[0]] }).title,
    "drill d (seed 1): recovery time per fault",
  );
});

Deno.test("a timeline chart of a drill whose every fault went unrecovered says so", () => {
  const title = drillChartSpec({ name: "d", seed: 1, steps: [], recovery: [recovery[1]] }).title;
  assert.equal(title, "drill d (seed 1): timeline; 1 fault, none recovered");
  assert.equal(
    drillChartSpec({ name: "d", seed: 1, steps: [], recovery: [] }).title,
    "drill d (seed 1): timeline",
  );
});
