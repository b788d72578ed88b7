/**
 * The client side of the control socket, for the CLI and scripts: find the lab the user means
 * (cleaning stale state on the way) and send it a request over its Unix socket.
 *
 * @module
 */

import {
  LabError,
  type LabErrorCode,
  PartialExecError,
  type PartialResult,
  workloadCutError,
} from "./errors.ts";
import { envFolder } from "./env_knobs.ts";
import { type ProcessState, processState } from "./proc.ts";
import { findLabs, type FoundLab, type LabRecord, removeStaleLab, stateRoot } from "./state.ts";
import { quote, shellArg } from "../devices/base/quote.ts";
import { resolve } from "node:path";
import type { LabStatus } from "./metrics.ts";
import { shippedTopologies } from "./topology/files.ts";
import { startAgain } from "./start_again.ts";

/**
 * The line that tells the user a lab's process died and what became of its folder (`vlab ls`
 * and every command that looks for a lab print it on stderr).
 *
 * @example
 * ```ts
 * import { staleLabLine } from "./client.ts";
 * staleLabLine({ status: "stale", name: "pair", reason: "its process 41 is gone" });
 * // "removed stale lab pair: its process 41 is gone"
 * ```
 */
export function staleLabLine(s: Extract<FoundLab, { status: "stale" }>): string {
  return s.kept
    ? `stale lab ${s.name}: ${s.reason}; kept its folder, which holds files vlab did not write: ${
      s.kept.join(", ")
    }`
    : `removed stale lab ${s.name}: ${s.reason}`;
}

/** Write a line to stderr, as the CLI's notices go (a lab that died is said, not hidden). */
function toStderr(line: string): void {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(line + "\n"));
  } catch {
    // No stderr to say it on: the folder is cleaned all the same.
  }
}

/**
 * The running lab called `name`, or the only running lab when `name` is undefined. When several
 * labs run and no name was given, the hint tells how the command names one: `howToName` (the
 * default, `--lab NAME`, suits the commands with that option). A lab whose process died on the
 * way is cleaned up and said once through `onStale` (default: a line on stderr, as `vlab ls`
 * says it), so that `vlab status` does not answer only "No lab is running" after a crash. With
 * no lab to find, the hint says how to start it, or, for a command that stops labs (`to:
 * "stop"`, `vlab down`), that there is nothing to stop and that `vlab ls` lists what runs.
 *
 * @example
 * ```ts ignore
 * import { resolveLab } from "./client.ts";
 * const record = await resolveLab(undefined); // throws a LabError when no lab (or several) run
 * ```
 */
