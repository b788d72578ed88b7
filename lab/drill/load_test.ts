import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { drillFromObject, formatDrillIssues, loadDrillFile, parseDrill } from "./load.ts";
import { topologyFromObject } from "../topology/load.ts";
import type { DrillIssue } from "./load.ts";

async function problems(text: string, file = "d.yaml"): Promise<DrillIssue[]> {
  const r = await parseDrill(text, file);
  assert.ok(!r.ok, "the drill should not validate");
  return r.error;
}

/** `line:col: message` of each issue, and its hint. */
function where(issues: DrillIssue[]): string[] {
  return issues.map((i) => `${i.line}:${i.column}: ${i.message}`);
}

const PING = `  - exec: { vm: a, argv: [ping, 10.0.0.2], background: true, as: ping }\n`;

Deno.test("a valid drill reads durations, repeats, defaults and assertions", async () => {
  const r = await parseDrill(
    `topology: pair
timeline:
${PING}  - at: 1.5s
    every: 500ms
    for: 2s
    jitter: 20ms
    link: { name: a-b, state: down, up_after: 100ms }
  - wait_for: { workload: ping }
assert:
  - ping.loss_pct < 5
`,
    "drills/x.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : formatDrillIssues(r.error));
  const d = r.value;
  assert.equal(d.name, "x");
  assert.equal(d.seed, 1);
  assert.equal(d.topology.name, "pair");
  assert.deepEqual(d.timeline.map((s) => s.kind), ["exec", "link", "wait_for"]);
  assert.deepEqual(
    [d.timeline[1].atMs, d.timeline[1].everyMs, d.timeline[1].forMs, d.timeline[1].jitterMs],
    [1500, 500, 2000, 20],
  );
  assert.deepEqual(d.timeline[1].args, { name: "a-b", state: "down", up_after: 100 });
  assert.deepEqual([d.assertions[0].line, d.assertions[0].column], [11, 5]);
  assert.equal((d.document.topology as { name: string }).name, "pair");
  // A replay of the document keeps the name the file gave the drill.
  assert.equal(d.document.name, "x");
});

Deno.test("a drill without a seed takes its topology's, and 1 when that has none", async () => {
  const topology = (seed: string) =>
    `topology:\n  name: t\n${seed}  vms: { a: { nics: { eth0: {} } } }\n  links: []\n`;
  const withSeed = await parseDrill(`${topology("  seed: 42\n")}timeline: []\n`, "d.yaml");
  assert.ok(withSeed.ok, JSON.stringify(withSeed));
  assert.equal(withSeed.value.seed, 42);
  assert.equal(withSeed.value.topology.seed, 42);
  assert.equal(withSeed.value.document.seed, 42, "the report records the seed it ran with");
  const overridden = await parseDrill(
    `${topology("  seed: 42\n")}seed: 7\ntimeline: []\n`,
    "d.yaml",
  );
  assert.ok(overridden.ok);
  assert.equal(overridden.value.topology.seed, 7, "the drill's own seed still wins");
  const none = await parseDrill(`${topology("")}timeline: []\n`, "d.yaml");
  assert.ok(none.ok);
  assert.equal(none.value.seed, 1);
});

Deno.test("the drill's seed becomes the lab's seed", async () => {
  const r = await parseDrill("topology: pair\nseed: 77\ntimeline: []\n", "d.yaml");
  assert.ok(r.ok);
  assert.equal(r.value.topology.seed, 77);
  assert.equal(r.value.document.seed, 77);
});

Deno.test("unknown keys and step kinds are placed at their key with a did-you-mean", async () => {
  const issues = await problems(`topology: pair
sed: 3
timeline:
  - lnk: { name: a-b, state: down }
  - at: 1s
    jiter: 1ms
    wait: 1s
`);
  assert.deepEqual(where(issues), [
    '2:1: Unknown key "sed" at the top level',
    '4:5: Unknown step kind "lnk" in timeline[0]',
    '6:5: Unknown step kind "jiter" in timeline[1]',
  ]);
  assert.deepEqual(issues.map((i) => i.hint), [
    "did you mean `seed`?",
    "did you mean `link`?",
    "did you mean `jitter`?",
  ]);
});

Deno.test("step arguments are checked against the topology, every problem at once", async () => {
  const issues = await problems(`topology: pair
timeline:
  - exec: { vm: c, argv: [ping, 10.0.0.2], as: ping }
  - link: { name: a-c, state: down }
  - link: { name: a-b, state: sideways }
  - link: { name: b-a, state: up, up_after: 1s }
  - wait_for: { workload: pong }
  - at: 5 seconds
    wait: 1s
  - every: 1s
    wait: 1ms
  - wait: 1s
    link: { name: a-b, state: up }
`);
  assert.deepEqual(where(issues), [
    '3:17: Unknown VM "c"',
    '4:19: Unknown link "a-c"',
    '5:31: Unknown state "sideways"',
    '6:19: Unknown link "b-a"',
    "6:35: up_after only goes with state: down",
    '7:27: No earlier step starts a workload named "pong"',
    '8:9: Cannot read "5 seconds" as a duration: "seconds" is not a unit (us, ms, s, m)',
    "10:5: timeline[6]: every and for go together",
    "13:5: timeline[7] has several step kinds: wait, link",
  ]);
  const hints = new Map(issues.map((i) => [i.message, i.hint]));
  assert.equal(hints.get('Unknown VM "c"'), "expected one of `a`, `b`");
  assert.equal(hints.get('Unknown link "b-a"'), "expected one of `a-b`");
  assert.equal(hints.get('No earlier step starts a workload named "pong"'), "did you mean `ping`?");
  assert.match(
    hints.get('Cannot read "5 seconds" as a duration: "seconds" is not a unit (us, ms, s, m)') ??
      "",
    /"200ms"/,
  );
});

Deno.test("an assertion's problem is placed at its column in the file", async () => {
  const issues = await problems(`topology: pair
timeline:
${PING}assert:
  - ping.loss_pct <
  - "pign.loss_pct < 5"
  - count(events, knd = "link-down") == 1
  - metric(vlab_up) == 1
  - recovery.p95_ms < 10
  - 'nope(1) > 0'
  - ping < 3
`);
  assert.deepEqual(where(issues), [
    "5:20: Expected a value, got the end of the assertion (assert[0], column 16 of the assertion)",
    '6:6: Unknown name "pign" (assert[1], column 1 of the assertion)',
    '7:19: Unknown event filter "knd" (assert[2], column 15 of the assertion)',
    "8:12: metric() takes one quoted Prometheus selector (assert[3], column 8 of the assertion)",
    '9:5: Unknown recovery figure "recovery.p95_ms" (assert[4], column 1 of the assertion)',
    '10:6: Unknown function "nope" (assert[5], column 1 of the assertion)',
    '11:5: "ping" is a workload result: read one of its fields (assert[6], column 1 of the assertion)',
  ]);
  assert.deepEqual(issues.slice(1, 3).map((i) => i.hint), [
    "did you mean `ping`?",
    "did you mean `kind`?",
  ]);
});

Deno.test("an inline topology's problems point into the drill file", async () => {
  const issues = await problems(`topology:
  name: t
  vms:
    a: { nics: { eth0: { ip: 10.9.0.1/24 } } }
  links:
    - endpoints: [a:eth0, z:eth0]
timeline: []
`);
  assert.equal(issues.length, 1);
  assert.equal(issues[0].file, "d.yaml");
  assert.equal(issues[0].line, 6);
  assert.match(issues[0].message, /"z"/);
});

Deno.test("a topology file is read next to the drill and its problems point into it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-drill-load-" });
  try {
    await Deno.writeTextFile(`${dir}/lab.yaml`, "name: t\nvms:\n  a: { lyout: split }\n");
    const issues = await problems("topology: ./lab.yaml\ntimeline: []\n", `${dir}/d.yaml`);
    assert.equal(
      formatDrillIssues(issues),
      `${dir}/lab.yaml:3:8: Unknown key "lyout" in vms.a\n  hint: did you mean \`layout\`?`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown shipped topology, a missing file and YAML syntax are problems too", async () => {
  assert.deepEqual(where(await problems("topology: pari\ntimeline: []\n")), [
    '1:11: Unknown shipped topology "pari"',
  ]);
  assert.match((await problems("topology: pari\ntimeline: []\n"))[0].hint ?? "", /`pair`/);
  assert.deepEqual(where(await problems("topology: pair\ntimeline: [\n")).length, 1);
  assert.deepEqual(where(await problems("timeline: 3\n")), [
    '1:1: Missing key "topology"',
    "1:11: timeline must be a list, got 3",
  ]);
  assert.deepEqual(where(await problems("topology: [a]\ntimeline: []\n")), [
    "1:11: topology must be a shipped name, a file path or a map",
  ]);
});

