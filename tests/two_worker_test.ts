/**
 * The real rings across two workers: a guest-driver worker and a device worker move 100,000
 * requests over each layout through shared memory, and both sides check every sequence number.
 */

// test-shards: alone (two workers busy-poll a core each, against a deadline)
import assert from "node:assert/strict";
import { DEFAULT_RINGS_OPTIONS, runRingsBench } from "../lab/bench/rings.ts";
import type { RingMode, RingsBenchRow } from "../lab/bench/types.ts";

const REQUESTS = 100_000;

async function run(
  layout: "split" | "packed",
  mode: RingMode,
  batches: number[],
  requests: number,
): Promise<RingsBenchRow[]> {
  const report = await runRingsBench({
    ...DEFAULT_RINGS_OPTIONS,
    layouts: [layout],
    batches,
    modes: [mode],
    runs: 1,
    requests,
    payload: true,
  });
  assert.equal(report.results.length, batches.length);
  for (const row of report.results) {
    // A warm-up run and one timed run, every request checked on both sides.
    assert.equal(row.truncatedRuns, 0, `${row.mode} batch ${row.batch} hit its deadline`);
    assert.equal(row.checkedRequests, 2 * requests, `${row.mode} batch ${row.batch}`);
    assert.ok(row.nsPerRequest.median > 0);
    assert.ok(row.handoffNs > 0);
  }
  return report.results;
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`moves ${REQUESTS} requests between two busy-polling workers in order [${layout}]`, async () => {
    for (const row of await run(layout, "poll", [1, 16], REQUESTS)) {
      assert.equal(row.kicksPerRequest, 0);
      assert.equal(row.interruptsPerRequest, 0);
    }
  });

  Deno.test(`sleeping workers wake on every kick and interrupt, one of each per batch [${layout}]`, async () => {
    // Batch 1 costs a wait/notify round trip per request (about 45 µs): fewer requests there.
    const rows = [
      ...await run(layout, "notify", [1], 20_000),
      ...await run(layout, "notify", [16], REQUESTS),
    ];
    for (const row of rows) {
      // Event suppression: at most one kick and one interrupt per batch, and some of each.
      assert.ok(row.kicksPerRequest > 0 && row.kicksPerRequest <= 1 / row.batch + 0.01);
      assert.ok(row.interruptsPerRequest > 0 && row.interruptsPerRequest <= 1 / row.batch + 0.01);
    }
  });
}
