import assert from "node:assert/strict";
import { evaluate } from "./evaluate.ts";
import { parseExpr } from "./expr.ts";
import {
  assertionHint,
  countFilterHint,
  metricValue,
  recoveryFigures,
  type RunData,
  runScope,
  selectorProblem,
} from "./scope.ts";

const METRICS = `# HELP vlab_link_frames_dropped_total link ring: framesDropped
# TYPE vlab_link_frames_dropped_total counter
vlab_link_frames_dropped_total{lab="t",link="a-b",direction="forward"} 3
vlab_link_frames_dropped_total{lab="t",link="a-b",direction="reverse"} 4
vlab_link_frames_dropped_total{lab="t",link="b-c",direction="forward"} 10
vlab_up{lab="t"} 1
`;

const DATA: RunData = {
  workloads: new Map<string, Record<string, unknown> | null>([
    ["ping", { kind: "ping", lossPct: 12.5, rttMs: null, received: 7, replies: [] }],
    ["flood", null],
    ["bad", { kind: "error", message: "Cannot ping 10.9.9.9: no route" }],
  ]),
  recovery: [
    { subject: "link a-b", atMs: 100, ms: 4 },
    { subject: "link a-b", atMs: 700, ms: 12 },
    { subject: "link a-b", atMs: 1300, ms: null },
  ],
  events: [
    { kind: "link-down", subject: "a-b" },
    { kind: "link-down", subject: "a" },
    { kind: "link-up", subject: "a-b" },
  ],
  metrics: METRICS,
};

function run(text: string) {
  const e = parseExpr(text);
  if (!e.ok) throw new Error(e.error.message);
  return evaluate(e.value, runScope(DATA));
}

Deno.test("metric() sums the samples a selector matches", () => {
  assert.deepEqual(metricValue(METRICS, 'vlab_link_frames_dropped_total{link="a-b"}'), {
    ok: true,
    value: 7,
  });
  assert.deepEqual(metricValue(METRICS, "vlab_link_frames_dropped_total"), { ok: true, value: 17 });
  assert.deepEqual(
    metricValue(METRICS, 'vlab_link_frames_dropped_total{link="a-b", direction="reverse"}'),
    { ok: true, value: 4 },
  );
});

Deno.test("metric() names an unknown metric, a selector that matches nothing and bad syntax", () => {
  const unknown = metricValue(METRICS, "vlab_link_frames_droped_total");
  assert.ok(!unknown.ok);
  assert.equal(unknown.error.message, 'The lab has no metric "vlab_link_frames_droped_total"');
  assert.equal(unknown.error.hint, "did you mean `vlab_link_frames_dropped_total`?");
  const none = metricValue(METRICS, 'vlab_up{lab="other"}');
  assert.ok(!none.ok);
  assert.match(none.error.message, /No sample of vlab_up matches/);
  // Before: "check the label names and values", whatever was wrong.
  assert.equal(none.error.hint, 'no sample has lab="other": lab takes `t`');
  const near = metricValue(METRICS, 'vlab_link_frames_dropped_total{link="a-x"}');
  assert.ok(!near.ok);
  assert.equal(near.error.hint, 'no sample has link="a-x": did you mean `a-b`?');
  const key = metricValue(METRICS, 'vlab_up{vm="a"}');
  assert.ok(!key.ok);
  assert.equal(key.error.hint, 'it has no label "vm": its labels are `lab`');
  const bad = metricValue(METRICS, "vlab_up{lab=other}");
  assert.ok(!bad.ok);
  assert.match(bad.error.message, /Cannot read the metric selector/);
  // A selector's text is the user's: quoted as every other message quotes it (\x1b, not \u001b).
  const esc = metricValue(METRICS, 'vlab_up{lab="\x1b[2J"}');
  assert.ok(!esc.ok);
  assert.equal(esc.error.message, 'No sample of vlab_up matches "vlab_up{lab=\\"\\x1b[2J\\"}"');
  assert.equal(esc.error.hint, 'no sample has lab="\\x1b[2J": lab takes `t`');
  assert.equal(selectorProblem("a\x1b{")?.message, 'Cannot read the metric selector "a\\x1b{"');
});

Deno.test("recovery figures are nearest-rank over the faults that recovered", () => {
  assert.deepEqual(recoveryFigures(DATA.recovery), {
    count: 3,
    unrecovered: 1,
    min_ms: 4,
    mean_ms: 8,
    p50_ms: 4,
    p99_ms: 12,
    max_ms: 12,
  });
  assert.deepEqual(recoveryFigures([]), { count: 0, unrecovered: 0 });
});

Deno.test("workload fields are read in snake_case, events counted with filters", () => {
  const r = run(
    'ping.loss_pct == 12.5 && ping.lossPct == 12.5 && count(events, kind = "link-down") == 2 && ' +
      'count(events, kind = "link-down", subject = "a-b") == 1 && recovery.p99_ms == 12',
  );
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  assert.equal(r.value.value, true);
});

