/**
 * The Links panel names the rate column in each link's unit: frames/s on a net link, pkts/s on a
 * vsock link (vsock packets, as `vlab status` counts them). It said frames/s over both.
 */

import assert from "node:assert/strict";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { linksLines } from "./links.tsx";
import { fixtureData } from "./testing.tsx";

/** The pair fixture with a vsock link `a-b-vsock` after its net link (as in vsock-pair). */
function vsockPair(): { snapshot: LabSnapshot; rates: ReturnType<typeof fixtureData>["rates"] } {
  const d = fixtureData("pair");
  const snapshot = structuredClone(d.snapshot!);
  const vsock = structuredClone(snapshot.links[0]);
  vsock.name = "a-b-vsock";
  vsock.kind = "vsock";
  vsock.endpoints = ["a", "b"];
  for (const dir of [vsock.forward, vsock.reverse]) {
    dir.from = dir.from.replace(/:.*/, "");
    dir.to = dir.to.replace(/:.*/, "");
  }
  snapshot.links = [snapshot.links[0], vsock];
  return { snapshot, rates: d.rates };
}

function text(snapshot: LabSnapshot, o: { selected?: number; height?: number; width?: number }) {
  return linksLines({
    snapshot,
    rates: null,
    selected: o.selected ?? 0,
    width: o.width ?? 80,
    height: o.height ?? 60,
    colors: false,
  }).map((l) => l.map((s) => s.text).join(""));
}

Deno.test("the Links panel says pkts/s over a vsock link and frames/s over a net link", () => {
  const { snapshot } = vsockPair();
  for (const width of [40, 80, 120]) {
    const lines = text(snapshot, { width });
    assert.match(lines[0], /^ {4}direction +frames\/s +bytes\/s/, `${width}: ${lines[0]}`);
    const at = lines.findIndex((l) => l.startsWith("  a-b-vsock  up"));
    assert.ok(at > 0, lines.join("\n"));
    // The vsock link's entry begins with the column names again, in its unit.
    assert.match(lines[at - 1], /^ {4}direction +pkts\/s +bytes\/s/, lines.join("\n"));
    assert.equal(lines.filter((l) => /frames\/s/.test(l)).length, 1, lines.join("\n"));
  }
});

Deno.test("a Links window that begins at a vsock link says pkts/s in its header, once", () => {
  const { snapshot } = vsockPair();
  const lines = text(snapshot, { selected: 1, height: 4 });
  assert.match(lines[0], /^ {4}direction +pkts\/s +bytes\/s/, lines.join("\n"));
  assert.match(lines[1], /^▸ a-b-vsock {2}up/, lines.join("\n"));
  assert.equal(lines.filter((l) => /direction/.test(l)).length, 1, lines.join("\n"));
});

Deno.test("a lab of vsock links only says pkts/s, with no second header", () => {
  const { snapshot } = vsockPair();
  snapshot.links = [snapshot.links[1]];
  const lines = text(snapshot, {});
  assert.match(lines[0], /^ {4}direction +pkts\/s +bytes\/s/);
  assert.equal(lines.filter((l) => /direction/.test(l)).length, 1, lines.join("\n"));
});
