/**
 * Bring a lab up as a *registered* lab: its state folder, event log, control socket and
 * `lab.json`, around a {@linkcode Lab}. `vlab up` and `mod.ts`'s `startLab` both use it, so a
 * lab started from a script is visible to `vlab ls`, `vlab status` and `vlab down`.
 *
 * Tear-down is one function, {@linkcode RegisteredLab.stop}: shut the server, stop the workers,
 * remove the folder (the event log, in `<state root>/logs/`, stays). It runs on `POST /down`, on
 * Ctrl-C and SIGTERM, and when the script calls it; a crash of the process leaves the folder
 * behind with its lock released, and the next command that lists labs (or starts one of that
 * name) removes it as stale.
 *
 * @module
 */

import { dirname } from "node:path";
import { LabError } from "./errors.ts";
import { machineMemoryOrWhyNot, memoryFitError } from "./memory_fit.ts";
import { envKnobError } from "./env_knobs.ts";
import { EventLog } from "./events.ts";
import { Lab, type LabStartOptions } from "./lab.ts";
import type { LabPlan } from "./plan.ts";
import { serveControl } from "./server.ts";
import { quote } from "../devices/base/quote.ts";
import { eventLogPath, KEEP_LOGS, logsDir, pruneLogs } from "./logs.ts";
import { ioReason, isSpecialFileRefusal } from "../devices/base/io_reason.ts";
import {
  createLabDir,
  findLabs,
  type FoundLab,
  LabDirError,
  type LabDirHold,
  labPaths,
  writeRecord,
} from "./state.ts";

/** Longest Unix socket path, bytes (Linux's `sun_path` is 108 bytes with its final NUL). */
export const SOCKET_PATH_MAX = 107;

/**
 * The first socket the lab would make whose path is too long for a Unix socket (its control
 * socket, each vsock VM's `vsock.sock`), or null: checked before any worker starts.
 */
function socketTooLong(plan: LabPlan, dir: string): string | null {
  const paths = [
    labPaths(plan.name).socket,
    ...plan.vms.filter((v) => v.devices.some((d) => d.kind === "vsock")).map((v) =>
      `${dir}/${v.name}/vsock.sock`
    ),
  ];
  const encoder = new TextEncoder();
  return paths.find((p) => encoder.encode(p).length > SOCKET_PATH_MAX) ?? null;
}

/** `path` or its nearest parent that exists, and whether it is a folder; null if none reads. */
function nearestExisting(path: string): { path: string; isDirectory: boolean } | null {
  for (let at = path, n = 0; n < 256; n++) {
    try {
      return { path: at, isDirectory: Deno.statSync(at).isDirectory };
    } catch {
      const up = dirname(at);
      if (up === at) return null;
      at = up;
    }
  }
  return null;
}

/**
 * The `LabError` (`lab-failed`) for a state or logs folder that this process cannot make or write
 * (a file in its place, no permission): one line naming the folder, and where to point vlab.
 *
 * @example
 * ```ts
 * import { stateFolderError } from "./runner.ts";
 * stateFolderError("/tmp/x", new Error("Permission denied")).message; // "Cannot create the state folder /tmp/x: permission denied"
 * ```
 */
export function stateFolderError(dir: string, cause: unknown, what = "state"): LabError {
  const text = cause instanceof Error ? cause.message : String(cause);
  // Deno's "File exists (os error 17): mkdir '/x'": the reason, and the path it is about.
  const at = /: \w+ '([^']*)'$/.exec(text)?.[1];
  const reason = ioReason(cause);
  // Under /dev, /proc or /sys, which Deno opens only with --allow-all.
  const specialFs = isSpecialFileRefusal(cause);
  // A file where a folder should be: the nearest thing that exists on the way to the folder.
  const fileInWay = cause instanceof Deno.errors.AlreadyExists ||
      cause instanceof Deno.errors.NotADirectory
    ? nearestExisting(at ?? dir)
    : null;
  return new LabError(
    "lab-failed",
    `Cannot create the ${what} folder ${dir}: ${
      fileInWay !== null && !fileInWay.isDirectory
        ? `${fileInWay.path} is a file, not a folder`
        : `${reason}${at !== undefined && at !== dir ? ` (${at})` : ""}`
    }`,
    fileInWay !== null && !fileInWay.isDirectory
      ? "Move that file away, or set VLAB_STATE_DIR to a folder"
      : specialFs
      // No permission of the folder's can change that: "Check that the folder is writable".
      ? "No lab can run there: set VLAB_STATE_DIR to a folder elsewhere"
      : "Check that the folder is writable (set VLAB_STATE_DIR to use another place)",
  );
}

