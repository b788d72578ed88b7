/**
 * From a drill file (YAML) or a plain object to a validated {@linkcode Drill}, or every problem
 * at once with its `file:line:col` and a hint, the way topologies are validated: the same YAML
 * reader and locator (`parseYamlDocument`), the same zod-to-problem translation
 * (`schemaProblems`), the same printer (`formatIssues`). An inline topology's problems point
 * into the drill file; a topology file's problems point into that file.
 *
 * @module
 */

import { dirname, isAbsolute, join } from "node:path";
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { isScalar, type Node, Scalar } from "yaml";
import { err, ok, type Result } from "../../devices/base/result.ts";
import {
  checkIssueList,
  didYouMean,
  formatIssues,
  type PathSegment,
  type Problem,
} from "../topology/issues.ts";
import {
  type LocatedDocument,
  parseTopology,
  parseYamlDocument,
  topologyFromObject,
} from "../topology/load.ts";
import { resolveTopologyPath, shippedTopologies } from "../topology/files.ts";
import { schemaProblems } from "../topology/structure.ts";
import { withoutYamlEnv } from "../topology/yaml_env.ts";
import { leadingZeroIssues } from "../topology/leading_zero.ts";
import { vlabFileKind, vlabTextKind, wrongKindProblem } from "../topology/file_kind.ts";
import { textFileLook } from "../topology/text_kind.ts";
import type { Topology, TopologyIssue } from "../topology/types.ts";
import { type ExprError, parseExpr } from "./expr.ts";
import { checkReferences, checkTypes, type LabNames } from "./references.ts";
import { labMetricFamilies } from "./metric_names.ts";
import { drillLinks } from "./link_names.ts";
import {
  type Binding,
  durationMs,
  endlessWorkload,
  type Hold,
  stepKinds,
  vmRebootLeastMs,
  workloadNameProblems,
} from "./steps.ts";
import { parseWorkload, type WorkloadRequest } from "../guest/workloads/args.ts";
import "./fault_steps.ts";
import "./net_steps.ts";
import { escapeControl, quote } from "../../devices/base/quote.ts";
import { DRILL_FILE, readInput, TOPOLOGY_FILE } from "./input.ts";
import { checkString } from "./check.ts";
import { locatedByKey } from "./key_paths.ts";
import type { Drill, DrillAssertion, DrillStep } from "./types.ts";

/** A drill problem: a topology issue plus the file it is in. */
export interface DrillIssue extends TopologyIssue {
  /** The file the line and column are in. */
  file: string;
}

/**
 * Text a drill prints (its name in every progress line and verdict, both in its reports): no
 * control character, so that no escape sequence from a file reaches a terminal or a report.
 */
/** Whether `text` holds a control character (C0 or DEL; line breaks and tabs allowed if asked). */
function hasControl(text: string, breaksAllowed: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (breaksAllowed && (c === 0x09 || c === 0x0a)) continue;
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

const printable = (key: string, oneLine: boolean) =>
  z.string().refine(
    (v) => !hasControl(v, !oneLine),
    {
      // Named: the problem is placed at the value, where the key is not in sight.
      message: oneLine
        ? `${key} must be one line of plain text: it holds a line break, a tab or a control character`
        : `${key} must be plain text: it holds a control character, such as an escape sequence's`,
      params: { hint: "write it without control characters or escape sequences" },
    },
  );

const topSchema = z.strictObject({
  // Empty, it left the lines and reports nothing to name the drill by (`PASS: drill , …`).
  name: printable("name", true).refine((v) => v.trim() !== "", {
    message: "name must not be empty: the drill's lines and reports name it",
    params: { hint: "give it a name, such as link-flap, or leave name out (the file's name)" },
  }).optional(),
  description: printable("description", false).optional(),
  topology: z.unknown(),
  seed: z.int().min(0).max(0xffff_ffff).optional(),
  timeout: durationMs.optional(),
  timeline: z.array(z.unknown()),
  assert: z.array(z.string()).optional(),
});

/** The page problems point to. */
const DOCS = "docs/drills.md";

const COMMON = ["at", "every", "for", "jitter"];
const commonSchema = z.strictObject({
  at: durationMs.optional(),
  every: durationMs.optional(),
  for: durationMs.optional(),
  jitter: durationMs.optional(),
});

/** A drill's timeout when it gives none (ms). */
const DEFAULT_TIMEOUT_MS = 120_000;

/** Most runs a repeated step may make (`for` / `every`). */
export const MAX_RUNS = 10_000;

type Locate = (p: Problem) => { line: number; column: number } | null;

/** Turn a printed topology path (`links[0].endpoints[1]`, `vms["a b"]`) back into segments. */
function pathSegments(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/g;
  for (const m of path.matchAll(re)) {
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(Number(m[2]));
    else out.push(JSON.parse(m[3]) as string);
  }
  return out;
}

interface Ctx {
  file: string;
  locate: Locate | null;
  issues: DrillIssue[];
  /** Offset of an assertion's first character in the text, if it maps 1:1. */
  assertStart: (i: number, text: string) => { line: number; column: number; exact: boolean } | null;
}

function add(ctx: Ctx, problems: readonly Problem[]): void {
  for (const p of problems) {
    const at = ctx.locate?.(p) ?? null;
    ctx.issues.push({
      code: p.code,
      path: p.path.map(String).join("."),
      line: at?.line ?? null,
      column: at?.column ?? null,
      message: p.message,
      hint: p.hint,
      file: ctx.file,
    });
  }
}

async function resolveTopology(
  value: unknown,
  ctx: Ctx,
): Promise<{ topology: Topology; data: Record<string, unknown> } | null> {
  if (typeof value === "string") {
    const bare = !value.includes("/") && !value.includes(".y");
    const path = bare
      ? resolveTopologyPath(value)
      : isAbsolute(value) || ctx.file.startsWith("<")
      ? value
      : join(dirname(ctx.file), value);
    if (bare && path === value) {
      add(ctx, [{
        code: "unknown-topology",
        path: ["topology"],
        message: `Unknown shipped topology ${quote(value)}`,
        hint: didYouMean(value, shippedTopologies()) ?? "give a file path such as ./lab.yaml",
      }]);
      return null;
    }
    // Read once, as a topology file the drill names: a missing one is looked for relative to
    // the drill file, and the hint says so (not the list of shipped topologies).
    // A drill with no file (an object, stdin) reads it from the current folder.
    const relative = !isAbsolute(value);
    const from = ctx.file.startsWith("<")
      ? `the current folder, ${quote(Deno.cwd())} (the drill, ${ctx.file}, has no file)`
      : `the drill file, in ${quote(dirname(ctx.file))}`;
    const text = await readInput(path, {
      ...TOPOLOGY_FILE,
      missingHint: relative
        ? `the drill's topology: ${
          quote(value)
        } is read relative to ${from}; give a path from there, or a shipped name such as pair`
        : TOPOLOGY_FILE.missingHint,
    });
    if (!text.ok) {
      // Placed at the drill's `topology:`, where the path to fix is.
      const e = text.error;
      add(ctx, [{ code: e.code, path: ["topology"], message: e.message, hint: e.hint }]);
      return null;
    }
    const r = parseTopology(text.value, path);
    if (!r.ok) {
      for (const i of r.error) ctx.issues.push({ ...i, file: path });
      return null;
    }
    const data = withoutYamlEnv(() => parseYaml(text.value)) as Record<string, unknown>;
    return { topology: r.value, data };
  }
  // A missing topology is reported by the schema.
  if (value === undefined) return null;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    add(ctx, [{
      code: "wrong-type",
      path: ["topology"],
      message: "topology must be a shipped name, a file path or a map",
      hint: `shipped topologies: ${shippedTopologies().join(", ")}`,
    }]);
    return null;
  }
  const r = topologyFromObject(value, ctx.file);
  if (!r.ok) {
    add(
      ctx,
      r.error.map((i) => ({
        code: i.code,
        path: ["topology", ...pathSegments(i.path)],
        message: i.code === "unknown-key" ? inTopologyKey(i.message) : i.message,
        hint: i.hint,
        atKey: i.code === "unknown-key",
      })),
    );
    return null;
  }
  return { topology: r.value, data: value as Record<string, unknown> };
}

/**
 * An inline topology's unknown-key message, placed in the drill: the topology's top level is the
 * drill's `topology` (`Unknown key "vmss" at the top level` read as a key of the drill itself), and
 * its `links[0]` the drill's `topology.links[0]`.
 */
function inTopologyKey(message: string): string {
  const m = /^(Unknown key "(?:[^"\\]|\\.)*") (?:at the top level|in (.+))$/.exec(message);
  if (m === null) return message;
  return m[2] === undefined ? `${m[1]} in topology` : `${m[1]} in topology.${m[2]}`;
}

