/**
 * The vsock connections section lists each vsock device's connections with their bytes and
 * credit, at 80, 140 and 200 columns (ink-testing-library), and the Links panel ends with it.
 */
import assert from "node:assert/strict";
import { render } from "ink-testing-library";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { linksLines } from "./links.tsx";
import { loadFixture } from "./testing.tsx";
import { VsockConnectionsPanel } from "./vsock_conns.tsx";

/** The recorded pair snapshot with a vsock device on a: one stalled host connection, one busy. */
function withConnections(): LabSnapshot {
  const snap = loadFixture<LabSnapshot>("pair_1");
  const nic = snap.vms[0].devices[0];
  snap.vms[0].devices.push({
    ...nic,
    nic: "vsock0",
    kind: "virtio-vsock",
    mac: null,
    ip: null,
    link: "a-b-vsock",
    connections: {
      total: 2,
      rows: [
        {
          guestPort: 1024,
          peerCid: 4,
          peerPort: 5000,
          state: "established",
          bytesFromGuest: 3 << 20,
          bytesToGuest: 0,
          creditStalls: 12,
          peerCredit: 65536,
          guestCredit: 262144,
        },
        {
          guestPort: 1025,
          peerCid: 2,
          peerPort: 6000,
          state: "established",
          bytesFromGuest: 524288,
          bytesToGuest: 10,
          creditStalls: 1,
          peerCredit: 0,
          guestCredit: 262134,
        },
      ],
    },
  });
  return snap;
}

for (const width of [80, 140, 200]) {
  Deno.test(`the vsock connections section lists connections with their credit at ${width} columns`, () => {
    const r = render(
      <VsockConnectionsPanel
        snapshot={withConnections()}
        width={width}
        height={6}
        colors={false}
      />,
    );
    try {
      const frame = r.lastFrame() ?? "";
      const lines = frame.split("\n");
      for (const l of lines) assert.ok([...l].length <= width, `too wide: ${l}`);
      assert.match(lines[0], /a\/vsock0 {2}vsock {2}2 connections/);
      assert.match(lines[1], /port +peer .*→ peer +← peer +credit/);
      assert.match(lines[2], /^ {4}1024 +4:5000 .* 3\.\d MB +0 B +65\.5 kB .* 12$/);
      // Every connection's state, from 74 columns in its column.
      assert.match(lines[1], /state/);
      assert.match(lines[2], /established/);
      if (width >= 100) {
        assert.match(lines[1], /to guest/);
        assert.match(lines[3], /^ {4}1025 +host:6000 .* 0 B .* 1$/);
      } else {
        // The device's credit towards the guest, on the line below (it was left out).
        assert.equal(lines[3].trim(), "to guest 262.1 kB");
        assert.match(lines[4], /^ {4}1025 +host:6000 .* 0 B .* 1$/);
      }
    } finally {
      r.unmount();
    }
  });
}

Deno.test("at 40 columns a connection keeps its credit and stalls, the rest on lines below", () => {
  const r = render(
    <VsockConnectionsPanel snapshot={withConnections()} width={40} height={8} colors={false} />,
  );
  try {
    const lines = (r.lastFrame() ?? "").split("\n");
    for (const l of lines) assert.ok([...l].length <= 40, `too wide: ${l}`);
    assert.match(lines[1], /^ {2}port +peer +credit +stalls$/);
    assert.match(lines[2], /^ {2}1024 +4:5000 +65\.5 kB +12$/);
    // Its state and bytes each way, left out before, wrap on the lines below it.
    assert.equal(lines[3], "    established  → peer 3.1 MB");
    assert.equal(lines[4], "    ← peer 0 B  to guest 262.1 kB");
    assert.match(lines[5], /^ {2}1025 +host:6000 +0 B +1$/, "no credit left: the sender waits");
  } finally {
    r.unmount();
  }
});

Deno.test("the Links panel ends with the vsock connections", () => {
  const text = linksLines({
    snapshot: withConnections(),
    rates: null,
    selected: 0,
    width: 140,
    height: 40,
    colors: false,
  }).map((line) => line.map((s) => s.text).join("")).join("\n");
  assert.match(text, /a\/vsock0 {2}vsock {2}2 connections\n.*port/);
  assert.match(text, /host:6000/);
});

Deno.test("at 40 columns a vsock device's line with many connections wraps, never cut", () => {
  // "  abcdefghijklmnop/vsock0  vsock  120 connections (2 busiest s…" was cut.
  const snap = withConnections();
  snap.vms[0].name = "abcdefghijklmnop";
  snap.vms[0].devices[1].connections!.total = 120;
  const r = render(<VsockConnectionsPanel snapshot={snap} width={40} height={12} colors={false} />);
  try {
    const lines = (r.lastFrame() ?? "").split("\n");
    for (const l of lines) assert.ok([...l].length <= 40, `too wide: ${l}`);
    const text = lines.join(" ").replace(/\s+/g, " ");
    assert.ok(
      text.includes("abcdefghijklmnop/vsock0 vsock 120 connections (2 busiest shown)"),
      lines.join("\n"),
    );
  } finally {
    r.unmount();
  }
});
