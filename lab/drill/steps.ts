/**
 * The step kinds a drill's timeline can use, in one registry: a `Map` from the kind's key in
 * YAML (`link`, `exec`, `wait`, `wait_for`) to its schema, its checks against the topology and
 * its action. A new fault kind (backend crash, ring corruption, lost kick, netem change,
 * partition, IOMMU revocation) is one more entry, registered with {@linkcode registerStepKind};
 * the loader, runner, report and replay do not change.
 *
 * Runs on the main thread, inside the drill runner.
 *
 * @module
 */

import { z } from "zod";
import type { LabHandle } from "../api.ts";
import { LabError, PartialExecError } from "../errors.ts";
import { didYouMean, type PathSegment, type Problem } from "../topology/issues.ts";
import { quote } from "../../devices/base/quote.ts";
import type { Topology } from "../topology/types.ts";
import { nonFiniteNumber } from "../topology/schema.ts";
import type { Prng } from "../../devices/base/prng.ts";
import { parseWorkload, type WorkloadRequest } from "../guest/workloads/args.ts";
import { vsockPath, workloadTopologyProblems } from "./exec_checks.ts";
import { drillLinks } from "./link_names.ts";

/** Longest duration a drill may write (`at`, `for`, `timeout`, …): one hour, in ms. */
export const DRILL_DURATION_MAX_MS = 3_600_000;

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m)$/;
const DURATION_MS: ReadonlyMap<string, number> = new Map([
  ["us", 0.001],
  ["µs", 0.001],
  ["ms", 1],
  ["s", 1000],
  ["m", 60_000],
]);

/**
 * A duration as written in a drill (`"200ms"`, `"1.5s"`, `"2m"`, `0`), read to milliseconds,
 * at most {@linkcode DRILL_DURATION_MAX_MS}; a bad value is a problem with code `bad-unit` or
 * `out-of-range` and a hint. (Topology durations are netem's and stop at a minute; a drill's
 * timeline may be longer.)
 *
 * @example
 * ```ts
 * import { durationMs } from "./steps.ts";
 * durationMs.parse("1.5s"); // 1500
 * ```
 */
export const durationMs: z.ZodType<number, string | number> = z.union([
  z.string(),
  z.number(),
  // 1e400, .inf or .nan in YAML: out of range, not "a string or a finite number".
  nonFiniteNumber,
])
  .transform((v, ctx) => {
    if (Number.isNaN(v)) {
      ctx.addIssue({
        code: "custom",
        message: "A drill duration is from 0 to 1 hour (60m), got NaN",
        params: { code: "out-of-range", hint: 'write a duration such as "200ms", "1.5s" or "2m"' },
      });
      return z.NEVER;
    }
    const text = String(v).trim();
    const m = v === 0 ? ["0", "0", "ms"] : DURATION_RE.exec(text);
    const ms = m === null ? NaN : Number(m[1]) * DURATION_MS.get(m[2])!;
    if (Number.isFinite(ms) && ms <= DRILL_DURATION_MAX_MS) return Math.round(ms * 1000) / 1000;
    // Infinity is too long; -Infinity, like -5, negative.
    if (v === Infinity) {
      ctx.addIssue({
        code: "custom",
        message: "A drill duration is at most 1 hour (60m), got Infinity",
        params: { code: "out-of-range", hint: "split the drill, or use a shorter period" },
      });
      return z.NEVER;
    }
    // A negative one, or a number without its unit, says so: "Cannot read" said neither.
    const negative = m === null && /^-\s*(\d|Infinity$)/.test(text);
    const unitless = m === null && /^\d+(\.\d+)?$/.test(text);
    // `2h`, `5sec`: a number with a unit a drill does not take.
    const unit = m === null ? /^\d+(?:\.\d+)?\s*([A-Za-zµ]+)$/.exec(text)?.[1] ?? null : null;
    ctx.addIssue({
      code: "custom",
      message: negative
        ? `A drill duration cannot be negative, got ${quote(String(v))}`
        : m === null
        ? `Cannot read ${quote(String(v))} as a duration${
          unitless
            ? ": it has no unit"
            : unit !== null
            ? `: ${quote(unit)} is not a unit (us, ms, s, m)`
            : ""
        }`
        : `A drill duration is at most 1 hour (60m), got ${quote(String(v))}`,
      params: {
        code: m === null && !negative ? "bad-unit" : "out-of-range",
        hint: negative
          ? 'write how long, 0 or more, such as "200ms" or "1.5s"'
          : unitless
          ? `give it a unit: "${text}s" or "${text}ms"`
          : unit !== null
          ? 'write it in us, ms, s or m (minutes; 60m at most), as in "200ms", "1.5s" or "2m"'
          : m === null
          ? 'write a duration such as "200ms", "1.5s" or "2m"'
          : "split the drill, or use a shorter period",
      },
    });
    return z.NEVER;
  })
  // The hint of a value that is no string nor number (`true`, a list) gives these.
  .meta({ examples: ["200ms", "1.5s", "2m"] });

/** What a step checks its arguments against before the drill runs. */
export interface CheckContext {
  /**
   * The drill's topology, or null when it did not load (an unknown name, a bad file, an invalid
   * inline map: reported on its own). A check then skips only what needs it (VM, link, device
   * names) and still reports the rest, so one run shows every problem it can find.
   */
  topology: Topology | null;
  /** Workload names defined by earlier steps (`exec … as:`). */
  workloads: ReadonlySet<string>;
  /** Those of them that run until stopped (see {@linkcode endlessWorkload}). */
  endless?: ReadonlySet<string>;
  /** The links the steps above leave down; a `link` step's check keeps it up to date. */
  linksDown?: Set<string>;
  /**
   * How many partitions the steps above leave in force (a `partition` without `heal_after`, not
   * healed since), and `cuts`: those of them that read, by step, with their sides (the VMs they
   * surely cut apart); a `partition` or `heal` step's check keeps it up to date.
   */
  partitions?: {
    inForce: number;
    cuts?: { index: PathSegment; a: readonly string[]; b: readonly string[] }[];
  };
  /**
   * The vsock ports the steps above listen on in the background, as `VM\0port`, with the server
   * there (`vsock-sink`, `vsock-echo`); `unknown` once a step whose workload did not read may have
   * started one; `ended`: the ports a server listened on and surely listens on no more, with why
   * (a `vsock-sink` took a `vsock-send`'s stream, its one; a `vm-crash` of its VM; a `wait_for`
   * on it). An `exec` step's check keeps it up to date, a `fault` step's for a `vm-crash` (see
   * {@linkcode endVsockServers}) and a `wait_for` step's.
   */
  vsockServers?: {
    ports: Map<string, "vsock-sink" | "vsock-echo">;
    unknown: boolean;
    ended: Map<string, string>;
    /** The workload name (`as:`) of the server on each port, when it has one: a `wait_for` on it ends it. */
    names?: Map<string, string>;
    /**
     * How long the steps above hold the cursor at least, ms (each step run what its words say it
     * lasts: a `wait`, an `up_after`, a workload in the foreground), and for each port whose
     * server's words bound its run (`-t`), that clock when it started and how long it runs at
     * most: once the clock passed its end, with room for the lab's pace, it listens no more.
     */
    clock?: { ms: number; started: Map<string, { at: number; atMost: number }> };
  };
  /**
   * How many times the step runs (`every` and `for`), when its timing reads: a repeated
   * `vsock-send` to a `vsock-sink` has its second run refused. Absent: once, or not known.
   */
  runs?: number;
}

