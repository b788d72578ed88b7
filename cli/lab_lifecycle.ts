/**
 * The commands that start, list and stop labs in other processes: `up -d` (a detached child,
 * watched until its lab is up; Ctrl-C cancels it), `down` and `ls`. They judge a lab by its
 * state folder (`lab/state.ts`): alive while its process holds the folder's lock, never by a
 * socket error, never by a signal.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { pauseUnlessAborted } from "../lab/pause.ts";
import { controlJson, resolveLab, staleLabLine } from "../lab/client.ts";
import { upAgain } from "../lab/start_again.ts";
import { resolveTopologyPath } from "../lab/topology/mod.ts";
import { dirname, isAbsolute, join } from "node:path";
import { quote, shellArg } from "../devices/base/quote.ts";
import { readBoundedText, type TextFileKind } from "../lab/topology/files.ts";
import { MAX_TOPOLOGY_BYTES } from "../lab/topology/limits.ts";
import { type TextFileLook, textFileLook } from "../lab/topology/text_kind.ts";
import { LabError } from "../lab/errors.ts";
import { type ProcessState, processState } from "../lab/proc.ts";
import { findLabs, inspectLab, readRecord, removeStaleLab, stateRoot } from "../lab/state.ts";
import { logsDir } from "../lab/logs.ts";
import { stateFolderError } from "../lab/runner.ts";
import { readyTimeoutFor } from "../lab/lab.ts";
import { vlabRunArgs } from "./deno_run.ts";
import { EXIT_CODES, isClosedStdout, OutputError, VlabError } from "./errors.ts";
import { CliExit } from "./usage.ts";
import { writeAll } from "./progress.ts";
import { endChild } from "./child.ts";
import { onInterrupt } from "./interrupt.ts";

const encoder = new TextEncoder();
const out = (text: string) => writeAll(Deno.stdout, encoder.encode(text));
const err = (text: string) => writeAll(Deno.stderr, encoder.encode(text));

/**
 * `vlab up -d`: start `vlab up FILE --seed SEED --quiet` as a detached child and return once its
 * lab is up (its `lab.json` names the child's pid), saying so unless `quiet` (`-d --quiet`).
 * Ctrl-C or SIGTERM meanwhile stops the child; SIGHUP (the terminal closing) does not.
 */