Deno.test("a name without a value is an error that says why, at the name", () => {
  const cases: [string, number, RegExp, RegExp | null][] = [
    ["1 < ping.los_pct", 4, /ping\.los_pct does not exist/, /did you mean `loss_pct`/],
    ["ping.rtt_ms.min > 0", 0, /ping\.rtt_ms is null \(nothing measured\), so it has no min/, null],
    ["ping.replies > 0", 0, /is not a number, string or boolean/, null],
    ["flood.sent > 0", 0, /Workload "flood" had not ended/, /wait_for/],
    ["bad.received > 0", 0, /Workload "bad" failed: Cannot ping 10\.9\.9\.9/, null],
    ['metric("vlab_nope") > 0', 7, /The lab has no metric "vlab_nope"/, null],
  ];
  for (const [text, at, message, hint] of cases) {
    const r = run(text);
    assert.ok(!r.ok, text);
    assert.equal(r.error.at, at, `${text}: ${r.error.message}`);
    assert.match(r.error.message, message);
    if (hint !== null) assert.match(r.error.hint ?? "", hint);
    // Before, half of them had none.
    assert.ok(r.error.hint, `${text}: no hint`);
  }
  const gone = evaluate(parsed("late.x > 0"), runScope(DATA));
  assert.ok(!gone.ok);
  assert.match(gone.error.hint ?? "", /the drill stopped before its step: its verdict says why/);
  const unrecovered = evaluate(
    parsed("recovery.max_ms > 0"),
    runScope({ ...DATA, recovery: [{ subject: "link a-b", atMs: 1, ms: null }] }),
  );
  assert.ok(!unrecovered.ok);
  assert.match(unrecovered.error.hint ?? "", /recovery\.unrecovered/);
});

function parsed(text: string) {
  const e = parseExpr(text);
  if (!e.ok) throw new Error(e.error.message);
  return e.value;
}

Deno.test("a syntax mistake in a metric selector is found before the run, with a hint", () => {
  assert.equal(selectorProblem('vlab_up{lab="t"}'), null);
  for (const bad of ["a{", 'x{link=~"a.*"}', '{link="a-b"}', "vlab_up{lab=t}"]) {
    const p = selectorProblem(bad);
    assert.ok(p !== null, bad);
    assert.match(p.message, /^Cannot read the metric selector /);
    assert.match(p.hint, /name\{label="value",…\}/);
  }
});

Deno.test("recovery without any measured fault is an error, not a pass", () => {
  const e = parseExpr("recovery.p99_ms < 50");
  assert.ok(e.ok);
  const r = evaluate(e.value, runScope({ ...DATA, recovery: [] }));
  assert.ok(!r.ok);
  assert.match(r.error.message, /No recovery time was measured/);
});

Deno.test("recovery.count and recovery.unrecovered are 0 when no fault was timed, as the docs and the validation hint say", () => {
  // Before, each was an ERROR ("No recovery time was measured"), though validation, its hint
  // ("recovery.count is 0 without them") and docs/drills.md give them as 0 there.
  for (
    const [text, holds] of [["recovery.count == 0", true], ["recovery.unrecovered > 0", false]]
  ) {
    const e = parseExpr(text as string);
    assert.ok(e.ok);
    const r = evaluate(e.value, runScope({ ...DATA, recovery: [] }));
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.equal(r.value.value, holds, text as string);
  }
});

Deno.test("names from the drill cannot reach the result object's prototype", () => {
  const r = run("ping.constructor == 1");
  assert.ok(!r.ok);
  assert.match(r.error.message, /ping\.constructor does not exist/);
});

Deno.test("a count of an event kind or subject the run never had, close to one it had, gets a did-you-mean", () => {
  const events = [{ kind: "link-down", subject: "a-b" }, { kind: "link-up", subject: "a-b" }];
  const hint = (text: string) => {
    const e = parseExpr(text);
    assert.ok(e.ok);
    return countFilterHint(e.value, events);
  };
  assert.equal(
    hint('count(events, kind = "link-dwon") == 1'),
    'no kind "link-dwon" in this run: did you mean `link-down`?',
  );
  assert.equal(
    hint('count(events, kind = "link-up", subject = "ab") == 1'),
    'no subject "ab" in this run: did you mean `a-b`?',
  );
  // Events that did not happen, with no near name, are a fine thing to count.
  assert.equal(hint('count(events, kind = "device-reset-failed") == 0'), null);
  assert.equal(hint('count(events, kind = "link-down") == 3'), null);
});

Deno.test("an assertion that holds by a typo in its count's filter says so too", () => {
  const events = [{ kind: "link-down", subject: "a-b" }];
  const e = parseExpr('count(events, kind = "link-dwon") == 0');
  assert.ok(e.ok);
  // Before, a PASS said nothing: the assertion held whatever the run did.
  assert.equal(
    assertionHint(e.value, true, events),
    'it may hold only by a typo: no kind "link-dwon" in this run: did you mean `link-down`?',
  );
  assert.equal(
    assertionHint(e.value, false, events),
    'no kind "link-dwon" in this run: did you mean `link-down`?',
  );
  const fine = parseExpr('count(events, kind = "link-down") == 1');
  assert.ok(fine.ok);
  assert.equal(assertionHint(fine.value, true, events), null);
});