/** A lab with its state folder and control socket. */
export interface RegisteredLab {
  /** The running lab. */
  lab: Lab;
  /** The control socket's path. */
  socket: string;
  /** The event log's path (kept after the lab stops). */
  events: string;
  /** Stop everything and remove the state folder, keeping the event log (idempotent). */
  stop(): Promise<void>;
  /** Resolves once the lab has stopped (by `stop`, `POST /down` or a signal). */
  stopped: Promise<void>;
}

/**
 * Start `plan` as a registered lab.
 *
 * @example
 * ```ts ignore
 * import { launchLab } from "./runner.ts";
 * const running = await launchLab(plan);
 * await running.stop();
 * ```
 */
export async function launchLab(
  plan: LabPlan,
  options: {
    /**
     * The process exits once the lab stops (`vlab up`): the lab's stopped workers are left for
     * its exit to end, not torn down one by one (see `Lab.stop`'s `exiting`).
     */
    exitsWithLab?: boolean;
    /** How the lab's threads wait after work (`startLab`'s options of the same names). */
    waits?: Pick<LabStartOptions, "hostWait" | "guestWait">;
  } = {},
): Promise<RegisteredLab> {
  // A lab is its folder: two labs of one name under two state roots (VLAB_STATE_DIR) are two.
  const own = labPaths(plan.name).dir;
  refuseOwn(plan.name, own);
  ownLabs.set(own, "starting");
  try {
    const running = await launch(plan, options, own);
    // Unless already stopping (a `vlab down` may come as soon as the socket serves).
    if (ownLabs.get(own) === "starting") ownLabs.set(own, "running");
    return running;
  } catch (e) {
    ownLabs.delete(own);
    throw e;
  }
}

/** Whether this process said that its starts skip the memory check (said once). */
let saidMemorySkipped = false;

/**
 * Say once on stderr that lab `name` starts without its memory check, and `why` (the machine's
 * memory could not be read).
 */
function sayMemoryCheckSkipped(name: string, why: string): void {
  if (saidMemorySkipped) return;
  saidMemorySkipped = true;
  const line = `lab ${name}: its plan is not compared with this machine's memory (a lab too big ` +
    `for it is not refused): ${why}\n`;
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(line));
  } catch {
    // No stderr to say it on.
  }
}

/** Where each lab this process started is in its life, by its folder (until it has stopped). */
const ownLabs = new Map<string, "starting" | "running" | "stopping">();

/**
 * Refuse to start a lab (its folder, `own`) this process already starts, runs or is still
 * stopping: the state folder's record said "already running (pid <this process>)" with
 * `vlab down` for a hint, which a script that forgot to await `stop()` before starting its lab
 * again could not act on.
 */
function refuseOwn(name: string, own: string): void {
  const state = ownLabs.get(own);
  if (state === undefined) return;
  const [message, hint] = state === "stopping"
    ? ["this process is still stopping it", "Await its stop() before starting it again"]
    : state === "starting"
    ? [
      "this process is starting it already",
      "Await the first start before starting it again, or give this topology another name",
    ]
    : [
      "this process runs it already",
      "Stop it first (await its stop()), or give this topology another name",
    ];
  throw new LabError("lab-exists", `Cannot start lab ${quote(name)}: ${message}`, hint);
}

/**
 * Why a start of `plan` would be refused before anything starts, or null: a bad `VLAB_HOT_MS` or
 * `VLAB_PLACEMENT`, a plan larger than this machine's memory, a lab of that name running or
 * starting, a name that is the event logs' folder, a control socket path too long. Every start
 * asks it (`launchLab`), and so does `vlab up --dry-run`, so that a plan whose dry run passes is
 * not refused by its start. `found` is the state folder's labs when the caller has them (a start
 * has just removed the records of labs that died, as `vlab ls` does); without it the folder is
 * read and left as it was (a dry run changes nothing).
 *
 * @example
 * ```ts ignore
 * import { startRefusal } from "./runner.ts";
 * (await startRefusal(plan))?.message; // 'Cannot start lab "pair": it is already running (pid 7)'
 * ```
 */
