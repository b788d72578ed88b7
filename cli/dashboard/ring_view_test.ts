import assert from "node:assert/strict";
import type { RingView } from "../../lab/snapshot_types.ts";
import { ringLines } from "./ring_view.tsx";
import { loadFixture } from "./testing.tsx";

function rows(width: number): string[] {
  const ring = loadFixture<RingView>("ring_split");
  return ringLines({
    ring,
    title: "a/eth0 receiveq",
    scroll: null,
    width,
    height: 30,
    colors: false,
  })
    .map((l) => l.map((s) => s.text).join(""));
}

Deno.test("at 60 columns the split ring view keeps the avail and used rings (the address goes)", () => {
  const lines = rows(60);
  const header = lines.find((l) => l.includes("owner"))!;
  assert.match(header, /owner +│ +avail\[#\] +used\[#\]/, header);
  const table = lines.filter((l) => /^ +\d+ /.test(l));
  assert.ok(table.length > 0, lines.join("\n"));
  // The rings' cells fit; a marker after them may be cut (the lines above name each index).
  for (const l of table) {
    const cells = l.split(" ◀")[0];
    assert.ok(Array.from(cells).length <= 60, `wider than 60: "${cells}"`);
    assert.match(cells, /│ +\d+ +\d+:\d+$/, cells);
  }
  // From 80 columns the addresses are there too.
  assert.ok(rows(80).some((l) => /^ +\d+ 0x[0-9a-f]+ /.test(l)));
  assert.ok(!table.some((l) => / 0x[0-9a-f]{8} /.test(l)));
});