export async function resolveLab(
  name: string | undefined,
  howToName: string = "--lab NAME",
  onStale: (line: string) => void = toStderr,
  to: "use" | "stop" = "use",
): Promise<LabRecord> {
  // Stopping a lab that does not run: starting it is not what was asked ("Start it with …").
  const nothingToStop = "Nothing to stop: `vlab ls` lists the labs that run";
  const found = await findLabs({ clean: true });
  for (const l of found) if (l.status === "stale") onStale(staleLabLine(l));
  const live = found.flatMap((l) => l.status === "running" ? [l] : []);
  const running = live.map((l) => l.record);
  // A lab still starting (`vlab ls` lists it) cannot answer yet, but it is not "no lab": a user
  // told that would start it a second time.
  const starting = found.flatMap((l) => l.status === "starting" ? [l] : []);
  if (name !== undefined) {
    const found = live.find((l) => l.record.name === name);
    if (found) return answering(found.record, found.process);
    const booting = starting.find((l) => l.name === name);
    if (booting) throw startingError(booting);
    const ofFile = labOfFile(name, running);
    // A lab still starting has no record (no source yet): the file's bare name names it. The
    // hint said to start it, a second time.
    const bare = name.replace(/^.*\//, "").replace(/\.ya?ml$/i, "");
    const startingOfFile = ofFile === null && /\.ya?ml$/i.test(name)
      ? starting.find((l) => l.name === bare)
      : undefined;
    throw new LabError(
      "no-lab",
      `No lab named ${quote(name)} is running`,
      ofFile !== null
        ? `${quote(name)} is the topology file of lab ${
          quote(ofFile.name)
        }: give the lab's name, ` +
          ofFile.name
        : startingOfFile !== undefined
        ? `${quote(name)} is the topology file of lab ${
          quote(startingOfFile.name)
        }, still starting: give the lab's name, ${startingOfFile.name}`
        : running.length > 0
        ? `Running labs: ${running.map((r) => r.name).join(", ")}`
        : (to === "stop"
          ? nothingToStop
          // A bare `vlab up` starts pair, whatever was named.
          : shippedTopologies().includes(name)
          ? `Start it with \`vlab up ${name}\``
          : "Start it with `vlab up <topology.yaml>` (the file whose `name:` it is)") +
          `; ${lookedIn()}`,
    );
  }
  if (live.length === 1) return answering(live[0].record, live[0].process);
  if (running.length === 0) {
    if (starting.length > 0) throw startingError(starting[0]);
    throw new LabError(
      "no-lab",
      "No lab is running",
      `${
        to === "stop" ? nothingToStop : "Start one with `vlab up` (or `vlab up -d`)"
      }; ${lookedIn()}`,
    );
  }
  throw new LabError(
    "ambiguous-lab",
    `${running.length} labs are running: say which one`,
    `Add ${howToName}, one of ${running.map((r) => r.name).join(", ")}`,
  );
}

/**
 * Where this command looked for labs, said when it found none: the state folder, and what chose
 * it. A lab runs in the folder of the `VLAB_STATE_DIR` it was started with; a command run without
 * that variable (a new shell, a script's child) or with another looks elsewhere, and its bare
 * "No lab is running" read as a lab gone while that lab ran on (`vlab down` stopped nothing).
 *
 * @example
 * ```ts ignore
 * lookedIn(); // "this command looks for labs in /tmp/vlab-0 (VLAB_STATE_DIR is not set): a lab started with it set is not seen here"
 * ```
 */
function lookedIn(): string {
  try {
    const root = shellArg(stateRoot());
    return envFolder("VLAB_STATE_DIR", "cwd") !== undefined
      ? `this command looks for labs in ${root} (VLAB_STATE_DIR): a lab started with another ` +
        "VLAB_STATE_DIR, or none, is not seen here"
      : `this command looks for labs in ${root} (VLAB_STATE_DIR is not set): a lab started ` +
        "with it set is not seen here";
  } catch {
    // No --allow-env (a script): no folder to name.
    return "this command looks for labs in the state folder of its VLAB_STATE_DIR";
  }
}

/**
 * The running lab that a topology file given where a lab's name goes started (`vlab down
 * lossy.yaml` after `vlab up lossy.yaml`): the lab whose recorded source is that file, else the
 * one named as the file without its folder and extension; null for a name with no `.yaml`/`.yml`.
 */
function labOfFile(name: string, running: readonly LabRecord[]): LabRecord | null {
  if (!/\.ya?ml$/i.test(name)) return null;
  const full = (path: string) => {
    try {
      return resolve(Deno.cwd(), path);
    } catch {
      return path; // the current folder is gone: the path as given is all there is
    }
  };
  const bare = name.replace(/^.*\//, "").replace(/\.ya?ml$/i, "");
  return running.find((r) => full(r.source) === full(name)) ??
    running.find((r) => r.name === bare) ?? null;
}

/** The error of a command aimed at a lab that is still starting (its record not written yet). */
function startingError(lab: Extract<FoundLab, { status: "starting" }>): LabError {
  const who = lab.pid > 0 ? ` (its process ${lab.pid})` : "";
  return new LabError(
    "no-lab",
    `Lab "${lab.name}" is still starting${who}: it cannot answer yet`,
    "Run the command again once `vlab ls` shows it running",
  );
}

/** Records whose process state was read already (one `/proc` read per record, not per request). */
const checked = new WeakSet<LabRecord>();

/** The record of a lab that can answer; a lab frozen with `kill -STOP` cannot (a request would hang). */
function answering(record: LabRecord, process: ProcessState): LabRecord {
  checked.add(record);
  if (process !== "stopped") return record;
  throw frozenError(record);
}

/** The error of a request to a lab frozen with `kill -STOP`. */
function frozenError(record: LabRecord): LabError {
  return new LabError(
    "control-error",
    `Lab "${record.name}" is stopped (its process ${record.pid} got SIGSTOP): it cannot answer`,
    `Resume it with \`kill -CONT ${record.pid}\``,
  );
}

/**
 * Send a request to a lab's control socket; close the returned client once the body is read.
 * A lab frozen with `kill -STOP` is refused at once (`control-error`) rather than waited for.
 * A connection that fails is judged by the lab's process, never by the error alone: a lab
 * whose process is gone is cleaned up and a `no-lab` error is thrown; a lab that lives (its
 * socket busy, say, with every connection slot taken) keeps its state and a `control-error`
 * says so.
 */
export async function controlFetch(
  record: LabRecord,
  path: string,
  init: RequestInit = {},
): Promise<{ res: Response; client: Deno.HttpClient }> {
  // A frozen lab's kernel still accepts the connection, and the request would wait forever.
  if (!checked.has(record)) answering(record, processState(record.pid));
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: record.socket } });
  try {
    return { res: await fetch(`http://vlab${path}`, { ...init, client }), client };
  } catch (e) {
    client.close();
    throw await controlError(record, init, e);
  }
}