export async function upDetached(
  file: string | undefined,
  name: string,
  seed: number,
  vms = 2,
  quiet = false,
): Promise<void> {
  // Ctrl-C (or SIGTERM) while the lab comes up cancels the start: the child is detached (it
  // does not get the terminal's SIGINT), so it is stopped here, and nothing is left behind.
  const interrupted = new AbortController();
  const offInterrupt = onInterrupt(() => interrupted.abort(), ["SIGINT", "SIGTERM"]);
  // SIGHUP, the terminal closing (a dropped ssh a second after `vlab up -d`), is no request to
  // cancel: the lab was asked for in the background, to outlive the terminal. It goes on starting,
  // and this process waits for it and says how it went (to nohup's file, say). Without a listener
  // SIGHUP would end this process (Deno's default action); as Ctrl-C it stopped the lab.
  const ignore = () => {};
  Deno.addSignalListener("SIGHUP", ignore);
  // Both listen before the start log exists: a SIGHUP between the two ended this process and
  // left the file behind, with no lab started.
  const off = () => {
    offInterrupt();
    Deno.removeSignalListener("SIGHUP", ignore);
  };
  // The child writes its errors here (it has no terminal); removed once the lab is up (by the
  // child too, `dropStartLog`, should this process be killed first). A fresh file of its own: a
  // file of the user's is never overwritten or removed.
  let logPath: string;
  try {
    Deno.mkdirSync(stateRoot(), { recursive: true, mode: 0o700 });
    logPath = Deno.makeTempFileSync({
      dir: stateRoot(),
      prefix: `${name}.`,
      suffix: START_LOG_SUFFIX,
    });
  } catch (e) {
    off();
    throw stateFolderError(stateRoot(), e);
  }
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs([
        "up",
        ...(file ? [file] : []),
        "--seed",
        `${seed}`,
        "--quiet",
      ]),
      stdin: "null",
      stdout: "null",
      stderr: "null",
      env: { VLAB_ERROR_LOG: logPath },
      detached: true,
    }).spawn();
  } catch (e) {
    // No child (out of processes, say): nothing of the start is left behind.
    off();
    Deno.removeSync(logPath);
    throw e;
  }
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  child.unref();
  // The child's own wait for its guests, and a minute for its start and planning.
  const waitMs = readyTimeoutFor(vms) + 60_000;
  const deadline = performance.now() + waitMs;
  const wake = () => pauseUnlessAborted(50, interrupted.signal);
  try {
    while (performance.now() < deadline) {
      if (interrupted.signal.aborted) {
        await stopChild(child, () => exited);
        // Not done (no lab is up): 130, as any command a Ctrl-C stops before its end.
        throw new VlabError(
          "interrupted",
          `Interrupted: the background lab "${name}" was stopped`,
          {
            hint: `Run \`${upAgain({ source: resolveTopologyPath(file) })} -d\` again and let it ` +
              "come up",
          },
        );
      }
      const record = readRecord(name);
      if (record && record.pid === child.pid) {
        // `--quiet` prints nothing on the way: a script that asks for silence gets it.
        if (quiet) return;
        try {
          await out(
            `lab ${name} up in the background (pid ${child.pid}, seed ${seed}); stop it with \`vlab down ${name}\`\n`,
          );
        } catch (e) {
          // The lab is up whatever became of this line: a failure that says only "cannot write
          // to stdout" would leave a script to think it did not start, and the lab to run on.
          if (!(e instanceof OutputError) || isClosedStdout(e)) throw e;
          throw new VlabError("write-failed", e.message, {
            hint: `The lab ${name} is up in the background all the same (pid ${child.pid}): ` +
              `\`vlab down ${name}\` stops it`,
            cause: e.cause,
          });
        }
        return;
      }
      if (exited) {
        let text: string;
        try {
          text = Deno.readTextFileSync(logPath).trim();
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
          // The child removes the file once its lab is up (`dropStartLog`): the lab came up and
          // stopped before this loop looked (a `vlab down` that waited for the start). It was
          // 'Internal error: No such file or directory'.
          throw new VlabError(
            "lab-failed",
            `The background lab "${name}" came up (pid ${child.pid}), then stopped at once`,
            {
              hint: "Something stopped it (`vlab down`, a signal); its event log in " +
                `${shellArg(logsDir())} says how it ended`,
            },
          );
        }
        if (text) {
          // The child's own error (one line and a hint, as `vlab up` prints it) is this command's:
          // said once, with the child's exit code, not followed by a second error about it.
          await err(text + "\n");
          throw new CliExit((await status).code || 1);
        }
        throw new VlabError("lab-failed", `The background lab "${name}" did not start`, {
          hint: `Run \`${upAgain({ source: resolveTopologyPath(file) })}\` without -d to see why`,
        });
      }
      await wake();
    }
    await stopChild(child, () => exited);
    throw new VlabError(
      "lab-failed",
      `The background lab "${name}" did not come up within ${waitMs / 1000} s`,
      {
        hint: `Run \`${upAgain({ source: resolveTopologyPath(file) })}\` without -d to see why`,
      },
    );
  } finally {
    off();
    try {
      Deno.removeSync(logPath);
    } catch {
      // Already gone.
    }
  }
}

/** How the file a detached start reports its errors in ends (`pair.1a2b3c.start.log`). */
const START_LOG_SUFFIX = ".start.log";

/**
 * In the detached child of `vlab up -d` (its lab `name` now up): remove the file its parent gave
 * it for errors (`VLAB_ERROR_LOG`) and write later errors as any command does. The parent removes
 * it too once it sees the lab up, but a parent killed meanwhile (SIGKILL, a closed terminal's
 * SIGHUP) left it in the state root for good. Only the parent's own kind of file is removed: a
 * `NAME.*.start.log` directly in the state root, never a path of the user's.
 *
 * @example
 * ```ts ignore
 * import { dropStartLog } from "./lab_lifecycle.ts";
 * dropStartLog("pair"); // in `vlab up --quiet`, once the lab is up
 * ```
 */
export function dropStartLog(name: string): void {
  const log = Deno.env.get("VLAB_ERROR_LOG");
  if (log === undefined) return;
  const base = log.slice(log.lastIndexOf("/") + 1);
  const ours = log.slice(0, log.lastIndexOf("/")) === stateRoot() &&
    base.startsWith(`${name}.`) && base.endsWith(START_LOG_SUFFIX);
  if (!ours) return;
  Deno.env.delete("VLAB_ERROR_LOG");
  try {
    Deno.removeSync(log);
  } catch {
    // The parent removed it first.
  }
}

