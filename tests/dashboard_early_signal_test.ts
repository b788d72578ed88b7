/**
 * `vlab dashboard` ended by a signal: SIGTERM (`vlab up` ending its dashboard as the lab stops),
 * SIGHUP (a terminal that closes), SIGINT (Ctrl-C before the dashboard draws and reads it as a
 * key, a `kill -INT`). As soon as it had entered its idle CPU group, any of them ended the process
 * (exit 130, 143 or 129) and left the group for the next dashboard to remove: the group was made
 * before the dashboard listened for SIGTERM and SIGHUP, and it never listened for SIGINT (which
 * also did that to a dashboard drawing). It now ends as `q` ends it, out of its group.
 *
 * The first test needs the right to make CPU groups (root, and `cpu.idle`): skipped elsewhere.
 */

import assert from "node:assert/strict";
import { idleGroupGone, idleGroupsAllowed } from "../cli/idle_cgroup_testing.ts";
import { within } from "../lab/testing.ts";
import { readProc, spawnVlab, withLab } from "./run.ts";

Deno.test({
  name:
    "vlab dashboard ended by SIGINT, SIGTERM or SIGHUP once in its idle CPU group: exit 0, the group removed",
  ignore: !idleGroupsAllowed(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (_vlab, stateDir) => {
      for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        // --report-cpu: the dashboard without a terminal.
        const child = spawnVlab(["dashboard", "--report-cpu"], { stateDir });
        const output = child.output();
        const group = `/vlab-idle-${child.pid}`;
        let ended = false;
        void output.finally(() => ended = true);
        try {
          // In its group (its /proc cgroup file says so): the earliest moment the group exists.
          const inGroup = () =>
            (readProc(`/proc/${child.pid}/cgroup`) ?? "").includes(`:${group}\n`);
          const deadline = performance.now() + 20_000;
          while (!inGroup()) {
            assert.ok(!ended, `${signal}: the dashboard ended before it entered its group`);
            assert.ok(performance.now() < deadline, `${signal}: it never entered its group`);
            await new Promise((r) => setTimeout(r, 2));
          }
          child.kill(signal);
          // Bounded: a dashboard that ignored the signal would hang the suite, not fail it.
          const out = await within(15_000, `${signal}: the dashboard's end`, output);
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

Deno.test({
  name: "vlab dashboard ended by SIGINT while it draws ends as q does: exit 0, its last report",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withLab("pair", async (_vlab, stateDir) => {
      const child = spawnVlab(["dashboard", "--report-cpu"], { stateDir });
      // What it draws, read away: a full pipe would hold its writes.
      const drawn = new Response(child.stdout).arrayBuffer().catch(() => null);
      const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
      let stderr = "";
      try {
        // A report (one a second) that counts a snapshot drawn: it draws.
        const deadline = performance.now() + 20_000;
        while (!/"updates":[1-9]/.test(stderr)) {
          assert.ok(performance.now() < deadline, `the dashboard never drew: ${stderr}`);
          const { value, done } = await reader.read();
          assert.ok(!done, `the dashboard ended: ${stderr}`);
          stderr += value;
        }
        child.kill("SIGINT");
        const rest = async () => {
          for (let r = await reader.read(); !r.done; r = await reader.read()) stderr += r.value;
          return await child.status;
        };
        const status = await within(15_000, "the dashboard's end after SIGINT", rest());
        assert.deepEqual([status.signal, status.code], [null, 0], stderr);
        // Its last report, said at its end as after `q`.
        assert.ok(stderr.trim().split("\n").length >= 2, stderr);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch {
          // Ended.
        }
        await reader.cancel().catch(() => {});
        await child.status;
        await drawn;
      }
    });
  },
});
