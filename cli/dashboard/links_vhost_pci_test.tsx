/**
 * The dashboard header's counts (vhost-pci links among the links, "2 switches") and the Links
 * panel's view of a vhost-pci link: each direction's frames/s, drops and waits, moving under
 * traffic and settling at 0/s.
 */

import assert from "node:assert/strict";
import type { LabSnapshot, VhostPciLinkSnapshot } from "../../lab/snapshot_types.ts";
import { computeRates, OccupancyHistory } from "./rates.ts";
import { fixtureData, loadFixture, renderApp, waitFor } from "./testing.tsx";

function vhostPci(framesIn: number, rxWaits: number): VhostPciLinkSnapshot {
  return {
    name: "a-b",
    frontend: "a:eth0",
    peer: "b:eth0",
    window: "vIOMMU static (endpoint 0)",
    state: "up",
    connection: 1,
    connects: 1,
    disconnects: 0,
    framesIn,
    framesOut: 4,
    framesDropped: 0,
    rxWaits,
    partitionDropped: 0,
    interrupts: 5,
    faults: 0,
    revoked: 0,
    lastFault: null,
  };
}

/** The pair fixture (taken 100 ms apart) with its link served over vhost-pci instead. */
function data(inBefore: number, inAfter: number, waits: [number, number]) {
  const s0 = loadFixture<LabSnapshot>("pair_0");
  const s1 = loadFixture<LabSnapshot>("pair_1");
  s0.links = [];
  s1.links = [];
  s0.vhostPciLinks = [vhostPci(inBefore, waits[0])];
  s1.vhostPciLinks = [vhostPci(inAfter, waits[1])];
  const history = new OccupancyHistory();
  history.add(s0);
  history.add(s1);
  return { snapshot: s1, rates: computeRates(s0, s1), history, ring: null, error: null };
}

function lineWith(frame: string, ...parts: string[]): string {
  const line = frame.split("\n").find((l) => parts.every((p) => l.includes(p)));
  assert.ok(line !== undefined, `no line with ${parts.join(", ")} in\n${frame}`);
  return line;
}

for (const columns of [40, 60, 80, 140]) {
  Deno.test(`a vhost-pci link is counted and shows its frames/s and waits (${columns} columns)`, async () => {
    const snap = data(0, 2000, [0, 30]);
    const dt = snap.rates.dtSeconds;
    const app = renderApp(snap, { columns, rows: 24 });
    try {
      // At 40 columns too (the header was cut before its counts; it drops the seed instead).
      assert.match(app.frame().split("\n")[0], / · 1 link\b/);
      app.stdin.write("3");
      await waitFor(() => /\[(3 )?Links\]/.test(app.frame()), "the Links panel");
      const frame = app.frame();
      const perSecond = `${(2000 / dt / 1000).toFixed(1)}k/s`;
      lineWith(frame, "a:eth0 → b:eth0", perSecond);
      lineWith(frame, "b:eth0 → a:eth0", "0/s");
      lineWith(frame, "no RX buffer", "30");
      lineWith(frame, "b:eth0 serves a:eth0");
      assert.doesNotMatch(frame, /drops:/, "a wait is not a drop");
      lineWith(frame, "window vIOMMU static (endpoint 0)");
      lineWith(frame, "connection 1");
      // The window line wraps on a narrow terminal: its last item, the faults, is never cut.
      lineWith(frame, "faults 0");
      for (const l of frame.split("\n")) {
        assert.ok(Array.from(l).length <= columns, l);
        // At 40 columns the title was cut too: "vhost-pci b:eth0 serves a:et…".
        if (/→|window|faults|serves/.test(l)) assert.ok(!l.includes("…"), `cut: ${l}`);
      }
      // Idle: the same counters again, the rates settle at 0/s.
      app.update(data(2000, 2000, [30, 30]));
      await waitFor(() => !app.frame().includes(perSecond), "the rate to settle");
      lineWith(app.frame(), "a:eth0 → b:eth0", " 0/s");
    } finally {
      app.unmount();
    }
  });
}

