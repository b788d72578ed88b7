import assert from "node:assert/strict";
import { formatNs, formatRingsTable, formatSpread } from "./report.ts";
import type { RingLayout, RingMode, RingsBenchReport, RingsBenchRow } from "./types.ts";

function row(
  layout: RingLayout,
  mode: RingMode,
  batch: number,
  median: number,
  extra: Partial<RingsBenchRow> = {},
): RingsBenchRow {
  return {
    layout,
    mode,
    batch,
    nsPerRequest: { median, min: median - 10, max: median + 20 },
    kicksPerRequest: 0,
    interruptsPerRequest: 0,
    checkedRequests: 0,
    truncatedRuns: 0,
    handoffNs: 100,
    ...extra,
  };
}

function report(results: RingsBenchRow[], options: Partial<RingsBenchReport["options"]> = {}) {
  return {
    options: {
      layouts: ["split", "packed"],
      batches: [1, 4],
      modes: ["poll"],
      queueSize: 256,
      runs: 5,
      requests: 200000,
      outstanding: false,
      payload: false,
      cacheModel: false,
      sameCore: false,
      vsC: false,
      ...options,
    },
    environment: { deno: "2.9.6", v8: "15.0.245", cpus: 2, cpuModel: "AMD EPYC 7B13" },
    results,
  } satisfies RingsBenchReport;
}

/** The table's lines split into cells (cells are separated by at least two spaces). */
function cells(line: string): string[] {
  return line.trim().split(/\s{2,}/);
}

Deno.test("formatNs uses ns below 1000, then µs and ms", () => {
  assert.equal(formatNs(0), "0 ns");
  assert.equal(formatNs(361.4), "361 ns");
  assert.equal(formatNs(999.4), "999 ns");
  assert.equal(formatNs(999.6), "1.00 µs");
  assert.equal(formatNs(1234), "1.23 µs");
  assert.equal(formatNs(15_240), "15.2 µs");
  assert.equal(formatNs(250_000), "250 µs");
  assert.equal(formatNs(8_100_000), "8.10 ms");
});

Deno.test("formatSpread writes median (min–max) in the median's unit", () => {
  assert.equal(formatSpread({ median: 361, min: 350, max: 380 }), "361 (350–380) ns");
  assert.equal(formatSpread({ median: 1234, min: 950, max: 1400 }), "1.23 (0.95–1.40) µs");
});

Deno.test("the table starts with the environment and the options", () => {
  const lines = formatRingsTable(report([row("split", "poll", 1, 400)])).split("\n");
  assert.match(lines[0], /^vlab bench rings: ns per request, median \(min–max\)/);
  assert.equal(lines[1], "environment: Deno 2.9.6, V8 15.0.245, 2 CPUs (AMD EPYC 7B13)");
  assert.equal(
    lines[2],
    "options: queue size 256, 5 runs of 200000 requests, closed batches, " +
      "workers on separate cores, cache model off, no payload",
  );
  assert.equal(
    lines[3],
    "cache-line hand-off between the workers (ping-pong): 100 ns (100–100 over the points)",
  );
});

Deno.test("one row per batch with split, packed and the packed/split ratio", () => {
  const text = formatRingsTable(report([
    row("split", "poll", 4, 145),
    row("packed", "poll", 4, 51),
    row("split", "poll", 1, 361),
    row("packed", "poll", 1, 165),
  ]));
  const lines = text.split("\n");
  const header = lines.findIndex((line) => line.trimStart().startsWith("batch"));
  assert.ok(header > 0);
  assert.equal(lines[header - 1], "mode: poll");
  assert.deepEqual(cells(lines[header]), [
    "batch",
    "split per request",
    "packed per request",
    "packed/split",
    "hand-off ns",
  ]);
  assert.deepEqual(cells(lines[header + 1]), [
    "1",
    "361 (351–381) ns",
    "165 (155–185) ns",
    "0.46",
    "100/100",
  ]);
  assert.deepEqual(cells(lines[header + 2]), [
    "4",
    "145 (135–165) ns",
    "51 (41–71) ns",
    "0.35",
    "100/100",
  ]);
  assert.match(lines[header + 3], /^hand-off ns: one cache line changing hands/);
  assert.equal(lines.length, header + 4);
  // Aligned: every line of the block has the same length and columns end at the same place.
  assert.equal(lines[header].length, lines[header + 1].length);
  assert.equal(lines[header + 1].length, lines[header + 2].length);
});