Deno.test("a repeated step is bounded in runs", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n  - every: 1ms\n    for: 60m\n    wait: 1ms\n",
  );
  assert.equal(issues.length, 1);
  assert.equal(issues[0].line, 3);
  assert.match(issues[0].message, /would run 3600000 times \(at most 10000\)/);
});

Deno.test("every shipped drill validates", async () => {
  const dir = new URL("../../drills/", import.meta.url);
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".yaml"));
  assert.ok(files.includes("link-flap.yaml") && files.includes("partition-lite.yaml"));
  for (const name of files) {
    const r = await loadDrillFile(fileURLToPath(new URL(name, dir)));
    assert.ok(r.ok, r.ok ? "" : formatDrillIssues(r.error));
    assert.ok(r.value.assertions.length > 0, `${name} asserts nothing`);
  }
});

Deno.test("a link between two switches is a valid link step", async () => {
  const r = await parseDrill(
    "topology: two-switches\ntimeline:\n  - link: { name: sw1-sw2, state: down }\n" +
      'assert:\n  - count(events, kind = "link-down") == 1\n',
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : formatDrillIssues(r.error));
});

Deno.test("names from the drill reach messages quoted, without control characters", async () => {
  const issues = await problems(
    'topology: pair\ntimeline:\n  - link: { name: "a\\e[2Jb", state: down }\n  - "\\e[31m": 1\n',
  );
  const text = formatDrillIssues(issues);
  assert.ok(!text.includes("\u001b"), JSON.stringify(text));
  assert.match(text, /Unknown link "a\\x1b\[2Jb"/);
  assert.match(text, /Unknown step kind "\\x1b\[31m"/);
});

Deno.test("drill durations go past a topology's minute, up to an hour", async () => {
  const r = await parseDrill("topology: pair\ntimeout: 5m\ntimeline:\n  - wait: 90s\n", "d.yaml");
  assert.ok(r.ok, r.ok ? "" : formatDrillIssues(r.error));
  assert.equal(r.value.timeoutMs, 300_000);
  assert.equal(r.value.timeline[0].args, 90_000);
  const issues = await problems("topology: pair\ntimeline:\n  - wait: 61m\n  - wait: 0\n");
  assert.deepEqual(where(issues), ['3:11: A drill duration is at most 1 hour (60m), got "61m"']);
});

Deno.test("one assertion that is not a string does not hide the others' problems", async () => {
  const issues = await problems(
    `topology: pair\ntimeline:\n${PING}assert:\n  - 3\n  - pnig.received > 0\n  - foo(1)\n`,
  );
  assert.deepEqual(where(issues), [
    "5:5: assert[0] must be a string, got 3",
    '6:5: Unknown name "pnig" (assert[1], column 1 of the assertion)',
    '7:5: Unknown function "foo" (assert[2], column 1 of the assertion)',
  ]);
});

Deno.test("a workload name refused by its step names nothing for the steps after it", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2], as: recovery }\n" +
      "  - wait_for: { workload: late }\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2], as: late }\n",
  );
  const hints = issues.map((i) => i.hint ?? "");
  assert.equal(issues.length, 2, formatDrillIssues(issues));
  assert.match(issues[1].message, /No earlier step starts a workload named "late"/);
  // Not "did you mean `recovery`?": that name was refused, and `late` comes later.
  assert.doesNotMatch(hints[1], /recovery/);
  assert.match(hints[1], /timeline\[2\] names it, after this step/);
});

Deno.test("a step due before a step above it, or after the timeout, is refused at its at", async () => {
  const issues = await problems(
    "topology: pair\ntimeout: 2s\ntimeline:\n" +
      "  - at: 1500ms\n    wait: 1ms\n" +
      "  - at: 1s\n    wait: 1ms\n" +
      "  - at: 3s\n    wait: 1ms\n" +
      "  - at: 0\n    every: 500ms\n    for: 3s\n    wait: 1ms\n" +
      "  - every: 0ms\n    for: 1s\n    wait: 1ms\n",
  );
  assert.deepEqual(where(issues), [
    // A wait lasts: the cursor is held until it ends.
    "6:9: timeline[1] is due at 1 s, before timeline[0] above it ends (at 1.501 s): the timeline runs in order, so it would run late",
    "8:9: timeline[2] is due at 3 s, past the drill's timeout (2 s): it can never run",
    "10:9: timeline[3] is due at 0 ms, before timeline[2] above it ends (at 3.001 s): the timeline runs in order, so it would run late",
    "12:10: timeline[3]'s last run is due at 2.5 s, past the drill's timeout (2 s): it can never run",
    "14:12: timeline[4]: every must be longer than 0, or the step would run forever",
  ]);
});

Deno.test("an exec step's workload and arguments are read before the lab starts", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [pnig, 10.0.0.2] }\n" +
      "  - exec: { vm: b, argv: [udp-echo, 5000] }\n" +
      "  - exec: { vm: b, argv: [udp-echo], background: true, as: echo }\n" +
      "  - wait_for: { workload: echo }\n",
  );
  assert.deepEqual(where(issues), [
    '3:26: Unknown workload "pnig"',
    '4:26: Cannot run udp-echo: unexpected argument "5000"',
    '6:27: Workload "echo" runs until it is stopped: waiting for it cannot end',
  ]);
  assert.match(issues[0].hint ?? "", /Did you mean "ping"\?/);
  // Numbers are the words they were typed as.
  const r = await parseDrill(
    "topology: pair\ntimeline:\n  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 3, -i, 0.05] }\n",
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : formatDrillIssues(r.error));
  assert.deepEqual((r.value.timeline[0].args as { argv: string[] }).argv, [
    "ping",
    "10.0.0.2",
    "-c",
    "3",
    "-i",
    "0.05",
  ]);
});

Deno.test("an unknown key inside a step is named in that step, not at the top level", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n  - exec: { vm: a, agrv: [ping, 10.0.0.2] }\n",
  );
  assert.deepEqual(where(issues), [
    '3:11: Missing key "argv"',
    '3:20: Unknown key "agrv" in timeline[0].exec',
  ]);
  assert.equal(issues[1].hint, "did you mean `argv`?");
});

Deno.test("a link brought up that no step above took down is a step out of order", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - link: { name: a-b, state: up }\n" +
      "  - link: { name: a-b, state: down, up_after: 100ms }\n" +
      "  - link: { name: a-b, state: up }\n" +
      "  - link: { name: a-b, state: down }\n" +
      "  - link: { name: a-b, state: up }\n",
  );
  assert.deepEqual(where(issues), [
    '3:31: Link "a-b" is already up here: no step above takes it down',
    '5:31: Link "a-b" is already up here: no step above takes it down',
  ]);
});

Deno.test("type mistakes an assertion makes whatever the run measures are found before the lab starts", async () => {
  const issues = await problems(
    `topology: pair\ntimeline:\n${PING}assert:\n` +
      '  - count(events, kind = "link-down")\n' +
      '  - recovery.count == "x"\n' +
      "  - recovery.count && true\n" +
      "  - metric('vlab_link_up') + 1\n" +
      // A workload's field has its result's type (a ping's received is a number).
      "  - ping.received\n",
  );
  assert.deepEqual(where(issues), [
    "5:5: The assertion is not a condition: it gives a number (assert[0], column 1 of the assertion)",
    "6:20: Cannot compare a number with a string (assert[1], column 16 of the assertion)",
    '7:5: "&&" needs true or false, got a number (assert[2], column 1 of the assertion)',
    "8:5: The assertion is not a condition: it gives a number (assert[3], column 1 of the assertion)",
    "9:5: The assertion is not a condition: it gives a number (assert[4], column 1 of the assertion)",
  ]);
});

Deno.test("an assertion that starts with ! unquoted gets a hint about YAML tags", async () => {
  const issues = await problems(
    `topology: pair\ntimeline:\n${PING}assert:\n  - !(ping.received > 1) || true\n`,
  );
  assert.equal(issues[0].line, 5);
  assert.match(issues[0].hint ?? "", /quote an assertion that starts with !/);
});

Deno.test("a drill's YAML problems name a drill, not a topology", async () => {
  const tag = await problems(`topology: pair\ntimeline:\n${PING}assert:\n  - !ping.received\n`);
  assert.equal(tag[0].message, 'Unknown YAML tag "!ping.received": a drill holds plain values');
  const two = await problems("topology: pair\ntimeline: [{ wait: 1s }]\n---\nx: 1\n");
  assert.equal(two[0].message, "The file holds several YAML documents: a drill is one document");
  const deep = await problems(`topology: pair\ntimeline: ${"[".repeat(3000)}${"]".repeat(3000)}\n`);
  assert.match(deep[0].hint ?? "", /^a drill nests a few levels deep/);
});