Deno.test("the header counts two switches as 'switches'", () => {
  const data = fixtureData("star");
  const snapshot = structuredClone(data.snapshot!);
  snapshot.switches.push({ ...snapshot.switches[0], name: "sw2" });
  const app = renderApp({ ...data, snapshot }, { columns: 80, rows: 24 });
  try {
    assert.match(app.frame().split("\n")[0], / · 2 switches$/);
  } finally {
    app.unmount();
  }
});

Deno.test("a vhost-pci link is selected in the Links panel as a ring link is: ↓ goes on to it", async () => {
  const s0 = loadFixture<LabSnapshot>("pair_0");
  const s1 = loadFixture<LabSnapshot>("pair_1");
  const cd = { ...vhostPci(0, 0), name: "c-d", frontend: "c:eth0", peer: "d:eth0" };
  s0.vhostPciLinks = [cd];
  s1.vhostPciLinks = [cd];
  const history = new OccupancyHistory();
  history.add(s0);
  history.add(s1);
  const data = { snapshot: s1, rates: computeRates(s0, s1), history, ring: null, error: null };
  const app = renderApp(data, { columns: 100, rows: 30 });
  try {
    app.stdin.write("3");
    await waitFor(() => app.frame().includes("[Links]"), "the Links panel");
    lineWith(app.frame(), "▸ a-b", "up");
    app.stdin.write("\x1b[B");
    await waitFor(() => app.frame().includes("▸ c-d"), "the vhost-pci link selected");
    lineWith(app.frame(), "▸ c-d", "vhost-pci d:eth0 serves c:eth0");
    assert.doesNotMatch(app.frame(), /▸ a-b/, "one link selected");
    // The last link: ↓ stays on it, ↑ goes back to the ring link.
    app.stdin.write("\x1b[B");
    app.stdin.write("\x1b[A");
    await waitFor(() => app.frame().includes("▸ a-b"), "the ring link selected again");
    assert.doesNotMatch(app.frame(), /▸ c-d/);
  } finally {
    app.unmount();
  }
});

for (const columns of [60, 140]) {
  Deno.test(`a vhost-pci link's link-down drops show on their direction (${columns} columns)`, async () => {
    const s0 = loadFixture<LabSnapshot>("pair_0");
    const s1 = loadFixture<LabSnapshot>("pair_1");
    s0.links = [];
    s1.links = [];
    const down = (i: number, o: number) => ({ ...vhostPci(0, 0), linkDownIn: i, linkDownOut: o });
    s0.vhostPciLinks = [{ ...down(0, 0), state: "down" }];
    s1.vhostPciLinks = [{ ...down(7, 2), state: "down" }];
    const history = new OccupancyHistory();
    history.add(s0);
    history.add(s1);
    const rates = computeRates(s0, s1);
    const app = renderApp({ snapshot: s1, rates, history, ring: null, error: null }, {
      columns,
      rows: 30,
    });
    try {
      app.stdin.write("3");
      await waitFor(() => /\[(3 )?Links\]/.test(app.frame()), "the Links panel");
      const lines = app.frame().split("\n");
      // Each drop on its direction's line (or on the line under it, narrow).
      const after = (label: string) => {
        const at = lines.findIndex((l) => l.includes(label));
        assert.ok(at >= 0, `no ${label} in\n${app.frame()}`);
        return lines.slice(at, at + 2).join("\n");
      };
      assert.match(after("a:eth0 → b:eth0"), /link down 7/);
      assert.match(after("b:eth0 → a:eth0"), /link down 2/);
    } finally {
      app.unmount();
    }
  });
}

Deno.test("a vhost-pci link's window line counts the rings revoked under the peer, as vlab status does", async () => {
  for (const columns of [40, 80]) {
    const snap = data(0, 10, [0, 0]);
    const link = { ...snap.snapshot.vhostPciLinks![0], faults: 1, revoked: 1 };
    link.lastFault = "read 0x2d000";
    const app = renderApp(
      { ...snap, snapshot: { ...snap.snapshot, vhostPciLinks: [link] } },
      { columns, rows: 24 },
    );
    try {
      app.stdin.write("3");
      await waitFor(() => /\[(3 )?Links\]/.test(app.frame()), "the Links panel");
      lineWith(app.frame(), "revoked 1");
    } finally {
      app.unmount();
    }
  }
});
