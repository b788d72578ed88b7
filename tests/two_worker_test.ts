/**
 * The real rings across two workers: a guest-driver worker and a device worker move 100,000
 * requests over each layout through shared memory, and both sides check every sequence number.
 */
import assert from "node:assert/strict";
import { DEFAULT_RINGS_OPTIONS, runRingsBench } from "../lab/bench/rings.ts";

const REQUESTS = 100_000;

for (const layout of ["split", "packed"] as const) {
  Deno.test(`moves ${REQUESTS} requests between two workers in order [${layout}]`, async () => {
    const report = await runRingsBench({
      ...DEFAULT_RINGS_OPTIONS,
      layouts: [layout],
      batches: [1, 16],
      modes: ["poll", "notify"],
      runs: 1,
      requests: REQUESTS,
      payload: true,
    });
    assert.equal(report.results.length, 4);
    for (const row of report.results) {
      // A warm-up run and one timed run, every request checked on both sides.
      assert.equal(row.truncatedRuns, 0, `${row.mode} batch ${row.batch} hit its deadline`);
      assert.equal(row.checkedRequests, 2 * REQUESTS, `${row.mode} batch ${row.batch}`);
      assert.ok(row.nsPerRequest.median > 0);
      if (row.mode === "poll") {
        assert.equal(row.kicksPerRequest, 0);
        assert.equal(row.interruptsPerRequest, 0);
      } else {
        // Event suppression: at most one kick and one interrupt per batch.
        assert.ok(row.kicksPerRequest > 0 && row.kicksPerRequest <= 1 / row.batch + 0.01);
        assert.ok(row.interruptsPerRequest > 0 && row.interruptsPerRequest <= 1 / row.batch + 0.01);
      }
    }
  });
}
