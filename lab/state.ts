/**
 * Where running labs live on disk: one folder per lab under the state root, holding
 * `lab.json` (who runs it: name, pid, socket, topology), `control.sock` (the control socket,
 * mode 0600) and `events.jsonl` (the event log). The folder exists exactly while the lab runs;
 * one left behind by a process that died (a crash, `kill -9`) is *stale*: every command that
 * lists labs notices it (the pid is gone or the socket does not answer) and removes it.
 *
 * The root is `$VLAB_STATE_DIR` if set, else `$XDG_RUNTIME_DIR/vlab`, else `/tmp/vlab-<uid>`;
 * it is created with mode 0700.
 *
 * @module
 */

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
}

/** The state root. */
export function stateRoot(): string {
  const explicit = Deno.env.get("VLAB_STATE_DIR");
  if (explicit) return explicit;
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  if (runtime) return `${runtime}/vlab`;
  return `/tmp/vlab-${Deno.uid() ?? "user"}`;
}

/** The folder of lab `name`. */
export function labDir(name: string): string {
  return `${stateRoot()}/${name}`;
}

/** Paths inside a lab's folder. */
export function labPaths(
  name: string,
): { dir: string; record: string; socket: string; events: string } {
  const dir = labDir(name);
  return {
    dir,
    record: `${dir}/lab.json`,
    socket: `${dir}/control.sock`,
    events: `${dir}/events.jsonl`,
  };
}

/** Create the lab's folder (mode 0700); fails if it exists. */
export function createLabDir(name: string): void {
  Deno.mkdirSync(stateRoot(), { recursive: true, mode: 0o700 });
  Deno.mkdirSync(labDir(name), { mode: 0o700 });
}

/** Write `lab.json` (atomically: write then rename). */
export function writeRecord(record: LabRecord): void {
  const p = labPaths(record.name);
  Deno.writeTextFileSync(`${p.record}.tmp`, JSON.stringify(record, null, 2) + "\n");
  Deno.renameSync(`${p.record}.tmp`, p.record);
}

/** Remove a lab's folder and everything in it (never throws). */
export function removeLabDir(name: string): void {
  try {
    Deno.removeSync(labDir(name), { recursive: true });
  } catch {
    // Already gone.
  }
}

/**
 * Whether a process exists. Deno grants reading `/proc/<pid>` only with --allow-all, so this
 * probes with SIGCONT, which does nothing to a running process (ESRCH: gone; EPERM: it exists
 * but belongs to someone else, so it is not a lab of ours but it is alive). A zombie counts as
 * alive: callers that own the child watch its `status` instead.
 */
export function processAlive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch (e) {
    return !(e instanceof Deno.errors.NotFound);
  }
}

/** A lab found in the state root. */
export type FoundLab =
  | { status: "running"; record: LabRecord }
  | { status: "stale"; name: string; reason: string };

/** Read one lab's record; null if the folder has none (or it is unreadable). */
export function readRecord(name: string): LabRecord | null {
  try {
    return JSON.parse(Deno.readTextFileSync(labPaths(name).record)) as LabRecord;
  } catch {
    return null;
  }
}

/** Whether something accepts connections on a Unix socket (within `timeoutMs`). */
export async function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const conn = await Promise.race([
      Deno.connect({ transport: "unix", path }),
      new Promise<null>((r) => timer = setTimeout(() => r(null), timeoutMs)),
    ]);
    if (conn === null) return false;
    conn.close();
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Every lab folder in the state root, checked: a folder whose process is gone, or whose
 * control socket does not accept connections, is stale (a killed process can linger as a
 * zombie where nothing reaps it, so the socket is the test that counts). `clean` removes stale
 * folders.
 *
 * @example
 * ```ts ignore
 * import { findLabs } from "./state.ts";
 * for (const lab of await findLabs({ clean: true })) console.log(lab);
 * ```
 */
export async function findLabs(options: { clean: boolean }): Promise<FoundLab[]> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(stateRoot())];
  } catch {
    return [];
  }
  const out: FoundLab[] = [];
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!e.isDirectory) continue;
    const record = readRecord(e.name);
    let reason: string | null = null;
    if (record === null) {
      // A folder being created has no record for a moment: give it 30 s.
      const age = Date.now() - (Deno.statSync(labDir(e.name)).mtime?.getTime() ?? 0);
      if (age < 30_000) continue;
      reason = "it has no lab.json";
    } else if (!processAlive(record.pid)) {
      reason = `its process ${record.pid} is gone`;
    } else if (!(await socketAnswers(record.socket))) {
      reason = `its process ${record.pid} is gone or hung: its control socket does not answer`;
    }
    if (reason === null && record !== null) {
      out.push({ status: "running", record });
      continue;
    }
    if (options.clean) removeLabDir(e.name);
    out.push({ status: "stale", name: e.name, reason: reason! });
  }
  return out;
}
