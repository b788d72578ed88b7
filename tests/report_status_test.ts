/**
 * `vlab status` against what the lab itself knows: a switch's station count (from its counters)
 * is the MAC table `vlab fdb` shows, also once a port's link went down on an idle lab.
 */

import assert from "node:assert/strict";
import { formatStatus } from "../cli/status.ts";
import { labStatus } from "../lab/metrics.ts";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";

Deno.test({
  name: "a switch port going down on an idle lab: status counts the flushed stations at once",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "report-flush",
      vms: {
        a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      switches: { sw: {} },
      links: [{ endpoints: ["a", "sw"] }, { endpoints: ["b", "sw"] }],
    });
    try {
      const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1"]);
      assert.ok(r.ok, r.ok ? "" : r.message);
      const learned = () => labStatus(lab).switches[0].counters.learned ?? 0;
      await waitForValue("both stations learned", () => learned() === 2 ? true : null);
      assert.ok(lab.setLink("a-sw", false));
      const table = await lab.macTable("sw");
      assert.equal(table?.macs.length, 1, JSON.stringify(table));
      // No frame moves now: the switch published its flush only with its next work, so status
      // said "2 stations in its MAC table" of a table that held 1, for as long as the lab idled.
      await waitForValue("the flush in the switch's counters", () => {
        const s = labStatus(lab);
        return s.switches[0].counters.flushed === 1 ? s : null;
      }, 1000);
      assert.match(formatStatus(labStatus(lab)), /\(1 station in its MAC table: vlab fdb sw\)/);
    } finally {
      await lab.stop();
    }
  },
});
