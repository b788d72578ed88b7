/**
 * The Overview's status and features lines keep every name at any width: they wrap, and a line
 * that must be cut ends with "…"; checked at 80, 140 and 200 columns on fixtures and on a
 * recorded snapshot.
 */

import assert from "node:assert/strict";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { computeRates, OccupancyHistory } from "./rates.ts";
import { fixtureData, loadFixture, renderApp } from "./testing.tsx";
import { overviewLines } from "./overview.tsx";

/** Every feature a virtio-net device of vlab can negotiate, longest list first. */
const MANY_FEATURES = [
  "CSUM",
  "GUEST_CSUM",
  "MTU",
  "MAC",
  "MRG_RXBUF",
  "STATUS",
  "CTRL_VQ",
  "INDIRECT_DESC",
  "EVENT_IDX",
  "VERSION_1",
  "ACCESS_PLATFORM",
  "RING_PACKED",
  "IN_ORDER",
  "NOTIFICATION_DATA",
];

function withFeatures(s: LabSnapshot): LabSnapshot {
  const copy = structuredClone(s);
  for (const vm of copy.vms) for (const d of vm.devices) d.features = [...MANY_FEATURES];
  return copy;
}

function assertFits(frame: string, columns: number, rows: number): void {
  const lines = frame.split("\n");
  assert.ok(lines.length <= rows, `${lines.length} lines for ${rows} rows`);
  for (const l of lines) assert.ok([...l].length <= columns, `too wide: ${l}`);
}

/** Every feature of the first device shows in full, on the features line and its wraps. */
function assertAllFeatures(frame: string): void {
  const lines = frame.split("\n");
  const at = lines.findIndex((l) => l.includes("features "));
  assert.ok(at >= 0, `no features line in\n${frame}`);
  // The features line and the lines that continue it (indented, no other label).
  const block = [lines[at]];
  for (let i = at + 1; i < lines.length && /^\s{15}\S/.test(lines[i].split("│")[0]); i++) {
    block.push(lines[i]);
  }
  const words = block.join(" ").split("│").join(" ").split(/\s+/);
  for (const f of MANY_FEATURES) {
    assert.ok(words.includes(f), `${f} missing in\n${block.join("\n")}`);
  }
}

for (const [columns, rows] of [[80, 24], [140, 40], [200, 50]] as const) {
  Deno.test(`overview shows the CPU a placed VM runs on at ${columns} columns`, () => {
    const data = fixtureData("pair");
    const snapshot = structuredClone(data.snapshot!);
    snapshot.vms[0].cpu = 1;
    const app = renderApp({ ...data, snapshot }, { columns, rows });
    try {
      const frame = app.frame();
      assertFits(frame, columns, rows);
      assert.match(frame, /a +running +cpu 1/);
      assert.equal(frame.split("cpu 1").length, 2, "only a is placed");
    } finally {
      app.unmount();
    }
  });

  Deno.test(`overview shows how often a VM's backend restarted and its devices reset at ${columns} columns`, () => {
    const data = fixtureData("pair");
    const snapshot = structuredClone(data.snapshot!);
    snapshot.vms[0].recovery = { backendRestarts: 2, deviceResets: 1 };
    snapshot.vms[1].recovery = { backendRestarts: 0, deviceResets: 0 };
    const app = renderApp({ ...data, snapshot }, { columns, rows });
    try {
      const frame = app.frame();
      assertFits(frame, columns, rows);
      assert.match(frame, /a +running +restarts 2 · resets 1/);
      assert.equal(frame.split("restarts").length, 2, "nothing shown for b, which never recovered");
    } finally {
      app.unmount();
    }
  });

  Deno.test(`overview shows a VM's guest stack drops by cause at ${columns} columns`, () => {
    const data = fixtureData("pair");
    const snapshot = structuredClone(data.snapshot!);
    snapshot.vms[1].guestDrops = { badChecksum: 4548, noListener: 0, truncated: 3 };
    const app = renderApp({ ...data, snapshot }, { columns, rows });
    try {
      const frame = app.frame();
      assertFits(frame, columns, rows);
      assert.match(frame, /stack drops bad checksum 4\.5k truncated 3/);
      assert.doesNotMatch(frame, /no listener/);
      assert.equal(frame.split("stack drops").length, 2, "only b has drops");
    } finally {
      app.unmount();
    }
  });

  Deno.test(`overview shows a VM's vIOMMU per NIC, with its last fault, at ${columns} columns`, () => {
    const data = fixtureData("pair");
    const snapshot = structuredClone(data.snapshot!);
    snapshot.vms[0].iommu = {
      mode: "static",
      domains: [{
        device: "eth0",
        endpoint: 0,
        domain: 1,
        mappings: 1,
        hits: 120_000,
        misses: 3,
        invalidations: 1,
        faults: 2,
        lastFaultIova: "0x3f000",
        lastFaultAccess: "write",
      }],
    };
    const app = renderApp({ ...data, snapshot }, { columns, rows });
    try {
      const frame = app.frame();
      assertFits(frame, columns, rows);
      const flat = frame.split("│").join(" ").replace(/\s+/g, " ");
      // It read "eth0 domain 1 1 map IOTLB 120.0k hit 3 miss 1 inval 2 faults": numbers run
      // together. Below 100 columns the IOTLB is its hit rate (rounded down: 3 misses show).
      assert.match(
        flat,
        columns >= 200 // at 140 the events pane beside it leaves the overview under 100
          ? /vIOMMU static eth0 domain 1: 1 mapping · IOTLB 120\.0k hit, 3 miss, 1 inval · 2 faults/
          : /vIOMMU static eth0 domain 1: 1 mapping · IOTLB 99\.9% hit · 2 faults/,
      );
      assert.match(flat, /last write 0x3f000/);
      assert.equal(frame.split("vIOMMU").length, 2, "only a has a vIOMMU");
    } finally {
      app.unmount();
    }
  });

  Deno.test(`overview shows every negotiated feature, wrapped, at ${columns} columns`, () => {
    const data = fixtureData("pair");
    const app = renderApp({ ...data, snapshot: withFeatures(data.snapshot!) }, { columns, rows });
    try {
      const frame = app.frame();
      assertFits(frame, columns, rows);
      assertAllFeatures(frame);
    } finally {
      app.unmount();
    }
  });

  Deno.test(`overview of a recorded snapshot shows every feature at ${columns} columns`, () => {
    const s0 = withFeatures(loadFixture<LabSnapshot>("recorded_0"));
    const s1 = withFeatures(loadFixture<LabSnapshot>("recorded_1"));
    const history = new OccupancyHistory();
    history.add(s0);
    history.add(s1);
    const app = renderApp(
      { snapshot: s1, rates: computeRates(s0, s1), history, ring: null, error: null },
      { columns, rows },
    );
    try {
      const frame = app.frame();
      assertFits(frame, columns, rows);
      assertAllFeatures(frame);
    } finally {
      app.unmount();
    }
  });
}

