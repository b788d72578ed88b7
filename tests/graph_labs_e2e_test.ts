/**
 * `vlab graph` with no argument picks a lab as every lab command does: with no lab running it
 * draws the shipped `pair` and says so on stderr; with one, that lab; with two, it asks which
 * (exit 2, naming both), as `vlab status` does, rather than draw `pair` silently. A running lab's
 * vIOMMU is drawn (the NIC behind it marked with its DMA mode), and Graphviz reads the dot.
 * Uses its own state folder (VLAB_STATE_DIR) and Graphviz's `dot` (Debian package `graphviz`).
 */

import assert from "node:assert/strict";
import { runProgram, vlabIn } from "./run.ts";
import type { LabGraph } from "../lab/graph.ts";

Deno.test({
  name: "graph with no name: pair said on stderr with no lab, the lab with one, refused with two",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    const vlab = vlabIn(stateDir);
    try {
      const none = await vlab("graph", "--format", "json");
      assert.equal(none.code, 0, none.stderr);
      assert.equal((JSON.parse(none.stdout) as LabGraph).name, "pair");
      assert.equal(none.stderr, "no lab is running: drawing the shipped topology pair\n");

      const up = await vlab("up", "iommu-pair", "-d");
      assert.equal(up.code, 0, up.stderr);
      const one = await vlab("graph", "--format", "json");
      assert.equal(one.code, 0, one.stderr);
      assert.equal(one.stderr, "");
      const g = JSON.parse(one.stdout) as LabGraph;
      assert.deepEqual([g.name, g.live], ["iommu-pair", true]);
      assert.deepEqual(g.vms.map((v) => [v.iommu, v.nics[0].iommu]), [
        ["iommu0 mode static", "static"],
        ["iommu0 mode static", "static"],
      ]);
      const dot = await vlab("graph");
      assert.equal(dot.code, 0, dot.stderr);
      const svg = await runProgram("dot", ["-Tsvg"], { stdin: dot.stdout });
      assert.equal(svg.code, 0, `dot -Tsvg failed (apt-get install -y graphviz):\n${svg.stderr}`);
      assert.match(svg.stdout, />eth0 10\.0\.0\.1\/24 split\/256 iommu static</);

      const up2 = await vlab("up", "pair", "-d");
      assert.equal(up2.code, 0, up2.stderr);
      const two = await vlab("graph");
      assert.equal(two.code, 2, two.stdout);
      assert.equal(two.stdout, "");
      assert.equal(
        two.stderr,
        "vlab: 2 labs are running: say which one\n" +
          "hint: Add the lab name (`vlab graph NAME`), one of iommu-pair, pair\n",
      );
      // As every command that takes a lab name does.
      const status = await vlab("status");
      assert.equal(status.code, 2);
      assert.match(status.stderr, /^vlab: 2 labs are running: say which one\n/);
    } finally {
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
