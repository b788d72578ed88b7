/**
 * Where running labs live on disk: one folder per lab under the state root, holding
 * `vlab.lock` (the marker, written first), `lab.json` (who runs it: name, pid, socket, topology,
 * event log), `control.sock` (the control socket, mode 0600) and a folder per VM with vsock
 * (`<vm>/vsock.sock`). A socket is bound in a temporary folder beside its path (`.vsXXXXX`) and
 * renamed there (`host/unix_socket.ts`): one that a kill left in between is vlab's too. The event
 * log is not in the folder: it lives in `<root>/logs/` (see `logs.ts`) and outlives the lab.
 *
 * Two rules hold here, and the module is built around them:
 *
 * - **A lab whose process is alive is never cleaned.** The lab process holds an exclusive
 *   `flock` on its `vlab.lock` for as long as it runs; the kernel drops the lock when the
 *   process ends (even one killed by SIGKILL, even before it is reaped). So "the lock is held"
 *   proves that the very process that created the folder is alive, with no pid that could have
 *   been reused and no socket that could be merely busy. A socket error never makes a lab stale.
 * - **vlab removes only what it created and can prove is its own.** A folder without a
 *   `vlab.lock` whose first line is the marker is not a lab and is never touched. A stale lab's
 *   folder loses only the files vlab writes there; anything else keeps the folder, and the
 *   command says so. Host software's vsock listeners (`<vm>/vsock.sock_PORT`) keep it too, yet
 *   a lab of that name starts in it again: they are where its guests' connects to the host land.
 *
 * Probing changes nothing: the lock is tried shared and released, and the process state
 * ("stopped" for a lab frozen with `kill -STOP`) is read from `/proc/PID/stat`, never by sending
 * a signal.
 *
 * The root is `$VLAB_STATE_DIR` if set (and not blank), else `$XDG_RUNTIME_DIR/vlab`, else
 * `/tmp/vlab-<uid>`; it is created with mode 0700.
 *
 * @module
 */

import { resolve } from "node:path";
import { type ProcessState, processState } from "./proc.ts";
import { LabError } from "./errors.ts";
import { envFolder } from "./env_knobs.ts";
import { quote } from "../devices/base/quote.ts";
import { ioReason, isSpecialFileRefusal } from "../devices/base/io_reason.ts";
import { removeLeftover } from "./host/unix_socket.ts";

/** What `lab.json` holds. */
export interface LabRecord {
  /** Lab name. */
  name: string;
  /** The process that runs the lab. */
  pid: number;
  /** Control socket path. */
  socket: string;
  /** Topology source. */
  source: string;
  /** Start time, ISO 8601. */
  startedAt: string;
  /** VM count. */
  vms: number;
  /** The event log (JSON lines), kept after the lab stops. */
  events?: string;
}

/** The marker file's name, in every lab folder vlab creates. */
export const MARKER = "vlab.lock";

/** The first line of a marker file: what makes a folder provably vlab's. */
const MARKER_MAGIC = "vlab lab folder";

/** The files vlab writes in a lab folder (besides the marker): the only ones it removes. */
const OWN_FILES = ["lab.json", "lab.json.tmp", "control.sock"] as const;

/** The name of a VM's host vsock socket in its folder, `<lab folder>/<vm>/vsock.sock`. */
export const VSOCK_SOCKET = "vsock.sock";

/**
 * The state root: `VLAB_STATE_DIR` (a relative one taken from the current folder, so that a lab's
 * socket and record paths stay right after a script changes folder), else
 * `$XDG_RUNTIME_DIR/vlab` (an absolute one: the XDG spec has a relative one ignored), else
 * `/tmp/vlab-UID`. A blank variable counts as unset (`envFolder`).
 */