Deno.test("at 60 columns a device's link and its state wrap to the next line instead of being cut", () => {
  const data = fixtureData("pair");
  const app = renderApp(data, { columns: 60, rows: 30 });
  try {
    const frame = app.frame();
    assertFits(frame, 60, 30);
    assert.match(
      frame,
      /eth0 {2}virtio-net {2}[0-9a-f:]{17} {2}10\.0\.0\.1\/24 *\n +link a-b up/,
    );
  } finally {
    app.unmount();
  }
});

Deno.test("the overview's links line lists vhost-pci links with their state", () => {
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  snapshot.vhostPciLinks = [{
    name: "c-d",
    frontend: "c:eth0",
    peer: "d:eth0",
    window: "vIOMMU static (endpoint 0)",
    state: "failed",
    connection: 0,
    connects: 1,
    disconnects: 1,
    framesIn: 0,
    framesOut: 0,
    framesDropped: 0,
    partitionDropped: 0,
    interrupts: 0,
    faults: 1,
    revoked: 0,
    lastFault: "read 0x1000",
  }];
  const app = renderApp({ ...data, snapshot }, { columns: 80, rows: 40 });
  try {
    assert.match(app.frame(), /links +a-b up c-d FAILED \(vhost-pci\)/);
  } finally {
    app.unmount();
  }
});

Deno.test("overview shows a vhost-pci peer's IOTLB over the window it serves", () => {
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  const ep = {
    device: "eth0",
    endpoint: 0,
    domain: 1,
    mappings: 1,
    hits: 17,
    misses: 1,
    invalidations: 1,
    faults: 0,
    lastFaultIova: null,
    lastFaultAccess: null,
  };
  snapshot.vms[0].iommu = {
    mode: "static",
    domains: [ep],
    peers: [{ ...ep, peer: "b:eth0", hits: 2013 }],
  };
  const app = renderApp({ ...data, snapshot }, { columns: 80, rows: 30 });
  try {
    assert.match(app.frame(), /vIOMMU static b:eth0 window of eth0 · IOTLB 99\.9% hit · 0 faults/);
  } finally {
    app.unmount();
  }
});

