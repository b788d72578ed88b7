import assert from "node:assert/strict";
import { SeqTracker } from "./sink.ts";

function track(seqs: number[]) {
  const t = new SeqTracker();
  for (const s of seqs) t.observe(s);
  return { lost: t.lost, reordered: t.reordered, duplicated: t.duplicated };
}

Deno.test("SeqTracker counts gaps as lost, late arrivals as reordered, repeats as duplicates", () => {
  assert.deepEqual(track([0, 1, 2, 3]), { lost: 0, reordered: 0, duplicated: 0 });
  assert.deepEqual(track([0, 1, 3, 4]), { lost: 1, reordered: 0, duplicated: 0 });
  assert.deepEqual(track([0, 2, 1, 3]), { lost: 0, reordered: 1, duplicated: 0 });
  assert.deepEqual(track([0, 1, 1, 2, 0]), { lost: 0, reordered: 0, duplicated: 2 });
  assert.deepEqual(track([2, 3]), { lost: 2, reordered: 0, duplicated: 0 }); // lost at the start
});

Deno.test("SeqTracker forgets numbers that left its 65536-wide window", () => {
  assert.deepEqual(track([0, 70_000, 1]), { lost: 69_999, reordered: 1, duplicated: 0 });
  // Re-seen after the window slid past: bits were cleared, so 70_001 then 70_001 is a duplicate.
  assert.deepEqual(track([0, 70_000, 70_001, 70_001]), {
    lost: 69_999,
    reordered: 0,
    duplicated: 1,
  });
});
