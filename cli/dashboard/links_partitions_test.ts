import assert from "node:assert/strict";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { linksLines } from "./links.tsx";
import { loadFixture } from "./testing.tsx";

Deno.test("the Links panel lists the partitions in force, one-way ones with an arrow", () => {
  const snap = loadFixture<LabSnapshot>("star_1");
  const text = (s: LabSnapshot) =>
    linksLines({ snapshot: s, rates: null, selected: 0, width: 80, height: 60, colors: false })
      .map((l) => l.map((x) => x.text).join("")).join("\n");
  assert.doesNotMatch(text(snap), /partition \d/);
  snap.partitions = [
    { id: 1, a: ["h1", "h2"], b: ["h3"], oneWay: false },
    { id: 3, a: ["h4"], b: ["h1"], oneWay: true },
  ];
  const shown = text(snap);
  assert.match(shown, /^ {2}partition 1 {2}h1,h2 ⇹ h3 {2}\(vlab heal to undo\)$/m);
  assert.match(shown, /^ {2}partition 3 {2}h4 → h1 {2}one way \(vlab heal to undo\)$/m);
});

Deno.test("at 60 columns a link's impairment goes to its own line instead of being cut", () => {
  const snap = loadFixture<LabSnapshot>("star_1");
  snap.links[0].forward.impair = "delay 5ms loss 10% rate 1mbit";
  const lines = linksLines({
    snapshot: snap,
    rates: null,
    selected: 0,
    width: 60,
    height: 60,
    colors: false,
  })
    .map((l) => l.map((x) => x.text).join(""));
  const i = lines.findIndex((l) => l.includes(snap.links[0].forward.from + " → "));
  assert.ok(i > 0, lines.join("\n"));
  assert.ok(Array.from(lines[i]).length <= 60, lines[i]);
  assert.equal(lines[i + 1], "      impairment delay 5ms loss 10% rate 1mbit");
  // No impairment: nothing worth a line of its own.
  const j = lines.findIndex((l) => l.includes(snap.links[0].reverse.from + " → "));
  assert.ok(!lines[j].includes("impair") && !lines[j + 1].includes("impair"), lines.join("\n"));
  // At 80 columns both stay beside the rates.
  const wide = linksLines({
    snapshot: snap,
    rates: null,
    selected: 0,
    width: 80,
    height: 60,
    colors: false,
  })
    .map((l) => l.map((x) => x.text).join(""));
  assert.ok(wide.some((l) => / → .*delay 5ms loss 10% rate 1mbit$/.test(l)), wide.join("\n"));
});

Deno.test("the Links panel shows a direction's duplicated and reordered frames beside its drops", () => {
  const snap = loadFixture<LabSnapshot>("star_1");
  const text = (s: LabSnapshot) =>
    linksLines({ snapshot: s, rates: null, selected: 0, width: 160, height: 60, colors: false })
      .map((l) => l.map((x) => x.text).join("")).join("\n");
  assert.doesNotMatch(text(snap), /duplicated|reordered/);
  snap.links[0].forward.duplicated = 12;
  snap.links[0].reverse.reordered = 3;
  const shown = text(snap);
  assert.match(shown, /duplicated 12/);
  assert.match(shown, /reordered 3/);
});

Deno.test("at 40 columns a partition wraps between its words, every VM and how to undo it shown", () => {
  // Cut, it read "  partition 1  h1,h2 ⇹ h3,h4  (vlab he…".
  const snap = loadFixture<LabSnapshot>("star_1");
  snap.partitions = [
    { id: 1, a: ["h1", "h2"], b: ["h3", "h4"], oneWay: false },
    { id: 2, a: ["a-long-vm-name", "another-very-long-vm-name"], b: ["h4"], oneWay: true },
  ];
  const lines = linksLines({
    snapshot: snap,
    rates: null,
    selected: 0,
    width: 40,
    height: 80,
    colors: false,
  }).map((l) => l.map((x) => x.text).join(""));
  for (const l of lines) assert.ok(Array.from(l).length <= 40 && !l.includes("…"), `cut: ${l}`);
  const at = lines.findIndex((l) => l.startsWith("  partition 1 "));
  assert.ok(at > 0, lines.join("\n"));
  assert.equal(lines[at], "  partition 1 h1,h2 ⇹ h3,h4");
  assert.equal(lines[at + 1], "    (vlab heal to undo)");
  const two = lines.slice(at + 2, at + 5).map((l) => l.trim()).join(" ");
  assert.equal(
    two,
    "partition 2 a-long-vm-name, another-very-long-vm-name → h4 one way (vlab heal to undo)",
  );
});