Deno.test("a topology that did not load hides none of the steps' problems that need no topology", async () => {
  const issues = await problems(`topology: pari
timeline:
  - exec: { vm: a, argv: [udp-echo], background: true, as: echo }
  - exec: { vm: a, argv: [pnig, 10.0.0.2], as: echo }
  - wait_for: { workload: echo }
  - wait_for: { workload: pong }
  - link: { name: a-b, state: up }
  - link: { name: a-b, state: up, up_after: 1s }
assert:
  - echo.received > 0 && pong.x > 1
`);
  assert.deepEqual(where(issues), [
    '1:11: Unknown shipped topology "pari"',
    '4:26: Unknown workload "pnig"',
    '4:48: The name "echo" is already taken by timeline[0] (d.yaml:3:60)',
    '5:27: Workload "echo" runs until it is stopped: waiting for it cannot end',
    '6:27: No earlier step starts a workload named "pong"',
    '7:31: Link "a-b" is already up here: no step above takes it down',
    "8:35: up_after only goes with state: down",
    '10:26: Unknown name "pong" (assert[0], column 22 of the assertion)',
  ]);
  assert.ok(issues.every((i) => i.hint !== null), formatDrillIssues(issues));
  assert.equal(issues[0].hint, "did you mean `pair`?");
});

Deno.test("a topology that did not load judges no VM or link name: no problem it cannot know", async () => {
  // Names the missing topology may or may not have are left alone, whatever else the step says.
  const steps = `timeline:
  - exec: { vm: c, argv: [ping, 10.0.0.2], as: ping }
  - link: { name: a-c, state: down, up_after: 1s }
  - wait_for: { workload: ping }
  - exec: { vm: c, argv: [ping, 10.0.0.2], as: ping }
assert:
  - ping.received > 0
`;
  const bad = await problems(`topology: pari\n${steps}`);
  assert.deepEqual(where(bad), [
    '1:11: Unknown shipped topology "pari"',
    '6:48: The name "ping" is already taken by timeline[0] (d.yaml:3:48)',
  ]);
  // The same steps against a topology that loads: the names it lacks are refused too.
  assert.deepEqual(where(await problems(`topology: pair\n${steps}`)), [
    '3:17: Unknown VM "c"',
    '4:19: Unknown link "a-c"',
    '6:17: Unknown VM "c"',
    '6:48: The name "ping" is already taken by timeline[0] (d.yaml:3:48)',
  ]);
});

Deno.test("an invalid inline topology or topology file does not hide the steps' problems", async () => {
  const inline = await problems(`topology:
  name: t
  vms:
    a: { nics: { eth0: { ip: 10.9.0.1/24 } } }
  links:
    - endpoints: [a:eth0, z:eth0]
timeline:
  - wait_for: { workload: ping }
`);
  assert.deepEqual(inline.map((i) => i.line), [6, 8], formatDrillIssues(inline));
  assert.match(inline[0].message, /"z"/);
  assert.equal(inline[1].message, 'No earlier step starts a workload named "ping"');
  const dir = await Deno.makeTempDir({ prefix: "vlab-drill-load-" });
  try {
    await Deno.writeTextFile(`${dir}/lab.yaml`, "name: t\nvms:\n  a: { lyout: split }\n");
    const issues = await problems(
      "topology: ./lab.yaml\ntimeline:\n  - wait_for: { workload: ping }\n",
      `${dir}/d.yaml`,
    );
    assert.equal(
      formatDrillIssues(issues),
      `${dir}/lab.yaml:3:8: Unknown key "lyout" in vms.a\n  hint: did you mean \`layout\`?\n` +
        `${dir}/d.yaml:3:27: No earlier step starts a workload named "ping"\n` +
        "  hint: name a workload with `as:` in an exec step before this one",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a workload whose step has another problem is still a name its assertions may read", async () => {
  const issues = await problems(`topology: pair
timeline:
  - exec: { vm: c, argv: [ping, 10.0.0.2], background: true, as: ping }
  - wait_for: { workload: ping }
assert:
  - ping.received > 0
`);
  // Not also 'Unknown name "ping"' in the assertion: the step names it, on an unknown VM.
  assert.deepEqual(where(issues), ['3:17: Unknown VM "c"']);
});

Deno.test("another top-level problem does not hide a step due past the drill's timeout", async () => {
  const issues = await problems(
    "topology: pair\nsed: 3\ntimeout: 1s\ntimeline:\n  - at: 2s\n    wait: 1ms\n",
  );
  assert.deepEqual(where(issues), [
    '2:1: Unknown key "sed" at the top level',
    "5:9: timeline[0] is due at 2 s, past the drill's timeout (1 s): it can never run",
  ]);
  // A timeout that does not read is its own problem, and judges no step.
  assert.deepEqual(
    where(await problems("topology: pair\ntimeout: soon\ntimeline:\n  - at: 2s\n    wait: 1ms\n")),
    ['2:10: Cannot read "soon" as a duration'],
  );
});

Deno.test("a topology file's problems come where the drill names it, not by the files' names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vlab-drill-load-" });
  try {
    await Deno.writeTextFile(`${dir}/lab.yaml`, "name: t\nvms:\n  a: { lyout: split }\n");
    const steps = "timeline:\n  - wait_for: { workload: ping }\n  - wiat: 1s\n";
    // topology: first, in a drill whose name sorts before the topology file's.
    const before = await problems(`topology: ./lab.yaml\n${steps}`, `${dir}/d.yaml`);
    assert.deepEqual(before.map((i) => `${i.file}:${i.line}`), [
      `${dir}/lab.yaml:3`,
      `${dir}/d.yaml:3`,
      `${dir}/d.yaml:4`,
    ]);
    // topology: last, in a drill whose name sorts after it.
    const after = await problems(`${steps}topology: ./lab.yaml\n`, `${dir}/z.yaml`);
    assert.deepEqual(after.map((i) => `${i.file}:${i.line}`), [
      `${dir}/z.yaml:2`,
      `${dir}/z.yaml:3`,
      `${dir}/lab.yaml:3`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a step refused for a typo still names its workload: one mistake is one problem", async () => {
  const issues = await problems(`topology: pair
timeline:
  - exec: { vm: a, agrv: [ping, 10.0.0.2], background: true, as: ping }
  - wait_for: { workload: ping }
  - exec: { vm: a, argv: [ping, 10.0.0.2], background: 3, as: ping }
  - exec: { vm: a, argv: [ping, 10.0.0.2], background: 3, as: recovery }
assert:
  - ping.received > 0
`);
  // Not also "No earlier step starts a workload named "ping"" at 4, nor "Unknown name" at 8; and
  // the name taken twice (or reserved) is found while the step has another problem.
  assert.deepEqual(where(issues), [
    '3:11: Missing key "argv"',
    '3:20: Unknown key "agrv" in timeline[0].exec',
    "5:56: background must be true or false, got 3",
    '5:63: The name "ping" is already taken by timeline[0] (d.yaml:3:66)',
    "6:56: background must be true or false, got 3",
    '6:63: The name "recovery" is already taken',
  ]);
});

Deno.test("a timing key that does not read hides none of the step's other timing problems", async () => {
  const issues = await problems(`topology: pair
timeout: 2s
timeline:
  - at: 1s
    jitter: lots
    wait: 1ms
  - at: 500ms
    wait: 1ms
  - at: 3s
    every: soon
    for: 1s
    wait: 1ms
`);
  // Not "every and for go together" at 11: every is there, it does not read.
  assert.deepEqual(where(issues), [
    '5:13: Cannot read "lots" as a duration',
    "7:9: timeline[1] is due at 500 ms, before timeline[0] above it ends (at 1.001 s): the timeline runs in order, so it would run late",
    "9:9: timeline[2] is due at 3 s, past the drill's timeout (2 s): it can never run",
    '10:12: Cannot read "soon" as a duration',
  ]);
});

Deno.test("a timeline that does not read refuses no workload name in the assertions", async () => {
  // The dashes forgotten: the timeline is a map, so which workloads it names is unknown.
  const map = await problems(`topology: pair
timeline:
  exec: { vm: a, argv: [ping, 10.0.0.2], as: ping }
assert:
  - ping.received > 0
  - recovery.p95_ms < 3
  - nope(ping.received) > 0
`);
  assert.deepEqual(where(map), [
    "3:3: timeline must be a list, got a map",
    '6:5: Unknown recovery figure "recovery.p95_ms" (assert[1], column 1 of the assertion)',
    '7:5: Unknown function "nope" (assert[2], column 1 of the assertion)',
  ]);
  assert.deepEqual(
    where(await problems("topology: pair\nassert:\n  - ping.received > 0\n")),
    ['1:1: Missing key "timeline"'],
  );
});

Deno.test("an entry with several step kinds still names its workload for the steps after it", async () => {
  const issues = await problems(`topology: pair
timeline:
  - exec: { vm: a, argv: [ping, 10.0.0.2], as: ping }
    wait: 1s
  - wait_for: { workload: ping }
assert:
  - ping.received > 0
`);
  assert.deepEqual(where(issues), ["4:5: timeline[0] has several step kinds: exec, wait"]);
});

Deno.test("a link step refused for a typo may have taken its link down: bringing it up is no problem too", async () => {
  const issues = await problems(`topology: pair
timeline:
  - link: { name: a-b, state: dwon }
  - link: { name: a-b, state: up }
  - link: { name: a-b, stat: down }
  - link: { name: a-b, state: up }
  - link: { name: a-b, state: up, up_after: soon }
  - link: { name: a-b, state: up }
`);
  // Not "already up" at 4 and 6; at 8 it is: the refused step above it brings the link up.
  assert.deepEqual(where(issues), [
    '3:31: Unknown state "dwon"',
    '5:11: Missing key "state"',
    '5:24: Unknown key "stat" in timeline[2].link',
    '7:45: Cannot read "soon" as a duration',
    '8:31: Link "a-b" is already up here: no step above takes it down',
  ]);
});

Deno.test("a drill object's bigint seed is named a bigint, not shown as the number it holds", async () => {
  // It said "seed must be a number, got 5": 5 reads as a number refused for no reason.
  const r = await drillFromObject({ topology: "pair", seed: 5n, timeline: [{ wait: "10ms" }] });
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => [i.code, i.path, i.message, i.hint]), [[
    "wrong-type",
    "seed",
    "seed must be a number, got a bigint",
    "write a number here: Number() makes a number of a bigint (seed: 5)",
  ]]);
});