/** A background workload the runner tracks. */
export interface WorkloadRun {
  /** VM it runs in. */
  vm: string;
  /** Its argv. */
  argv: string[];
  /** Settles with the result (or an error object) when it ends. */
  done: Promise<void>;
  /** The result once it ended: the workload's object, or `{ kind: "error", message, hint? }`. */
  result: Record<string, unknown> | null;
  /**
   * A server that runs until stopped (`udp-echo` or `vsock-echo` without `-t`, `sink -t 0`
   * without `-n`): the runner does not wait for it at the end, it stops it with `stop`.
   */
  endless?: boolean;
  /** Stop the workload (it then answers with what it measured so far). */
  stop?: () => void;
  /**
   * True when the drill's own stop (its signal: Ctrl-C, its timeout, a failed step) came while
   * the workload ran: what it answered is then the part it ran, no whole run. Not set for one
   * that `stop` had already ended (an endless server at the timeline's end).
   */
  cutByDrill?: boolean;
}

/**
 * Why the drill itself stopped while workloads still ran: Ctrl-C or SIGTERM (`interrupted`, the
 * caller's signal), its `timeout` (`timed-out`), a step that failed (`step-failed`).
 */
export type DrillCut = "interrupted" | "timed-out" | "step-failed";

/**
 * The result of a workload that the drill's own stop ({@linkcode DrillCut}: Ctrl-C, its
 * timeout, a failed step) cut short, as the drill judges it: a failure, as one the lab's stop
 * cut short, whose `partial` keeps what it had measured, so that no assertion is judged on the
 * part it ran as if it were the whole run (a `ping -c 100` cut at 15 read as a run of 15 that lost
 * nothing). A failure stays as it is; `null` (it did not answer in time) is that failure without
 * `partial`.
 *
 * @example
 * ```ts
 * import { interruptedResult } from "./steps.ts";
 * interruptedResult({ kind: "ping", transmitted: 15 }).message;
 * // "The workload was cut short: the drill was interrupted while it ran"
 * interruptedResult({ kind: "ping", transmitted: 15 }, "timed-out").message;
 * // "The workload was cut short: the drill timed out while it ran"
 * ```
 */
export function interruptedResult(
  result: Record<string, unknown> | null,
  cut: DrillCut = "interrupted",
): Record<string, unknown> {
  if (result !== null && result.kind === "error") return result;
  const [why, judge] = cut === "timed-out"
    ? ["the drill timed out", "give the drill a longer `timeout` to judge it whole"]
    : cut === "step-failed"
    ? [
      "a failed step ended the drill",
      "run the drill again once the step passes to judge it whole",
    ]
    : ["the drill was interrupted", "run the drill again to judge it whole"];
  return {
    kind: "error",
    message: `The workload was cut short: ${why} while it ran`,
    hint: `What it had done is its partial result; ${judge}`,
    ...(result === null ? {} : { partial: result }),
  };
}

/**
 * Whether a workload runs until it is stopped: a server given no duration and no count.
 *
 * @example
 * ```ts
 * import { endlessWorkload } from "./steps.ts";
 * endlessWorkload(["udp-echo"]); // true
 * endlessWorkload(["udp-echo", "-t", "5"]); // false
 * ```
 */
export function endlessWorkload(argv: string[]): boolean {
  const r = parseWorkload(argv);
  if (!r.ok) return false;
  const w = r.value;
  return (w.kind === "udp-echo" || w.kind === "vsock-echo" || w.kind === "sink") &&
    w.seconds === null && (w.kind !== "sink" || w.count === null);
}

/**
 * How long a workload in the foreground lasts at least, ms, from its words alone: a `ping`'s
 * gaps between its requests (`-c 30 -i 0.05`: 1.45 s), the `-t` of a `udp-flood`, a `sink` or a
 * `udp-echo` or `vsock-echo` that no `-n` may end sooner, a `udp-flood`'s `-n` datagrams at its
 * `-r` rate (`-n 100 -r 50`: the 100th is due at 1.98 s). 0 when the words do not tell (a count
 * as fast as the ring goes, a vsock stream).
 *
 * @example
 * ```ts
 * import { workloadLastsMs } from "./steps.ts";
 * workloadLastsMs(["ping", "10.0.0.2", "-c", "30", "-i", "0.05"]); // 1450
 * workloadLastsMs(["udp-flood", "10.0.0.2", "-n", "100", "-r", "50"]); // 1980
 * workloadLastsMs(["udp-flood", "10.0.0.2", "-n", "1000"]); // 0
 * ```
 */
export function workloadLastsMs(argv: string[]): number {
  const r = parseWorkload(argv);
  if (!r.ok) return 0;
  const w = r.value;
  const ms = (seconds: number) => Math.round(seconds * 1000 * 1000) / 1000;
  switch (w.kind) {
    case "ping":
      return ms((w.count - 1) * w.intervalS);
    case "udp-flood":
      // At a rate, the k-th datagram is due (k - 1) / rate after the first: the flood ends no
      // sooner than its last is due.
      if (w.count !== null) return w.ratePps === null ? 0 : ms((w.count - 1) / w.ratePps);
      return w.seconds === null ? 0 : ms(w.seconds);
    case "sink":
      return w.count === null && w.seconds !== null ? ms(w.seconds) : 0;
    case "udp-echo":
    case "vsock-echo":
      return w.seconds === null ? 0 : ms(w.seconds);
    default:
      return 0;
  }
}

