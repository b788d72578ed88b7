/**
 * Drills as data: a validated drill, its steps, and what a run records (decisions, assertion
 * verdicts, recovery samples). Plain data only: the report and replay modules read it back.
 *
 * @module
 */

import type { Topology } from "../topology/types.ts";
import type { Expr } from "./expr.ts";

/** One timeline entry after validation. */
export interface DrillStep {
  /** Position in `timeline` (0-based). */
  index: number;
  /** The step kind (a key of the step registry). */
  kind: string;
  /** The kind's arguments, as its schema parsed them. */
  args: unknown;
  /** Not before this many ms after the start, or null: right after the previous step. */
  atMs: number | null;
  /** Repeat period (ms), or null for a single run. */
  everyMs: number | null;
  /** How long to repeat (ms), or null. */
  forMs: number | null;
  /** Each run starts up to this many ms late, drawn from the drill's seed. */
  jitterMs: number;
}

/** One assertion after validation. */
export interface DrillAssertion {
  /** The text as written. */
  text: string;
  /** Its parse tree. */
  expr: Expr;
  /** Where the text starts in the drill file (null for a drill given as an object). */
  line: number | null;
  /** Column of the text's first character. */
  column: number | null;
}

/** A validated drill. */
export interface Drill {
  /** Drill name (defaults to the file's base name). */
  name: string;
  /** Free text from the file, or "". */
  description: string;
  /** Where it came from: a file path or `<object>`. */
  source: string;
  /** Seed of every random choice of the drill and of its lab. */
  seed: number;
  /** The lab to run it on (its seed is replaced by the drill's). */
  topology: Topology;
  /** The topology as plain data (embedded in reports for replays). */
  topologyData: Record<string, unknown>;
  /** Steps, in order. */
  timeline: DrillStep[];
  /** Assertions, in order. */
  assertions: DrillAssertion[];
  /** Upper bound on the whole run (ms). */
  timeoutMs: number;
  /** The document as plain data with the topology inlined (what a replay runs). */
  document: Record<string, unknown>;
}

/** A decision the runner took: which step ran when, with which random choices. */
export interface Decision {
  /** Step index in the timeline. */
  step: number;
  /** Run number of a repeated step (0 for a single run). */
  run: number;
  /** Step kind. */
  kind: string;
  /**
   * When the run was due, jitter included: ms after the start for a step with `at`, else ms
   * after the previous step ended. A function of the drill and its seed only.
   */
  plannedMs: number;
  /** The jitter drawn for this run (ms). */
  jitterMs: number;
  /** What it did (`link a-b down`). */
  what: string;
}

/** A run's record of one executed step run: the decision and when it really started. */
export interface StepRecord extends Decision {
  /** When it started (ms after start). */
  startedMs: number;
  /** When it ended (ms after start). */
  endedMs: number;
  /**
   * Set when the run started late because a step above (or its own run before, or a workload
   * in the foreground) held the cursor past its time, or its VM still recovered from a fault
   * above (a vm-crash's reboot) and the run waited for it: how late, ms (1 or more).
   */
  lateMs?: number;
  /** Set when the step failed. */
  error?: string;
}

/** Time for traffic to flow again after a fault ended. */
export interface RecoverySample {
  /** What recovered (`link a-b`). */
  subject: string;
  /** When the timing started (ms after start): a link came back up, a fault was injected. */
  atMs: number;
  /**
   * How long until traffic flowed again over the link, or the lab logged the fault's recovery
   * (ms), or null if it did not within the bound.
   */
  ms: number | null;
}

/** Verdict of one assertion. */
export interface AssertionVerdict {
  /** The assertion's text. */
  text: string;
  /** `pass`, `fail` (false), or `error` (could not be evaluated). */
  verdict: "pass" | "fail" | "error";
  /** Every name and call it read, with its value. */
  measured: { text: string; value: number | string | boolean }[];
  /** Why it could not be evaluated, as `file:line:col: message`. */
  error?: string;
  /**
   * A likely mistake in a failed assertion, or in one that held (`it may hold only by a typo: …`):
   * a count's filter value that is no name the lab logs and that never happened in the run, close
   * to one that did (`no subject "12" in this run: did you mean \`1\`?`).
   */
  hint?: string;
  /** Where it is written. */
  line: number | null;
  /** Column. */
  column: number | null;
}

/**
 * Per-link counters at the end of a run; `lost`, `corrupted`, `duplicated` and `reordered` are the
 * lab's seeded decisions.
 */
export interface LinkOutcome {
  /** Link name. */
  link: string;
  /**
   * What the link carries: Ethernet frames (`net`) or vsock packets (`vsock`); its counts of
   * frames below count packets on a vsock link. Absent in reports written before the field
   * (read as `net`).
   */
  kind?: "net" | "vsock";
  /** Frames the impairment dropped a → b (netem loss: a decision of the seed). */
  forwardLost: number;
  /** Frames the impairment dropped b → a. */
  reverseLost: number;
  /** Frames the impairment corrupted a → b. */
  forwardCorrupted: number;
  /** Frames the impairment corrupted b → a. */
  reverseCorrupted: number;
  /** Second copies the impairment queued a → b (absent in reports written before the field). */
  forwardDuplicated?: number;
  /** Second copies the impairment queued b → a. */
  reverseDuplicated?: number;
  /** Frames the impairment sent ahead of delayed ones a → b (absent in older reports). */
  forwardReordered?: number;
  /** Frames the impairment sent ahead of delayed ones b → a. */
  reverseReordered?: number;
  /**
   * Frames dropped a → b for every other cause (full ring, link down, queue limit, too big, …):
   * timing and guest behaviour, not decisions of the seed.
   */
  forwardOtherDrops: number;
  /** Frames dropped b → a for every other cause. */
  reverseOtherDrops: number;
  /** Frames delivered a → b. */
  forwardFrames: number;
  /** Frames delivered b → a. */
  reverseFrames: number;
  /**
   * Whether the link was impaired during the run: it is at the end, an `impair` step changed it,
   * or its impairment lost, corrupted, duplicated or reordered frames (then those counts are
   * decisions of the seed).
   */
  impaired: boolean;
  /**
   * Whether an `impair` step changed the link's impairment during the run: the frame at which a
   * change took effect is timing, so a replay notes different counts rather than calling them a
   * difference. Absent in reports written before the field (read as false).
   */
  changedLive?: boolean;
}

/** Everything a drill run produced. */
export interface DrillResult {
  /** Drill name. */
  name: string;
  /**
   * Source of the drill: the drill file's absolute path (a hint to run it again is right from any
   * folder), or `<object>` for a drill given as an object.
   */
  source: string;
  /** The seed used. */
  seed: number;
  /** Start time, ISO 8601. */
  startedAt: string;
  /** Run duration (ms). */
  durationMs: number;
  /** Step runs, in the order they started. */
  steps: StepRecord[];
  /** Workload results by name. */
  workloads: Record<string, unknown>;
  /** Recovery samples. */
  recovery: RecoverySample[];
  /** Links at the end. */
  links: LinkOutcome[];
  /** Lab events during the run (kind, subject, ms after start). */
  events: { atMs: number; kind: string; subject?: string }[];
  /** Assertion verdicts. */
  assertions: AssertionVerdict[];
  /** True when every step ran and every assertion passed. */
  passed: boolean;
  /**
   * Why the run stopped early (a step failed, the timeout, an interrupt, its lab stopped under it),
   * if it did.
   */
  error?: string;
  /** The document that replays this run (topology inlined). */
  document: Record<string, unknown>;
}
