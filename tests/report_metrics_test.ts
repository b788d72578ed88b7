/**
 * What a lab reports about itself once a script has stopped it: `lab.metrics()`, `lab.status()`
 * and `lab.snapshot()` (mod.ts) still answer, with the counters as the lab left them, and must not
 * say the lab is up or let its uptime run on.
 */

import assert from "node:assert/strict";
import { startLab } from "../mod.ts";
import { LAB_TEST } from "../lab/testing.ts";

/** The value of the one sample of `family` (no other labels than `lab`). */
function sample(text: string, family: string): number {
  const m = new RegExp(`^${family}\\{lab="[^"]*"\\} (\\S+)$`, "m").exec(text);
  assert.ok(m, `no ${family} in:\n${text.slice(0, 400)}`);
  return Number(m[1]);
}

Deno.test({
  name: "a stopped lab's metrics say vlab_up 0, and its uptime stops with it",
  ...LAB_TEST,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-report-metrics-" });
    const before = Deno.env.get("VLAB_STATE_DIR");
    Deno.env.set("VLAB_STATE_DIR", stateDir);
    try {
      const lab = await startLab({
        name: "report-stop",
        vms: { a: { nics: { eth0: { ip: "10.0.0.1/24" } } } },
      }, { stopOnSignals: false });
      assert.equal(sample(lab.metrics(), "vlab_up"), 1);
      await lab.stop();
      const stopped = lab.metrics();
      // It said 1 ("while the lab runs") of a lab that was gone.
      assert.equal(sample(stopped, "vlab_up"), 0);
      const uptime = sample(stopped, "vlab_uptime_seconds");
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(sample(lab.metrics(), "vlab_uptime_seconds"), uptime, "uptime ran on");
      assert.equal(lab.status().uptimeSeconds, uptime);
      assert.equal(lab.snapshot().lab.uptimeSeconds, uptime);
    } finally {
      if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", before);
      await Deno.remove(stateDir, { recursive: true });
    }
  },
});