/**
 * How long a workload runs at most, ms, from its words alone (the lab's own pace aside): a
 * `ping`'s gaps plus its `-W` for each request (a request the full transmit ring holds back is
 * tried again for up to `-W`) and the last reply's `-W`; the `-t` of a `udp-flood` without `-n`,
 * of a `sink`, of a `udp-echo` or `vsock-echo` given one, of a `vsock-sink`. Null when the words do
 * not bound it (a count sent as fast as the ring takes it, a stream, a server that runs until
 * stopped).
 *
 * @example
 * ```ts
 * import { workloadRunsAtMostMs } from "./steps.ts";
 * workloadRunsAtMostMs(["ping", "10.0.0.2", "-c", "5", "-i", "0.1", "-W", "0.5"]); // 3400
 * workloadRunsAtMostMs(["sink", "-t", "5", "-n", "10"]); // 5000
 * workloadRunsAtMostMs(["udp-flood", "10.0.0.2", "-n", "1000"]); // null
 * ```
 */
export function workloadRunsAtMostMs(argv: string[]): number | null {
  const r = parseWorkload(argv);
  if (!r.ok) return null;
  const w = r.value;
  const ms = (seconds: number) => Math.round(seconds * 1000 * 1000) / 1000;
  switch (w.kind) {
    case "ping":
      return ms(w.count * w.timeoutS + (w.count - 1) * w.intervalS + w.timeoutS);
    case "udp-flood":
      // A count goes at the ring's pace (or its rate, which a full ring can slow): not bounded.
      return w.count === null && w.seconds !== null ? ms(w.seconds) : null;
    case "sink":
    case "udp-echo":
    case "vsock-echo":
    case "vsock-sink":
      return w.seconds === null ? null : ms(w.seconds);
    default:
      return null;
  }
}

/** How a step run holds what it takes once its step moved on (see {@linkcode Binding.holds}). */
export interface Hold {
  /** How long at least, ms (Infinity: until the drill ends; 0 with `instant`). */
  ms: number;
  /** The words for it, after "it": `runs`, `blocks the worker`, `ends the worker`. */
  verb: string;
  /** The run, for messages: `sink -t 5`, `backend-crash hang 900 ms`. */
  what: string;
  /**
   * Held only for an instant the steps' words cannot measure (an exit, until the restart begins,
   * some milliseconds later): a take right after it, nothing between them holding the cursor a known
   * time, fails; any later one may not.
   */
  instant?: boolean;
  /** The words a take fails with while this is held, when not the taker's own `fails`. */
  fails?: string;
  /** The takes it lets by, by their `how` (an armed mid-pass crash lets a `slow` one by). */
  lets?: readonly string[];
  /** What to do about a take that fails on it, when not the taker's kind's hint. */
  hint?: string;
}

/** What a step run takes in a VM (see {@linkcode StepKind.binds}). */
export interface Binding {
  /** The VM. */
  vm: string;
  /** What it takes, as a key: `UDP port 9`, `device worker`. */
  what: string;
  /** What the run does to it, for messages: `binds UDP port 9 in VM "b"`. */
  doing: string;
  /** The key of the step the problem is placed at. */
  key: string;
  /**
   * How long the run holds it at least once the step moved on, ms (Infinity: until the drill
   * ends; a server without `-t`), with the words for that ("runs", "blocks it"); null: not
   * after its step (in the foreground), or not known.
   */
  holds: Hold | null;
  /** The words a second take fails with while it is held (`port in use`). */
  fails: string;
  /** How the run takes it (a backend crash's mode), for a hold that lets some takes by. */
  how?: string;
  /** What it is, for the hint: a port (another `-p`) or a device worker (wait for its restart). */
  kind: "port" | "worker";
  /**
   * False when the run does not fail on it while it is held, but ends every hold in its VM (a
   * `vm-crash` replaces a hung device worker and ends the VM's workloads): left out, true.
   */
  takes?: boolean;
  /**
   * With `takes: false`: its guest's boot time, ms (a `vm-crash`'s `ms`), which the VM stays down
   * for at least ({@linkcode vmRebootLeastMs}); left out, 0.
   */
  downMs?: number;
}

/**
 * The shortest a `vm-crash`'s reboot takes, ms, from the crash's due time to the VM running again,
 * when its guest boots for `bootMs` (its `ms`): a reboot takes its workers spawned ahead, and its
 * new guest starts once the boot time has passed after the devices' power-on (and once the old
 * guest's last sections are over, at once when none is under way: `oldGuestOut`), the crash at its
 * due time at the earliest. Each of these waits rounds its timer's delay up to whole ms (Deno
 * truncates a fractional one: the runner's `pauseUnlessAborted`, the lab's boot wait), so none
 * ends early. The devices' power-on and the guest's start (its start message, its drivers'
 * bring-up through the mailbox, its `ready` back) add more than nothing, but not a sure whole
 * millisecond on every machine; reboots under load take 33 to 90 ms (docs/design.md, "Workers
 * spawned ahead"). A run due sooner after the crash (or right after it, at no gap: the reboot
 * takes more than nothing) surely finds the VM rebooting: the runner holds it until the reboot is
 * over, so it never runs at its time. One due later may still find it rebooting (most reboots):
 * it is held the same way, and starts late, saying so, never failed for it. The drill's timeout
 * must leave the reboot too: the drill waits for it at its end.
 *
 * @example
 * ```ts
 * import { vmRebootLeastMs } from "./steps.ts";
 * vmRebootLeastMs(0); // 0: only a step in the VM right after its crash surely waits
 * vmRebootLeastMs(1500); // 1500
 * ```
 */
export function vmRebootLeastMs(bootMs: number): number {
  return bootMs;
}

