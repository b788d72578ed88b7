/**
 * `vlab dashboard` ended by SIGTERM or SIGHUP (`vlab up` ending its dashboard as the lab stops, a
 * terminal that closes) as soon as it has entered its idle CPU group: the group was made before
 * the dashboard listened for either, so a signal in between ended the process (exit 143 or 129)
 * and left the group for the next dashboard to remove. It now ends as `q` ends it, out of its
 * group, which is gone.
 *
 * Needs the right to make CPU groups (root, and `cpu.idle`): skipped elsewhere.
 */

import assert from "node:assert/strict";
import { idleGroupGone, idleGroupsAllowed } from "../cli/idle_cgroup_testing.ts";
import { spawnVlab, withLab } from "./run.ts";

Deno.test({
  name:
    "vlab dashboard ended by SIGTERM or SIGHUP once in its idle CPU group: exit 0, the group removed",
  ignore: !idleGroupsAllowed(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (_vlab, stateDir) => {
      for (const signal of ["SIGTERM", "SIGHUP"] as const) {
        // --report-cpu: the dashboard without a terminal.
        const child = spawnVlab(["dashboard", "--report-cpu"], { stateDir });
        const output = child.output();
        const group = `/vlab-idle-${child.pid}`;
        let ended = false;
        void output.finally(() => ended = true);
        try {
          // In its group (its /proc cgroup file says so): the earliest moment the group exists.
          const inGroup = () => {
            try {
              return Deno.readTextFileSync(`/proc/${child.pid}/cgroup`).includes(`:${group}\n`);
            } catch {
              return false; // ended
            }
          };
          const deadline = performance.now() + 20_000;
          while (!inGroup()) {
            assert.ok(!ended, `${signal}: the dashboard ended before it entered its group`);
            assert.ok(performance.now() < deadline, `${signal}: it never entered its group`);
            await new Promise((r) => setTimeout(r, 2));
          }
          child.kill(signal);
          const out = await output;
          const stderr = new TextDecoder().decode(out.stderr);
          assert.deepEqual([out.signal, out.code], [null, 0], `${signal}: ${stderr}`);
          assert.ok(idleGroupGone(group), `${signal}: ${group} is still there`);
        } finally {
          try {
            child.kill("SIGKILL");
          } catch {
            // Ended.
          }
          await output.catch(() => {});
        }
      }
    });
  },
});
