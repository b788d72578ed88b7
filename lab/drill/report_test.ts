import assert from "node:assert/strict";
import { drillChartSpec, renderDrillChart } from "./chart.ts";
import { compareRuns, jsonReport, junitReport, markdownReport, stepRunLabel } from "./report.ts";
import { typeName } from "../api.ts";
import { replayDrill } from "./mod.ts";
import { LabError } from "../errors.ts";
import type { DrillResult } from "./types.ts";

function result(overrides: Partial<DrillResult> = {}): DrillResult {
  return {
    name: "flap <&>",
    source: "drills/flap.yaml",
    seed: 7,
    startedAt: "2026-01-01T00:00:00.000Z",
    durationMs: 1234,
    steps: [
      {
        step: 0,
        run: 0,
        kind: "link",
        plannedMs: 300,
        jitterMs: 1.5,
        what: "link a-b down for 200 ms",
        startedMs: 301.6,
        endedMs: 502,
      },
    ],
    workloads: { ping: { kind: "ping", received: 5 } },
    recovery: [{ subject: "link a-b", atMs: 502, ms: 9.5 }],
    links: [{
      link: "a-b",
      forwardLost: 3,
      reverseLost: 1,
      forwardCorrupted: 0,
      reverseCorrupted: 2,
      forwardOtherDrops: 0,
      reverseOtherDrops: 0,
      forwardFrames: 20,
      reverseFrames: 18,
      impaired: true,
    }],
    events: [{ atMs: 301, kind: "link-down", subject: "a-b" }],
    assertions: [
      {
        text: "ping.received > 3",
        verdict: "pass",
        measured: [{ text: "ping.received", value: 5 }],
        line: 9,
        column: 5,
      },
      {
        text: 'ping.received > 100 && "<x>" == "<x>"',
        verdict: "fail",
        measured: [{ text: "ping.received", value: 5 }],
        line: 10,
        column: 5,
      },
      {
        text: "recovery.p99_ms < 1",
        verdict: "error",
        measured: [],
        error: "d.yaml:11:5: No recovery time was measured",
        line: 11,
        column: 5,
      },
    ],
    passed: false,
    document: { topology: { name: "t" }, seed: 7, timeline: [] },
    ...overrides,
  };
}

Deno.test("the JUnit report has one testcase per assertion plus the timeline, escaped", () => {
  const x = junitReport(result());
  assert.match(x, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites /);
  assert.equal(x.match(/<testcase /g)?.length, 4);
  assert.match(x, /<testsuite name="flap &lt;&amp;&gt;" tests="4" failures="1" errors="1"/);
  assert.match(
    x,
    /name="ping.received &gt; 100 &amp;&amp; &quot;&lt;x&gt;&quot; == &quot;&lt;x&gt;&quot;"><failure message="assertion does not hold: ping.received = 5">/,
  );
  assert.match(x, /<error message="d.yaml:11:5: No recovery time was measured">/);
  assert.match(x, /<property name="seed" value="7"\/>/);
  // Tags balance (xmllint checks the real file in tests/drill_e2e_test.ts).
  const open =
    (x.match(/<(testsuites|testsuite|testcase|failure|error|properties)[ >]/g) ?? []).length;
  const close =
    (x.match(/<\/(testsuites|testsuite|testcase|failure|error|properties)>/g) ?? []).length;
  assert.equal(open, close);
});