Deno.test("a count of a kind or subject the lab logs is no typo, close as it is to one the run had", () => {
  // The shipped drills' `count(events, kind = "device-reset-failed") == 0` after a run with
  // `device-reset` events, and partition-lite's `subject = "h1"` after h3's, said "it may hold only
  // by a typo: … did you mean …?": names validation took, counted on purpose.
  const events = [{ kind: "device-reset", subject: "a" }, { kind: "link-down", subject: "h3" }];
  const known = { subjects: ["a", "h1", "h3", "star"] };
  const hint = (text: string) => {
    const e = parseExpr(text);
    assert.ok(e.ok);
    return assertionHint(e.value, true, events, known);
  };
  assert.equal(hint('count(events, kind = "device-reset-failed") == 0'), null);
  assert.equal(hint('count(events, kind = "link-down", subject = "h1") == 0'), null);
  // A name the lab does not log still gets its did-you-mean.
  assert.equal(
    hint('count(events, subject = "h33") == 0'),
    'it may hold only by a typo: no subject "h33" in this run: did you mean `h3`?',
  );
});

Deno.test("a list's item past its end says how many items the run had, not 'did you mean'", () => {
  const empty = run("ping.replies.0.seq == 0");
  assert.ok(!empty.ok);
  // Before: "ping.replies.0 does not exist", with no hint.
  assert.equal(
    empty.error.message,
    "ping.replies.0 does not exist: ping.replies had no items in this run",
  );
  assert.match(empty.error.hint ?? "", /assert on a count instead/);
  const one = evaluate(
    (parseExpr("ping.replies.3.seq == 0") as { ok: true; value: never }).value,
    runScope({ ...DATA, workloads: new Map([["ping", { kind: "ping", replies: [{ seq: 0 }] }]]) }),
  );
  assert.ok(!one.ok);
  assert.equal(
    one.error.message,
    "ping.replies.3 does not exist: ping.replies had 1 item in this run",
  );
  assert.equal(one.error.hint, "read an index from 0 to 0");
});

Deno.test(
  "a long ping's replies are read by their index in the run: an item it did not keep is an " +
    "error, never another reply",
  () => {
    // 1200 replies (seq 1 to 1200): the result keeps the first 500 and the last 500 (kept.ts).
    const seqs = [
      ...Array.from({ length: 500 }, (_, i) => i + 1),
      ...Array.from({ length: 500 }, (_, i) => 701 + i),
    ];
    const ping = {
      kind: "ping",
      transmitted: 1200,
      received: 1200,
      replies: seqs.map((seq) => ({ seq, rttMs: seq / 1000 })),
    };
    const read = (text: string) => {
      const e = parseExpr(text);
      if (!e.ok) throw new Error(e.error.message);
      return evaluate(e.value, runScope({ ...DATA, workloads: new Map([["ping", ping]]) }));
    };
    const value = (text: string) => {
      const r = read(text);
      if (!r.ok) throw new Error(r.error.message);
      return r.value.measured[0].value;
    };
    assert.equal(value("ping.replies.0.seq == 1"), 1);
    assert.equal(value("ping.replies.499.seq == 500"), 500);
    // The run's 701st reply and its last: the kept list's 500th and 999th items.
    assert.equal(value("ping.replies.700.seq == 701"), 701);
    assert.equal(value("ping.replies.1199.rtt_ms > 0"), 1.2);
    // Before: the kept list's 600th item, seq 801, as if it were the run's 601st reply.
    const gap = read("ping.replies.600.seq == 601");
    assert.ok(!gap.ok);
    assert.equal(
      gap.error.message,
      "ping.replies.600 was not kept: ping.replies had 1200 items in this run, and a long run " +
        "keeps only its first 500 and last 500 (indices 0 to 499 and 700 to 1199)",
    );
    assert.match(gap.error.hint ?? "", /ping\.received, ping\.loss_pct and ping\.rtt_ms/);
    // Before: "had 1000 items in this run" (the kept ones), where the run had 1200.
    const past = read("ping.replies.1200.seq > 0");
    assert.ok(!past.ok);
    assert.equal(
      past.error.message,
      "ping.replies.1200 does not exist: ping.replies had 1200 items in this run",
    );
    assert.equal(past.error.hint, "read an index from 0 to 1199");
    // An index with a leading zero is no index: `01` read the run's reply 1 from a long run and
    // failed on a short one (a list has no key "01").
    assert.equal(read("ping.replies.01.seq == 2").ok, false);
    // Read whole, it says what was kept, not "its 1000 items".
    const whole = read("ping.replies > 0");
    assert.ok(!whole.ok);
    assert.match(whole.error.hint ?? "", /had 1200 items in this run, and a long run keeps only/);
  },
);
