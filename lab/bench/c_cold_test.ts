import assert from "node:assert/strict";
import { CCold, formatColdTable } from "./c_cold.ts";
import { printingProgram, usingBuilt } from "./c_testing.ts";

Deno.test("the C memory walk gives one point per sleep, cold and warm; bad arguments fail", async () => {
  await usingBuilt(CCold.build(), async (walker) => {
    const run = await walker.measure(64, [200, 1_000]);
    assert.equal(run.lines, 64);
    assert.deepEqual(run.points.map((p) => p.sleepUs), [200, 1_000]);
    // About two seconds' worth of rounds, at most 200, a tenth left out as warm-up.
    assert.deepEqual(run.points.map((p) => p.rounds), [180, 180]);
    for (const p of run.points) {
      assert.ok(p.coldNs > 0 && p.warmNs > 0, JSON.stringify(p));
      assert.ok(p.warmNs < 10_000, `a warm line in ${p.warmNs} ns`);
    }
    await assert.rejects(walker.measure(8, [200]), /C memory walk: exit 2: usage: c_cold/);
    await assert.rejects(walker.measure(64, [0]), /exit 2/);
  });
});

Deno.test("a C memory walk that answers for other sleeps or prints nonsense fails", async () => {
  let stdout = "";
  await usingBuilt(CCold.build("cc", printingProgram(() => stdout)), async (walker) => {
    const point = { sleepUs: 200, rounds: 18, coldNs: 9, warmNs: 4 };
    stdout = JSON.stringify({ lines: 64, points: [point] });
    assert.deepEqual((await walker.measure(64, [200])).points, [point]);
    await assert.rejects(
      walker.measure(64, [200, 1_000]),
      /measured 64 lines after sleeps of 200 µs, asked 64 after 200,1000/,
    );
    await assert.rejects(walker.measure(128, [200]), /measured 64 lines/);
    stdout = "{";
    await assert.rejects(walker.measure(64, [200]), /unexpected output "\{"/);
  });
});

Deno.test("the memory table gives each sleep in ms, ns a line cold and warm, and their ratio", () => {
  const table = formatColdTable({
    lines: 256,
    points: [
      { sleepUs: 200, rounds: 180, coldNs: 7.59, warmNs: 3.91 },
      { sleepUs: 100_000, rounds: 18, coldNs: 281, warmNs: 4.5 },
    ],
  });
  assert.match(table, /^memory after a sleep \(C: 256 cache lines/);
  assert.match(table, /^ +0\.2 +180 +7\.6 +3\.9 +1\.9$/m);
  assert.match(table, /^ +100 +18 +281\.0 +4\.5 +62\.4$/m);
});
