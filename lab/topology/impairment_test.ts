import assert from "node:assert/strict";
import { NO_IMPAIRMENT } from "../host/impair.ts";
import { parseImpairment, reorderProblem } from "./impairment.ts";
import { parseTopology } from "./load.ts";

Deno.test("live impairment keys read like YAML: units, percentages, loss models", () => {
  const r = parseImpairment({ delay: "20ms", jitter: "2ms", loss: "1%", distribution: "normal" });
  assert.ok(r.ok);
  assert.deepEqual(r.value, {
    ...NO_IMPAIRMENT,
    delayUs: 20_000,
    jitterUs: 2000,
    lossPct: 1,
    distribution: "normal",
  });
  const ge = parseImpairment({ loss_gemodel: "1% 10% 70% 0.1%" });
  assert.ok(ge.ok);
  assert.deepEqual(ge.value.lossModel, {
    kind: "gemodel",
    p: 1,
    r: 10,
    oneMinusH: 70,
    oneMinusK: 0.1,
  });
  const st = parseImpairment({ loss_state: "2%,20%" });
  assert.ok(st.ok);
  assert.deepEqual(st.value.lossModel, {
    kind: "state",
    p13: 2,
    p31: 20,
    p32: 0,
    p23: 100,
    p14: 0,
  });
  const none = parseImpairment({});
  assert.ok(none.ok);
  assert.deepEqual(none.value, NO_IMPAIRMENT);
});

Deno.test("bad live impairment values are refused naming the key, with a hint", () => {
  const cases: [unknown, string, RegExp][] = [
    [{ delay: "20" }, "delay", /Cannot read delay "20": expected a duration/],
    [{ loss: "150%" }, "loss", /loss must be between 0% and 100%, got 150%/],
    [{ distribution: "gauss" }, "distribution", /distribution/],
    [{ gap: 0 }, "gap", /gap/],
    [{ loss_state: "1% 2% 3% 4% 5% 6%" }, "loss_state", /1 to 5 percentages/],
    [{ toString: "1ms" }, "toString", /Unknown impairment key "toString"/],
    [{ loss: "1%", loss_gemodel: "1%" }, "loss_gemodel", /more than one of loss/],
    [[1], "", /must be an object/],
  ];
  for (const [raw, key, message] of cases) {
    const r = parseImpairment(raw);
    assert.ok(!r.ok, JSON.stringify(raw));
    assert.equal(r.error.key, key, JSON.stringify(raw));
    assert.match(r.error.message, message);
    assert.ok(r.error.hint.length > 0);
  }
});

Deno.test("live impairment values fail with the topology file's messages and hints", () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { limit: 0 },
      "limit must be between 1 and 1000000, got 0",
      "write a whole number from 1 to 1000000",
    ],
    [
      { limit: 1e308 },
      "limit must be between 1 and 1000000, got 1e+308",
      "write a whole number from 1 to 1000000",
    ],
    [
      { limit: 1.5 },
      "limit must be an integer, got 1.5",
      "write an integer here; docs/topology.md describes `limit`",
    ],
    [
      { gap: "5" },
      'gap must be a number, got "5"',
      "write the number without quotes: gap: 5",
    ],
    [
      { distribution: "gauss" },
      'Unknown distribution "gauss"',
      "expected one of `uniform`, `normal`, `pareto`, `paretonormal`",
    ],
    [{ distribution: "norml" }, 'Unknown distribution "norml"', "did you mean `normal`?"],
    [
      { delay: "20" },
      'Cannot read delay "20": expected a duration with a unit',
      'write a duration with its unit: "20ms", "20us" or "20s"',
    ],
    [
      { rate: "100Mbit" },
      'Cannot read rate "100Mbit": expected a rate',
      'write "100mbit" (units are lower case)',
    ],
  ];
  for (const [raw, message, hint] of cases) {
    const r = parseImpairment(raw);
    assert.ok(!r.ok, JSON.stringify(raw));
    assert.deepEqual(r.error, { key: Object.keys(raw)[0], message, hint });
    // The same value in a file: the same message (after the path a file's type errors name).
    const [key, value] = Object.entries(raw)[0];
    const file = parseTopology(
      "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
        `links:\n  - endpoints: [a, b]\n    ${key}: ${JSON.stringify(value)}\n`,
      "t.yaml",
    );
    assert.ok(!file.ok);
    assert.deepEqual(
      [file.error[0].message.replace(/^links\[0\]\./, ""), file.error[0].hint],
      [message, hint],
    );
  }
});

Deno.test("a misspelt live key gets the file's did-you-mean; a far one the list of keys", () => {
  const near = parseImpairment({ dealy: "5ms" });
  assert.ok(!near.ok);
  assert.deepEqual(near.error, {
    key: "dealy",
    message: 'Unknown impairment key "dealy"',
    hint: "did you mean `delay`?",
  });
  const far = parseImpairment({ toString: "5ms" });
  assert.ok(!far.ok);
  assert.match(far.error.hint, /^Keys: delay, jitter, /);
});

Deno.test("reorder without a delay is a net link's problem: read by parseImpairment, refused by reorderProblem", () => {
  // parseImpairment refused it for every link, so a vsock link (which takes no reorder at all)
  // was told to "set delay above 0", and then refused that.
  const r = parseImpairment({ reorder: "5%" });
  assert.ok(r.ok);
  assert.deepEqual(reorderProblem("a-b", r.value), {
    key: "reorder",
    message: 'Cannot reorder on link "a-b" without a delay',
    hint: "Set `delay` above 0 too: netem reorders by sending some frames without the delay",
  });
  const delayed = parseImpairment({ reorder: "5%", delay: "1ms" });
  assert.ok(delayed.ok);
  assert.equal(reorderProblem("a-b", delayed.value), null);
});