Deno.test("a drill's name and description are plain text: no escape sequence reaches a terminal", async () => {
  // A name with ESC [31m reached every progress line, the verdict and report.md raw.
  const base = { topology: "pair", timeline: [{ wait: "10ms" }] };
  for (const name of ["x\x1b[31mRED", "a\tb", "two\nlines", "bell\x07"]) {
    const r = await drillFromObject({ ...base, name });
    assert.ok(!r.ok, JSON.stringify(name));
    // Before, without the key: "must be one line of plain text", placed at the value.
    assert.match(r.error[0].message, /^name must be one line of plain text/);
    assert.equal(r.error[0].path, "name");
    assert.equal(r.error[0].hint, "write it without control characters or escape sequences");
  }
  const d = await drillFromObject({ ...base, name: "flap", description: "one\n\ttwo" });
  assert.ok(d.ok);
  const bad = await drillFromObject({ ...base, description: "\x1b]0;title\x07" });
  assert.ok(!bad.ok);
  assert.match(
    bad.error[0].message,
    /^description must be plain text: it holds a control character/,
  );
});

Deno.test("a drill's missing topology file is placed at its topology: with a hint relative to the drill", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await parseDrill("topology: ./nope.yaml\ntimeline: []\n", `${dir}/d.yaml`);
    assert.ok(!r.ok);
    assert.deepEqual(formatDrillIssues(r.error).split("\n"), [
      `${dir}/d.yaml:1:11: Cannot read topology file "${dir}/nope.yaml": no such file`,
      `  hint: the drill's topology: "./nope.yaml" is read relative to the drill file, in "${dir}"; ` +
      "give a path from there, or a shipped name such as pair",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a drill with no file (stdin, an object) reads a relative topology from the current folder, and its hint says so", async () => {
  for (const file of ["<stdin>", "<object>"]) {
    const r = await parseDrill("topology: ./nope.yaml\ntimeline: []\n", file);
    assert.ok(!r.ok);
    // Before, the hint said "relative to the drill file", which there is none of.
    assert.deepEqual(formatDrillIssues(r.error).split("\n"), [
      `${file}:1:11: Cannot read topology file "./nope.yaml": no such file`,
      `  hint: the drill's topology: "./nope.yaml" is read relative to the current folder, ` +
      `"${Deno.cwd()}" (the drill, ${file}, has no file); give a path from there, or a shipped ` +
      "name such as pair",
    ]);
  }
});

Deno.test("a drill or topology object left out is 'must be a map, got nothing', not a key \"undefined\"", async () => {
  const d = await drillFromObject(undefined);
  assert.ok(!d.ok);
  assert.deepEqual(d.error.map((i) => i.message), ["The drill must be a map, got nothing"]);
  const t = topologyFromObject(undefined);
  assert.ok(!t.ok);
  assert.deepEqual(t.error.map((i) => i.message), ["The topology must be a map, got nothing"]);
});

Deno.test("a drill object's problems say where they are: the key's path, as it has no line", async () => {
  // Was `<object>: Missing key "name"`, read as the drill's own (optional) name, and
  // `<object>: Cannot read "5" as a duration` without which of the steps had it.
  const r = await drillFromObject({
    topology: { name: "t", vms: { a: { nics: { eth0: { ip: "x" } } } } },
    timeline: [{ link: {} }, { wait: 5 }, { at: "1s", every: "0s", for: "1s", wait: "1ms" }],
    assert: ["p.received > 0", 5],
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => i.message).sort(), [
    'Unknown name "p" (assert[0], column 1 of the assertion)',
    "assert[1] must be a string, got 5",
    'timeline[0].link: Missing key "name"',
    'timeline[0].link: Missing key "state"',
    'timeline[1].wait: Cannot read "5" as a duration: it has no unit',
    "timeline[2]: every must be longer than 0, or the step would run forever",
    'topology.vms.a.nics.eth0.ip: Cannot read ip "x": expected an IPv4 address such as 10.0.0.1/24',
  ]);
  // A top-level key is its own place; a file's problems have their line and column instead.
  const top = await drillFromObject({ timeline: [] });
  assert.ok(!top.ok);
  assert.deepEqual(top.error.map((i) => i.message), ['Missing key "topology"']);
  const file = await parseDrill("topology: pair\ntimeline:\n  - link: {}\n", "d.yaml");
  assert.ok(!file.ok);
  assert.match(formatDrillIssues(file.error), /^d\.yaml:3:\d+: Missing key "name"$/m);
});

Deno.test("an inline topology's unknown key is placed in topology, not at the drill's top level", async () => {
  // Was `Unknown key "vmss" at the top level`, beside the drill's own top-level keys.
  const text = "topology:\n  name: t\n  vmss: {}\n  vms:\n" +
    "    a: { nics: { eth0: { ip: 10.0.0.1/24, mtuu: 1 } } }\ntimeline: []\n";
  const r = await parseDrill(text, "d.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(formatDrillIssues(r.error).split("\n").filter((l) => !l.startsWith(" ")), [
    'd.yaml:3:3: Unknown key "vmss" in topology',
    'd.yaml:5:43: Unknown key "mtuu" in topology.vms.a.nics.eth0',
  ]);
  const o = await drillFromObject({ topology: { name: "t", vmss: {}, vms: {} }, timeline: [] });
  assert.ok(!o.ok);
  assert.deepEqual(o.error.map((i) => i.message), ['Unknown key "vmss" in topology']);
});

Deno.test("the drill helpers refuse arguments of the wrong type with a TypeError naming them", async () => {
  const issue = { code: "x", path: "", line: 1, column: 1, message: "Bad", hint: null };
  const bad: [() => unknown, RegExp][] = [
    [
      () => formatDrillIssues(null as never),
      /^formatDrillIssues: issues must be an array .*, got null$/,
    ],
    [
      () => formatDrillIssues([null] as never),
      /^formatDrillIssues: issues\[0\] must be a problem .*, got null$/,
    ],
    [
      () => formatDrillIssues([issue] as never),
      /^formatDrillIssues: issues\[0\]\.file must be a string, got undefined$/,
    ],
    [
      () => formatDrillIssues({ length: 0 } as never),
      /^formatDrillIssues: issues must be an array .*, got Object$/,
    ],
  ];
  for (const [call, message] of bad) {
    assert.throws(call, (e) => e instanceof TypeError && message.test(e.message), String(message));
  }
  assert.equal(formatDrillIssues([{ ...issue, file: "d.yaml" }]), "d.yaml:1:1: Bad");
  await assert.rejects(
    parseDrill(null as never, "d.yaml"),
    /^TypeError: parseDrill: text must be a string, got null$/,
  );
  await assert.rejects(
    parseDrill("timeline: []\n", undefined as never),
    /^TypeError: parseDrill: file must be a string, got undefined$/,
  );
  await assert.rejects(
    drillFromObject({}, 7 as never),
    /^TypeError: drillFromObject: source must be a string, got number$/,
  );
});

