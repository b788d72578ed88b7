import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { NO_IMPAIRMENT } from "../host/impair.ts";
import {
  loadTopologyFile,
  resolveTopologyPath,
  shippedTopologies,
  type Topology,
  topologyJsonSchema,
} from "./mod.ts";
import { keysAt } from "./structure.ts";

const TOPOLOGIES = fileURLToPath(new URL("../../topologies/", import.meta.url));

async function loadShipped(name: string): Promise<Topology> {
  const r = await loadTopologyFile(resolveTopologyPath(name));
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

Deno.test("the shipped list matches the YAML files in topologies/", () => {
  const files = [...Deno.readDirSync(TOPOLOGIES)]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".yaml"))
    .map((n) => n.slice(0, -5))
    .sort();
  assert.deepEqual(files, shippedTopologies().sort());
});

Deno.test("every shipped topology parses", async () => {
  for (const name of shippedTopologies()) {
    const t = await loadShipped(name);
    assert.equal(t.name, name);
  }
});

Deno.test("pair has its exact normalised shape", async () => {
  const t = await loadShipped("pair");
  const nic = (mac: string, ip: string) => ({
    name: "eth0",
    mac,
    ip,
    prefix: 24,
    queueSize: 256,
    layout: "split",
    features: { eventIdx: true, indirect: false, mrgRxbuf: true, inOrder: false, csum: true },
    mtu: 1500,
    iommu: false,
  });
  const none = {
    delayUs: 0,
    jitterUs: 0,
    delayCorrPct: 0,
    distribution: "uniform",
    lossPct: 0,
    lossCorrPct: 0,
    lossModel: null,
    corruptPct: 0,
    corruptCorrPct: 0,
    duplicatePct: 0,
    duplicateCorrPct: 0,
    reorderPct: 0,
    reorderCorrPct: 0,
    reorderGap: 1,
    rateBps: 0,
    overheadBytes: 0,
    limit: 1000,
  };
  assert.deepEqual(t, {
    name: "pair",
    seed: 1,
    source: resolveTopologyPath("pair"),
    vms: [
      {
        name: "a",
        memoryBytes: 16777216,
        pollUs: 0,
        nics: [nic("02:00:00:00:00:00", "10.0.0.1")],
        vsock: null,
        iommu: null,
      },
      {
        name: "b",
        memoryBytes: 16777216,
        pollUs: 0,
        nics: [nic("02:00:00:01:00:00", "10.0.0.2")],
        vsock: null,
        iommu: null,
      },
    ],
    switches: [],
    links: [{
      name: "a-b",
      endpoints: [{ kind: "nic", vm: "a", nic: "eth0" }, { kind: "nic", vm: "b", nic: "eth0" }],
      forward: none,
      reverse: none,
    }],
    vsockLinks: [],
    vsockRouters: [],
  });
});

Deno.test("shipped topologies have the documented names, links and layouts", async () => {
  const star = await loadShipped("star");
  assert.deepEqual(star.links.map((l) => l.name), ["h1-sw1", "h2-sw1", "h3-sw1", "h4-sw1"]);
  const two = await loadShipped("two-switches");
  assert.deepEqual(two.links.map((l) => l.name), [
    "sw1-sw2",
    "h1-sw1",
    "h2-sw1",
    "h3-sw2",
    "h4-sw2",
  ]);
  const svp = await loadShipped("split-vs-packed");
  assert.deepEqual(
    svp.vms.map((v) => `${v.name}:${v.nics[0].layout}:${v.nics[0].ip}`),
    ["s1:split:10.0.1.1", "s2:split:10.0.1.2", "p1:packed:10.0.2.1", "p2:packed:10.0.2.2"],
  );
  assert.deepEqual(svp.links.map((l) => l.name), ["s1-s2", "p1-p2"]);
});

Deno.test("topology arguments resolve to shipped files or stay as given", () => {
  assert.equal(resolveTopologyPath(undefined), `${TOPOLOGIES}pair.yaml`);
  assert.equal(resolveTopologyPath("star"), `${TOPOLOGIES}star.yaml`);
  assert.equal(resolveTopologyPath("star.yaml"), "star.yaml");
  assert.equal(resolveTopologyPath("./star"), "./star");
  assert.equal(resolveTopologyPath("mine"), "mine");
});

