/**
 * The Links panel at 40 columns: what gives way first is the bytes/s column, whole (it was cut
 * mid-number: "15|"), while frames/s stays; drops wrap between causes instead of being cut ("full
 * ring" was lost), and so do a switch's counters.
 */

import assert from "node:assert/strict";
import { linksLines, vhostPciLines } from "./links.tsx";
import { fixtureData } from "./testing.tsx";

function text(lab: "pair" | "star", width: number, rename?: (s: string) => string): string[] {
  const d = fixtureData(lab);
  const snapshot = structuredClone(d.snapshot!);
  if (rename !== undefined) {
    for (const l of snapshot.links) {
      for (const dir of [l.forward, l.reverse]) {
        dir.from = rename(dir.from);
        dir.to = rename(dir.to);
      }
    }
  }
  return linksLines({ snapshot, rates: d.rates, selected: 0, width, height: 60, colors: false })
    .map((l) => l.map((s) => s.text).join(""));
}

function assertFits(lines: string[], width: number): void {
  for (const l of lines) assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
}

Deno.test("links at 40 columns: short directions keep frames/s and bytes/s whole", () => {
  const lines = text("pair", 40);
  assertFits(lines, 40);
  assert.match(lines[0], /^ {4}direction +frames\/s +bytes\/s$/);
  assert.ok(lines.includes("    a:eth0 → b:eth0   9.9k/s   15.0 MB/s"), lines.join("\n"));
  assert.ok(lines.includes("      impairment delay 2ms loss 0.1%"), lines.join("\n"));
});

Deno.test("links at 40 columns: long directions give up bytes/s whole, frames/s stays", () => {
  const lines = text("pair", 40, (s) => s.replace(/^(\w):/, "vm-$1:"));
  assertFits(lines, 40);
  assert.match(lines[0], /^ {4}direction +frames\/s$/);
  assert.ok(
    lines.some((l) => /^ {4}vm-a:eth0 → vm-b:eth0 +9\.9k\/s$/.test(l)),
    lines.join("\n"),
  );
  assert.ok(!lines.some((l) => /B\/s/.test(l)), "no cut bytes/s cell");
});

Deno.test("links at 40 columns: drops wrap between causes, a switch's counters too", () => {
  const lines = text("star", 40);
  assertFits(lines, 40);
  const at = lines.indexOf("      drops: queue limit 4.4k +4.0k/s");
  assert.ok(at > 0, lines.join("\n"));
  assert.equal(lines[at + 1], "             full ring 150 +300/s");
  const sw = lines.findIndex((l) => /^ {2}sw1 {2}switch$/.test(l));
  assert.ok(sw > 0, lines.join("\n"));
  assert.deepEqual(lines.slice(sw + 1, sw + 5), [
    "    ports h1-sw1 h2-sw1 h3-sw1 h4-sw1",
    "    forwarded 33.6k 5.5k/s",
    "    flooded 1.6k 10/s · learned 4",
    "    dropped 150 300/s",
  ]);
});

Deno.test("links at 120 columns: drops that do not fit their column wrap in it, never cut", () => {
  // With a long impairment the drops column is 40 wide: "queue limit 4.4k +4.0k/s · full ring…"
  // was cut, hiding the full ring drops and their rate.
  const d = fixtureData("star");
  const snapshot = structuredClone(d.snapshot!);
  for (const l of snapshot.links) {
    for (const dir of [l.forward, l.reverse]) dir.impair = "delay 5ms loss 10% rate 10mbit";
  }
  const lines = linksLines({
    snapshot,
    rates: d.rates,
    selected: 0,
    width: 120,
    height: 60,
    colors: false,
  }).map((l) => l.map((s) => s.text).join(""));
  assertFits(lines, 120);
  assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
  const at = lines.findIndex((l) => l.includes("queue limit 4.4k +4.0k/s"));
  assert.ok(at > 0, lines.join("\n"));
  assert.match(lines[at], /queue limit 4\.4k \+4\.0k\/s +delay 5ms loss 10% rate 10mbit$/);
  const column = lines[at].indexOf("queue limit");
  assert.equal(lines[at + 1].indexOf("full ring 150 +300/s"), column, lines.join("\n"));
  assert.equal(lines[at + 1].trimStart(), "full ring 150 +300/s");
});

