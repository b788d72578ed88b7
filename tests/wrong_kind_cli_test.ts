/**
 * A vlab file given to the command of another kind, from the command line: one problem at the
 * file's top with the command that takes it, and a closing line that says the file is of
 * another kind (not "fix it and run `vlab validate` again"). No lab is started. `vlab validate`
 * takes both kinds: a drill is checked as `vlab drill run` checks it.
 */

import assert from "node:assert/strict";
import { runVlab } from "./run.ts";

/** `vlab ARGS` with a state folder of its own, removed afterwards. */
async function vlab(...args: string[]) {
  return await vlabWith(args);
}

/** `vlab ARGS` with `stdin` piped in, and a state folder of its own, removed afterwards. */
async function vlabWith(args: string[], stdin?: string) {
  const stateDir = await Deno.makeTempDir({ prefix: "vlab-kind-" });
  try {
    return await runVlab(args, { stateDir, stdin });
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
}

Deno.test("vlab up of a drill file: one problem, and a closing line that says so", async () => {
  const r = await vlab("up", "drills/link-flap.yaml");
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    "drills/link-flap.yaml:4:1: This is a drill file, not a topology\n" +
      "  hint: give its topology instead (pair), or run it with `vlab drill run drills/link-flap.yaml`\n" +
      'vlab: Cannot use "drills/link-flap.yaml": it is no topology (above)\n' +
      "hint: Give a topology file or a shipped name such as pair; the hint above says what takes this file\n",
  );
});

Deno.test("vlab validate of a drill checks the drill and its topology without running it", async () => {
  const good = await vlab("validate", "drills/link-flap.yaml");
  assert.equal(good.code, 0, good.stderr);
  assert.equal(
    good.stdout,
    "drills/link-flap.yaml: valid: drill link-flap on lab pair, 3 steps, 9 assertions\n",
  );
  const dir = await Deno.makeTempDir({ prefix: "vlab-kind-" });
  try {
    const bad = `${dir}/bad.yaml`;
    await Deno.writeTextFile(
      bad,
      "topology: pair\ntimeline:\n  - { at: 0s, link: { name: a-b, state: down } }\n" +
        'assert:\n  - metric("vlab_link_dropz_total") == 0\n',
    );
    const r = await vlab("validate", bad);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^${bad}:5:12: The lab has no metric "vlab_link_dropz_total"`),
    );
    assert.match(
      r.stderr,
      /\nvlab: "[^"]+bad\.yaml" has 1 problem\nhint: Fix it; docs\/drills\.md/,
    );
    const json = await vlab("validate", "--json", bad);
    assert.equal(json.code, 1);
    const answer = JSON.parse(json.stdout);
    assert.equal(answer.valid, false);
    assert.equal(answer.kind, "drill");
    assert.equal(answer.issues.length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const json = JSON.parse((await vlab("validate", "--json", "drills/link-flap.yaml")).stdout);
  assert.deepEqual(json, {
    valid: true,
    kind: "drill",
    drill: { name: "link-flap", topology: "pair", steps: 3, assertions: 9 },
  });
});

Deno.test("vlab validate - checks a drill or a topology piped in, as drill run - reads a drill", async () => {
  const drill = await vlabWith(["validate", "-"], await Deno.readTextFile("drills/link-flap.yaml"));
  assert.equal(drill.code, 0, drill.stderr);
  assert.equal(
    drill.stdout,
    "<stdin>: valid: drill link-flap on lab pair, 3 steps, 9 assertions\n",
  );
  const topology = await vlabWith(
    ["validate", "-"],
    await Deno.readTextFile("topologies/pair.yaml"),
  );
  assert.equal(topology.code, 0, topology.stderr);
  assert.equal(topology.stdout, "<stdin>: valid: lab pair, 2 VMs, 0 switches, 1 link\n");
  const bad = await vlabWith(
    ["validate", "-"],
    "topology: pair\ntimeline:\n  - { at: 0s, link: { name: a-bx, state: down } }\n",
  );
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /^<stdin>:3:29: Unknown link "a-bx"\n {2}hint: did you mean `a-b`\?\n/);
  const json = await vlabWith(
    ["validate", "--json", "-"],
    "topology: pair\ntimeline:\n  - { at: 0s, link: { name: a-bx, state: down } }\n",
  );
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.stdout).kind, "drill");
});

Deno.test("vlab drill run of a topology and drill replay of a drill: one problem naming the command", async () => {
  const run = await vlab("drill", "run", "topologies/pair.yaml");
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.stderr,
    /^topologies\/pair\.yaml:\d+:1: This is a topology, not a drill file\n {2}hint: start it with `vlab up topologies\/pair\.yaml`/,
  );
  assert.equal(run.stderr.match(/^\S+:\d+:\d+: /gm)?.length, 1, run.stderr);
  assert.match(
    run.stderr,
    /\nvlab: Cannot run drill "topologies\/pair\.yaml": it is no drill file \(above\)\nhint: Give a drill file, such as drills\/link-flap\.yaml; the hint above says what takes this file\n$/,
  );
  const replay = await vlab("drill", "replay", "drills/link-flap.yaml");
  assert.equal(replay.code, 2, replay.stderr);
  assert.equal(
    replay.stderr,
    "vlab: drills/link-flap.yaml:4:1: This is a drill file, not a drill report (report.json)\n" +
      "hint: Run it with `vlab drill run drills/link-flap.yaml`; a replay takes the report.json " +
      "written by `vlab drill run --report DIR`\n",
  );
});
