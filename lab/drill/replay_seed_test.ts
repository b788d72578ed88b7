// What a replay compares and what it only notes: decisions of the seed are differences; what
// timing moved (a step one run never reached, counts of a link an `impair` step changed) is a
// note with its reason, never silently "the same".
import assert from "node:assert/strict";
import { inStateDir, LAB_TEST } from "../testing.ts";
import { compareRuns } from "./report.ts";
import { runDrill } from "./run.ts";
import type { DrillResult, LinkOutcome, StepRecord } from "./types.ts";

function step(n: number, run = 0): StepRecord {
  return {
    step: n,
    run,
    kind: "fault",
    plannedMs: 300 * (run + 1),
    jitterMs: 0,
    what: "fault backend-crash a --mode exit",
    startedMs: 300 * (run + 1),
    endedMs: 300 * (run + 1) + 5,
  };
}

function link(overrides: Partial<LinkOutcome> = {}): LinkOutcome {
  return {
    link: "a-b",
    forwardLost: 190,
    reverseLost: 0,
    forwardCorrupted: 88,
    reverseCorrupted: 0,
    forwardOtherDrops: 0,
    reverseOtherDrops: 0,
    forwardFrames: 1812,
    reverseFrames: 2,
    impaired: true,
    ...overrides,
  };
}

type Compared = Pick<DrillResult, "seed" | "steps" | "links" | "error">;

Deno.test("a step the replay never reached because it stopped early is a note, not a difference", () => {
  const recorded: Compared = {
    seed: 5,
    steps: [step(2, 0), step(2, 1), step(2, 2)],
    links: [],
    error: 'Cannot inject backend-crash: VM "a" is restarting',
  };
  const replayed: Compared = { ...recorded, steps: [step(2, 0), step(2, 1)] };
  const notes: string[] = [];
  assert.deepEqual(compareRuns(recorded, replayed, { notes }), []);
  assert.equal(notes.length, 1);
  assert.match(
    notes[0],
    /^step #2\.2: recorded .*, now \(not run\); not compared: the replay stopped before it \(Cannot inject backend-crash/,
  );
  // The other way round: the recorded run stopped early, the replay went further.
  const back: string[] = [];
  assert.deepEqual(compareRuns(replayed, { ...recorded, error: undefined }, { notes: back }), []);
  assert.match(back[0], /not compared: the recorded run stopped before it/);
  // A run that did not stop early and lacks a step: a real difference.
  const diffs = compareRuns(recorded, { ...replayed, error: undefined });
  assert.deepEqual(diffs.map((d) => [d.subject, d.replayed]), [["step #2.2", "(not run)"]]);
});

Deno.test("counts of a link an impair step changed differ as a note that says why", () => {
  const notes: string[] = [];
  const a = { seed: 3, steps: [], links: [link({ changedLive: true })] };
  const b = { seed: 3, steps: [], links: [link({ changedLive: true, forwardLost: 192 })] };
  assert.deepEqual(compareRuns(a, b, { notes }), []);
  assert.equal(notes.length, 1);
  assert.match(
    notes[0],
    /^link a-b: recorded lost 190 .*, now lost 192 .*an impair step changed it/,
  );
  // Without a live change, the same counts' difference is one.
  const plain = compareRuns({ ...a, links: [link()] }, {
    ...b,
    links: [link({ forwardLost: 192 })],
  });
  assert.deepEqual(plain.map((d) => d.subject), ["link a-b"]);
});

Deno.test("a link impaired in the replay only is compared", () => {
  const a = { seed: 3, steps: [], links: [link({ impaired: false, forwardLost: 0 })] };
  const b = { seed: 3, steps: [], links: [link({ forwardLost: 4 })] };
  assert.deepEqual(compareRuns(a, b).map((d) => d.subject), ["link a-b"]);
});