/**
 * Stop a detached `vlab up` child that has not come up: SIGTERM (it stops its lab and removes
 * its folder), then SIGKILL after 20 s (its folder, lock released, is then cleaned as stale).
 * The child is ours and not yet reaped, so its pid cannot have been reused.
 */
async function stopChild(
  child: Deno.ChildProcess,
  exited: () => boolean,
): Promise<void> {
  if (!exited()) await endChild(child, 20_000);
}

/** `vlab down`. */
export function downCommand() {
  return new Command("down")
    .description("stop a running lab (the only one, or NAME); its event log is kept")
    .argument("[name]", "lab name, or the path of its topology file or of a drill file")
    .option("--all", "stop every running lab")
    .action(async (arg, opts) => {
      if (opts.all && arg !== undefined) {
        // Which did the user mean: every lab, or that one? Stopping all of them is not undone.
        throw new VlabError("usage", `vlab down takes a lab name or --all, not both`, {
          hint: `Run \`vlab down ${arg}\` to stop that lab, or \`vlab down --all\` for every one`,
        });
      }
      const named = arg === undefined ? undefined : await labNamedBy(arg);
      const name = named?.name;
      // A lab still starting cannot take the request yet, but it is what was asked to stop: wait
      // until it is up (its own ready timeout bounds that), then stop it as any other. It was
      // left running: `down --all` said "no lab is running", `down NAME` to run it again later.
      const waited = await startingLabs(name, opts.all === true);
      for (const starting of waited) await waitWhileStarting(starting, "stop it");
      // The one lab asked for (by name, or the only one) whose start then ended without it up:
      // it is down, as asked, as `down --all` says of its labs. It said 'No lab named "x" is
      // running' (exit 1), with the hint to start it.
      const [only] = waited;
      if (
        !opts.all && only !== undefined &&
        inspectLab(only, { clean: false, process: false })?.status !== "running"
      ) {
        removeStaleLab(only);
        await out(`lab ${only} did not start: nothing to stop\n`);
        return;
      }
      const live = opts.all
        ? (await findLabs({ clean: true })).flatMap((l) => l.status === "running" ? [l] : [])
        : [{
          record: await resolveLab(name, "the lab name (`vlab down NAME`)", undefined, "stop")
            .catch((e) => {
              // Named through a file: the message says which name the file gave.
              if (!(e instanceof LabError) || e.code !== "no-lab" || !named?.from) throw e;
              throw new LabError(
                "no-lab",
                `No lab named ${quote(named.name)} (${named.from}) is running`,
                e.hint,
              );
            }),
          process: "running",
        }];
      if (live.length === 0) {
        // Nothing to stop is no failure (the labs are down, as asked), but it is said.
        await out("no lab is running\n");
        return;
      }
      // A lab frozen with kill -STOP cannot answer (a request would hang): say so, stop the rest.
      const frozen = live.filter((l) => l.process === "stopped").map((l) => l.record);
      const records = live.filter((l) => l.process !== "stopped").map((l) => l.record);
      for (const record of records) {
        let signalled = false;
        try {
          await controlJson(record, "/down", { method: "POST" });
        } catch (e) {
          if (!(e instanceof LabError)) throw e;
          if (e.code === "control-error") {
            // The lab lives (its lock says so) but its socket does not take the request: busy
            // with every connection slot taken, or the socket file gone. SIGTERM stops it the
            // same way `/down` does; the lock proves `record.pid` is still that lab's process.
            signalled = signal(record.pid, "SIGTERM");
          } else if (e.code !== "no-lab") throw e;
        }
        const held = () => {
          const found = inspectLab(record.name, { clean: false, process: false });
          return found?.status === "running" && found.record.pid === record.pid;
        };
        const waitMs = downWaitMs();
        let killed = false;
        if (!await waitUntil(() => !held(), waitMs)) {
          // The process does not let go. The lock it holds proves that `record.pid` is still
          // that lab's process (not a reused pid): end it, then clean up after it.
          killed = signal(record.pid, "SIGKILL");
          await waitUntil(() => !held(), 5_000);
        }
        removeStaleLab(record.name);
        // Killed, it logged no `lab-down` and its workloads' clients got no answer: said, as the
        // SIGTERM is (it printed only "lab NAME down").
        await out(
          `lab ${record.name} down${
            killed
              ? ` (it did not stop within ${waitMs / 1000} s: SIGKILL)`
              : signalled
              ? " (its control socket did not answer: SIGTERM)"
              : ""
          }\n` +
            (record.events ? `event log ${shellArg(record.events)}\n` : ""),
        );
      }
      if (frozen.length > 0) {
        const pids = frozen.map((r) => r.pid).join(" ");
        throw new LabError(
          "control-error",
          `Cannot stop ${frozen.map((r) => `"${r.name}"`).join(", ")}: stopped with SIGSTOP, ${
            frozen.length === 1 ? "it cannot" : "they cannot"
          } answer`,
          `Resume with \`kill -CONT ${pids}\`, then run \`vlab down\` again`,
        );
      }
    });
}

