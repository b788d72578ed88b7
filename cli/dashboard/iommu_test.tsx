/**
 * The IOMMU panel at 80, 140 and 200 columns (ink-testing-library): per VM its mode, per
 * endpoint the domain, mappings, IOTLB hits, misses (and hit rate when wide), invalidations,
 * faults and the last fault's kind and IOVA; a lab without a vIOMMU says so.
 */
import assert from "node:assert/strict";
import { render } from "ink-testing-library";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { IommuPanel } from "./iommu.tsx";
import { loadFixture } from "./testing.tsx";

/** The recorded pair with a strict vIOMMU on a (one faulted NIC) and a static one on b. */
function withIommu(): LabSnapshot {
  const snap = loadFixture<LabSnapshot>("pair_1");
  snap.vms[0].iommu = {
    mode: "strict",
    domains: [{
      device: "eth0",
      endpoint: 0,
      domain: 1,
      mappings: 257,
      hits: 3162,
      misses: 20_638,
      invalidations: 630,
      faults: 2,
      lastFaultIova: "0x100004000",
      lastFaultAccess: "write",
    }],
  };
  snap.vms[1].iommu = {
    mode: "static",
    domains: [{
      device: "eth0",
      endpoint: 0,
      domain: 1,
      mappings: 1,
      hits: 120_000,
      misses: 0,
      invalidations: 0,
      faults: 0,
      lastFaultIova: null,
      lastFaultAccess: null,
    }],
  };
  return snap;
}

function frameOf(snapshot: LabSnapshot, width: number): string[] {
  const r = render(<IommuPanel snapshot={snapshot} width={width} height={20} colors={false} />);
  try {
    return (r.lastFrame() ?? "").split("\n");
  } finally {
    r.unmount();
  }
}

for (const width of [80, 140, 200]) {
  Deno.test(`the IOMMU panel shows each domain's mappings, IOTLB, invalidations and faults at ${width} columns`, () => {
    const lines = frameOf(withIommu(), width);
    for (const l of lines) assert.ok([...l].length <= width, `too wide: ${l}`);
    assert.match(lines[0], /^ a {2}vIOMMU strict {2}1 endpoint$/);
    assert.match(lines[1], /device +domain +mappings +hits +misses .*inval +faults/);
    assert.match(lines[2], /^ {3}eth0 +1 +257 +3\.2k +20\.6k .* 630 +2/);
    const b = lines.findIndex((l) => /^ b {2}vIOMMU static/.test(l));
    assert.ok(b > 2, "b's vIOMMU follows a's");
    assert.match(lines[b + 2], /^ {3}eth0 +1 +1 +120\.0k +0 .* 0 +0$/);
    if (width >= 100) {
      assert.match(lines[1], /hit % .* last fault$/);
      assert.match(lines[2], / 13\.2 .* 2 {2}write 0x100004000$/); // 13.29 %, rounded down
      assert.match(lines[b + 2], / 100\.0 /);
    } else {
      assert.doesNotMatch(lines[1], /hit %/);
      assert.match(lines[3], /^ {5}last fault write 0x100004000$/);
    }
  });
}

Deno.test("the IOMMU panel of a lab without a vIOMMU says there is none and how to get one", () => {
  const lines = frameOf(loadFixture<LabSnapshot>("pair_1"), 80);
  assert.match(lines[0], /No VM has a vIOMMU/);
  assert.match(lines[1], /iommu: \{ mode: static \}/);
});

Deno.test("the IOMMU panel shows a vhost-pci peer's IOTLB over the window it serves", () => {
  const snap = withIommu();
  const ep = snap.vms[1].iommu!.domains[0];
  snap.vms[1].iommu!.peers = [{ ...ep, peer: "c:eth0", hits: 54_321, misses: 3, faults: 1 }];
  for (const width of [80, 140]) {
    const lines = frameOf(snap, width);
    const at = lines.findIndex((l) => l.includes("vhost-pci peers"));
    assert.ok(at > 0, lines.join("\n"));
    assert.match(lines[at + 1], /^ {3}c:eth0 +1 +1 +54\.3k +3 .* 0 +1 {2}for eth0/, lines[at + 1]);
    for (const l of lines) assert.ok([...l].length <= width, `too wide: ${l}`);
  }
});