Deno.test("a bare name whose .yaml file is in the current folder gets a did-you-mean with the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-bare-" });
  const here = Deno.cwd();
  try {
    await Deno.writeTextFile(`${dir}/lossy.yaml`, "name: lossy\nvms: { a: {} }\n");
    Deno.chdir(dir);
    const r = await loadTopologyFile(resolveTopologyPath("lossy"));
    assert.ok(!r.ok);
    assert.equal(r.error[0].message, 'Cannot read topology file "lossy": no such file');
    assert.match(
      r.error[0].hint!,
      /^did you mean `lossy\.yaml`\? A bare name is a shipped topology/,
    );
  } finally {
    Deno.chdir(here);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing file named like a shipped topology gets a did-you-mean with its bare name", async () => {
  const list = "shipped topologies: pair, star, two-switches, split-vs-packed, vsock-pair, " +
    "iommu-pair, vhost-pci";
  for (const [path, near] of [["strat", "star"], ["/nowhere/pair.yaml", "pair"]]) {
    const r = await loadTopologyFile(path);
    assert.ok(!r.ok);
    assert.equal(r.error[0].message, `Cannot read topology file "${path}": no such file`);
    assert.equal(r.error[0].hint, `did you mean \`${near}\`? ${list}`);
  }
});

Deno.test("a missing file is one unreadable issue without a line", async () => {
  const r = await loadTopologyFile("/nonexistent/lab.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(r.error, [{
    code: "unreadable",
    path: "",
    line: null,
    column: null,
    message: 'Cannot read topology file "/nonexistent/lab.yaml": no such file',
    hint:
      "shipped topologies: pair, star, two-switches, split-vs-packed, vsock-pair, iommu-pair, vhost-pci",
  }]);
});

Deno.test("a topology named - (stdin for a drill) says that a topology is read from a file", async () => {
  const r = await loadTopologyFile("-");
  assert.ok(!r.ok);
  assert.equal(r.error[0].message, 'Cannot read topology file "-": no such file');
  // Before, the hint listed the shipped topologies, as for a typo.
  assert.equal(
    r.error[0].hint,
    "a topology is read from a file, not from stdin: save it to a file and give its path, or give a shipped name such as pair",
  );
});

Deno.test("the JSON Schema is a closed object schema that lists vms and links", () => {
  const s = topologyJsonSchema() as {
    type: string;
    required: string[];
    properties: Record<string, { description?: string }>;
    additionalProperties: boolean;
  };
  assert.equal(s.type, "object");
  assert.deepEqual(s.required, ["name", "vms"]);
  assert.ok("vms" in s.properties && "links" in s.properties);
  assert.equal(s.additionalProperties, false);
  // Checked by hand: an unknown top-level key is not among the properties, so it is refused.
  const doc = { name: "x", vms: {}, lnks: [] };
  const refused = Object.keys(doc).filter((k) => !(k in s.properties));
  assert.deepEqual(refused, ["lnks"]);
  for (const key of Object.keys(s.properties)) {
    assert.ok(s.properties[key].description, `no description on ${key}`);
  }
});

Deno.test("the JSON Schema carries name patterns and unit descriptions", () => {
  const json = JSON.stringify(topologyJsonSchema());
  assert.ok(json.includes("^[a-z][a-z0-9_-]{0,15}$"));
  assert.ok(json.includes("A duration"));
});

Deno.test("vsock-pair gives each VM a vsock CID and joins them by a vsock link", async () => {
  const t = await loadShipped("vsock-pair");
  assert.deepEqual(t.vms.map((v) => [v.name, v.vsock]), [["a", { cid: 3 }], ["b", { cid: 4 }]]);
  assert.deepEqual(t.vsockLinks, [{
    name: "a-b-vsock",
    vms: ["a", "b"],
    forward: NO_IMPAIRMENT,
    reverse: NO_IMPAIRMENT,
  }]);
  assert.deepEqual(t.links.map((l) => l.name), ["a-b"]);
});

Deno.test("docs/topology.md names every shipped topology, every top-level key and defaults.nic's keys", () => {
  const doc = Deno.readTextFileSync(new URL("../../docs/topology.md", import.meta.url));
  const intro = doc.slice(0, doc.indexOf("\n## "));
  for (const name of shippedTopologies()) assert.ok(intro.includes(`\`${name}\``), name);
  const top = doc.slice(doc.indexOf("### Top level"), doc.indexOf("\n### VM"));
  for (const key of keysAt([])) assert.match(top, new RegExp(`^\\| \`${key}\` +\\|`, "m"), key);
  const nicHeading = /^### NIC .*$/m.exec(doc)?.[0] ?? "";
  for (const key of keysAt(["defaults", "nic"])) assert.ok(nicHeading.includes(`\`${key}\``), key);
  // topologies/README.md has a row for each.
  const readme = Deno.readTextFileSync(`${TOPOLOGIES}README.md`);
  for (const name of shippedTopologies()) {
    assert.match(readme, new RegExp(`^\\| \`${name}\\.yaml\` +\\|`, "m"), name);
  }
});
