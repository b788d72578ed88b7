/**
 * The dashboard in a real 40-column terminal: tmux runs `vlab up -d star` and `vlab dashboard`.
 * The header keeps the lab's counts (on two lines), and an event's details wrap under it rather
 * than being cut; resized to 100 columns, the header takes one line again; at 80x24 the ring view
 * of an idle queue marks its slot whole.
 *
 * Needs tmux (the test task installs it: tests/tools.ts).
 */

import assert from "node:assert/strict";
import { vlabRunArgs } from "../cli/deno_run.ts";
import { run } from "./tmux.ts";
import { dashboardTerminal } from "./dashboard_terminal.ts";

Deno.test({
  name: "the dashboard in a 40-column tmux pane keeps the header's counts and whole events",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const t = await dashboardTerminal("topologies/star.yaml", 40, 24, { attach: true });
    const { stateDir, waitFor } = t;
    try {
      // "vlab star · seed 1 · up 3s · 4 VMs ·…" lost the links and the switch.
      const first = await waitFor("the header", (s) => /^star · seed 1 · up /m.test(s));
      const header = first.split("\n").slice(0, 2).join(" ");
      assert.match(header, /4 VMs · 4 links/, first);
      assert.match(header, /1 switch/, first);
      const down = await run(Deno.execPath(), vlabRunArgs(["link", "h4-sw1", "down"]), {
        VLAB_STATE_DIR: stateDir,
      });
      assert.equal(down.code, 0, down.stderr);
      await t.keys("4");
      // Cut, an event read "… lab-up  star  seed=1 vms…"; the details now wrap under it.
      const events = await waitFor(
        "the link-down event",
        (s) => /^\d\d:\d\d:\d\d\.\d{3} link-down h4-sw1$/m.test(s),
      );
      const lines = events.split("\n");
      const at = lines.findIndex((l) => /^\d\d:\d\d:\d\d\.\d{3} lab-up star$/.test(l));
      assert.ok(at > 0, events);
      const details = lines.slice(at + 1, at + 5).join(" ");
      assert.match(details, /^ {2}seed=1 vms=4 switches=1 .*links=4 .*workersMs=\d/, events);
      for (const l of lines) assert.ok(!l.includes("…"), `cut: ${l}\n${events}`);
      await t.tmux("resize-window", "-t", "lab", "-x", "100", "-y", "24");
      await waitFor(
        "one header line at 100 columns",
        (s) => /^vlab star · seed 1 · .* · 1 switch/m.test(s),
      );
      // At 80x24 the ring view of an idle receiveq marks its one slot whole: avail.idx, the
      // device's next and used.idx all point there (it read "◀ avail,dev …").
      await t.tmux("resize-window", "-t", "lab", "-x", "80", "-y", "24");
      await t.keys("2");
      await waitFor("the Queues panel", (s) => /\[Queues\]/.test(s) && /▸ h1\/eth0 rx/.test(s));
      await t.keys("Enter");
      const ring = await waitFor("the ring view", (s) => /h1\/eth0 receiveq · split/.test(s));
      const marked = ring.split("\n").find((l) => l.includes("◀"));
      assert.match(marked ?? "", /^ *\d+ 0x[0-9a-f]+ .* ◀ avail,dev,used$/, ring);
      for (const l of ring.split("\n")) assert.ok([...l].length <= 80, l);
    } finally {
      await run(Deno.execPath(), vlabRunArgs(["down", "--all"]), { VLAB_STATE_DIR: stateDir });
      await t.close();
    }
  },
});
