/**
 * An idle CPU group for a process that must never delay the lab: the dashboard.
 *
 * `SCHED_IDLE` on each thread is not enough on a kernel with the EEVDF scheduler (Linux 6.6 and
 * later, measured on 6.18). Its pick can still choose such a thread over a lab thread waiting for
 * the same CPU, and a lab thread woken onto the CPU where the dashboard draws can wait until the
 * dashboard sleeps or the next tick comes (4 ms at 250 Hz): the kernel's `sched_switch` events
 * show each of those waits (`docs/performance.md`, 2026-12-06, "An idle policy that was not
 * idle"). A CPU group with `cpu.idle` set (Linux 5.15 and later), beside the lab's, kept a woken
 * thread's p99 wait at 73–107 µs where the policy alone let it reach 0.4–1.0 ms.
 *
 * {@linkcode enterIdleCpuGroup} moves this process into a group of its own, `vlab-idle-PID`, made
 * at the top of the CPU controller's hierarchy (cgroup v1's `cpu` hierarchy, or cgroup v2 where the
 * root delegates `cpu`), so that it sits beside whatever group the lab runs in. That takes the
 * right to write there, which root has and most users do not; without it nothing changes and the
 * caller keeps the per-thread policy alone. The group is left (the process moved to the top
 * group, where it ends) and removed at exit; a group whose process died without leaving is removed
 * by the next dashboard that enters one.
 *
 * A group runs the dashboard only on CPU time the lab leaves over, which floods on every CPU
 * reduce to a few redraws a second: {@linkcode keepIdleGroup} leaves the group while that lasts and
 * tries it again later ({@linkcode governIdleGroup} decides).
 *
 * Runs on the dashboard's main thread: at its start, once a second, and at its exit.
 *
 * @module
 */

import { readProcText } from "../lab/proc.ts";

/** A group entered: where it is, and how to leave it. */
export interface IdleCpuGroup {
  /** The group's directory. */
  readonly path: string;
  /** Move the process to the top group and remove this one; best effort. */
  leave(): void;
}

/** Where the CPU controller is mounted and which group this process is in. */
export interface CpuController {
  /** `v1` (a `cpu` hierarchy of its own) or `v2` (the unified hierarchy). */
  readonly version: "v1" | "v2";
  /** The mount point of the hierarchy. */
  readonly mount: string;
  /** The process's group in it, relative to the mount point (`/` for the top). */
  readonly group: string;
}

/** Options of {@linkcode enterIdleCpuGroup}; the defaults are the running system's. */
export interface IdleGroupOptions {
  /** Prefixed to every absolute path read or written (a fake tree, in tests). Default "". */
  readonly root?: string;
  /** The process to move. Default: this one. */
  readonly pid?: number;
}

/**
 * Find the CPU controller in `/proc/PID/mountinfo` and this process's group in it in
 * `/proc/PID/cgroup` (their texts given): cgroup v1's `cpu` hierarchy when one is mounted, else
 * the unified hierarchy. Null when there is neither, or the process's group is outside the mount
 * (a container that sees only part of the hierarchy would then get a wrong path).
 *
 * @example
 * ```ts
 * const mountinfo = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
 * const cgroup = "1:cpu:/user.slice\n0::/\n";
 * findCpuController(mountinfo, cgroup);
 * // { version: "v1", mount: "/sys/fs/cgroup/cpu", group: "/user.slice" }
 * ```
 */
export function findCpuController(mountinfo: string, cgroup: string): CpuController | null {
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
  const mounts = mountinfo.split("\n").filter((l) => l.includes(" - ")).map((l) => {
    const [before, after] = l.split(" - ");
    const f = before.split(" ");
    const [fstype, , superOptions = ""] = after.split(" ");
    return { root: f[3], point: f[4], fstype, options: superOptions.split(",") };
  });
  const groups = cgroup.split("\n").filter((l) => l !== "").map((l) => {
    const [, controllers, ...path] = l.split(":");
    return { controllers: controllers.split(","), path: path.join(":") };
  });
  const v1Mount = mounts.find((m) => m.fstype === "cgroup" && m.options.includes("cpu"));
  const v1Group = groups.find((g) => g.controllers.includes("cpu"));
  if (v1Mount && v1Group) return within("v1", v1Mount, v1Group.path);
  const v2Mount = mounts.find((m) => m.fstype === "cgroup2");
  const v2Group = groups.find((g) => g.controllers.length === 1 && g.controllers[0] === "");
  if (v2Mount && v2Group) return within("v2", v2Mount, v2Group.path);
  return null;
}

/** The group relative to the mount point, when the mount shows it. */
function within(
  version: "v1" | "v2",
  mount: { root: string; point: string },
  path: string,
): CpuController | null {
  const root = mount.root === "/" ? "" : mount.root;
  if (root !== "" && path !== root && !path.startsWith(`${root}/`)) return null;
  return { version, mount: mount.point, group: path.slice(root.length) || "/" };
}

