/**
 * An idle VM with a vIOMMU lets its device worker sleep: the virtio-iommu eventq's buffers (kept
 * stocked by the driver for fault reports) are not work. They used to count as pending, so the
 * device worker of every such VM spun (tens of thousands of loop passes a second, a core burnt)
 * and, never returning to its event loop, never took a control message (`vlab fault
 * backend-crash` was ignored).
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { LAB_TEST, waitForValue } from "../lab/testing.ts";
import { DoorbellWord } from "../lab/wire/doorbell.ts";

Deno.test({
  name: "an idle VM with a vIOMMU lets its device worker sleep, hears control messages, restarts",
  ...LAB_TEST,
  fn: async () => {
    const text = Deno.readTextFileSync(new URL("../topologies/iommu-pair.yaml", import.meta.url));
    const t = parseTopology(text, "iommu-pair.yaml");
    assert.ok(t.ok);
    const plan = planLab(t.value);
    const lab = await Lab.start(plan, { readyTimeoutMs: 20_000 });
    try {
      const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1"]);
      assert.ok(ping.ok);
      const passes = () => lab.threadWord(plan.vms[0].deviceThread, DoorbellWord.HEARTBEAT) >>> 0;
      const before = passes();
      await new Promise((r) => setTimeout(r, 500));
      const idle = passes() - before;
      assert.ok(idle < 200, `the idle device worker made ${idle} loop passes in 0.5 s`);
      // It hears control messages: a backend crash is taken (the worker exits at once).
      assert.ok((await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" })).ok);
      await waitForValue(
        "a's backend-crash event",
        () =>
          lab.events.recent().find((e) => e.kind === "backend-crash" && e.subject === "a") ?? null,
      );
      // The replacement runs (it used to fail, silently, registering the IOTLB consumers again),
      // and the NIC behind the vIOMMU carries traffic through the tables that outlived the crash.
      const after = await waitForValue(
        "a's restart outcome",
        () =>
          lab.events.recent().find((e) =>
            /^backend-restart(ed|-failed)$/.test(e.kind) && e.subject === "a"
          ) ?? null,
      );
      assert.equal(after.kind, "backend-restarted", JSON.stringify(after.detail));
      const again = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(again.ok && (again.result as { received: number }).received === 2);
    } finally {
      await lab.stop();
    }
  },
});
