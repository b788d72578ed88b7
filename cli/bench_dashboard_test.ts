import assert from "node:assert/strict";
import { startLab } from "../mod.ts";
import { inStateDir } from "../lab/testing.ts";
import { attachDashboard, DASHBOARD_TERMINAL } from "./bench_dashboard.ts";
import { idleGroupsAllowed } from "./idle_cgroup_testing.ts";

Deno.test({
  name:
    "bench net --dashboard attaches a real dashboard in a 160x50 terminal, reads its CPU and redraws, and ends it",
  // The dashboard is a process of its own; it is awaited.
  sanitizeResources: false,
  sanitizeOps: false,
  // The lab registers in the state folder, and the dashboard process (which inherits
  // VLAB_STATE_DIR) finds it there.
  fn: () =>
    inStateDir("vlab-bench-dashboard-test-", async () => {
      const lab = await startLab("topologies/pair.yaml");
      try {
        const dashboard = await attachDashboard(lab.name);
        dashboard.startWindow();
        await new Promise((r) => setTimeout(r, 1500));
        const used = await dashboard.detach();
        // `script` comes with util-linux, on every Debian: the dashboard drew into a terminal.
        const { columns, rows } = DASHBOARD_TERMINAL;
        assert.equal(used.terminal, `${columns}x${rows}`);
        // It redraws every 100 ms; reports come once a second, so the window holds one or two.
        assert.ok(used.updatesPerSecond >= 5 && used.updatesPerSecond <= 11, JSON.stringify(used));
        assert.ok(used.cpuPct > 0 && used.cpuPct < 100, JSON.stringify(used));
        // What `vlab dashboard` took, read from its reports: in its idle group the whole
        // window where the machine allows one (an idle lab leaves it CPU time), the policy alone
        // elsewhere.
        if (idleGroupsAllowed()) {
          assert.equal(used.priority, "idle group");
          assert.ok(used.groupPct > 90, JSON.stringify(used));
        } else {
          assert.equal(used.priority, "idle");
          assert.equal(used.groupPct, 0);
        }
      } finally {
        await lab.stop();
      }
    }),
});
