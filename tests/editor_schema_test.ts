/**
 * Editors get completion with no set-up: the committed `topologies/vlab.schema.json` is what
 * `vlab schema` prints (so it cannot go stale), every shipped topology opens with the
 * yaml-language-server comment naming it, and so does every topology example in the docs, with a
 * path that resolves from where the docs say to save it (the checkout's root).
 */

import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { parseTopology, resolveTopologyPath, shippedTopologies } from "../lab/topology/mod.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SCHEMA = join(ROOT, "topologies", "vlab.schema.json");
const COMMENT = /^# yaml-language-server: \$schema=(\S+)$/;

Deno.test({
  name: "the committed topologies/vlab.schema.json is exactly what `vlab schema` prints",
  sanitizeResources: false,
  fn: async () => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["schema"]),
      env: vlabChildEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const printed = new TextDecoder().decode(out.stdout);
    assert.equal(JSON.parse(printed).title, "vlab topology");
    assert.ok(
      Deno.readTextFileSync(SCHEMA) === printed,
      "topologies/vlab.schema.json is stale: run `deno task vlab schema > topologies/vlab.schema.json`",
    );
  },
});

Deno.test("the JSON Schema gives queue_size the lab's range, 8..32768, so editors flag 1..7 too", () => {
  const text = Deno.readTextFileSync(SCHEMA);
  const ranges = [...text.matchAll(/"queue_size": \{[^}]*?"minimum": (\d+),\s*"maximum": (\d+)/g)]
    .map((m) => `${m[1]}..${m[2]}`);
  assert.ok(ranges.length >= 2, "queue_size appears in defaults.nic, a VM and a NIC");
  assert.deepEqual(new Set(ranges), new Set(["8..32768"]));
});

Deno.test("every shipped topology opens with the yaml-language-server comment naming the schema", () => {
  for (const name of shippedTopologies()) {
    const path = resolveTopologyPath(name);
    const first = Deno.readTextFileSync(path).split("\n")[0];
    const m = COMMENT.exec(first);
    assert.ok(m, `${name}.yaml does not start with the schema comment: ${JSON.stringify(first)}`);
    assert.equal(m[1], "vlab.schema.json");
    assert.ok(Deno.statSync(join(dirname(path), m[1])).isFile, `${m[1]} beside ${name}.yaml`);
  }
});

/** The ```yaml blocks of a Markdown file. */
function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

Deno.test("every topology example in the README and docs carries the schema comment and parses", () => {
  const files = [
    "README.md",
    ...[...Deno.readDirSync(join(ROOT, "docs"))]
      .filter((e) => e.name.endsWith(".md"))
      .map((e) => `docs/${e.name}`),
  ];
  let examples = 0;
  for (const file of files) {
    for (const block of yamlBlocks(Deno.readTextFileSync(join(ROOT, file)))) {
      if (!/^name:/m.test(block) || !/^vms:/m.test(block)) continue; // a fragment, not a topology
      examples++;
      const m = COMMENT.exec(block.split("\n")[0]);
      assert.ok(m, `an example in ${file} does not start with the schema comment:\n${block}`);
      // The docs say to save examples at the root of the checkout.
      assert.equal(m[1], "topologies/vlab.schema.json", file);
      assert.ok(Deno.statSync(join(ROOT, m[1])).isFile);
      const r = parseTopology(block, file);
      assert.ok(r.ok, `an example in ${file} is invalid: ${JSON.stringify(!r.ok && r.error)}`);
    }
  }
  assert.ok(examples >= 2, `found ${examples} topology examples in the docs`);
});