/** `1.5 s` or `300 ms`, for messages. */
function showMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

/** A wait for a workload that a later step names: say so, and what to do. */
function laterHint(p: Problem, named: ReadonlyMap<string, number>, index: number): Problem {
  if (p.code !== "unknown-workload") return p;
  const m = /named "(.*)"$/.exec(p.message);
  const at = m === null ? undefined : named.get(JSON.parse(`"${m[1]}"`) as string);
  if (at === undefined || at < index) return p;
  return {
    ...p,
    hint:
      `timeline[${at}] names it, after this step: the timeline runs in order, so move this step after timeline[${at}]`,
  };
}

/**
 * A workload name taken twice, said with where it was taken first: "… is already taken by
 * timeline[0] (drill.yaml:3:48)". Other problems unchanged.
 */
function firstTaker(
  p: Problem,
  gives: { name: string; at: PathSegment[] } | null,
  takenAt: ReadonlyMap<string, PathSegment[]>,
  ctx: Ctx,
): Problem {
  if (p.code !== "duplicate-name" || !p.message.endsWith(" is already taken")) return p;
  const name = gives !== null && samePath(gives.at, p.path)
    ? gives.name
    : [...takenAt.keys()].find((n) => p.message === `The name ${quote(n)} is already taken`);
  const first = name === undefined ? undefined : takenAt.get(name);
  if (first === undefined) return p;
  const at = ctx.locate?.({ ...p, path: first }) ?? null;
  const where = at === null ? "" : ` (${ctx.file}:${at.line}:${at.column})`;
  return { ...p, message: `${p.message} by timeline[${first[1]}]${where}` };
}

