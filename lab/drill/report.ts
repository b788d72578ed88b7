/**
 * A drill run's reports: Markdown for people (timeline, each assertion with its measured value
 * and verdict, the seed, a chart), JSON with everything a replay needs (seed, topology, the
 * decisions taken, per-link drop counters), and JUnit XML (one testcase per assertion) for CI.
 * Also the comparison a replay makes. Pure: the CLI writes the files.
 *
 * @module
 */

import type { Decision, DrillResult, LinkOutcome } from "./types.ts";
import { recoveryFigures } from "./scope.ts";
import { checkDrillResult, checkOptionKeys, checkString } from "./check.ts";
import { escapeControl, shellArg } from "../../devices/base/quote.ts";
import { STDIN_SOURCE } from "../topology/files.ts";
import { typeName } from "../api.ts";
import { count } from "../../devices/base/plural.ts";

/** Format version of the JSON report. */
export const REPORT_VERSION = 1;

/**
 * The JSON report (pretty-printed). Anything but a drill's result is a `TypeError` naming what
 * is missing (a report of nothing would replay nothing).
 *
 * @example
 * ```ts ignore
 * import { jsonReport } from "./report.ts";
 * await Deno.writeTextFile("report.json", jsonReport(result));
 * ```
 */
export function jsonReport(result: DrillResult): string {
  checkDrillResult("jsonReport", result);
  return JSON.stringify({ version: REPORT_VERSION, ...result }, null, 2) + "\n";
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/**
 * Text from outside (a file's path) as a Markdown code span on one line: control characters
 * escaped (an escape sequence in a path would reach the terminal of whoever prints the report,
 * a line break would end the list item), fenced with more backticks than it holds in a row.
 */
function codeSpan(text: string): string {
  const safe = escapeControl(text);
  const longest = Math.max(0, ...(safe.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = longest > 0 ? " " : "";
  return `${fence}${pad}${safe}${pad}${fence}`;
}

/**
 * Text from outside (a drill's name) as plain Markdown text: each character Markdown would read
 * as markup escaped with a backslash, so that a name such as `<stdin>` is not an HTML tag (shown
 * as nothing) and `*x*` not emphasis.
 */
const plain = (text: string) => escapeControl(text).replace(/[\\`*_[\]<>#|!&~]/g, "\\$&");

/** Options of {@linkcode markdownReport}. */
export interface MarkdownReportOptions {
  /**
   * The path of the report.json written beside it, for the replay command the report shows
   * (`vlab drill replay PATH`; give it absolute, so that it holds from any folder). Left out, the
   * report names `report.json` in its own folder.
   */
  replay?: string;
}

/**
 * The Markdown report; `chart` is the file name of the chart to link, if one was drawn (null or
 * left out: none). Anything but a drill's result is a `TypeError` naming what is missing.
 *
 * @example
 * ```ts ignore
 * import { markdownReport } from "./report.ts";
 * await Deno.writeTextFile("out/report.md", markdownReport(result, "chart.svg", {
 *   replay: "/home/me/out/report.json",
 * }));
 * ```
 */
export function markdownReport(
  result: DrillResult,
  chart: string | null = null,
  options: MarkdownReportOptions = {},
): string {
  checkDrillResult("markdownReport", result);
  if (chart !== null && typeof chart !== "string") {
    throw new TypeError(
      `markdownReport: chart must be the chart's file name (a string) or null, got ${
        typeName(chart)
      }`,
    );
  }
  checkOptionKeys("markdownReport", options, ["replay"]);
  if (options.replay !== undefined) checkString("markdownReport", "options.replay", options.replay);
  const passed = result.assertions.filter((a) => a.verdict === "pass").length;
  const replay = options.replay === undefined
    ? "`vlab drill replay report.json` in this report's folder"
    : codeSpan(`vlab drill replay ${shellArg(options.replay)}`);
  // A drill given as an object (`<object>`) has no file to name; one read from stdin
  // (`vlab drill run -`) is piped in again.
  const again = result.source === STDIN_SOURCE
    ? `run again: pipe the drill into ${codeSpan(`vlab drill run - --seed ${result.seed}`)}`
    : result.source.startsWith("<")
    ? `run it again with --seed ${result.seed}`
    : `run again: ${codeSpan(`vlab drill run ${shellArg(result.source)} --seed ${result.seed}`)}`;
  const document = result.document as { description?: unknown };
  const description = typeof document.description === "string" ? document.description.trim() : "";
  const lines = [
    `# Drill ${plain(result.name)}: ${result.passed ? "PASS" : "FAIL"}`,
    "",
    // The drill's `description:`, which no report showed, as text: its paragraphs (apart by a
    // blank line) kept, a line break within one a Markdown hard break (a backslash).
    ...description.split(/\n\s*\n/).filter((p) => p.trim() !== "").flatMap((p) => [
      p.trim().split("\n").map((l) => plain(l.replace(/\t/g, " ").trim())).join("\\\n"),
      "",
    ]),
    `- source: ${codeSpan(result.source)}`,
    `- seed: ${result.seed} (replay: ${replay}; ${again})`,
    `- started: ${result.startedAt}, ran ${(result.durationMs / 1000).toFixed(2)} s`,
    `- assertions: ${passed} of ${result.assertions.length} hold`,
  ];
  if (result.error !== undefined) lines.push(`- stopped early: ${result.error}`);
  const late = result.steps.filter((s) => typeof s.lateMs === "number");
  if (late.length > 0) {
    lines.push(
      `- late: ${count(late.length, "step run")} started after ${
        late.length === 1 ? "its" : "their"
      } time, held up by the steps before, a VM's recovery or a busy main thread (timeline)`,
    );
  }
  lines.push("", "## Assertions", "", "| verdict | assertion | measured |", "| --- | --- | --- |");
  for (const a of result.assertions) {
    const measured = a.error ??
      `${measuredText(a.measured)}${a.hint === undefined ? "" : ` (hint: ${a.hint})`}`;
    // A backtick in an assertion's string would end a one-backtick span early.
    lines.push(`| ${a.verdict.toUpperCase()} | ${cell(codeSpan(a.text))} | ${cell(measured)} |`);
  }
  lines.push("", "## Timeline", "", "| start (s) | step | what | planned (ms) | jitter (ms) |");
  lines.push("| ---: | --- | --- | ---: | ---: |");
  const timeline = Array.isArray(result.document.timeline) ? result.document.timeline : [];
  for (const s of result.steps) {
    // A step without `at` is planned from the end of the step before it, not from the start.
    const entry = timeline[s.step] as Record<string, unknown> | undefined;
    const planned = s.step > 0 && typeof entry === "object" && entry !== null &&
        !Object.hasOwn(entry, "at")
      ? `${s.plannedMs === 0 ? "" : `+${s.plannedMs} `}after #${s.step - 1}`
      : `${s.plannedMs}`;
    lines.push(
      `| ${(s.startedMs / 1000).toFixed(3)} | ${labelIn(result, s)} | ${cell(s.what)}${
        typeof s.lateMs === "number" ? ` (started ${s.lateMs} ms late)` : ""
      }${s.error ? ` (failed: ${cell(s.error)})` : ""} | ${planned} | ${s.jitterMs} |`,
    );
  }
  if (result.recovery.length > 0) {
    const f = recoveryFigures(result.recovery);
    lines.push("", "## Recovery", "");
    lines.push(
      `${count(f.count, "fault")} ended, ${f.unrecovered} without recovery within the watch; ` +
        (f.p50_ms === undefined
          ? "no time measured."
          : `p50 ${f.p50_ms} ms, p99 ${f.p99_ms} ms, max ${f.max_ms} ms.`),
    );
    lines.push("", "| fault | from (s) | recovered in (ms) |", "| --- | ---: | ---: |");
    for (const r of result.recovery) {
      lines.push(
        `| ${cell(r.subject)} | ${(r.atMs / 1000).toFixed(3)} | ${r.ms ?? "not recovered"} |`,
      );
    }
  }
  lines.push("", "## Links", "");
  // A lab whose only links are vhost-pci (no ring, no impairment stage): an empty table said
  // nothing of why.
  if (result.links.length === 0) {
    lines.push(
      "No link of this lab has a ring to count frames on (a vhost-pci link has none: its " +
        "frames go straight from one VM's memory to the other's).",
    );
  } else {
    lines.push(
      "Lost, corrupted, duplicated and reordered frames" +
        (result.links.some((l) => l.kind === "vsock") ? " (packets on a vsock link)" : "") +
        " are the impairment's decisions (from the seed); other drops " +
        "(full ring, link down, queue limit, …) are timing, and so is the frame at which an " +
        "`impair` step's change took effect on a link it changed (marked *changed live*).",
    );
  }
  // A vsock link carries vsock packets, not Ethernet frames (as `vlab status` says): its own
  // table, with its unit in the headings. A report without `kind` is from before vsock links.
  const vsock = (l: LinkOutcome) => l.kind === "vsock";
  for (
    const [unit, links] of [
      ["frames", result.links.filter((l) => !vsock(l))],
      ["packets", result.links.filter(vsock)],
    ] as const
  ) {
    if (links.length === 0) continue;
    const link = unit === "packets" ? "vsock link" : "link";
    lines.push(
      "",
      `| ${link} | ${unit} a→b | lost a→b | corrupted a→b | other drops a→b | ${unit} b→a | lost b→a | corrupted b→a | other drops b→a |`,
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const l of links) {
      lines.push(
        `| ${l.link}${
          l.changedLive === true ? " (*changed live*)" : ""
        } | ${l.forwardFrames} | ${l.forwardLost} | ${l.forwardCorrupted} | ${l.forwardOtherDrops} | ${l.reverseFrames} | ${l.reverseLost} | ${l.reverseCorrupted} | ${l.reverseOtherDrops} |`,
      );
    }
  }
  // Duplicates and reorders, for the links that had any (most drills impair neither).
  const copied = result.links.filter((l) =>
    (l.forwardDuplicated ?? 0) + (l.reverseDuplicated ?? 0) + (l.forwardReordered ?? 0) +
        (l.reverseReordered ?? 0) > 0
  );
  if (copied.length > 0) {
    lines.push(
      "",
      "| link | duplicated a→b | reordered a→b | duplicated b→a | reordered b→a |",
      "| --- | ---: | ---: | ---: | ---: |",
      ...copied.map((l) =>
        `| ${l.link} | ${l.forwardDuplicated} | ${l.forwardReordered} | ${l.reverseDuplicated} | ${l.reverseReordered} |`
      ),
    );
  }
  if (chart !== null) lines.push("", `![${plain(result.name)}](${chart})`);
  return lines.join("\n") + "\n";
}

/**
 * What an assertion measured, for people: `ping.loss_pct = 6.67, recovery.max_ms = 32.8`
 * (numbers to 12 significant digits, so float noise such as 12.22005999999999 reads 12.22006;
 * the JSON report keeps the exact values).
 *
 * @example
 * ```ts
 * import { measuredText } from "./report.ts";
 * measuredText([{ text: "ping.rtt_ms.max", value: 12.22005999999999 }]); // "ping.rtt_ms.max = 12.22006"
 * ```
 */
export function measuredText(measured: readonly { text: string; value: unknown }[]): string {
  return measured.map((m) =>
    `${m.text} = ${
      typeof m.value === "number" && Number.isFinite(m.value)
        ? String(Number(m.value.toPrecision(12)))
        : JSON.stringify(m.value)
    }`
  ).join(", ");
}

/**
 * A step run as the drill's progress lines name it: `#2` for a step that runs once, `#2.1` for a
 * run of a repeated one (`every` and `for`); `repeated` null (a document that does not say, a
 * report changed by hand) names the run too.
 *
 * @example
 * ```ts
 * import { stepRunLabel } from "./report.ts";
 * stepRunLabel(2, 0, false); // "#2"
 * stepRunLabel(1, 3, true); // "#1.3"
 * ```
 */
export function stepRunLabel(step: number, run: number, repeated: boolean | null): string {
  return `#${step}${run > 0 || repeated !== false ? `.${run}` : ""}`;
}

/** Whether step `step` of a drill document repeats (`every`); null when the document does not say. */
function repeatedIn(document: unknown, step: number): boolean | null {
  const timeline = (document as { timeline?: unknown } | null | undefined)?.timeline;
  const entry = Array.isArray(timeline) ? timeline[step] : undefined;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return null;
  return Object.hasOwn(entry, "every");
}

/** A step run of `result` as its progress lines named it (see {@linkcode stepRunLabel}). */
function labelIn(result: object, s: { step: number; run: number }): string {
  return stepRunLabel(
    s.step,
    s.run,
    repeatedIn((result as { document?: unknown }).document, s.step),
  );
}

const xml = (s: string) =>
  // deno-lint-ignore no-control-regex
  s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "?").replace(/&/g, "&amp;")
    .replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The step runs that started late, as the timeline testcase's output (none: nothing). */
function lateOut(result: DrillResult): string {
  const late = result.steps.filter((s) => typeof s.lateMs === "number");
  if (late.length === 0) return "";
  return `<system-out>${
    xml(late.map((s) => `${labelIn(result, s)} ${s.what}: started ${s.lateMs} ms late`).join("\n"))
  }</system-out>`;
}

/**
 * The JUnit XML report: one testsuite for the drill, one testcase per assertion (a failed
 * assertion is a `<failure>`, one that could not be evaluated an `<error>`), plus a testcase
 * `timeline` that fails when a step failed (its output lists the step runs that started late). Anything but a drill's result is a `TypeError`
 * naming what is missing.
 *
 * @example
 * ```ts ignore
 * import { junitReport } from "./report.ts";
 * await Deno.writeTextFile("drill.xml", junitReport(result));
 * ```
 */
export function junitReport(result: DrillResult): string {
  checkDrillResult("junitReport", result);
  const failures = result.assertions.filter((a) => a.verdict === "fail").length +
    (result.error === undefined ? 0 : 1);
  const errors = result.assertions.filter((a) => a.verdict === "error").length;
  const tests = result.assertions.length + 1;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="vlab drills" tests="${tests}" failures="${failures}" errors="${errors}">`,
    `  <testsuite name="${
      xml(result.name)
    }" tests="${tests}" failures="${failures}" errors="${errors}" time="${
      (result.durationMs / 1000).toFixed(3)
    }" timestamp="${xml(result.startedAt)}">`,
    `    <properties><property name="seed" value="${result.seed}"/></properties>`,
    `    <testcase classname="${xml(result.name)}" name="timeline">${
      result.error === undefined
        ? ""
        : `<failure message="${xml(result.error)}">${xml(result.error)}</failure>`
    }${lateOut(result)}</testcase>`,
  ];
  for (const a of result.assertions) {
    const measured = `${measuredText(a.measured)}${
      a.hint === undefined ? "" : ` (hint: ${a.hint})`
    }`;
    const body = a.verdict === "pass"
      ? ""
      : a.verdict === "fail"
      ? `<failure message="${xml(`assertion does not hold: ${measured}`)}">${
        xml(measured)
      }</failure>`
      : `<error message="${xml(a.error ?? "")}">${xml(a.error ?? "")}</error>`;
    out.push(
      `    <testcase classname="${xml(result.name)}" name="${xml(a.text)}">${body}</testcase>`,
    );
  }
  out.push("  </testsuite>", "</testsuites>");
  return out.join("\n") + "\n";
}