Deno.test("at 40 columns the overview's vIOMMU lines wrap between groups, nothing cut", () => {
  // It cut "IOTLB 120.0k hit 3 mi…": a word wider than what the 18-column indent left.
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  snapshot.vms[0].iommu = {
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
  const app = renderApp({ ...data, snapshot }, { columns: 40, rows: 30 });
  try {
    const lines = app.frame().split("\n");
    const at = lines.findIndex((l) => l.startsWith("    vIOMMU "));
    assert.deepEqual(lines.slice(at, at + 3).map((l) => l.trimEnd()), [
      "    vIOMMU eth0 domain 1: 257 mappings",
      "      IOTLB 13.2% hit · 2 faults",
      "      last write 0x100004000",
    ]);
    for (const l of lines) assert.ok([...l].length <= 40, `too wide: ${l}`);
  } finally {
    app.unmount();
  }
});

Deno.test("a device with no MAC shows its CID or mode, not a dash and no ip", () => {
  // It read "vsock0  virtio-vsock  -  no ip  link a-b-vsock up" and "iommu0  virtio-iommu  -
  // no ip  no link".
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  const nic = snapshot.vms[0].devices[0];
  snapshot.vms[0].devices.push(
    { ...nic, nic: "vsock0", kind: "virtio-vsock", mac: null, ip: null, link: "a-b-vsock" },
    { ...nic, nic: "iommu0", kind: "virtio-iommu", mac: null, ip: null, link: null },
  );
  snapshot.vms[0].devices[1].detail = "cid 3";
  snapshot.vms[0].devices[2].detail = "mode static";
  const app = renderApp({ ...data, snapshot }, { columns: 80, rows: 40 });
  const lines = app.frame().split("\n").map((l) => l.trim().replace(/ +/g, " "));
  assert.ok(lines.includes("vsock0 virtio-vsock cid 3 link a-b-vsock up"), lines.join("\n"));
  assert.ok(lines.includes("iommu0 virtio-iommu mode static"), lines.join("\n"));
  // A NIC keeps its MAC, address and link.
  assert.ok(
    lines.includes("eth0 virtio-net 52:54:00:00:00:01 10.0.0.1/24 link a-b up"),
    lines.join("\n"),
  );
  app.unmount();
});

Deno.test("at 40 columns a long link name wraps and keeps its state, in a device's line and the links line", () => {
  // "link abcdefghijklmnop-switch01234…" and "links    abcdefghijklmnop-switch01234…": cut, they
  // hid that the link was DOWN.
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  const name = "abcdefghijklmnop-switch0123456789";
  snapshot.links[0].name = name;
  snapshot.links[0].up = false;
  for (const vm of snapshot.vms) {
    for (const dev of vm.devices) {
      if (dev.link === "a-b") {
        dev.link = name;
        dev.linkUp = false;
      }
    }
  }
  for (const width of [40, 60, 80]) {
    const lines = overviewLines({ snapshot, selectedVm: 0, width, height: 60, colors: false })
      .map((l) => l.map((s) => s.text).join(""));
    for (const l of lines) assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
    assert.ok(!lines.some((l) => l.includes("…")), lines.join("\n"));
    const text = lines.join(" ").replace(/\s+/g, " ");
    assert.ok(text.includes(`link ${name} DOWN`), `${width}:\n${lines.join("\n")}`);
    assert.ok(text.includes(`links ${name} DOWN`), `${width}:\n${lines.join("\n")}`);
  }
});

Deno.test("at 80 columns what a vhost-pci-net device serves wraps between words, never cut", () => {
  // "serves abcdefghijklmnop:nic0123456789abc over abcdefghij…": one word, cut at 80 columns.
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  const detail = "serves abcdefghijklmnop:nic0123456789abc over abcdefghijklmnop-qrstuvwxyzabcdef";
  snapshot.vms[1].devices[0].detail = detail;
  for (const width of [40, 80]) {
    const lines = overviewLines({ snapshot, selectedVm: 0, width, height: 60, colors: false })
      .map((l) => l.map((s) => s.text).join(""));
    for (const l of lines) assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
    assert.ok(lines.join(" ").replace(/\s+/g, " ").includes(detail), lines.join("\n"));
  }
});

Deno.test("at 40 columns a vIOMMU line with long names breaks between words, never cut", () => {
  // "    vIOMMU qrstuvwxyzabcdef:nic0123456789abc window of …" ran off a 40-column line.
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  const domain = {
    device: "nic0123456789abc",
    endpoint: 0,
    domain: 1,
    mappings: 1,
    hits: 100,
    misses: 1,
    invalidations: 1,
    faults: 0,
    lastFaultIova: null,
    lastFaultAccess: null,
  };
  snapshot.vms[0].iommu = {
    mode: "static",
    domains: [domain],
    peers: [{ ...domain, peer: "qrstuvwxyzabcdef:nic0123456789abc" }],
  };
  for (const width of [40, 60, 80]) {
    const lines = overviewLines({ snapshot, selectedVm: 0, width, height: 60, colors: false })
      .map((l) => l.map((s) => s.text).join(""));
    for (const l of lines) assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
    const text = lines.join(" ").replace(/\s+/g, " ");
    assert.ok(text.includes("nic0123456789abc domain 1: 1 mapping"), lines.join("\n"));
    assert.ok(
      text.includes("qrstuvwxyzabcdef:nic0123456789abc window of nic0123456789abc"),
      lines.join("\n"),
    );
  }
});
