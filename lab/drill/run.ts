/**
 * The drill runner: starts the drill's lab (seeded with the drill's seed), walks the timeline
 * with one cursor (a step with `at` waits for its time; one without runs right after the
 * previous; `every`/`for` repeats a step), records every decision it takes, measures recovery
 * after faults, waits for the workloads, then evaluates the assertions and stops the lab.
 *
 * Who calls it: `vlab drill run` / `replay` and `runDrill` of `mod.ts`. Runs on the main
 * thread. Step kinds come from the registry in `steps.ts`; nothing here knows a fault kind.
 *
 * @module
 */

import { resolve } from "node:path";
import { Prng } from "../../devices/base/prng.ts";
import { type LabHandle, startLab, textForPath, typeName } from "../api.ts";
import { LabError } from "../errors.ts";
import { pauseUnlessAborted } from "../pause.ts";
import { signalStopping } from "../script_signals.ts";
import { type DirectionSnapshot, rebootLeftMs, totalDrops } from "../snapshot_types.ts";
import type { Impairment } from "../wire/specs.ts";
import { evaluate } from "./evaluate.ts";
import type { LabEvent } from "../events.ts";
import { vhostPciSnapshot } from "../vhost_pci_view.ts";
import {
  drillFromObject,
  type DrillIssue,
  formatDrillIssues,
  labSubjects,
  loadDrillFile,
  parseDrill,
} from "./load.ts";
import type { Result } from "../../devices/base/result.ts";
import { measuredText, stepRunLabel } from "./report.ts";
import { assertionHint, runScope } from "./scope.ts";
import { escapeControl as printable, quote } from "../../devices/base/quote.ts";
import { checkOptionKeys, checkString } from "./check.ts";
import {
  type DrillCut,
  interruptedResult,
  type StepContext,
  stepKinds,
  type WorkloadRun,
} from "./steps.ts";
import { workloadFailure } from "../guest/workloads/mod.ts";
import type {
  AssertionVerdict,
  Drill,
  DrillResult,
  LinkOutcome,
  RecoverySample,
  StepRecord,
} from "./types.ts";

/** Options of {@linkcode runDrill}. */
export interface RunDrillOptions {
  /** Override the drill's seed. */
  seed?: number;
  /**
   * Called with one line per step run and per assertion, as the drill goes. If it throws (or,
   * async, its promise rejects), it is not called again, the drill runs on to its verdict and stops its lab, and then the call
   * rejects with a {@linkcode DrillProgressError} whose `result` holds that verdict.
   */
  onProgress?: (line: string) => void;
  /** Abort the drill (the lab is stopped, the result has what ran). */
  signal?: AbortSignal;
}

/**
 * What {@linkcode runDrill} (`runDrillText`, `replayDrill`) rejects with when its `onProgress`
 * threw: the drill ran on to its end without calling it again, its lab stopped, and `result`
 * holds what the call would have resolved to, verdict and all; `cause` is what `onProgress`
 * threw, `line` the line it was given. Its code is `progress-failed`.
 *
 * @example
 * ```ts ignore
 * import { DrillProgressError, runDrill } from "./run.ts";
 * try {
 *   await runDrill("drills/link-flap.yaml", { onProgress: (l) => log.writeSync(l) });
 * } catch (e) {
 *   if (e instanceof DrillProgressError) console.log(e.result.passed); // the verdict survives
 *   else throw e;
 * }
 * ```
 */
export class DrillProgressError<T = DrillResult> extends LabError {
  /** What the call would have resolved to: the drill's result (a replay's, for `replayDrill`). */
  readonly result: T;
  /** The progress line `onProgress` threw on. */
  readonly line: string;

  /**
   * Make the error of a drill whose `onProgress` threw.
   *
   * @param call the call whose `onProgress` threw (`runDrill`, `replayDrill`)
   * @param result what the call would have resolved to
   * @param passed the drill's verdict
   * @param thrown what `onProgress` threw, and the line it was given
   */
  constructor(
    call: string,
    result: T,
    passed: boolean,
    thrown: { error: unknown; line: string },
  ) {
    const what = thrown.error instanceof Error
      ? `${thrown.error.name}: ${thrown.error.message}`
      : String(thrown.error);
    super(
      "progress-failed",
      `${call}: onProgress threw ${quote(what)} at the line ${quote(thrown.line.trim())}; ` +
        `it was not called again, and the drill ran on to its verdict: ${passed ? "PASS" : "FAIL"}`,
      "The drill's result is this error's `result` (error.result.passed); fix onProgress, or " +
        "catch what it throws",
    );
    this.cause = thrown.error;
    this.result = result;
    this.line = thrown.line;
  }
}

/** How long a run waits, at its end, for the promises an async `onProgress` returned (ms). */
export const PROGRESS_SETTLE_MS = 1000;

/** What {@linkcode guardProgress} answers. */
export interface ProgressGuard {
  /** Pass `line` on to `onProgress`, unless it threw (or rejected) already. */
  progress(line: string): void;
  /**
   * Wait (at most {@linkcode PROGRESS_SETTLE_MS}) for the promises an async `onProgress` returned,
   * then answer the first error it threw or rejected with, and its line, or null. A rejection
   * that comes later still is reported as uncaught, never dropped.
   */
  settle(): Promise<{ error: unknown; line: string } | null>;
}

/**
 * `onProgress` made safe for the runner: `progress` calls it until it first throws (or a promise
 * it returned rejects), then never again, and `settle` answers that first error and its line (a
 * callback's bug lost the drill's verdict, one thrown from a workload's report and an async
 * callback's rejection were unhandled rejections).
 *
 * @example
 * ```ts
 * import { guardProgress } from "./run.ts";
 * const guard = guardProgress(() => {
 *   throw new Error("closed");
 * });
 * guard.progress("line 1");
 * guard.progress("line 2"); // not passed on
 * (await guard.settle())?.line; // "line 1"
 * ```
 */