Deno.test("a report with one layout has no ratio column", () => {
  const text = formatRingsTable(
    report([row("packed", "poll", 1, 165), row("packed", "poll", 8, 35)], {
      layouts: ["packed"],
    }),
  );
  assert.doesNotMatch(text, /packed\/split/);
  assert.doesNotMatch(text, /split ns/);
  const lines = text.split("\n");
  const header = lines.findIndex((line) => line.trimStart().startsWith("batch"));
  assert.deepEqual(cells(lines[header]), ["batch", "packed per request", "hand-off ns"]);
  assert.deepEqual(cells(lines[header + 2]), ["8", "35 (25–55) ns", "100"]);
});

Deno.test("notify mode adds kicks and interrupts per request for each layout", () => {
  const text = formatRingsTable(report([
    row("split", "poll", 1, 361),
    row("packed", "poll", 1, 165),
    row("split", "notify", 1, 20_400, { kicksPerRequest: 1, interruptsPerRequest: 0.5 }),
    row("packed", "notify", 1, 20_200, { kicksPerRequest: 0.25, interruptsPerRequest: 0.125 }),
  ], { modes: ["poll", "notify"] }));
  const lines = text.split("\n");
  const notify = lines.indexOf("mode: notify");
  assert.ok(notify > lines.indexOf("mode: poll"));
  assert.doesNotMatch(lines.slice(0, notify).join("\n"), /kicks/);
  assert.deepEqual(cells(lines[notify + 1]), [
    "batch",
    "split per request",
    "packed per request",
    "packed/split",
    "split kicks",
    "split irqs",
    "packed kicks",
    "packed irqs",
    "hand-off ns",
  ]);
  assert.deepEqual(cells(lines[notify + 2]), [
    "1",
    "20.4 (20.4–20.4) µs",
    "20.2 (20.2–20.2) µs",
    "0.99",
    "1.000",
    "0.500",
    "0.250",
    "0.125",
    "100/100",
  ]);
  assert.match(text, /kicks and irqs: notifications per request/);
});

Deno.test("the cache model adds lines per request for each layout", () => {
  const text = formatRingsTable(report([
    row("split", "poll", 1, 361, { linesPerRequest: 6.9 }),
    row("packed", "poll", 1, 165, { linesPerRequest: 3 }),
  ], { cacheModel: true }));
  const lines = text.split("\n");
  const header = lines.findIndex((line) => line.trimStart().startsWith("batch"));
  assert.deepEqual(cells(lines[header]).slice(-3, -1), ["split lines", "packed lines"]);
  assert.deepEqual(cells(lines[header + 1]).slice(-3, -1), ["6.90", "3.00"]);
  assert.match(lines[2], /cache model on/);
});

Deno.test("a missing point shows a dash and no ratio", () => {
  const text = formatRingsTable(report([
    row("split", "poll", 1, 361),
    row("packed", "poll", 1, 165),
    row("split", "poll", 2, 204),
  ]));
  const line = text.split("\n").find((l) => l.trimStart().startsWith("2 "));
  assert.ok(line !== undefined);
  assert.deepEqual(cells(line), ["2", "204 (194–224) ns", "–", "–", "100/–"]);
});

Deno.test("an empty report says so", () => {
  assert.match(formatRingsTable(report([])), /No results\.$/);
});

Deno.test("the table says which points hold runs stopped at the deadline", () => {
  const text = formatRingsTable(
    report([row("split", "poll", 1, 400, { truncatedRuns: 2 }), row("packed", "poll", 1, 200)]),
  );
  assert.match(
    text,
    /^runs stopped at the 5 s deadline \(figures from the requests they completed\): split batch 1 2 of 5$/m,
  );
  assert.ok(!formatRingsTable(report([row("split", "poll", 1, 400)])).includes("deadline"));
});

Deno.test("a column whose cells change unit does not name one in its header", () => {
  const text = formatRingsTable(
    report([row("split", "poll", 1, 1220), row("packed", "poll", 1, 350)]),
  );
  const header = text.split("\n").find((l) => l.trimStart().startsWith("batch"))!;
  assert.ok(!header.includes("ns/request"), header);
  assert.match(text, /1\.22 \(1\.21–1\.24\) µs/, "the cell carries its unit");
});

