/**
 * A vsock router is not a switch: the dashboard counts and lists it apart, as `vlab status` does,
 * and names its counters in words.
 */

import assert from "node:assert/strict";
import type { SwitchSnapshot } from "../../lab/snapshot_types.ts";
import { linksLines } from "./links.tsx";
import { overviewLines } from "./overview.tsx";
import { fixtureData, renderApp, waitFor } from "./testing.tsx";

const ROUTER: SwitchSnapshot = {
  name: "r1",
  kind: "vsock-router",
  ports: ["a-r1-vsock", "b-r1-vsock", "c-r1-vsock"],
  counters: {
    forwarded: 7,
    rst_no_route: 1,
    rst_partition: 0,
    spoofed: 0,
    malformed: 0,
    peer_reset_notices: 0,
  },
};

function withRouter() {
  const data = fixtureData("star");
  const snapshot = structuredClone(data.snapshot!);
  snapshot.switches.push(ROUTER);
  return { ...data, snapshot };
}

const text = (lines: readonly (readonly { text: string }[])[]) =>
  lines.map((l) => l.map((s) => s.text).join("")).join("\n");

Deno.test("the header counts a vsock router apart from the switches", () => {
  // It said "2 switches" for sw1 and the router r1.
  const app = renderApp(withRouter(), { columns: 120, rows: 30 });
  try {
    assert.match(app.frame().split("\n")[0], / · 1 switch · 1 vsock router\b/);
  } finally {
    app.unmount();
  }
});

Deno.test("the Overview and the Links panel list a vsock router as one, its counters in words", () => {
  const { snapshot } = withRouter();
  const overview = text(
    overviewLines({ snapshot, selectedVm: 0, width: 80, height: 80, colors: false }),
  );
  assert.match(overview, /^ {2}switches sw1 \(4 ports\)$/m);
  assert.match(overview, /^ {2}routers {2}r1 \(3 ports\)$/m);
  const links = text(
    linksLines({ snapshot, rates: null, selected: 0, width: 80, height: 80, colors: false }),
  );
  assert.match(links, /^ {2}r1 {2}vsock router {2}ports a-r1-vsock b-r1-vsock c-r1-vsock$/m);
  assert.match(links, /^ {2}sw1 {2}switch {2}ports /m);
  // As `vlab status` says them: "rst no route 1", not "rst_no_route 1".
  assert.match(links, /forwarded 7 · rst no route 1 · rst partition 0/);
  assert.doesNotMatch(links, /rst_no_route/);
});

Deno.test("on a vsock router the Links panel's hints offer no MAC table", async () => {
  // A router keeps none: enter on it only says so.
  const app = renderApp(withRouter(), { columns: 100, rows: 40 });
  try {
    app.stdin.write("3");
    for (let i = 0; i < 6; i++) app.stdin.write("\x1b[B");
    await waitFor(() => app.frame().includes("▸ r1"), "r1 selected");
    assert.doesNotMatch(app.frame(), /enter MAC table/);
    app.stdin.write("\x1b[A");
    await waitFor(() => app.frame().includes("▸ sw1"), "sw1 selected");
    assert.match(app.frame(), /enter MAC table/);
  } finally {
    app.unmount();
  }
});