Deno.test("links: an impairment longer than its room wraps between words, never cut", () => {
  // At 80 columns netem's whole vocabulary read "… reorder 5% rate…"; at 120 it ran off the line.
  const d = fixtureData("pair");
  const snapshot = structuredClone(d.snapshot!);
  const long = "delay 5ms 1ms loss 10% corrupt 1% duplicate 1% reorder 5% rate 10mbit limit 1000";
  snapshot.links[0].forward.impair = long;
  for (const width of [80, 120, 160]) {
    const lines = linksLines({
      snapshot,
      rates: d.rates,
      selected: 0,
      width,
      height: 60,
      colors: false,
    })
      .map((l) => l.map((s) => s.text).join(""));
    assertFits(lines, width);
    assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
    // Every word, in order, in the impairment's column (or its own lines below 120 columns).
    const at = lines.findIndex((l) => l.includes("delay 5ms"));
    const col = lines[at].indexOf("delay 5ms");
    const text = lines.slice(at).map((l) => l.slice(col).trim()).join(" ");
    assert.ok(text.startsWith(long), lines.join("\n"));
  }
});

Deno.test("links: a direction longer than its column takes the line above its rates, never cut", () => {
  // At 80 columns "abcdefghijklmnop:nic0…" lost where the frames went, and the link's line its
  // far end ("… ↔ sw…"); a vhost-pci link's directions the same.
  const long = (s: string) =>
    s.replace(/^a:eth0$/, "abcdefghijklmnop:nic0123456789abc")
      .replace(/^b:eth0$/, "qrstuvwxyzabcdef:nic0123456789abc");
  const d = fixtureData("pair");
  const snapshot = structuredClone(d.snapshot!);
  const [ab] = snapshot.links;
  ab.endpoints = [long(ab.endpoints[0]), long(ab.endpoints[1])];
  for (const dir of [ab.forward, ab.reverse]) {
    dir.from = long(dir.from);
    dir.to = long(dir.to);
  }
  for (const width of [40, 80, 120]) {
    const lines = linksLines({
      snapshot,
      rates: d.rates,
      selected: 0,
      width,
      height: 60,
      colors: false,
    })
      .map((l) => l.map((s) => s.text).join(""));
    assertFits(lines, width);
    assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
    const all = lines.map((l) => l.trim()).join(" ");
    assert.ok(
      all.includes(`${ab.endpoints[0]} ↔ ${ab.endpoints[1]}`),
      `${width}: the link's ends\n${lines.join("\n")}`,
    );
    for (const [dir, frames] of [[ab.forward, "9.9k/s"], [ab.reverse, "1.0k/s"]] as const) {
      const at = all.indexOf(`${dir.from} → ${dir.to} ${frames}`);
      assert.ok(at >= 0, `${width}: ${dir.from} → ${dir.to}\n${lines.join("\n")}`);
    }
  }
  const served = vhostPciLines({
    name: "a-b",
    frontend: long("a:eth0"),
    peer: long("b:eth0"),
    window: "vIOMMU static (endpoint 0)",
    state: "up",
    connection: 1,
    connects: 1,
    disconnects: 0,
    framesIn: 10,
    framesOut: 4,
    framesDropped: 0,
    rxWaits: 0,
    partitionDropped: 0,
    interrupts: 5,
    faults: 0,
    revoked: 0,
    lastFault: null,
  }, { rates: null, width: 80, dropsW: 40 }).map((l) => l.map((s) => s.text).join(""));
  assertFits(served, 80);
  assert.ok(!served.some((l) => l.includes("…")), served.join("\n"));
  assert.ok(served.includes(`    ${long("a:eth0")} → ${long("b:eth0")}`), served.join("\n"));
});

Deno.test("links at 40 columns: a switch's port too long to go beside 'ports' goes below it", () => {
  // "    ports abcdefghijklmnop-switch012345…" was cut.
  const d = fixtureData("star");
  const snapshot = structuredClone(d.snapshot!);
  const port = "abcdefghijklmnop-switch0123456789";
  snapshot.switches[0].ports = [port, "h2-sw1"];
  const lines = linksLines({
    snapshot,
    rates: d.rates,
    selected: 0,
    width: 40,
    height: 60,
    colors: false,
  })
    .map((l) => l.map((s) => s.text).join(""));
  assertFits(lines, 40);
  const at = lines.indexOf("    ports");
  assert.ok(at > 0, lines.join("\n"));
  assert.equal(lines[at + 1], `      ${port}`);
  assert.equal(lines[at + 2], "      h2-sw1");
});