export function guardProgress(onProgress: ((line: string) => void) | undefined): ProgressGuard {
  let thrown: { error: unknown; line: string } | null = null;
  let settled = false;
  const pending = new Set<Promise<unknown>>();
  const failed = (error: unknown, line: string) => {
    if (settled) queueMicrotask(() => reportError(error));
    else thrown ??= { error, line };
  };
  return {
    progress: (line) => {
      if (thrown !== null || onProgress === undefined) return;
      try {
        const r: unknown = onProgress(line);
        if (r instanceof Promise) {
          const p = r.then(() => {}, (error) => failed(error, line));
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }
      } catch (error) {
        failed(error, line);
      }
    },
    settle: async () => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(pending),
        new Promise((r) => timer = setTimeout(r, PROGRESS_SETTLE_MS)),
      ]);
      clearTimeout(timer);
      settled = true;
      return thrown;
    },
  };
}

/** How long a stopped drill waits for its cancelled workloads to report (ms). */
export const CANCEL_GRACE_MS = 1000;

/**
 * How late a run must start, past its time, for the runner to say so (ms): less is the timers'
 * own slack.
 */
export const LATE_MS = 1;

/**
 * How late a run whose cursor was on time must start for the runner to say so (ms): its timer
 * fired that late because the main thread was busy (a vm-crash's reboot starting a worker
 * without a standby held it 10 to 105 ms); less is a timer's slack on a loaded machine.
 */
export const BUSY_LATE_MS = 5;

/**
 * How long the runner watches for traffic after a fault ends (ms), beyond what the link's
 * impairment holds a frame for ({@linkcode crossingMs}).
 */
export const RECOVERY_WATCH_MS = 2000;

/**
 * The longest the impairment in force on a link holds a frame one way (ms, the slower way): its
 * delay plus its jitter at its most (± jitter for `uniform`; the table distributions stop at 4
 * standard deviations, as netem's tables do). 0 for a link without one (`impairments` null).
 *
 * @example
 * ```ts ignore
 * import { crossingMs } from "./run.ts";
 * crossingMs(lab.lab.links.impairments("a-b")); // 2800 for delay 2.5 s, jitter 300 ms (uniform)
 * ```
 */
export function crossingMs(
  impairments: { forward: Impairment; reverse: Impairment } | null,
): number {
  if (impairments === null) return 0;
  const oneWay = (i: Impairment) =>
    (i.delayUs + i.jitterUs * (i.distribution === "uniform" ? 1 : JITTER_SPREAD_SD)) / 1000;
  return Math.max(oneWay(impairments.forward), oneWay(impairments.reverse));
}

/** How far a table distribution's jitter reaches, in standard deviations (netem's 32767/8192). */
const JITTER_SPREAD_SD = 4;

/**
 * How long the runner waits for the lab to log a fault's recovery (a backend restarted, a device
 * reset) after injecting it (ms): longer than the supervisor's hang watchdog (1 s) plus a restart.
 */
export const FAULT_RECOVERY_WATCH_MS = 5000;

/**
 * A test-only knob: the fault watch the runner uses, {@linkcode FAULT_RECOVERY_WATCH_MS} unless a
 * test sets `ms` (and puts it back in `finally`), so that a test of a watch that runs out by
 * design (a mid-pass crash that never comes, a boot longer than the watch) waits 1 s, not 5.
 * Nothing but tests sets it; `vlab drill` and {@linkcode runDrill} always watch 5 s.
 *
 * @example
 * ```ts ignore
 * import { faultRecoveryWatch } from "./run.ts";
 * faultRecoveryWatch.ms = 1000;
 * try {
 *   await runDrill(drill);
 * } finally {
 *   faultRecoveryWatch.ms = FAULT_RECOVERY_WATCH_MS;
 * }
 * ```
 */
export const faultRecoveryWatch: { ms: number } = { ms: FAULT_RECOVERY_WATCH_MS };

/**
 * A test-only knob: the drill's clock, ms, from which the runner counts its elapsed time and
 * each step's due time (`performance.now` unless a test sets `now`, and puts it back in
 * `finally`; a run reads it once, as it starts). Nothing but tests sets it: a test of when a step
 * starts needs a clock it controls.
 *
 * @example
 * ```ts ignore
 * import { drillClock } from "./run.ts";
 * const real = drillClock.now;
 * drillClock.now = () => real() + 1000; // a clock of the test's
 * try {
 *   await runDrill(drill);
 * } finally {
 *   drillClock.now = real;
 * }
 * ```
 */
export const drillClock: { now: () => number } = { now: () => performance.now() };

/**
 * The planned offset (ms from the step's anchor) of each run of a step, jitter included: a
 * function of the seed, the step index and the run number only.
 *
 * @example
 * ```ts
 * import { plannedRuns } from "./run.ts";
 * plannedRuns({ index: 0, kind: "wait", args: 1, atMs: 0, everyMs: 100, forMs: 300, jitterMs: 0 }, 1)
 *   .map((r) => r.offsetMs); // [0, 100, 200]
 * ```
 */
export function plannedRuns(
  step: Drill["timeline"][number],
  seed: number,
): { run: number; offsetMs: number; jitterMs: number }[] {
  const runs = step.everyMs === null || step.forMs === null
    ? 1
    : Math.max(1, Math.ceil(step.forMs / step.everyMs));
  const out = [];
  for (let run = 0; run < runs; run++) {
    const jitter = step.jitterMs > 0
      ? Math.round(
        Prng.fromSeed(seed).fork(`drill step ${step.index} run ${run}`).float() * step.jitterMs *
          10,
      ) / 10
      : 0;
    out.push({ run, offsetMs: run * (step.everyMs ?? 0) + jitter, jitterMs: jitter });
  }
  return out;
}

