import assert from "node:assert/strict";
import { renderRingsChart, RINGS_CHART_TITLE, ringsChartSpec } from "./chart.ts";
import type { RingLayout, RingMode, RingsBenchReport, RingsBenchRow } from "./types.ts";

function row(layout: RingLayout, mode: RingMode, batch: number, median: number): RingsBenchRow {
  return {
    layout,
    mode,
    batch,
    nsPerRequest: { median, min: median * 0.9, max: median * 1.2 },
    kicksPerRequest: 0,
    interruptsPerRequest: 0,
    checkedRequests: 0,
    truncatedRuns: 0,
    handoffNs: 100,
  };
}

function report(results: RingsBenchRow[]): RingsBenchReport {
  return {
    options: {
      layouts: ["split", "packed"],
      batches: [1, 2, 4],
      modes: ["poll"],
      queueSize: 256,
      runs: 5,
      requests: 200000,
      outstanding: false,
      payload: false,
      cacheModel: false,
      sameCore: false,
      vsC: false,
    },
    environment: { deno: "2.9.6", v8: "15.0.245", cpus: 2, cpuModel: "AMD EPYC 7B13" },
    results,
  };
}

const POLL = [
  row("split", "poll", 1, 361),
  row("split", "poll", 2, 204),
  row("split", "poll", 4, 145),
  row("packed", "poll", 1, 165),
  row("packed", "poll", 2, 87),
  row("packed", "poll", 4, 51),
];

/** Check that every element opened in the SVG is closed, in order. */
function assertBalancedTags(svg: string): void {
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing === "/") continue;
    if (closing === "/") {
      assert.equal(stack.pop(), name, `</${name}> closes the open element`);
    } else {
      stack.push(name);
    }
  }
  assert.deepEqual(stack, [], "all elements are closed");
}

Deno.test("the chart is a well-formed SVG document with the title and both layouts", async () => {
  const svg = await renderRingsChart(report(POLL));
  assert.ok(svg.startsWith("<svg"), svg.slice(0, 40));
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assertBalancedTags(svg);
  assert.ok(svg.includes(RINGS_CHART_TITLE));
  assert.equal(RINGS_CHART_TITLE, "vlab bench rings: ns per request vs batch size");
  assert.match(svg, />split</);
  assert.match(svg, />packed</);
});

Deno.test("the spec plots medians against batch on log scales with min–max bars", () => {
  const spec = ringsChartSpec(report(POLL)) as unknown as {
    data: { values: { layout: string; batch: number; median: number; min: number }[] };
    layer: { mark: { type: string }; encoding: Record<string, unknown> }[];
  };
  assert.equal(spec.data.values.length, 6);
  const packedOne = spec.data.values.find((p) => p.layout === "packed" && p.batch === 1);
  assert.equal(packedOne?.median, 165);
  assert.deepEqual(spec.layer.map((layer) => layer.mark.type), ["rule", "line"]);
  const line = spec.layer[1].encoding as {
    x: { scale: { type: string; base: number } };
    y: { scale: { type: string } };
    strokeDash?: unknown;
  };
  assert.deepEqual(line.x.scale, { type: "log", base: 2 });
  assert.deepEqual(line.y.scale, { type: "log" });
  assert.equal(line.strokeDash, undefined, "one mode: no dash encoding");
});

Deno.test("with several modes each mode gets its own dashed or solid line", async () => {
  const results = [...POLL, row("split", "notify", 1, 20_000), row("packed", "notify", 1, 19_000)];
  const spec = ringsChartSpec(report(results)) as unknown as {
    layer: { encoding: { strokeDash?: { field: string } } }[];
  };
  assert.equal(spec.layer[1].encoding.strokeDash?.field, "mode");
  const svg = await renderRingsChart(report(results));
  assert.match(svg, />notify</);
  assert.match(svg, />poll</);
});

Deno.test("a report with one layout renders", async () => {
  const svg = await renderRingsChart(report(POLL.filter((r) => r.layout === "packed")));
  assert.match(svg, />packed</);
  assert.doesNotMatch(svg, />split</);
  assertBalancedTags(svg);
});

Deno.test("with --vs-c the C ring gets a line per layout", async () => {
  const c = (median: number) => ({
    nsPerRequest: { median, min: median - 1, max: median + 1 },
    kicksPerRequest: 0,
    interruptsPerRequest: 0,
    handoffNs: 50,
    checkedRequests: 1,
    truncatedRuns: 0,
    ranFirst: false,
  });
  const results = POLL.map((r) => ({ ...r, c: c(r.nsPerRequest.median / 2) }));
  const spec = ringsChartSpec(report(results)) as unknown as {
    data: { values: { layout: string; batch: number; median: number }[] };
  };
  assert.equal(spec.data.values.length, 12);
  const cPacked = spec.data.values.find((p) => p.layout === "C packed" && p.batch === 1);
  assert.equal(cPacked?.median, 165 / 2);
  const svg = await renderRingsChart(report(results));
  assert.match(svg, />C split</);
  assert.match(svg, />C packed</);
  assertBalancedTags(svg);
});