/**
 * Make the group and move the process into it, in one `sh`: Deno reads and writes `/proc` and
 * `/sys` only with `--allow-all`, which `vlab` does not ask for. Before that, remove the groups
 * of processes that are gone (`rmdir` refuses a group that still has tasks). $1: the top of the
 * hierarchy, $2: the pid.
 */
const ENTER = `
top=$1 pid=$2
for g in "$top"/vlab-idle-*; do
  p=\${g##*/vlab-idle-}
  case $p in ''|*[!0-9]*) continue ;; esac
  [ -d "$g" ] && [ ! -d "/proc/$p" ] && rmdir "$g" 2>/dev/null
done
g=$top/vlab-idle-$pid
made=
if mkdir "$g"; then made=1; elif [ ! -d "$g" ]; then exit 1; fi
# cgroup.procs moves every thread of the process, and the threads it starts later follow.
if ! { echo 1 > "$g/cpu.idle" && echo "$pid" > "$g/cgroup.procs"; }; then
  [ -n "$made" ] && rmdir "$g"
  exit 1
fi
`;

/**
 * Move the process to the top group ($1) and remove its own ($2); $3: the pid. The `sh` itself,
 * started from inside the group, moves first: a group with a task left in it cannot be removed.
 */
const LEAVE = `echo $$ > "$1/cgroup.procs" && echo "$3" > "$1/cgroup.procs" && rmdir "$2"`;

/** Run `script` with `sh`; its first line of errors when it fails, null when it succeeds. */
function sh(script: string, args: string[]): string | null {
  try {
    const out = new Deno.Command("sh", {
      args: ["-c", script, "sh", ...args],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { LC_ALL: "C" },
    }).outputSync();
    if (out.success) return null;
    const line = new TextDecoder().decode(out.stderr).split("\n").find((l) => l.trim() !== "");
    return line?.replace(/^sh: (\d+: )?/, "") ?? `sh exited ${out.code}`;
  } catch (e) {
    return `cannot run sh: ${e instanceof Error ? e.message : e}`;
  }
}

/**
 * Move process `pid` (this one by default) into an idle CPU group of its own at the top of the
 * CPU controller's hierarchy. Returns the group, or why it could not (one line): no CPU
 * controller, no `cpu.idle` (a kernel before 5.15), cgroup v2 whose root does not delegate `cpu`,
 * or no right to make a group there (most users). Never throws.
 *
 * @example
 * ```ts ignore
 * const idle = enterIdleCpuGroup();
 * try {
 *   // draw
 * } finally {
 *   if ("path" in idle) idle.leave();
 * }
 * ```
 */
export function enterIdleCpuGroup(
  options: IdleGroupOptions = {},
): IdleCpuGroup | { reason: string } {
  const { root = "", pid = Deno.pid } = options;
  const mountinfo = readProcText(`${root}/proc/${pid}/mountinfo`);
  const cgroup = readProcText(`${root}/proc/${pid}/cgroup`);
  if (mountinfo == null || cgroup == null) {
    return { reason: "cannot read /proc to find the CPU controller" };
  }
  const controller = findCpuController(mountinfo, cgroup);
  if (controller === null) return { reason: "no CPU controller is mounted" };
  const top = root + controller.mount;
  if (controller.version === "v1" && readProcText(`${top}/cpu.idle`) == null) {
    return { reason: "the kernel has no cpu.idle (Linux 5.15 or later has)" };
  }
  if (controller.version === "v2") {
    const delegated = readProcText(`${top}/cgroup.subtree_control`)?.split(/\s+/);
    if (!delegated?.includes("cpu")) {
      return { reason: "the cgroup v2 root does not delegate the cpu controller" };
    }
  }
  const error = sh(ENTER, [top, String(pid)]);
  if (error !== null) {
    return {
      reason: /Permission denied|Read-only file system|Operation not permitted/.test(error)
        ? "no right to make a CPU group (root has)"
        : `cannot make a CPU group: ${error}`,
    };
  }
  const path = `${top}/vlab-idle-${pid}`;
  // The next dashboard removes the group if this fails.
  return { path, leave: () => void sh(LEAVE, [top, path, String(pid)]) };
}

/** What {@linkcode governIdleGroup} decides at each check. */
export type GroupAction = "none" | "leave" | "enter";

/** The state {@linkcode governIdleGroup} carries from one check to the next. */
export interface GovernorState {
  /** Whether the process is in its idle group. */
  readonly inGroup: boolean;
  /** Checks in a row, in the group, that found it short of its rate. */
  readonly shortChecks: number;
  /** Out of the group: when to try it again, ms. In it: since when, ms. */
  readonly since: number;
  /** How long the next time out of the group lasts, ms. */
  readonly backoffMs: number;
}