/** The options {@linkcode runDrill} takes. */
const RUN_OPTIONS = ["seed", "onProgress", "signal"] as const;

/**
 * Refuse options of the wrong type or range, or a key the call does not take (a misspelt
 * `{ sede: 7 }` ran with the drill's own seed without a word), naming the option: a `TypeError`
 * or `RangeError`, as the lab API refuses a script's arguments. `call` names the call
 * (`replayDrill` takes all but `seed`).
 *
 * @example
 * ```ts ignore
 * import { checkRunOptions } from "./run.ts";
 * checkRunOptions({ sede: 7 }); // TypeError: runDrill: options has no key "sede" (did you mean seed?); …
 * ```
 */
export function checkRunOptions(
  options: unknown,
  call = "runDrill",
  keys: readonly string[] = RUN_OPTIONS,
): void {
  checkOptionKeys(call, options, keys);
  const o = options as Record<string, unknown>;
  if (o.seed !== undefined) {
    if (typeof o.seed !== "number") {
      throw new TypeError(`${call}: options.seed must be a number, got ${typeName(o.seed)}`);
    }
    if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffff_ffff) {
      throw new RangeError(
        `${call}: options.seed must be a whole number 0..4294967295, got ${o.seed}`,
      );
    }
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== "function") {
    throw new TypeError(
      `${call}: options.onProgress must be a function, got ${typeName(o.onProgress)}`,
    );
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(
      `${call}: options.signal must be an AbortSignal, got ${typeName(o.signal)}`,
    );
  }
}

/**
 * Why a workload's run failed the drill, or null: it could not run or broke (an error result), or
 * it ran to its end and failed at its job all the same (`workloadFailure`: a `vsock-sink` whose
 * stream was reset or had a byte out of place), as `vlab exec` then exits 1.
 */
function failureOf(result: Record<string, unknown> | null): string | null {
  if (result === null) return null;
  if (result.kind === "error") return String(result.message);
  return workloadFailure(result);
}

/**
 * The drill `load` reads, or a `drill-invalid` error; `file` is what names the drill where a
 * file's path would stand (a path, `<object>`, `<stdin>`).
 */
async function loadOrThrow(
  load: () => Promise<Result<Drill, DrillIssue[]>>,
  file: string,
): Promise<Drill> {
  const r = await load();
  if (r.ok) return r.value;
  // As loadTopology's: the message is the first problem where it is, the hint its own hint;
  // `details` has every problem. The problem's place names the drill (`d.yaml:3:5: …`,
  // `<object>: …`, `Cannot read drill file "d.yaml": …`), so it is not named again in front
  // (`Cannot run drill <object>: <object>: …`); a problem in another file (the drill's topology
  // file) says which drill it is for.
  const lines = formatDrillIssues(r.error).split("\n");
  const more = r.error.length - 1;
  const lead = r.error[0].file === file ? "" : `Cannot run drill ${quote(file)}: `;
  throw new LabError(
    "drill-invalid",
    `${lead}${lines[0]}${
      more > 0 ? ` (and ${more} more problem${more === 1 ? "" : "s"} in details)` : ""
    }`,
    r.error[0].hint ?? "Fix it and run again; docs/drills.md describes the format",
    lines,
  );
}

/**
 * The links' counters now. `changed` names the links an `impair` step changed: they were impaired
 * during the run even when the last step cleared it, and their counts depend on the frame at which
 * each change took effect (timing).
 */
function linkOutcomes(lab: LabHandle, changed: ReadonlySet<string>): LinkOutcome[] {
  // Frames whose fate the impairment drew from the seed.
  const decided = (d: DirectionSnapshot) => d.drops.loss + d.corrupted + d.duplicated + d.reordered;
  return lab.snapshot().links.map((l) => ({
    link: l.name,
    kind: l.kind ?? "net",
    forwardLost: l.forward.drops.loss,
    reverseLost: l.reverse.drops.loss,
    forwardCorrupted: l.forward.corrupted,
    reverseCorrupted: l.reverse.corrupted,
    forwardDuplicated: l.forward.duplicated,
    reverseDuplicated: l.reverse.duplicated,
    forwardReordered: l.forward.reordered,
    reverseReordered: l.reverse.reordered,
    forwardOtherDrops: totalDrops(l.forward.drops) - l.forward.drops.loss,
    reverseOtherDrops: totalDrops(l.reverse.drops) - l.reverse.drops.loss,
    forwardFrames: l.forward.frames,
    reverseFrames: l.reverse.frames,
    impaired: l.forward.impair !== "no impairment" || l.reverse.impair !== "no impairment" ||
      changed.has(l.name) || decided(l.forward) + decided(l.reverse) > 0,
    changedLive: changed.has(l.name),
  }));
}

/**
 * Link counters once the workers have published their last statistics. A worker copies its
 * impairment counters to shared memory every 100 ms while busy and at least once a second when
 * idle (`MAX_WAIT_MS` of `lab/wire/loop.ts`), so when some link is impaired the counters are read
 * until they have not changed for `STABLE_MS` (longer than that second), for at most `SETTLE_MS`.
 * Without impairments nothing is compared in a replay: one read.
 */
async function settledLinkOutcomes(
  lab: LabHandle,
  changed: ReadonlySet<string>,
): Promise<LinkOutcome[]> {
  let last = linkOutcomes(lab, changed);
  if (!last.some((l) => l.impaired)) return last;
  let stableSince = performance.now();
  const start = stableSince;
  while (performance.now() - stableSince < STABLE_MS && performance.now() - start < SETTLE_MS) {
    await new Promise((r) => setTimeout(r, 100));
    const now = linkOutcomes(lab, changed);
    if (JSON.stringify(now) !== JSON.stringify(last)) stableSince = performance.now();
    last = now;
  }
  return last;
}