/** What a step can do while it runs. */
export interface StepContext {
  /** The running lab. */
  lab: LabHandle;
  /** Milliseconds since the drill started. */
  elapsedMs(): number;
  /** Sleep (aborted when the drill is aborted). */
  sleep(ms: number): Promise<void>;
  /** Background workloads by name. */
  workloads: Map<string, WorkloadRun>;
  /** Start watching for traffic to flow again over a link after a fault ended there. */
  watchRecovery(link: string): void;
  /**
   * Start timing a fault's recovery from now, as one recovery sample named `what`: it recovered
   * when the lab logs an event of a `recovered` kind about `subject` (and, with `nic`, about that
   * NIC or vsock device: its detail's `nic` or `device`), and did not when a `failed` kind comes
   * first or none within the watch. Call it before injecting the fault (its events may come at
   * once); the returned function forgets the watch (the fault was refused). With `unnoticed`, a fault the lab may also outlive on its own (a
   * hang the watchdog may or may not catch) is timed only once the lab noticed it (an event of
   * the `noticed` kind about `subject`, with that `cause` in its detail when one is given), and
   * forgotten, not timed, when none comes within `withinMs`: there was nothing to recover from (a
   * progress line says so, with `said`: what happened instead). Each event ends one watch, the
   * earliest's still waiting.
   */
  watchEvents(
    what: string,
    subject: string,
    ends: {
      recovered: readonly string[];
      failed: readonly string[];
      nic?: string;
      unnoticed?: { withinMs: number; noticed: { kind: string; cause?: string }; said: string };
      /** Longer than the runner's watch by this much, ms (a reboot whose guest boots slowly). */
      extraMs?: number;
    },
  ): () => void;
  /** The drill's random stream for this step run (forked from the seed by step and run). */
  prng: Prng;
  /** This step run as progress lines name it: `#2`, or `#2.1` for a repeated step's run. */
  label: string;
  /** Aborted when the drill must stop (timeout, Ctrl-C). */
  signal: AbortSignal;
}