function samePath(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A step's timing keys, as read (ms). */
interface Timing {
  at?: number;
  every?: number;
  for?: number;
  jitter?: number;
}

/**
 * Timings that cannot work: a step due before a step above it ends (the cursor reads the timeline
 * in order, so it would run late, not at its time), a repeated step whose runs last longer than
 * its period, or a step due (or ending) after the drill's timeout. A step's `jitter` counts at its
 * most (each run may start that much later, whatever the seed draws), and so does what a run lasts
 * for sure (`up_after`, `heal_after`, a `wait`).
 */
/** The latest time a step above holds the cursor until: its `at`, its last run, its end. */
interface LatestDue {
  /** The step's index. */
  index: number;
  /** Until when it may hold the cursor at the latest, ms from the start (its jitter included). */
  ms: number;
  /** Until when it holds the cursor at least, ms from the start (no jitter). */
  earliestMs: number;
  /** Whether that is the last run of a repeated step (not its `at`). */
  lastRun: boolean;
  /** Whether that is when its (last) run ends: a run that lasts (`up_after`, `heal_after`, `wait`). */
  ends: boolean;
  /** Whether `ms` counts a jitter (this step's, or that of a step above it that it follows). */
  jittered: boolean;
}

/** How many runs a step's timing makes (1 without `every` and `for`). */
function runsOf(t: Timing): number {
  // At least one, as the runner plans it (`plannedRuns`): `for: 0` gave 0 runs and a negative span.
  return t.every !== undefined && t.for !== undefined && t.every > 0
    ? Math.max(1, Math.ceil(t.for / t.every))
    : 1;
}

/**
 * When step `t` runs, from `latest` (the steps above) and how long each run lasts for sure:
 * the earliest and latest its last run is due at and ends at. A step without `at` starts when the
 * cursor reaches it: no sooner than the steps above end.
 */
function schedule(t: Timing, latest: LatestDue | null, lasts: number) {
  const runs = runsOf(t);
  const jitter = t.jitter ?? 0;
  const span = (runs - 1) * (t.every ?? 0);
  // A step with `at` is placed at it: one due too soon is a problem of its own, and the steps
  // after it are judged as if it ran at its time, so that it brings no problem to them.
  const dueEarliest = (t.at ?? latest?.earliestMs ?? 0) + span;
  const dueLatest = (t.at ?? latest?.ms ?? 0) + span + jitter;
  return {
    runs,
    jitter,
    dueEarliest,
    dueLatest,
    endEarliest: dueEarliest + lasts,
    endLatest: dueLatest + lasts,
  };
}

/**
 * The time step `index` (timing `t`) holds the cursor until at the latest, when it is later than
 * `latest`: its `at`, or a repeated step's last run, planned from its `at` or, without one, from
 * `latest` at the earliest (the cursor reaches it no sooner), with its jitter and what a run lasts.
 * A step after it that is due before that would run late: `every: 500ms, for: 2s` then
 * `at: 600ms` ran the latter at 1.5 s, and `wait: 1s` then `at: 300ms` at 1 s.
 */
function latestDue(
  t: Timing,
  index: number,
  latest: LatestDue | null,
  lasts: number,
): LatestDue | null {
  const s = schedule(t, latest, lasts);
  if (s.runs > MAX_RUNS) return latest;
  // Without an at, a run that lasts (or waits for its jitter) still holds the cursor from the
  // earliest it can start.
  if (t.at === undefined && s.runs === 1 && lasts === 0 && s.jitter === 0) return latest;
  if (latest !== null && s.endLatest <= latest.ms) {
    return { ...latest, earliestMs: Math.max(latest.earliestMs, s.endEarliest) };
  }
  return {
    index,
    ms: s.endLatest,
    earliestMs: s.endEarliest,
    lastRun: s.runs > 1,
    ends: lasts > 0,
    // Placed after the step above, it carries that step's jitter too.
    jittered: s.jitter > 0 || (t.at === undefined && latest?.jittered === true),
  };
}

function timingProblems(
  t: Timing,
  index: number,
  latestAt: LatestDue | null,
  timeoutMs: number | null,
  lasts: number,
): Problem[] {
  const problems: Problem[] = [];
  const path: PathSegment[] = ["timeline", index, "at"];
  if (t.at !== undefined && latestAt !== null && t.at < latestAt.ms) {
    const jittered = latestAt.jittered;
    problems.push({
      code: "out-of-order",
      path,
      message: `timeline[${index}] is due at ${showMs(t.at)}, before timeline[${latestAt.index}]${
        latestAt.lastRun ? "'s last run" : ""
      } above it ${latestAt.ends ? "ends " : ""}(at ${jittered ? "up to " : ""}${
        showMs(latestAt.ms)
      }${jittered ? ", jitter included" : ""}): the timeline runs in order, so it would run late`,
      hint: `move it above timeline[${latestAt.index}], or give it an at of ${
        showMs(latestAt.ms)
      } or later`,
    });
  }
  const s = schedule(t, latestAt, lasts);
  // A step that would run too often is reported as such (checkSteps), not here too.
  if (s.runs > MAX_RUNS) return problems;
  // Each run lasts (or may start late by its jitter) up to the next run's time: every run after
  // the first would start late. A run that lasts its whole period leaves no time for its action
  // (bringing the link back up): it ran 20 to 40 ms late.
  if (
    s.runs > 1 && t.every !== undefined &&
    (lasts > 0 ? lasts + s.jitter >= t.every : s.jitter > t.every)
  ) {
    problems.push({
      code: "out-of-order",
      path: ["timeline", index, "every"],
      message: `timeline[${index}] runs every ${showMs(t.every)}, but a run ${
        lasts > 0 ? `lasts ${showMs(lasts)}` : ""
      }${lasts > 0 && s.jitter > 0 ? " and " : ""}${
        s.jitter > 0 ? `may start ${showMs(s.jitter)} late (its jitter)` : ""
      }: the next run would start late`,
      hint: `give it an every ${lasts > 0 ? "longer than" : "of at least"} ${
        showMs(lasts + s.jitter)
      }${s.jitter > 0 ? ", or less jitter" : ""}`,
    });
  }
  // A step without at placed after a step that may end past the timeout: that one is reported.
  const inherited = t.at === undefined && latestAt !== null && timeoutMs !== null &&
    latestAt.ms >= timeoutMs;
  if (timeoutMs === null || inherited) return problems;
  const timeout = showMs(timeoutMs);
  const where: PathSegment[] = s.runs > 1
    ? ["timeline", index, "for"]
    : t.at === undefined
    ? ["timeline", index]
    : path;
  if (s.dueEarliest >= timeoutMs) {
    problems.push({
      code: "out-of-range",
      path: where,
      message: s.runs > 1
        ? `timeline[${index}]'s last run is due at ${
          showMs(s.dueEarliest)
        }, past the drill's timeout (${timeout}): it can never run`
        : `timeline[${index}] is due at ${
          showMs(s.dueEarliest)
        }, past the drill's timeout (${timeout}): it can never run`,
      hint: s.runs > 1
        ? "give the drill a longer timeout, or the step a shorter `for`"
        : "give the drill a longer timeout, or the step an earlier time",
    });
  } else if (s.dueLatest >= timeoutMs) {
    problems.push({
      code: "out-of-range",
      path: s.jitter > 0 ? ["timeline", index, "jitter"] : where,
      message: `timeline[${index}]${s.runs > 1 ? "'s last run" : ""} may be due at up to ${
        showMs(s.dueLatest)
      }, jitter included, past the drill's timeout (${timeout}): with some seeds it never runs`,
      hint: "give the drill a longer timeout, or the step less jitter or an earlier time",
    });
  } else if (lasts > 0 && s.endLatest >= timeoutMs) {
    problems.push({
      code: "out-of-range",
      path: where,
      message: `timeline[${index}]${s.runs > 1 ? "'s last run" : ""} ${
        s.endEarliest >= timeoutMs ? "ends at" : "may end at up to"
      } ${showMs(s.endLatest)}${
        s.endEarliest >= timeoutMs ? "" : ", jitter included"
      }, past the drill's timeout (${timeout}): the drill would stop before it ends`,
      hint: "give the drill a longer timeout, or the step an earlier time or a shorter run",
    });
  }
  return problems;
}

/**
 * A step's own limit (a `wait_for`'s `timeout`, at `key`) that would come at or past the drill's
 * timeout, counted from the earliest its (last) run can start: the drill stops first, so the
 * limit can never be reached and the step's failure never reported. None when the step is due
 * past the timeout already (that is {@linkcode timingProblems}'s problem) or the timeout did not
 * read. The caller leaves out a wait for a workload that surely ends before the drill's timeout
 * (the wait ends with it); `waits` names the workload a wait is for, which may still run then.
 */
function limitProblems(
  t: Timing,
  index: number,
  latestAt: LatestDue | null,
  timeoutMs: number | null,
  lasts: number,
  limit: { ms: number; key: string; kind: string; waits: string | null },
): Problem[] {
  if (timeoutMs === null) return [];
  const s = schedule(t, latestAt, lasts);
  if (s.runs > MAX_RUNS || s.dueEarliest >= timeoutMs) return [];
  // A step without at after one that may end past the timeout: that one is reported.
  if (t.at === undefined && latestAt !== null && latestAt.ms >= timeoutMs) return [];
  const ends = s.dueEarliest + limit.ms;
  if (ends < timeoutMs) return [];
  const left = timeoutMs - s.dueEarliest;
  const timeout = showMs(timeoutMs);
  const what = `timeline[${index}]'s ${limit.key} of ${showMs(limit.ms)}`;
  return [{
    code: "out-of-range",
    path: ["timeline", index, limit.kind, limit.key],
    message: `${
      s.dueEarliest === 0
        ? `${what} is ${
          limit.ms > timeoutMs ? "longer than" : "as long as"
        } the drill's timeout (${timeout})`
        : `${what} would end at ${showMs(ends)} (${
          s.runs > 1 ? "its last run starts" : "the step starts"
        } at ${showMs(s.dueEarliest)} at the earliest), ${
          ends > timeoutMs ? "past" : "at"
        } the drill's timeout (${timeout})`
    }${
      limit.waits === null ? "" : `, and ${quote(limit.waits)} may still run then`
    }: the drill would stop first, so it can never time out`,
    hint: `give it a ${limit.key} shorter than ${
      showMs(left)
    } (what is left of the drill then), or the drill a longer timeout`,
  }];
}

/**
 * What a step starts that goes on after it (a workload in the background, `outlives`) and would
 * end at or past the drill's timeout, counted from the earliest its (last) run can start: the
 * drill waits for it at its end, so it would time out whatever happened. None when the step is
 * due past the timeout already (that is {@linkcode timingProblems}'s problem) or the timeout did
 * not read.
 */
function outlivesProblems(
  t: Timing,
  index: number,
  latestAt: LatestDue | null,
  timeoutMs: number | null,
  lasts: number,
  outlives: {
    ms: number;
    key: string;
    what: string;
    kind: string;
    verb?: string;
    shorter?: string;
  },
): Problem[] {
  if (timeoutMs === null) return [];
  const s = schedule(t, latestAt, lasts);
  if (s.runs > MAX_RUNS || s.dueEarliest >= timeoutMs) return [];
  if (t.at === undefined && latestAt !== null && latestAt.ms >= timeoutMs) return [];
  const ends = s.dueEarliest + outlives.ms;
  if (ends < timeoutMs) return [];
  const what = `timeline[${index}]'s ${quote(outlives.what)} ${outlives.verb ?? "runs"} ${
    showMs(outlives.ms)
  } at least`;
  const past = ends > timeoutMs ? "past" : "at";
  return [{
    code: "out-of-range",
    path: ["timeline", index, outlives.kind, outlives.key],
    message: `${
      s.dueEarliest === 0
        ? `${what}, ${ends > timeoutMs ? "longer than" : "as long as"}`
        : `${what}, so it ends at ${showMs(ends)} (${
          s.runs > 1 ? "its last run starts" : "it starts"
        } at ${showMs(s.dueEarliest)} at the earliest), ${past}`
    } the drill's timeout (${
      showMs(timeoutMs)
    }): the drill waits for it at its end, so it would time out`,
    hint: `give the drill a timeout longer than ${showMs(ends)}, or ${
      outlives.shorter ?? "the workload a shorter run (fewer pings, a shorter -t)"
    }`,
  }];
}

/** When the supervisor replaces a hung device worker, about, ms after the hang began (hints). */
const HANG_RESTART_MS = 1000;

/** The time each step run counts for the lab's own work, ms, in {@linkcode waitShortProblems}. */
const STEP_SLACK_MS = 50;

/**
 * A workload in the background of known length, as a later `wait_for` sees it: how long it runs
 * at least (its words), and how long after it started the cursor is at the latest (null: a step
 * since then that its words do not bound, a workload in the foreground or a fault).
 */
interface Outliving {
  index: number;
  ms: number;
  what: string;
  /** The earliest its step can start, ms from the drill's start. */
  startMs: number;
  /** How long after it started the cursor is at the latest; null: unknown. */
  gapMs: number | null;
  /** The step runs since it started (its own included), each counted {@linkcode STEP_SLACK_MS}. */
  runs: number;
  /** Counted from the last run of its repeated step (`every`, `for`), not its only one. */
  lastRun?: true;
}

/**
 * How long after `w` started a run of step `t`, read by the cursor at `gapMs` after it, ends at
 * the latest, each run `atMost` long: a run is due at its `at` (counted from the earliest `w`
 * can have started) or where the cursor is, plus its period and its jitter at its most, and
 * starts then or when the run before it ends.
 */
function gapAfter(t: Timing, w: Outliving, atMost: number): number {
  const runs = runsOf(t);
  const anchor = t.at === undefined ? w.gapMs! : t.at - w.startMs;
  let cursor = w.gapMs!;
  for (let k = 0; k < runs; k++) {
    cursor = Math.max(cursor, anchor + k * (t.every ?? 0) + (t.jitter ?? 0)) + atMost;
  }
  return cursor;
}

/**
 * A `wait_for` that gives up before the workload it waits for can end: the workload runs in the
 * background for a length its words give (`outlives`), and the steps between them hold the
 * cursor for at most a known time, so at the wait's end the workload still runs, on every run.
 * Refused only when that is sure, each step run allowed {@linkcode STEP_SLACK_MS} of its own.
 */
function waitShortProblems(
  t: Timing,
  index: number,
  kind: string,
  waits: { workload: string; ms: number; key: string | null },
  w: Outliving | undefined,
): Problem[] {
  if (w === undefined || w.gapMs === null || runsOf(t) > 1) return [];
  // When it starts at the latest (its own at and jitter), after the workload started.
  const starts = gapAfter(t, w, 0);
  const slack = (w.runs + 1) * STEP_SLACK_MS;
  if (waits.ms + starts + slack >= w.ms) return [];
  const name = quote(waits.workload);
  const gone = starts === 0
    ? "right after it"
    : `at most ${showMs(Math.round(starts * 1000) / 1000)} after it`;
  return [{
    code: "out-of-range",
    path: waits.key === null ? ["timeline", index, kind] : ["timeline", index, kind, waits.key],
    atKey: waits.key === null,
    message: `timeline[${index}] waits ${showMs(waits.ms)}${
      waits.key === null ? " (its default timeout)" : ""
    } for ${name}, but ${name} runs ${showMs(w.ms)} at least (timeline[${w.index}]: ${
      quote(w.what)
    }) and this step starts ${gone}: the wait would time out on every run`,
    hint:
      `give it a timeout longer than ${
        showMs(w.ms)
      }, what ${name} lasts at least by its words, with room to finish, or the ` +
      "workload a shorter run",
  }];
}

/**
 * What a step run holds in a VM once its step moved on (a port, a hung device worker), as a
 * later step that takes it sees it.
 */
interface Holder extends Outliving {
  /** The workload's name (`as:`), if it has one: a `wait_for` on it frees the port. */
  name: string | null;
  /** A server that runs until the drill stops it: it holds the port whatever the steps take. */
  endless: boolean;
  /** How it holds it, for messages ("runs", "blocks the worker"). */
  verb: string;
  /** What else its binding's hold says (see {@linkcode Hold}). */
  hold: Pick<Hold, "instant" | "fails" | "lets" | "hint">;
}

/**
 * A step that takes what a run above still holds when it starts, for sure (`binds`: a port a
 * server in the background holds, a device worker a hang blocks): one that runs until stopped,
 * or one whose length its words give and that the steps between, at their longest, cannot
 * outlast (each step run allowed {@linkcode STEP_SLACK_MS}), or one held for an instant (an
 * exit until its restart begins) that this step follows right after. It would fail on every run
 * ("port in use", "backend-hung", "backend-crash-armed").
 */
function takenProblems(
  t: Timing,
  index: number,
  kind: string,
  binds: Binding,
  holder: Holder | undefined,
): Problem[] {
  if (holder === undefined || runsOf(t) > 1 || binds.takes === false) return [];
  if (holder.hold.lets?.includes(binds.how ?? "") === true) return [];
  let still = holder.endless ? "it runs until the drill stops it" : null;
  if (still === null && holder.gapMs !== null) {
    const starts = gapAfter(t, holder, 0);
    if (holder.hold.instant === true) {
      // Only right after it: nothing between them holds the cursor a known time.
      if (starts === 0) still = `it ${holder.verb}, and this step starts right after it`;
    } else if (starts + (holder.runs + 1) * STEP_SLACK_MS < holder.ms) {
      still = `it ${holder.verb} ${showMs(holder.ms)} at least, and this step starts ${
        starts === 0
          ? "right after it"
          : `at most ${showMs(Math.round(starts * 1000) / 1000)} after it`
      }`;
    }
  }
  if (still === null) return [];
  return [{
    code: binds.kind === "port"
      ? "port-taken"
      : holder.hold.instant === true
      ? "crash-armed"
      : "worker-hung",
    path: ["timeline", index, kind, binds.key],
    message: `timeline[${index}] ${binds.doing} while timeline[${holder.index}]'s ${
      quote(holder.what)
    } holds it (${still}): it would fail with "${holder.hold.fails ?? binds.fails}"`,
    hint: holder.hold.hint !== undefined
      ? holder.hold.hint
      : binds.kind === "worker"
      ? `give it an at after the hung worker's restart (backend-restarted, about ${
        showMs(HANG_RESTART_MS)
      } after the hang began) or after the hang's end`
      : holder.endless
      ? `give it another port (-p), or timeline[${holder.index}]'s server a duration (-t SECONDS) ` +
        "and this step a later start"
      : `give it another port (-p), or start it once timeline[${holder.index}]'s workload ended${
        holder.name === null ? "" : ` (wait_for: { workload: ${holder.name} })`
      }`,
  }];
}