export function stateRoot(): string {
  // Normalised (`/tmp/x/` and `/tmp//x` are `/tmp/x`): `/tmp/x//pair/control.sock` is no path
  // anyone wrote. Blank is unset (`VLAB_STATE_DIR=" "` made a folder " " in the current folder).
  const explicit = envFolder("VLAB_STATE_DIR", "cwd");
  if (explicit !== undefined) return explicit;
  const runtime = envFolder("XDG_RUNTIME_DIR", "ignore");
  if (runtime !== undefined) return resolve(runtime, "vlab");
  return `/tmp/vlab-${ownUid() ?? "user"}`;
}

/** This process's uid once found (undefined: not asked yet). */
let foundUid: number | null | undefined;

/**
 * This process's uid: `Deno.uid()` where `--allow-sys` grants it, else the owner of a file it
 * makes in /tmp (the same uid: a script run with the read, write, env and net that
 * docs/experiments.md asks of it finds the folder `vlab` finds, and `vlab status` sees its lab).
 * `Deno.uid()` needed `--allow-sys` (a script without it could not start a lab, or was asked for
 * it at a prompt). Null where files have no owner (Windows), as `Deno.uid()` is there. Without
 * either (no sys permission, no write to /tmp), a {@linkcode LabError} that says so, not Deno's
 * bare "Requires write access".
 */
function ownUid(): number | null {
  if (foundUid !== undefined) return foundUid;
  if (Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted") {
    return foundUid = Deno.uid();
  }
  // /tmp: where the root is made, so the write this takes is one the lab needs anyway.
  let probe: string;
  try {
    probe = Deno.makeTempFileSync({ dir: "/tmp", prefix: "vlab-uid-" });
  } catch (e) {
    // No write to /tmp (not granted, or a read-only /tmp): no uid, so no folder to name.
    throw new LabError(
      "lab-failed",
      `Cannot find the state folder /tmp/vlab-UID: this process's uid is asked with --allow-sys, or read from a file made in /tmp, and that failed: ${
        ioReason(e)
      }`,
      "Run with --allow-sys (or write access to /tmp), or set VLAB_STATE_DIR to a folder",
    );
  }
  try {
    return foundUid = Deno.statSync(probe).uid;
  } finally {
    Deno.removeSync(probe);
  }
}

/** The folder of lab `name`. */
export function labDir(name: string): string {
  return `${stateRoot()}/${name}`;
}

/** Paths inside a lab's folder. */
export function labPaths(
  name: string,
): { dir: string; record: string; socket: string; marker: string } {
  const dir = labDir(name);
  return {
    dir,
    record: `${dir}/lab.json`,
    socket: `${dir}/control.sock`,
    marker: `${dir}/${MARKER}`,
  };
}

/** A lab folder this process created and holds (its lock), until `release`. */
export interface LabDirHold {
  /** Lab name. */
  readonly name: string;
  /** The folder. */
  readonly dir: string;
  /** Remove the files vlab wrote and the folder, then drop the lock (idempotent). */
  release(): void;
}

/** Why a lab folder could not be created. */
export class LabDirError extends Error {
  /** Make one. */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LabDirError";
  }
}

/**
 * Create lab `name`'s folder (mode 0700), write its marker and take the lock that marks the
 * lab alive. A folder of that name left by a lab whose process is gone (say, killed during
 * start-up) is cleaned first; one whose process lives, or that is not vlab's, is refused with
 * a {@linkcode LabDirError}.
 *
 * @example
 * ```ts ignore
 * import { createLabDir } from "./state.ts";
 * const hold = createLabDir("pair");
 * hold.release();
 * ```
 */