Deno.test({
  name: "a link an impair step impaired and cleared again counts as impaired and changed live",
  ...LAB_TEST,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "vlab-replay-seed-" });
    const before = Deno.env.get("VLAB_STATE_DIR");
    Deno.env.set("VLAB_STATE_DIR", dir);
    try {
      const r = await runDrill({
        name: "live-loss",
        seed: 3,
        topology: {
          name: "replay-live-loss",
          vms: {
            a: { nics: { eth0: { ip: "10.8.1.1/24" } } },
            b: { nics: { eth0: { ip: "10.8.1.2/24" } } },
          },
          links: [{ endpoints: ["a:eth0", "b:eth0"] }],
        },
        timeline: [
          { impair: { link: "a-b", set: { loss: "50%" }, direction: "forward" } },
          {
            exec: {
              vm: "a",
              argv: ["ping", "10.8.1.2", "-c", "10", "-i", "0.002", "-W", "0.1"],
              as: "ping",
            },
          },
          { impair: { link: "a-b", set: {} } },
        ],
      });
      const l = r.links.find((x) => x.link === "a-b")!;
      assert.ok(l.forwardLost > 0, JSON.stringify(l));
      // The impairment is off at the end, yet its decisions were taken: the replay compares them.
      assert.equal(l.impaired, true);
      assert.equal(l.changedLive, true);
    } finally {
      if (before === undefined) Deno.env.delete("VLAB_STATE_DIR");
      else Deno.env.set("VLAB_STATE_DIR", before);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("replayDrill refuses options.seed with the reason, as vlab drill replay --seed does", async () => {
  const { replayDrill } = await import("./mod.ts");
  // Refused before the report is even read, so no lab starts: before, the seed was ignored and
  // the drill ran again with the recorded one.
  await assert.rejects(
    () => replayDrill({ seed: 3 }, { seed: 4 } as never),
    (e: Error) =>
      e instanceof TypeError &&
      e.message ===
        "replayDrill: options.seed is not taken: a replay uses the seed its report recorded (3); runDrill(report.document, { seed }) runs the drill with another",
  );
});

Deno.test("a script compares two runs of its own with mod.ts's compareRuns", async () => {
  const mod = await import("../../mod.ts");
  assert.equal(mod.compareRuns, compareRuns);
  const run = { seed: 3, steps: [step(0)], links: [link()] };
  assert.deepEqual(mod.compareRuns(run, structuredClone(run)), []);
});

Deno.test("the Markdown report marks a link an impair step changed, and says why that is timing", async () => {
  const { markdownReport } = await import("./report.ts");
  const base: DrillResult = {
    name: "d",
    source: "d.yaml",
    seed: 3,
    startedAt: "2026-01-01T00:00:00.000Z",
    durationMs: 10,
    steps: [],
    workloads: {},
    recovery: [],
    links: [link({ changedLive: true }), link({ link: "c-d" })],
    events: [],
    assertions: [],
    passed: true,
    document: {},
  };
  const md = markdownReport(base);
  assert.match(md, /^\| a-b \(\*changed live\*\) \| 1812 \| 190 \|/m);
  assert.match(md, /^\| c-d \| 1812 \| 190 \|/m);
  assert.match(md, /an `impair` step's change took effect .*\(marked \*changed live\*\)/);
});

Deno.test({
  name: "a replay's result names the drill file it replays, not <object>",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-drill-replay-", async (dir) => {
      const { replayDrill, jsonReport, markdownReport } = await import("./mod.ts");
      const file = `${dir}/quick.yaml`;
      await Deno.writeTextFile(file, "topology: pair\ntimeline:\n  - wait: 1ms\n");
      const first = await runDrill(file);
      const { result } = await replayDrill(JSON.parse(jsonReport(first)));
      // Before, `source: <object>` in the replay's report.md, and a replay of its report.json
      // suggested `vlab drill run DRILL.yaml --seed N`.
      assert.equal(result.source, file);
      assert.match(markdownReport(result), new RegExp(`^- source: \`${file}\`$`, "m"));
      // A drill with no file (an object, stdin) keeps its source: before, the replay's report.md
      // named "the report's drill" and told to run `vlab drill run 'the report'\''s drill'`.
      for (const source of ["<object>", "<stdin>"]) {
        const replayed = await replayDrill({ ...JSON.parse(jsonReport(first)), source });
        assert.equal(replayed.result.source, source);
        assert.doesNotMatch(markdownReport(replayed.result), /the report's drill/);
      }
    }),
});

Deno.test("compareRuns refuses options it does not take: a misspelt notes list stayed empty", () => {
  const run = { seed: 3, steps: [step(0)], links: [link()] };
  assert.throws(
    () => compareRuns(run, structuredClone(run), { note: [] } as never),
    /^TypeError: compareRuns: options has no key "note" \(did you mean notes\?\); it takes notes$/,
  );
  assert.throws(
    () => compareRuns(run, structuredClone(run), { notes: "x" } as never),
    /^TypeError: compareRuns: options\.notes must be an array \(the notes are pushed to it\), got string$/,
  );
  assert.deepEqual(compareRuns(run, structuredClone(run), { notes: [] }), []);
});