/**
 * One HTTP client per control socket for {@linkcode controlJson}, kept for the process's life.
 * A client created and closed per request (Deno 2.9) left every 25th request of a quick series
 * waiting 5 s: 90 `GET /lab` in a row took 15 s instead of 57 ms, and so did 90 one-ping
 * `POST /exec` from a script (`vlab pingall`, whose pings take 0.4 s each, was not slowed). An
 * idle pooled connection does not keep a process alive.
 */
const shared = new Map<string, Deno.HttpClient>();

/** A request on the socket's shared client; a failed GET is tried once more on a fresh one. */
async function sharedFetch(record: LabRecord, path: string, init: RequestInit): Promise<Response> {
  if (!checked.has(record)) answering(record, processState(record.pid));
  for (let attempt = 0;; attempt++) {
    let client = shared.get(record.socket);
    if (client === undefined) {
      client = Deno.createHttpClient({ proxy: { transport: "unix", path: record.socket } });
      shared.set(record.socket, client);
    }
    try {
      return await fetch(`http://vlab${path}`, { ...init, client });
    } catch (e) {
      // A pooled connection to a lab that went (or restarted on the same socket) fails once:
      // a GET tries again on a new one (a POST may have been taken: it is not sent twice), and a
      // second failure is judged as controlFetch's are.
      shared.delete(record.socket);
      client.close();
      const idempotent = (init.method ?? "GET").toUpperCase() === "GET";
      if (attempt > 0 || !idempotent || init.signal?.aborted) {
        throw await controlError(record, init, e);
      }
    }
  }
}

/**
 * How long a request that failed waits for its lab to be gone before it says the lab runs, ms. A
 * killed lab's kernel closes its sockets and drops its lock in no set order: a request whose
 * connection closed under it found the lock still held for a moment, and `vlab exec` said "Lab
 * "pair" is running but its control socket did not take the request … It may be busy; try
 * again" after `kill -9` of the lab.
 */
const GOING_MS = 500;

/**
 * {@linkcode goneError}, or null once `GOING_MS` passed with the lab's lock held: the error of
 * a lab that is gone or going. A busy lab's refusal (`EAGAIN`, its backlog full: `busy`) is not
 * waited on.
 */