/** How long impaired links' counters must stay unchanged to count as settled (ms). */
export const STABLE_MS = 1300;

/** The longest wait for link counters to settle at the end of a run (ms). */
export const SETTLE_MS = 4000;

/**
 * Run a drill: a file path or a drill object (snake_case keys, as in YAML; see
 * `docs/drills.md`). Starts the drill's lab with the drill's seed (or `options.seed`), runs
 * the timeline, waits for the workloads, evaluates the assertions and stops the lab. Resolves
 * with the result (verdicts, measured values, decisions, recovery times, link counters) once
 * the lab has stopped; `result.passed` is the verdict. Throws a `LabError` with code
 * `drill-invalid` (every problem as `file:line:col: message` in `details`; the first one is the
 * message) when the drill does not validate, before any lab starts; a source that is neither a
 * path nor an object, or an option of the wrong type, is a `TypeError` (`RangeError`). An
 * `onProgress` that throws makes it reject once the lab has stopped, with a
 * {@linkcode DrillProgressError} that holds the result.
 *
 * @param source a drill file path, or a drill object
 * @param options seed override, progress callback, abort signal
 *
 * @example
 * ```ts ignore
 * import { runDrill } from "./run.ts";
 * const r = await runDrill("drills/link-flap.yaml", { onProgress: console.log });
 * console.log(r.passed ? "pass" : "fail");
 * const inline = await runDrill({
 *   topology: "pair",
 *   timeline: [{ exec: { vm: "a", argv: ["ping", "10.0.0.2", "-c", "3"], as: "ping" } }],
 *   assert: ["ping.received == 3"],
 * });
 * ```
 */
export function runDrill(
  source: string | Record<string, unknown>,
  options: RunDrillOptions = {},
): Promise<DrillResult> {
  return runDrillAs(source, "<object>", options);
}

/**
 * {@linkcode runDrill}, with a drill object called `label` where a file's path would stand (its
 * problems, its assertions' errors, its result's `source`): a replay names the drill its report
 * recorded, not `<object>`. For `replayDrill`; scripts call `runDrill`.
 *
 * @example
 * ```ts ignore
 * import { runDrillAs } from "./run.ts";
 * await runDrillAs(report.document, "d.yaml, as the report recorded it", { seed: report.seed });
 * ```
 */
export async function runDrillAs(
  source: string | Record<string, unknown>,
  label: string,
  options: RunDrillOptions = {},
): Promise<DrillResult> {
  // Checked before anything starts: a bad option found once the lab ran left it running.
  if (
    typeof source !== "string" &&
    (typeof source !== "object" || source === null || Array.isArray(source))
  ) {
    throw new TypeError(
      `runDrill: source must be a drill file's path or a drill object, got ${typeName(source)}`,
    );
  }
  checkRunOptions(options);
  const drill = typeof source === "string"
    ? await loadOrThrow(async () => {
      const r = await loadDrillFile(source);
      // A drill's text given as its path: the hint says to pass it parsed.
      return r.ok ? r : { ok: false, error: textForPath(source, r.error, "drill") };
    }, source)
    : await loadOrThrow(() => drillFromObject(source, label), label);
  // Absolute: the run-again hints a report (or a replay of it) gives hold from any folder.
  const guard = guardProgress(options.onProgress);
  const result = await runLoaded(
    drill,
    typeof source === "string" ? resolve(source) : drill.source,
    { ...options, onProgress: guard.progress },
  );
  const thrown = await guard.settle();
  if (thrown !== null) throw new DrillProgressError("runDrill", result, result.passed, thrown);
  return result;
}

/**
 * {@linkcode runDrill} of a drill's YAML text, which `file` names where a file's path would
 * stand (`<stdin>` for `vlab drill run -`): its problems are placed at `file:line:col`, a
 * relative topology path is read from the current folder, and its result's `source` is `file`.
 *
 * @example
 * ```ts ignore
 * import { runDrillText } from "./run.ts";
 * await runDrillText("topology: pair\ntimeline: [{ wait: 1s }]\n", "<stdin>");
 * ```
 */
export async function runDrillText(
  text: string,
  file: string,
  options: RunDrillOptions = {},
): Promise<DrillResult> {
  checkString("runDrillText", "text", text);
  checkString("runDrillText", "file", file);
  checkRunOptions(options, "runDrillText");
  const drill = await loadOrThrow(() => parseDrill(text, file), file);
  const guard = guardProgress(options.onProgress);
  const result = await runLoaded(drill, file, { ...options, onProgress: guard.progress });
  const thrown = await guard.settle();
  if (thrown !== null) throw new DrillProgressError("runDrillText", result, result.passed, thrown);
  return result;
}

/**
 * How many runs of the timeline crash a VM (`vm-crash`: `reboots`) or a device worker
 * (`backend-crash`: `restarts`), for {@linkcode LabHandle}'s `lab.reserveStandby`.
 */
function faultRuns(drill: Drill, seed: number): { reboots: number; restarts: number } {
  const runs = { reboots: 0, restarts: 0 };
  for (const step of drill.timeline) {
    if (step.kind !== "fault") continue;
    const kind = (step.args as { kind?: unknown }).kind;
    if (kind === "vm-crash") runs.reboots += plannedRuns(step, seed).length;
    else if (kind === "backend-crash") runs.restarts += plannedRuns(step, seed).length;
  }
  return runs;
}