/** One difference a replay found. */
export interface ReplayDifference {
  /** What differs (`step #1.0`, `link a-b`). */
  subject: string;
  /** Recorded value. */
  recorded: string;
  /** Value of the replay. */
  replayed: string;
}

const decisionText = (d: Decision) =>
  `"${d.what}" planned at ${d.plannedMs} ms (jitter ${d.jitterMs} ms)`;

/**
 * Compare a replay with the recorded run: the same steps ran with the same planned times,
 * jitter and actions, and on links impaired in either run the lab lost and corrupted the same
 * number of frames each way (other drops are timing and are not compared). What timing moved is
 * not a difference: it goes to `options.notes`, with the reason:
 * - a step one run never reached because it stopped early (`error`: a step failed, the timeout);
 * - a link's counts when its timing drops (link down, full ring, …) differ, one way or the other:
 *   the impairment decides the fate of the n-th frame it sees from the seed, so when the frames
 *   offered differed (a request cut in one run is answered in the other) so do its decisions;
 * - a link's counts when an `impair` step changed it (`changedLive`): the frame at which a
 *   change took effect is timing.
 *
 * @example
 * ```ts ignore
 * import { compareRuns } from "./report.ts";
 * const notes: string[] = [];
 * const diffs = compareRuns(recorded, replayed, { notes });
 * if (diffs.length === 0) console.log("same decisions", notes);
 * ```
 */