Deno.test("a distribution without a jitter is refused (it only shapes the jitter), as in a file", () => {
  const r = parseImpairment({ distribution: "pareto" });
  assert.deepEqual(r, {
    ok: false,
    error: {
      key: "distribution",
      message: "Cannot set a distribution without a jitter",
      hint: "distribution shapes the jitter: set `jitter` above 0 too",
    },
  });
  assert.equal(parseImpairment({ distribution: "pareto", delay: "5ms", jitter: "0ms" }).ok, false);
  const shaped = parseImpairment({ distribution: "pareto", delay: "5ms", jitter: "1ms" });
  assert.ok(shaped.ok && shaped.value.distribution === "pareto");
});

Deno.test("a distribution with a jitter but no delay is refused live, as tc and a file refuse it", () => {
  // It was taken: tc refuses netem `delay 0 jitter … distribution pareto`.
  const r = parseImpairment({ jitter: "5ms", distribution: "pareto" }, { link: "a-b" });
  assert.deepEqual(r, {
    ok: false,
    error: {
      key: "distribution",
      message: 'Cannot set a distribution on link "a-b" without a delay',
      hint: "distribution shapes the jitter around the delay (tc refuses it with delay 0): " +
        "set `delay` above 0 too",
    },
  });
  // A jitter without a distribution (uniform, no table) is still taken with delay 0.
  assert.ok(parseImpairment({ jitter: "5ms" }).ok);
  assert.ok(parseImpairment({ delay: "1ms", jitter: "5ms", distribution: "pareto" }).ok);
});

Deno.test("live keys refused together name the link they were for, as reorderProblem does", () => {
  // It said "Cannot set a distribution without a jitter": the control socket's answer and a
  // script's LabError did not say which link refused it.
  const shape = parseImpairment({ distribution: "pareto" }, { link: "a-b" });
  assert.ok(!shape.ok);
  assert.equal(shape.error.message, 'Cannot set a distribution on link "a-b" without a jitter');
  const models = parseImpairment({ loss: "1%", loss_state: "1%" }, { link: "a-sw" });
  assert.ok(!models.ok);
  assert.equal(
    models.error.message,
    'Cannot use more than one of loss, loss_state and loss_gemodel on link "a-sw"',
  );
  // A name from outside is quoted.
  const odd = parseImpairment({ distribution: "normal" }, { link: "x\x1b[31m" });
  assert.ok(!odd.ok && !odd.error.message.includes("\x1b"));
});

Deno.test("parseImpairment refuses a Map or a class's instance, which it read as no keys", () => {
  // A Map has no keys of its own: it was taken as {}, and a live change cleared the link.
  const map = parseImpairment(new Map([["delay", "20ms"]]));
  assert.equal(map.ok, false);
  if (!map.ok) {
    assert.equal(map.error.message, "Impairment must be an object of netem keys, got a Map");
    assert.match(map.error.hint, /Object\.fromEntries\(map\) makes one/);
  }
  const date = parseImpairment(new Date());
  assert.equal(
    date.ok ? "" : date.error.message,
    "Impairment must be an object of netem keys, got a Date",
  );
  // Plain objects, also without a prototype, are read as before.
  const bare = Object.assign(Object.create(null), { delay: "20ms" });
  assert.equal(parseImpairment(bare).ok, true);
});

Deno.test("a gap without a reorder and an overhead without a rate are refused, as tc and a topology file refuse them", () => {
  // Both were taken and did nothing: `vlab link a-b set gap=5`, `set overhead=24`.
  const gap = parseImpairment({ delay: "5ms", gap: 5 });
  assert.ok(gap.ok);
  assert.deepEqual(reorderProblem("a-b", gap.value), {
    key: "gap",
    message: 'Cannot set a gap on link "a-b" without a reorder',
    hint:
      "gap says which frames a reorder may send early: set `reorder` above 0 too (tc refuses a gap without one)",
  });
  const reordering = parseImpairment({ delay: "5ms", reorder: "10%", gap: 5 });
  assert.ok(reordering.ok && reorderProblem("a-b", reordering.value) === null);
  const one = parseImpairment({ gap: 1 }); // the default: it changes nothing
  assert.ok(one.ok && reorderProblem("a-b", one.value) === null);
  const overhead = parseImpairment({ overhead: 24 }, { link: "a-b" });
  assert.deepEqual(overhead.ok ? null : [overhead.error.key, overhead.error.message], [
    "overhead",
    'Cannot set an overhead on link "a-b" without a rate',
  ]);
  assert.equal(parseImpairment({ rate: "1mbit", overhead: -4 }).ok, true);
  assert.equal(parseImpairment({ overhead: 0 }).ok, true);
  // In a file, at the key, naming the link.
  const r = parseTopology(
    "name: x\nvms: { a: { nics: { e0: {} } }, b: { nics: { e0: {} } } }\n" +
      "links: [{ endpoints: [a, b], delay: 5ms, gap: 5, reverse: { overhead: 24 } }]\n",
    "t.yaml",
  );
  assert.deepEqual(r.ok ? [] : r.error.map((i) => `${i.line}:${i.column} ${i.code} ${i.message}`), [
    '3:47 gap-without-reorder Cannot set a gap on link "a-b" without a reorder',
    '3:71 overhead-without-rate Cannot set an overhead on link "a-b" (reverse) without a rate',
  ]);
});