Deno.test("a failed timeline step fails the timeline testcase", () => {
  const x = junitReport(result({ error: 'Workload "ping" did not end within 30000 ms' }));
  assert.match(x, /name="timeline"><failure message="Workload &quot;ping&quot; did not end/);
  assert.match(x, /failures="2"/);
});

Deno.test("the Markdown report shows each verdict with its measured value, the seed and the chart", () => {
  const md = markdownReport(result(), "chart.svg");
  // Its name is text, not markup: `<&>` is no HTML tag nor entity.
  assert.match(md, /^# Drill flap \\<\\&\\>: FAIL/);
  assert.match(md, /- seed: 7/);
  assert.match(md, /\| FAIL \| `ping.received > 100 && "<x>" == "<x>"` \| ping.received = 5 \|/);
  assert.match(
    md,
    /\| ERROR \| `recovery.p99_ms < 1` \| d.yaml:11:5: No recovery time was measured \|/,
  );
  assert.match(md, /\| 0.302 \| #0.0 \| link a-b down for 200 ms \| 300 \| 1.5 \|/);
  assert.match(md, /p50 9.5 ms, p99 9.5 ms, max 9.5 ms/);
  assert.match(md, /\| a-b \| 20 \| 3 \| 0 \| 0 \| 18 \| 1 \| 2 \| 0 \|/);
  assert.match(md, /!\[flap \\<\\&\\>\]\(chart.svg\)/);
});

Deno.test("the JSON report holds what a replay needs", () => {
  const j = JSON.parse(jsonReport(result()));
  assert.equal(j.version, 1);
  assert.equal(j.seed, 7);
  assert.deepEqual(j.document.topology, { name: "t" });
  assert.equal(j.steps[0].plannedMs, 300);
  assert.equal(j.links[0].forwardLost, 3);
});

Deno.test("a replay with the same decisions has no differences; each other decision is named", () => {
  const a = result();
  assert.deepEqual(compareRuns(a, result()), []);
  const moved = result({
    steps: [{ ...a.steps[0], jitterMs: 2, plannedMs: 300.5, startedMs: 999 }],
    links: [{ ...a.links[0], forwardLost: 4 }],
  });
  const diffs = compareRuns(a, moved);
  assert.deepEqual(diffs.map((d) => d.subject), ["step #0.0", "link a-b"]);
  assert.match(diffs[0].recorded, /planned at 300 ms \(jitter 1.5 ms\)/);
  assert.match(diffs[0].replayed, /planned at 300.5 ms \(jitter 2 ms\)/);
  assert.equal(diffs[1].replayed, "lost 4 a→b, 1 b→a; corrupted 0 a→b, 2 b→a");
  // Other drops are timing.
  assert.deepEqual(
    compareRuns(a, result({ links: [{ ...a.links[0], forwardOtherDrops: 5 }] })),
    [],
  );
  // When it started is timing, not a decision.
  assert.deepEqual(compareRuns(a, result({ steps: [{ ...a.steps[0], startedMs: 999 }] })), []);
  // Counters of a link without impairments are timing too.
  const plain = result({ links: [{ ...a.links[0], impaired: false }] });
  assert.deepEqual(
    compareRuns(plain, result({ links: [{ ...plain.links[0], forwardLost: 9 }] })),
    [],
  );
  assert.deepEqual(compareRuns(a, result({ steps: [] })).map((d) => d.replayed), ["(not run)"]);
});

Deno.test("the chart shows recovery times when measured, else the timeline", async () => {
  assert.match(drillChartSpec(result()).title, /recovery time per fault/);
  assert.match(drillChartSpec(result({ recovery: [] })).title, /timeline/);
  assert.match(
    drillChartSpec(result({ recovery: [{ subject: "x", atMs: 1, ms: null }] })).title,
    /timeline/,
  );
  const svg = await renderDrillChart(result());
  assert.match(svg, /^<svg/);
  assert.match(svg, /recovery time per fault/);
});

Deno.test("the Markdown report plans a step without at after the step before it, lists each recovery and rounds float noise", () => {
  const base = result();
  const md = markdownReport(
    result({
      steps: [
        { ...base.steps[0], step: 0 },
        {
          step: 1,
          run: 0,
          kind: "wait",
          plannedMs: 0,
          jitterMs: 0,
          what: "wait 100 ms",
          startedMs: 502,
          endedMs: 602,
        },
      ],
      recovery: [
        { subject: "link a-b", atMs: 502, ms: 9.5 },
        { subject: "backend a", atMs: 700, ms: null },
      ],
      assertions: [{
        text: "ping.rtt_ms.max < 1",
        verdict: "fail",
        measured: [{ text: "ping.rtt_ms.max", value: 12.22005999999999 }],
        line: 9,
        column: 5,
      }],
      document: { topology: "pair", timeline: [{ at: "300ms", link: {} }, { wait: "100ms" }] },
    }),
    null,
  );
  // Each step run as the progress lines name it: a step that runs once is `#1`, not `#1.0`.
  assert.match(md, /\| 0\.502 \| #1 \| wait 100 ms \| after #0 \| 0 \|/);
  assert.match(md, /\| 0\.302 \| #0 \| link a-b down for 200 ms \| 300 \| 1\.5 \|/);
  assert.match(md, /\| link a-b \| 0\.502 \| 9\.5 \|/);
  assert.match(md, /\| backend a \| 0\.700 \| not recovered \|/);
  assert.match(md, /ping\.rtt_ms\.max = 12\.22006 \|/);
});

Deno.test("a link whose timing drops differ is a note, not a decision difference", () => {
  const a = result();
  // The run recorded in the field: a→b lost one frame less to link-down in the replay, so b
  // answered one more request, and that reply was the next frame the loss stage dropped.
  const notes: string[] = [];
  const moved = result({
    links: [{ ...a.links[0], forwardOtherDrops: 1, reverseLost: 2 }],
  });
  assert.deepEqual(compareRuns(a, moved, { notes }), []);
  assert.equal(notes.length, 1);
  assert.match(
    notes[0],
    /^link a-b: recorded lost 3 a→b, 1 b→a.*now lost 3 a→b, 2 b→a.*timing drops differ/,
  );
  // The same timing drops: a different count is a decision that differs.
  assert.equal(compareRuns(a, result({ links: [{ ...a.links[0], reverseLost: 2 }] })).length, 1);
});

Deno.test("the reports and the chart refuse what is no drill result with one TypeError naming it", async () => {
  const calls: [string, (r: unknown) => unknown][] = [
    ["markdownReport", (r) => markdownReport(r as DrillResult, null)],
    ["junitReport", (r) => junitReport(r as DrillResult)],
    ["jsonReport", (r) => jsonReport(r as DrillResult)],
    ["drillChartSpec", (r) => drillChartSpec(r as DrillResult)],
    ["compareRuns", (r) => compareRuns(r as DrillResult, result())],
  ];
  const steps = [{ ...result().steps[0], startedMs: undefined }];
  const cases: [unknown, string][] = [
    [null, "result must be a drill result (what runDrill returns), got null"],
    [undefined, "result must be a drill result (what runDrill returns), got undefined"],
    [[result()], "result must be a drill result (what runDrill returns), got an array"],
    [{ ...result(), steps: null }, "result.steps must be an array, got null"],
    [{ ...result(), steps }, "result.steps[0].startedMs must be a number, got undefined"],
  ];
  for (const [name, call] of calls) {
    for (const [value, message] of cases) {
      assert.throws(() => call(value), (e) => {
        assert.ok(e instanceof TypeError, `${name}(${typeName(value)}): ${e}`);
        assert.equal(e.message, `${name}: ${message}`);
        return true;
      });
    }
  }
  for (const [value, message] of cases) {
    await assert.rejects(renderDrillChart(value as DrillResult), (e) => {
      assert.ok(e instanceof TypeError);
      assert.equal(e.message, `renderDrillChart: ${message}`);
      return true;
    });
  }
  // Fields only the reports read: an assertion without its measured values.
  const assertions = [{ ...result().assertions[0], measured: undefined }];
  assert.throws(
    () => junitReport(result({ assertions } as never)),
    /^TypeError: junitReport: result.assertions\[0\].measured must be an array, got undefined$/,
  );
  assert.throws(
    () => markdownReport(result(), 3 as never),
    /^TypeError: markdownReport: chart must be the chart's file name \(a string\) or null, got number$/,
  );
});

Deno.test("a Markdown report with the chart left out links no chart", () => {
  assert.doesNotMatch(markdownReport(result()), /!\[|undefined/);
});

Deno.test("a report changed by hand is refused before its replay runs, naming the field", async () => {
  const step = result().steps[0];
  const cases: [Partial<DrillResult>, string][] = [
    [{ steps: [null as never] }, "steps[0] must be an object, got null"],
    [{ steps: [{ ...step, what: 3 as never }] }, "steps[0].what must be a string, got number"],
    [
      { links: [{ link: "a-b" } as never] },
      "links[0].impaired must be true or false, got undefined",
    ],
    [{ seed: -5 }, "seed must be a whole number 0..4294967295, got -5"],
    [{ seed: 1.5 }, "seed must be a whole number 0..4294967295, got 1.5"],
    // A key of the wrong type was "this is not a drill report (no seed)", as if it were not there.
    [{ seed: "7" as never }, "seed must be a number, got string"],
    [{ document: null as never }, "document must be an object, got null"],
    [{ steps: {} as never }, "steps must be an array, got Object"],
    [{ links: 5 as never }, "links must be an array, got number"],
  ];
  // A report that lacks one of what a replay needs is told which, not all four.
  const { document: _document, ...undocumented } = JSON.parse(JSON.stringify(result()));
  await assert.rejects(replayDrill(undocumented), (e) => {
    assert.ok(e instanceof LabError, String(e));
    assert.equal(e.message, "Cannot replay: this is not a drill report (no document)");
    return true;
  });
  // A report's path was "not a drill report (no seed, document, steps or links)", as if the file
  // had been read and found wanting.
  await assert.rejects(
    replayDrill("out/report.json"),
    /^TypeError: replayDrill: report must be a report object, got string: read the file with readReport\(path\) and pass its value$/,
  );
  for (const options of [null, "seed 7", [1]]) {
    await assert.rejects(
      replayDrill(JSON.parse(JSON.stringify(result())), options as never),
      /^TypeError: replayDrill: options must be an object, got (null|string|an array)$/,
    );
  }
  for (const [change, message] of cases) {
    await assert.rejects(replayDrill(JSON.parse(JSON.stringify(result(change)))), (e) => {
      assert.ok(e instanceof LabError, String(e));
      assert.equal(e.code, "drill-invalid");
      assert.equal(e.message, `Cannot replay: the report's ${message}`);
      return true;
    });
  }
});

Deno.test("the Markdown report shows a drill file's path on its line, with no escape sequence", () => {
  const md = markdownReport(result({ source: "we`ird\x1b[31m\nname.yaml" }));
  const line = md.split("\n").find((l) => l.startsWith("- source:"));
  assert.equal(line, "- source: `` we`ird\\x1b[31m\\nname.yaml ``");
  assert.ok(!md.includes("\x1b"), "no escape character");
  assert.match(markdownReport(result()), /^- source: `drills\/flap.yaml`$/m);
});

Deno.test("a replay compares duplicated and reordered frames too, unless the report predates them", () => {
  const copies = {
    forwardDuplicated: 4,
    reverseDuplicated: 0,
    forwardReordered: 2,
    reverseReordered: 1,
  };
  const a = result();
  const recorded = result({ links: [{ ...a.links[0], ...copies }] });
  assert.deepEqual(compareRuns(recorded, result({ links: [{ ...a.links[0], ...copies }] })), []);
  const diffs = compareRuns(
    recorded,
    result({ links: [{ ...a.links[0], ...copies, forwardDuplicated: 5 }] }),
  );
  assert.deepEqual(diffs.map((d) => d.subject), ["link a-b"]);
  assert.equal(
    diffs[0].replayed,
    "lost 3 a→b, 1 b→a; corrupted 0 a→b, 2 b→a; duplicated 5 a→b, 0 b→a; reordered 2 a→b, 1 b→a",
  );
  assert.equal(
    compareRuns(recorded, result({ links: [{ ...a.links[0], ...copies, reverseReordered: 0 }] }))
      .length,
    1,
  );
  // A report written before the counts were recorded is compared on loss and corruption alone.
  assert.deepEqual(
    compareRuns(a, result({ links: [{ ...a.links[0], ...copies, forwardDuplicated: 9 }] })),
    [],
  );
  // The Markdown report lists them for the links that had any.
  const md = markdownReport(recorded, null);
  assert.match(md, /\| a-b \| 4 \| 2 \| 0 \| 1 \|/);
  assert.doesNotMatch(markdownReport(a, null), /duplicated a→b/);
});

Deno.test("a report of another format version is refused before its replay runs", async () => {
  const later = { ...JSON.parse(JSON.stringify(result())), version: 99 };
  await assert.rejects(replayDrill(later), (e) => {
    assert.ok(e instanceof LabError, String(e));
    assert.equal(e.code, "drill-invalid");
    // Before, it was replayed as if this vlab's.
    assert.equal(
      e.message,
      "Cannot replay: the report's format is version 99, and this vlab reads version 1",
    );
    assert.match(e.hint, /vlab drill run/);
    return true;
  });
});

Deno.test("a replayed drill's problems name the drill the report recorded, not <object>", async () => {
  const broken = { ...JSON.parse(JSON.stringify(result())), document: { timeline: [] } };
  await assert.rejects(replayDrill(broken), (e) => {
    assert.ok(e instanceof LabError, String(e));
    assert.equal(e.code, "drill-invalid");
    assert.match(
      e.details[0],
      /^drills\/flap\.yaml, as the report recorded it: Missing key "topology"$/,
    );
    return true;
  });
  const anonymous = { ...broken, source: "<object>" };
  await assert.rejects(replayDrill(anonymous), (e) => {
    assert.ok(e instanceof LabError);
    assert.match(e.details[0], /^the report's drill: Missing key "topology"$/);
    return true;
  });
});

Deno.test("a Markdown report of a lab without ring links says why its Links part is empty", () => {
  const md = markdownReport(result({ links: [] }));
  const part = md.slice(md.indexOf("## Links"));
  // Before, a table header with no row.
  assert.doesNotMatch(part, /\| link \|/);
  assert.match(part, /No link of this lab has a ring to count frames on \(a vhost-pci link/);
});

Deno.test("report.md counts a vsock link's packets in a table of its own, not as frames", () => {
  const link = result().links[0];
  const md = markdownReport(result({
    links: [{ ...link, kind: "net" }, { ...link, link: "a-b-vsock", kind: "vsock" }],
  }));
  const part = md.slice(md.indexOf("## Links"));
  // Before, one table said "frames a→b" for both.
  assert.match(
    part,
    /\| link \| frames a→b \|[^\n]*\| frames b→a \|[^\n]*\n[^\n]*\n\| a-b \| 20 \|[^\n]*\n\n/,
  );
  assert.match(
    part,
    /\| vsock link \| packets a→b \|[^\n]*\| packets b→a \|[^\n]*\n[^\n]*\n\| a-b-vsock \| 20 \|/,
  );
  assert.equal(part.match(/\| a-b-vsock \|/g)?.length, 1);
  // A report written before `kind`: its links are net links, as they were.
  const old = markdownReport(result());
  assert.match(old, /\| link \| frames a→b \|[^\n]*\n[^\n]*\n\| a-b \| 20 \|/);
  assert.doesNotMatch(old, /packets/);
});

Deno.test("an assertion with a backtick in its string stays one code span in report.md", () => {
  const text = 'ping.dst != "x`y" && 1 == 1';
  const md = markdownReport(result({
    assertions: [{ text, verdict: "pass", measured: [], line: 1, column: 1 }],
  }));
  // Before: `ping.dst != "x`y" && 1 == 1`, a span that ended at the string's backtick.
  assert.match(md, /^\| PASS \| `` ping\.dst != "x`y" && 1 == 1 `` \| {2}\|$/m);
});

Deno.test("report.md counts one fault in the singular", () => {
  // Before: "1 faults ended".
  assert.match(markdownReport(result()), /^1 fault ended, 0 without recovery within the watch;/m);
});

Deno.test("a step run that started late says so in report.md and the JUnit timeline", () => {
  const late = result({
    steps: [{
      step: 1,
      run: 0,
      kind: "wait",
      plannedMs: 50,
      jitterMs: 0,
      what: "wait 0 ms",
      startedMs: 402,
      endedMs: 402,
      lateMs: 352,
    }],
  });
  const md = markdownReport(late);
  assert.match(md, /^- late: 1 step run started after its time, held up by the steps before/m);
  assert.match(md, /^\| 0\.402 \| #1\.0 \| wait 0 ms \(started 352 ms late\) \| 50 \| 0 \|$/m);
  assert.match(
    junitReport(late),
    /name="timeline"><system-out>#1\.0 wait 0 ms: started 352 ms late<\/system-out><\/testcase>/,
  );
  // On time: no line, no output.
  assert.doesNotMatch(markdownReport(result()), /late/);
  assert.match(junitReport(result()), /name="timeline"><\/testcase>/);
});

Deno.test("report.md's replay and run-again commands name the files where they are", () => {
  const md = markdownReport(result({ source: "/home/me/my drills/flap.yaml" }), null, {
    replay: "/home/me/out/report.json",
  });
  assert.match(
    md,
    /^- seed: 7 \(replay: `vlab drill replay \/home\/me\/out\/report\.json`; run again: `vlab drill run '\/home\/me\/my drills\/flap\.yaml' --seed 7`\)$/m,
  );
  // Without the report.json's path, it is the one beside the report; an object has no file.
  assert.match(
    markdownReport(result({ source: "<object>" })),
    /^- seed: 7 \(replay: `vlab drill replay report\.json` in this report's folder; run it again with --seed 7\)$/m,
  );
  // A drill read from stdin (`vlab drill run -`) is piped in again.
  assert.match(
    markdownReport(result({ source: "<stdin>" })),
    /^- seed: 7 \(replay: `vlab drill replay report\.json` in this report's folder; run again: pipe the drill into `vlab drill run - --seed 7`\)$/m,
  );
  assert.throws(
    () => markdownReport(result(), null, { replay: 5 as unknown as string }),
    /^TypeError: markdownReport: options\.replay must be a string, got number$/,
  );
});

Deno.test("a drill piped in with no name is named <stdin> in report.md and the JUnit XML, as text", () => {
  const r = result({ name: "<stdin>", source: "<stdin>" });
  const md = markdownReport(r, "chart.svg");
  // Before, it was named "drill" (`drill drill, seed 7`); a bare <stdin> would be an HTML tag,
  // shown as nothing (`# Drill : FAIL`).
  assert.match(md, /^# Drill \\<stdin\\>: FAIL\n/);
  assert.match(md, /!\[\\<stdin\\>\]\(chart.svg\)/);
  assert.match(junitReport(r), /<testsuite name="&lt;stdin&gt;" /);
  // Markdown's other markup is text too.
  assert.match(
    markdownReport(result({ name: "*a*_b_ [c](d) #1 `e`" })),
    /^# Drill \\\*a\\\*\\_b\\_ \\\[c\\\]\(d\) \\#1 \\`e\\`: FAIL/,
  );
});

Deno.test("report.md shows the drill's description under its heading, as text", () => {
  const md = markdownReport(
    result({
      document: { description: "Flaps the link *twice*.\nChecks\t<recovery>.\n\nSecond part." },
    }),
  );
  // Before, no report showed it (report.json's document alone kept it).
  assert.ok(
    md.startsWith(
      "# Drill flap \\<\\&\\>: FAIL\n\nFlaps the link \\*twice\\*.\\\nChecks \\<recovery\\>.\n\n" +
        "Second part.\n\n- source: ",
    ),
    md.slice(0, 200),
  );
  // None: nothing between the heading and the list.
  assert.match(markdownReport(result({ document: {} })), /^# Drill .*\n\n- source: /);
});

Deno.test("report.md, the JUnit output and a replay's differences name step runs as the progress lines do", () => {
  const steps = [
    { ...result().steps[0], step: 0, run: 0, lateMs: 40 },
    { ...result().steps[0], step: 1, run: 0, lateMs: 20 },
    { ...result().steps[0], step: 1, run: 1, lateMs: 30 },
  ];
  const document = {
    topology: "pair",
    timeline: [{ wait: "1s" }, { every: "1s", for: "2s", link: {} }],
  };
  const r = result({ steps, document });
  // Before, report.md said #0.0 where the progress line said #0.
  const md = markdownReport(r, null);
  assert.match(md, /\| #0 \| link a-b down/);
  assert.match(md, /\| #1\.0 \| link a-b down/);
  assert.match(md, /\| #1\.1 \| link a-b down/);
  assert.match(junitReport(r), /#0 link a-b down for 200 ms: started 40 ms late\n#1\.0 /);
  const moved = result({ steps: [{ ...steps[0], plannedMs: 1 }, steps[1], steps[2]], document });
  assert.deepEqual(compareRuns(r, moved).map((d) => d.subject), ["step #0"]);
  assert.equal(stepRunLabel(3, 0, null), "#3.0");
});
