/**
 * Drills: a timeline of faults and workloads run against a lab, assertions over what happened,
 * a verdict and reports. See `docs/drills.md` for the format.
 *
 * - `load.ts`: YAML or object → a validated drill, or every problem with `file:line:col`;
 * - `input.ts`: reading a drill file or a report (a regular file of bounded size, never a FIFO);
 * - `steps.ts`: the step-kind registry (`link`, `exec`, `wait`, `wait_for`); `fault_steps.ts`
 *   and `net_steps.ts` register `fault`, `partition`, `heal` and `impair`; new kinds register
 *   there too;
 * - `expr.ts`, `scope.ts`: the assertion language and what its names mean; `references.ts` checks
 *   the names before the run, against the metric families a lab of the drill's topology can have
 *   (`metric_names.ts`) and the subjects of its events;
 * - `run.ts`: the runner; `report.ts`, `chart.ts`: Markdown, JSON, JUnit, SVG; replay below.
 *
 * @example
 * ```ts ignore
 * import { runDrill } from "./mod.ts";
 * const result = await runDrill("drills/link-flap.yaml", { seed: 7 });
 * console.log(result.passed, result.assertions.map((a) => a.verdict));
 * ```
 *
 * @module
 */

import { LabError } from "../errors.ts";
import { compareRuns, type ReplayDifference, REPORT_VERSION } from "./report.ts";
import { drillResultProblem } from "./check.ts";
import { typeName } from "../api.ts";
import {
  checkRunOptions,
  DrillProgressError,
  guardProgress,
  runDrillAs,
  type RunDrillOptions,
} from "./run.ts";
import type { DrillResult } from "./types.ts";

export { DrillProgressError, runDrill, type RunDrillOptions, runDrillText } from "./run.ts";
export {
  drillFromObject,
  type DrillIssue,
  formatDrillIssues,
  loadDrillFile,
  parseDrill,
} from "./load.ts";
export {
  type CheckContext,
  durationMs,
  endlessWorkload,
  registerStepKind,
  type StepContext,
  type StepKind,
  stepKinds,
  workloadNameProblems,
  type WorkloadRun,
} from "./steps.ts";
export { type BinaryOp, type CallArg, type Expr, type ExprError, parseExpr } from "./expr.ts";
export { type EvalScope, evaluate, type Evaluation, type Value } from "./evaluate.ts";
export {
  compareRuns,
  jsonReport,
  junitReport,
  markdownReport,
  type MarkdownReportOptions,
  type ReplayDifference,
} from "./report.ts";
export { renderDrillChart } from "./chart.ts";
export {
  DRILL_FILE,
  type InputIssue,
  type InputKind,
  MAX_DRILL_BYTES,
  MAX_REPORT_BYTES,
  parseReport,
  readInput,
  readReport,
  REPORT_FILE,
  STDIN_SOURCE,
  TOPOLOGY_FILE,
} from "./input.ts";
export type * from "./types.ts";

/** What a replay found: the new run and how its decisions differ from the recorded ones. */
export interface ReplayResult {
  /** The new run. */
  result: DrillResult;
  /** Differences (empty when the same decisions were taken). */
  differences: ReplayDifference[];
  /** What could not be compared, and why (a link whose timing drops differ); not differences. */
  notes: string[];
}

/**
 * What a replay needs of a report and `r` lacks, each named (`"document"`; `"seed, document,
 * steps or links"` for no object at all): a report without its `document` said "no seed,
 * document, steps or links", as if it lacked all four.
 */
function missingReportKeys(r: Partial<DrillResult> | null): string {
  const missing = r === null || typeof r !== "object" ? ["seed", "document", "steps", "links"] : [
    r.seed === undefined ? "seed" : null,
    r.document === undefined ? "document" : null,
    r.steps === undefined ? "steps" : null,
    r.links === undefined ? "links" : null,
  ].filter((k) => k !== null);
  return missing.length <= 1
    ? missing.join("")
    : `${missing.slice(0, -1).join(", ")} or ${missing.at(-1)}`;
}

/**
 * Run a drill again from its JSON report (the report embeds the drill with its topology and
 * the seed) and compare the decisions taken (`compareRuns`; what timing moved is in `notes`).
 * It runs with the recorded seed: `options.seed` is refused with a `TypeError` (as
 * `vlab drill replay --seed`); `runDrill(report.document, { seed })` runs it with another. The
 * new result keeps the recorded `source` (the drill file it came from). A report's path is a
 * `TypeError`: `readReport(path)` reads the file. An `onProgress` that throws makes it reject
 * once compared, with a `DrillProgressError` whose `result` is this replay's result.
 *
 * @example
 * ```ts ignore
 * import { readReport, replayDrill } from "./mod.ts";
 * const read = await readReport("out/report.json"); // a regular file, JSON, or one problem
 * if (read.ok) console.log((await replayDrill(read.value)).differences);
 * ```
 */
