import assert from "node:assert/strict";
import { formatRecoveryReport, quantiles, runRecoveryBench } from "./recovery.ts";
import { LAB_TEST } from "../testing.ts";

Deno.test("quantiles: median and nearest-rank p99 of durations", () => {
  assert.deepEqual(quantiles([3, 1, 2]), { count: 3, median: 2, p99: 3, max: 3 });
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(quantiles(hundred).p99, 99);
  assert.equal(quantiles(hundred).median, 50);
  assert.equal(quantiles([]).count, 0);
});

Deno.test({
  ...LAB_TEST,
  name: "recovery bench smoke: 3 crashes under a flood lose nothing, 3 corruptions each reset",
  fn: async () => {
    const r = await runRecoveryBench({ crashes: 3, corruptions: 3, ratePps: 5000 });
    assert.ok(r.crash && r.corruption);
    assert.equal(r.crash.pauseMs.count, 3);
    assert.equal(r.crash.lost, 0);
    assert.equal(r.crash.duplicated, 0);
    assert.equal(r.crash.received, r.crash.sent);
    assert.ok(r.crash.sent > 0);
    assert.equal(r.corruption.resetMs.count, 3);
    assert.equal(r.corruption.failed, 0);
    assert.ok(r.corruption.otherPpsBefore > 0 && r.corruption.otherPpsDuring > 0);
    const text = formatRecoveryReport(r);
    assert.match(text, /^\| backend crashes \|/m);
    assert.match(text, /^\| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| \d+ \| \d+ \| 0 \| 0 \|$/m);
    assert.match(text, /^\| ring corruptions \|/m);
    // Where the pause went: each phase of the restarts, by its median.
    assert.deepEqual(Object.keys(r.crash.phaseMedianMs).sort(), [
      "fenceMs",
      "firstWorkMs",
      "readyMs",
      "restoreMs",
      "startMs",
    ]);
    assert.match(text, /^Pause phases, median ms: fence [\d.]+, start [\d.]+, restore [\d.]+/m);
  },
});

Deno.test("bench recovery options: counts within bounds, a bad one names its option", async () => {
  const { parseRecoveryOptions } = await import("../../cli/bench_recovery.ts");
  const { VlabError } = await import("../../cli/errors.ts");
  assert.deepEqual(parseRecoveryOptions({ crashes: "3", corruptions: "0", rate: "5000" }), {
    crashes: 3,
    corruptions: 0,
    ratePps: 5000,
  });
  assert.throws(
    () => parseRecoveryOptions({ crashes: "x", corruptions: "0", rate: "5000" }),
    (e) => e instanceof VlabError && e.code === "bad-option" && e.message.startsWith("--crashes"),
  );
});