export function createLabDir(name: string): LabDirHold {
  Deno.mkdirSync(stateRoot(), { recursive: true, mode: 0o700 });
  const p = labPaths(name);
  // Bounded: a concurrent cleaner can take the folder away between two steps at most a few times.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      Deno.mkdirSync(p.dir, { mode: 0o700 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const found = inspectLab(name, { clean: true });
      if (found === null) {
        if (isEmptyDir(p.dir)) {
          // An empty folder (a start-up killed between mkdir and the marker): nothing to lose.
          tryRemove(p.dir);
          continue;
        }
        // What a lab leaves when host software still listens for its guests (`vsock.sock_PORT`
        // in a VM's folder, or left by a listener killed): taken again as it is, nothing removed.
        if (!holdsHostListenersOnly(p.dir, { besideMarker: false })) {
          throw new LabDirError(
            `${p.dir} exists and is not a vlab lab folder (no ${MARKER} written by vlab)`,
          );
        }
      } else if (
        found.status === "stale" &&
        (!found.kept || holdsHostListenersOnly(p.dir, { besideMarker: true }))
      ) {
        continue; // cleaned (host software's listeners stay, and are taken again just above)
      } else {
        throw new LabDirError(
          found.status === "stale"
            ? `${p.dir} is left by a lab that is gone, and holds files vlab did not write: ${
              found.kept!.join(", ")
            }`
            : `lab "${name}" is ${found.status === "starting" ? "starting" : "running"} (pid ${
              found.status === "starting" ? found.pid : found.record.pid
            })`,
        );
      }
    }
    let marker: Deno.FsFile;
    try {
      marker = Deno.openSync(p.marker, { createNew: true, write: true, read: true, mode: 0o600 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    // Blocks only while a prober holds its brief shared lock.
    marker.lockSync(true);
    // A cleaner that judged the folder before we locked it may have removed it meanwhile.
    if (!sameFile(marker, p.marker)) {
      marker.close();
      continue;
    }
    marker.writeSync(new TextEncoder().encode(`${MARKER_MAGIC}\n${Deno.pid}\n`));
    let released = false;
    return {
      name,
      dir: p.dir,
      release() {
        if (released) return;
        released = true;
        removeOwnFiles(p.dir);
        tryRemove(p.marker);
        tryRemove(p.dir);
        marker.close();
      },
    };
  }
  throw new LabDirError(`${p.dir} keeps changing while vlab creates it`);
}

/** Write `lab.json` (atomically: write then rename). */
export function writeRecord(record: LabRecord): void {
  const p = labPaths(record.name);
  Deno.writeTextFileSync(`${p.record}.tmp`, JSON.stringify(record, null, 2) + "\n");
  Deno.renameSync(`${p.record}.tmp`, p.record);
}

/** Read one lab's record; null if the folder has none (or it is unreadable). */
export function readRecord(name: string): LabRecord | null {
  try {
    return JSON.parse(Deno.readTextFileSync(labPaths(name).record)) as LabRecord;
  } catch {
    return null;
  }
}

/** A lab found in the state root. */
export type FoundLab =
  | {
    status: "running";
    record: LabRecord;
    /** What `/proc` says of its process: "stopped" for a lab frozen with `kill -STOP`. */
    process: ProcessState;
  }
  | { status: "starting"; name: string; pid: number }
  | {
    status: "stale";
    name: string;
    reason: string;
    /** Files vlab did not write, which keep the folder (absent when it was removed or kept). */
    kept?: string[];
  };

/**
 * Look at one folder of the state root: null if it is not a lab folder (no marker), else
 * what it holds. With `clean`, a stale lab's own files are removed (while the lock is held, so
 * that no new lab can start in it meanwhile). Changes nothing else: no signal is sent. With
 * `process: false`, a live lab's process state is not read (it is "unknown").
 *
 * @example
 * ```ts ignore
 * import { inspectLab } from "./state.ts";
 * const found = inspectLab("pair", { clean: false });
 * ```
 */
export function inspectLab(
  name: string,
  options: { clean: boolean; process?: boolean },
): FoundLab | null {
  const p = labPaths(name);
  let marker: Deno.FsFile;
  try {
    // Only a regular file can be vlab's marker (opening a FIFO someone put there would hang).
    if (!Deno.lstatSync(p.dir).isDirectory || !Deno.lstatSync(p.marker).isFile) return null;
    marker = Deno.openSync(p.marker, { read: true });
  } catch {
    return null;
  }
  try {
    const text = readMarker(marker);
    // A marker is written just after it is locked: a held lock with no text yet is a lab starting.
    if (!marker.tryLockSync(false)) {
      const record = readRecord(name);
      if (record === null) {
        return { status: "starting", name, pid: Number(text?.split("\n")[1]) || 0 };
      }
      return {
        status: "running",
        record,
        process: options.process === false ? "unknown" : processState(record.pid),
      };
    }
    // An empty marker alone in its folder: a start-up killed between creating the marker and
    // writing it (nothing else is written before). vlab's own, with nothing in it to lose.
    const unwritten = text === "" && onlyEntry(p.dir, MARKER);
    if (!unwritten && (text === null || !text.startsWith(`${MARKER_MAGIC}\n`))) return null;
    const record = unwritten ? null : readRecord(name);
    const reason = record === null
      ? "its start-up was interrupted (it has no lab.json)"
      : `its process ${record.pid} is gone`;
    if (!options.clean) return { status: "stale", name, reason };
    const kept = removeOwnFiles(p.dir);
    // Host software's listeners alone leave the folder as a lab's stop does (no marker): the next
    // start takes it again, and it is said once, not at every command.
    if (kept.length > 0 && !holdsHostListenersOnly(p.dir, { besideMarker: true })) {
      return { status: "stale", name, reason, kept };
    }
    tryRemove(p.marker);
    tryRemove(p.dir);
    return { status: "stale", name, reason, ...(kept.length > 0 ? { kept } : {}) };
  } finally {
    marker.close(); // drops our shared lock, if we took it
  }
}

/**
 * Every lab folder in the state root, in name order, checked by {@linkcode inspectLab}.
 * Folders that are not vlab's (no marker) are skipped and never touched. `clean` removes the
 * files of stale labs. No state root (or a file in its place) is no lab; one that cannot be read
 * (another user's, or one under /dev, /proc or /sys) is a `LabError` (`lab-failed`), not an empty
 * list.
 *
 * @example
 * ```ts ignore
 * import { findLabs } from "./state.ts";
 * for (const lab of await findLabs({ clean: true })) console.log(lab);
 * ```
 */
export function findLabs(options: { clean: boolean }): Promise<FoundLab[]> {
  let entries: Deno.DirEntry[];
  const root = stateRoot();
  try {
    entries = [...Deno.readDirSync(root)];
  } catch (e) {
    // No state folder yet, or a file where it would be (`vlab up` says so): no lab can run there.
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return Promise.resolve([]);
    }
    // A root under /dev, /proc or /sys (`VLAB_STATE_DIR=/dev/shm/vlab`), which Deno opens only
    // with --allow-all: no lab can start there (`vlab up` says so), and `vlab ls`, `status`,
    // `exec`, `down` … ended in "Internal error: Requires all access" with "This is a bug".
    if (isSpecialFileRefusal(e)) {
      throw new LabError(
        "lab-failed",
        `Cannot read the state folder ${quote(root)}: ${ioReason(e)}`,
        "No lab can run there: set VLAB_STATE_DIR to a folder elsewhere",
      );
    }
    // A script given no --allow-read: its caller names the flag (`startLab`).
    if (e instanceof Deno.errors.NotCapable) throw e;
    // A folder this user may not read (another user's): its labs are unseen, not absent. It
    // said "No lab is running", and `vlab down` stopped nothing, while they ran.
    throw new LabError(
      "lab-failed",
      `Cannot read the state folder ${quote(root)}: ${ioReason(e)}`,
      "Its labs cannot be seen from here: run vlab as the user who started them, or set " +
        "VLAB_STATE_DIR to a folder you can read",
    );
  }
  const out: FoundLab[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isDirectory) continue;
    const found = inspectLab(e.name, options);
    if (found !== null) out.push(found);
  }
  return Promise.resolve(out);
}

