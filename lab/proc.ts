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
  const path = `/proc/${pid}/stat`;
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
