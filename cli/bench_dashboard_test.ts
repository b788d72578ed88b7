import assert from "node:assert/strict";
import { startLab } from "../mod.ts";
import { inStateDir } from "../lab/testing.ts";
import { attachDashboard, DASHBOARD_TERMINAL } from "./bench_dashboard.ts";
import { idleGroupsAllowed } from "./idle_cgroup_testing.ts";
import { CONFIG_PATH, vlabChildEnv } from "./deno_run.ts";
import { processGone } from "../lab/testing.ts";

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
        // Three of its once-a-second reports at least: one late report (the dashboard runs at
        // idle priority) neither empties the window nor weighs on the rate as it did on one.
        await new Promise((r) => setTimeout(r, 3000));
        const used = await dashboard.detach();
        // `script` comes with util-linux, on every Debian: the dashboard drew into a terminal.
        const { columns, rows } = DASHBOARD_TERMINAL;
        assert.equal(used.terminal, `${columns}x${rows}`);
        // It redraws at most every 100 ms (`vlab dashboard`'s --interval): at most 10 a second,
        // 11 with a report's rounding. How close to 10 it comes is how much CPU the machine left
        // an idle-priority process in an idle group, which other tests running take until it
        // leaves the group: that it redrew in the window is what holds whatever the load. A rate
        // counted over the window and not per second (about 30) fails.
        assert.ok(used.updatesPerSecond > 0 && used.updatesPerSecond <= 11, JSON.stringify(used));
        assert.ok(used.cpuPct > 0 && used.cpuPct < 100, JSON.stringify(used));
        // What `vlab dashboard` took, read from its reports: its idle group where the machine
        // allows one, the policy alone elsewhere. How long it stays in the group is the load's:
        // it leaves the group when it cannot keep its rate there (with 4 busy loops beside it,
        // 0 % of the window), so only the share's range is asserted (idle_cgroup_test checks
        // that decision).
        if (idleGroupsAllowed()) {
          assert.equal(used.priority, "idle group");
          assert.ok(used.groupPct >= 0 && used.groupPct <= 100, JSON.stringify(used));
        } else {
          assert.equal(used.priority, "idle");
          assert.equal(used.groupPct, 0);
        }
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test("a bench that exits with its dashboard attached (Ctrl-C, SIGTERM) ends the dashboard and removes its folder", async () => {
  // Ctrl-C ends `vlab bench net --dashboard` with Deno.exit, which runs no `finally`: the
  // dashboard (under `script`) outlived the bench and its folder stayed in $TMPDIR.
  const tmp = Deno.makeTempDirSync({ prefix: "vlab-bench-dashboard-exit-" });
  const code = `
    import { startLab } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
    import { attachDashboard } from ${JSON.stringify(import.meta.resolve("./bench_dashboard.ts"))};
    const lab = await startLab("topologies/pair.yaml");
    await attachDashboard(lab.name);
    const [dir] = [...Deno.readDirSync(Deno.env.get("TMPDIR"))]
      .filter((e) => e.name.startsWith("vlab-bench-dashboard-"));
    console.log(Deno.readTextFileSync(Deno.env.get("TMPDIR") + "/" + dir.name + "/pid").trim());
    Deno.exit(130);
  `;
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--config", CONFIG_PATH, code],
      cwd: new URL("..", import.meta.url),
      env: vlabChildEnv({ TMPDIR: tmp, VLAB_STATE_DIR: `${tmp}/state`, NO_COLOR: "1" }),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 130, stdout + new TextDecoder().decode(out.stderr));
    const pid = Number(stdout.trim());
    assert.ok(pid > 0, stdout);
    // SIGTERM was sent at the exit: the dashboard ends within its own grace.
    assert.ok(await processGone(pid, 10_000), `the dashboard (pid ${pid}) still runs`);
    assert.deepEqual(
      [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("vlab-bench-dashboard-")),
      [],
    );
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});
