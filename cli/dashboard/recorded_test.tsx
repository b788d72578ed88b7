/**
 * The dashboard over snapshots recorded from a real lab (`lab/snapshot.ts` on a running star of
 * three VMs, one split and two packed, pinging through a switch with 5 % loss on one link;
 * `testdata/record.ts` re-records them): the components must draw whatever the reader really
 * produces, at 80, 140 and 200 columns. The hand-written fixtures in the other tests pin exact
 * figures; these pin the contract.
 */

import assert from "node:assert/strict";
import type { LabSnapshot, RingView } from "../../lab/snapshot_types.ts";
import { computeRates, OccupancyHistory } from "./rates.ts";
import { KEY, loadFixture, renderApp, waitFor } from "./testing.tsx";

function recorded(ring: RingView | null = null) {
  const s0 = loadFixture<LabSnapshot>("recorded_0");
  const s1 = loadFixture<LabSnapshot>("recorded_1");
  const history = new OccupancyHistory();
  history.add(s0);
  history.add(s1);
  return { snapshot: s1, rates: computeRates(s0, s1), history, ring, error: null };
}

function assertFits(frame: string, columns: number, rows: number): void {
  const lines = frame.split("\n");
  assert.ok(lines.length <= rows, `${lines.length} lines for ${rows} rows`);
  for (const l of lines) assert.ok([...l].length <= columns, `too wide: ${l}`);
}

for (const [columns, rows] of [[80, 24], [140, 40], [200, 50]] as const) {
  Deno.test(`recorded snapshots: every panel draws and fits (${columns}x${rows})`, async () => {
    const app = renderApp(recorded(), { columns, rows });
    try {
      let frame = app.frame();
      assert.match(frame, /vlab recorded · seed 3/);
      for (const vm of ["a", "b", "c"]) assert.match(frame, new RegExp(`\\b${vm} +running`));
      assert.match(frame, /RING_PACKED/);
      assertFits(frame, columns, rows);
      for (
        const [panel, check] of [
          // Packed queues: pending from the descriptors' AVAIL/USED bits, so every posted RX
          // buffer counts (not "-" and 0 %).
          ["[Queues]", /b\/eth0 rx +packed +256 +\d+ w[01] +\d+ w[01] +0 +256 .*100%/],
          ["[Links]", /a-sw1/],
          ["[Events]", /lab-up/],
        ] as const
      ) {
        app.stdin.write(KEY.tab);
        await waitFor(() => app.frame().includes(panel), panel);
        frame = app.frame();
        assert.match(frame, check);
        assertFits(frame, columns, rows);
      }
    } finally {
      app.unmount();
    }
  });
}

Deno.test("recorded ring views of a split and a packed queue draw their tables", async () => {
  for (
    const [name, downs, title, flag] of [
      ["recorded_ring_split", 1, /a\/eth0 transmitq · split · 256 entries/, /NEXT|-/],
      [
        "recorded_ring_packed",
        2,
        /b\/eth0 receiveq · packed · 256 entries/,
        /WRITE\|AVAIL|AVAIL\|WRITE|WRITE/,
      ],
    ] as const
  ) {
    const ring = loadFixture<RingView>(name);
    assert.equal(ring.descriptors.length, 256);
    const app = renderApp(recorded(ring), { columns: 100, rows: 30 });
    try {
      app.stdin.write("2");
      for (let i = 0; i < downs; i++) app.stdin.write(KEY.down);
      app.stdin.write(KEY.enter);
      await waitFor(() => title.test(app.frame()), `the ring view of ${name}`);
      const frame = app.frame();
      assert.match(frame, flag);
      assert.match(frame, /◀/, "where each side's index points");
      assertFits(frame, 100, 30);
    } finally {
      app.unmount();
    }
  }
});
