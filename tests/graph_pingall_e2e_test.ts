/**
 * End-to-end tests of `vlab graph` and `vlab pingall` from the command line: the dot output
 * rendered by Graphviz (`dot -Tsvg`), the Mermaid text's shape, the live graph of a running lab
 * with a link down, and pingall's matrix and exit code with every pair reaching and with a link
 * down. Every test uses its own state folder (VLAB_STATE_DIR).
 *
 * Needs Graphviz's `dot` on PATH (Debian package `graphviz`); the test fails and says so when it
 * is missing.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { onPath, runProgram, spawnVlab, vlabIn, withLab } from "./run.ts";
import { type LabGraph, renderGraph } from "../lab/graph.ts";
import { twoAtOnce } from "./two_at_once.ts";

const decoder = new TextDecoder();
const E2E = { sanitizeResources: false, sanitizeOps: false } as const;

async function requireDot(): Promise<void> {
  assert.ok(await onPath("dot"), "Graphviz's dot is not installed: apt-get install -y graphviz");
}

/** Render dot text to SVG with Graphviz; the SVG's text elements, entities decoded. */
async function svgTexts(dotText: string): Promise<string[]> {
  const svg = await runProgram("dot", ["-Tsvg"], { stdin: dotText });
  assert.equal(svg.code, 0, `dot -Tsvg failed:\n${svg.stderr}\n${dotText}`);
  assert.equal(svg.stderr.trim(), "", `dot warned:\n${svg.stderr}`);
  return [...svg.stdout.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1].replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">")
      .replace(/&#45;/g, "-").replace(/&amp;/g, "&")
  );
}

