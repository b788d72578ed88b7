/**
 * What Linux says of a process, read from `/proc/PID/stat` and nothing else: a probe that
 * observes and changes nothing (a signal, even SIGCONT or signal 0, is not one: SIGCONT resumes
 * a process the user froze with `kill -STOP`).
 *
 * Deno lets a program read `/proc` only with `--allow-all`; without it, the same file is read by
 * `cat` (`--allow-run`). Without either, the state is "unknown".
 *
 * @module
 */

/**
 * A process's state: "running" (running or sleeping), "stopped" (SIGSTOP, or stopped by a
 * debugger), "zombie" (ended, not yet reaped), "gone" (no such process), "unknown" (`/proc`
 * could not be read).
 */
export type ProcessState = "running" | "stopped" | "zombie" | "gone" | "unknown";

/**
 * The state of process `pid`, from `/proc/PID/stat`.
 *
 * @example
 * ```ts ignore
 * import { processState } from "./proc.ts";
 * processState(Deno.pid); // "running"
 * ```
 */
export function processState(pid: number): ProcessState {
  if (!Number.isSafeInteger(pid) || pid <= 0) return "gone";
  const text = readStat(pid);
  if (text === null) return "gone";
  if (text === undefined) return "unknown";
  return stateOfStat(text);
}

/**
 * The state letter of a `/proc/PID/stat` line, as a {@linkcode ProcessState}. The command name
 * (field 2) is in parentheses and may itself hold spaces and parentheses, so the state is the
 * first field after the *last* `)`.
 *
 * @example
 * ```ts
 * import { stateOfStat } from "./proc.ts";
 * stateOfStat("42 (deno) T 1 42 42 0 -1"); // "stopped"
 * ```
 */
export function stateOfStat(text: string): ProcessState {
  const close = text.lastIndexOf(")");
  const letter = close < 0 ? "" : text.slice(close + 1).trim()[0] ?? "";
  switch (letter) {
    case "R":
    case "S":
    case "D":
    case "I":
    case "W":
    case "P":
      return "running";
    case "T":
    case "t":
      return "stopped";
    case "Z":
      return "zombie";
    case "X":
    case "x":
      return "gone";
    default:
      return "unknown";
  }
}

/** The stat line; null: no such process; undefined: cannot tell. */
function readStat(pid: number): string | null | undefined {
  return readProcText(`/proc/${pid}/stat`);
}

/**
 * A `/proc` file's text, read by Deno where it may (`--allow-all`), else by `cat`
 * (`--allow-run`). Null: no such file (the process or thread is gone); undefined: cannot tell.
 *
 * @example
 * ```ts ignore
 * import { readProcText } from "./proc.ts";
 * readProcText(`/proc/${Deno.pid}/status`)?.includes("CapEff"); // true
 * ```
 */
export function readProcText(path: string): string | null | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      return undefined;
    }
  }
  try {
    const out = new Deno.Command("cat", {
      args: [path],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { LC_ALL: "C" },
    }).outputSync();
    if (out.success) return new TextDecoder().decode(out.stdout);
    return /No such file/.test(new TextDecoder().decode(out.stderr)) ? null : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This process's threads and their names (`/proc/PID/task/TID/comm`), or why they could not be
 * listed. Without `--allow-all` they are read by `sh` and `grep` (`--allow-run`), in one process.
 *
 * @example
 * ```ts ignore
 * import { ownThreads } from "./proc.ts";
 * const t = ownThreads();
 * if (Array.isArray(t)) console.log(t.map((x) => x.comm)); // ["deno", "tokio-runtime-w", …]
 * ```
 */
export function ownThreads(): { tid: number; comm: string }[] | { reason: string } {
  const dir = `/proc/${Deno.pid}/task`;
  try {
    return [...Deno.readDirSync(dir)].map((t) => ({
      tid: Number(t.name),
      comm: readProcText(`${dir}/${t.name}/comm`)?.trimEnd() ?? "", // "": ended meanwhile
    }));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied)) {
      return {
        reason: `cannot list this process's threads: ${e instanceof Error ? e.message : e}`,
      };
    }
  }
  try {
    // One line a thread: /proc/PID/task/TID/comm:NAME (a thread that ends meanwhile is skipped).
    const out = new Deno.Command("sh", {
      args: ["-c", 'grep -H "" "$0"/*/comm', dir],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C" },
    }).outputSync();
    const threads: { tid: number; comm: string }[] = [];
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const m = /^\/proc\/\d+\/task\/(\d+)\/comm:(.*)$/.exec(line);
      if (m) threads.push({ tid: Number(m[1]), comm: m[2] });
    }
    if (threads.length > 0) return threads;
    return { reason: "cannot list this process's threads (sh and grep read nothing)" };
  } catch {
    return { reason: "cannot list this process's threads: needs --allow-all, or --allow-run" };
  }
}

/**
 * Whether this process's effective capabilities (`/proc/PID/status`'s `CapEff`) hold `cap` (a
 * capability number, as `linux/capability.h` gives it); false when it cannot be read.
 *
 * @example
 * ```ts ignore
 * import { hasCapability } from "./proc.ts";
 * hasCapability(23); // CAP_SYS_NICE: true for root on most machines
 * ```
 */
export function hasCapability(cap: number): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readProcText(`/proc/${Deno.pid}/status`) ?? "")?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(cap)) & 1n) === 1n;
}
