/**
 * The plain-text table of `vlab bench rings`: one block per mode, one row per batch size, the
 * split and packed times per request (median and min–max over the runs) and their ratio, plus
 * notification and cache-line counts when they were measured. The environment and the options
 * head the table, so that a pasted table documents itself.
 *
 * @module
 */

import {
  type RingLayout,
  type RingMode,
  type RingsBenchReport,
  type RingsBenchRow,
  RUN_DEADLINE_MS,
  type Spread,
} from "./types.ts";
import { typeName } from "../api.ts";

const LAYOUT_ORDER: readonly RingLayout[] = ["split", "packed"];
const MODE_ORDER: readonly RingMode[] = ["poll", "notify"];
const NO_VALUE = "–";

/**
 * Render a report as an aligned plain-text table (no trailing newline).
 *
 * @example
 * ```ts
 * import { formatRingsTable } from "./report.ts";
 * import { DEFAULT_RINGS_OPTIONS } from "./rings.ts";
 *
 * const text = formatRingsTable({
 *   options: { ...DEFAULT_RINGS_OPTIONS, batches: [1] },
 *   environment: { deno: "2.9.6", v8: "15.0", cpus: 2, cpuModel: "AMD EPYC" },
 *   results: [
 *     { layout: "split", mode: "poll", batch: 1, nsPerRequest: { median: 361, min: 350, max: 380 },
 *       kicksPerRequest: 0, interruptsPerRequest: 0, checkedRequests: 0, handoffNs: 62,
 *       truncatedRuns: 0 },
 *     { layout: "packed", mode: "poll", batch: 1, nsPerRequest: { median: 165, min: 160, max: 170 },
 *       kicksPerRequest: 0, interruptsPerRequest: 0, checkedRequests: 0, handoffNs: 54,
 *       truncatedRuns: 0 },
 *   ],
 * });
 * console.log(text);
 * // …
 * // batch  split ns/request  packed ns/request  packed/split  hand-off ns
 * //     1  361 (350–380) ns   165 (160–170) ns          0.46        62/54
 * ```
 */
export function formatRingsTable(report: RingsBenchReport): string {
  checkRingsReport("formatRingsTable", report);
  const lines = [...headerLines(report)];
  const modes = present(MODE_ORDER, report.results.map((row) => row.mode));
  if (modes.length === 0) {
    lines.push("", "No results.");
    return lines.join("\n");
  }
  for (const mode of modes) {
    lines.push("", `mode: ${mode}`, ...modeTable(report, mode));
  }
  if (report.c?.ran === false) lines.push("", `C ring: not measured: ${report.c.reason}`);
  return lines.join("\n");
}

/**
 * Nanoseconds with a readable unit: `361 ns`, `1.23 µs`, `15.2 µs`, `8.10 ms`.
 *
 * @example
 * ```ts
 * import { formatNs } from "./report.ts";
 *
 * formatNs(361.4); // "361 ns"
 * formatNs(1234); // "1.23 µs"
 * ```
 */
export function formatNs(ns: number): string {
  const unit = unitOf(ns);
  return `${inUnit(ns, unit)} ${unit.name}`;
}

/**
 * A spread as `median (min–max) unit`, all three in the median's unit:
 * `361 (350–380) ns`, `1.23 (0.95–1.40) µs`.
 *
 * @example
 * ```ts
 * import { formatSpread } from "./report.ts";
 *
 * formatSpread({ median: 1234, min: 950, max: 1400 }); // "1.23 (0.95–1.40) µs"
 * ```
 */
export function formatSpread(spread: Spread): string {
  const unit = unitOf(spread.median);
  const median = inUnit(spread.median, unit);
  return `${median} (${inUnit(spread.min, unit)}–${inUnit(spread.max, unit)}) ${unit.name}`;
}

function headerLines(report: RingsBenchReport): string[] {
  const { environment: env, options } = report;
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return [
    "vlab bench rings: ns per request, median (min–max) over the runs",
    `environment: Deno ${env.deno}, V8 ${env.v8}, ${plural(env.cpus, "CPU")} (${env.cpuModel})`,
    [
      `options: queue size ${options.queueSize}`,
      `${plural(options.runs, "run")} of ${plural(options.requests, "request")}`,
      options.outstanding ? "up to <batch> outstanding" : "closed batches",
      options.sameCore ? "both workers on one core" : "workers on separate cores",
      options.cacheModel ? "cache model on" : "cache model off",
      options.payload ? "payload checked" : "no payload",
    ].join(", "),
    ...handoffLine(report),
  ];
}