/** How `vlab down` reads a topology file it is given: for its `name:`, with its own hints. */
const DOWN_TOPOLOGY: TextFileKind = {
  noun: "topology file",
  maxBytes: MAX_TOPOLOGY_BYTES,
  missingHint: "Give the lab's name or the path of its topology file; " +
    "`vlab ls` lists the labs that run",
  kindHint: "give the lab's name or the path of its topology file (a YAML file)",
  limitHint: "a topology file is at most 1 MiB: give the lab's name",
};

/**
 * The lab a `vlab down` argument names, and where that name came from (for the message when no
 * such lab runs): a lab's name as given; a path (with a "/" or a ".", which no lab name has) is a
 * topology file, and the lab is the one its `name:` names, as `vlab up FILE` named it. Only
 * `name:` is read: a file edited since its lab started still stops it. A drill file (its kind told
 * by its keys, as every reader tells it) names the drill, not its lab: the lab is its
 * topology's (a shipped name, a file relative to the drill's folder, or the inline map's `name:`),
 * as `vlab drill run` starts it.
 */
async function labNamedBy(arg: string): Promise<{ name: string; from: string | null }> {
  if (!arg.includes("/") && !arg.includes(".")) return { name: arg, from: null };
  // Its kind and keys as written (textFileLook): a file edited since its lab started, even with a
  // duplicate key or an unknown tag now, still names its lab, and a drill is still a drill.
  const look = await lookAt(arg);
  if (look.kind === "drill") {
    const t = look.topology;
    const from = `the topology of drill ${quote(arg)}`;
    if (typeof t === "object" && t.name !== undefined) return { name: t.name, from };
    if (typeof t === "string") {
      const bare = !t.includes("/") && !t.includes(".y");
      const path = bare ? resolveTopologyPath(t) : isAbsolute(t) ? t : join(dirname(arg), t);
      if (!bare || path !== t) {
        const named = await lookAt(path);
        if (named.name !== undefined) return { name: named.name, from };
      }
    }
    throw new VlabError(
      "topology-invalid",
      `Cannot tell which lab the drill ${quote(arg)} runs: its \`topology:\` names none`,
      {
        hint: "Give the lab's name instead (`vlab ls` lists the labs that run)",
      },
    );
  }
  if (look.name !== undefined) return { name: look.name, from: `the name in ${quote(arg)}` };
  throw new VlabError(
    "topology-invalid",
    `Cannot tell which lab ${quote(arg)} is: it has no \`name:\``,
    {
      hint: "A topology file names its lab with `name:`; give the lab's name instead " +
        "(`vlab ls` lists the labs that run)",
    },
  );
}

/** What the file at `path` is and names, from its keys as written; one line and a hint when unread. */
async function lookAt(path: string): Promise<TextFileLook> {
  const text = await readBoundedText(path, DOWN_TOPOLOGY);
  if (!text.ok) {
    const hint = text.error.hint ?? DOWN_TOPOLOGY.kindHint;
    throw new VlabError("topology-invalid", text.error.message, {
      hint: hint.charAt(0).toUpperCase() + hint.slice(1),
    });
  }
  return textFileLook(text.value);
}

/**
 * The labs still starting that `vlab down` is asked to stop: with `--all` every one; with a name,
 * that lab if it is starting; without one, the only lab when it is starting and none runs (with
 * one running, `down` stops that one, as every command picks it).
 */
async function startingLabs(name: string | undefined, all: boolean): Promise<string[]> {
  const found = await findLabs({ clean: false });
  const starting = found.flatMap((l) => l.status === "starting" ? [l.name] : []);
  if (all) return starting;
  if (name !== undefined) return starting.filter((n) => n === name);
  const running = found.some((l) => l.status === "running");
  return !running && starting.length === 1 ? starting : [];
}