Deno.test("a timeout of 0 is one problem at the timeout, not every step past it", async () => {
  assert.deepEqual(
    where(
      await problems("topology: pair\ntimeout: 0s\ntimeline:\n  - wait: 10ms\n  - wait: 10ms\n"),
    ),
    ["2:10: The drill's timeout must be more than 0 ms: the drill would end before it starts"],
  );
});

Deno.test("every problem of an assertion has a hint, and a miswritten filter brings no other", async () => {
  const bad = [
    'ping.received < "2"',
    "1 + true > 0",
    `"'a' == 1"`,
    "(1 > 0) && 5",
    "'!5'",
    "-true == 1",
    "ping. == 1",
    "ping..x == 1",
    `${"(".repeat(70)}1 > 0${")".repeat(70)}`,
    // Before, found only once the drill had run.
    "metric('a{') == 1",
  ];
  const issues = await problems(
    `topology: pair\ntimeline:\n${PING}assert:\n${bad.map((a) => `  - ${a}\n`).join("")}`,
  );
  assert.equal(issues.length, bad.length, where(issues).join("\n"));
  // Before, the type mistakes, a dot without a field and the nesting limit had none.
  for (const i of issues) assert.ok(i.hint, `no hint: ${i.message}`);
  // Before, `kind` was also "Unknown name", with a hint to write `ping`.
  const filter = await problems(
    `topology: pair\ntimeline:\n${PING}assert:\n  - count(events, kind == "x") == 1\n`,
  );
  assert.deepEqual(where(filter), [
    "5:19: count() takes filters written key = value (assert[0], column 15 of the assertion)",
  ]);
});

Deno.test("a count() filter given twice is refused: it could only count 0", async () => {
  const issues = await problems(
    `topology: pair\ntimeline:\n${PING}assert:\n` +
      '  - count(events, kind = "link-down", kind = "link-up") == 2\n',
  );
  assert.deepEqual(where(issues), [
    "5:39: The kind filter is given twice: an event has one kind (assert[0], column 35 of the assertion)",
  ]);
  assert.match(issues[0].hint ?? "", /count\(events, kind = "…"\) \+ count\(events, kind = "…"\)/);
});

Deno.test("a repeated exec step with as: is refused: its runs would share one name", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - every: 200ms\n    for: 600ms\n" +
      "    exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1], as: p, background: true }\n" +
      "  - every: 200ms\n    for: 200ms\n" +
      "    exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1], as: once }\n",
  );
  // Before, each run took the name from the one before and the assertions read the last.
  assert.deepEqual(where(issues), [
    '5:55: timeline[0] runs 3 times, and as: "p" names one workload',
  ]);
  assert.match(issues[0].hint ?? "", /leave as: out/);
});

Deno.test("a step due before a repeated step above it ends its runs is out of order", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - every: 500ms\n    for: 2s\n    wait: 0ms\n" +
      "  - at: 600ms\n    wait: 1ms\n" +
      "  - at: 1500ms\n    wait: 1ms\n",
  );
  // Before, it passed and ran at 1.5 s: "planned 600" in the report, silently late.
  assert.deepEqual(where(issues), [
    "6:9: timeline[1] is due at 600 ms, before timeline[0]'s last run above it (at 1.5 s): " +
    "the timeline runs in order, so it would run late",
  ]);
  assert.equal(issues[0].hint, "move it above timeline[0], or give it an at of 1.5 s or later");
  // A repeated step with its own at: its last run counts from there.
  const at = await problems(
    "topology: pair\ntimeline:\n" +
      "  - at: 1s\n    every: 300ms\n    for: 900ms\n    wait: 0ms\n" +
      "  - at: 1500ms\n    wait: 1ms\n",
  );
  assert.match(
    where(at)[0],
    /is due at 1\.5 s, before timeline\[0\]'s last run above it \(at 1\.6 s\)/,
  );
});

Deno.test("a step due while a link or partition step above it still holds the cursor is out of order", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - at: 300ms\n    link: { name: a-b, state: down, up_after: 500ms }\n" +
      "  - at: 500ms\n    wait: 1ms\n" +
      "  - at: 800ms\n    partition: { a: [a], b: [b], heal_after: 1s }\n" +
      "  - at: 1500ms\n    wait: 1ms\n",
  );
  // Before, both passed and ran at 0.8 s and 1.8 s, their rows saying "planned 500" and "1500".
  assert.deepEqual(where(issues), [
    "5:9: timeline[1] is due at 500 ms, before timeline[0] above it ends (at 800 ms): the timeline runs in order, so it would run late",
    "9:9: timeline[3] is due at 1.5 s, before timeline[2] above it ends (at 1.8 s): the timeline runs in order, so it would run late",
  ]);
});

Deno.test("a step due while a wait above it still holds the cursor is out of order", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - wait: 1s\n" +
      "  - at: 300ms\n    link: { name: a-b, state: down, up_after: 100ms }\n" +
      "  - wait: 500ms\n" +
      "  - at: 1200ms\n    wait: 0ms\n",
  );
  // Before, both passed and ran at 1 s and 1.6 s, their rows saying "planned 300" and "1200".
  assert.deepEqual(where(issues), [
    "4:9: timeline[1] is due at 300 ms, before timeline[0] above it ends (at 1 s): the timeline runs in order, so it would run late",
    // timeline[1] counts as run at its at (its own problem above brings none here).
    "7:9: timeline[3] is due at 1.2 s, before timeline[2] above it ends (at 1.5 s): the timeline runs in order, so it would run late",
  ]);
  assert.equal(issues[0].hint, "move it above timeline[0], or give it an at of 1 s or later");
  // Waits add up; a step due after them is fine.
  const r = await parseDrill(
    "topology: pair\ntimeline:\n  - wait: 1s\n  - wait: 500ms\n  - at: 1500ms\n    wait: 0ms\n",
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
});

Deno.test("a step's jitter counts at its most in the order and timeout checks", async () => {
  // Each run starts up to `jitter` later: the steps below and the timeout must leave it room.
  const issues = await problems(
    "topology: pair\ntimeout: 2s\ntimeline:\n" +
      "  - at: 300ms\n    jitter: 1s\n    link: { name: a-b, state: down, up_after: 100ms }\n" +
      "  - at: 500ms\n    link: { name: a-b, state: down }\n" +
      "  - at: 1900ms\n    jitter: 500ms\n    wait: 0ms\n",
  );
  // Before, both passed: with seed 1 the first ran at 0.75 s, the second late at 0.85 s, and
  // the third never ran ("The drill did not end within 2000 ms"), depending on the seed.
  assert.deepEqual(where(issues), [
    "7:9: timeline[1] is due at 500 ms, before timeline[0] above it ends (at up to 1.4 s, jitter included): the timeline runs in order, so it would run late",
    "10:13: timeline[2] may be due at up to 2.4 s, jitter included, past the drill's timeout (2 s): with some seeds it never runs",
  ]);
  assert.equal(issues[0].hint, "move it above timeline[0], or give it an at of 1.4 s or later");
  // A repeated step's jitter: a run may start that much late, into the next run's time.
  const repeated = await problems(
    "topology: pair\ntimeline:\n" +
      "  - every: 500ms\n    for: 2s\n    jitter: 300ms\n    link: { name: a-b, state: down, up_after: 300ms }\n",
  );
  assert.deepEqual(where(repeated), [
    "3:12: timeline[0] runs every 500 ms, but a run lasts 300 ms and may start 300 ms late (its jitter): the next run would start late",
  ]);
  assert.equal(repeated[0].hint, "give it an every longer than 600 ms, or less jitter");
  // A run that lasts its whole period leaves no time for its action: it would start late too.
  const whole = await problems(
    "topology: pair\ntimeline:\n" +
      "  - every: 200ms\n    for: 1s\n    link: { name: a-b, state: down, up_after: 200ms }\n",
  );
  assert.deepEqual(where(whole), [
    "3:12: timeline[0] runs every 200 ms, but a run lasts 200 ms: the next run would start late",
  ]);
  // Within room, jitter is fine.
  const r = await parseDrill(
    "topology: pair\ntimeout: 2s\ntimeline:\n" +
      "  - at: 300ms\n    jitter: 100ms\n    link: { name: a-b, state: down, up_after: 100ms }\n" +
      "  - at: 500ms\n    wait: 0ms\n",
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
});

Deno.test("a step that would end past the drill's timeout is refused", async () => {
  const issues = await problems(
    "topology: pair\ntimeout: 2s\ntimeline:\n" +
      "  - at: 1500ms\n    link: { name: a-b, state: down, up_after: 1s }\n",
  );
  // Before, it passed, and the drill stopped at 2 s with the link down: "did not end within".
  assert.deepEqual(where(issues), [
    "4:9: timeline[0] ends at 2.5 s, past the drill's timeout (2 s): the drill would stop before it ends",
  ]);
  // Waits add up to past the timeout: the wait that crosses it is the one refused, once.
  const waits = await problems(
    "topology: pair\ntimeout: 2s\ntimeline:\n  - wait: 1500ms\n  - wait: 1s\n  - wait: 1s\n",
  );
  assert.deepEqual(where(waits), [
    "5:5: timeline[1] ends at 2.5 s, past the drill's timeout (2 s): the drill would stop before it ends",
  ]);
  // A repeated step placed after a wait: its last run counts from where the cursor reaches it.
  const placed = await problems(
    "topology: pair\ntimeout: 2s\ntimeline:\n" +
      "  - wait: 1500ms\n  - every: 300ms\n    for: 900ms\n    wait: 0ms\n",
  );
  assert.deepEqual(where(placed), [
    "6:10: timeline[1]'s last run is due at 2.1 s, past the drill's timeout (2 s): it can never run",
  ]);
});

Deno.test("a workload in the foreground holds the cursor as long as its words say", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 30, -i, 0.05] }\n" +
      "  - at: 1s\n    wait: 0ms\n" +
      "  - exec: { vm: b, argv: [sink, -t, 2] }\n" +
      "  - at: 3s\n    wait: 0ms\n",
  );
  // Before, both passed and ran late, at about 1.45 s and 3.45 s.
  assert.deepEqual(where(issues), [
    "4:9: timeline[1] is due at 1 s, before timeline[0] above it ends (at 1.45 s): the timeline runs in order, so it would run late",
    "7:9: timeline[3] is due at 3 s, before timeline[2] above it ends (at 3.45 s): the timeline runs in order, so it would run late",
  ]);
  // In the background it holds nothing; a count does not tell how long it lasts.
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 30, -i, 0.05], background: true }\n" +
      "  - exec: { vm: b, argv: [sink, -t, 5, -n, 10], background: true }\n" +
      "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -n, 10] }\n" +
      "  - at: 100ms\n    wait: 0ms\n",
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
});

