/**
 * The attached dashboard in a real terminal when its lab stops: tmux runs `vlab up -d pair` and
 * `vlab dashboard`; `vlab down` from elsewhere. The screen says the lab was stopped and when, the
 * dashboard ends by itself with exit 0, and one line on the restored screen says why it closed;
 * `vlab dashboard` again finds no lab and says so.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { run } from "./tmux.ts";
import { dashboardTerminal } from "./dashboard_terminal.ts";

Deno.test({
  name: "the attached dashboard in tmux says in one line that its lab stopped, then ends",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = await dashboardTerminal("topologies/pair.yaml", 80, 24, { attach: true });
    const { stateDir, waitFor } = t;
    try {
      await waitFor("both VMs running", (s) => /^▸? *a +running/m.test(s) && /b +running/.test(s));
      await t.keys("2");
      await waitFor("the Queues panel", (s) => /\[Queues\]/.test(s));
      const down = await run(Deno.execPath(), vlabRunArgs(["down", "pair"]), {
        VLAB_STATE_DIR: stateDir,
      });
      assert.equal(down.code, 0, down.stderr);
      const stopped = await waitFor("lab stopped on the screen", (s) => /lab stopped:/.test(s));
      assert.match(
        stopped.replace(/\n +/g, " "),
        /lab stopped: Lab "pair" was stopped at \d\d:\d\d:\d\d UTC/,
      );
      const after = await waitFor("the dashboard to end", (s) => /EXITED AGAIN \d/.test(s));
      // What `vlab up -d` printed, then the restored screen: the dashboard left nothing else.
      const lines = after.split("\n").filter((l) => l.trim() !== "");
      assert.match(lines[0], /^lab pair up in the background/);
      assert.match(lines[1], /^vlab: Lab "pair" was stopped at \d\d:\d\d:\d\d UTC$/);
      assert.deepEqual(lines.slice(2, 5), [
        "hint: It ended as `vlab down` ends a lab; start it again with `vlab up pair`",
        "EXITED 0",
        "vlab: No lab is running",
      ]);
      // Its hint, wrapped at 80 columns, says where it looked (the test's VLAB_STATE_DIR).
      assert.match(
        lines.slice(5, -1).join(""),
        /^hint: Start one with `vlab up` \(or `vlab up -d`\); this command looks for labs in \S+ \(VLAB_STATE_DIR\)/,
      );
      assert.equal(lines.at(-1), "EXITED AGAIN 1");
    } finally {
      await run(Deno.execPath(), vlabRunArgs(["down", "--all"]), { VLAB_STATE_DIR: stateDir });
      await t.close();
    }
  },
});
