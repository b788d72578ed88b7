import assert from "node:assert/strict";
import { CWakeup } from "./c_wakeup.ts";
import { runWakeupBench } from "./wakeup.ts";
import { printingProgram, usingBuilt } from "./c_testing.ts";

Deno.test("the C pair times every round trip, the bench adds its row last, bad arguments fail", async () => {
  await usingBuilt(CWakeup.build(), async (pair) => {
    const run = await pair.measure(200, 2);
    assert.equal(run.rttUs.length, 200);
    assert.ok(run.rttUs.every((us) => us > 0 && us < 1_000_000), String(run.rttUs));
    // The echo sleeps between rings (0.2 ms apart), so most rings find it asleep.
    assert.ok(run.wakes >= 100, `wakes ${run.wakes}`);

    const rows = await runWakeupBench({ modes: ["block"], rounds: 50, sliceMs: 2 }, pair);
    assert.deepEqual(rows.map((r) => r.mode), ["block", "c-futex"]);
    assert.equal(rows[1].rounds, 45, "a tenth dropped as warm-up, as for the workers");
    assert.ok(rows[1].p99Us >= rows[1].medianUs && rows[1].medianUs > 0);

    await assert.rejects(pair.measure(0, 2), /C futex: exit 2: usage: c_wakeup/);
  });
});

Deno.test("a C pair that loses a wake-up, misses rounds or prints nonsense fails", async () => {
  let stdout = "";
  await usingBuilt(CWakeup.build("cc", printingProgram(() => stdout)), async (pair) => {
    stdout = JSON.stringify({ rttUs: [10, 1_000_000], wakes: 1, late: 1 });
    await assert.rejects(pair.measure(2, 2), /1 round trips not answered within 1 s/);
    stdout = JSON.stringify({ rttUs: [10], wakes: 1, late: 0 });
    await assert.rejects(pair.measure(2, 2), /1 round trips timed of 2/);
    stdout = "{";
    await assert.rejects(pair.measure(2, 2), /unexpected output "\{"/);
  });
});
