/**
 * `vlab exec`'s own options written after the `--`, where they are the workload's words: a usage
 * error that shows the command with the option moved, said before the lab is looked up. With two
 * labs running it used to answer "2 labs are running, add --lab" to a user who had added it.
 */

import assert from "node:assert/strict";
import { vlabChildEnv, vlabRunArgs } from "./deno_run.ts";
import { execOptionAfterDashes, jsonResult, vmNameAsAddress, wordBeforeWorkload } from "./lab.ts";

Deno.test("exec: --lab after the -- is a usage error that moves it, before any lab is looked up", async () => {
  // No lab runs in this state dir: the old code answered "No lab is running" (exit 1), as it
  // answered "2 labs are running, add --lab" with two.
  const stateDir = await Deno.makeTempDir({ prefix: "vlab-exec-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["exec", "a", "--", "ping", "10.0.0.2", "--lab", "pair", "-c", "3"]),
      stdin: "null",
      env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.equal(
      stderr,
      `vlab: --lab is vlab exec's own option, not "ping"'s: it goes before the --\n` +
        "hint: Put it before the --: vlab exec --lab pair a -- ping 10.0.0.2 -c 3\n",
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("exec: a workload's bad words are a usage error (exit 2) said before any lab is looked up", async () => {
  // They exited 1 as a workload that failed, and only once a lab answered ("No lab is running"
  // with none).
  const stateDir = await Deno.makeTempDir({ prefix: "vlab-exec-" });
  try {
    const cases: [string[], string][] = [
      [
        ["ping", "10.0.0.2", "-c", "x"],
        'vlab: Cannot run ping: -c needs an integer count, got "x"',
      ],
      [["pingg", "10.0.0.2"], 'vlab: Unknown workload "pingg"'],
      [["vsock-send", "4"], "vlab: Cannot run vsock-send: missing destination PORT"],
    ];
    for (const [words, line] of cases) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: vlabRunArgs(["exec", "a", "--", ...words]),
        stdin: "null",
        env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 2, stderr);
      assert.equal(stderr.split("\n")[0], line);
      assert.match(stderr.split("\n")[1], /^hint: /);
    }
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("exec: --json and --lab=NAME after the -- are moved too; a lab given before is kept", () => {
  const hint = (argv: string[], lab?: string) => execOptionAfterDashes("a", argv, lab)?.hint;
  assert.equal(
    hint(["sink", "-t", "5", "--json"]),
    "Put it before the --: vlab exec --json a -- sink -t 5",
  );
  assert.equal(
    hint(["ping", "10.0.0.2", "--lab=pair"]),
    "Put it before the --: vlab exec --lab=pair a -- ping 10.0.0.2",
  );
  assert.equal(
    hint(["ping", "10.0.0.2", "--json"], "my lab"),
    "Put it before the --: vlab exec --lab 'my lab' --json a -- ping 10.0.0.2",
  );
  // `--lab` with no value: `vlab exec --lab a -- ping …` would take "a" for the lab.
  assert.equal(
    hint(["ping", "10.0.0.2", "--lab"]),
    "Put it before the --: vlab exec --lab NAME a -- ping 10.0.0.2",
  );
  assert.equal(execOptionAfterDashes("a", ["ping", "10.0.0.2", "-c", "3"], undefined), null);
  assert.equal(execOptionAfterDashes("a", ["ping", "10.0.0.2"], "pair"), null);
  // The workload's name is quoted as every other message quotes a name (\x1b, not \u001b).
  assert.equal(
    execOptionAfterDashes("a", ["p\x1b[2J", "--json"], undefined)?.message,
    "--json is vlab exec's own option, not \"p\\x1b[2J\"'s: it goes before the --",
  );
});

Deno.test("exec --json: the result says whether the run was whole or who cut it short", () => {
  assert.deepEqual(jsonResult({ kind: "ping", transmitted: 3 }, null), {
    kind: "ping",
    transmitted: 3,
    cancelled: null,
  });
  assert.deepEqual(jsonResult({ kind: "sink" }, "client"), { kind: "sink", cancelled: "client" });
  assert.deepEqual(jsonResult({ kind: "ping" }, "lab-stopped"), {
    kind: "ping",
    cancelled: "lab-stopped",
  });
});

Deno.test("exec: the lab's name (or a second VM) before the workload is a usage error that shows the fix", async () => {
  // `vlab exec pair a -- ping …` said 'Unknown workload "a"', as if "a" were meant as one.
  const e = wordBeforeWorkload("pair", ["a", "ping", "10.0.0.2", "-c", "1"], undefined);
  assert.ok(e !== null);
  assert.equal(e.code, "usage");
  assert.equal(e.message, 'Two words stand before the workload, "pair" and "a": exec takes one VM');
  assert.equal(
    e.hint,
    "Give the VM alone: vlab exec a -- ping 10.0.0.2 -c 1 " +
      "(a lab's name goes in --lab: vlab exec --lab pair a -- ping 10.0.0.2 -c 1)",
  );
  // With --lab given, the fix keeps it; a second -- is left out.
  assert.equal(
    wordBeforeWorkload("pair", ["a", "--", "ping"], "x")?.hint,
    "Give the VM alone: vlab exec --lab x a -- ping",
  );
  // A workload first, or no workload among the first two words: the workload's own checks speak.
  assert.equal(wordBeforeWorkload("a", ["ping", "10.0.0.2"], undefined), null);
  assert.equal(wordBeforeWorkload("a", ["pign", "10.0.0.2"], undefined), null);
  assert.equal(wordBeforeWorkload("a", ["b"], undefined), null);
  assert.equal(wordBeforeWorkload("a", ["--", "ping"], undefined), null);
  // End to end, before any lab is looked up (no lab runs in this state folder).
  const stateDir = await Deno.makeTempDir({ prefix: "vlab-exec-" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["exec", "pair", "a", "--", "ping", "10.0.0.2"]),
      stdin: "null",
      env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: stateDir }),
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, stderr);
    assert.match(stderr, /^vlab: Two words stand before the workload, "pair" and "a"/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("exec a -- ping b: the hint gives b's address and the command with it", () => {
  // It said only 'destination must be an IPv4 address like 10.0.0.2, got "b"' with the usage.
  const vms = [
    { name: "a", nics: [{ ip: "10.0.0.1/24" }] },
    { name: "b", nics: [{ ip: null }, { ip: "10.0.0.2/24" }] },
    { name: "c", nics: [{ ip: null }] },
  ];
  assert.equal(
    vmNameAsAddress("a", ["ping", "b", "-c", "1"], vms),
    '"b" is a VM: give its address, vlab exec a -- ping 10.0.0.2 -c 1',
  );
  assert.equal(
    vmNameAsAddress("a", ["udp-flood", "b", "--max"], vms),
    '"b" is a VM: give its address, vlab exec a -- udp-flood 10.0.0.2 --max',
  );
  // A VM without an address, a word that names no VM, a workload that takes no address: no hint.
  assert.equal(vmNameAsAddress("a", ["ping", "c"], vms), null);
  assert.equal(vmNameAsAddress("a", ["ping", "d"], vms), null);
  assert.equal(vmNameAsAddress("a", ["sink", "b"], vms), null);
});