/**
 * A repeated step (`every`, `for`) each of whose runs takes what the run before still holds for
 * sure (`binds`: a server in the background binding its port for its `-t` or until stopped, a
 * hang blocking its device worker): the second run is due at most its `every` plus its `jitter`
 * after the first, each run allowed {@linkcode STEP_SLACK_MS}, and fails on every run.
 */
function repeatTakenProblems(
  t: Timing,
  index: number,
  kind: string,
  binds: Binding,
): Problem[] {
  const runs = runsOf(t);
  const hold = binds.holds;
  if (runs < 2 || hold === null || hold.instant === true || binds.takes === false) return [];
  if (hold.lets?.includes(binds.how ?? "") === true) return [];
  const apart = t.every! + (t.jitter ?? 0);
  if (apart + 2 * STEP_SLACK_MS >= hold.ms) return [];
  return [{
    code: binds.kind === "port" ? "port-taken" : "worker-hung",
    path: ["timeline", index, kind, binds.key],
    message: `timeline[${index}] runs ${runs} times, ${showMs(t.every!)} apart${
      t.jitter === undefined ? "" : ` (${showMs(t.jitter)} more at most, its jitter)`
    }, and each run ${binds.doing} while the run before still holds it (${quote(hold.what)} ${
      hold.ms === Infinity
        ? "runs until the drill stops it"
        : `${hold.verb} ${showMs(hold.ms)} at least`
    }): its second run would fail with "${hold.fails ?? binds.fails}"`,
    hint: hold.ms === Infinity
      ? "give it a duration (-t SECONDS) shorter than its every, or leave every and for out"
      : `give it an every longer than ${showMs(hold.ms)}, or ${
        binds.kind === "port" ? "a shorter -t" : "a shorter ms"
      }, or leave every and for out`,
  }];
}

/**
 * A run that needs its VM running (`needs`: a fault, a workload) due less than the reboot's
 * shortest ({@linkcode vmRebootLeastMs} of the crash's boot time, its `ms`) after a `vm-crash` of
 * that VM (`r`), counting the steps between at their longest: the VM still reboots, and the runner
 * holds the run until it runs again, so the run never starts at its time.
 */
function rebootingProblems(
  t: Timing,
  index: number,
  kind: string,
  needs: { vm: string; doing: string },
  r: Outliving | undefined,
): Problem[] {
  if (r === undefined || r.gapMs === null) return [];
  // A repeated step's first run: the ones after it may come once the VM runs again.
  const repeated = runsOf(t) > 1;
  const gap = gapAfter({ at: t.at, jitter: t.jitter }, r, 0);
  // `r.ms`: the crash's boot time (its `ms`), which the reboot surely lasts.
  const least = vmRebootLeastMs(r.ms);
  // Right after it (no gap) surely finds it rebooting too: a reboot takes more than nothing.
  if (gap > 0 && gap >= least) return [];
  return [{
    code: "vm-rebooting",
    path: ["timeline", index, kind, "vm"],
    message: `timeline[${index}]${repeated ? "'s first run" : ""} ${needs.doing} ${
      gap === 0 ? "right after" : `at most ${showMs(Math.round(gap * 1000) / 1000)} after`
    } timeline[${r.index}]${r.lastRun ? "'s last run" : ""} crashed it, while it reboots${
      gap === 0
        ? ""
        : ` (${r.ms === 0 ? "a reboot" : `this reboot, its guest's boot (ms) included,`} takes ${
          showMs(least)
        } at least)`
    }: it would wait for the reboot and start late`,
    hint: `give it an at after the VM's reboot (vm-restarted, a fraction of a second after ${
      r.ms === 0 ? "the crash" : `the crash's ${showMs(r.ms)} of boot`
    })`,
  }];
}

/**
 * A repeated `vm-crash` (`every`, `for`; `binds` with `takes: false`) whose runs come closer
 * together, `every` plus its `jitter` at their farthest, than the reboot each starts lasts at
 * least ({@linkcode vmRebootLeastMs} of the crash's boot time, `downMs`): its second run finds
 * the VM still rebooting, waits for it, and no run after the first starts at its time.
 */
function repeatRebootProblems(
  t: Timing,
  index: number,
  binds: Binding,
  needs: { vm: string; doing: string },
): Problem[] {
  const runs = runsOf(t);
  if (runs < 2 || binds.takes !== false || needs.vm !== binds.vm) return [];
  const apart = t.every! + (t.jitter ?? 0);
  const downMs = binds.downMs ?? 0;
  const least = vmRebootLeastMs(downMs);
  if (apart >= least) return [];
  return [{
    code: "vm-rebooting",
    path: ["timeline", index, "every"],
    message: `timeline[${index}] runs ${runs} times, ${showMs(t.every!)} apart${
      t.jitter === undefined ? "" : ` (${showMs(t.jitter)} more at most, its jitter)`
    }, and each run ${needs.doing} while the reboot the run before started goes on (${
      downMs === 0 ? "a reboot" : "this reboot, its guest's boot (ms) included,"
    } takes ${
      showMs(least)
    } at least): each run after the first would wait for that reboot and start late`,
    hint: `give it an every longer than the reboot (vm-restarted, a fraction of a second after ${
      downMs === 0 ? "the crash" : `the crash's ${showMs(downMs)} of boot`
    })${downMs === 0 ? "" : ", or a shorter ms"}, or leave every and for out`,
  }];
}

/** A workload a step left running in the background, in its VM (see `StepKind.runsIn`). */
interface Running extends Outliving {
  /** The VM it runs in. */
  vm: string;
  /** Its name (`as:`), if it has one. */
  name: string | null;
  /** A server that runs until the drill stops it. */
  endless: boolean;
}

/**
 * A VM crash (`binds`, a hold it ends) while a workload started in the background in that VM
 * surely still runs: one that runs until stopped, or one whose length its words give and that
 * the steps between, at their longest, cannot outlast (each step run allowed
 * {@linkcode STEP_SLACK_MS}). The crash ends it with an error ("crashed before it answered"),
 * which fails the drill on every run.
 */
function crashedProblems(
  t: Timing,
  index: number,
  kind: string,
  binds: Binding,
  r: Running,
): Problem[] {
  if (runsOf(t) > 1) return [];
  let still = r.endless ? "it runs until the drill stops it" : null;
  if (still === null && r.gapMs !== null && r.ms > 0) {
    const starts = gapAfter(t, r, 0);
    if (starts + (r.runs + 1) * STEP_SLACK_MS < r.ms) {
      still = `it runs ${showMs(r.ms)} at least, and this step starts ${
        starts === 0
          ? "right after it"
          : `at most ${showMs(Math.round(starts * 1000) / 1000)} after it`
      }`;
    }
  }
  if (still === null) return [];
  const vm = quote(binds.vm);
  return [{
    code: "workload-crashed",
    path: ["timeline", index, kind, "vm"],
    message:
      `timeline[${index}] crashes VM ${vm} while timeline[${r.index}]'s ${
        quote(r.what)
      } runs there (${still}): the crash ends it with an error ("VM ${vm} crashed before it ` +
      `answered"), which fails the drill`,
    hint: r.endless
      ? `give timeline[${r.index}]'s server a duration (-t SECONDS) that ends before the crash, ` +
        "or start it after the VM's reboot (vm-restarted)"
      : `crash the VM once the workload ended (${
        r.name === null ? "a later at" : `wait_for: { workload: ${r.name} }`
      }), or start the workload after the VM's reboot (vm-restarted)`,
  }];
}

