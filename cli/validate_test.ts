/**
 * `vlab validate FILE` sees a drill's kind before its problems: a drill with a YAML-level problem
 * (an unknown tag, a duplicate key) is judged as a drill, as `vlab validate -` and `vlab drill run`
 * judge it, not as a topology.
 */

import assert from "node:assert/strict";
import { labCommands, loadOrFail } from "./lab.ts";
import { VlabError } from "./errors.ts";

/** What `vlab validate ARGS` threw (its problems go to stderr first), or null when it passed. */
async function validate(...args: string[]): Promise<unknown> {
  const command = labCommands().find((c) => c.name() === "validate");
  assert.ok(command !== undefined);
  return await command.parseAsync(args, { from: "user" }).then(() => null, (e: unknown) => e);
}

Deno.test("vlab validate FILE judges a drill with a YAML-level problem as a drill", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-validate-" });
  try {
    const drills = {
      // An assertion that starts with ! is read as a YAML tag.
      "tag.yaml": "topology: pair\ntimeline:\n  - wait: 1ms\nassert:\n  - !p.received\n",
      "dup.yaml": "topology: pair\ntimeline:\n  - wait: 1ms\ntimeline: []\n",
      "alias.yaml": "topology: pair\ntimeline:\n  - wait: *gone\n",
    };
    for (const [name, text] of Object.entries(drills)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      const e = await validate(`${dir}/${name}`);
      assert.ok(e instanceof VlabError, `${name}: ${e}`);
      assert.equal(e.code, "drill-invalid", `${name}: ${e.message}`);
    }
    // A topology with such a problem is still a topology's.
    await Deno.writeTextFile(`${dir}/topo.yaml`, "name: x\nname: y\nvms: { a: {} }\n");
    const e = await validate(`${dir}/topo.yaml`);
    assert.ok(e instanceof VlabError);
    assert.equal(e.code, "topology-invalid");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vlab up FILE says a drill with a YAML-level problem is a drill file, as of a clean one", async () => {
  // It reported the drill's duplicate key or unknown tag as a topology's problem, and its hint
  // said to validate and fix it, not to run it with `vlab drill run`.
  const dir = await Deno.makeTempDir({ prefix: "vlab-up-" });
  const stderr = Deno.stderr.writeSync;
  try {
    const drills = {
      "clean.yaml": "topology: pair\ntimeline:\n  - wait: 1ms\n",
      "tag.yaml": "topology: pair\ntimeline:\n  - wait: 1ms\nassert:\n  - !p.received\n",
      "dup.yaml": "topology: pair\ntimeline:\n  - wait: 1ms\ntimeline: []\n",
    };
    const printed: string[] = [];
    Deno.stderr.writeSync = (p: Uint8Array) => {
      printed.push(new TextDecoder().decode(p));
      return p.length;
    };
    for (const [name, text] of Object.entries(drills)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      const e = await loadOrFail(`${dir}/${name}`).then(() => null, (e: unknown) => e);
      assert.ok(e instanceof VlabError, `${name}: ${e}`);
      assert.equal(e.message, `Cannot use "${dir}/${name}": it is no topology (above)`);
    }
    const lines = printed.join("").split("\n").filter((l) => l.includes("hint:"));
    assert.deepEqual(lines.map((l) => l.replace(dir, "D")), [
      "  hint: give its topology instead (pair), or run it with `vlab drill run D/clean.yaml`",
      "  hint: give its topology instead (pair), or run it with `vlab drill run D/tag.yaml`",
      "  hint: give its topology instead (pair), or run it with `vlab drill run D/dup.yaml`",
    ]);
  } finally {
    Deno.stderr.writeSync = stderr;
    await Deno.remove(dir, { recursive: true });
  }
});