/** The cache-line hand-off measured before the points, which every figure scales with. */
function handoffLine(report: RingsBenchReport): string[] {
  const values = report.results.map((row) => row.handoffNs).filter((v) => v > 0);
  if (values.length === 0) return [];
  const s = [...values].sort((a, b) => a - b);
  const median = s[s.length >> 1];
  return [
    `cache-line hand-off between the workers (ping-pong): ${median.toFixed(0)} ns ` +
    `(${s[0].toFixed(0)}–${s[s.length - 1].toFixed(0)} over the points)`,
  ];
}

function modeTable(report: RingsBenchReport, mode: RingMode): string[] {
  const rows = report.results.filter((row) => row.mode === mode);
  const layouts = present(LAYOUT_ORDER, rows.map((row) => row.layout));
  const batches = [...new Set(rows.map((row) => row.batch))].sort((a, b) => a - b);
  const find = (layout: RingLayout, batch: number) =>
    rows.find((row) => row.layout === layout && row.batch === batch);
  const showRatio = layouts.includes("split") && layouts.includes("packed");
  const showNotifications = mode === "notify";
  const showLines = rows.some((row) => row.linesPerRequest !== undefined);
  const cLayouts = layouts.filter((layout) => rows.some((r) => r.layout === layout && r.c));

  const header = ["batch", ...layouts.map((layout) => `${layout} per request`)];
  if (showRatio) header.push("packed/split");
  for (const layout of cLayouts) header.push(`C ${layout}`, `${layout}/C`);
  if (showNotifications) {
    for (const layout of layouts) header.push(`${layout} kicks`, `${layout} irqs`);
    for (const layout of cLayouts) header.push(`C ${layout} kicks`, `C ${layout} irqs`);
  }
  if (showLines) {
    for (const layout of layouts) header.push(`${layout} lines`);
  }
  header.push("hand-off ns");

  const body = batches.map((batch) => {
    const cells = [String(batch)];
    for (const layout of layouts) {
      const row = find(layout, batch);
      cells.push(row === undefined ? NO_VALUE : formatSpread(row.nsPerRequest));
    }
    if (showRatio) cells.push(ratioCell(find("split", batch), find("packed", batch)));
    for (const layout of cLayouts) {
      const row = find(layout, batch);
      const c = row?.c;
      cells.push(
        c === undefined ? NO_VALUE : formatSpread(c.nsPerRequest),
        c === undefined || row === undefined || c.nsPerRequest.median <= 0
          ? NO_VALUE
          : (row.nsPerRequest.median / c.nsPerRequest.median).toFixed(2),
      );
    }
    if (showNotifications) {
      for (const layout of layouts) {
        const row = find(layout, batch);
        cells.push(fixed(row?.kicksPerRequest, 3), fixed(row?.interruptsPerRequest, 3));
      }
      for (const layout of cLayouts) {
        const c = find(layout, batch)?.c;
        cells.push(fixed(c?.kicksPerRequest, 3), fixed(c?.interruptsPerRequest, 3));
      }
    }
    if (showLines) {
      for (const layout of layouts) cells.push(fixed(find(layout, batch)?.linesPerRequest, 2));
    }
    // The line cost each point ran at (layouts in order): a point measured while the machine
    // placed the workers far apart shows it here.
    cells.push(layouts.map((layout) => fixed(find(layout, batch)?.handoffNs, 0)).join("/"));
    return cells;
  });
  const notes: string[] = [];
  if (cLayouts.length > 0) {
    const handoffs = rows.flatMap((row) => row.c === undefined ? [] : [row.c.handoffNs]);
    const compiler = report.c?.ran === true ? `, built with ${report.c.compiler} -O2` : "";
    notes.push(
      `C: the same hand-offs through lab/bench/c_ring.c${compiler}, in the same run (the two ` +
        `rings take turns leading a point; the C threads' hand-off ${
          Math.min(...handoffs).toFixed(0)
        }–${Math.max(...handoffs).toFixed(0)} ns)`,
    );
  }
  if (showNotifications) notes.push("kicks and irqs: notifications per request");
  if (showLines) notes.push("lines: ring cache lines moved per request (cache model)");
  notes.push(
    `hand-off ns: one cache line changing hands, measured before each point (${layouts.join("/")})`,
  );
  // A run stopped by its deadline measured fewer requests than asked: say which points hold one.
  const truncated = rows.filter((row) => row.truncatedRuns > 0);
  if (truncated.length > 0) {
    notes.push(
      `runs stopped at the ${
        RUN_DEADLINE_MS / 1000
      } s deadline (figures from the requests they completed): ${
        truncated.map((row) =>
          `${row.layout} batch ${row.batch} ${row.truncatedRuns} of ${report.options.runs}`
        ).join(", ")
      }`,
    );
  }
  return [...alignColumns([header, ...body]), ...notes];
}