/** How long a command waits for a starting lab to be up: a large lab's ready wait, and more. */
const START_WAIT_MS = readyTimeoutFor(1024) + 60_000;

/** How long `vlab down` waits for a lab to let go of its folder before it kills it, ms. */
const DOWN_WAIT_MS = 15_000;

/**
 * How long `vlab down` waits for a lab to stop before SIGKILL, ms: `VLAB_DOWN_WAIT_MS` when it is
 * a number (tests set a short one), else {@linkcode DOWN_WAIT_MS}.
 */
function downWaitMs(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("VLAB_DOWN_WAIT_MS");
  } catch {
    return DOWN_WAIT_MS;
  }
  const n = text !== undefined && /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  return Number.isFinite(n) ? n : DOWN_WAIT_MS;
}

/** After this long waiting for a start, ms, a command says once that it still waits, and how to give up. */
const START_NOTICE_MS = 15_000;

/**
 * How long a command waits for a starting lab before it says it still waits, ms:
 * `VLAB_START_NOTICE_MS` when it is a number (tests set a short one), else {@linkcode START_NOTICE_MS}.
 */
function startNoticeMs(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("VLAB_START_NOTICE_MS");
  } catch {
    return START_NOTICE_MS;
  }
  const n = text !== undefined && /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  return Number.isFinite(n) ? n : START_NOTICE_MS;
}

/**
 * The line said once when lab `name` (its process `pid`, 0 unknown) is still starting after
 * `waitedMs`: how long, what the wait is bounded by, how to give up and what to look at.
 */
function stillStartingLine(name: string, pid: number, waitedMs: number): string {
  const state = pid ? processState(pid) : "unknown";
  const process = pid === 0
    ? ""
    : state === "stopped"
    ? ` (its process ${pid} is stopped: \`kill -CONT ${pid}\` resumes it)`
    : ` (its process ${pid})`;
  return `lab ${name} has not finished starting after ${
    Math.round(waitedMs / 1000)
  } s${process}; ` +
    `waiting up to ${START_WAIT_MS / 1000} s: Ctrl-C gives up; \`vlab ls\` shows it, and its ` +
    `start log (${stateRoot()}/${name}.*${START_LOG_SUFFIX}) any error\n`;
}

/**
 * Wait while lab `name` is starting (said once on stderr, "waiting until it is up to `purpose`"):
 * until it runs, or its start ends otherwise (failed, stopped). A start that lasts beyond
 * {@linkcode START_WAIT_MS} is an error. Returns the last error text its detached start wrote
 * meanwhile (`NAME.*.start.log`, as `vlab up -d` reads it), or null.
 */