export function compareRuns(
  recorded: Pick<DrillResult, "seed" | "steps" | "links" | "error">,
  replayed: Pick<DrillResult, "seed" | "steps" | "links" | "error">,
  options: { notes?: string[] } = {},
): ReplayDifference[] {
  checkDrillResult("compareRuns", recorded, ["seed", "steps", "links"]);
  checkDrillResult("compareRuns", replayed, ["seed", "steps", "links"]);
  // A misspelt `{ note: [] }` left the caller's list empty, as if timing had moved nothing.
  checkOptionKeys("compareRuns", options, ["notes"]);
  if (options.notes !== undefined && !Array.isArray(options.notes)) {
    throw new TypeError(
      `compareRuns: options.notes must be an array (the notes are pushed to it), got ${
        typeName(options.notes)
      }`,
    );
  }
  const diffs: ReplayDifference[] = [];
  if (recorded.seed !== replayed.seed) {
    diffs.push({ subject: "seed", recorded: `${recorded.seed}`, replayed: `${replayed.seed}` });
  }
  const stopped = (r: Pick<DrillResult, "error">) =>
    typeof r.error === "string" && r.error !== "" ? r.error : null;
  const n = Math.max(recorded.steps.length, replayed.steps.length);
  for (let i = 0; i < n; i++) {
    const a = recorded.steps[i], b = replayed.steps[i];
    const subject = `step ${labelIn(a === undefined ? replayed : recorded, a ?? b)}`;
    const ta = a === undefined ? "(not run)" : decisionText(a);
    const tb = b === undefined ? "(not run)" : decisionText(b);
    if (ta === tb) continue;
    // A step after the point where one run stopped early was never reached: timing, not a choice.
    const [missing, why] = a === undefined
      ? ["the recorded run", stopped(recorded)]
      : b === undefined
      ? ["the replay", stopped(replayed)]
      : ["", null];
    if (why !== null) {
      options.notes?.push(
        `${subject}: recorded ${ta}, now ${tb}; not compared: ${missing} stopped before it (${why})`,
      );
      continue;
    }
    diffs.push({ subject, recorded: ta, replayed: tb });
  }
  for (const a of recorded.links) {
    const b = replayed.links.find((l) => l.link === a.link);
    if (!a.impaired && b?.impaired !== true) continue;
    // Duplicates and reorders too, unless a report written before they were recorded lacks them.
    const both = hasCopyCounts(a) && (b === undefined || hasCopyCounts(b));
    const ta = decidedText(a, both);
    const tb = b === undefined ? "(no such link)" : decidedText(b, both);
    if (ta === tb) continue;
    if (
      b !== undefined &&
      (a.forwardOtherDrops !== b.forwardOtherDrops || a.reverseOtherDrops !== b.reverseOtherDrops)
    ) {
      options.notes?.push(
        `link ${a.link}: recorded ${ta}, now ${tb}; not compared: timing drops differ (${a.forwardOtherDrops} a→b, ${a.reverseOtherDrops} b→a then, ${b.forwardOtherDrops} and ${b.reverseOtherDrops} now), so the impairment saw other frames`,
      );
      continue;
    }
    if (b !== undefined && (a.changedLive === true || b.changedLive === true)) {
      options.notes?.push(
        `link ${a.link}: recorded ${ta}, now ${tb}; not compared: an impair step changed it while traffic flowed, and the frame each change met is timing`,
      );
      continue;
    }
    diffs.push({ subject: `link ${a.link}`, recorded: ta, replayed: tb });
  }
  return diffs;
}

/** Whether a link outcome has its duplicate and reorder counts (an older vlab's report has not). */
function hasCopyCounts(l: LinkOutcome): boolean {
  return [l.forwardDuplicated, l.reverseDuplicated, l.forwardReordered, l.reverseReordered]
    .every((n) => typeof n === "number");
}

/** A link's seeded decisions, as compared and printed by {@linkcode compareRuns}. */
function decidedText(l: LinkOutcome, copies: boolean): string {
  const text =
    `lost ${l.forwardLost} a→b, ${l.reverseLost} b→a; corrupted ${l.forwardCorrupted} a→b, ${l.reverseCorrupted} b→a`;
  if (!copies) return text;
  return `${text}; duplicated ${l.forwardDuplicated} a→b, ${l.reverseDuplicated} b→a; ` +
    `reordered ${l.forwardReordered} a→b, ${l.reverseReordered} b→a`;
}