Deno.test("--vs-c adds each layout's C time and its ratio to C, and names the C ring", () => {
  const c = (median: number, ranFirst: boolean, kicks = 0) => ({
    nsPerRequest: { median, min: median - 1, max: median + 2 },
    kicksPerRequest: kicks,
    interruptsPerRequest: kicks / 2,
    handoffNs: 50,
    checkedRequests: 6,
    truncatedRuns: 0,
    ranFirst,
  });
  const r: RingsBenchReport = {
    ...report([
      row("split", "poll", 4, 160, { c: c(80, false) }),
      row("packed", "poll", 4, 150, { c: c(60, true) }),
    ], { vsC: true }),
    c: { ran: true, compiler: "cc" },
  };
  const lines = formatRingsTable(r).split("\n");
  const header = lines.findIndex((line) => line.trimStart().startsWith("batch"));
  assert.deepEqual(cells(lines[header]), [
    "batch",
    "split per request",
    "packed per request",
    "packed/split",
    "C split",
    "split/C",
    "C packed",
    "packed/C",
    "hand-off ns",
  ]);
  assert.deepEqual(cells(lines[header + 1]), [
    "4",
    "160 (150–180) ns",
    "150 (140–170) ns",
    "0.94",
    "80 (79–82) ns",
    "2.00",
    "60 (59–62) ns",
    "2.50",
    "100/100",
  ]);
  assert.match(
    lines[header + 2],
    /^C: the same hand-offs through lab\/bench\/c_ring\.c, built with cc -O2/,
  );
  assert.match(lines[header + 2], /hand-off 50–50 ns\)$/);

  // In notify mode, the C ring's kicks and interrupts per request follow the workers'.
  const n: RingsBenchReport = {
    ...report([
      row("split", "notify", 4, 9000, { c: c(8000, false, 0.25) }),
      row("packed", "notify", 4, 9500, { c: c(7000, true, 0.5) }),
    ], { vsC: true, modes: ["notify"] }),
    c: { ran: true, compiler: "cc" },
  };
  const nLines = formatRingsTable(n).split("\n");
  const nHeader = nLines.findIndex((line) => line.trimStart().startsWith("batch"));
  assert.deepEqual(cells(nLines[nHeader]).slice(12, 16), [
    "C split kicks",
    "C split irqs",
    "C packed kicks",
    "C packed irqs",
  ]);
  assert.deepEqual(cells(nLines[nHeader + 1]).slice(12, 16), ["0.250", "0.125", "0.500", "0.250"]);
});

Deno.test("--vs-c says in one line why the C ring was not measured", () => {
  const r: RingsBenchReport = {
    ...report([row("split", "poll", 1, 300)], { vsC: true }),
    c: {
      ran: false,
      reason: "no C compiler: `cc` is not on PATH (install gcc, or name one in CC)",
    },
  };
  const text = formatRingsTable(r);
  assert.doesNotMatch(text, /C split/);
  assert.equal(
    text.split("\n").at(-1),
    "C ring: not measured: no C compiler: `cc` is not on PATH (install gcc, or name one in CC)",
  );
});

Deno.test("the table and the chart refuse what is no rings report with one TypeError naming it", async () => {
  const { renderRingsChart, ringsChartSpec } = await import("./chart.ts");
  const cases: [unknown, string][] = [
    [null, "report must be a rings report (what runRingsBench returns), got null"],
    [{ options: {}, environment: {} }, "report.results must be an array, got undefined"],
    [
      { options: {}, environment: {}, results: [null] },
      "report.results[0] must be an object, got null",
    ],
  ];
  for (const [report, message] of cases) {
    for (
      const [name, call] of [
        ["formatRingsTable", formatRingsTable],
        ["ringsChartSpec", ringsChartSpec],
      ] as const
    ) {
      assert.throws(() => call(report as never), (e) => {
        assert.ok(e instanceof TypeError, String(e));
        assert.equal(e.message, `${name}: ${message}`);
        return true;
      });
    }
    await assert.rejects(renderRingsChart(report as never), (e) => {
      assert.ok(e instanceof TypeError, String(e));
      assert.equal(e.message, `renderRingsChart: ${message}`);
      return true;
    });
  }
});