Deno.test("at 40 columns the IOMMU panel keeps hits, misses and faults; the rest below", () => {
  const lines = frameOf(withIommu(), 40);
  for (const l of lines) assert.ok([...l].length <= 40, `too wide: ${l}`);
  assert.match(lines[1], /^ +device +hits +misses +faults$/);
  assert.match(lines[2], /^ +eth0 +3\.2k +20\.6k +2$/);
  // The domain, mappings and invalidations on the line below (they were left out).
  assert.equal(lines[3], "     domain 1  mappings 257  inval 630");
  assert.match(lines[4], /last fault write 0x100004000/);
});

Deno.test("the IOMMU panel's hit rate says 100.0 only when nothing missed, as the Overview's", () => {
  const snap = withIommu();
  const ep = snap.vms[1].iommu!.domains[0];
  // 60,091 hits and 9 misses: 99.985 %, which rounding to one decimal showed as 100.0.
  snap.vms[1].iommu!.peers = [{ ...ep, peer: "c:eth0", hits: 60_091, misses: 9 }];
  const lines = frameOf(snap, 140);
  const peer = lines.find((l) => l.includes("c:eth0")) ?? "";
  assert.match(peer, / 99\.9 /, peer);
  const whole = lines.find((l) => /^ {3}eth0 /.test(l) && l.includes("120.0k")) ?? "";
  assert.match(whole, / 100\.0 /, whole);
});

Deno.test("a vIOMMU that no NIC is behind says so, not a header with no row under it", () => {
  const snap = withIommu();
  snap.vms[0].iommu = { mode: "strict", domains: [] };
  for (const width of [40, 80, 140]) {
    const lines = frameOf(snap, width);
    const at = lines.findIndex((l) => /^ a {2}vIOMMU strict {2}0 endpoints/.test(l));
    assert.ok(at >= 0, lines.join("\n"));
    assert.match(lines[at + 1], /^ {3}no NIC behind it \(iommu: true\)$/);
    assert.match(lines[at + 2], /^ b {2}vIOMMU static/, "b's table follows at once");
  }
});

Deno.test("at 40 columns a vhost-pci peer's heading wraps and whom it serves goes below its row", () => {
  // Cut: "vhost-pci peers, each through the wi…" and "c:eth0 … 1  f…".
  const snap = withIommu();
  const ep = snap.vms[1].iommu!.domains[0];
  snap.vms[1].iommu!.peers = [{ ...ep, peer: "c:eth0", hits: 54_321, misses: 3, faults: 1 }];
  const lines = frameOf(snap, 40);
  for (const l of lines) assert.ok(!l.includes("…") && [...l].length <= 40, `cut: ${l}`);
  const at = lines.findIndex((l) => l.includes("vhost-pci peers"));
  assert.ok(at > 0, lines.join("\n"));
  const row = lines.findIndex((l) => /^ {3}c:eth0 +54\.3k +3 +1$/.test(l));
  assert.ok(row > at, lines.join("\n"));
  assert.equal(lines[row + 1], "     for eth0");
  assert.equal(lines[row + 2], "     domain 1  mappings 1  inval 0");
  assert.match(lines.slice(at, row).join(" "), /the endpoint it serves:/);
  // A lab with no vIOMMU: how to get one, wrapped too.
  const none = frameOf(loadFixture<LabSnapshot>("pair_1"), 40);
  for (const l of none) assert.ok(!l.includes("…") && [...l].length <= 40, `cut: ${l}`);
  assert.match(none.join(" "), /iommu: \{ mode: static \}.*see iommu-pair\)/);
});

Deno.test("a device or vhost-pci peer named longer than its column takes a line above its row", () => {
  // Cut to 10 columns, "nic0123456789abc" read "nic012345…" and a peer "backend:eth0" "backend:e…".
  const snap = withIommu();
  const iommu = snap.vms[0].iommu!;
  iommu.domains[0].device = "nic0123456789abc";
  iommu.peers = [{ ...iommu.domains[0], peer: "backend:eth0", faults: 0, lastFaultIova: null }];
  for (const width of [40, 80, 140]) {
    const lines = frameOf(snap, width);
    assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
    for (const name of ["nic0123456789abc", "backend:eth0"]) {
      const at = lines.findIndex((l) => l.trim() === name);
      assert.ok(at > 0, `${width}: ${name}\n${lines.join("\n")}`);
      // Its counters on the next line, under a blank device cell.
      assert.match(lines[at + 1], /^ {14}.*\d/, lines.join("\n"));
    }
  }
});