async function goingError(record: LabRecord, busy = false): Promise<LabError | null> {
  const deadline = performance.now() + (busy ? 0 : GOING_MS);
  for (;;) {
    const gone = goneError(record);
    if (gone !== null || performance.now() >= deadline) return gone;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The error of a request that failed: cancelled, a lab that is gone, or a busy socket. */
async function controlError(record: LabRecord, init: RequestInit, e: unknown): Promise<LabError> {
  if (init.signal?.aborted) {
    // Cancelled by its caller (Ctrl-C): the lab was reached, and nothing failed.
    return new LabError(
      "control-error",
      `The request to lab "${record.name}" was cancelled`,
      "Its caller cancelled it (Ctrl-C or a signal); run the command again to retry",
    );
  }
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : String(e);
  const gone = await goingError(record, /\(os error 11\)$/.test(cause));
  if (gone !== null) return gone;
  // "error sending request for url (…): client error (Connect): Resource temporarily
  // unavailable (os error 11)": the last reason, without the chain and the errno.
  const why = /\): ([^()]+?)(?: \(os error \d+\))?$/.exec(cause)?.[1] ?? cause;
  if (/\(os error 2\)$/.test(cause)) {
    // The socket file was removed under a running lab: no retry reaches it again.
    return new LabError(
      "control-error",
      `Lab "${record.name}" is running but its control socket ${quote(record.socket)} is gone`,
      `Nothing can reach it any more: stop it with \`vlab down ${record.name}\` (it gets SIGTERM), ` +
        "then start it again",
    );
  }
  return new LabError(
    "control-error",
    `Lab "${record.name}" is running but its control socket did not take the request: ${why}`,
    "It may be busy; try again",
  );
}

/**
 * How long a control request waits for its whole answer, ms, unless its caller says otherwise
 * ({@linkcode ControlJsonOptions}): a lab answers `GET /lab` of 64 VMs in milliseconds, so a lab
 * that says nothing for this long is hung (its process lives, its event loop does not turn).
 */
export const CONTROL_TIMEOUT_MS = 15_000;

/** Options of {@linkcode controlJson}. */
export interface ControlJsonOptions {
  /**
   * How long the request may wait for its whole answer, ms (default
   * {@linkcode CONTROL_TIMEOUT_MS}); `Infinity` for a request that lasts as long as its work
   * (`POST /exec`). Past it, a `control-error` says the lab did not answer.
   */
  timeoutMs?: number;
}

/**
 * A name a user gave as one path segment of a control request (`/links/NAME`): percent-encoded,
 * or null for `""`, `.` and `..`, which no canonical path carries (the control server refuses
 * them as `bad-path`, and a URL parser resolves `..` away) and no lab's names are. A command
 * then says the name is unknown, with the lab's names, as the lab would.
 *
 * @example
 * ```ts ignore
 * namedPath("/links", "a-b"); // "/links/a-b"
 * namedPath("/links", ".."); // null
 * ```
 */
export function namedPath(prefix: string, name: string): string | null {
  if (name === "" || name === "." || name === "..") return null;
  return `${prefix}/${encodeURIComponent(name)}`;
}

/**
 * The `unknown-link` error for a name no link of the lab has, said by the client for a name no
 * request can carry (`""`, `.`, `..`: {@linkcode namedPath}), with the lab's links as the lab
 * says them for any other unknown name.
 *
 * @example
 * ```ts ignore
 * (await unknownLinkError(record, "")).hint; // "Links: a-b"
 * ```
 */
export async function unknownLinkError(record: LabRecord, link: string): Promise<LabError> {
  const s = await controlJson<Pick<LabStatus, "links" | "vhostPciLinks">>(record, "/lab");
  const all = [...s.links, ...(s.vhostPciLinks ?? [])].map((l) => l.name);
  return new LabError(
    "unknown-link",
    `The lab has no link ${quote(link)}`,
    all.length > 0 ? `Links: ${all.join(", ")}` : "The lab has no links",
  );
}

/**
 * Send a request and parse a JSON answer; a JSON error answer becomes a `LabError`. A lab that
 * does not answer within `timeoutMs` (a hung lab, or one frozen with `kill -STOP` meanwhile) is
 * a `control-error` that says so, never a wait without end.
 *
 * @example
 * ```ts ignore
 * import { controlJson, resolveLab } from "./client.ts";
 * const status = await controlJson(await resolveLab(undefined), "/lab"); // within 15 s, or throws
 * ```
 */
export async function controlJson<T>(
  record: LabRecord,
  path: string,
  init: RequestInit = {},
  options: ControlJsonOptions = {},
): Promise<T> {
  const ms = options.timeoutMs ?? CONTROL_TIMEOUT_MS;
  const deadline = new AbortController();
  const timer = Number.isFinite(ms) ? setTimeout(() => deadline.abort(), ms) : undefined;
  const signal = init.signal ? AbortSignal.any([init.signal, deadline.signal]) : deadline.signal;
  // The caller's own abort (Ctrl-C) stays a cancel; only the deadline is "did not answer".
  const late = () => deadline.signal.aborted && !init.signal?.aborted;
  try {
    const res = await sharedFetch(record, path, { ...init, signal });
    const body = await res.json().catch(() => null);
    if (late()) throw notAnswered(record, init, path, ms);
    return answerOf<T>(res, body);
  } catch (e) {
    throw late() ? notAnswered(record, init, path, ms) : e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The error of a request to a lab that is not running any more, or null while it runs: its
 * folder gone (it stopped, or is stopping: its process may still be ending), or left by a
 * process that is gone (cleaned here).
 */
function goneError(record: LabRecord): LabError | null {
  const found = removeStaleLab(record.name);
  if (found !== null && found.status !== "stale") return null;
  const why = found === null ? "it stopped" : "its process is gone";
  return new LabError(
    "no-lab",
    `Lab "${record.name}" is not running any more (${why})`,
    `Start it again with ${startAgain(record)}`,
  );
}

/** The error of a request whose answer did not come in time, judged by the lab's process. */
function notAnswered(record: LabRecord, init: RequestInit, path: string, ms: number): LabError {
  // Frozen meanwhile (kill -STOP after the request left): said as a request before it says it.
  if (processState(record.pid) === "stopped") return frozenError(record);
  const gone = goneError(record);
  if (gone !== null) return gone;
  const method = (init.method ?? "GET").toUpperCase();
  return new LabError(
    "control-error",
    `Lab "${record.name}" did not answer ${method} ${path} within ${ms / 1000} s`,
    `Its process ${record.pid} runs but does not answer (hung or very busy): try again, ` +
      `or stop it with \`vlab down ${record.name}\``,
  );
}

/** A JSON answer's value; an error answer becomes a `LabError`. */
function answerOf<T>(res: { ok: boolean; status: number }, body: unknown): T {
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string; hint?: string } })?.error;
    const passed = new Set<string | undefined>([
      "unknown-vm",
      "unknown-link",
      "unknown-switch",
      "vhost-pci-link",
      "workload-failed",
      "no-such-cid",
      "bad-impairment",
      "bad-partition",
      "unknown-partition",
    ]);
    // A lab that is stopping is, for its client, a lab that is not running any more.
    const code = e?.code === "lab-stopping"
      ? "no-lab"
      : passed.has(e?.code)
      ? e!.code as LabErrorCode
      : "control-error";
    throw new LabError(
      code,
      e?.message ?? `The lab answered ${res.status}`,
      e?.hint ?? "See the lab's event log",
    );
  }
  return body as T;
}