export async function startRefusal(
  plan: LabPlan,
  options: { found?: readonly FoundLab[] } = {},
): Promise<LabError | null> {
  // A bad VLAB_HOT_MS or VLAB_PLACEMENT is refused, not run as the default.
  const knob = envKnobError();
  if (knob !== null) return knob;
  // A plan larger than the machine's memory would start (pages are committed when touched) and
  // be killed later: every start refuses it first, as `vlab up` does.
  // Without the machine's memory (a script run without --allow-sys) the check is skipped: said
  // once per process on stderr, as it went silently and let a lab larger than the machine start.
  const machine = machineMemoryOrWhyNot();
  if ("reason" in machine) sayMemoryCheckSkipped(plan.name, machine.reason);
  const tooBig = "reason" in machine
    ? null
    : memoryFitError(plan.name, plan.sharedBytes, machine, plan.threads.length);
  if (tooBig !== null) return tooBig;
  const found = options.found ?? await findLabs({ clean: false });
  const existing = found.find((l) =>
    (l.status === "running" && l.record.name === plan.name) ||
    (l.status === "starting" && l.name === plan.name)
  );
  if (existing && existing.status !== "stale") {
    return new LabError(
      "lab-exists",
      `Cannot start lab "${plan.name}": it is already ${existing.status} (pid ${
        existing.status === "running" ? existing.record.pid : existing.pid
      })`,
      `Stop it with \`vlab down ${plan.name}\`, or give this topology another name`,
    );
  }
  const paths = labPaths(plan.name);
  if (paths.dir === logsDir()) {
    return new LabError(
      "lab-exists",
      `Cannot start lab "${plan.name}": ${paths.dir} is where vlab keeps event logs`,
      "Give this topology another name",
    );
  }
  const tooLong = socketTooLong(plan, paths.dir);
  if (tooLong !== null) {
    return new LabError(
      "lab-failed",
      `Cannot start lab ${quote(plan.name)}: its socket ${
        quote(tooLong)
      } is longer than a Unix socket path can be (${SOCKET_PATH_MAX} bytes)`,
      "Set VLAB_STATE_DIR to a shorter folder",
    );
  }
  return null;
}

/** {@linkcode launchLab}, once no lab of this process has the plan's folder (`own`). */
async function launch(
  plan: LabPlan,
  options: Parameters<typeof launchLab>[1] & object,
  own: string,
): Promise<RegisteredLab> {
  const found = await findLabs({ clean: true });
  const refusal = await startRefusal(plan, { found });
  if (refusal !== null) throw refusal;
  const paths = labPaths(plan.name);
  let held: LabDirHold;
  try {
    held = createLabDir(plan.name);
  } catch (e) {
    // A folder of a lab still there is that lab's; one the process cannot make is the place's
    // (or the script's, given no --allow-write: `startLab` says which flag).
    if (e instanceof Deno.errors.NotCapable) throw e;
    if (!(e instanceof LabDirError)) throw stateFolderError(paths.dir, e);
    throw new LabError(
      "lab-exists",
      `Cannot create the state folder ${paths.dir}: ${e.message}`,
      "Stop that lab, or move the folder away (set VLAB_STATE_DIR to use another place)",
    );
  }
  // A script that ends with Deno.exit() while its lab runs (no stop()) takes its workers with it:
  // the folder goes too, at the process's unload, instead of waiting for `vlab ls` as stale.
  const hold = {
    release(): void {
      globalThis.removeEventListener("unload", hold.release);
      held.release();
    },
  };
  globalThis.addEventListener("unload", hold.release);
  let eventsPath: string;
  // One start time for the log's file name and the lab's `startedAt` (status, metrics, ls).
  const startedAt = Date.now();
  try {
    eventsPath = eventLogPath(plan.name, new Date(startedAt));
    const inUse = new Set(
      found.flatMap((l) => l.status === "running" && l.record.events ? [l.record.events] : []),
    );
    pruneLogs({ keep: KEEP_LOGS - 1, inUse });
  } catch (e) {
    hold.release();
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw stateFolderError(logsDir(), e, "logs");
  }
  const events = new EventLog(eventsPath);
  let lab: Lab;
  try {
    lab = await Lab.start(plan, { ...options.waits, events, stateDir: paths.dir, startedAt });
  } catch (e) {
    hold.release();
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw startFailed(plan, e, eventsPath);
  }
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => resolveStopped = r);
  let stopping: Promise<void> | null = null;
  // The promise is kept before the stop begins: a call from within its first synchronous steps
  // (a capture's onEnd, a lab-down listener) gets it, instead of beginning another stop.
  const stop = (): Promise<void> => {
    if (stopping !== null) return stopping;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    stopping = promise;
    stopLab().then(resolve, reject);
    return promise;
  };
  const stopLab = async () => {
    ownLabs.set(own, "stopping");
    try {
      // The lab first: each workload in flight answers its client with what it measured so
      // far and each capture ends, so the server's graceful shutdown has nothing left to wait
      // for (it waited on them before).
      await lab.stop({ exiting: options.exitsWithLab });
    } finally {
      if (server !== undefined) await shutdownWithin(server, SHUTDOWN_GRACE_MS);
      hold.release();
      ownLabs.delete(own);
      resolveStopped();
    }
  };
  let server: ReturnType<typeof serveControl> | undefined;
  try {
    server = serveControl(lab, { path: paths.socket, onDown: () => void stop() });
    writeRecord({
      name: plan.name,
      pid: Deno.pid,
      socket: paths.socket,
      source: plan.source,
      startedAt: new Date(lab.startedAt).toISOString(),
      vms: plan.vms.length,
      events: eventsPath,
    });
  } catch (e) {
    // Up, but not reachable: stop it, or its workers would keep the process alive for ever.
    await server?.shutdown().catch(() => {});
    await lab.stop();
    hold.release();
    // A script given no --allow-net: `startLab` names the flag to run with.
    if (e instanceof Deno.errors.NotCapable) throw e;
    throw new LabError(
      "lab-failed",
      `Cannot start lab ${quote(plan.name)}: cannot serve its control socket ${
        quote(paths.socket)
      }: ${e instanceof Error ? e.message : String(e)}`,
      "Check that the state folder is writable (set VLAB_STATE_DIR to use another place)",
    );
  }
  // A script that stops the supervisor itself (`lab.lab.stop()`, the handle's `lab`) stops the
  // lab as a whole: the server and the state folder went on, and the process never ended.
  events.subscribe((e) => {
    // The lab's own, not a `lab-down` some script emitted.
    if (e.kind === "lab-down" && lab.stopped) void stop();
  });
  return { lab, socket: paths.socket, events: eventsPath, stop, stopped };
}

