import assert from "node:assert/strict";
import { LAB_TEST } from "../testing.ts";
import { DEFAULT_NET_OPTIONS, formatNetReport } from "./net.ts";
import { dashboardPing, priorityCell } from "./net_dashboard.ts";

Deno.test({
  name:
    "vlab bench net --dashboard: idle ping runs alternate without and with an attached dashboard, each leading a run in turn",
  ...LAB_TEST,
  fn: async () => {
    const attached: string[] = [];
    const calls: string[] = [];
    // Stands in for a `vlab dashboard` process: the bench must attach it to the registered lab
    // of each "with" run, open its window after the warm-up pings and detach it at the end.
    const groupPcts = [100, 40];
    const attach = (name: string) => {
      attached.push(name);
      const groupPct = groupPcts[attached.length - 1];
      return Promise.resolve({
        startWindow: () => void calls.push("window"),
        detach: () => {
          calls.push("detach");
          const used = { cpuPct: 1, updatesPerSecond: 10, terminal: "none" };
          return Promise.resolve({ ...used, priority: "idle group", groupPct });
        },
      });
    };
    const seen: string[] = [];
    const row = await dashboardPing(
      "split",
      { pings: 5, runs: 2, pollUs: 0, queueSize: 256 },
      attach,
      (w) => seen.push(w),
    );
    // Each leads a run in turn: without first in run 1, with first in run 2.
    assert.deepEqual(seen.map((w) => w.endsWith("without") ? "-" : "+"), ["-", "+", "+", "-"]);
    assert.deepEqual(attached, ["bench-ping-split", "bench-ping-split"]);
    assert.deepEqual(calls, ["window", "detach", "window", "detach"]);
    assert.equal(row.count, 5);
    assert.ok(row.medianUsWithout > 0 && row.medianUsWith > 0, JSON.stringify(row));
    assert.ok(row.p99UsWithout >= row.medianUsWithout, JSON.stringify(row));
    // How the dashboards ran: the median of their time in the idle group over the windows.
    assert.equal(row.dashboardPriority, "idle group");
    assert.equal(row.dashboardGroupPct, 70);
    const text = formatNetReport({
      date: "now",
      cpus: 2,
      options: DEFAULT_NET_OPTIONS,
      rows: [row],
    });
    assert.match(text, /ping, dashboard +count +median µs without +median µs with.* priority/);
    assert.match(text, /split +5 +\d+ +\d+ +\d+ +\d+ +idle group 70%/);
  },
});

Deno.test("the priority cell says the idle group's share of the windows only when it is not all", () => {
  assert.equal(
    priorityCell({ dashboardPriority: "idle group", dashboardGroupPct: 100 }),
    "idle group",
  );
  assert.equal(
    priorityCell({ dashboardPriority: "idle group", dashboardGroupPct: 99.6 }),
    "idle group",
  );
  assert.equal(
    priorityCell({ dashboardPriority: "idle group", dashboardGroupPct: 41.7 }),
    "idle group 42%",
  );
  assert.equal(priorityCell({ dashboardPriority: "idle", dashboardGroupPct: 0 }), "idle");
  assert.equal(priorityCell({ dashboardPriority: "nice 10", dashboardGroupPct: 0 }), "nice 10");
});