export async function replayDrill(
  report: unknown,
  options: Omit<RunDrillOptions, "seed"> = {},
): Promise<ReplayResult> {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`replayDrill: options must be an object, got ${typeName(options)}`);
  }
  // A report's path is no report: it was "not a drill report", as if the file had been read.
  if (typeof report === "string") {
    throw new TypeError(
      "replayDrill: report must be a report object, got string: read the file with " +
        "readReport(path) and pass its value",
    );
  }
  const r = report as Partial<DrillResult> | null;
  // Every key but `seed` (refused below with its reason) is checked as runDrill checks it.
  const { seed: _seed, ...rest } = options as RunDrillOptions;
  checkRunOptions(rest, "replayDrill", ["onProgress", "signal"]);
  // As `vlab drill replay --seed`: refused with the reason, not ignored for the recorded seed.
  if ((options as { seed?: unknown }).seed !== undefined) {
    const recorded = r !== null && typeof r === "object" && typeof r.seed === "number"
      ? ` (${r.seed})`
      : "";
    throw new TypeError(
      `replayDrill: options.seed is not taken: a replay uses the seed its report recorded${recorded}; runDrill(report.document, { seed }) runs the drill with another`,
    );
  }
  // A key left out makes it no report; one of the wrong type (a seed changed by hand to "x") is
  // a report changed by hand, refused below naming the key and what it holds.
  if (
    r === null || typeof r !== "object" || r.seed === undefined || r.document === undefined ||
    r.steps === undefined || r.links === undefined
  ) {
    throw new LabError(
      "drill-invalid",
      `Cannot replay: this is not a drill report (no ${missingReportKeys(r)})`,
      "Give the report.json written by `vlab drill run --report DIR`",
    );
  }
  // A report of another format (a later vlab's): its fields may not mean what this one reads.
  const version = (r as { version?: unknown }).version;
  if (version !== undefined && version !== REPORT_VERSION) {
    throw new LabError(
      "drill-invalid",
      `Cannot replay: the report's format is version ${
        JSON.stringify(version)?.slice(0, 20)
      }, and this vlab reads version ${REPORT_VERSION}`,
      "Replay it with the vlab that wrote it, or run its drill file again with `vlab drill run`",
    );
  }
  // What the comparison reads, checked before the lab starts: a report changed by hand (a step
  // that is no step, a seed that is no seed) is refused here, not after the run as a crash.
  const problem = drillResultProblem(r, ["seed", "steps", "links", "document"]) ??
    (Number.isInteger(r.seed) && r.seed >= 0 && r.seed <= 0xffff_ffff
      ? null
      : `result.seed must be a whole number 0..4294967295, got ${r.seed}`);
  if (problem !== null) {
    throw new LabError(
      "drill-invalid",
      `Cannot replay: the report's ${problem.replace(/^result\./, "")}`,
      "Give the report.json written by `vlab drill run --report DIR`, as it was written",
    );
  }
  // Its problems and errors name the drill the report recorded (there is no line to point at).
  const recordedSource = typeof r.source === "string" && r.source !== "" &&
      !r.source.startsWith("<")
    ? r.source
    : null;
  const label = recordedSource === null
    ? "the report's drill"
    : `${recordedSource}, as the report recorded it`;
  // A throwing onProgress makes the replay reject once it is compared, with the comparison.
  const guard = guardProgress((options as RunDrillOptions).onProgress);
  const result = await runDrillAs(r.document as Record<string, unknown>, label, {
    ...options,
    onProgress: guard.progress,
    seed: r.seed,
  });
  const notes: string[] = [];
  const differences = compareRuns(r as DrillResult, result, { notes });
  // The verdict is not a decision (timing can move it), but a replay that judges otherwise says so.
  const verdict = (passed: unknown) => passed === true ? "PASS" : "FAIL";
  if (typeof r.passed === "boolean" && r.passed !== result.passed) {
    notes.push(`verdict: recorded ${verdict(r.passed)}, now ${verdict(result.passed)}`);
  }
  const before = Array.isArray(r.assertions) ? r.assertions : [];
  for (const a of result.assertions) {
    const was = before.find((b) => b?.text === a.text)?.verdict;
    if (was !== undefined && was !== a.verdict) {
      notes.push(
        `assertion ${a.text}: recorded ${was.toUpperCase()}, now ${a.verdict.toUpperCase()}`,
      );
    }
  }
  // The drill it replays, not `<object>` (the document it ran from): in report.md, and in the
  // `vlab drill run SOURCE --seed N` a replay of this replay's report suggests. A drill that had
  // no file keeps what it had (`<stdin>`, `<object>`), not the label its problems are named by:
  // report.md then gave `vlab drill run 'the report'\''s drill' --seed N`.
  result.source = recordedSource ??
    (typeof r.source === "string" && r.source.startsWith("<") ? r.source : "<object>");
  const replay = { result, differences, notes };
  const thrown = await guard.settle();
  if (thrown !== null) throw new DrillProgressError("replayDrill", replay, result.passed, thrown);
  return replay;
}