Deno.test("a wait_for whose timeout ends past the drill's timeout is refused", async () => {
  // A count of datagrams at the ring's pace: how long it runs, its words do not bound.
  const FLOOD = "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -n, 100000], background: true, " +
    "as: flood }\n";
  const issues = await problems(
    "topology: pair\ntimeout: 10s\ntimeline:\n" + FLOOD +
      "  - wait_for: { workload: flood, timeout: 20s }\n",
  );
  // Before, it passed: the drill stopped at 10 s, and the wait_for's 20 s could never come.
  assert.deepEqual(where(issues), [
    "5:43: timeline[1]'s timeout of 20 s is longer than the drill's timeout (10 s), and \"flood\" may still run then: the drill would stop first, so it can never time out",
  ]);
  assert.equal(
    issues[0].hint,
    "give it a timeout shorter than 10 s (what is left of the drill then), or the drill a longer timeout",
  );
  // Counted from the earliest the step can start: after a wait, less of the drill is left.
  const late = await problems(
    "topology: pair\ntimeout: 10s\ntimeline:\n" + FLOOD +
      "  - wait: 4s\n  - wait_for: { workload: flood, timeout: 6s }\n",
  );
  assert.deepEqual(where(late), [
    "6:43: timeline[2]'s timeout of 6 s would end at 10 s (the step starts at 4 s at the earliest), at the drill's timeout (10 s), and \"flood\" may still run then: the drill would stop first, so it can never time out",
  ]);
  // A repeated one: from its last run.
  const repeated = await problems(
    "topology: pair\ntimeout: 5s\ntimeline:\n" + FLOOD +
      "  - at: 1s\n    every: 1s\n    for: 3s\n    wait_for: { workload: flood, timeout: 2s }\n",
  );
  assert.deepEqual(where(repeated), [
    "8:43: timeline[1]'s timeout of 2 s would end at 5 s (its last run starts at 3 s at the earliest), at the drill's timeout (5 s), and \"flood\" may still run then: the drill would stop first, so it can never time out",
  ]);
  // One that ends before the drill's timeout, and one without a timeout (30 s by default: it
  // gives way to the drill's), pass.
  for (
    const wait of [
      "  - wait: 4s\n  - wait_for: { workload: flood, timeout: 5900ms }\n",
      "  - wait_for: { workload: flood }\n",
    ]
  ) {
    const r = await parseDrill(
      `topology: pair\ntimeout: 10s\ntimeline:\n${FLOOD}${wait}`,
      "d.yaml",
    );
    assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
  }
  // The default timeout (2 minutes) counts too.
  const byDefault = await problems(
    "topology: pair\ntimeline:\n" + FLOOD + "  - wait_for: { workload: flood, timeout: 3m }\n",
  );
  assert.deepEqual(where(byDefault), [
    "4:43: timeline[1]'s timeout of 180 s is longer than the drill's timeout (120 s), and \"flood\" may still run then: the drill would stop first, so it can never time out",
  ]);
});

Deno.test("a wait_for's timeout past the drill's is not refused when its workload surely ends before it", async () => {
  // Before, each was refused ("the drill would stop first, so it can never time out"), though the
  // ping ends by 6.4 s at the latest (5 requests 0.1 s apart, each with its -W of 1 s, and the
  // last reply's): the wait ends with it, long before either timeout.
  const SHORT = "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 5, -i, 0.1], background: true, " +
    "as: ping }\n";
  for (
    const text of [
      SHORT + "  - wait_for: { workload: ping, timeout: 60s }\n",
      SHORT + "  - wait: 2s\n  - wait_for: { workload: ping, timeout: 9s }\n",
      // In the foreground it has ended before the wait starts.
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1], as: ping }\n" +
      "  - wait_for: { workload: ping, timeout: 1m }\n",
      // A wait_for on it returned: a second one returns at once.
      SHORT + "  - wait_for: { workload: ping }\n  - wait_for: { workload: ping, timeout: 1m }\n",
      // A sink's -t bounds it, whatever its -n.
      "  - exec: { vm: b, argv: [sink, -t, 3, -n, 100], background: true, as: sink }\n" +
      "  - wait_for: { workload: sink, timeout: 20s }\n",
    ]
  ) {
    const r = await parseDrill(`topology: pair\ntimeout: 10s\ntimeline:\n${text}`, "d.yaml");
    assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
  }
  // It still is when the workload may run past the drill's timeout: started late (at 4 s, it
  // may end at 10.4 s), unbounded by its words (a count at the ring's pace), or started after a
  // step whose time its words do not bound (a workload in the foreground).
  const cases: [string, string][] = [
    [
      "  - at: 4s\n" + SHORT.replace("  - exec", "    exec") +
      "  - wait_for: { workload: ping, timeout: 60s }\n",
      "6:42: timeline[1]'s timeout of 60 s would end at 64 s (the step starts at 4 s at the " +
      'earliest), past the drill\'s timeout (10 s), and "ping" may still run then: the drill ' +
      "would stop first, so it can never time out",
    ],
    [
      "  - exec: { vm: a, argv: [udp-flood, 10.0.0.2, -n, 1000], background: true, as: f }\n" +
      "  - wait_for: { workload: f, timeout: 60s }\n",
      "5:39: timeline[1]'s timeout of 60 s is longer than the drill's timeout (10 s), and \"f\" " +
      "may still run then: the drill would stop first, so it can never time out",
    ],
    [
      "  - exec: { vm: b, argv: [ping, 10.0.0.1, -c, 1] }\n" + SHORT +
      "  - wait_for: { workload: ping, timeout: 60s }\n",
      "6:42: timeline[2]'s timeout of 60 s is longer than the drill's timeout (10 s), and " +
      '"ping" may still run then: the drill would stop first, so it can never time out',
    ],
  ];
  for (const [text, message] of cases) {
    assert.deepEqual(where(await problems(`topology: pair\ntimeout: 10s\ntimeline:\n${text}`)), [
      message,
    ]);
  }
});