/**
 * Remove a stale lab's folder the way {@linkcode inspectLab} does, if (and only if) its process
 * is gone; returns what was found (null: not a lab folder).
 */
export function removeStaleLab(name: string): FoundLab | null {
  return inspectLab(name, { clean: true });
}

/** Remove the files vlab writes in a lab folder; returns the names of the others (sorted). */
function removeOwnFiles(dir: string): string[] {
  for (const f of OWN_FILES) tryRemove(`${dir}/${f}`);
  // A VM's folder holding only its host vsock socket (`<vm>/vsock.sock`) is vlab's too. So is
  // the temporary folder of a socket being put at its path (`.vsXXXXX`, beside `control.sock` or
  // a `vsock.sock`) that a kill between two steps left: `removeLeftover` proves it is one.
  for (const e of entriesOf(dir)) {
    if (!e.isDirectory || removeLeftover(`${dir}/${e.name}`)) continue;
    const vm = `${dir}/${e.name}`;
    tryRemove(`${vm}/${VSOCK_SOCKET}`);
    for (const f of entriesOf(vm)) removeLeftover(`${vm}/${f.name}`);
    if (isEmptyDir(vm)) tryRemove(vm);
  }
  const others: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (e.name === MARKER) continue;
      // A VM's folder is named with what it holds (`a/vsock.sock_6000`), as a user looks for it.
      const inside = e.isDirectory ? [...Deno.readDirSync(`${dir}/${e.name}`)] : [];
      if (inside.length === 0) others.push(e.name);
      for (const f of inside) others.push(`${e.name}/${f.name}`);
    }
  } catch {
    // Gone already.
  }
  return others.sort();
}