function ratioCell(split: RingsBenchRow | undefined, packed: RingsBenchRow | undefined): string {
  if (split === undefined || packed === undefined || split.nsPerRequest.median <= 0) {
    return NO_VALUE;
  }
  return (packed.nsPerRequest.median / split.nsPerRequest.median).toFixed(2);
}

function fixed(value: number | undefined, digits: number): string {
  return value === undefined || !Number.isFinite(value) ? NO_VALUE : value.toFixed(digits);
}

/** Columns separated by two spaces, every cell right-aligned under its header. */
function alignColumns(table: string[][]): string[] {
  const widths = table[0].map((_, column) =>
    Math.max(...table.map((cells) => width(cells[column] ?? "")))
  );
  return table.map((cells) =>
    cells.map((cell, column) => " ".repeat(widths[column] - width(cell)) + cell).join("  ")
  );
}

/** Display width: every character of this table (µ, –) is one column wide. */
function width(text: string): number {
  return [...text].length;
}

interface Unit {
  name: string;
  scale: number;
}

const UNITS: readonly Unit[] = [
  { name: "ns", scale: 1 },
  { name: "µs", scale: 1e3 },
  { name: "ms", scale: 1e6 },
  { name: "s", scale: 1e9 },
];

function unitOf(ns: number): Unit {
  let unit = UNITS[0];
  for (const candidate of UNITS) {
    // 999.6 ns prints as "1.00 µs", not "1000 ns".
    if (Math.abs(ns) >= candidate.scale * (candidate.scale === 1 ? 1 : 0.9995)) unit = candidate;
  }
  return unit;
}

function inUnit(ns: number, unit: Unit): string {
  if (!Number.isFinite(ns)) return "?";
  if (unit.scale === 1) return ns.toFixed(0);
  const value = ns / unit.scale;
  const digits = Math.abs(value) < 9.995 ? 2 : Math.abs(value) < 99.95 ? 1 : 0;
  return value.toFixed(digits);
}

/** The members of `order` that occur in `values`, in `order`'s order. */
function present<T>(order: readonly T[], values: readonly T[]): T[] {
  return order.filter((item) => values.includes(item));
}

/**
 * Refuse anything but a rings report (what `runRingsBench` returns, or its JSON read back): a
 * `TypeError` naming `call` and the first part that is missing, as the drill report helpers
 * refuse what is no drill result (a failure deep inside named no argument).
 *
 * @example
 * ```ts
 * import { checkRingsReport } from "./report.ts";
 * try {
 *   checkRingsReport("formatRingsTable", null);
 * } catch (e) {
 *   String(e); // "TypeError: formatRingsTable: report must be a rings report (what runRingsBench returns), got null"
 * }
 * ```
 */
export function checkRingsReport(call: string, report: unknown): void {
  const isMap = (v: unknown) => typeof v === "object" && v !== null && !Array.isArray(v);
  const fail = (what: string, expected: string, v: unknown): never => {
    throw new TypeError(`${call}: ${what} must be ${expected}, got ${typeName(v)}`);
  };
  if (!isMap(report)) fail("report", "a rings report (what runRingsBench returns)", report);
  const r = report as Record<string, unknown>;
  if (!isMap(r.options)) fail("report.options", "an object", r.options);
  if (!isMap(r.environment)) fail("report.environment", "an object", r.environment);
  if (!Array.isArray(r.results)) fail("report.results", "an array", r.results);
  for (const [i, row] of (r.results as unknown[]).entries()) {
    if (!isMap(row)) fail(`report.results[${i}]`, "an object", row);
    const x = row as Record<string, unknown>;
    if (typeof x.batch !== "number") fail(`report.results[${i}].batch`, "a number", x.batch);
    if (!isMap(x.nsPerRequest)) {
      fail(`report.results[${i}].nsPerRequest`, "an object", x.nsPerRequest);
    }
  }
}