/** The governor's constants: a short check, twice in a row, and the first time out. */
export const GOVERNOR = {
  /** A check finds the rate short below this share of the wanted one. */
  shortShare: 0.8,
  /** Short checks in a row that make the process leave the group. */
  shortChecksToLeave: 2,
  /** The first time out of the group, ms; it doubles each time the group starves it again. */
  firstBackoffMs: 10_000,
  /** The longest time out, ms. */
  maxBackoffMs: 80_000,
  /** In the group this long without leaving, the time out goes back to the first one, ms. */
  settledMs: 30_000,
} as const;

/** The state of a process that has just entered its group at `nowMs`. */
export function governorStart(nowMs: number): GovernorState {
  return { inGroup: true, shortChecks: 0, since: nowMs, backoffMs: GOVERNOR.firstBackoffMs };
}

/**
 * One check of the idle group's price to the process in it. An idle group runs the process only on
 * CPU time the lab leaves over, and a lab that leaves none (floods on every CPU) leaves the
 * dashboard a few redraws a second. So the dashboard keeps its group while it keeps its rate, and
 * leaves it (keeping `SCHED_IDLE`, which still yields to the lab) after two short checks in a row:
 * a busy lab pays no ping latency for it, an idle lab gets the group back. It tries the group again
 * after a time out that doubles each time the group starves it again (10 s, then up to 80 s), and
 * goes back to 10 s once the group has held for 30 s.
 *
 * `beats` is how many times the process's periodic timer ran since the last check, `wanted` how
 * many it would have run in that time on a CPU of its own.
 *
 * @example
 * ```ts
 * let s = governorStart(0);
 * let r = governIdleGroup(s, { beats: 4, wanted: 10, nowMs: 1000 }); // short once: "none"
 * r = governIdleGroup(r.state, { beats: 5, wanted: 10, nowMs: 2000 }); // twice: "leave"
 * ```
 */
export function governIdleGroup(
  state: GovernorState,
  seen: { beats: number; wanted: number; nowMs: number },
): { state: GovernorState; action: GroupAction } {
  const { beats, wanted, nowMs } = seen;
  if (!state.inGroup) {
    if (nowMs < state.since) return { state, action: "none" };
    return { state: { ...state, inGroup: true, shortChecks: 0, since: nowMs }, action: "enter" };
  }
  const shortChecks = beats < GOVERNOR.shortShare * wanted ? state.shortChecks + 1 : 0;
  if (shortChecks >= GOVERNOR.shortChecksToLeave) {
    const settled = nowMs - state.since >= GOVERNOR.settledMs;
    const backoffMs = settled ? GOVERNOR.firstBackoffMs : state.backoffMs;
    return {
      state: {
        inGroup: false,
        shortChecks: 0,
        since: nowMs + backoffMs,
        backoffMs: Math.min(backoffMs * 2, GOVERNOR.maxBackoffMs),
      },
      action: "leave",
    };
  }
  return { state: { ...state, shortChecks }, action: "none" };
}

/**
 * Keep this process in its idle group while it keeps its rate: a timer of `periodMs` beats, and
 * every second {@linkcode governIdleGroup} compares its beats with the period's and leaves or
 * enters the group again (with `enter`). Its timers do not keep the process alive. Returns `leave`,
 * which stops them and leaves the group if the process is in it, `groupMs`, the time spent in
 * the group so far, and `inGroup`, whether the process is in it now.
 *
 * @example
 * ```ts ignore
 * const group = enterIdleCpuGroup();
 * const kept = "path" in group ? keepIdleGroup(group, 100) : null;
 * // … draw every 100 ms …
 * kept?.leave();
 * ```
 */
export function keepIdleGroup(
  first: IdleCpuGroup,
  periodMs: number,
  enter: () => IdleCpuGroup | { reason: string } = enterIdleCpuGroup,
): { leave(): void; groupMs(): number; inGroup(): boolean } {
  let group: IdleCpuGroup | null = first;
  // Time spent in the group: what ended, and since when it is in it now.
  let doneMs = 0;
  let inSince: number | null = performance.now();
  const out = (now: number) => {
    if (inSince !== null) doneMs += now - inSince;
    inSince = null;
  };
  let state = governorStart(performance.now());
  let beats = 0;
  let last = performance.now();
  const beat = setInterval(() => beats++, periodMs);
  const check = setInterval(() => {
    const now = performance.now();
    const r = governIdleGroup(state, { beats, wanted: (now - last) / periodMs, nowMs: now });
    beats = 0;
    last = now;
    state = r.state;
    if (r.action === "leave") {
      group?.leave();
      group = null;
      out(now);
    } else if (r.action === "enter") {
      const again = enter();
      if ("path" in again) {
        group = again;
        inSince = now;
      } else state = { ...state, inGroup: false, since: now + state.backoffMs }; // try later
    }
  }, 1000);
  Deno.unrefTimer(beat);
  Deno.unrefTimer(check);
  return {
    leave: () => {
      clearInterval(beat);
      clearInterval(check);
      group?.leave();
      group = null;
      out(performance.now());
    },
    groupMs: () => doneMs + (inSince === null ? 0 : performance.now() - inSince),
    inGroup: () => group !== null,
  };
}
