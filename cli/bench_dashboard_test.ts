import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "./deno_run.ts";
import { attachDashboard, DASHBOARD_TERMINAL } from "./bench_dashboard.ts";

/** Run `vlab ARGS` with its state in `stateDir`. */
async function vlab(stateDir: string, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs(args),
    env: vlabChildEnv({ VLAB_STATE_DIR: stateDir }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test({
  name:
    "bench net --dashboard attaches a real dashboard in a 160x50 terminal, reads its CPU and redraws, and ends it",
  // The lab and the dashboard are processes of their own; both are awaited.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-bench-dashboard-" });
    const before = Deno.env.get("VLAB_STATE_DIR");
    try {
      const up = await vlab(stateDir, "up", "topologies/pair.yaml", "-d");
      assert.equal(up.code, 0, up.stderr);
      // The dashboard process finds the lab where this process says labs are.
      Deno.env.set("VLAB_STATE_DIR", stateDir);
      const dashboard = await attachDashboard("pair");
      dashboard.startWindow();
      await new Promise((r) => setTimeout(r, 1500));
      const used = await dashboard.detach();
      // `script` comes with util-linux, on every Debian: the dashboard drew into a terminal.
      const { columns, rows } = DASHBOARD_TERMINAL;
      assert.equal(used.terminal, `${columns}x${rows}`);
      // It redraws every 100 ms; reports come once a second, so the window holds one or two.
      assert.ok(used.updatesPerSecond >= 5 && used.updatesPerSecond <= 11, JSON.stringify(used));
      assert.ok(used.cpuPct > 0 && used.cpuPct < 100, JSON.stringify(used));
    } finally {
      if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", before);
      await vlab(stateDir, "down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