/**
 * The keys of a step's map that read on their own, each by its own schema (a duration read to
 * ms), for the checks of a step its schema refused; null when the step's schema is not a map's or
 * its value is not a map. Keys the schema does not know and keys that do not read are left out.
 */
function readableArgs(schema: z.ZodType, value: unknown): Record<string, unknown> | null {
  if (!(schema instanceof z.ZodObject)) return null;
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const shape = schema.shape as Record<string, z.ZodType>;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (!Object.hasOwn(shape, key)) continue;
    const r = shape[key].safeParse(v);
    if (r.success && r.data !== undefined) out[key] = r.data;
  }
  return out;
}

/** The timing keys of a step that read as durations, each read on its own. */
function readableTiming(
  common: Record<string, unknown>,
): { at?: number; every?: number; for?: number; jitter?: number } {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(common)) {
    const r = durationMs.safeParse(v);
    if (r.success) out[k] = r.data;
  }
  return out;
}

/**
 * Check every step, in order, so that one problem neither hides others nor brings false ones. A
 * null topology (it did not load; its problem is reported) skips only what needs it: each kind's
 * check still runs. A step with a problem (an unknown VM, a typo in a key, several kinds) still
 * names its workload and changes what its kind's `unparsedEffects` says for the steps after it;
 * each timing key is read on its own. Returns the valid steps and the workload names the steps
 * define, in order.
 */