/**
 * True when every entry of `dir` but the marker is a folder (a VM's) that holds nothing but host
 * software's vsock listeners, `vsock.sock_PORT` (docs/cli.md, `vlab vsock`): what a lab's stop
 * leaves when a host program still listened for its guests, or was killed without removing its
 * socket. Those files are not vlab's to remove, and must not keep the lab from starting again.
 * `besideMarker`: vlab's own marker is there too (a stale lab's); without it, a file of that name
 * (not vlab's marker: forged, or empty beside other files) is one of the others.
 */
function holdsHostListenersOnly(dir: string, o: { besideMarker: boolean }): boolean {
  try {
    for (const e of Deno.readDirSync(dir)) {
      if (o.besideMarker && e.name === MARKER) continue;
      if (!e.isDirectory) return false;
      for (const f of Deno.readDirSync(`${dir}/${e.name}`)) {
        if (!/^vsock\.sock_[0-9]+$/.test(f.name)) return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}

function readMarker(file: Deno.FsFile): string | null {
  const buf = new Uint8Array(128);
  try {
    const n = file.readSync(buf);
    return n === null ? "" : new TextDecoder().decode(buf.subarray(0, n));
  } catch {
    return null;
  }
}

function sameFile(file: Deno.FsFile, path: string): boolean {
  try {
    const a = file.statSync();
    const b = Deno.statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/** True when folder `path` holds exactly one entry, `name`. */
function onlyEntry(path: string, name: string): boolean {
  try {
    const names = [...Deno.readDirSync(path)].map((e) => e.name);
    return names.length === 1 && names[0] === name;
  } catch {
    return false;
  }
}

/** The entries of folder `path`, read at once (none if it cannot be read). */
function entriesOf(path: string): Deno.DirEntry[] {
  try {
    return [...Deno.readDirSync(path)];
  } catch {
    return [];
  }
}

function isEmptyDir(path: string): boolean {
  try {
    for (const _ of Deno.readDirSync(path)) return false;
    return true;
  } catch {
    return false;
  }
}

/** Remove a file or an empty folder (never recursive, never throws). */
function tryRemove(path: string): void {
  try {
    Deno.removeSync(path);
  } catch {
    // Gone, or not empty: leave it.
  }
}
