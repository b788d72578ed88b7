/**
 * `vlab up`'s own dashboard killed in a real terminal (tmux): the lab keeps running, the summary
 * line takes over, and the line that says so names the lab in the `vlab dashboard` that shows it
 * again (a bare `vlab dashboard` asks which lab when several run).
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { labTerminal, run } from "./tmux.ts";
import { waitForValue } from "../lab/testing.ts";

Deno.test({
  name:
    "vlab up's dashboard killed: the lab keeps running and the hint names `vlab dashboard pair`",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = await labTerminal("topologies/pair.yaml", 100, 30);
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
    } finally {
      await run(Deno.execPath(), vlabRunArgs(["down", "--all"]), { VLAB_STATE_DIR: stateDir });
      await t.close();
    }
  },
});
