/**
 * A vlab file given to the command of another kind (a drill to `vlab up`, a topology to `vlab
 * drill run`, a drill to `vlab drill replay`, the JSON Schema to any of them) is one `wrong-kind`
 * problem at the document's top with a hint naming the right command, from every loader: the
 * topology's (`parseTopology`, `loadTopologyFile`, a drill's `topology:`), the drill's and the
 * report reader.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { join } from "node:path";
import { vlabFileKind, vlabTextKind, wrongKindProblem } from "./file_kind.ts";
import { textFileKind } from "./text_kind.ts";
import { parseTopology, topologyFromObject } from "./load.ts";
import { loadTopologyFile } from "./files.ts";
import { loadDrillFile, parseDrill } from "../drill/load.ts";
import { parseReport, readReport } from "../drill/input.ts";

const DRILL = "# a drill\ntopology: pair\ntimeline:\n  - wait: 1s\nassert: []\n";
const TOPOLOGY = "name: x\nvms: { a: {} }\n";
const REPORT = JSON.stringify({ version: 1, name: "d", seed: 1, steps: [], links: [] });
const schemaFile = new URL("../../topologies/vlab.schema.json", import.meta.url);

Deno.test("vlabFileKind tells a topology, a drill, a report and the schema by their keys", async () => {
  const schema = JSON.parse(await Deno.readTextFile(schemaFile));
  assert.equal(vlabFileKind({ name: "x", vms: {} }), "topology");
  assert.equal(vlabFileKind({ links: [] }), "topology");
  assert.equal(vlabFileKind({ topology: "pair", timeline: [] }), "drill");
  assert.equal(vlabFileKind({ timeline: [] }), "drill");
  assert.equal(vlabFileKind(JSON.parse(REPORT)), "report");
  assert.equal(vlabFileKind(schema), "schema");
  // A topology with a stray drill key is a topology with an unknown key, not a drill.
  assert.equal(vlabFileKind({ name: "x", vms: {}, timeline: [] }), "topology");
  // Nothing that tells: each reader's own checks say what is missing.
  for (const v of [null, undefined, "text", [], {}, { name: "x" }, { nmae: "x" }]) {
    assert.equal(vlabFileKind(v), null, JSON.stringify(v));
  }
  assert.equal(wrongKindProblem("topology", "topology"), null);
  assert.equal(wrongKindProblem(null, "drill"), null);
});

Deno.test("textFileKind tells a file's kind whatever its YAML-level problems", () => {
  // `vlab validate FILE` judged a drill with one of these as a topology.
  const drills = [
    DRILL + "assert:\n  - !p.received\n", // an unknown tag (an assertion that starts with !)
    DRILL + "timeline: []\n", // a duplicate key
    DRILL.replace("wait: 1s", "wait: *gone"), // an alias to nothing
    DRILL.replace("wait: 1s", "wait: [1s"), // a syntax error below the top
  ];
  for (const text of drills) assert.equal(textFileKind(text), "drill", text);
  assert.equal(textFileKind(TOPOLOGY + "name: y\n"), "topology");
  assert.equal(textFileKind(REPORT), "report");
  assert.equal(textFileKind("# Drill flap: PASS\n\n"), "markdown-report");
  for (const text of ["", "text", "- a\n", "__proto__: { vms: 1 }\n", "{", "a: 1\n"]) {
    assert.equal(textFileKind(text), null, JSON.stringify(text));
  }
});

Deno.test("a drill with a YAML-level problem read as a topology is still one wrong-kind problem", () => {
  // `vlab up drill.yaml` reported the drill's duplicate key or unknown tag in a topology's words
  // ("a topology holds plain values"), where a clean drill says to run it with `vlab drill run`.
  const drills = [
    DRILL + "assert:\n  - !p.received\n", // an unknown tag (an assertion that starts with !)
    DRILL + "timeline: []\n", // a duplicate key
    DRILL.replace("wait: 1s", "wait: *gone"), // an alias to nothing
    DRILL.replace("wait: 1s", "wait: [1s"), // a syntax error below the top
  ];
  for (const text of drills) {
    const r = parseTopology(text, "drills/d.yaml");
    assert.ok(!r.ok, text);
    // At the document's top (after its comment), as a clean drill's is.
    assert.deepEqual(r.error.map((i) => [i.code, i.line, i.column, i.message, i.hint]), [[
      "wrong-kind",
      2,
      1,
      "This is a drill file, not a topology",
      "give its topology instead (pair), or run it with `vlab drill run drills/d.yaml`",
    ]], text);
  }
  const inline = parseTopology("topology: { name: x }\ntimeline: []\ntimeline: []\n", "d.yaml");
  assert.ok(!inline.ok);
  assert.deepEqual(inline.error.map((i) => i.code), ["wrong-kind"]);
  assert.match(inline.error[0].hint!, /written inline under its `topology:`/);
  // A topology with such a problem keeps its own.
  const topology = parseTopology(TOPOLOGY + "name: y\n", "t.yaml");
  assert.ok(!topology.ok);
  assert.deepEqual(topology.error.map((i) => i.code), ["duplicate-key"]);
});

Deno.test("a drill read as a topology is one problem at its top, naming its topology and drill run", () => {
  const r = parseTopology(DRILL, "drills/d.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(r.error, [{
    code: "wrong-kind",
    path: "",
    line: 2,
    column: 1,
    message: "This is a drill file, not a topology",
    hint: "give its topology instead (pair), or run it with `vlab drill run drills/d.yaml`",
  }]);
  const inline = parseTopology("topology: { name: x, vms: { a: {} } }\ntimeline: []\n", "d.yaml");
  assert.ok(!inline.ok);
  assert.equal(inline.error.length, 1);
  assert.match(inline.error[0].hint!, /written inline under its `topology:`/);
  // A program's object too, with FILE in the hint (it has no path).
  const object = topologyFromObject({ topology: "pair", timeline: [] });
  assert.ok(!object.ok);
  assert.equal(object.error.length, 1);
  assert.match(object.error[0].hint!, /vlab drill run FILE/);
});

Deno.test("a report or the JSON Schema read as a topology is one problem with the command that takes it", async () => {
  const report = parseTopology(REPORT, "out/report.json");
  assert.ok(!report.ok);
  assert.deepEqual(report.error.map((i) => [i.code, i.line, i.message, i.hint]), [[
    "wrong-kind",
    1,
    "This is a drill report (report.json), not a topology",
    "replay it with `vlab drill replay out/report.json`",
  ]]);
  const schema = await loadTopologyFile(fileURLToPath(schemaFile));
  assert.ok(!schema.ok);
  assert.deepEqual(schema.error.map((i) => [i.code, i.line, i.column]), [["wrong-kind", 1, 1]]);
  assert.match(schema.error[0].message, /JSON Schema of topology files/);
});

Deno.test("a topology or a report given as a drill is one problem, not one per key", async () => {
  const topo = await parseDrill("# lab\n" + TOPOLOGY, "lab.yaml");
  assert.ok(!topo.ok);
  assert.deepEqual(topo.error.map((i) => [i.code, i.file, i.line, i.column, i.message]), [[
    "wrong-kind",
    "lab.yaml",
    2,
    1,
    "This is a topology, not a drill file",
  ]]);
  assert.match(
    topo.error[0].hint!,
    /^start it with `vlab up lab.yaml`; a drill names its topology/,
  );
  // A topology with a YAML-level problem too: `vlab drill run` said "a drill holds plain values".
  for (const text of [TOPOLOGY + "name: y\n", TOPOLOGY + "links: !x []\n"]) {
    const bad = await parseDrill("# lab\n" + text, "lab.yaml");
    assert.ok(!bad.ok);
    assert.deepEqual(bad.error.map((i) => [i.code, i.line, i.column, i.message]), [[
      "wrong-kind",
      2,
      1,
      "This is a topology, not a drill file",
    ]], text);
  }
  const report = await parseDrill(REPORT, "r.json");
  assert.ok(!report.ok);
  assert.deepEqual(report.error.map((i) => i.code), ["wrong-kind"]);
  assert.match(report.error[0].hint!, /vlab drill replay r.json/);
});

Deno.test("a drill whose topology: names a drill file gets one problem in that file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "inner.yaml"), DRILL);
    await Deno.writeTextFile(join(dir, "outer.yaml"), "topology: inner.yaml\ntimeline: []\n");
    const r = await loadDrillFile(join(dir, "outer.yaml"));
    assert.ok(!r.ok);
    assert.deepEqual(r.error.map((i) => [i.code, i.file, i.line, i.message]), [[
      "wrong-kind",
      join(dir, "inner.yaml"),
      2,
      "This is a drill file, not a topology",
    ]]);
    assert.match(r.error[0].hint!, /give its topology instead \(pair\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a replay given a drill, a topology, the schema or an empty file says what it is", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(join(dir, name), text);
      return join(dir, name);
    };
    const drill = await readReport(await write("d.yaml", DRILL));
    assert.ok(!drill.ok);
    assert.deepEqual([drill.error.code, drill.error.line, drill.error.message], [
      "wrong-kind",
      2,
      "This is a drill file, not a drill report (report.json)",
    ]);
    assert.match(drill.error.hint!, /^run it with `vlab drill run \S+d.yaml`/);
    const topo = await readReport(await write("t.yaml", TOPOLOGY));
    assert.ok(!topo.ok);
    assert.equal(topo.error.message, "This is a topology, not a drill report (report.json)");
    // With a YAML-level problem too: each said "The report is not JSON".
    for (
      const [text, kind] of [[DRILL + "timeline: []\n", "a drill file"], [
        TOPOLOGY + "name: y\n",
        "a topology",
      ]]
    ) {
      const r = parseReport(text, "x.yaml");
      assert.ok(!r.ok);
      assert.deepEqual([r.error.code, r.error.message], [
        "wrong-kind",
        `This is ${kind}, not a drill report (report.json)`,
      ]);
    }
    // A cut report is still one that is no JSON.
    const cut = parseReport(REPORT.slice(0, 20), "r.json");
    assert.ok(!cut.ok);
    assert.equal(cut.error.code, "bad-json");
    const schema = await readReport(fileURLToPath(schemaFile));
    assert.ok(!schema.ok);
    assert.equal(schema.error.code, "wrong-kind");
    const empty = await readReport(await write("e.json", "\n"));
    assert.ok(!empty.ok);
    assert.equal(empty.error.message, "The report is empty: a drill report is a JSON object");
    // A report reads as before.
    const ok = await readReport(await write("r.json", REPORT));
    assert.ok(ok.ok);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the other reports a drill writes (Markdown, JUnit, chart) are told by their text, by every reader", async () => {
  const md = "# Drill flap: FAIL\n\n- source: `d.yaml`\n\n| verdict | assertion |\n";
  const junit =
    '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="vlab drills" tests="1">\n';
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="1"></svg>';
  assert.equal(vlabTextKind(md), "markdown-report");
  assert.equal(vlabTextKind(junit), "junit-report");
  assert.equal(vlabTextKind(svg), "chart");
  assert.equal(vlabTextKind("# a comment\nname: x\n"), null);
  const topo = parseTopology(md, "out/report.md");
  assert.ok(!topo.ok);
  assert.deepEqual(topo.error, [{
    code: "wrong-kind",
    path: "",
    line: 1,
    column: 1,
    message: "This is a drill's Markdown report (report.md), not a topology",
    hint: "replay the report.json beside it: `vlab drill replay out/report.json`",
  }]);
  const drill = await parseDrill(svg, "out/chart.svg");
  assert.ok(!drill.ok);
  assert.deepEqual(drill.error.map((i) => [i.code, i.line, i.message]), [[
    "wrong-kind",
    1,
    "This is a drill's chart (chart.svg), not a drill file",
  ]]);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "drill.xml"), junit);
    const report = await readReport(join(dir, "drill.xml"));
    assert.ok(!report.ok);
    assert.equal(
      report.error.message,
      "This is a drill's JUnit XML report, not a drill report (report.json)",
    );
    assert.match(report.error.hint!, /^replay the run's report\.json instead/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a packet capture given as a topology, a drill or a report is named as one, not 'binary'", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // libpcap's global header, as `vlab capture -w` writes it: magic, 2.4, snaplen, Ethernet.
    const header = new DataView(new ArrayBuffer(24));
    header.setUint32(0, 0xa1b2c3d4, true);
    header.setUint16(4, 2, true);
    header.setUint16(6, 4, true);
    header.setUint32(16, 65535, true);
    header.setUint32(20, 1, true);
    const path = join(dir, "a-b.pcap");
    await Deno.writeFile(path, new Uint8Array(header.buffer));
    const topo = await loadTopologyFile(path);
    assert.ok(!topo.ok);
    assert.equal(
      topo.error[0].message,
      `Cannot read topology file "${path}": it is a packet capture (pcap, as \`vlab capture -w\` writes), not text`,
    );
    assert.match(topo.error[0].hint!, /^read it with `tcpdump -r FILE` or Wireshark; /);
    const drill = await loadDrillFile(path);
    assert.ok(!drill.ok);
    assert.match(drill.error[0].message, /it is a packet capture/);
    const report = await readReport(path);
    assert.ok(!report.ok);
    assert.match(report.error.message, /it is a packet capture/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
