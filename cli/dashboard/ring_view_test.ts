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
  const table = lines.filter((l) => /^ *\d+ /.test(l));
  assert.ok(table.length > 0, lines.join("\n"));
  // The rings' cells fit; a marker after them may be cut (the lines above name each index).
  for (const l of table) {
    const cells = l.split(" ◀")[0];
    assert.ok(Array.from(cells).length <= 60, `wider than 60: "${cells}"`);
    assert.match(cells, /│ +\d+ +\d+:\d+$/, cells);
  }
  // From 80 columns the addresses are there too.
  assert.ok(rows(80).some((l) => /^ *\d+ 0x[0-9a-f]+ /.test(l)));
  assert.ok(!table.some((l) => / 0x[0-9a-f]{8} /.test(l)));
});

for (const fixture of ["ring_split", "ring_packed"] as const) {
  for (const width of [40, 80, 119, 120, 200]) {
    Deno.test(`the ${fixture} legend at ${width} columns ends at an item, never mid-sentence`, () => {
      // Below 120 columns it was cut at 3 lines: "… fills next; ◀ device" (at 120, at 2 lines).
      const ring = loadFixture<RingView>(fixture);
      const lines = ringLines({ ring, title: "t", scroll: null, width, height: 30, colors: false })
        .map((l) => l.map((s) => s.text).join(""));
      const at = lines.findIndex((l) => l.startsWith("owner: driver = "));
      assert.ok(at > 0, lines.join("\n"));
      const legend = lines.slice(at);
      assert.ok(legend.length <= (width >= 120 ? 2 : 3), legend.join("\n"));
      for (const l of legend) assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
      assert.match(legend[legend.length - 1], /\.$/, legend.join("\n"));
      // From 80 columns every item is there: the markers' one too.
      if (width >= 80) {
        assert.match(
          legend.join(" "),
          fixture === "ring_split" ? /◀ device next \(dev\): / : /◀ next avail/,
        );
      }
    });
  }
}

Deno.test("at 80 columns a packed row marked both next avail and next used is not cut", () => {
  // "◀ next avail w1,next used …": one column short; the shortest form drops "next".
  const ring = structuredClone(loadFixture<RingView>("ring_packed"));
  ring.deviceNextUsed = ring.deviceNextAvail;
  const lines = ringLines({
    ring,
    title: "p1/eth0 transmitq",
    scroll: null,
    width: 80,
    height: 30,
    colors: false,
  })
    .map((l) => l.map((s) => s.text).join(""));
  const marked = lines.find((l) => l.includes("◀"));
  assert.ok(marked !== undefined, lines.join("\n"));
  assert.ok(!marked.includes("…") && Array.from(marked).length <= 80, marked);
  assert.match(marked, /◀ (next )?avail w[01].*(next )?used w[01]$/, marked);
});

Deno.test("at 40 columns each descriptor takes two lines: the rings' slots and the owner stay", () => {
  // Cut, a split row ended "free   │  …": the avail and used rings were gone; a packed row
  // (41 columns) lost the last letter of its owner.
  for (const fixture of ["ring_split", "ring_packed"] as const) {
    const ring = loadFixture<RingView>(fixture);
    const lines = ringLines({
      ring,
      title: "q",
      scroll: null,
      width: 40,
      height: 20,
      colors: false,
    })
      .map((l) => l.map((s) => s.text).join(""));
    for (const l of lines) assert.ok(Array.from(l).length <= 40, `wider than 40: "${l}"`);
    const heads = lines.flatMap((l, i) => /^ +\d+ +\d+ [A-Z-]/.test(l) ? [i] : []);
    assert.ok(heads.length >= 3, lines.join("\n"));
    for (const i of heads) {
      const below = lines[i + 1];
      if (fixture === "ring_split") {
        assert.match(below, /^ {4}(driver|device|free) +\d+ +\d+:\d+( ◀ .*)?$/, lines.join("\n"));
      } else assert.match(below, /^ {4}(driver|device|free)( +◀ .*)?$/, lines.join("\n"));
    }
    assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
  }
});

Deno.test("at 40 columns the ring view's title wraps: a served queue still says by whom", () => {
  // Cut, it read "a/eth0 receiveq · split · 256 entries…".
  const ring = { ...loadFixture<RingView>("ring_split"), servedBy: "b:eth0 over vhost-pci a-b" };
  const lines = ringLines({
    ring,
    title: "a/eth0 receiveq",
    scroll: null,
    width: 40,
    height: 20,
    colors: false,
  }).map((l) => l.map((s) => s.text).join(""));
  assert.equal(lines[0], "a/eth0 receiveq · split · 256 entries");
  assert.equal(lines[1], "  · served by b:eth0 over vhost-pci a-b");
});