function checkSteps(
  raw: unknown[],
  topology: Topology | null,
  ctx: Ctx,
  timeoutMs: number | null,
): {
  steps: DrillStep[];
  workloads: string[];
  results: Map<string, string>;
  requests: Map<string, WorkloadRequest>;
  recovery: boolean | null;
} {
  const kinds = stepKinds();
  // Whether some step times a recovery: false while none does, null once a step did not read.
  let recovery: boolean | null = false;
  const steps: DrillStep[] = [];
  const workloads = new Set<string>();
  // The workload each name runs (`ping` for `as: ping` on `argv: [ping, …]`), when it read.
  const results = new Map<string, string>();
  // The request each name runs, as its words read.
  const requests = new Map<string, WorkloadRequest>();
  const endless = new Set<string>();
  const linksDown = new Set<string>();
  const partitions = {
    inForce: 0,
    cuts: [] as { index: PathSegment; a: readonly string[]; b: readonly string[] }[],
  };
  const vsockServers = {
    ports: new Map<string, "vsock-sink" | "vsock-echo">(),
    unknown: false,
    ended: new Map<string, string>(),
    names: new Map<string, string>(),
    clock: { ms: 0, started: new Map<string, { at: number; atMost: number }>() },
  };
  // Where each workload is named, so a step that waits for one named later can say so.
  const named = new Map<string, number>();
  // Where each name was taken (its step's `as`), so a second `as:` of it can say where.
  const takenAt = new Map<string, PathSegment[]>();
  for (const [index, entry] of raw.entries()) {
    const as = (entry as { exec?: { as?: unknown } } | null)?.exec?.as;
    if (typeof as === "string" && !named.has(as)) named.set(as, index);
  }
  // The workloads in the background whose length their words give, by name.
  const outliving = new Map<string, Outliving>();
  // The ports workloads in the background hold, by VM and port.
  const held = new Map<string, Holder>();
  // The workloads in the background, by their step, with the VM each runs in.
  const running = new Map<number, Running>();
  // The VMs a vm-crash reboots, by VM: the step that crashed it.
  const rebooting = new Map<string, Outliving>();
  // The cursor from the drill's start, as a workload's gap is counted: how late it is at the
  // latest when the steps' words bound it (null: a step they do not bound came).
  const origin: Outliving = { index: -1, ms: 0, what: "", startMs: 0, gapMs: 0, runs: 0 };
  // By when each named workload has surely ended, ms from the drill's start, when its words and
  // the steps before it bound that (-Infinity: it ended with its step, or a wait_for on it
  // returned); null: not bounded.
  const endsBy = new Map<string, number | null>();
  // The latest `at` so far: the cursor reads steps in order, so a step cannot be due before it.
  let latestAt: LatestDue | null = null;
  for (const [index, entry] of raw.entries()) {
    const path: PathSegment[] = ["timeline", index];
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      add(ctx, [{
        code: "wrong-type",
        path,
        message: `timeline[${index}] must be a map with one step kind`,
        hint: `step kinds: ${[...kinds.keys()].join(", ")}`,
      }]);
      continue;
    }
    const keys = Object.keys(entry);
    const own = keys.filter((k) => !COMMON.includes(k));
    const known = own.filter((k) => kinds.has(k));
    const problems: Problem[] = own.filter((k) => !kinds.has(k)).map((k) => ({
      code: "unknown-key",
      path: [...path, k],
      atKey: true,
      message: `Unknown step kind ${quote(k)} in timeline[${index}]`,
      hint: didYouMean(k, [...kinds.keys(), ...COMMON]),
    }));
    if (known.length === 0 && problems.length === 0) {
      problems.push({
        code: "no-step-kind",
        path,
        message: `timeline[${index}] has no step kind`,
        hint: `add one of ${[...kinds.keys()].map((k) => `\`${k}\``).join(", ")}`,
      });
    }
    if (known.length > 1) {
      problems.push({
        code: "several-step-kinds",
        path: [...path, known[1]],
        atKey: true,
        message: `timeline[${index}] has several step kinds: ${known.join(", ")}`,
        hint: "give each step its own timeline entry",
      });
    }
    const common = Object.fromEntries(
      Object.entries(entry).filter(([k]) => COMMON.includes(k)),
    );
    const c = commonSchema.safeParse(common);
    if (!c.success) {
      problems.push(
        ...schemaProblems(commonSchema, common, { what: `timeline[${index}]`, docs: DOCS }).map((
          p,
        ) => ({
          ...p,
          path: [...path, ...p.path],
        })),
      );
    }
    const kind = known.length === 1 ? known[0] : null;
    // What a step not read as a whole still names or changes, for the steps after it.
    const unparsed = (key: string): void => {
      const spec = kinds.get(key)!;
      const value = (entry as Record<string, unknown>)[key];
      spec.unparsedEffects?.(value, {
        topology,
        workloads,
        endless,
        linksDown,
        partitions,
        vsockServers,
      });
      const name = spec.definesUnparsed?.(value) ?? null;
      if (name === null) return;
      const at = [...path, key, "as"];
      const taken = workloadNameProblems(name, workloads, at);
      if (taken.length === 0) {
        workloads.add(name);
        takenAt.set(name, at);
      }
      problems.push(...taken);
    };
    // Several kinds in one entry: none runs, but the names they give are names all the same.
    if (known.length > 1) known.forEach(unparsed);
    let args: unknown = null;
    // The workload name the step gives (`as:`) and where it stands, if it reads.
    let gives: { name: string; at: PathSegment[] } | null = null;
    if (kind !== null) {
      const spec = kinds.get(kind)!;
      const value = (entry as Record<string, unknown>)[kind];
      const parsed = spec.schema.safeParse(value);
      if (!parsed.success) {
        // What it names or changes still counts for the steps after it.
        unparsed(kind);
        // The keys that read are checked all the same: one bad key hides no other problem.
        const partial = readableArgs(spec.schema, value);
        if (partial !== null && spec.checkPartial !== undefined) {
          const checked: Problem[] = spec.checkPartial(
            partial,
            { topology, workloads, endless, linksDown, partitions, vsockServers },
            [...path, kind],
          );
          problems.push(...checked.map((p) => laterHint(p, named, index)));
        }
        problems.push(
          ...schemaProblems(spec.schema, value, { what: `timeline[${index}].${kind}`, docs: DOCS })
            .map((p) => ({
              ...p,
              path: [...path, kind, ...p.path],
              // The schema read the step's value alone: its "top level" is the step's key.
              message: p.message.replace(
                / (at the top level|in (\S+))$/,
                (_, _w, inner) =>
                  ` in timeline[${index}].${kind}${inner === undefined ? "" : `.${inner}`}`,
              ),
              // A step whose value is the duration (`wait: true`): its key, not "value".
              hint: p.path.length === 0 && p.hint !== null
                ? p.hint.replace(/^write value as /, `write ${kind} as `)
                : p.hint,
            })),
        );
      } else {
        args = parsed.data;
        // How many times it runs, when its timing reads (a repeated send to a vsock-sink).
        const runs = runsOf(c.success ? c.data : readableTiming(common));
        const checked = spec.check?.(
          args,
          { topology, workloads, endless, linksDown, partitions, vsockServers, runs },
          [
            ...path,
            kind,
          ],
        ) ?? [];
        problems.push(...checked.map((p) => laterHint(p, named, index)));
        // A name refused here (taken, reserved) names nothing for the steps after it.
        const name = spec.defines?.(args) ?? null;
        gives = name === null ? null : { name, at: [...path, kind, "as"] };
        if (name !== null && !checked.some((p) => p.path.at(-1) === "as")) {
          workloads.add(name);
          takenAt.set(name, [...path, kind, "as"]);
          const argv = (args as { argv?: unknown }).argv;
          if (Array.isArray(argv) && endlessWorkload(argv as string[])) endless.add(name);
          const workload = Array.isArray(argv) ? parseWorkload(argv as string[]) : null;
          if (workload?.ok === true) {
            results.set(name, workload.value.kind);
            requests.set(name, workload.value);
          }
        }
      }
    }
    // Each timing key read on its own: one that does not read (reported above) hides nothing of
    // the others, and a step after it is still judged against its `at`.
    const timing = c.success ? c.data : readableTiming(common);
    const unread = COMMON.filter((k) => Object.hasOwn(common, k) && !Object.hasOwn(timing, k));
    const lasts = kind !== null && args !== null ? kinds.get(kind)!.lasts?.(args) ?? 0 : 0;
    // Each run holds the cursor that long at least, wherever it starts (the cursor reads in order).
    vsockServers.clock.ms += lasts * runsOf(timing);
    problems.push(...timingProblems(timing, index, latestAt, timeoutMs, lasts));
    const limit = kind !== null && args !== null ? kinds.get(kind)!.limit?.(args) ?? null : null;
    const waits = kind !== null && args !== null ? kinds.get(kind)!.waitsFor?.(args) ?? null : null;
    // A wait for a workload that surely ends before the drill's timeout ends with it, whatever
    // its own timeout: that one can outlast nothing (a wait of 60 s for a 1-second ping).
    const waitedEnd = waits === null ? null : endsBy.get(waits.workload) ?? null;
    if (limit !== null && !(waitedEnd !== null && timeoutMs !== null && waitedEnd < timeoutMs)) {
      problems.push(
        ...limitProblems(timing, index, latestAt, timeoutMs, lasts, {
          ...limit,
          kind: kind!,
          waits: waits === null || !workloads.has(waits.workload) ? null : waits.workload,
        }),
      );
    }
    const outlives = kind !== null && args !== null
      ? kinds.get(kind)!.outlives?.(args) ?? null
      : null;
    if (outlives !== null) {
      problems.push(
        ...outlivesProblems(timing, index, latestAt, timeoutMs, lasts, {
          ...outlives,
          kind: kind!,
        }),
      );
    }
    if (waits !== null && unread.length === 0) {
      problems.push(
        ...waitShortProblems(timing, index, kind!, waits, outliving.get(waits.workload)),
      );
    }
    if (kind !== null && args !== null) {
      if (recovery === false && kinds.get(kind)!.timesRecovery?.(args) === true) recovery = true;
    } else if (recovery === false) recovery = null;
    const binds = kind !== null && args !== null ? kinds.get(kind)!.binds?.(args) ?? null : null;
    const port = binds === null ? null : `${binds.vm}\0${binds.what}`;
    if (binds !== null && unread.length === 0) {
      problems.push(...takenProblems(timing, index, kind!, binds, held.get(port!)));
      problems.push(...repeatTakenProblems(timing, index, kind!, binds));
    }
    // A VM a vm-crash reboots refuses what needs it running, right after.
    const needs = kind !== null && args !== null
      ? kinds.get(kind)!.needsRunning?.(args) ?? null
      : null;
    if (needs !== null && unread.length === 0) {
      problems.push(...rebootingProblems(timing, index, kind!, needs, rebooting.get(needs.vm)));
      // A repeated vm-crash's runs, each while the reboot the run before started goes on.
      if (binds !== null) {
        problems.push(...repeatRebootProblems(timing, index, binds, needs));
      }
    }
    // A VM crash ends the workloads running in that VM, each with an error.
    if (binds?.takes === false) {
      for (const [k, r] of running) {
        if (r.vm !== binds.vm) continue;
        if (unread.length === 0) problems.push(...crashedProblems(timing, index, kind!, binds, r));
        running.delete(k);
      }
    }
    // A wait_for on a workload ends it (or the drill): its port is free after it, and a later
    // wait for it returns at once.
    if (waits !== null) {
      for (const [k, h] of held) if (h.name === waits.workload) held.delete(k);
      outliving.delete(waits.workload);
      endsBy.set(waits.workload, -Infinity);
      for (const [k, r] of running) if (r.name === waits.workload) running.delete(k);
    }
    // By when the workload this step names has ended: it starts when the step's (last) run does.
    if (gives !== null && kind !== null && args !== null) {
      const most = kinds.get(kind)!.runsAtMost?.(args) ?? null;
      const startsBy = origin.gapMs === null || unread.length > 0 || runsOf(timing) > MAX_RUNS
        ? null
        : gapAfter(timing, origin, 0);
      endsBy.set(
        gives.name,
        most === 0
          ? -Infinity
          : most === null || startsBy === null
          ? null
          : startsBy + most + (origin.runs + 1) * STEP_SLACK_MS,
      );
    }
    // How long after each workload in the background started this step ends at the latest.
    const atMost = kind !== null && args !== null
      ? kinds.get(kind)!.lastsAtMost?.(args) ?? null
      : null;
    for (
      const w of [
        ...outliving.values(),
        ...held.values(),
        ...running.values(),
        ...rebooting.values(),
        origin,
      ]
    ) {
      if (w.gapMs === null) continue;
      w.gapMs = atMost === null || unread.length > 0 || runsOf(timing) > MAX_RUNS
        ? null
        : gapAfter(timing, w, atMost);
      w.runs += runsOf(timing);
    }
    // A repeated vm-crash too, from its last run (`dueEarliest` is the last run's): a step right
    // after it validated, and found the VM rebooting.
    if (binds?.takes === false && unread.length === 0 && runsOf(timing) <= MAX_RUNS) {
      rebooting.set(binds.vm, {
        index,
        ms: binds.downMs ?? 0,
        what: "vm-crash",
        startMs: schedule(timing, latestAt, lasts).dueEarliest,
        gapMs: 0,
        runs: 1,
        ...(runsOf(timing) > 1 ? { lastRun: true } : {}),
      });
    }
    const runsIn = kind !== null && args !== null ? kinds.get(kind)!.runsIn?.(args) ?? null : null;
    if (runsIn !== null && unread.length === 0 && runsOf(timing) === 1) {
      running.set(index, {
        ...runsIn,
        index,
        startMs: schedule(timing, latestAt, lasts).dueEarliest,
        gapMs: 0,
        runs: 1,
        name: gives?.name ?? null,
      });
    }
    if (outlives !== null && gives !== null && unread.length === 0) {
      outliving.set(gives.name, {
        index,
        ms: outlives.ms,
        what: outlives.what,
        startMs: schedule(timing, latestAt, lasts).dueEarliest,
        gapMs: 0,
        runs: 1,
      });
    }
    // A server in the background of known length, or one that runs until stopped, holds its
    // port; a hang, its VM's device worker. A run that holds nothing frees it.
    if (binds !== null && unread.length === 0 && runsOf(timing) === 1) {
      // One that only ends holds (a vm-crash) ends every hold in its VM: its workloads too.
      if (binds.takes === false) {
        for (const k of held.keys()) if (k.startsWith(`${binds.vm}\0`)) held.delete(k);
      } else if (binds.holds === null) held.delete(port!);
      else {
        held.set(port!, {
          index,
          ms: binds.holds.ms,
          what: binds.holds.what,
          startMs: schedule(timing, latestAt, lasts).dueEarliest,
          gapMs: 0,
          runs: 1,
          name: gives?.name ?? null,
          endless: binds.holds.ms === Infinity,
          verb: binds.holds.verb,
          hold: binds.holds,
        });
      }
    }
    latestAt = latestDue(timing, index, latestAt, lasts);
    const { every, for: forMs } = timing;
    // With one of every and for unread, whether they go together cannot be judged.
    const pairRead = !unread.includes("every") && !unread.includes("for");
    if (pairRead && (every === undefined) !== (forMs === undefined)) {
      problems.push({
        code: "missing-key",
        path: [...path, every === undefined ? "for" : "every"],
        atKey: true,
        message: `timeline[${index}]: every and for go together`,
        hint: "repeat a step with `every: 500ms` and `for: 5s`",
      });
    } else if (every !== undefined && forMs !== undefined) {
      if (every <= 0) {
        problems.push({
          code: "out-of-range",
          path: [...path, "every"],
          message: `timeline[${index}]: every must be longer than 0, or the step would run forever`,
          hint: "give a period such as `every: 500ms`",
        });
      } else if (forMs <= 0) {
        // It ran once, at its `at`: a repetition of nothing, which the timing checks misjudged.
        problems.push({
          code: "out-of-range",
          path: [...path, "for"],
          message: `timeline[${index}]: for must be longer than 0, or the step repeats nothing`,
          hint:
            "repeat it for a while, such as `for: 5s`, or leave every and for out to run it once",
        });
      } else if (forMs / every > MAX_RUNS) {
        problems.push({
          code: "out-of-range",
          path: [...path, "every"],
          message: `timeline[${index}] would run ${
            Math.ceil(forMs / every)
          } times (at most ${MAX_RUNS})`,
          hint: "use a longer period or a shorter duration",
        });
      } else if (gives !== null && Math.ceil(forMs / every) > 1) {
        // Each run would take the name from the one before: wait_for and the assertions would
        // read the last run's result, the others' lost without a word.
        problems.push({
          code: "duplicate-name",
          path: gives.at,
          message: `timeline[${index}] runs ${Math.ceil(forMs / every)} times, and as: ${
            quote(gives.name)
          } names one workload`,
          hint: "leave as: out (each run's workload is then named after it, as #" +
            `${index}.0), or give each run a step of its own`,
        });
      }
    }
    add(ctx, problems.map((p) => firstTaker(p, gives ?? null, takenAt, ctx)));
    if (problems.length === 0 && kind !== null && c.success) {
      steps.push({
        index,
        kind,
        args,
        atMs: c.data.at ?? null,
        everyMs: c.data.every ?? null,
        forMs: c.data.for ?? null,
        jitterMs: c.data.jitter ?? 0,
      });
    }
  }
  return { steps, workloads: [...workloads], results, requests, recovery };
}

/**
 * Check every assertion; `workloads` is null when the timeline did not read, so that no workload
 * name is refused for a timeline that was never checked.
 */
function checkAssertions(
  raw: unknown[],
  workloads: string[] | null,
  results: ReadonlyMap<string, string>,
  ctx: Ctx,
  lab: LabNames | null,
  recovery: boolean | null,
  requests: ReadonlyMap<string, WorkloadRequest>,
): DrillAssertion[] {
  const out: DrillAssertion[] = [];
  for (const [i, text] of raw.entries()) {
    if (typeof text !== "string") continue;
    const start = ctx.assertStart(i, text);
    const issue = (e: ExprError) => {
      const exact = start?.exact === true;
      ctx.issues.push({
        code: e.code,
        path: `assert.${i}`,
        line: start?.line ?? null,
        column: start === null ? null : start.column + (exact ? e.at : 0),
        message: `${e.message} (assert[${i}], column ${e.at + 1} of the assertion)`,
        hint: e.hint,
        file: ctx.file,
      });
    };
    const parsed = parseExpr(text);
    if (!parsed.ok) {
      issue(parsed.error);
      continue;
    }
    const unknown = checkReferences(parsed.value, workloads, results, lab, recovery, requests);
    // Type mistakes only once every name is known (an unknown name has no type to judge).
    const errors = unknown.length > 0 ? unknown : checkTypes(parsed.value, results);
    for (const e of errors) issue(e);
    if (errors.length === 0) {
      out.push({
        text,
        expr: parsed.value,
        line: start?.line ?? null,
        column: start?.column ?? null,
      });
    }
  }
  return out;
}

/**
 * Problems in the order a reader meets them: the drill file's by line and column, and a topology
 * file's where the drill names that file (at its `topology:`), not by the files' names.
 */
function inFileOrder(issues: DrillIssue[], file: string, locate: Locate | null): DrillIssue[] {
  const at = locate?.({ code: "", path: ["topology"], message: "", hint: null }) ?? null;
  const key = (i: DrillIssue): number[] => {
    const own = [i.line ?? Infinity, i.column ?? 0];
    return i.file === file ? [...own, 0] : [at?.line ?? Infinity, at?.column ?? 0, 1, ...own];
  };
  const keys = new Map(issues.map((i) => [i, key(i)]));
  const compare = (a: number[], b: number[]): number => {
    for (let n = 0; n < Math.min(a.length, b.length); n++) {
      if (a[n] !== b[n]) return a[n] - b[n];
    }
    return a.length - b.length;
  };
  // Stable: two problems at one place keep the order they were found in.
  return [...issues].sort((a, b) => compare(keys.get(a)!, keys.get(b)!));
}

/**
 * An assertion YAML read as a map, because of a `: ` in it (`- ping.text == "x: y"`): its
 * problem's hint says to quote it, not only that a string goes there.
 */
function mapAssertionHint(p: Problem, raw: unknown): Problem {
  if (p.path.length !== 2 || p.path[0] !== "assert" || typeof p.path[1] !== "number") return p;
  const entry = (raw as { assert?: unknown[] }).assert?.[p.path[1]];
  if (entry === null || typeof entry !== "object" || Array.isArray(entry)) return p;
  return {
    ...p,
    hint: "YAML reads a `: ` in a plain scalar as a map: quote the assertion, as in " +
      `- 'ping.text == "x: y"'`,
  };
}

/**
 * A drill's name: its `name`, else its file's name without `.yaml`. A file name may hold anything
 * a path can: escaped, as every name the drill prints. A drill with no file is named as its
 * problems name it (`<stdin>`, `<object>`): "drill" made its lines read `drill drill, seed 1`.
 */
function drillName(name: string | undefined, file: string): string {
  return name ??
    escapeControl(file.startsWith("<") ? file : file.split("/").pop()!.replace(/\.ya?ml$/, ""));
}

/** What `topology` tells of its lab's names: its metrics and its events' subjects. */
function labNames(topology: Topology, drill: string): LabNames {
  return { metrics: labMetricFamilies(topology), subjects: labSubjects(topology, drill) };
}

/**
 * Every subject an event of a drill's lab can have but a partition's number: its VMs, links,
 * switches and vsock routers, the lab's name and the drill's (`drill`).
 *
 * @example
 * ```ts
 * import { topologyFromObject } from "../topology/mod.ts";
 * import { labSubjects } from "./load.ts";
 * const t = topologyFromObject({ name: "p", vms: { a: {} } });
 * t.ok && labSubjects(t.value, "flap"); // ["a", "p", "flap"]
 * ```
 */
export function labSubjects(topology: Topology, drill: string): string[] {
  return [
    ...topology.vms.map((v) => v.name),
    ...drillLinks(topology).map((l) => l.name),
    ...topology.switches.map((s) => s.name),
    ...topology.vsockRouters.map((r) => r.name),
    topology.name,
    drill,
  ];
}

async function validate(
  raw: unknown,
  file: string,
  located: LocatedDocument | null,
  text: string,
): Promise<Result<Drill, DrillIssue[]>> {
  const ctx: Ctx = {
    file,
    locate: located?.locate ?? null,
    issues: [],
    assertStart: (i, value) => {
      if (located === null) return null;
      const node = located.doc.getIn(["assert", i], true) as Node | undefined;
      if (node === undefined || node.range == null) return null;
      const quoted = isScalar(node) &&
        (node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE);
      const start = node.range[0] + (quoted ? 1 : 0);
      const pos = located.lineCounter.linePos(start);
      return {
        line: pos.line,
        column: pos.col,
        exact: text.slice(start, start + value.length) === value,
      };
    },
  };
  // Another kind of vlab file (a topology, a report, the schema): one problem that says so, not
  // one "unknown key" per key of the other format.
  const wrong = wrongKindProblem(vlabFileKind(raw), "drill", { file });
  if (wrong !== null) {
    add(ctx, [wrong]);
    return err(ctx.issues);
  }
  add(
    ctx,
    schemaProblems(topSchema, raw, { what: "The drill", docs: DOCS }).map((p) =>
      mapAssertionHint(p, raw)
    ),
  );
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    return err(ctx.issues);
  }
  const doc = raw as Record<string, unknown>;
  const top = topSchema.safeParse(raw);
  const resolved = await resolveTopology(doc.topology, ctx);
  const timeline = Array.isArray(doc.timeline) ? doc.timeline : [];
  // Read on its own: another top-level problem (an unknown key) does not hide the steps' timing.
  const timeout = durationMs.optional().safeParse(doc.timeout);
  const timeoutMs = timeout.success ? timeout.data ?? DEFAULT_TIMEOUT_MS : null;
  // A timeout of 0 ends the drill before it starts: said once, at the timeout, rather than as
  // every step "past the drill's timeout" with a hint to move the step earlier than 0.
  if (timeoutMs === 0) {
    add(ctx, [{
      code: "out-of-range",
      path: ["timeout"],
      message: "The drill's timeout must be more than 0 ms: the drill would end before it starts",
      hint: "give the drill time to run, such as `timeout: 30s`, or leave it out (2 minutes)",
    }]);
  }
  const { steps, workloads, results, requests, recovery } = checkSteps(
    timeline,
    resolved?.topology ?? null,
    ctx,
    timeoutMs === 0 ? null : timeoutMs,
  );
  // A non-string assertion is the schema's problem; the others are still checked.
  const asserts = Array.isArray(doc.assert)
    ? checkAssertions(
      doc.assert,
      Array.isArray(doc.timeline) ? workloads : null,
      results,
      ctx,
      // The metrics its lab can have and its events' subjects, when its topology loaded.
      resolved === null ? null : labNames(resolved.topology, drillName(top.data?.name, file)),
      Array.isArray(doc.timeline) ? recovery : null,
      requests,
    )
    : [];
  if (ctx.issues.length > 0 || resolved === null || !top.success) {
    return err(inFileOrder(ctx.issues, file, ctx.locate));
  }
  // The drill's seed, else its lab's (the topology's `seed`, 1 when it sets none): a drill that
  // does not choose runs its lab as `vlab up` would, and draws its own choices from the same seed.
  const seed = top.data.seed ?? resolved.topology.seed;
  const name = drillName(top.data.name, file);
  return ok({
    name,
    description: top.data.description ?? "",
    source: file,
    seed,
    topology: { ...resolved.topology, seed },
    topologyData: resolved.data,
    timeline: steps,
    assertions: asserts,
    timeoutMs: top.data.timeout ?? DEFAULT_TIMEOUT_MS,
    document: { ...doc, name, topology: resolved.data, seed },
  });
}

/**
 * Parse and check a drill written in YAML. `file` names it in problems and anchors a relative
 * topology path.
 *
 * @example
 * ```ts ignore
 * import { parseDrill } from "./load.ts";
 * const r = await parseDrill("topology: pair\ntimeline: [{ wait: 1s }]\n", "d.yaml");
 * r.ok && r.value.timeline[0].kind; // "wait"
 * ```
 */
export async function parseDrill(text: string, file: string): Promise<Result<Drill, DrillIssue[]>> {
  checkString("parseDrill", "text", text);
  checkString("parseDrill", "file", file);
  // A report a drill wrote (Markdown, JUnit XML, SVG) is no YAML: say what it is.
  const written = wrongKindProblem(vlabTextKind(text), "drill", { file });
  if (written !== null) {
    const { code, message, hint } = written;
    return err([{ code, path: "", line: 1, column: 1, message, hint, file }]);
  }
  // Its YAML problems name a drill ("a drill is one document"), not a topology.
  const parsed = parseYamlDocument(text, { what: "a drill" });
  if (!parsed.ok) {
    // A topology (or a report) with a YAML-level problem (a duplicate key, an unknown tag) is of
    // its kind all the same: one problem that says so, told from its keys as written, not its
    // problem in a drill's words (`vlab drill run topology.yaml` said "a drill holds plain values").
    const look = textFileLook(text);
    const wrong = wrongKindProblem(look.kind, "drill", { file });
    if (wrong !== null) {
      const { code, message, hint } = wrong;
      return err([{ code, path: "", ...look.at, message, hint, file }]);
    }
    const lines = text.split("\n");
    return err(parsed.error.map((i) => {
      // `- !(a > b)`: YAML reads a leading `!` as a tag, and its error says nothing of that.
      const line = i.line === null ? "" : lines[i.line - 1] ?? "";
      return /^\s*-\s*!/.test(line)
        ? {
          ...i,
          file,
          hint:
            "YAML reads a leading ! as a tag: quote an assertion that starts with !, as in - '!(ping.received > 0)'",
        }
        : { ...i, file };
    }));
  }
  const r = await validate(parsed.value.raw, file, parsed.value, text);
  // A file of another kind (a topology) is that one problem: its own keys (`cid: 010`) are its
  // kind's to judge, as `parseTopology` leaves a drill's. `vlab drill run topology.yaml` said
  // "3 problems", the topology's leading zeros beside the wrong kind.
  if (!r.ok && r.error.some((i) => i.code === "wrong-kind")) return r;
  // `count: 010` (or a topology written in the drill): 10 here, 8 to a YAML 1.1 tool, as in a
  // topology file. A key that takes no number says so itself.
  const zeros = leadingZeroIssues(
    parsed.value.doc.contents,
    parsed.value.lineCounter,
    (path) => path.map(String).join("."),
  ).filter((z) => r.ok || !r.error.some((i) => i.file === file && i.path === z.path))
    .map((z) => ({ ...z, file }));
  if (zeros.length === 0) return r;
  return err(inFileOrder([...(r.ok ? [] : r.error), ...zeros], file, parsed.value.locate));
}

/**
 * Check a drill given as a plain object (snake_case keys, as in YAML); problems carry a path,
 * and their messages start with it where they do not name their place (`locatedByKey`).
 *
 * @example
 * ```ts ignore
 * import { drillFromObject } from "./load.ts";
 * const r = await drillFromObject({ topology: "pair", timeline: [{ wait: "1s" }] });
 * ```
 */
export async function drillFromObject(
  value: unknown,
  source = "<object>",
): Promise<Result<Drill, DrillIssue[]>> {
  checkString("drillFromObject", "source", source);
  const r = await validate(value, source, null, "");
  return r.ok ? r : err(locatedByKey(r.error, source));
}

/**
 * Read and check a drill file. A missing file, a folder, a FIFO or a device (`/dev/null`), or a
 * file that is not UTF-8 is one problem with code `unreadable`; a file over 1 MiB (a topology
 * file's limit) is one with code `too-large` (see `input.ts`).
 *
 * @example
 * ```ts ignore
 * import { loadDrillFile } from "./load.ts";
 * const r = await loadDrillFile("drills/link-flap.yaml");
 * ```
 */
export async function loadDrillFile(path: string): Promise<Result<Drill, DrillIssue[]>> {
  checkString("loadDrillFile", "path", path);
  const text = await readInput(path, DRILL_FILE);
  if (!text.ok) return err([text.error]);
  return await parseDrill(text.value, path);
}

/**
 * Render drill problems: `file:line:col: message` and a hint line each (`formatIssues` of the
 * topology, each in its own file). Anything but a list of drill problems is a `TypeError` naming
 * the first entry that is none.
 *
 * @example
 * ```ts
 * import { formatDrillIssues } from "./load.ts";
 * formatDrillIssues([{ code: "x", path: "", line: 3, column: 5, message: "Bad", hint: null, file: "d.yaml" }]);
 * // "d.yaml:3:5: Bad"
 * ```
 */
export function formatDrillIssues(issues: readonly DrillIssue[]): string {
  checkIssueList("formatDrillIssues", issues, true);
  return issues.map((i) => formatIssues([i], i.file)).join("\n");
}