/**
 * How long a stopping lab waits for its control server's answers to go out, ms. Every answer is
 * made by then (the lab's stop ended each workload and capture): what is left is their bytes on
 * the way, milliseconds unless a client does not read.
 */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * Shut `server` down gracefully, waiting at most `ms` for the answers in flight. A client that
 * stops reading (`vlab capture a-b -w - | sleep 60`: its socket full) held the graceful shutdown,
 * and with it the lab's folder, for ever: `vlab down` waited 15 s and then sent SIGKILL, and a
 * script's `stop()` never resolved. Past `ms` the shutdown goes on by itself; the process's exit
 * (`vlab up`) ends it, or the client reading or going.
 *
 * @example
 * ```ts ignore
 * await shutdownWithin(server, SHUTDOWN_GRACE_MS);
 * ```
 */
async function shutdownWithin(
  server: { shutdown(): Promise<void> },
  ms: number,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      server.shutdown().catch(() => {}), // already closed
      new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The error of a lab whose workers could not all start. When the system refused a thread
 * (`EAGAIN`: a limit on processes or threads, such as `ulimit -u` or a cgroup's `pids.max`, reached
 * by a large lab) the hint says how many threads the lab needs and which limits to raise; otherwise
 * it points to the event log.
 *
 * @example
 * ```ts ignore
 * startFailed(plan, new Error("Resource temporarily unavailable (os error 11)"), "/tmp/x.jsonl").hint;
 * // "The system refused a thread: the lab needs one per worker, 129; …"
 * ```
 */
export function startFailed(
  plan: Pick<LabPlan, "name" | "threads">,
  e: unknown,
  eventsPath: string,
): LabError {
  const message = e instanceof Error ? e.message : String(e);
  // A worker that said what failed and what to do (a guest driver that could not start its
  // device: which device of which VM): its words, and where the lab's log is.
  if (e instanceof LabError) {
    return new LabError(
      "lab-failed",
      `Cannot start lab "${plan.name}": ${message}`,
      `${e.hint}; the event log is ${eventsPath}`,
    );
  }
  const threads = /\(os error 11\)|Resource temporarily unavailable|EAGAIN/.test(message);
  return new LabError(
    "lab-failed",
    `Cannot start lab "${plan.name}": ${message}`,
    threads
      ? `The system refused a thread: the lab needs one per worker, ${plan.threads.length}; ` +
        "raise the limit on threads (`ulimit -u`, the cgroup's pids.max) or use fewer VMs"
      : `Run again with VLAB_DEBUG=1 for details; the event log is ${eventsPath}`,
  );
}
