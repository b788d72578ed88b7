/**
 * `vlab up`'s own dashboard killed in a real terminal (tmux): the lab keeps running, the summary
 * line takes over, and the line that says so names the lab in the `vlab dashboard` that shows it
 * again (a bare `vlab dashboard` asks which lab when several run); the terminal is put back as the
 * dashboard found it, so that Ctrl-C stops the lab as the line says.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { run } from "./tmux.ts";
import { dashboardTerminal } from "./dashboard_terminal.ts";
import { waitForValue } from "../lab/testing.ts";

Deno.test({
  name:
    "vlab up's dashboard killed: the lab keeps running, the hint names `vlab dashboard pair`, Ctrl-C stops it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = await dashboardTerminal("topologies/pair.yaml", 100, 30);
    const { stateDir, waitFor } = t;
    try {
      await waitFor("both VMs running", (s) => /^▸? *a +running/m.test(s) && /b +running/.test(s));
      // The dashboard is the one child of `vlab up` (the lab's process) that runs `dashboard`.
      const up = JSON.parse(Deno.readTextFileSync(`${stateDir}/pair/lab.json`)).pid as number;
      const child = await waitForValue("the dashboard's process", async () => {
        const ps = await run("ps", ["--ppid", String(up), "-o", "pid=,args="]);
        const line = ps.stdout.split("\n").find((l) => / dashboard pair --foreground/.test(l));
        return line === undefined ? null : Number(line.trim().split(/\s+/)[0]);
      }, 10_000);
      Deno.kill(child, "SIGKILL");
      const s = await waitFor("the dashboard's end said", (s) => /keeps running/.test(s));
      assert.match(
        s.replace(/\n(?!hint|vlab)/g, ""),
        /vlab: The dashboard ended \(exit 137\); lab pair keeps running\n *hint: Ctrl-C stops it; `vlab dashboard pair` in another terminal shows it again/,
      );
      // The terminal is as it was before the dashboard drew: the normal screen with its cursor,
      // and Ctrl-C a signal again (left in raw mode, it was a byte nobody read, and the hint's
      // "Ctrl-C stops it" was false).
      const state = await t.tmux("display", "-p", "-t", "lab", "#{alternate_on} #{cursor_flag}");
      assert.equal(state.stdout.trim(), "0 1", "the alternate screen and cursor");
      await t.keys("C-c");
      await waitFor("Ctrl-C to stop the lab", (s) => /EXITED \d+/.test(s), 15_000);
    } finally {
      await run(Deno.execPath(), vlabRunArgs(["down", "--all"]), { VLAB_STATE_DIR: stateDir });
      await t.close();
    }
  },
});
