/**
 * `vlab status` against what the lab itself knows: a switch's station count (from its counters)
 * is the MAC table `vlab fdb` shows, also once a port's link went down on an idle lab.
 */

import assert from "node:assert/strict";
import { formatStatus } from "../cli/status.ts";
import { labStatus } from "../lab/metrics.ts";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";
import { HeartbeatWatchdog } from "../lab/supervisor.ts";
import { createDoorbells } from "../lab/wire/doorbell.ts";

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
      // said "2 stations in its MAC table" of a table that held 1, for as long as the lab idled
      // (an idle switch publishes anyway within 5 s: a 5 s deadline passed the old code; 2.5 s
      // fails it, and leaves a loaded machine more than the 1 s it had for a message and a wake).
      await waitForValue("the flush in the switch's counters", () => {
        const s = labStatus(lab);
        return s.switches[0].counters.flushed === 1 ? s : null;
      }, 2500);
      assert.match(formatStatus(labStatus(lab)), /\(1 station in its MAC table: vlab fdb sw\)/);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "a watchdog frozen with its lab (kill -STOP, then -CONT) reports no worker hung for it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const bells = createDoorbells(1);
    const hung: number[] = [];
    const dog = new HeartbeatWatchdog(bells, { periodMs: 20, limitMs: 100 }, (t) => hung.push(t));
    dog.watch(0);
    dog.start();
    try {
      // The whole process stops (here: the main thread, synchronously), the worker with it: its
      // heartbeat cannot move. `vlab status` then said "backend restarted 1 time".
      const until = performance.now() + 300;
      while (performance.now() < until) { /* frozen */ }
      await new Promise((r) => setTimeout(r, 30));
      assert.deepEqual(hung, [], "a thread was declared hung for the time the process was frozen");
      // A thread that stays quiet once the process runs again is still caught.
      const deadline = performance.now() + 2000;
      while (hung.length === 0 && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.deepEqual(hung, [0]);
    } finally {
      dog.stop();
    }
  },
});
