import assert from "node:assert/strict";
import { CRing } from "./c_ring.ts";
import { DEFAULT_RINGS_OPTIONS, runRingsBench } from "./rings.ts";
import { printingProgram, usingBuilt } from "./c_testing.ts";

const REQUESTS = 20_000;
const NOTIFY_REQUESTS = 5_000;

for (const layout of ["split", "packed"] as const) {
  Deno.test(`the C ring moves every request in order and times each run [${layout}]`, async () => {
    await usingBuilt(CRing.build(), async (ring) => {
      const cases = [
        { batch: 1, outstanding: false, payload: false, notify: false },
        { batch: 7, outstanding: true, payload: false, notify: false },
        { batch: 64, outstanding: false, payload: true, notify: false },
        { batch: 16, outstanding: true, payload: true, notify: false },
        // Notify mode sleeps in slices of 2 ms: a lost wake-up costs a request 2 ms, so a ring
        // that loses them runs into the 5 s deadline (a truncated run) within these requests.
        { batch: 1, outstanding: false, payload: false, notify: true },
        { batch: 7, outstanding: true, payload: true, notify: true },
        { batch: 16, outstanding: false, payload: false, notify: true },
      ];
      let notified = 0;
      for (const { batch, outstanding, payload, notify } of cases) {
        // A queue size that is not a power of two makes packed wrap at an odd slot.
        const queueSize = layout === "packed" ? 100 : 128;
        const p = await ring.point({
          layout,
          queueSize,
          batch,
          runs: 2,
          requests: notify ? NOTIFY_REQUESTS : REQUESTS,
          outstanding,
          payload,
          notify,
        });
        const what = `batch ${batch}${outstanding ? " outstanding" : ""}${
          payload ? " payload" : ""
        }${notify ? " notify" : ""}`;
        assert.equal(p.checkedRequests, 3 * (notify ? NOTIFY_REQUESTS : REQUESTS), what);
        assert.equal(p.truncatedRuns, 0, what);
        // Notifications are delivered in notify mode only (how many depends on how often a side
        // fell asleep: none when the other kept it busy), at most one kick a batch.
        for (const k of [...p.kicksPerRun, ...p.interruptsPerRun]) {
          assert.ok(notify ? k >= 0 && k <= 1 : k === 0, `${what}: ${k} notifications a request`);
        }
        if (notify) notified += [...p.kicksPerRun, ...p.interruptsPerRun].reduce((a, b) => a + b);
        assert.equal(p.nsPerRun.length, 2);
        assert.ok(p.nsPerRun.every((ns) => ns > 0 && ns < 1e6), String(p.nsPerRun));
        assert.ok(p.handoffNs > 0);
      }
      assert.ok(notified > 0, "no kick or interrupt was delivered in notify mode");
    });
  });
}

Deno.test("the C ring refuses a split queue whose size is not a power of two", async () => {
  await usingBuilt(CRing.build(), async (ring) => {
    await assert.rejects(
      ring.point({
        layout: "split",
        queueSize: 100,
        batch: 1,
        runs: 1,
        requests: 10,
        outstanding: false,
        payload: false,
        notify: false,
      }),
      /C split batch 1: exit 2: usage: c_ring/,
    );
  });
});

Deno.test("a C ring that finds requests out of order or prints nonsense fails the point", async () => {
  let stdout = "";
  await usingBuilt(CRing.build("cc", printingProgram(() => stdout)), async (ring) => {
    const req = {
      layout: "packed" as const,
      queueSize: 8,
      batch: 1,
      runs: 1,
      requests: 8,
      outstanding: false,
      payload: false,
      notify: false,
    };
    stdout = JSON.stringify({
      ns: [10],
      kicksPerRequest: [0],
      interruptsPerRequest: [0],
      handoffNs: 50,
      checked: 16,
      tokenErrors: 0,
      seqErrors: 3,
      truncated: 0,
      kickDecisions: 0,
      interruptDecisions: 0,
    });
    await assert.rejects(ring.point(req), /0 tokens and 3 sequence numbers out of order/);
    stdout = "not json";
    await assert.rejects(ring.point(req), /unexpected output "not json"/);
  });
});

Deno.test("bench rings --vs-c times each poll point through both rings", async () => {
  const report = await runRingsBench({
    ...DEFAULT_RINGS_OPTIONS,
    batches: [1, 16],
    runs: 1,
    requests: REQUESTS,
    vsC: true,
  });
  assert.equal(report.c?.ran, true);
  assert.equal(report.results.length, 4);
  const leads: boolean[] = [];
  for (const row of report.results) {
    assert.ok(row.c !== undefined, `${row.layout} batch ${row.batch} has no C figures`);
    assert.equal(row.c.checkedRequests, 2 * REQUESTS);
    assert.ok(row.c.nsPerRequest.median > 0);
    leads.push(row.c.ranFirst);
  }
  // The rings take turns leading a point.
  assert.deepEqual(leads, [false, true, false, true]);
});

Deno.test("bench rings --vs-c times notify points through the C ring too", async () => {
  const report = await runRingsBench({
    ...DEFAULT_RINGS_OPTIONS,
    modes: ["notify"],
    layouts: ["packed"],
    batches: [4],
    runs: 1,
    requests: NOTIFY_REQUESTS,
    vsC: true,
  });
  assert.equal(report.c?.ran, true);
  const [row] = report.results;
  assert.equal(row.mode, "notify");
  assert.ok(row.c !== undefined, "the notify row has no C figures");
  assert.equal(row.c.checkedRequests, 2 * NOTIFY_REQUESTS);
  assert.equal(row.c.truncatedRuns, 0);
});

Deno.test("bench rings --vs-c skips the C ring, saying why, where it does not apply", async () => {
  const report = await runRingsBench({
    ...DEFAULT_RINGS_OPTIONS,
    layouts: ["packed"],
    batches: [4],
    runs: 1,
    requests: 2_000,
    sameCore: true,
    vsC: true,
  });
  assert.deepEqual(report.c, {
    ran: false,
    reason: "the C ring runs on two cores, not with --same-core",
  });
  assert.equal(report.results[0].c, undefined);
});