Deno.test({
  name: "graph: Graphviz renders the dot of a shipped topology and its SVG names every VM",
  ...E2E,
  fn: async () => {
    await requireDot();
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    try {
      const vlab = vlabIn(stateDir);
      // A drill file draws the lab it runs on (it listed the drill's keys as unknown topology keys).
      const file = fileURLToPath(new URL("../drills/partition-heal.yaml", import.meta.url));
      // The commands are independent: they run two at once, and are checked in turn.
      const [dot, mermaid, unknown, bad, typo, drill, close] = await twoAtOnce([
        ["two-switches", "--format", "dot"],
        ["star", "--format", "mermaid"],
        ["mine"],
        ["star", "--format", "png"],
        ["star", "--format", "DOT"],
        [file, "--format", "json"],
        ["stra"],
      ], (args) => vlab("graph", ...args));
      assert.equal(dot.code, 0, dot.stderr);
      const texts = await svgTexts(dot.stdout);
      for (const vm of ["h1", "h2", "h3", "h4"]) assert.ok(texts.includes(vm), `${vm} in ${texts}`);
      for (const sw of ["sw1", "sw2"]) assert.ok(texts.includes(sw), `${sw} in ${texts}`);
      assert.ok(texts.includes("sw1-sw2"), "the trunk link is labelled");
      assert.ok(texts.includes("eth0 10.0.0.1/24 split/256"), "h1's NIC is shown");

      assert.equal(mermaid.code, 0, mermaid.stderr);
      const lines = mermaid.stdout.trimEnd().split("\n");
      assert.equal(lines[0], "flowchart LR");
      const nodes = lines.filter((l) => /^ {2}n\d+(\[|\{\{)"/.test(l));
      assert.deepEqual(nodes.map((l) => /"([a-z0-9]+)/.exec(l)?.[1]), [
        "h1",
        "h2",
        "h3",
        "h4",
        "sw1",
      ]);
      const edges = lines.filter((l) => / --- /.test(l) || / ---\|/.test(l));
      assert.equal(edges.length, 4);
      assert.equal(lines.length, 1 + 5 + 4);

      assert.equal(unknown.code, 1);
      assert.equal(
        unknown.stderr,
        'vlab: Cannot draw "mine": no running lab, shipped topology or file has that name\n' +
          "hint: no lab is running; shipped topologies: pair, star, two-switches, split-vs-packed, vsock-pair, iommu-pair, vhost-pci\n",
      );

      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /unknown --format "png"/);
      // An image format is Graphviz's to draw: the hint gives the pipe; a typo gets its format.
      assert.match(bad.stderr, /\nhint: .*: vlab graph star \| dot -Tpng > lab\.png\n$/);
      assert.equal(typo.code, 2);
      assert.match(typo.stderr, /\nhint: Did you mean `dot`\? Use one of dot, mermaid, json\n$/);
      assert.equal(drill.code, 0, drill.stderr);
      const dg = JSON.parse(drill.stdout) as LabGraph;
      assert.deepEqual([dg.name, dg.vms.map((v) => v.name), dg.switches], [
        "star",
        ["h1", "h2", "h3", "h4"],
        ["sw1"],
      ]);
      assert.equal(close.code, 1);
      assert.match(close.stderr, /\nhint: did you mean `star`\? no lab is running; shipped /);
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "graph: Graphviz reads names holding quotes, backslashes and braces as plain text",
  ...E2E,
  fn: async () => {
    await requireDot();
    const g: LabGraph = {
      name: 'x" { y',
      source: "<object>",
      live: false,
      vms: [
        { name: 'a"b', nics: [] },
        { name: "c\\d}", nics: [] },
      ],
      switches: ["s;w -- x"],
      vsockRouters: [],
      links: [{
        name: "l",
        ends: [{ node: 'a"b', nic: null }, { node: "s;w -- x", nic: null }],
        forward: "no impairment",
        reverse: "no impairment",
        up: null,
      }],
    };
    const texts = await svgTexts(renderGraph(g, "dot"));
    for (const name of ['a"b', "c\\d}", "s;w -- x"]) {
      assert.ok(texts.includes(name), `${name} in ${texts}`);
    }
  },
});

Deno.test({
  name:
    "pingall: every pair of a star reaches; with a link down its pairs fail, exit 1, graph shows it",
  ...E2E,
  fn: async () => {
    await requireDot();
    await withLab("star", async (vlab) => {
      const ok = await vlab("pingall", "-c", "2", "-W", "1");
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.deepEqual(ok.stdout.trimEnd().split("\n"), [
        "*** Ping: testing ping reachability",
        "h1 -> h2 h3 h4",
        "h2 -> h1 h3 h4",
        "h3 -> h1 h2 h4",
        "h4 -> h1 h2 h3",
        "*** Results: 0% dropped (12/12 received)",
      ]);

      const down = await vlab("link", "h1-sw1", "down");
      assert.equal(down.code, 0, down.stderr);

      // The JSON of a bare name and the dot of the one lab running, two at once.
      const [graph, dot] = await twoAtOnce(
        [["star", "--format", "json"], []],
        (args) => vlab("graph", ...args),
      );
      assert.equal(graph.code, 0, graph.stderr);
      const g = JSON.parse(graph.stdout) as LabGraph;
      assert.equal(g.live, true, "a bare name of a running lab draws the lab");
      assert.deepEqual(g.links.map((l) => [l.name, l.up]), [
        ["h1-sw1", false],
        ["h2-sw1", true],
        ["h3-sw1", true],
        ["h4-sw1", true],
      ]);
      assert.equal(dot.code, 0, dot.stderr);
      assert.match(dot.stdout, /"h1" -- "sw1" \[label="h1-sw1 \(DOWN\)[^\n]*style=dashed/);
      assert.ok((await svgTexts(dot.stdout)).includes("h1-sw1 (DOWN)"));

      const failed = await vlab("pingall", "--json", "-c", "2", "-W", "0.5");
      assert.equal(failed.code, 1, failed.stderr);
      const report = JSON.parse(failed.stdout);
      assert.deepEqual([report.reached, report.pairs, report.droppedPct], [6, 12, 50]);
      const bad = report.results.filter((r: { received: number }) => r.received === 0)
        .map((r: { from: string; to: string }) => `${r.from}->${r.to}`);
      assert.deepEqual(bad, ["h1->h2", "h1->h3", "h1->h4", "h2->h1", "h3->h1", "h4->h1"]);
      assert.match(failed.stderr, /^vlab: 6 of 12 pairs got no reply\nhint: /);
    });
  },
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test({
    name: `pingall: ${signal} stops the pings, prints what was measured and exits 130`,
    ...E2E,
    fn: async () => {
      await withLab("pair", async (vlab, stateDir) => {
        const txFrames = async () => {
          const s = await vlab("status", "--json");
          // Once seen under load: an empty stdout (said here with its exit code and stderr).
          assert.equal(s.code, 0, `vlab status --json exited ${s.code}: ${s.stderr}`);
          const vms = JSON.parse(s.stdout).vms as { nics: { device: { txFrames: number } }[] }[];
          return vms.flatMap((v) => v.nics).reduce((n, nic) => n + nic.device.txFrames, 0);
        };
        const before = await txFrames();
        // 100 pings each way, 0.2 s apart: 20 s unless interrupted.
        const child = spawnVlab(["pingall", "-c", "100"], { stateDir });
        const output = child.output();
        try {
          // Its pings are under way (so it listens for SIGINT): frames cross the link.
          const deadline = performance.now() + 10_000;
          // 16 frames: both pairs' ARP and a few pings each, so each pair has had a reply.
          while (await txFrames() < before + 16) {
            assert.ok(performance.now() < deadline, "pingall sent nothing");
            await new Promise((r) => setTimeout(r, 50));
          }
          child.kill(signal);
          const out = await output;
          const stdout = decoder.decode(out.stdout);
          assert.equal(out.code, 130, stdout + decoder.decode(out.stderr));
          // The pairs cut short report what they measured (they were `?`, their counts lost with
          // their cut requests): replies came, so they count as reached.
          assert.match(stdout, /^\*\*\* Results: 0% dropped \(2\/2 received\)$/m);
          assert.match(stdout, /^a -> b$/m);
          for (const [from, to] of [["a", "b"], ["b", "a"]]) {
            const cut = new RegExp(
              `^\\*\\*\\* ${from} -> ${to} \\(10\\.0\\.0\\.\\d\\): interrupted after (\\d+)/(\\d+) replies$`,
              "m",
            ).exec(stdout);
            assert.ok(cut, stdout);
            assert.ok(Number(cut[1]) > 0 && Number(cut[2]) < 100, cut[0]);
          }
        } finally {
          try {
            child.kill("SIGKILL");
          } catch {
            // Already ended.
          }
          await output.catch(() => {});
        }
      });
    },
  });
}