/** One step kind. */
export interface StepKind<A> {
  /** Schema of the value under the kind's key. */
  schema: z.ZodType<A>;
  /** One line for progress and reports: `link a-b down`. */
  describe(args: A): string;
  /**
   * Problems with the arguments given the topology and the steps above (unknown links, VMs,
   * workloads). Called whether or not the topology loaded: see {@linkcode CheckContext.topology}.
   */
  check?(args: A, ctx: CheckContext, path: PathSegment[]): Problem[];
  /**
   * The checks of a step its schema refused, so that one bad key hides none of the step's other
   * problems: `args` holds each key of the step that reads on its own (read by its own schema),
   * and none that did not (their problems are the schema's) nor a required key left out. It
   * judges only what the keys it has tell (an unknown VM, a name taken), never what follows from
   * a key that is not there (a default taken for a key that did not read), and changes nothing
   * for the steps after it (that is {@linkcode unparsedEffects}'s and `definesUnparsed`'s part).
   */
  checkPartial?(args: Partial<A>, ctx: CheckContext, path: PathSegment[]): Problem[];
  /** The workload name this step defines for later steps and assertions, if any. */
  defines?(args: A): string | null;
  /**
   * The workload name (at its `as:` key) a step gives when its schema refused it for another
   * reason (a typo in a key), if the name itself is well formed: it still names the workload for
   * later steps and assertions, so that one mistake is one problem, not one more at each place
   * that reads it.
   */
  definesUnparsed?(value: unknown): string | null;
  /**
   * What a step its schema refused may still do, for the checks of the steps after it (`link`
   * notes that its link may be down): one mistake is then not also a problem at a later step that
   * relies on it. Reports nothing; takes the value as written.
   */
  unparsedEffects?(value: unknown, ctx: CheckContext): void;
  /**
   * How long each run holds the cursor at least, ms (a link's `up_after`, a partition's
   * `heal_after`, a `wait`, a workload in the foreground): a step after it that is due sooner
   * would run late, which the loader refuses, and so is a step that would end past the drill's
   * timeout.
   * Left out: 0.
   */
  lasts?(args: A): number;
  /**
   * The limit a run gives up at (a `wait_for`'s own `timeout`), ms from when the run starts, and
   * the key that sets it, when the step sets one: a limit that would come past the drill's
   * timeout could never be reached (the drill stops first), which the loader refuses. Left out,
   * or null: no limit of the step's own.
   */
  limit?(args: A): { ms: number; key: string } | null;
  /**
   * How long what a run starts goes on at least once the step has moved on (a workload in the
   * background: a `ping`'s gaps, a `-t` without `-n`), ms, with the key that says so and a few
   * words for messages: the drill waits for it at its end, so one that would end at or past the
   * drill's timeout makes the drill time out, which the loader refuses. Left out, or null: none.
   * `verb` says what it does that long ("runs", the default; "reboots VM \"b\"" for a vm-crash's
   * boot time) and `shorter` what the hint offers to shorten (default: the workload's run).
   */
  outlives?(
    args: A,
  ): { ms: number; key: string; what: string; verb?: string; shorter?: string } | null;
  /**
   * The workload a run leaves running in a VM once the step has moved on (one in the
   * background), with how long it runs at least by its words (0: they do not say) and whether it
   * runs until the drill stops it: a `vm-crash` of that VM while it surely still runs ends it with
   * an error, which fails the drill, and the loader refuses. Left out, or null: none.
   */
  runsIn?(args: A): { vm: string; ms: number; endless: boolean; what: string } | null;
  /**
   * How long what a run starts goes on at most once the step has moved on, ms, as far as its
   * words bound it (a workload in the background: a `ping`'s gaps and `-W`, a `-t`; one in the
   * foreground has ended with its step: 0): a `wait_for` on it is over by then, whatever its
   * own `timeout`. Left out, or null: not bounded (a count at the ring's pace, a stream).
   */
  runsAtMost?(args: A): number | null;
  /**
   * How long each run holds the cursor at most, ms, as far as the step's words bound it (a
   * `wait`, a link's `up_after`, a `wait_for`'s timeout; a step that acts at once: 0), the lab's
   * own time to act aside. Left out, or null: the words do not bound it (a workload in the
   * foreground, a fault). It tells how much of a workload in the background has gone by, at
   * most, when a later step starts waiting for it.
   */
  lastsAtMost?(args: A): number | null;
  /**
   * The workload a run waits for (a `wait_for`'s), how long it waits at most before it fails,
   * ms, and the key that sets that (null: the default): a wait that gives up before the
   * workload can end, by what its words say it lasts, fails on every run, which the loader
   * refuses.
   */
  waitsFor?(args: A): { workload: string; ms: number; key: string | null } | null;
  /**
   * What a run takes in its VM that a second run cannot take while the first holds it, which the
   * loader refuses when that is sure: a server's port (`UDP port 9`: "port in use"), a device
   * worker a `hang` blocks (another backend crash: "backend-hung").
   */
  binds?(args: A): Binding | null;
  /**
   * The VM a run needs running (a fault injected in it, a workload started there), with the
   * words for what it does. The lab refuses it while the VM reboots after a `vm-crash` ("is
   * restarting"), so the runner holds such a run until the reboot is over (it starts late, and
   * says what held it), and the loader refuses one due surely within the reboot (it would never
   * run at its time). `recoveries`: the lab also refuses it while the VM recovers from a backend
   * crash or a device reset (`restarting`, `resetting`: a fault), which the runner waits out the
   * same way. Left out, or null: none.
   */
  needsRunning?(args: A): { vm: string; doing: string; recoveries?: true } | null;
  /**
   * Whether a run times a recovery (a link brought back up, a fault the lab recovers from): a
   * drill none of whose steps does has no `recovery.min_ms`, `…max_ms` and the like to read,
   * which the loader refuses. Left out: false.
   */
  timesRecovery?(args: A): boolean;
  /** Do it. Resolves when the step is over (a background workload resolves at once). */
  run(args: A, ctx: StepContext): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const registry = new Map<string, StepKind<any>>();

/**
 * Add a step kind to the registry (a fault kind added by another part of vlab).
 *
 * @example
 * ```ts ignore
 * import { z } from "zod";
 * import { registerStepKind } from "./steps.ts";
 * registerStepKind("note", {
 *   schema: z.string(),
 *   describe: (text) => `note ${text}`,
 *   run: async () => {},
 * });
 * ```
 */
export function registerStepKind<A>(key: string, kind: StepKind<A>): void {
  if (registry.has(key)) throw new Error(`step kind ${key} is already registered`);
  registry.set(key, kind);
}

/**
 * The registered step kinds, by their key.
 *
 * @example
 * ```ts
 * import { stepKinds } from "./steps.ts";
 * stepKinds().has("link"); // true
 * ```
 */
// deno-lint-ignore no-explicit-any
export function stepKinds(): ReadonlyMap<string, StepKind<any>> {
  return registry;
}

function linkCheck(topology: Topology | null, link: string, path: PathSegment[]): Problem[] {
  // No topology, no link names to judge: the topology's own problem is reported.
  if (topology === null) return [];
  // As `vlab link`: vsock links and links to vsock routers too.
  const names = drillLinks(topology).map((l) => l.name);
  if (!names.includes(link)) {
    return [{
      code: "unknown-link",
      path,
      message: `Unknown link ${quote(link)}`,
      hint: didYouMean(link, names),
    }];
  }
  return [];
}

const linkArgs = z.strictObject({
  name: z.string(),
  state: z.enum(["up", "down"]),
  up_after: durationMs.optional(),
});

registerStepKind<z.output<typeof linkArgs>>("link", {
  schema: linkArgs,
  lasts: (a) => a.up_after ?? 0,
  lastsAtMost: (a) => a.up_after ?? 0,
  timesRecovery: (a) => a.state === "up" || a.up_after !== undefined,
  checkPartial: (a, ctx, path) =>
    a.name === undefined ? [] : linkCheck(ctx.topology, a.name, [...path, "name"]),
  unparsedEffects: (v, ctx) => {
    const { name, state } = (v ?? {}) as { name?: unknown; state?: unknown };
    if (typeof name !== "string" || ctx.linksDown === undefined) return;
    // Anything but a plain `up` may have taken it down: a later `up` is not out of order.
    if (state === "up") ctx.linksDown.delete(name);
    else ctx.linksDown.add(name);
  },
  describe: (a) =>
    `link ${a.name} ${a.state}${a.up_after === undefined ? "" : ` for ${a.up_after} ms`}`,
  check: (a, ctx, path) => {
    const problems = [
      ...linkCheck(ctx.topology, a.name, [...path, "name"]),
      ...(a.up_after !== undefined && a.state !== "down"
        ? [{
          code: "invalid",
          path: [...path, "up_after"],
          atKey: true,
          message: "up_after only goes with state: down",
          hint: "bring the link down and give up_after to bring it back up",
        }]
        : []),
    ];
    const down = ctx.linksDown;
    if (down === undefined || problems.length > 0) return problems;
    if (a.state === "up" && !down.has(a.name)) {
      // Every link starts up: bringing it up again is a step out of order (or a typo for down),
      // and it would count a recovery from a fault that never happened.
      problems.push({
        code: "out-of-order",
        path: [...path, "state"],
        message: `Link ${quote(a.name)} is already up here: no step above takes it down`,
        hint: "bring it down first (state: down), or give the down step up_after",
      });
    }
    if (a.state === "up") down.delete(a.name);
    else if (a.up_after === undefined) down.add(a.name);
    return problems;
  },
  run: async (a, ctx) => {
    ctx.lab.setLink(a.name, a.state === "up");
    if (a.state === "up") {
      ctx.watchRecovery(a.name);
      return;
    }
    if (a.up_after !== undefined) {
      await ctx.sleep(a.up_after);
      ctx.lab.setLink(a.name, true);
      ctx.watchRecovery(a.name);
    }
  },
});

const execArgs = z.strictObject({
  vm: z.string(),
  // `-c, 3` as YAML writes it: a number is the word it was typed as.
  argv: z.array(z.union([z.string(), z.number().transform(String)])).refine(
    (argv) => argv.length > 0,
    {
      message: "argv needs at least one word: the workload's name",
      params: {
        code: "empty-list",
        hint: "write the workload and its arguments, as in argv: [ping, 10.0.0.2, -c, 3]",
      },
    },
  ),
  background: z.boolean().optional(),
  as: z.string().refine((v) => /^[a-z_][a-z0-9_]*$/.test(v), {
    message: "A workload name is lowercase letters, digits and _",
    params: { code: "bad-name", hint: "name it like `ping` or `sink_b`" },
  }).optional(),
});

const RESERVED = new Set(["recovery", "events", "true", "false", "count", "metric"]);

/**
 * The problem with a workload name (`as:`) that a step above took already or that the assertion
 * language reserves, placed at `path`; none for a free name.
 *
 * @example
 * ```ts
 * import { workloadNameProblems } from "./steps.ts";
 * workloadNameProblems("ping", new Set(["ping"]), ["as"])[0].message; // 'The name "ping" is already taken'
 * workloadNameProblems("recovery", new Set(), ["as"]).length; // 1
 * ```
 */
export function workloadNameProblems(
  name: string,
  workloads: ReadonlySet<string>,
  path: PathSegment[],
): Problem[] {
  if (!workloads.has(name) && !RESERVED.has(name)) return [];
  // `true` and `false` are values of the assertion language, not names it took.
  const literal = name === "true" || name === "false";
  return [{
    code: "duplicate-name",
    path,
    message: literal
      ? `The name "${name}" is a value of the assertion language: it cannot name a workload`
      : `The name "${name}" is already taken`,
    hint: RESERVED.has(name)
      ? "recovery, events, count, metric, true and false are words of the assertion language: " +
        "give the workload another name"
      : "give each workload its own name",
  }];
}

/**
 * An exec step's problems: its VM, its workload and arguments, and (`whole`: the step read as a
 * whole) its workload name. Each is judged only when its key is there.
 */
function checkExec(
  a: Partial<z.output<typeof execArgs>>,
  ctx: CheckContext,
  path: PathSegment[],
  whole: boolean,
): Problem[] {
  const problems: Problem[] = [];
  const vms = ctx.topology?.vms.map((v) => v.name) ?? null;
  if (a.vm !== undefined && vms !== null && !vms.includes(a.vm)) {
    problems.push({
      code: "unknown-vm",
      path: [...path, "vm"],
      message: `Unknown VM ${quote(a.vm)}`,
      hint: didYouMean(a.vm, vms),
    });
  }
  // The workload and its arguments, read as the guest will read them: a typo fails here, at
  // its line, not seconds into the run.
  const parsed = a.argv === undefined ? null : parseWorkload(a.argv);
  if (parsed !== null && !parsed.ok) {
    problems.push({
      code: "bad-workload",
      path: [...path, "argv"],
      message: parsed.error.message,
      hint: parsed.error.hint,
    });
  }
  // What it needs of its VM (a vsock device, a NIC behind the vIOMMU, a CID to reach).
  if (parsed?.ok === true && a.vm !== undefined && ctx.topology !== null) {
    problems.push(
      ...workloadTopologyProblems(parsed.value, a.vm, ctx.topology, [...path, "argv"]),
    );
  }
  // In the foreground, a server that runs until stopped holds the cursor until the timeout, as
  // a wait_for on it would.
  if (whole && parsed?.ok === true && a.background !== true && endlessWorkload(a.argv!)) {
    problems.push({
      code: "never-ends",
      path: [...path, "argv"],
      message: `${parsed.value.kind} runs until it is stopped: in the foreground, the drill ` +
        "would wait for it until its timeout",
      hint: "add background: true (it is stopped when the drill ends, with what it measured), " +
        `or give it a duration (-t SECONDS${parsed.value.kind === "sink" ? " or -n COUNT" : ""})`,
    });
  }
  if (whole && a.as !== undefined) {
    problems.push(...workloadNameProblems(a.as, ctx.workloads, [...path, "as"]));
  }
  // A server counts for the steps after it whatever its own problems; a send with problems of
  // its own is not judged further.
  if (whole && parsed?.ok === true) {
    const vsock = vsockServerProblems(parsed.value, a as z.output<typeof execArgs>, ctx, path);
    if (problems.length === 0) problems.push(...vsock);
  }
  return problems;
}

/**
 * Room for the lab's pace when a vsock server's `-t` runs out before a `vsock-send`, ms: its
 * guest's timer may end it late on a loaded machine.
 */
const VSOCK_SERVER_END_SLACK_MS = 500;

/**
 * A `vsock-send` to another VM's port that no step above listens on in the background, over a
 * vsock link a step above left down, or across a partition a step above left in force (its
 * connection would be refused: the workload fails, and the drill), and the ports the vsock
 * servers of the steps above listen on (`ctx.vsockServers`, kept up to date here). The host
 * (CID 2) is left to the run: its listeners are no step's.
 */
function vsockServerProblems(
  w: WorkloadRequest,
  a: z.output<typeof execArgs>,
  ctx: CheckContext,
  path: PathSegment[],
): Problem[] {
  const servers = ctx.vsockServers;
  if (servers === undefined) return [];
  if ((w.kind === "vsock-sink" || w.kind === "vsock-echo") && a.background === true) {
    const key = `${a.vm}\0${w.port}`;
    servers.ports.set(key, w.kind);
    servers.ended.delete(key);
    if (a.as === undefined) servers.names?.delete(key);
    else servers.names?.set(key, a.as);
    const atMost = workloadRunsAtMostMs(a.argv);
    if (atMost === null) servers.clock?.started.delete(key);
    else servers.clock?.started.set(key, { at: servers.clock.ms, atMost });
    return [];
  }
  if (w.kind !== "vsock-send" || servers.unknown || ctx.topology === null) return [];
  const peer = ctx.topology.vms.find((v) => v.vsock !== null && v.vsock.cid === w.cid);
  if (peer === undefined || peer.name === a.vm) return [];
  // A link on the way that a step above left down answers every packet with RST.
  const down = (vsockPath(ctx.topology, a.vm, peer.name) ?? []).find((l) =>
    ctx.linksDown?.has(l) === true
  );
  if (down !== undefined) {
    return [{
      code: "link-down",
      path: [...path, "argv"],
      message: `Cannot connect to vsock ${w.cid}:${w.port} from VM ${quote(a.vm)}: the vsock ` +
        `link ${quote(down)} to VM ${
          quote(peer.name)
        } is down (a step above took it down), so the connection would be refused`,
      hint: `bring it up first: link: { name: ${down}, state: up }, or give the down step an ` +
        "up_after",
    }];
  }
  // A partition between them resets their connections and refuses new ones, both ways.
  const cut = ctx.partitions?.cuts?.find((c) =>
    (c.a.includes(a.vm) && c.b.includes(peer.name)) ||
    (c.b.includes(a.vm) && c.a.includes(peer.name))
  );
  if (cut !== undefined) {
    return [{
      code: "partitioned",
      path: [...path, "argv"],
      message: `Cannot connect to vsock ${w.cid}:${w.port} from VM ${quote(a.vm)}: ` +
        `timeline[${cut.index}]'s partition, in force here, cuts it from VM ${
          quote(peer.name)
        } (new vsock connections are refused both ways), so the connection would be refused`,
      hint: "heal it first (heal: all), or give the partition a heal_after",
    }];
  }
  const key = `${peer.name}\0${w.port}`;
  // A server whose -t surely ran out before this step starts (the steps between hold the cursor
  // that long at least, each run allowed its slack) listens no more.
  const started = servers.clock?.started.get(key);
  if (servers.ports.has(key) && started !== undefined) {
    const since = servers.clock!.ms - started.at;
    if (since >= started.atMost + VSOCK_SERVER_END_SLACK_MS) {
      servers.ports.delete(key);
      servers.ended.set(
        key,
        `its -t ${started.atMost / 1000} ran out: the steps since hold the cursor ${
          since >= 1000 ? `${since / 1000} s` : `${since} ms`
        } at least`,
      );
    }
  }
  if (servers.ports.has(key)) {
    // A vsock-sink takes one stream, then stops listening: a second send there is refused, a
    // repeated step's second run too.
    if (servers.ports.get(key) === "vsock-sink") {
      servers.ports.delete(key);
      servers.ended.set(key, `timeline[${path[1]}]'s vsock-send took its one stream`);
      const runs = ctx.runs ?? 1;
      if (runs > 1) {
        return [{
          code: "no-listener",
          path: [...path, "argv"],
          message:
            `Cannot connect to vsock ${w.cid}:${w.port} from VM ${quote(a.vm)} again: timeline[${
              path[1]
            }] runs ${runs} times (every, for), and the vsock-sink a ` +
            `step above started on port ${w.port} in VM ${
              quote(peer.name)
            } (CID ${w.cid}) takes one stream, the first run's, so the second run's connection ` +
            "would be refused",
          hint: `serve any number of streams there: exec: { vm: ${peer.name}, argv: [vsock-echo, ` +
            `-p, ${w.port}], background: true }, or leave every and for out`,
        }];
      }
    }
    return [];
  }
  const ended = servers.ended.get(key);
  return [{
    code: "no-listener",
    path: [...path, "argv"],
    message: `Cannot connect to vsock ${w.cid}:${w.port} from VM ${quote(a.vm)}: ${
      ended === undefined
        ? `no step above starts vsock-sink or vsock-echo on port ${w.port} in VM ${
          quote(peer.name)
        } (CID ${w.cid}) in the background`
        : `the server a step above started on port ${w.port} in VM ${
          quote(peer.name)
        } (CID ${w.cid}) listens no more (${ended})`
    }, so the connection would be refused`,
    hint:
      `start one there ${ended === undefined ? "first" : "again, after what ended it"}: exec: ` +
      `{ vm: ${peer.name}, argv: [vsock-sink, -p, ${w.port}], background: true }` +
      (ended === undefined ? "" : " (a vsock-echo serves any number of streams)"),
  }];
}

/**
 * A step ended every vsock server of VM `vm` (`why`: a `vm-crash` of it, which ends its
 * workloads; its new guest listens on nothing): a `vsock-send` to one of those ports after it
 * is refused at validation, as to a port no step listens on.
 *
 * @example
 * ```ts
 * import { endVsockServers } from "./steps.ts";
 * const vsockServers = {
 *   ports: new Map([["b\x005000", "vsock-echo" as const]]),
 *   unknown: false,
 *   ended: new Map<string, string>(),
 * };
 * endVsockServers({ topology: null, workloads: new Set(), vsockServers }, "b", "a vm-crash");
 * vsockServers.ended.get("b\x005000"); // "a vm-crash"
 * ```
 */
export function endVsockServers(ctx: CheckContext, vm: string, why: string): void {
  const servers = ctx.vsockServers;
  if (servers === undefined) return;
  for (const key of servers.ports.keys()) {
    if (key.slice(0, key.indexOf("\0")) !== vm) continue;
    servers.ports.delete(key);
    servers.ended.set(key, why);
  }
}

registerStepKind<z.output<typeof execArgs>>("exec", {
  schema: execArgs,
  // In the foreground the cursor waits for it: at least what its words say it lasts.
  lasts: (a) => a.background === true ? 0 : workloadLastsMs(a.argv),
  // In the background the step ends once its workload runs; in the foreground, when it ends.
  lastsAtMost: (a) => a.background === true ? 0 : null,
  // In the foreground it ended with its step; in the background, by its words, when they bound it.
  runsAtMost: (a) => a.background === true ? workloadRunsAtMostMs(a.argv) : 0,
  // In the background the drill waits for it at its end (a server that runs until stopped is
  // stopped then, and lasts 0 by its words).
  outlives: (a) => {
    const ms = a.background === true ? workloadLastsMs(a.argv) : 0;
    return ms > 0 ? { ms, key: "argv", what: a.argv.join(" ") } : null;
  },
  needsRunning: (a) => ({
    vm: a.vm,
    doing: `starts ${a.argv[0]} in VM ${quote(a.vm)}`,
  }),
  runsIn: (a) =>
    a.background === true
      ? {
        vm: a.vm,
        ms: workloadLastsMs(a.argv),
        endless: endlessWorkload(a.argv),
        what: a.argv.join(" "),
      }
      : null,
  binds: (a) => {
    const r = parseWorkload(a.argv);
    if (!r.ok) return null;
    const w = r.value;
    const what = w.kind === "sink" || w.kind === "udp-echo"
      ? `UDP port ${w.port}`
      : w.kind === "vsock-echo" || w.kind === "vsock-sink"
      ? `vsock port ${w.port}`
      : null;
    if (what === null) return null;
    // In the background, a server holds its port until the drill stops it, or for its -t.
    const ms = a.background !== true
      ? 0
      : endlessWorkload(a.argv)
      ? Infinity
      : workloadLastsMs(a.argv);
    return {
      vm: a.vm,
      what,
      doing: `binds ${what} in VM ${quote(a.vm)}`,
      key: "argv",
      holds: ms > 0 ? { ms, verb: "runs", what: a.argv.join(" ") } : null,
      fails: "port in use",
      kind: "port",
    };
  },
  describe: (a) =>
    `exec ${a.vm}: ${a.argv.join(" ")}${a.as === undefined ? "" : ` as ${a.as}`}${
      a.background === true ? " (background)" : ""
    }`,
  defines: (a) => a.as ?? null,
  definesUnparsed: (v) => {
    const as = (v as { as?: unknown } | null)?.as;
    return execArgs.shape.as.safeParse(as).data ?? null;
  },
  // It may have started a vsock server: a vsock-send after it is not refused for want of one.
  unparsedEffects: (_v, ctx) => {
    if (ctx.vsockServers !== undefined) ctx.vsockServers.unknown = true;
  },
  check: (a, ctx, path) => checkExec(a, ctx, path, true),
  // Its name (`as:`) is judged with definesUnparsed, where it names its workload.
  checkPartial: (a, ctx, path) => checkExec(a, ctx, path, false),
  run: async (a, ctx) => {
    // Unnamed, it is named after its step run, as the progress lines name that (`#1.1`).
    const name = a.as ?? ctx.label;
    // Its own stop, for an endless server at the end of the drill; the drill's stops it too.
    const stop = new AbortController();
    const w: WorkloadRun = {
      vm: a.vm,
      argv: a.argv,
      result: null,
      done: Promise.resolve(),
      endless: endlessWorkload(a.argv),
      stop: () => stop.abort(),
    };
    const onAbort = () => {
      // Still running when the drill stopped: what it answers is the part it ran. Not a server
      // the drill had stopped already (`w.stop`, at the timeline's end): it ends as asked, and
      // what it answers is its whole run, judged as such.
      if (w.result === null && !stop.signal.aborted) w.cutByDrill = true;
      stop.abort();
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    // A background step ends once its workload runs (a sink's port bound), not before: the
    // flood of the next step cannot miss it.
    // A workload that never ran is a result like any failure (the drill reports "workload …
    // failed" and its assertions read it), not a failed step.
    let result: Promise<Record<string, unknown>>;
    try {
      result = (await ctx.lab.vm(a.vm).spawn(a.argv, { signal: stop.signal })).result;
    } catch (e) {
      result = Promise.reject(e);
    }
    w.done = result.then(
      (r) => void (w.result = r),
      (e) =>
        void (w.result = {
          kind: "error",
          message: e instanceof Error ? e.message : String(e),
          // A LabError's hint says what to do (an assertion on the workload repeats it).
          ...(e instanceof LabError && e.hint !== "" ? { hint: e.hint } : {}),
          // Cut short (its VM crashed, the lab stopped): what it had measured, for the report;
          // an assertion on it is an error, never judged as if the run were whole.
          ...(e instanceof PartialExecError ? { partial: e.partial } : {}),
        }),
    ).finally(() => ctx.signal.removeEventListener("abort", onAbort));
    ctx.workloads.set(name, w);
    if (a.background !== true) await w.done;
  },
});

registerStepKind<number>("wait", {
  schema: durationMs,
  // It holds the cursor that long: a step after it due sooner would run late.
  lasts: (ms) => ms,
  lastsAtMost: (ms) => ms,
  describe: (ms) => `wait ${ms} ms`,
  run: (ms, ctx) => ctx.sleep(ms),
});

/** How long a `wait_for` waits when it gives no `timeout`, ms. */
export const WAIT_FOR_DEFAULT_MS = 30_000;

const waitForArgs = z.strictObject({
  workload: z.string(),
  // 0 failed the step at once, before its workload could end: the wait could never succeed.
  timeout: durationMs.refine((ms) => ms > 0, {
    message: "A wait_for's timeout must be more than 0: the step would fail at once",
    params: {
      code: "out-of-range",
      hint: "give the workload time to end, such as `timeout: 10s`, or leave timeout out (30 s)",
    },
  }).optional(),
});

/** A wait_for step's problem: no earlier step starts its workload, or it never ends. */
function checkWaitFor(
  a: { workload: string },
  ctx: CheckContext,
  path: PathSegment[],
): Problem[] {
  return ctx.workloads.has(a.workload)
    ? (ctx.endless?.has(a.workload) === true
      ? [{
        code: "never-ends",
        path: [...path, "workload"],
        message: `Workload ${
          quote(a.workload)
        } runs until it is stopped: waiting for it cannot end`,
        hint: "give it a duration (-t SECONDS) or a count (sink -n COUNT), or do not wait for it",
      }]
      : [])
    : [{
      code: "unknown-workload",
      path: [...path, "workload"],
      message: `No earlier step starts a workload named ${quote(a.workload)}`,
      hint: didYouMean(a.workload, [...ctx.workloads]) ??
        "name a workload with `as:` in an exec step before this one",
    }];
}

registerStepKind<z.output<typeof waitForArgs>>("wait_for", {
  schema: waitForArgs,
  describe: (a) => `wait for ${a.workload}`,
  // Only a timeout written: the default (30 s) gives way to the drill's own timeout.
  limit: (a) => a.timeout === undefined ? null : { ms: a.timeout, key: "timeout" },
  // It fails at its timeout at the latest, which ends the drill.
  lastsAtMost: (a) => a.timeout ?? WAIT_FOR_DEFAULT_MS,
  waitsFor: (a) => ({
    workload: a.workload,
    ms: a.timeout ?? WAIT_FOR_DEFAULT_MS,
    key: a.timeout === undefined ? null : "timeout",
  }),
  checkPartial: (a, ctx, path) =>
    a.workload === undefined ? [] : checkWaitFor({ workload: a.workload }, ctx, path),
  check: (a, ctx, path) => {
    // Once it returns, the workload has ended: a vsock server's port listens no more.
    const servers = ctx.vsockServers;
    for (const [key, name] of servers?.names ?? []) {
      if (name !== a.workload || !servers!.ports.has(key)) continue;
      servers!.ports.delete(key);
      servers!.ended.set(key, `timeline[${path[1]}] waited for ${quote(name)} to end`);
    }
    return checkWaitFor(a, ctx, path);
  },
  run: async (a, ctx) => {
    const w = ctx.workloads.get(a.workload);
    if (w === undefined) throw new Error(`workload ${a.workload} was not started`);
    const limit = a.timeout ?? WAIT_FOR_DEFAULT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), limit));
    try {
      const r = await Promise.race([w.done.then(() => "done" as const), expired]);
      if (r === "timeout") {
        throw new Error(`Workload ${quote(a.workload)} did not end within ${limit} ms`);
      }
    } finally {
      clearTimeout(timer);
    }
  },
});
