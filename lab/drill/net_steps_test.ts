/**
 * The `partition`, `heal` and `impair` step kinds: checked against the topology when the drill
 * loads (file:line:col, did-you-mean), and the shipped partition-heal drill passes against a
 * real lab.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { formatDrillIssues, parseDrill } from "./load.ts";
import { parseTopology } from "../topology/load.ts";
import { runDrill } from "./run.ts";
import { LAB_TEST } from "../testing.ts";

Deno.test("partition, heal and impair steps are checked against the topology at their line", async () => {
  const r = await parseDrill(
    "topology: star\ntimeline:\n" +
      "  - partition: { a: [h1, h9], b: [h1] }\n" +
      "  - heal: everything\n" +
      "  - impair: { link: h1-sw2, set: { dealy: 20ms } }\n" +
      "  - impair: { link: h1-sw1, set: { delay: 20 } }\n",
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  assert.equal(
    formatDrillIssues(r.error),
    [
      'd.yaml:3:26: Unknown VM "h9"',
      "  hint: did you mean `h1`?",
      'd.yaml:3:35: VM "h1" is on both sides of the partition',
      "  hint: put each VM on one side only",
      'd.yaml:4:11: Unknown value "everything"',
      "  hint: expected one of `all`",
      'd.yaml:5:21: Unknown link "h1-sw2"',
      "  hint: did you mean `h1-sw1`?",
      'd.yaml:5:36: Unknown impairment key "dealy"',
      "  hint: did you mean `delay`?",
      'd.yaml:6:43: Cannot read delay "20": expected a duration with a unit',
      '  hint: write a duration with its unit: "20ms", "20us" or "20s"',
    ].join("\n"),
  );
});

Deno.test("an impair step's set reports each bad key, as a topology's link does, and no false one", async () => {
  // Only the first was said: `dealy` hid the loss of 200 % and the negative delay beside it.
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" +
      "  - impair: { link: a-b, set: { dealy: 1ms, loss: 200%, delay: -1ms } }\n" +
      // A bad rate brings no "overhead without a rate"; keys that do not go together still say so.
      "  - impair: { link: a-b, set: { rate: fast, overhead: 5 } }\n" +
      "  - impair: { link: a-b, set: { distribution: normal, loss: 1% } }\n",
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  assert.deepEqual(formatDrillIssues(r.error).split("\n").filter((l) => !l.startsWith(" ")), [
    'd.yaml:3:33: Unknown impairment key "dealy"',
    "d.yaml:3:51: loss must be between 0% and 100%, got 200%",
    "d.yaml:3:64: delay must not be negative, got -1ms",
    'd.yaml:4:39: Cannot read rate "fast": expected a rate',
    'd.yaml:5:47: Cannot set a distribution on link "a-b" without a jitter',
  ]);
});

Deno.test("an impair step's bad key hides no problem of the other keys taken together", async () => {
  // Keys that do not go together were said only once every bad key was fixed; a topology file's
  // link says them beside the bad key. Not where a refused key's value decides (rate, delay,
  // reorder, jitter read wrong): that would be a false one.
  const text = "topology: vsock-pair\ntimeline:\n" +
    "  - impair: { link: a-b, set: { dealy: 1ms, distribution: normal } }\n" +
    "  - impair: { link: a-b, set: { loss: 200%, overhead: 5, reorder: 5% } }\n" +
    "  - impair: { link: a-b, set: { dealy: 1ms, loss: 1%, loss_state: 1% } }\n" +
    "  - impair: { link: a-b-vsock, set: { dealy: 1ms, loss: 1% } }\n" +
    "  - impair: { link: a-b, set: { delay: -1ms, reorder: 5%, gap: 2 } }\n" +
    "  - impair: { link: a-b, set: { reorder: 200%, gap: 2, jitter: x, distribution: normal } }\n" +
    // Every pair of the good keys, as a topology file's link says them.
    "  - impair: { link: a-b, set: { distribution: normal, overhead: 5 } }\n";
  const r = await parseDrill(text, "d.yaml");
  assert.ok(!r.ok, "the drill should not validate");
  assert.deepEqual(r.error.map((i) => `${i.line}: ${i.message}`), [
    '3: Unknown impairment key "dealy"',
    '3: Cannot set a distribution on link "a-b" without a jitter',
    "4: loss must be between 0% and 100%, got 200%",
    '4: Cannot set an overhead on link "a-b" without a rate',
    '4: Cannot reorder on link "a-b" without a delay',
    '5: Unknown impairment key "dealy"',
    '5: Cannot use more than one of loss, loss_state and loss_gemodel on link "a-b"',
    // What a vsock link refuses, at its `set`.
    '6: Cannot set loss on vsock link "a-b-vsock": vsock is a reliable stream, and a lost, ' +
    "duplicated, corrupted or reordered packet breaks the connection",
    '6: Unknown impairment key "dealy"',
    "7: delay must not be negative, got -1ms",
    "8: reorder must be between 0% and 100%, got 200%",
    '8: Cannot read jitter "x": expected a duration',
    '9: Cannot set a distribution on link "a-b" without a jitter',
    '9: Cannot set an overhead on link "a-b" without a rate',
  ]);
});

Deno.test("an impair step says the keys that do not go together as a topology file's link does", async () => {
  // Two validators (the drill's reads `set` as `vlab link set` does, a topology's its links'
  // layers): beside a bad key, each says the same pairs, and neither one its value decides.
  const sets = [
    "dealy: 1ms, distribution: normal",
    "loss: 200%, overhead: 5, reorder: 5%",
    "rate: fast, overhead: 5",
    "delay: -1ms, reorder: 5%, gap: 2",
    "reorder: 200%, gap: 2, jitter: x, distribution: normal",
    "jitter: 1ms, distribution: bogus",
    "distribution: normal, overhead: 5",
  ];
  const pairs = (messages: string[]) => messages.filter((m) => /^Cannot (set|reorder)/.test(m));
  for (const set of sets) {
    const topology = parseTopology(
      "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
        `links: [{ endpoints: [a, b], name: a-b, ${set} }]\n`,
      "t.yaml",
    );
    const drill = await parseDrill(
      `topology: pair\ntimeline:\n  - impair: { link: a-b, set: { ${set} } }\n`,
      "d.yaml",
    );
    assert.ok(!topology.ok && !drill.ok, set);
    assert.deepEqual(
      pairs(drill.error.map((i) => i.message)),
      pairs(topology.error.map((i) => i.message)),
      set,
    );
  }
});

Deno.test("an impair step's __proto__ key is an unknown impairment key, not dropped", async () => {
  // The set's schema built its output by assignment: `__proto__` set the prototype, and the step
  // ran as `delay=2ms`, or as no impairment, without a word.
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" +
      "  - impair: { link: a-b, set: { __proto__: 5, delay: 2ms } }\n" +
      "  - impair: { link: a-b, set: { __proto__: { delay: 1ms } } }\n",
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  assert.deepEqual(r.error.map((i) => [i.line, i.message]), [
    [3, 'Unknown impairment key "__proto__"'],
    [4, 'Unknown impairment key "__proto__"'],
  ]);
});

Deno.test("a heal with no partition in force above it is a step out of order", async () => {
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" +
      "  - heal: all\n" +
      "  - partition: { a: [a], b: [b] }\n" +
      "  - heal: all\n" +
      "  - heal: all\n" +
      "  - partition: { a: [a], b: [b], heal_after: 10ms }\n" +
      "  - heal: all\n",
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  // Before, each healed nothing without a word (and the partition below the first stayed).
  assert.deepEqual(r.error.map((i) => `${i.line}:${i.column}: ${i.message}`), [
    "3:11: No partition is in force here: no step above leaves one (without heal_after)",
    "6:11: No partition is in force here: no step above leaves one (without heal_after)",
    "8:11: No partition is in force here: no step above leaves one (without heal_after)",
  ]);
  assert.match(r.error[0].hint ?? "", /^move it below the partition step it heals/);
  // A partition that did not read may be in force: the heal below it is not refused as well.
  const typo = await parseDrill(
    "topology: pair\ntimeline:\n  - partition: { a: [a], b: [b], one_wya: true }\n  - heal: all\n",
    "d.yaml",
  );
  assert.ok(!typo.ok);
  assert.deepEqual(typo.error.map((i) => i.line), [3]);
});

Deno.test("link and impair steps take vsock links, as vlab link does, and refuse what it refuses", async () => {
  // Before, every vsock link was "Unknown link" (expected one of `a-b`).
  const ok = await parseDrill(
    "topology: vsock-pair\ntimeline:\n" +
      "  - link: { name: a-b-vsock, state: down, up_after: 10ms }\n" +
      "  - impair: { link: a-b-vsock, set: { delay: 5ms } }\n",
    "d.yaml",
  );
  assert.ok(ok.ok, ok.ok ? "" : formatDrillIssues(ok.error));
  const bad = await parseDrill(
    "topology:\n  name: vr\n  vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } }\n" +
      "  vsock_routers: { r1: {} }\n" +
      "  links: [{ kind: vsock, endpoints: [a, r1] }, { kind: vsock, endpoints: [b, r1] }]\n" +
      "timeline:\n" +
      "  - link: { name: a-r1-vsock, state: down, up_after: 10ms }\n" +
      "  - impair: { link: b-r1-vsock, set: { delay: 1ms } }\n" +
      "  - link: { name: a-r1, state: down }\n",
    "d.yaml",
  );
  assert.ok(!bad.ok);
  assert.equal(
    formatDrillIssues(bad.error),
    [
      'd.yaml:8:38: Cannot impair vsock link "b-r1-vsock": it goes to a vsock router',
      "  hint: Impair a vsock link between two VMs, or the net links",
      'd.yaml:9:19: Unknown link "a-r1"',
      "  hint: expected one of `a-r1-vsock`, `b-r1-vsock`",
    ].join("\n"),
  );
  const lossy = await parseDrill(
    "topology: vsock-pair\ntimeline:\n  - impair: { link: a-b-vsock, set: { loss: 5% } }\n",
    "d.yaml",
  );
  assert.ok(!lossy.ok);
  assert.match(lossy.error[0].message, /^Cannot set loss on vsock link "a-b-vsock"/);
  // A reorder: a vsock link takes none (it was told to add a delay, which it then refused too); a
  // net link's needs a delay, said at the key.
  const reordered = await parseDrill(
    "topology: vsock-pair\ntimeline:\n" +
      "  - impair: { link: a-b-vsock, set: { reorder: 5% } }\n" +
      "  - impair: { link: a-b, set: { reorder: 5% } }\n",
    "d.yaml",
  );
  assert.ok(!reordered.ok);
  assert.equal(
    formatDrillIssues(reordered.error),
    [
      'd.yaml:3:37: Cannot set reorder on vsock link "a-b-vsock": vsock is a reliable stream, and ' +
      "a lost, duplicated, corrupted or reordered packet breaks the connection",
      "  hint: On a vsock link use delay (with jitter), rate (with overhead) or limit (a bound: " +
      "the sender waits, nothing is dropped)",
      'd.yaml:4:42: Cannot reorder on link "a-b" without a delay',
      "  hint: Set `delay` above 0 too: netem reorders by sending some frames without the delay",
    ].join("\n"),
  );
});

Deno.test("an impair step's distribution without a jitter names its link, as its reorder does", async () => {
  const r = await parseDrill(
    "topology: pair\ntimeline:\n  - impair: { link: a-b, set: { distribution: pareto } }\n",
    "d.yaml",
  );
  assert.ok(!r.ok);
  // It said "Cannot set a distribution without a jitter".
  assert.equal(
    formatDrillIssues(r.error).split("\n")[0],
    'd.yaml:3:47: Cannot set a distribution on link "a-b" without a jitter',
  );
});

Deno.test("an impair step's distribution with a jitter but no delay is refused, as tc refuses it", async () => {
  const r = await parseDrill(
    "topology: pair\ntimeline:\n  - impair: { link: a-b, set: { jitter: 5ms, distribution: pareto } }\n",
    "d.yaml",
  );
  assert.ok(!r.ok);
  assert.match(
    formatDrillIssues(r.error).split("\n")[0],
    /^d\.yaml:3:\d+: Cannot set a distribution on link "a-b" without a delay$/,
  );
});

Deno.test("an impair step's negative, infinite or NaN value is out of range, at its line, as in a topology", async () => {
  const first = async (set: string) => {
    const r = await parseDrill(
      `topology: pair\ntimeline:\n  - impair: { link: a-b, set: { ${set} } }\n`,
      "d.yaml",
    );
    assert.ok(!r.ok, set);
    return formatDrillIssues(r.error).split("\n").slice(0, 2).map((l) => l.trim()).join(" | ");
  };
  // It was 'Cannot read jitter "-1ms": expected a duration'.
  assert.equal(
    await first("jitter: -1ms"),
    "d.yaml:3:41: jitter must not be negative, got -1ms | hint: write a jitter between 0 and 60s",
  );
  // These were 'set.delay must be a string or a finite number, got Infinity' (a wrong type).
  assert.equal(
    await first("delay: .inf"),
    "d.yaml:3:40: delay must be between 0 and 60s, got Infinity | hint: write a delay between 0 and 60s",
  );
  assert.match(
    await first("limit: 1e400"),
    /^d\.yaml:3:40: limit must be between 1 and 1000000, got Infinity \|/,
  );
  assert.match(
    await first("loss: .nan"),
    /^d\.yaml:3:39: loss must be between 0% and 100%, got NaN \|/,
  );
});

Deno.test("partition and impair steps are checked when the topology did not load, all but their names", async () => {
  const r = await parseDrill(
    "topology: strat\ntimeline:\n" +
      "  - partition: { a: [h1, h9], b: [h1] }\n" +
      "  - impair: { link: h1-sw2, set: { dealy: 20ms } }\n" +
      "  - impair: { link: h9-sw9, set: { delay: 20ms } }\n",
    "d.yaml",
  );
  assert.ok(!r.ok, "the drill should not validate");
  // No "Unknown VM h9" nor "Unknown link": only the topology could tell.
  assert.equal(
    formatDrillIssues(r.error),
    [
      'd.yaml:1:11: Unknown shipped topology "strat"',
      "  hint: did you mean `star`?",
      'd.yaml:3:35: VM "h1" is on both sides of the partition',
      "  hint: put each VM on one side only",
      'd.yaml:4:36: Unknown impairment key "dealy"',
      "  hint: did you mean `delay`?",
    ].join("\n"),
  );
});

Deno.test({
  name: "the shipped partition-heal drill passes",
  ...LAB_TEST,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vlab-drill-net-" });
    const before = Deno.env.get("VLAB_STATE_DIR");
    Deno.env.set("VLAB_STATE_DIR", dir);
    try {
      const r = await runDrill(
        fileURLToPath(new URL("../../drills/partition-heal.yaml", import.meta.url)),
      );
      const failed = r.assertions.filter((a) => a.verdict !== "pass");
      assert.deepEqual(failed, [], JSON.stringify(failed));
      assert.ok(r.passed, r.error);
      assert.deepEqual(r.steps.map((s) => s.kind), [
        "exec",
        "exec",
        "partition",
        "impair",
        "wait",
        "impair",
        "wait_for",
        "wait_for",
      ]);
    } finally {
      if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", before);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
