/**
 * A switch's MAC table in the dashboard, in a real terminal: tmux runs `vlab up topologies/star.yaml`;
 * the test opens the table of sw1 (Links, the switch below the four links, enter), pings h2 from
 * h1 and reads both stations appear, then attaches a second dashboard (`vlab dashboard`) and reads
 * the same table there. Both read the lab over its control socket: `vlab up`'s own dashboard is
 * that command too, run with `--foreground`.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { run } from "./tmux.ts";
import { dashboardTerminal } from "./dashboard_terminal.ts";
import { shellQuote } from "../cli/child.ts";

/** A table row: the station's MAC, its port, its link, the NIC behind it, its age. */
const station = (vm: string, port: number) =>
  new RegExp(`[0-9a-f:]{17} +${port} +${vm}-sw1 +${vm}:eth0 +\\d+\\.\\d s`);

Deno.test({
  name:
    "the dashboard in tmux: enter on a switch shows its MAC table learning, in vlab up's and an attached one",
  // The lab runs in a tmux pane, not in this process; subprocesses are awaited.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = await dashboardTerminal("topologies/star.yaml", 100, 30);
    const { stateDir, waitFor } = t;
    try {
      await waitFor("four VMs running", (s) => (s.match(/h\d +running/g) ?? []).length === 4);
      await t.keys("3");
      await waitFor("the Links panel", (s) => /\[Links\]/.test(s));
      await t.keys("PageDown");
      await waitFor("the switch selected", (s) => /▸ sw1 +switch/.test(s));
      await t.keys("Enter");
      await waitFor("the MAC table", (s) => /sw1 · MAC table · \d+ station/.test(s));

      const ping = await run(
        Deno.execPath(),
        vlabRunArgs(["exec", "h1", "--", "ping", "10.0.0.2", "-c", "3", "-i", "0.05"]),
        { VLAB_STATE_DIR: stateDir },
      );
      assert.equal(ping.code, 0, ping.stderr);
      const local = await waitFor(
        "h1 and h2 learned",
        (s) => station("h1", 0).test(s) && station("h2", 1).test(s),
      );
      assert.match(local, /MAC +PORT +LINK +BEHIND +AGE/);

      // The same table through the control socket (GET /switches/sw1).
      const attach = [Deno.execPath(), ...vlabRunArgs(["dashboard"])].map(shellQuote).join(" ");
      const opened = await t.tmux(
        "new-window",
        "-t",
        "lab",
        "-n",
        "att",
        `cd ${shellQuote(Deno.cwd())} && env VLAB_STATE_DIR=${shellQuote(stateDir)} NO_COLOR=1 ` +
          `${attach}; sleep 60`,
      );
      assert.equal(opened.code, 0, opened.stderr);
      const attached = async () => (await t.tmux("capture-pane", "-p", "-t", "lab:att")).stdout;
      const keys = async (...k: string[]) => void await t.tmux("send-keys", "-t", "lab:att", ...k);
      const until = async (what: string, test: (s: string) => boolean) => {
        const deadline = Date.now() + 30_000;
        let s = "";
        while (Date.now() < deadline) {
          s = await attached();
          if (test(s)) return s;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`timed out waiting for ${what}; the screen was:\n${s}`);
      };
      await until("the attached dashboard", (s) => /h1 +running/.test(s));
      await keys("3");
      await until("its Links panel", (s) => /\[Links\]/.test(s));
      await keys("PageDown");
      await until("its switch selected", (s) => /▸ sw1 +switch/.test(s));
      await keys("Enter");
      await until("its MAC table", (s) => station("h1", 0).test(s) && station("h2", 1).test(s));
      await keys("q");
    } finally {
      await t.close();
    }
  },
});
