/**
 * The Queues panel's columns: a queue's full name is shown when the screen has room for it
 * (a virtio-iommu device's requestq, a vsock device's event queue), and a narrow terminal keeps
 * every row within its width with the occupancy percentage.
 */
import assert from "node:assert/strict";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { queueColumns, queuesLines } from "./queues.tsx";
import { fixtureData, loadFixture } from "./testing.tsx";

/** The recorded pair snapshot with a virtio-iommu device added to VM a. */
function withIommu(): LabSnapshot {
  const snap = loadFixture<LabSnapshot>("pair_1");
  const nic = snap.vms[0].devices[0];
  snap.vms[0].devices.push({
    ...nic,
    nic: "iommu0",
    kind: "virtio-iommu",
    mac: null,
    ip: null,
    link: null,
    queues: ["requestq", "eventq"].map((name, index) => ({ ...nic.queues[0], index, name })),
  });
  return snap;
}

function text(snapshot: LabSnapshot, width: number): string[] {
  return queuesLines({
    snapshot,
    rates: null,
    history: null,
    selected: 0,
    width,
    height: 40,
    colors: false,
  })
    .map((l) => l.map((s) => s.text).join(""));
}

Deno.test("the Queues panel shows a queue's full name when there is room (a/iommu0 requestq)", () => {
  for (const width of [80, 140]) {
    const lines = text(withIommu(), width);
    assert.ok(lines.some((l) => /a\/iommu0 requestq +split/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /a\/iommu0 eventq +split/.test(l)), lines.join("\n"));
    assert.ok(lines.every((l) => !l.includes("…") || l.startsWith("split:")), lines.join("\n"));
  }
});

Deno.test("at 60 columns every queue row fits and keeps its occupancy percentage", () => {
  const lines = text(loadFixture<LabSnapshot>("pair_1"), 60);
  // The header and the queue rows (the legend below is cut by <Lines>, as any long text).
  const rows = lines.filter((l) => /^[ ▸] [ab]\/eth0 (rx|tx) /.test(l));
  assert.equal(rows.length, 4, lines.join("\n"));
  for (const l of [lines[0], ...rows]) {
    assert.ok(Array.from(l).length <= 60, `wider than 60: "${l}"`);
  }
  for (const r of rows) assert.match(r, / \d+%$/, r);
});

Deno.test("queueColumns gives the name what it needs and the sparkline the rest", () => {
  assert.deepEqual(queueColumns(["a/eth0 rx"], 80, 0), { nameW: 9, sparkW: 23 });
  assert.deepEqual(queueColumns(["a/eth0 rx", "a/iommu0 requestq"], 80, 0), {
    nameW: 17,
    sparkW: 15,
  });
  assert.deepEqual(queueColumns(["x".repeat(40)], 200, 0).nameW, 24);
  assert.deepEqual(queueColumns(["a/eth0 rx"], 56, 0), { nameW: 9, sparkW: 0 });
  // A compact row (below 57 columns) gives the name the room the counts left.
  assert.deepEqual(queueColumns(["h1/eth0 rx"], 40, 0), { nameW: 10, sparkW: 0 });
});

Deno.test("the Queues legend shows whole items for the lab's layouts, never a cut one", () => {
  // At 80 columns it read "… packed: device's next slots, w =…" on a lab with no packed queue.
  const legend = (snapshot: LabSnapshot, width: number) => text(snapshot, width).at(-1);
  const pair = loadFixture<LabSnapshot>("pair_1");
  assert.equal(legend(pair, 80), "split: avail/used = avail.idx/used.idx (u16) · enter: ring view");
  assert.equal(legend(pair, 40), "split: avail.idx/used.idx · enter: ring");
  const mixed = structuredClone(pair);
  mixed.vms[1].devices[0].queues = mixed.vms[1].devices[0].queues.map((q) => ({
    ...q,
    layout: "packed" as const,
  }));
  assert.equal(
    legend(mixed, 140),
    "split: avail/used = avail.idx/used.idx (u16) · packed: device's next slots, w = wrap counter · enter: ring view",
  );
  assert.equal(
    legend(mixed, 80),
    "split: avail.idx/used.idx · packed: next slots, w = wrap · enter: ring",
  );
  for (const width of [40, 60, 80, 100, 120]) {
    const l = legend(mixed, width) ?? "";
    assert.ok(!l.includes("…") && Array.from(l).length <= width, `${width}: "${l}"`);
  }
});

Deno.test("the occupancy column's title is whole beside a narrow sparkline", () => {
  // Long queue names left the sparkline 2 columns at 120: the title read "occupancy (…".
  const lines = text(withIommu(), 120);
  assert.ok(!lines[0].includes("…"), lines[0]);
  assert.match(lines[0], / occupancy +req\/s/);
  assert.match(text(withIommu(), 140)[0], / occupancy \(60 s\) +req\/s/);
});

Deno.test("below 57 columns a queue's counts go to the line below with its rates, wrapped, never cut", () => {
  // At 40 columns a row ended after used.idx ("1 …") and its rates after "ir…".
  const d = fixtureData("pair");
  for (const width of [40, 56]) {
    const lines = queuesLines({
      snapshot: d.snapshot!,
      rates: d.rates,
      history: d.history,
      selected: 0,
      width,
      height: 40,
      colors: false,
    }).map((l) => l.map((s) => s.text).join("")).slice(0, -1); // the legend has its own test
    for (const l of lines) {
      assert.ok(!l.includes("…") && Array.from(l).length <= width, `${width}: "${l}"`);
    }
    assert.match(lines[0], /^ {2}queue +layout +size +avail +used$/);
    const row = lines.findIndex((l) => /^▸ a\/eth0 rx +split +256 +\d+ +\d+$/.test(l));
    assert.ok(row > 0, lines.join("\n"));
    const below = lines.slice(row + 1, row + 4).join(" ");
    assert.match(below, /infl \d+ +pend \d+ +occ \d+%/);
    assert.match(below, /saved \S+/, "the last rate too");
  }
});
