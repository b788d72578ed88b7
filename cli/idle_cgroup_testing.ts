/**
 * Test support for the dashboard's idle CPU group: whether this machine lets a process make one,
 * read apart from `idle_cgroup.ts`'s own checks so that a test of it can fail.
 *
 * @module
 */

import { readProcText } from "../lab/proc.ts";

/** The directories where an idle group of this machine's dashboards would be, at the top of each
 * hierarchy that may hold the CPU controller. */
export const IDLE_GROUP_TOPS = [
  "/sys/fs/cgroup/cpu",
  "/sys/fs/cgroup/cpu,cpuacct",
  "/sys/fs/cgroup",
];

/**
 * Whether this machine lets a process make an idle CPU group: root, and a `cpu.idle` to set (a v1
 * `cpu` hierarchy that has one, or a v2 root that delegates `cpu`).
 *
 * @example
 * ```ts ignore
 * if (idleGroupsAllowed()) assert.equal(set, "idle group");
 * ```
 */
export function idleGroupsAllowed(): boolean {
  if (Deno.uid() !== 0) return false;
  // Through readProcText: the test task's permissions do not reach /sys, `cat` does.
  const has = (path: string, word?: string) => {
    const text = readProcText(path);
    return typeof text === "string" && (word === undefined || text.split(/\s+/).includes(word));
  };
  return has("/sys/fs/cgroup/cpu/cpu.idle") || has("/sys/fs/cgroup/cpu,cpuacct/cpu.idle") ||
    has("/sys/fs/cgroup/cgroup.subtree_control", "cpu");
}

/**
 * Whether the group `name` (`/vlab-idle-PID`) is gone from every hierarchy's top: true when no
 * `cgroup.procs` of it can be found, false when one is there or cannot be told.
 *
 * @example
 * ```ts ignore
 * assert.ok(idleGroupGone(`/vlab-idle-${pid}`));
 * ```
 */
export function idleGroupGone(name: string): boolean {
  return IDLE_GROUP_TOPS.every((top) => readProcText(`${top}${name}/cgroup.procs`) === null);
}