/** What `POST /exec` (and `DELETE /execs/ID`) answers. */
export interface ExecAnswer<T = unknown> {
  /** The workload's id (its own, under which `DELETE /execs/ID` stops it). */
  id: string;
  /** The workload's result: partial when `cancelled`. */
  result: T;
  /** True when it was stopped before it was done (`result` is partial). */
  cancelled: boolean;
  /**
   * Who stopped it: a `DELETE /execs/ID` (`client`), or the lab stopping (`lab-stopped`, which
   * {@linkcode execCancellable} throws as a `PartialExecError` instead of answering it).
   */
  cancelledBy: "client" | "lab-stopped" | null;
  /**
   * A streamed answer's (`"stream": true`): the lines the lab dropped because its client did not
   * read them in time (it holds `EXEC_LINE_QUEUE_BYTES` of them at most). They are still in the
   * result's `text`, between the lines that came and the summary.
   */
  droppedLines?: number;
}

/** Options of {@linkcode execCancellable}. */
export interface ExecCancellableOptions {
  /** On abort, the lab is asked to stop the workload, and its partial result is answered. */
  signal?: AbortSignal;
  /** On abort, the request is cut at once (a second Ctrl-C): no result. */
  force?: AbortSignal;
  /** The start of the workload's id (default `exec`): `PREFIX-PID-N`. */
  idPrefix?: string;
  /** How long after the cancel the answer may take before the request is cut, ms (default 5000). */
  graceMs?: number;
  /**
   * Each line of the workload's output as it happens (a ping's replies), before the call
   * resolves: the request asks for `"stream": true`. They are the first lines of the result's
   * `text`. What it throws ends the call with that error (the lab then stops the workload). A
   * promise it returns (a write to a pipe nobody reads) is awaited before the next line is read,
   * unless the request is cut (`force`), and its rejection ends the call as a throw does: the
   * stream stops meanwhile, and the lab holds the lines (a bounded queue; the lines beyond are
   * dropped, counted in `droppedLines`), not this process.
   */
  onLine?: (line: string) => unknown;
}