/** Run a drill that validated; `source` is its result's `source`. */
async function runLoaded(
  drill: Drill,
  source: string,
  options: RunDrillOptions,
): Promise<DrillResult> {
  const seed = options.seed ?? drill.seed;
  const progress = options.onProgress ?? (() => {});
  // The caller that passes a signal handles Ctrl-C itself (the CLI: the drill stops, then its
  // verdict is printed); for one that does not, a signal stops the lab, as for any script's.
  const lab = await startLab({ ...drill.topologyData, seed }, {
    stopOnSignals: options.signal === undefined,
    label: drill.topology.source,
  });
  const abort = new AbortController();
  // What stopped the drill first, when the drill itself stopped its workloads (null: the lab's
  // stop, or not stopped): what a workload it cut short answered is then the part it ran.
  let cutBy: DrillCut | null = null;
  const stopDrill = (why: DrillCut) => {
    if (!abort.signal.aborted) cutBy = why;
    abort.abort();
  };
  const stopOn = () => stopDrill("interrupted");
  options.signal?.addEventListener("abort", stopOn, { once: true });
  // Interrupted while the lab was starting (Ctrl-C then): the listener came too late to hear it.
  if (options.signal?.aborted) stopDrill("interrupted");
  // The workers the timeline's crashes will take, spawned now, before its clock starts: a
  // vm-crash's reboot that constructed its own blocked the main thread 10 to 105 ms, and the
  // steps due then started late. One worker a turn: the lab's socket answers meanwhile.
  await lab.lab.reserveStandby(faultRuns(drill, seed));
  const now = drillClock.now;
  const t0 = now();
  // Never before the timeout, counted from the drill's clock (Deno truncates a fractional delay).
  const deadline = setTimeout(() => stopDrill("timed-out"), Math.ceil(drill.timeoutMs));
  const startedAt = new Date().toISOString();
  const elapsedMs = () => Math.round((now() - t0) * 10) / 10;
  const stamp = (ms: number) => `[${(ms / 1000).toFixed(3).padStart(8)} s]`;
  const events: DrillResult["events"] = [];
  // Stopped under the drill (`vlab down NAME`, `POST /down` on its socket): the drill ends there
  // and says so; its own stop comes after it stopped listening.
  let stoppedUnder: number | null = null;
  // The signal that stopped it, when Ctrl-C or SIGTERM stopped the script's labs (a script that
  // passes no signal of its own: startLab's stopOnSignals).
  let stoppedBy: Deno.Signal | null = null;
  const labStopped = () => {
    if (stoppedUnder !== null || !lab.lab.stopped) return;
    stoppedUnder = elapsedMs();
    stoppedBy = signalStopping();
    abort.abort();
  };
  // What the lab logged as it started (`lab-up`, `workers-from-sources`) is of the run too, at 0:
  // `count(events, kind = "lab-up")` was 0 whatever happened. Read in the same tick as the
  // subscription below, so that no event is counted twice or missed.
  for (const e of lab.lab.events.recent()) {
    events.push({
      atMs: 0,
      kind: e.kind,
      ...(e.subject === undefined ? {} : { subject: e.subject }),
    });
  }
  const unsubscribe = lab.lab.events.subscribe((e) => {
    events.push({
      atMs: elapsedMs(),
      kind: e.kind,
      ...(e.subject === undefined ? {} : { subject: e.subject }),
    });
    if (e.kind === "lab-down") labStopped();
  });
  const workloads = new Map<string, WorkloadRun>();
  const recovery: RecoverySample[] = [];
  const watchers: Promise<void>[] = [];
  const sleep = (ms: number) => pauseUnlessAborted(ms, abort.signal);
  // Frames delivered over a link, both ways, straight from its two rings' counters (cheap
  // enough to read every millisecond, unlike a whole status snapshot).
  const frames = (link: string) => {
    const l = lab.lab.plan.links.find((x) => x.name === link);
    if (l === undefined) {
      // A vhost-pci link has no ring: its serving device counts the frames it moves. (Read as 0,
      // its every flap was "not recovered" while traffic flowed.)
      const vp = vhostPciSnapshot(lab.lab).find((x) => x.name === link);
      return vp === undefined ? 0 : vp.framesIn + vp.framesOut;
    }
    return lab.lab.ring(l.forwardRing).counters().framesOut +
      lab.lab.ring(l.reverseRing).counters().framesOut;
  };
  // How long the reboot of a VM at an end of `link` still lasts at least, ms (0: none reboots):
  // its guest's boot time still to come (`vm-crash` `ms`).
  const linkRebootLeftMs = (link: string) => {
    const plan = lab.lab.plan;
    const ring = plan.links.find((x) => x.name === link);
    const vp = plan.vhostPciLinks?.find((x) => x.name === link);
    const ends = ring !== undefined
      ? ring.endpoints.map((e) => e.split(":")[0])
      : vp !== undefined
      ? [vp.frontend.vm, vp.peer.vm]
      : [];
    let most = 0;
    for (const vm of ends) {
      const r = plan.vms.some((v) => v.name === vm) ? lab.lab.rebootOf(vm) : null;
      if (r !== null) most = Math.max(most, rebootLeftMs(r));
    }
    return most;
  };
  const watchRecovery = (link: string) => {
    const atMs = elapsedMs();
    const before = frames(link);
    const sample: RecoverySample = { subject: `link ${link}`, atMs, ms: null };
    recovery.push(sample);
    // A frame sent once the link is up crosses it only after the link's delay and jitter: a link
    // delayed 2.5 s was "not recovered" though traffic flowed again. And a VM at an end of it
    // rebooting after vm-crash gives it no carrier until its guest runs: a link brought up during
    // a 7 s boot was "not recovered" though traffic flowed once the VM ran.
    const watchMs = RECOVERY_WATCH_MS + crossingMs(lab.lab.links.impairments(link)) +
      linkRebootLeftMs(link);
    watchers.push((async () => {
      while (!abort.signal.aborted) {
        if (frames(link) > before) {
          sample.ms = Math.round((elapsedMs() - atMs) * 10) / 10;
          return;
        }
        await new Promise((r) => setTimeout(r, 1));
        if (elapsedMs() - atMs > watchMs) return;
      }
    })());
  };
  // The events a fault's watch took (its recovery, its failure, what noticed it): each ends one.
  const claimed = new WeakSet<LabEvent>();
  // The faults in a VM still waiting for their recovery, by injection: a vm-crash cancels the
  // backend crash that has not come yet (an exit asked, a mid-pass armed), which is the latest
  // of its VM (the lab refuses another crash meanwhile), and ends any other (a hang, a guest
  // bug): none is then a recovery to time, the reboot is.
  const waitingRestart: {
    subject: string;
    backend: boolean;
    cancel: (reason: string | null) => void;
  }[] = [];
  const cancels: { off: (() => void) | null } = { off: null };
  const watchCancelled = () => {
    cancels.off ??= lab.lab.events.subscribe((e) => {
      // The VM crashed before its backend restarted (a hang it ended, a restart it cut short):
      // its reboot is timed instead.
      if (e.kind === "vm-crash") {
        for (const w of waitingRestart.filter((x) => x.subject === e.subject)) {
          w.cancel(null);
        }
        return;
      }
      if (e.kind !== "fault-cancelled" || e.detail?.fault !== "backend-crash") return;
      const w = waitingRestart.findLast((x) => x.subject === e.subject && x.backend);
      w?.cancel(typeof e.detail?.reason === "string" ? e.detail.reason : "the lab");
    });
  };
  const watchEvents: StepContext["watchEvents"] = (what, subject, ends) => {
    const sample: RecoverySample = { subject: what, atMs: elapsedMs(), ms: null };
    recovery.push(sample);
    let finish = () => {};
    const forget = () => {
      const i = recovery.indexOf(sample);
      if (i >= 0) recovery.splice(i, 1);
      finish();
    };
    // A fault's in a VM (not a vm-crash's own), until it ends: a vm-crash may cancel or end it.
    const backend = ends.recovered.includes("backend-restarted");
    const waiting = !ends.recovered.includes("vm-restarted")
      ? {
        subject,
        backend,
        cancel: (reason: string | null) => {
          progress(
            `${stamp(elapsedMs())} ${what}: ${
              reason === null
                ? `the VM crashed (vm-crash) before ${
                  backend ? "its backend restarted" : "the device reset"
                }`
                : `the crash was cancelled by a ${reason} before it came`
            }: no recovery to time`,
          );
          forget();
        },
      }
      : null;
    if (waiting !== null) {
      watchCancelled();
      waitingRestart.push(waiting);
    }
    watchers.push(
      new Promise<void>((resolve) => {
        // A fault the lab may outlive unnoticed (a short hang that ended before the watchdog
        // caught it, a mid-pass crash whose worker moved too few frames to come) is no recovery
        // to time: forgotten when nothing noticed it in time (by the end of the watch at most).
        let noticed = ends.unnoticed === undefined;
        const unseen = () => {
          if (noticed) return;
          // Said, not dropped without a word: recovery.count has one fault fewer than it ran.
          progress(
            `${stamp(elapsedMs())} ${what}: ${ends.unnoticed!.said}: no recovery to time`,
          );
          forget();
        };
        const timer = setTimeout(
          () => noticed ? finish() : unseen(),
          faultRecoveryWatch.ms + (ends.extraMs ?? 0),
        );
        const unnoticed = ends.unnoticed === undefined ||
            ends.unnoticed.withinMs >= faultRecoveryWatch.ms
          ? undefined
          : setTimeout(unseen, ends.unnoticed.withinMs);
        const off = lab.lab.events.subscribe((e) => {
          // Listeners hear an event in the order they subscribed: the watch of the earliest
          // fault takes it, and no later one (two crashes of a VM whose restarts overlap: the
          // first backend-restarted is the first's, the second's restart ends at the next).
          if (e.subject !== subject || claimed.has(e)) return;
          // A NIC's events name it `nic`, a vsock device's `device`: another device's reset is
          // not this fault's.
          const named = e.detail?.nic ?? e.detail?.device;
          if (ends.nic !== undefined && named !== undefined && named !== ends.nic) return;
          const notice = ends.unnoticed?.noticed;
          if (
            !noticed && notice !== undefined && notice.kind === e.kind &&
            (notice.cause === undefined || e.detail?.cause === notice.cause)
          ) {
            noticed = true;
            claimed.add(e);
            return;
          }
          // Not noticed yet, it has nothing to recover from: what comes now is another fault's
          // (an exit's restart while a short hang ran out by itself).
          if (!noticed) return;
          if (ends.recovered.includes(e.kind)) {
            sample.ms = Math.round((elapsedMs() - sample.atMs) * 10) / 10;
            claimed.add(e);
            finish();
          } else if (ends.failed.includes(e.kind)) {
            claimed.add(e);
            finish();
          }
        });
        finish = () => {
          clearTimeout(timer);
          clearTimeout(unnoticed);
          off();
          if (waiting !== null && waitingRestart.includes(waiting)) {
            waitingRestart.splice(waitingRestart.indexOf(waiting), 1);
          }
          abort.signal.removeEventListener("abort", finish);
          resolve();
        };
        abort.signal.addEventListener("abort", finish, { once: true });
      }),
    );
    return forget;
  };
  // A workload that fails says so when it does, not once the drill is over (a background sink
  // that could not bind its port, seen only after a minute of flood).
  const watched = new Set<string>();
  const told = new Set<string>();
  const watchFailures = () => {
    for (const [name, w] of workloads) {
      if (watched.has(name)) continue;
      watched.add(name);
      void w.done.then(() => {
        const why = failureOf(w.result);
        if (why === null || abort.signal.aborted) return;
        told.add(name);
        progress(`${stamp(elapsedMs())} workload ${name} failed: ${printable(why)}`);
      });
    }
  };
  // What keeps VM `needs.vm` from taking a run that needs it running, in words, or null: its
  // reboot after a vm-crash, or (`recoveries`: a fault) its backend's restart or a device's reset.
  const recovering = (needs: { vm: string; recoveries?: true }): string | null => {
    if (!lab.lab.plan.vms.some((v) => v.name === needs.vm)) return null;
    if (lab.lab.rebootOf(needs.vm) !== null) return `VM ${quote(needs.vm)}'s reboot`;
    if (needs.recoveries !== true) return null;
    const state = lab.lab.vmState(needs.vm);
    return state === "restarting"
      ? `VM ${quote(needs.vm)}'s backend restart`
      : state === "resetting"
      ? `VM ${quote(needs.vm)}'s device reset`
      : null;
  };
  // Wait (every millisecond, as long as a fault's watch and what its boot still has to come)
  // until nothing keeps the VM from the run; what held it, or null when nothing did. Past the
  // bound the run goes ahead, and fails with the lab's own words.
  const waitUntilRunning = async (
    needs: { vm: string; recoveries?: true },
  ): Promise<string | null> => {
    const first = recovering(needs);
    if (first === null) return null;
    const reboot = lab.lab.rebootOf(needs.vm);
    const until = elapsedMs() + faultRecoveryWatch.ms +
      (reboot === null ? 0 : rebootLeftMs(reboot));
    while (!abort.signal.aborted && recovering(needs) !== null && elapsedMs() < until) {
      await sleep(1);
    }
    return first;
  };
  const steps: StepRecord[] = [];
  const kinds = stepKinds();
  let failed: string | null = null;
  try {
    progress(`${stamp(0)} drill ${drill.name}, seed ${seed}, lab ${lab.name}`);
    for (const step of drill.timeline) {
      if (abort.signal.aborted || failed !== null) break;
      const kind = kinds.get(step.kind)!;
      const anchor = step.atMs ?? elapsedMs();
      for (const planned of plannedRuns(step, seed)) {
        // A step above that ran longer than the loader could know (a workload in the foreground, a
        // wait_for) holds the cursor past this run's time: the run starts late, and says so.
        const dueMs = anchor + planned.offsetMs;
        // A step without `at` runs when the cursor reaches it: its first run is never late.
        const behindMs = step.atMs === null && planned.run === 0
          ? 0
          : Math.round((elapsedMs() - dueMs) * 10) / 10;
        const held = steps.at(-1);
        // From the clock itself: elapsedMs() is rounded, up to 0.05 ms ahead of it, and the run
        // must not start before its time (a vm-crash's reboot is validated from its due time).
        await sleep(dueMs - (now() - t0));
        if (abort.signal.aborted) break;
        // A run the lab would refuse because its VM still recovers from a fault above (a
        // vm-crash's reboot longer than the loader could know, a backend restart, a device reset)
        // waits for it and starts late: it validated, and failed with "VM "b" is restarting".
        const needs = kind.needsRunning?.(step.args) ?? null;
        const waited = needs === null ? null : await waitUntilRunning(needs);
        if (abort.signal.aborted) break;
        const what = printable(kind.describe(step.args));
        const record: StepRecord = {
          step: step.index,
          run: planned.run,
          kind: step.kind,
          plannedMs: (step.atMs === null ? 0 : step.atMs) + planned.offsetMs,
          jitterMs: planned.jitterMs,
          what,
          startedMs: elapsedMs(),
          endedMs: 0,
        };
        // How late it really started: a run due while the main thread was blocked (a vm-crash's
        // reboot starting a worker without a standby: 10 to 105 ms) started late too, and said
        // nothing, its cursor not behind when it went to sleep.
        const startedLateMs = step.atMs === null && planned.run === 0
          ? 0
          : Math.round((record.startedMs - dueMs) * 10) / 10;
        const busy = waited === null && behindMs < LATE_MS && startedLateMs >= BUSY_LATE_MS;
        const lateMs = waited === null && behindMs < LATE_MS
          ? (busy ? startedLateMs : 0)
          : Math.max(behindMs, startedLateMs);
        if (lateMs >= LATE_MS) record.lateMs = lateMs;
        // In the lab's event log too: `vlab dashboard` and the events file show the drill.
        lab.lab.events.emit("drill-step", drill.name, { step: step.index, run: planned.run, what });
        const label = stepRunLabel(step.index, planned.run, step.everyMs !== null);
        const holder = waited !== null && lateMs > behindMs
          ? `, ${waited} held it`
          : busy
          ? ", the main thread was busy"
          : held === undefined
          ? ""
          : `, ${
            stepRunLabel(
              held.step,
              held.run,
              drill.timeline.find((t) => t.index === held.step)?.everyMs != null,
            )
          } held the cursor`;
        const late = record.lateMs === undefined
          ? ""
          : ` (${record.lateMs} ms late: due at ${(dueMs / 1000).toFixed(3)} s${holder})`;
        progress(`${stamp(record.startedMs)} ${label} ${what}${late}`);
        const ctx: StepContext = {
          lab,
          elapsedMs,
          sleep,
          workloads,
          watchRecovery,
          watchEvents,
          prng: Prng.fromSeed(seed).fork(`drill step ${step.index} run ${planned.run} action`),
          signal: abort.signal,
          label,
        };
        try {
          await kind.run(step.args, ctx);
        } catch (e) {
          record.error = printable(e instanceof Error ? e.message : String(e));
          failed = record.error;
          progress(`${stamp(elapsedMs())} step ${label} failed: ${record.error}`);
        }
        record.endedMs = elapsedMs();
        steps.push(record);
        watchFailures();
        // A workload the lab's stop cancelled ended its step early: the lab is gone, not the step.
        labStopped();
        if (failed !== null) break;
      }
    }
    // A failed step ends the drill: the workloads still running are stopped, not waited for.
    const stepFailed = failed !== null;
    if (stepFailed) stopDrill("step-failed");
    const all = [...workloads.values()];
    const ending = Promise.all([...all.filter((w) => !w.endless).map((w) => w.done), ...watchers]);
    if (!abort.signal.aborted) {
      // Every workload and recovery watch is bounded; the drill's timeout bounds them all.
      await Promise.race([
        ending,
        new Promise((r) => abort.signal.addEventListener("abort", r, { once: true })),
      ]);
    }
    // Servers that run until stopped (an echo without -t) are stopped now, not waited for: they
    // answer with what they measured, within the grace below.
    for (const w of all) if (w.endless) w.stop?.();
    const settled = Promise.all([ending, ...all.map((w) => w.done)]);
    if (!abort.signal.aborted) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([settled, new Promise((r) => timer = setTimeout(r, CANCEL_GRACE_MS))]);
      clearTimeout(timer);
    }
    if (abort.signal.aborted) {
      // Cancelled workloads answer with what they measured so far: give them a moment.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([settled, new Promise((r) => timer = setTimeout(r, CANCEL_GRACE_MS))]);
      clearTimeout(timer);
    }
    // Stopped by the drill itself (Ctrl-C or SIGTERM: the caller's signal; its timeout; a failed
    // step), the workloads still running were cut short: what they answered is the part they ran,
    // and an assertion on them is an error, as on one the lab's stop cut short. They were judged
    // pass or fail on that part (on a timeout or a failed step, until this judged all three).
    if (cutBy !== null) {
      for (const w of workloads.values()) {
        if (w.cutByDrill === true) w.result = interruptedResult(w.result, cutBy);
      }
    }
    for (const [name, w] of workloads) {
      const failure = failureOf(w.result);
      if (failure !== null) {
        const why = printable(failure);
        if (!told.has(name)) progress(`${stamp(elapsedMs())} workload ${name} failed: ${why}`);
        // A workload that could not run (or broke) fails the drill, even with no assertion on it.
        if (!abort.signal.aborted) failed ??= `Workload ${name} failed: ${why}`;
      }
    }
    labStopped();
    if (stoppedUnder !== null) {
      // Before a step's error: the step failed because the lab was gone ("… is stopped").
      const at = `${(stoppedUnder / 1000).toFixed(3)} s`;
      failed = stoppedBy !== null
        ? `The drill was interrupted (${stoppedBy}): its lab was stopped at ${at}`
        : `The lab ${
          quote(lab.name)
        } was stopped at ${at}, before the drill ended (\`vlab down ${lab.name}\`, or POST /down on its socket)`;
      progress(`${stamp(stoppedUnder)} ${failed}`);
    } else if (abort.signal.aborted && !stepFailed) {
      failed ??= options.signal?.aborted === true
        ? "The drill was interrupted"
        : `The drill did not end within ${drill.timeoutMs} ms`;
      progress(`${stamp(elapsedMs())} ${failed}`);
    }
    // The links an `impair` step changed while the drill ran.
    const changed = new Set(
      steps.filter((s) => s.kind === "impair").map((s) =>
        (drill.timeline[s.step].args as { link: string }).link
      ),
    );
    const links = await settledLinkOutcomes(lab, changed);
    const metrics = lab.metrics();
    const durationMs = elapsedMs();
    unsubscribe();
    const data = {
      workloads: new Map([...workloads].map(([k, w]) => [k, w.result])),
      recovery,
      events,
      metrics,
    };
    const scope = runScope(data);
    const subjects = labSubjects(drill.topology, drill.name);
    const assertions: AssertionVerdict[] = drill.assertions.map((a) => {
      const r = evaluate(a.expr, scope);
      const where = a.line === null ? drill.source : `${drill.source}:${a.line}:${a.column}`;
      if (!r.ok) {
        return {
          text: a.text,
          verdict: "error",
          measured: [],
          error: `${where}: ${r.error.message}${r.error.hint ? ` (hint: ${r.error.hint})` : ""}`,
          line: a.line,
          column: a.column,
        };
      }
      if (typeof r.value.value !== "boolean") {
        return {
          text: a.text,
          verdict: "error",
          measured: r.value.measured,
          error: `${where}: The assertion is not a condition, it gives ${
            JSON.stringify(r.value.value)
          }`,
          line: a.line,
          column: a.column,
        };
      }
      // A name the lab logs is no typo: `count(events, kind = "device-reset-failed") == 0`.
      const hint = assertionHint(a.expr, r.value.value, events, { subjects });
      return {
        text: a.text,
        verdict: r.value.value ? "pass" : "fail",
        measured: r.value.measured,
        ...(hint === null ? {} : { hint }),
        line: a.line,
        column: a.column,
      };
    });
    for (const a of assertions) {
      const measured = measuredText(a.measured);
      progress(
        `${a.verdict.toUpperCase().padEnd(5)} ${a.text}${
          a.error ? `: ${a.error}` : measured === "" ? "" : ` (${measured})`
        }${a.hint === undefined ? "" : `\n      hint: ${a.hint}`}`,
      );
    }
    const result: DrillResult = {
      name: drill.name,
      source,
      seed,
      startedAt,
      durationMs,
      steps,
      workloads: Object.fromEntries([...workloads].map(([k, w]) => [k, w.result])),
      recovery,
      links,
      events,
      assertions,
      passed: failed === null && assertions.every((a) => a.verdict === "pass"),
      document: { ...drill.document, seed },
    };
    if (failed !== null) result.error = failed;
    return result;
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener("abort", stopOn);
    abort.abort();
    unsubscribe();
    cancels.off?.();
    await lab.stop();
  }
}
