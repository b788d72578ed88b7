/**
 * A link brought up while a VM at its end reboots after `vm-crash` with a boot time (`ms`) has no
 * carrier until that guest runs: its recovery is timed to the first frame after the boot, not
 * declared lost when the runner's 2 s watch runs out.
 */

import assert from "node:assert/strict";
import { runDrill } from "./run.ts";
import { inStateDir, LAB_TEST } from "../testing.ts";

Deno.test({
  name:
    "a link brought up during a VM's slow boot is timed to the boot's end, not left unrecovered",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-link-boot-", async () => {
      const r = await runDrill({
        topology: "pair",
        timeline: [
          {
            exec: {
              vm: "a",
              // Pings on 0.8 s past b's boot: frames to time the link's recovery by.
              argv: ["ping", "10.0.0.2", "-c", "40", "-i", "0.1", "-W", "0.2"],
              background: true,
              as: "ping",
            },
          },
          // b runs at 3.2 s, 0.8 s after the 2 s watch of the link (up at 400 ms) ran out.
          { at: "200ms", fault: { kind: "vm-crash", vm: "b", ms: 3000 } },
          { at: "300ms", link: { name: "a-b", state: "down", up_after: "100ms" } },
          { wait_for: { workload: "ping" } },
        ],
        assert: ["recovery.unrecovered == 0"],
      });
      // Before: 'link a-b: not recovered' (the watch ended 2 s after the link came up, 0.8 s
      // before b's guest ran), and the assertion failed.
      const link = r.recovery.find((s) => s.subject === "link a-b");
      assert.ok(link !== undefined, JSON.stringify(r.recovery));
      assert.ok(link.ms !== null && link.ms >= 2000, JSON.stringify(r.recovery));
      assert.deepEqual(r.assertions.map((a) => a.verdict), ["pass"], JSON.stringify(r.recovery));
    }),
});