Deno.test("a sink's expected or lost_at_end without -n is refused: it is null on every run", async () => {
  // Before, it validated, and each assertion was an ERROR after the run: "sink.lost_at_end is
  // null (nothing measured)", with a hint about replies and datagrams, though 100 had come.
  const SINK = "  - exec: { vm: b, argv: [sink, -t, 2], background: true, as: sink }\n";
  const issues = await problems(
    "topology: pair\ntimeline:\n" + SINK + "assert:\n  - sink.lost_at_end == 0\n" +
      "  - sink.expected == 100 && sink.senders.0.lostAtEnd == 0\n",
  );
  assert.deepEqual(where(issues), [
    "5:5: sink.lost_at_end has no value: the sink was started without -n, so it cannot know how " +
    "many datagrams to expect (assert[0], column 1 of the assertion)",
    "6:5: sink.expected has no value: the sink was started without -n, so it cannot know how " +
    "many datagrams to expect (assert[1], column 1 of the assertion)",
    "6:29: sink.senders.0.lostAtEnd has no value: the sink was started without -n, so it cannot " +
    "know how many datagrams to expect (assert[1], column 25 of the assertion)",
  ]);
  assert.match(issues[0].hint ?? "", /give the sink -n COUNT/);
  // With -n they may have a value, and the other fields always do.
  for (
    const [steps, assertion] of [
      [SINK.replace("-t, 2", "-n, 100"), "sink.lost_at_end == 0 && sink.expected == 100"],
      [SINK, "sink.lost == 0 && sink.received > 0 && sink.senders.0.lost == 0"],
    ]
  ) {
    const r = await parseDrill(
      `topology: pair\ntimeline:\n${steps}assert:\n  - ${assertion}\n`,
      "d.yaml",
    );
    assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
  }
});

Deno.test("an assertion on a workload no step names hints the as: it lacks, not 'expected one of recovery'", async () => {
  const none = await problems("topology: pair\ntimeline: []\nassert: [ping.received == 1]\n");
  assert.deepEqual(where(none), [
    '3:10: Unknown name "ping" (assert[0], column 1 of the assertion)',
  ]);
  // Before: "expected one of `recovery`".
  assert.equal(
    none[0].hint,
    "name a workload with `as: ping` in an exec step (no step names one), or read `recovery.FIGURE`",
  );
  const others = await problems(
    "topology: pair\ntimeline:\n  - exec: { vm: b, argv: [sink, -t, 1], as: sink }\n" +
      "assert: [flood.sent == 1, sinc.received == 1]\n",
  );
  assert.deepEqual(others.map((i) => i.hint), [
    "name a workload with `as: flood` in an exec step (the steps name `sink`), or read `recovery.FIGURE`",
    "did you mean `sink`?",
  ]);
});

Deno.test("an empty drill name is refused: the lines and reports said 'drill ,'", async () => {
  for (const name of ['""', '"  "']) {
    const issues = await problems(`name: ${name}\ntopology: pair\ntimeline: []\n`);
    assert.deepEqual(where(issues), [
      "1:7: name must not be empty: the drill's lines and reports name it",
    ]);
    assert.match(issues[0].hint ?? "", /^give it a name/);
  }
});

Deno.test("an assertion YAML read as a map (a ': ' in it) hints to quote it", async () => {
  const issues = await problems(
    'topology: pair\ntimeline: []\nassert:\n  - ping.text == "x: y"\n  - 1\n',
  );
  assert.deepEqual(where(issues), [
    "4:5: assert[0] must be a string, got a map",
    "5:5: assert[1] must be a string, got 1",
  ]);
  // Before: "write a string here", which it looked like.
  assert.equal(
    issues[0].hint,
    "YAML reads a `: ` in a plain scalar as a map: quote the assertion, as in - 'ping.text == \"x: y\"'",
  );
  assert.match(issues[1].hint ?? "", /^write a string here/);
});

Deno.test("a wait_for timeout of 0 and a for of 0 are refused; a negative or unitless duration says why", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" + PING +
      "  - wait_for: { workload: ping, timeout: 0s }\n" +
      "  - at: 1s\n    every: 1s\n    for: 0\n    wait: 1ms\n",
  );
  // Before, both passed: the wait_for failed at once in the run, and `for: 0` ran once with
  // its timing judged from a negative span.
  assert.deepEqual(where(issues), [
    "4:42: A wait_for's timeout must be more than 0: the step would fail at once",
    "7:10: timeline[2]: for must be longer than 0, or the step repeats nothing",
  ]);
  assert.equal(
    issues[0].hint,
    "give the workload time to end, such as `timeout: 10s`, or leave timeout out (30 s)",
  );
  // A wait_for whose timeout does not read still has its workload checked.
  const partial = await problems(
    "topology: pair\ntimeline:\n" + PING + "  - wait_for: { workload: pnig, timeout: 0 }\n",
  );
  assert.deepEqual(where(partial).map((l) => l.split(":").slice(0, 3).join(":")), [
    '4:27: No earlier step starts a workload named "pnig"',
    "4:42: A wait_for's timeout must be more than 0",
  ]);
  const words = await problems(
    "topology: pair\ntimeline:\n" + PING +
      "  - wait_for: { workload: ping, timeout: -5s }\n  - wait: 5\n  - wait: true\n" +
      "  - wait: 2h\n",
  );
  assert.deepEqual(where(words), [
    '4:42: A drill duration cannot be negative, got "-5s"',
    '5:11: Cannot read "5" as a duration: it has no unit',
    "6:11: timeline[3].wait must be a string or a number, got true",
    '7:11: Cannot read "2h" as a duration: "h" is not a unit (us, ms, s, m)',
  ]);
  assert.deepEqual(words.map((i) => i.hint), [
    'write how long, 0 or more, such as "200ms" or "1.5s"',
    'give it a unit: "5s" or "5ms"',
    // Before: 'such as "10ms", "1%" or "100mbit"', the topology's values.
    'write wait as "200ms", "1.5s" or "2m"',
    // Before: 'write a duration such as … "2m"', which did not say that h is no unit.
    'write it in us, ms, s or m (minutes; 60m at most), as in "200ms", "1.5s" or "2m"',
  ]);
});

Deno.test("a drill duration YAML reads as infinite or NaN is out of range, not of the wrong type", async () => {
  // Each was 'timeline[0].wait must be a string or a finite number, got Infinity'.
  const words = await problems(
    "topology: pair\ntimeline:\n  - wait: .inf\n  - wait: 1e400\n  - wait: -.inf\n  - wait: .nan\n",
  );
  assert.deepEqual(where(words), [
    "3:11: A drill duration is at most 1 hour (60m), got Infinity",
    "4:11: A drill duration is at most 1 hour (60m), got Infinity",
    '5:11: A drill duration cannot be negative, got "-Infinity"',
    "6:11: A drill duration is from 0 to 1 hour (60m), got NaN",
  ]);
  assert.deepEqual(words.map((i) => i.code), Array(4).fill("out-of-range"));
});

Deno.test("a drill with no name and no file is named as its problems name it, not 'drill'", async () => {
  const text = "topology: pair\ntimeline: []\n";
  const piped = await parseDrill(text, "<stdin>");
  assert.ok(piped.ok);
  // Before: "drill", and its lines read `drill drill, seed 1, lab pair`.
  assert.equal(piped.value.name, "<stdin>");
  assert.equal(piped.value.document.name, "<stdin>");
  const object = await drillFromObject({ topology: "pair", timeline: [] });
  assert.ok(object.ok);
  assert.equal(object.value.name, "<object>");
  // A name given, or a file's, is kept.
  const named = await parseDrill(`name: flap\n${text}`, "<stdin>");
  assert.ok(named.ok);
  assert.equal(named.value.name, "flap");
  const file = await parseDrill(text, "drills/x.yaml");
  assert.ok(file.ok);
  assert.equal(file.value.name, "x");
});

Deno.test("an event kind the lab never logs and a field a workload's result lacks are refused at validation", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" + PING +
      "  - exec: { vm: b, argv: [sink, -t, 1], background: true, as: sink }\n" +
      "assert:\n" +
      '  - count(events, kind = "link-dwon") == 0\n' +
      "  - ping.nope == 1\n" +
      "  - ping.rtt_ms.maxx < 5\n" +
      "  - ping.rtt_ms < 5\n" +
      "  - sink.senders.first.lost == 0\n",
  );
  // Before, each was judged after the lab ran: the first held by its typo, the others an ERROR.
  assert.deepEqual(where(issues), [
    '6:26: The lab logs no event of kind "link-dwon" (assert[0], column 22 of the assertion)',
    '7:5: ping.nope does not exist: a ping result has no field "nope" (assert[1], column 1 of the assertion)',
    '8:5: ping.rtt_ms.maxx does not exist: ping.rtt_ms has no field "maxx" (assert[2], column 1 of the assertion)',
    "9:5: ping.rtt_ms is a map, not a number, string or boolean (assert[3], column 1 of the assertion)",
    '10:5: sink.senders is a list: "first" is no index (assert[4], column 1 of the assertion)',
  ]);
  assert.deepEqual(issues.map((i) => i.hint), [
    "did you mean `link-down`?",
    "its fields are `kind`, `dst`, `transmitted`, `received`, `loss_pct`, `rtt_ms`, `replies`, `late`, `duplicates`, `text`",
    "did you mean `max`?",
    "read one of its fields: `min`, `avg`, `max`, `mdev`, `median`, `p99`",
    "read one of its items by its index, as in sink.senders.0",
  ]);
  // An index with a leading zero passed here and failed after the run (`ping.replies.01 does not
  // exist`): a list has no such key.
  const zeros = await problems(
    "topology: pair\ntimeline:\n" + PING + "assert:\n  - ping.replies.01.rtt_ms < 5\n",
  );
  assert.deepEqual(where(zeros), [
    '5:5: ping.replies is a list: "01" is no index (assert[0], column 1 of the assertion)',
  ]);
  assert.deepEqual(zeros.map((i) => i.hint), [
    "write the index without leading zeros: ping.replies.1",
  ]);
  // What the results have, written either way, and a subject the lab can have (whether the run
  // logs it is judged after the run), pass.
  const r = await parseDrill(
    "topology: pair\ntimeline:\n" + PING +
      // With -n: without it, a sender's lost_at_end is null on every run (refused).
      "  - exec: { vm: b, argv: [sink, -t, 1, -n, 10], background: true, as: sink }\n" +
      "assert:\n" +
      '  - count(events, kind = "device-reset", subject = "a") == 0\n' +
      "  - ping.loss_pct < 50 && ping.lossPct < 50 && ping.rtt_ms.max > 0\n" +
      '  - ping.replies.0.seq == 0 && sink.senders.0.lost_at_end == 0 && sink.text != ""\n',
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
});