async function waitWhileStarting(name: string, purpose: string): Promise<string | null> {
  const began = performance.now();
  const deadline = began + START_WAIT_MS;
  const noticeAt = began + startNoticeMs();
  let noticed = false;
  // A log older than this is an earlier start's (its parent killed before it removed the file).
  const since = Date.now() - 1000;
  let said = false;
  let log: string | null = null;
  for (;;) {
    // Read before the lock is looked at: a child writes its error, then exits (dropping the
    // lock), and its parent removes the file soon after.
    log = startLogText(name, since) ?? log;
    const found = inspectLab(name, { clean: false, process: false });
    if (found?.status !== "starting") return startLogText(name, since) ?? log;
    if (!said) {
      await err(`lab ${name} is starting: waiting until it is up to ${purpose}\n`);
      said = true;
    }
    if (!noticed && performance.now() >= noticeAt) {
      await err(stillStartingLine(name, found.pid, performance.now() - began));
      noticed = true;
    }
    if (performance.now() >= deadline) {
      throw new LabError(
        "control-error",
        `Lab "${name}" is still starting after ${START_WAIT_MS / 1000} s: cannot ${purpose}`,
        `\`vlab ls\` shows its process (pid ${found.pid || "unknown"}); end it with \`kill\``,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The error text a detached start of lab `name` wrote so far (its `NAME.*.start.log`, written
 * at `since` (ms since the epoch) or later), or null.
 */
function startLogText(name: string, since: number): string | null {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(stateRoot())];
  } catch {
    return null; // no state root
  }
  for (const e of entries) {
    if (!e.isFile || !e.name.startsWith(`${name}.`) || !e.name.endsWith(START_LOG_SUFFIX)) {
      continue;
    }
    // `NAME.<random>.start.log`: not the log of a lab whose name merely starts with NAME.
    const middle = e.name.slice(name.length + 1, -START_LOG_SUFFIX.length);
    if (middle.includes(".")) continue;
    try {
      const path = `${stateRoot()}/${e.name}`;
      if ((Deno.statSync(path).mtime?.getTime() ?? 0) < since) continue;
      const text = Deno.readTextFileSync(path).trim();
      if (text) return text;
    } catch {
      // The file went meanwhile (its start ended and its parent removed it).
    }
  }
  return null;
}

/**
 * `vlab dashboard` (or any command that attaches to one lab) aimed at a lab still starting (`name`,
 * or with none the only lab, when none runs): wait until it is up, saying so on stderr, so that
 * `vlab up -d big.yaml & vlab dashboard` attaches once it is. A start that fails meanwhile ends
 * the command with that failure: the start's own error lines when its detached start wrote them
 * (then a {@linkcode CliExit}), else a `lab-failed` error. Returns at once when no such lab starts;
 * several starting (none running, no `name`) is an `ambiguous-lab` error whose hint says to add
 * `howToName`.
 *
 * @example
 * ```ts ignore
 * import { waitForStartingLab } from "./lab_lifecycle.ts";
 * await waitForStartingLab(undefined, "show its dashboard");
 * ```
 */
export async function waitForStartingLab(
  name: string | undefined,
  purpose: string,
  howToName = "the lab name",
): Promise<void> {
  if (name === undefined) {
    // Several starting and none running: which one is not for this command to pick (it named
    // the first as "still starting: run the command again", which would find it so again).
    const found = await findLabs({ clean: false });
    const all = found.flatMap((l) => l.status === "starting" ? [l.name] : []);
    if (all.length > 1 && !found.some((l) => l.status === "running")) {
      throw new LabError(
        "ambiguous-lab",
        `${all.length} labs are starting: say which one`,
        `Add ${howToName}, one of ${all.join(", ")}`,
      );
    }
  }
  const [starting] = await startingLabs(name, false);
  if (starting === undefined) return;
  const log = await waitWhileStarting(starting, purpose);
  if (inspectLab(starting, { clean: false, process: false })?.status === "running") return;
  if (log !== null) {
    // The start's own error (one line and a hint), said as `vlab up -d` says it.
    await err(log + "\n");
    throw new CliExit(EXIT_CODES.failure);
  }
  throw new VlabError("lab-failed", `Lab "${starting}" did not start: its start ended first`, {
    hint: `Run \`vlab up\` with its topology, without -d, to see why`,
  });
}

/** Send `sig` to `pid`; whether it was sent (false: the process is already gone). */
function signal(pid: number, sig: Deno.Signal): boolean {
  try {
    Deno.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Poll `done` every 50 ms until it is true or `ms` pass; whether it became true. */
async function waitUntil(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!done()) {
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** `vlab ls`. */
export function lsCommand() {
  return new Command("ls")
    .description("list running labs (and clean up after labs whose process died)")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const found = await findLabs({ clean: true });
      // What became of a lab whose process died is said with --json too (on stderr, beside the
      // JSON): the folder is removed either way, and silently it would just vanish.
      for (const s of found) if (s.status === "stale") await err(staleLabLine(s) + "\n");
      const live = found.flatMap((l) =>
        l.status === "running" ? [{ ...l.record, state: stateWord(l.process) }] : []
      );
      const starting = found.flatMap((l) => l.status === "starting" ? [l] : []);
      if (opts.json) {
        // A lab still starting has no record yet: its name, its process and its state.
        const records = [
          ...live,
          ...starting.map((l) => ({ name: l.name, pid: l.pid || null, state: "starting" })),
        ];
        return await out(JSON.stringify(records, null, 2) + "\n");
      }
      if (live.length === 0 && starting.length === 0) return await out("no lab is running\n");
      const rows = [["NAME", "STATE", "VMS", "PID", "STARTED", "SOCKET"]].concat(
        live.map((
          r,
        ) => [r.name, r.state, String(r.vms), String(r.pid), r.startedAt, shellArg(r.socket)]),
        starting.map((l) => [l.name, "starting", "-", String(l.pid || "-"), "-", "-"]),
      );
      const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
      await out(
        rows.map((r) => r.map((x, c) => x.padEnd(widths[c])).join("  ").trimEnd()).join("\n") +
          "\n",
      );
    });
}

/** How `ls` names a lab process's state: "running", "stopped" (kill -STOP), … */
function stateWord(state: ProcessState): string {
  return state === "unknown" ? "running" : state;
}
