/**
 * `vlab validate FILE` sees a drill's kind before its problems: a drill with a YAML-level problem
 * (an unknown tag, a duplicate key) is judged as a drill, as `vlab validate -` and `vlab drill run`
 * judge it, not as a topology. `vlab up`, `vlab graph` and `vlab down` tell a file's kind the same
 * way (`textFileKind`).
 */

import assert from "node:assert/strict";
import { labCommands, loadOrFail } from "./lab.ts";
import { VlabError } from "./errors.ts";
import { graphCommand } from "./graph.ts";

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

Deno.test("vlab down FILE finds the lab of a drill or a topology with a YAML-level problem", async () => {
  // Edited since its lab started: a duplicate key or an unknown tag made the file "no YAML", and
  // down said 'Cannot tell which lab … is: it has no `name:`', of a drill in a topology's words.
  const dir = await Deno.makeTempDir({ prefix: "vlab-down-" });
  const state = Deno.env.get("VLAB_STATE_DIR");
  Deno.env.set("VLAB_STATE_DIR", `${dir}/state`);
  try {
    const files = {
      "dup.yaml": ["topology: pair\ntimeline: []\ntimeline: []\n", '"pair" (the topology of drill'],
      "tag.yaml": [
        "topology: { name: q }\nassert:\n  - !p.received\n",
        '"q" (the topology of drill',
      ],
      "topo.yaml": ["name: x\nname: y\nvms: { a: !foo {} }\n", '"x" (the name in'],
    };
    const down = labCommands().find((c) => c.name() === "down");
    assert.ok(down !== undefined);
    for (const [name, [text, named]] of Object.entries(files)) {
      await Deno.writeTextFile(`${dir}/${name}`, text);
      const e = await down.parseAsync([`${dir}/${name}`], { from: "user" })
        .then(() => null, (e: unknown) => e);
      assert.ok(e instanceof Error, `${name}: ${e}`);
      assert.ok(e.message.startsWith(`No lab named ${named} "${dir}/${name}")`), e.message);
    }
  } finally {
    if (state === undefined) Deno.env.delete("VLAB_STATE_DIR");
    else Deno.env.set("VLAB_STATE_DIR", state);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vlab graph FILE draws a drill with a YAML-level problem as a drill: its problems, not a topology's", async () => {
  // Its kind came from a parse that throws on a duplicate key or a bad alias, and the drill went
  // to the topology loader ("Cannot use …: it is no topology").
  const dir = await Deno.makeTempDir({ prefix: "vlab-graph-" });
  const stderr = Deno.stderr.writeSync;
  try {
    Deno.stderr.writeSync = (p: Uint8Array) => p.length;
    for (
      const text of ["topology: pair\ntimeline: []\ntimeline: []\n", "topology: pair\nseed: *s\n"]
    ) {
      await Deno.writeTextFile(`${dir}/d.yaml`, text);
      const e = await graphCommand().parseAsync([`${dir}/d.yaml`], { from: "user" })
        .then(() => null, (e: unknown) => e);
      assert.ok(e instanceof VlabError, `${text}: ${e}`);
      assert.equal(e.code, "drill-invalid", e.message);
      assert.equal(e.message, `Cannot draw drill "${dir}/d.yaml": 1 problem (above)`);
    }
  } finally {
    Deno.stderr.writeSync = stderr;
    await Deno.remove(dir, { recursive: true });
  }
});