let execCount = 0;

/** How a lab that does not know `"stream"` refuses it (`unknownKeyRefusal` in server_answers.ts). */
const STREAM_REFUSED = /^POST \/exec takes no key "stream"$/;

/**
 * Run a workload through `POST /exec`. When `signal` aborts (Ctrl-C), the lab is asked to stop
 * it (`DELETE /execs/ID`, on another connection) and the call resolves with what it had done
 * (`cancelled: true`): an aborted request alone would stop the workload too, but its partial
 * result would be lost with the connection. When no answer comes within `graceMs` of the
 * cancel, or `force` aborts, the request is cut and a `control-error` ("cancelled") is thrown.
 * A workload the lab's stop cut short (`vlab down` while it ran) is no answer either: a
 * {@linkcode PartialExecError} with code `no-lab` is thrown, whose `partial` is what it had done
 * (a failure after lines had gone, its VM crashed, is one too, with its own code).
 *
 * @example
 * ```ts ignore
 * import { execCancellable } from "./client.ts";
 * const abort = new AbortController();
 * const { result, cancelled } = await execCancellable(record, "a", ["ping", "10.0.0.2"], {
 *   signal: abort.signal,
 * });
 * ```
 */
export async function execCancellable<T = unknown>(
  record: LabRecord,
  vm: string,
  argv: string[],
  options: ExecCancellableOptions = {},
): Promise<ExecAnswer<T>> {
  const id = `${options.idPrefix ?? "exec"}-${Deno.pid}-${++execCount}`;
  const cut = new AbortController();
  let settled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const cancel = async () => {
    timer = setTimeout(() => cut.abort(), options.graceMs ?? 5000);
    // A DELETE may overtake its POST (an interrupt at once): a 404 is tried again until the
    // POST is answered or cut.
    while (!settled && !cut.signal.aborted) {
      let code: string | undefined;
      try {
        const { res, client } = await controlFetch(record, `/execs/${encodeURIComponent(id)}`, {
          method: "DELETE",
          signal: cut.signal,
        });
        const body = await res.json().catch(() => null);
        client.close();
        if (res.ok) return;
        code = (body as { error?: { code?: string } } | null)?.error?.code;
      } catch {
        code = undefined;
      }
      // A lab that cannot be asked (gone, or one without the route): cut the request.
      if (code !== "unknown-exec") return cut.abort();
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const onAbort = () => void cancel();
  const onForce = () => cut.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  options.force?.addEventListener("abort", onForce, { once: true });
  if (options.force?.aborted) cut.abort();
  else if (options.signal?.aborted) onAbort();
  try {
    // A workload takes as long as it runs: no deadline (Ctrl-C cancels it, see above).
    if (options.onLine !== undefined) {
      try {
        return wholeRun(
          record,
          await execStream<T>(record, {
            method: "POST",
            body: JSON.stringify({ vm, argv, id, stream: true }),
            signal: cut.signal,
          }, options.onLine),
        );
      } catch (e) {
        // A lab started by an older vlab (before a `git pull`) refuses the key, and ran nothing:
        // asked again without it, its output comes at the end, as it did then.
        if (!(e instanceof LabError && STREAM_REFUSED.test(e.message))) throw e;
      }
    }
    return wholeRun(
      record,
      await controlJson<ExecAnswer<T>>(record, "/exec", {
        method: "POST",
        body: JSON.stringify({ vm, argv, id }),
        signal: cut.signal,
      }, { timeoutMs: Infinity }),
    );
  } finally {
    settled = true;
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    options.force?.removeEventListener("abort", onForce);
  }
}

/**
 * `answer`, unless the lab's stop cut its workload short (`cancelledBy` `lab-stopped`): that is
 * thrown, a {@linkcode PartialExecError} with code `no-lab` whose `partial` is what it had done,
 * as a script's `lab.vm(x).exec` throws it, so that no caller takes it for a whole run.
 */
function wholeRun<T>(record: LabRecord, answer: ExecAnswer<T>): ExecAnswer<T> {
  if (answer.cancelledBy !== "lab-stopped") return answer;
  const error = workloadCutError(record.name, startAgain(record));
  const result: unknown = answer.result;
  if (typeof result !== "object" || result === null) throw error;
  throw new PartialExecError(error, result as PartialResult, {
    droppedLines: answer.droppedLines ?? 0,
  });
}

/** `pending` settled, or `signal` aborted (the request cut), whichever comes first. */
async function untilCut(pending: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  let onAbort = () => {};
  const cut = new Promise<void>((resolve) => onAbort = () => resolve());
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.race([pending, cut]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/**
 * A `POST /exec` with `"stream": true`: its `{"line"}` objects go to `onLine` as they come, and
 * its last object is the answer (an `{"error"}` one a `LabError`, as `controlJson` throws). A lab
 * that answered before any line answers as without `stream` (plain JSON, its status).
 */
async function execStream<T>(
  record: LabRecord,
  init: RequestInit & { signal: AbortSignal },
  onLine: (line: string) => unknown,
): Promise<ExecAnswer<T>> {
  const res = await sharedFetch(record, "/exec", init);
  if (!(res.headers.get("content-type") ?? "").startsWith("application/x-ndjson")) {
    return answerOf<ExecAnswer<T>>(res, await res.json().catch(() => null));
  }
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let held = "";
  let last: unknown = undefined;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<string>;
      try {
        chunk = await reader.read();
      } catch (e) {
        // Cut (a second Ctrl-C), or the lab went mid-stream: judged as any failed request.
        throw await controlError(record, init, e);
      }
      if (chunk.done) break;
      held += chunk.value;
      for (let nl = held.indexOf("\n"); nl >= 0; nl = held.indexOf("\n")) {
        const text = held.slice(0, nl);
        held = held.slice(nl + 1);
        if (text === "") continue;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          throw new LabError(
            "control-error",
            `Lab "${record.name}" streamed a line that is not JSON to POST /exec`,
            "Its vlab may be another version than this one; run the command with --json",
          );
        }
        const line = (value as { line?: unknown } | null)?.line;
        if (last === undefined && typeof line === "string") {
          // The caller's pace is the reading's: a caller whose output blocks stops the stream, so
          // that the lab holds its lines (bounded), not this process (it held every line of a
          // `vlab exec … | sleep 60` in memory, and the lab's bound never came into play).
          const pending = onLine(line);
          if (pending instanceof Promise) await untilCut(pending, init.signal);
        } else last = value;
      }
    }
  } finally {
    // Read to its end, or left (onLine threw): a stream left open would keep its workload going.
    void reader.cancel().catch(() => {});
  }
  if (last === undefined) {
    throw await goingError(record) ?? new LabError(
      "control-error",
      `Lab "${record.name}" ended its answer to POST /exec before the workload's result`,
      "See its event log (`vlab status`); run the workload again",
    );
  }
  const failed = typeof last !== "object" || last === null || "error" in last;
  try {
    return answerOf<ExecAnswer<T>>({ ok: !failed, status: failed ? 422 : 200 }, last);
  } catch (e) {
    // Failed after lines had gone (its VM crashed): what it had done comes with the error.
    const { result, droppedLines } = last as { result?: unknown; droppedLines?: unknown };
    if (!(e instanceof LabError) || typeof result !== "object" || result === null) throw e;
    throw new PartialExecError(e, result as PartialResult, {
      droppedLines: typeof droppedLines === "number" ? droppedLines : 0,
    });
  }
}