/** The split fixture with nothing in flight: avail.idx, the device's next and used.idx at one slot. */
function idleSplit(): RingView {
  const ring = structuredClone(loadFixture<RingView>("ring_split"));
  ring.availIdx = ring.deviceNextAvail;
  ring.usedIdx = ring.deviceNextAvail;
  ring.deviceNextUsed = ring.deviceNextAvail;
  return ring;
}

function text(ring: RingView, width: number, height: number): string[] {
  return ringLines({ ring, title: "a/eth0 receiveq", scroll: null, width, height, colors: false })
    .map((l) => l.map((s) => s.text).join(""));
}

Deno.test("at 80 columns an idle split ring marks its one slot whole, one line a descriptor", () => {
  // It read "◀ avail,dev …": avail.idx, the device's next and used.idx all point at slot 40.
  for (const [width, height] of [[80, 24], [100, 30]] as const) {
    const lines = text(idleSplit(), width, height);
    for (const l of lines) assert.ok(Array.from(l).length <= width, `wider than ${width}: "${l}"`);
    const marked = lines.find((l) => l.includes("◀"));
    assert.ok(marked !== undefined, lines.join("\n"));
    assert.match(
      marked,
      /^ *40 0x0040a000 .*│ +80 +80:0 ◀ avail(,dev|,dev next| · device next)(,| · )used$/,
      marked,
    );
    assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
    // "dev" is in the legend.
    assert.match(lines.join(" "), /◀ device next \(dev\): /);
  }
});

Deno.test("a 32768-entry ring's indices are whole; at 80 columns its rows take two lines for the markers", () => {
  // "#", next and used[#] were 4, 4 and 8 columns wide: 32767 read "327…", 32767:1514 "32767:1…".
  const base = loadFixture<RingView>("ring_split");
  const size = 32768;
  const ring: RingView = {
    ...base,
    size,
    availIdx: 32767,
    usedIdx: 32767,
    deviceNextAvail: 32767,
    deviceNextUsed: 32767,
    descriptors: Array.from({ length: size }, (_, i) => ({
      ...base.descriptors[i % 2],
      index: i,
      next: (i + 1) % size,
    })),
    availRing: Array.from({ length: size }, (_, i) => i),
    usedRing: Array.from({ length: size }, (_, i) => ({ id: i, len: 1514 })),
  };
  for (const [width, height] of [[80, 24], [120, 30]] as const) {
    const lines = text(ring, width, height);
    for (const l of lines) assert.ok(Array.from(l).length <= width, `wider than ${width}: "${l}"`);
    assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
    assert.ok(lines.some((l) => /^ *32767 0x[0-9a-f]+ +1514 .* 0\b/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /32767 +32767:1514 ◀ avail · device next · used$/.test(l)));
  }
});

Deno.test("at 40 columns a ring view's long title breaks between its words, never cut", () => {
  // "abcdefghijklmnop/nic0123456789abc recei…": one item longer than the line.
  const title = "abcdefghijklmnop/nic0123456789abc receiveq";
  const lines = ringLines({
    ring: loadFixture<RingView>("ring_split"),
    title,
    scroll: null,
    width: 40,
    height: 20,
    colors: false,
  }).map((l) => l.map((s) => s.text).join(""));
  for (const l of lines) assert.ok([...l].length <= 40, `wider than 40: "${l}"`);
  const head = lines.slice(0, 3).join(" ").replace(/\s+/g, " ");
  assert.ok(head.startsWith(`${title} · split · 256 entries`), lines.join("\n"));
});

Deno.test("at 40 columns an idle ring's markers take a line under their descriptor, whole", () => {
  // Two lines a descriptor left them 10 columns: "◀ avail,de…".
  const lines = text(idleSplit(), 40, 20);
  for (const l of lines) assert.ok(Array.from(l).length <= 40, `wider than 40: "${l}"`);
  assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
  const at = lines.findIndex((l) => /^ +40 +12 NEXT/.test(l));
  assert.ok(at > 0, lines.join("\n"));
  assert.match(lines[at + 1], /^ {4}free +80 +80:0$/);
  assert.equal(lines[at + 2], "    ◀ avail · device next · used");
});