Deno.test("arithmetic on a string is one problem: its value is not compared again", async () => {
  // Before, `ping.text + "x" == "y"` was also "Cannot compare a number with a string" (the sum
  // taken for a number), and `-ping.text < 1 == true` too.
  const issues = await problems(
    "topology: pair\ntimeline:\n" + PING +
      'assert:\n  - ping.text + 1 == "y"\n  - -ping.text == "z"\n',
  );
  assert.deepEqual(where(issues), [
    '5:5: "+" needs a number, got a string (assert[0], column 1 of the assertion)',
    '6:6: "-" needs a number, got a string (assert[1], column 2 of the assertion)',
  ]);
});

Deno.test("a workload's field has its result's type at validation: ping.text > 5 compares a string", async () => {
  const issues = await problems(
    "topology: vsock-pair\ntimeline:\n" +
      "  - exec: { vm: b, argv: [vsock-sink, -p, 5000], background: true, as: sink }\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 2], as: ping }\n" +
      "assert:\n  - ping.text > 5\n  - sink.complete == 1\n" +
      '  - sink.complete && ping.rtt_ms.max < 5 && sink.close_reason == "done"\n',
  );
  // Before, both were judged after the run (an ERROR once the lab had run).
  assert.deepEqual(where(issues), [
    '6:5: ">" needs a number, got a string (assert[0], column 1 of the assertion)',
    "7:19: Cannot compare true or false with a number (assert[1], column 15 of the assertion)",
  ]);
});

Deno.test("a workload named true or false is refused as a value of the assertions, not as 'already taken'", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" +
      '  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1], as: "true" }\n' +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 1], as: recovery }\n",
  );
  // Before: 'The name "true" is already taken', and a hint that did not name true.
  assert.deepEqual(where(issues), [
    '3:55: The name "true" is a value of the assertion language: it cannot name a workload',
    '4:55: The name "recovery" is already taken',
  ]);
  for (const i of issues) assert.match(i.hint ?? "", /metric, true and false are words/);
});

Deno.test("a background workload whose words say it runs past the drill's timeout is refused", async () => {
  const issues = await problems(
    "topology: pair\ntimeout: 5s\ntimeline:\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 20, -i, 0.5], background: true, as: ping }\n" +
      "  - wait: 1s\n" +
      "  - exec: { vm: b, argv: [sink, -t, 4], background: true, as: sink }\n",
  );
  // Before, it passed, and the drill timed out at 5 s waiting for them, whatever happened.
  assert.deepEqual(where(issues), [
    `4:26: timeline[0]'s "ping 10.0.0.2 -c 20 -i 0.5" runs 9.5 s at least, longer than the drill's timeout (5 s): the drill waits for it at its end, so it would time out`,
    `6:26: timeline[2]'s "sink -t 4" runs 4 s at least, so it ends at 5 s (it starts at 1 s at the earliest), at the drill's timeout (5 s): the drill waits for it at its end, so it would time out`,
  ]);
  assert.equal(
    issues[0].hint,
    "give the drill a timeout longer than 9.5 s, or the workload a shorter run (fewer pings, a shorter -t)",
  );
  // One that ends in time, a count whose length its words do not tell, and a server that runs
  // until stopped (stopped at the end, not waited for) pass.
  const r = await parseDrill(
    "topology: pair\ntimeout: 5s\ntimeline:\n" +
      "  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, 9, -i, 0.5], background: true }\n" +
      "  - exec: { vm: b, argv: [sink, -t, 9, -n, 10], background: true }\n" +
      "  - exec: { vm: b, argv: [udp-echo, -p, 9], background: true }\n",
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
});

Deno.test("an event kind with an escape in it is quoted as every message quotes a name (\\x1b)", async () => {
  const issues = await problems(
    "topology: pair\ntimeline:\n" + PING + "assert:\n" +
      '  - "count(events, kind = \\"a\\e[2J\\") == 0"\n',
  );
  assert.equal(issues[0]?.message.split(" (")[0], 'The lab logs no event of kind "a\\x1b[2J"');
});

Deno.test("a subject no event of the drill's lab can have is refused at validation", async () => {
  // Before, it ran: the count was 0 whatever happened, and only a hint after the run said why.
  const issues = await problems(
    "name: flap\ntopology: star\ntimeline: [{ wait: 10ms }]\nassert:\n" +
      '  - count(events, subject = "h1-sw2") == 0\n' +
      '  - count(events, subject = "zzz") == 0\n',
  );
  assert.deepEqual(issues.map((i) => `${i.line}:${i.column}: ${i.message} | ${i.hint}`), [
    '5:29: No event of this drill\'s lab can have subject "h1-sw2" (assert[0], column 25 of the ' +
    "assertion) | did you mean `h1-sw1`?",
    '6:29: No event of this drill\'s lab can have subject "zzz" (assert[1], column 25 of the ' +
    "assertion) | an event's subject is one of the lab's VMs, links or switches, the lab's name " +
    "or the drill's, or a partition's number",
  ]);
  // Its VMs, links and switches, the lab's name, the drill's and a partition's number pass.
  const r = await parseDrill(
    "name: flap\ntopology: star\ntimeline: [{ wait: 10ms }]\nassert:\n" +
      '  - count(events, subject = "h1") + count(events, subject = "h1-sw1") + ' +
      'count(events, subject = "sw1") + count(events, subject = "star") + ' +
      'count(events, subject = "flap") + count(events, subject = "1") >= 0\n',
    "d.yaml",
  );
  assert.ok(r.ok, r.ok ? "" : where(r.error).join("\n"));
});

Deno.test("a drill's integer with a leading zero is refused, as a topology file's (leading-zero)", async () => {
  // seed: 010 was 10, where a YAML 1.1 tool reads 8.
  const r = await parseDrill("topology: pair\nseed: 010\ntimeline:\n  - wait: 1s\n", "d.yaml");
  assert.ok(!r.ok);
  assert.deepEqual(
    r.error.map((i) => [i.code, i.path, i.line, i.column, i.hint]),
    [["leading-zero", "seed", 2, 7, "write seed: 10"]], // 0o10 is no seed (seed-notation)
  );
  // A topology written in the drill is read the same way, beside the drill's other problems.
  const inline = await parseDrill(
    "topology:\n  name: t\n  vms: { a: { vsock: { cid: 017 } } }\ntimeline:\n  - wait: 1s\n",
    "d.yaml",
  );
  assert.ok(!inline.ok);
  assert.deepEqual(inline.error.map((i) => [i.code, i.path]), [
    ["leading-zero", "topology.vms.a.vsock.cid"],
  ]);
  assert.ok((await parseDrill("topology: pair\nseed: 10\ntimeline:\n  - wait: 1s\n", "d.yaml")).ok);
  // 5 to YAML 1.1 (octal) too: nothing to choose between, taken.
  assert.ok((await parseDrill("topology: pair\nseed: 05\ntimeline:\n  - wait: 1s\n", "d.yaml")).ok);
});

Deno.test("a topology given as a drill is that one problem, not also its leading zeros", async () => {
  // `vlab drill run vsock.yaml` with `cid: 013` said "3 problems": the wrong kind and the
  // topology's leading zeros, which are the topology's to judge (as `parseTopology` leaves a
  // drill's `seed: 010`).
  const r = await parseDrill(
    "name: t\nvms:\n  a: { vsock: { cid: 013 } }\n  b: { vsock: { cid: 014 } }\n",
    "t.yaml",
  );
  assert.ok(!r.ok);
  assert.deepEqual(r.error.map((i) => i.code), ["wrong-kind"]);
});
