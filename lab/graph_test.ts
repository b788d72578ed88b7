import assert from "node:assert/strict";
import {
  dotString,
  graphFromStatus,
  graphFromTopology,
  type LabGraph,
  mermaidString,
  renderGraph,
} from "./graph.ts";
import type { LabStatus } from "./metrics.ts";
import { topologyFromObject } from "./topology/mod.ts";

function topologyGraph(object: Record<string, unknown>): LabGraph {
  const t = topologyFromObject(object);
  if (!t.ok) throw new Error(JSON.stringify(t.error));
  return graphFromTopology(t.value);
}

const STAR = {
  name: "s",
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { layout: "packed", queue_size: 64, nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  switches: { sw: {} },
  links: [
    { endpoints: ["a", "sw"], forward: { delay: "10ms" }, reverse: { loss: "5%" } },
    { endpoints: ["b:eth0", "sw"], delay: "1ms" },
  ],
};

/** A graph with names no topology file allows: quotes, backslashes, Mermaid syntax, escapes. */
const HOSTILE: LabGraph = {
  name: 'l"ab',
  source: "<object>",
  live: true,
  vms: [
    {
      name: 'a"b',
      nics: [{ name: "e\\0", mac: "02:00:00:00:00:01", ip: null, layout: "split", queueSize: 8 }],
    },
    { name: "x]|y#;<z>`", nics: [] },
  ],
  switches: ["s\u001b[2Jw"],
  vsockRouters: [],
  links: [{
    name: 'l"1',
    ends: [{ node: 'a"b', nic: "e\\0" }, { node: "s\u001b[2Jw", nic: null }],
    forward: "no impairment",
    reverse: "loss 1%",
    up: false,
  }],
};

Deno.test("graph of a topology: NICs with IPs and layouts, both directions' impairments", () => {
  const g = topologyGraph(STAR);
  assert.deepEqual(
    g.vms.map((v) => v.nics.map((n) => `${v.name}:${n.name} ${n.ip} ${n.layout}/${n.queueSize}`)),
    [
      ["a:eth0 10.0.0.1/24 split/256"],
      ["b:eth0 10.0.0.2/24 packed/64"],
    ],
  );
  assert.deepEqual(g.switches, ["sw"]);
  assert.deepEqual(g.links.map((l) => [l.name, l.ends, l.forward, l.reverse, l.up]), [
    [
      "a-sw",
      [{ node: "a", nic: "eth0" }, { node: "sw", nic: null }],
      "delay 10ms",
      "loss 5%",
      null,
    ],
    [
      "b-sw",
      [{ node: "b", nic: "eth0" }, { node: "sw", nic: null }],
      "delay 1ms",
      "delay 1ms",
      null,
    ],
  ]);
});

Deno.test("dot names every VM and switch once and labels each link with both directions", () => {
  const dot = renderGraph(topologyGraph(STAR), "dot");
  assert.match(dot, /^graph "s" \{\n/);
  assert.match(dot, /\n\}\n$/);
  assert.match(dot, /\n {2}"a" \[shape=box, label="a\\neth0 10\.0\.0\.1\/24 split\/256"\];/);
  assert.match(dot, /\n {2}"b" \[shape=box, label="b\\neth0 10\.0\.0\.2\/24 packed\/64"\];/);
  assert.match(dot, /\n {2}"sw" \[shape=hexagon, label="sw"\];/);
  assert.match(dot, /"a" -- "sw" \[label="a-sw\\na:eth0 → sw: delay 10ms\\nsw → a:eth0: loss 5%"/);
  assert.match(dot, /"b" -- "sw" \[label="b-sw\\nboth ways: delay 1ms", taillabel="eth0"\]/);
  assert.equal(dot.split("\n").filter((l) => l.includes(" -- ")).length, 2);
});

Deno.test("dot escapes quotes and backslashes and drops control characters", () => {
  assert.equal(dotString(['a"b', "c\\d"]), '"a\\"b\\nc\\\\d"');
  const dot = renderGraph(HOSTILE, "dot");
  assert.ok(!dot.includes("\u001b"), "an escape character reached the output");
  assert.match(dot, /\n {2}"a\\"b" \[shape=box, label="a\\"b\\ne\\\\0 \(no ip\) split\/8"\];/);
  // Every double quote inside a string is escaped: stripping escapes leaves balanced quotes.
  for (const line of dot.split("\n")) {
    const bare = line.replace(/\\\\/g, "").replace(/\\"/g, "");
    assert.equal((bare.match(/"/g) ?? []).length % 2, 0, line);
  }
  assert.match(dot, /"a\\"b" -- "s\?\[2Jw" \[.*style=dashed, color=red\]/);
});

Deno.test("mermaid is a flowchart with one node per VM or switch and one edge per link", () => {
  const text = renderGraph(topologyGraph(STAR), "mermaid");
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[0], "flowchart LR");
  assert.deepEqual(lines.slice(1, 4), [
    '  n0["a<br/>eth0 10.0.0.1/24 split/256"]',
    '  n1["b<br/>eth0 10.0.0.2/24 packed/64"]',
    '  n2{{"sw"}}',
  ]);
  assert.deepEqual(lines.slice(4), [
    '  n0 ---|"a-sw<br/>a:eth0 → sw: delay 10ms<br/>sw → a:eth0: loss 5%"| n2',
    '  n1 ---|"b-sw<br/>both ways: delay 1ms"| n2',
  ]);
});

Deno.test("mermaid replaces its syntax characters in names with entity codes", () => {
  assert.equal(mermaidString(['a"b|c#d']), '"a#quot;b#124;c#35;d"');
  const text = renderGraph(HOSTILE, "mermaid");
  assert.ok(!text.includes("\u001b"));
  const lines = text.trimEnd().split("\n");
  assert.equal(lines[1], '  n0["a#quot;b<br/>e\\0 (no ip) split/8"]');
  assert.equal(lines[2], '  n1["x]#124;y#35;;#lt;z#gt;#96;"]');
  assert.equal(lines[3], '  n2{{"s?[2Jw"}}');
  // A link that is down is dotted and red.
  assert.equal(
    lines[4],
    '  n0 -.-|"l#quot;1 (DOWN)<br/>a#quot;b:e\\0 → s?[2Jw: no impairment<br/>s?[2Jw → a#quot;b:e\\0: loss 1%"| n2',
  );
  assert.equal(lines[5], "  linkStyle 0 stroke:red");
  // Inside every label, no raw quote is left.
  for (const l of lines.slice(1)) {
    for (const label of l.match(/"[^"]*"/g) ?? []) assert.ok(!label.slice(1, -1).includes('"'));
  }
});

Deno.test("graph of a running lab's status carries the link state", () => {
  const counters = { impair: "no impairment", frames: 0, bytes: 0, dropped: 0 };
  const status = {
    name: "p",
    source: "/x/pair.yaml",
    vms: [{
      name: "a",
      state: "running",
      nics: [{
        name: "eth0",
        mac: "02:00:00:00:00:01",
        ip: "10.0.0.1/24",
        layout: "packed",
        queueSize: 32,
        link: "a-sw",
      }],
    }],
    switches: [{ name: "sw", ports: ["a-sw"] }],
    links: [{
      name: "a-sw",
      endpoints: ["a:eth0", "sw"],
      up: false,
      forward: counters,
      reverse: { ...counters, impair: "loss 2%" },
    }],
  } as unknown as LabStatus;
  const g = graphFromStatus(status);
  assert.equal(g.live, true);
  assert.deepEqual(g.links[0], {
    name: "a-sw",
    ends: [{ node: "a", nic: "eth0" }, { node: "sw", nic: null }],
    forward: "no impairment",
    reverse: "loss 2%",
    up: false,
    cuts: [],
  });
  assert.deepEqual(JSON.parse(renderGraph(g, "json")), g);
});

Deno.test("a running lab's graph says which partition cuts a link between two VMs, and which way", () => {
  const counters = { impair: "no impairment", frames: 0, bytes: 0, dropped: 0 };
  const nic = (vm: string, link: string) => ({
    name: vm,
    state: "running",
    nics: [{
      name: "eth0",
      mac: "02:00:00:00:00:01",
      ip: null,
      layout: "split",
      queueSize: 8,
      link,
    }],
  });
  const link = (name: string, endpoints: string[]) => ({
    name,
    endpoints,
    up: true,
    forward: counters,
    reverse: counters,
  });
  const status = {
    name: "p",
    source: "/x/p.yaml",
    vms: [nic("a", "a-b"), nic("b", "a-b"), nic("c", "b-c"), nic("d", "d-sw")],
    switches: [{ name: "sw", ports: ["d-sw"], learned: 0 }],
    links: [
      link("a-b", ["a:eth0", "b:eth0"]),
      link("b-c", ["b:eth0", "c:eth0"]),
      link("d-sw", ["d:eth0", "sw"]),
    ],
    partitions: [
      { id: 1, a: ["a"], b: ["b", "d"], oneWay: false },
      { id: 2, a: ["c"], b: ["b"], oneWay: true },
    ],
  } as unknown as LabStatus;
  const g = graphFromStatus(status);
  assert.deepEqual(g.links.map((l) => [l.name, l.cuts]), [
    ["a-b", [{ partition: 1, way: "both" }]],
    // One way, from c (the link's second end) to b.
    ["b-c", [{ partition: 2, way: "reverse" }]],
    // A switch carries what the partition lets through: its link is not cut as a whole.
    ["d-sw", []],
  ]);
  const dot = renderGraph(g, "dot");
  assert.match(
    dot,
    /label="a-b \(up, cut by partition 1\)\\nboth ways: no impairment".*style=dotted, color=orange/,
  );
  assert.match(dot, /label="b-c \(up, c:eth0 → b:eth0 cut by partition 2\)/);
  assert.match(dot, /label="d-sw \(up\)\\nboth ways: no impairment", taillabel="eth0"\];/);
  assert.doesNotMatch(dot.split("\n").find((l) => l.includes("d-sw"))!, /dotted/);
  assert.match(renderGraph(g, "mermaid"), /linkStyle 0 stroke:orange/);
  // A file's graph has no partitions to show.
  const t = topologyFromObject({
    name: "f",
    vms: {
      a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
      b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  });
  assert.ok(t.ok);
  assert.equal(graphFromTopology(t.value).links[0].cuts, undefined);
});

Deno.test("a vsock link is drawn between its two VMs, as a running lab's status lists it", () => {
  const t = topologyFromObject({
    name: "vs",
    vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } },
    links: [{ kind: "vsock", endpoints: ["a", "b"] }],
  });
  assert.ok(t.ok);
  const g = graphFromTopology(t.value);
  assert.deepEqual(g.links.map((l) => [l.name, l.ends]), [
    ["a-b-vsock", [{ node: "a", nic: null }, { node: "b", nic: null }]],
  ]);
  assert.match(
    renderGraph(g, "dot"),
    /"a" -- "b" \[label="a-b-vsock\\nboth ways: no impairment"\]/,
  );
});

Deno.test("a vsock router is drawn as its own node with a link to each VM, from a file or a running lab", () => {
  const t = topologyFromObject({
    name: "vr",
    vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } }, c: { vsock: { cid: 5 } } },
    vsock_routers: { r: {} },
    links: [
      { kind: "vsock", endpoints: ["a", "r"] },
      { kind: "vsock", endpoints: ["b", "r"] },
      { kind: "vsock", endpoints: ["c", "r"] },
    ],
  });
  assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
  const g = graphFromTopology(t.value);
  assert.deepEqual(g.vsockRouters, ["r"]);
  assert.deepEqual(g.vms.map((v) => v.vsock), ["vsock0 cid 3", "vsock0 cid 4", "vsock0 cid 5"]);
  assert.match(renderGraph(g, "dot"), /"a" \[shape=box, label="a\\nvsock0 cid 3"\];/);
  assert.deepEqual(g.links.map((l) => l.ends.map((e) => e.node)), [["a", "r"], ["b", "r"], [
    "c",
    "r",
  ]]);
  const dot = renderGraph(g, "dot");
  assert.match(dot, /"r" \[shape=octagon, label="r\\nvsock router"\];/);
  assert.match(dot, /"c" -- "r" \[label="c-r(-vsock)?\\nboth ways: no impairment"\]/);
  assert.match(renderGraph(g, "mermaid"), /n3\(\["r<br\/>vsock router"\]\)/);
  // A running lab's status has no router list: an end that is no VM, NIC or switch is one.
  const status = {
    vms: [{ name: "a", nics: [] }, { name: "b", nics: [] }],
    switches: [{ name: "sw" }],
    links: [
      {
        name: "a-r",
        endpoints: ["a", "r"],
        up: true,
        forward: { impair: "" },
        reverse: { impair: "" },
      },
      {
        name: "b-sw",
        endpoints: ["b:eth0", "sw"],
        up: true,
        forward: { impair: "" },
        reverse: { impair: "" },
      },
    ],
  };
  assert.deepEqual(graphFromStatus(status as unknown as LabStatus).vsockRouters, ["r"]);
});

Deno.test("a running lab's vsock router is drawn as a router, not as a switch", () => {
  // The status lists a vsock router among the switches, with a router's counters (no MAC table).
  const link = (name: string, endpoints: [string, string]) => ({
    name,
    endpoints,
    up: true,
    forward: { impair: "no impairment" },
    reverse: { impair: "no impairment" },
  });
  const status = {
    name: "x",
    source: "x.yaml",
    vms: [{ name: "a", nics: [] }, { name: "b", nics: [] }],
    switches: [
      { name: "sw", ports: ["b-sw"], counters: { forwarded: 0, learned: 0, aged: 0 } },
      { name: "r", ports: ["a-r-vsock"], counters: { forwarded: 0, rst_no_route: 0 } },
    ],
    links: [link("a-r-vsock", ["a", "r"]), link("b-sw", ["b:eth0", "sw"])],
  };
  const g = graphFromStatus(status as unknown as LabStatus);
  assert.deepEqual([g.switches, g.vsockRouters], [["sw"], ["r"]]);
  assert.match(renderGraph(g, "dot"), /"r" \[shape=octagon, label="r\\nvsock router"\];/);
  assert.doesNotMatch(renderGraph(g, "dot"), /"r" \[shape=hexagon/);
  assert.match(renderGraph(g, "mermaid"), /\(\["r<br\/>vsock router"\]\)/);
});

Deno.test("a VM's vIOMMU and the NICs behind it are drawn, from a file and from a running lab", () => {
  const file = topologyGraph({
    name: "i",
    vms: {
      a: {
        iommu: { mode: "strict" },
        nics: { eth0: { ip: "10.0.0.1/24", iommu: true }, eth1: { ip: "10.0.1.1/24" } },
      },
      b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  });
  assert.deepEqual(file.vms.map((v) => [v.iommu, v.nics.map((n) => n.iommu ?? null)]), [
    ["iommu0 mode strict", ["strict", null]],
    [null, [null]],
  ]);
  const status = {
    name: "i",
    source: "i.yaml",
    vms: [{
      name: "a",
      state: "running",
      nics: [
        { name: "eth0", mac: "m0", ip: "10.0.0.1/24", layout: "split", queueSize: 256 },
        { name: "eth1", mac: "m1", ip: "10.0.1.1/24", layout: "split", queueSize: 256 },
      ],
      devices: [{ name: "iommu0", kind: "virtio-iommu", detail: "mode strict" }],
      iommu: { mode: "strict", domains: [{ device: "eth0", endpoint: 0, domain: 1 }] },
    }],
    switches: [],
    links: [],
  } as unknown as LabStatus;
  const live = graphFromStatus(status);
  assert.equal(live.vms[0].iommu, "iommu0 mode strict");
  assert.deepEqual(live.vms[0].nics.map((n) => n.iommu ?? null), ["strict", null]);
  // Each format shows it: the NIC marked with the DMA mode, the device on its own line.
  assert.match(
    renderGraph(live, "dot"),
    /"a" \[shape=box, label="a\\neth0 10.0.0.1\/24 split\/256 iommu strict\\neth1 10.0.1.1\/24 split\/256\\niommu0 mode strict"\]/,
  );
  assert.match(
    renderGraph(file, "mermaid"),
    /\["a<br\/>eth0 10.0.0.1\/24 split\/256 iommu strict<br\/>eth1 10.0.1.1\/24 split\/256<br\/>iommu0 mode strict"\]/,
  );
  const json = JSON.parse(renderGraph(file, "json")) as LabGraph;
  assert.equal(json.vms[0].nics[0].iommu, "strict");
  assert.equal(json.vms[0].iommu, "iommu0 mode strict");
});
