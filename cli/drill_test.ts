import { CliExit } from "./usage.ts";
import assert from "node:assert/strict";
import { LabError } from "../lab/errors.ts";
import { join } from "node:path";
import type { DrillResult } from "../lab/drill/mod.ts";
import {
  checkReportPaths,
  concludeDrill,
  drillCommand,
  drillNotRun,
  replayLines,
} from "./drill.ts";
import { EXIT_CODES, VlabError } from "./errors.ts";

Deno.test("a drill whose lab is already running did not run: exit 3, not the failed verdict's 1", () => {
  const running = new LabError(
    "lab-exists",
    'Cannot start lab "pair": it is already running (pid 7)',
    "Stop it with `vlab down pair`, or give this topology another name",
  );
  const e = drillNotRun(running)!;
  assert.equal(e.code, "drill-not-run");
  assert.equal(e.exitCode, 3);
  assert.equal(e.exitCode, EXIT_CODES.drillNotRun);
  assert.notEqual(e.exitCode, EXIT_CODES.failure);
  assert.equal(e.message, 'Cannot start lab "pair": it is already running (pid 7)');
  assert.match(e.hint, /^Stop it with `vlab down pair`.*topology's name, /);
  // Before, nothing said that the running lab may be another drill's, which `vlab down` ends.
  assert.match(e.hint, /a drill of the same topology that runs must end first/);
  assert.equal(e.cause, running);
});

Deno.test("a lab that failed to start is not a verdict either; other errors are left alone", () => {
  assert.equal(drillNotRun(new LabError("lab-failed", "Cannot start lab", "x"))?.exitCode, 3);
  assert.equal(drillNotRun(new LabError("drill-invalid", "bad drill", "x")), null);
  assert.equal(drillNotRun(new LabError("workload-failed", "ping failed", "x")), null);
  assert.equal(drillNotRun(new Error("lab-exists")), null);
});

async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vlab-drill-cli-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The error `vlab drill ARGS…` ends with (it must end with one), within 5 s. */
async function drillError(args: string[], fifo?: string): Promise<VlabError> {
  const run = drillCommand().parseAsync(args, { from: "user" }).then(
    () => assert.fail(`vlab drill ${args.join(" ")} did not fail`),
    (e: unknown) => e,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((r) => timer = setTimeout(() => r("late"), 5000));
  const first = await Promise.race([run, late]);
  clearTimeout(timer);
  if (first === "late") {
    // Release a read blocked on the FIFO, so the test fails instead of hanging.
    if (fifo !== undefined) (await Deno.open(fifo, { write: true })).close();
    await run;
    assert.fail(`vlab drill ${args.join(" ")} blocked`);
  }
  assert.ok(first instanceof VlabError, `not a VlabError: ${first}`);
  return first;
}

Deno.test("drill replay of a FIFO, a missing file or bad JSON fails at once, in one line with a hint", async () => {
  await inTempDir(async (dir) => {
    const fifo = join(dir, "f.json");
    assert.ok((await new Deno.Command("mkfifo", { args: [fifo] }).output()).success);
    const blocked = await drillError(["replay", fifo], fifo);
    assert.equal(blocked.message, `Cannot read report "${fifo}": it is a FIFO`);
    assert.match(blocked.hint, /^Give the report\.json/);
    const missing = await drillError(["replay", join(dir, "nope.json")]);
    assert.equal(missing.message, `Cannot read report "${join(dir, "nope.json")}": no such file`);
    const bad = join(dir, "bad.json");
    await Deno.writeTextFile(bad, '{"seed": 1,\n  "document": }\n');
    const syntax = await drillError(["replay", bad]);
    assert.equal(
      syntax.message,
      `${bad}:2:15: The report is not JSON: Unexpected "}"`,
    );
    for (const e of [blocked, missing, syntax]) {
      assert.equal(e.code, "drill-invalid");
      assert.doesNotMatch(e.message, /\n|os error|readfile/);
    }
  });
});

Deno.test("drill run of a missing drill file or a folder fails in one line with its hint", async () => {
  // It printed the problem, then 'Cannot run drill "…": 1 problem (above)' and 'Fix it; …'.
  await inTempDir(async (dir) => {
    const missing = join(dir, "nothing-like-it.yaml");
    const gone = await drillError(["run", missing]);
    assert.equal(gone.message, `Cannot read drill file "${missing}": no such file`);
    assert.match(gone.hint, /^Shipped drills are in drills\//);
    const folder = await drillError(["run", dir]);
    assert.equal(folder.message, `Cannot read drill file "${dir}": it is a folder`);
    assert.match(folder.hint, /^Give a drill file/);
    for (const e of [gone, folder]) assert.equal(e.code, "drill-invalid");
  });
});

Deno.test("drill replay --seed says that a replay uses the recorded seed, and how to run another", async () => {
  await inTempDir(async (dir) => {
    const report = join(dir, "report.json");
    await Deno.writeTextFile(
      report,
      JSON.stringify({ version: 1, seed: 5, source: "drills/flap.yaml", steps: [], document: {} }),
    );
    const e = await drillError(["replay", report, "--seed", "9"]);
    assert.equal(e.code, "bad-option");
    assert.equal(e.exitCode, EXIT_CODES.usage);
    assert.equal(
      e.message,
      `Cannot replay with --seed "9": a replay uses the seed its report recorded (5 in "${report}")`,
    );
    assert.equal(
      e.hint,
      "Leave --seed out to replay; to run the drill with another seed: vlab drill run drills/flap.yaml --seed 9",
    );
    // A report that does not read still gets the reason, not commander's "unknown option".
    const missing = await drillError(["replay", join(dir, "nope.json"), "--seed", "1"]);
    assert.match(missing.message, /^Cannot replay with --seed "1": a replay uses the seed/);
    assert.match(missing.hint, /vlab drill run DRILL\.yaml --seed 1$/);
    // A seed `drill run` would refuse is not suggested to it.
    const big = await drillError(["replay", report, "--seed", "4294967296"]);
    assert.match(big.hint, /vlab drill run drills\/flap\.yaml --seed N$/);
  });
});

Deno.test("report paths that cannot work are refused before the drill runs, saying what is wrong", async () => {
  await inTempDir(async (dir) => {
    // An invalid drill: before the fix, its problems came first and the paths were never checked
    // (they were found only once a drill had run).
    const drill = join(dir, "d.yaml");
    await Deno.writeTextFile(drill, "topology: pair\ntimeline: [{ wiat: 1s }]\n");
    const file = join(dir, "a-file");
    await Deno.writeTextFile(file, "x");
    const cases: [string[], RegExp, RegExp][] = [
      [
        ["--junit", join(file, "j.xml")],
        /--junit ".*j\.xml" cannot be made: ".*a-file" is a file, not a folder$/,
        /^Give --junit a path whose folders are folders/,
      ],
      [["--junit", dir], /--junit ".*" is a folder$/, /file path/],
      [
        ["--report", file],
        /--report ".*a-file" is a file, not a folder$/,
        /Give --report a folder/,
      ],
      [
        ["--report", join(file, "out")],
        /--report ".*out" cannot be made: ".*a-file" is a file, not a folder$/,
        /folder/,
      ],
    ];
    // Before, `--report ""` wrote into the current folder and `--junit ""` failed after the run.
    cases.push(
      [["--report", ""], /--report "" is empty$/, /^Give --report a folder/],
      [["--junit", ""], /--junit "" is empty$/, /^Give --junit a file path/],
      // Before, `--junit -` wrote a file named "-" in the current folder, not stdout.
      [
        ["--junit", "-"],
        /--junit "-" is not stdout: the drill's progress and verdict lines go there$/,
        /^Give --junit a file path/,
      ],
      [
        ["--report", "-"],
        /--report "-" is not stdout: --report writes three files into a folder$/,
        /^Give --report a folder/,
      ],
    );
    for (const [opts, message, hint] of cases) {
      const e = await drillError(["run", drill, ...opts]);
      assert.equal(e.code, "bad-option", e.message);
      assert.match(e.message, /^Cannot run the drill: /);
      assert.match(e.message, message);
      assert.match(e.hint, hint);
      const r = await drillError(["replay", join(dir, "nope.json"), ...opts]);
      assert.match(r.message, /^Cannot replay the drill: /);
    }
    // Paths that work pass, and nothing is made or changed by the check.
    await checkReportPaths({ report: join(dir, "new", "deeper"), junit: file }, "run the drill");
    await checkReportPaths({ report: dir, junit: join(dir, "j.xml") }, "run the drill");
    // The README's `--report out/ --junit out/drill.xml` on a fresh clone: --junit's folder is
    // made as --report's is (it was refused: "a folder that does not exist").
    await checkReportPaths(
      { report: join(dir, "out"), junit: join(dir, "out", "drill.xml") },
      "run the drill",
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["a-file", "d.yaml"]);
    assert.equal(await Deno.readTextFile(file), "x");
  });
});

function passedResult(): DrillResult {
  return {
    name: "flap",
    source: "d.yaml",
    seed: 7,
    startedAt: "2026-01-01T00:00:00.000Z",
    durationMs: 10,
    steps: [],
    workloads: {},
    recovery: [],
    links: [],
    events: [],
    assertions: [{ text: "1 == 1", verdict: "pass", measured: [], line: 3, column: 5 }],
    passed: true,
    document: { topology: "pair", timeline: [] },
  };
}

Deno.test("the verdict is printed before the reports are written, so a write failure hides no PASS", async () => {
  await inTempDir(async (dir) => {
    let printed = "";
    const print = (text: string) => void (printed += text);
    // A file where its folder should be: the folder cannot be made.
    await Deno.writeTextFile(join(dir, "blocker"), "");
    const junit = join(dir, "blocker", "j.xml");
    await assert.rejects(
      concludeDrill(passedResult(), { lines: ["a line"], reports: { junit }, ok: true, print }),
      (e: unknown) => e instanceof VlabError && e.code === "write-failed",
    );
    assert.equal(printed, "PASS: drill flap, 1/1 assertions hold, seed 7\na line\n");
    // Written: the verdict, then where each report went.
    printed = "";
    const out = join(dir, "out");
    await concludeDrill(passedResult(), {
      lines: [],
      reports: { report: out, junit: join(dir, "j.xml") },
      ok: true,
      print,
    });
    assert.equal(
      printed,
      "PASS: drill flap, 1/1 assertions hold, seed 7\n" +
        `report: ${join(out, "report.md")} (replay: vlab drill replay ${
          join(out, "report.json")
        })\n` +
        `junit: ${join(dir, "j.xml")}\n`,
    );
  });
});

Deno.test("a failed drill's verdict line says why after a colon (the error may hold parentheses)", async () => {
  let printed = "";
  const why = 'Cannot inject backend-crash: VM "a" is restarting; hint: Wait until it runs again ' +
    "(see `vlab status`)";
  const failed: DrillResult = { ...passedResult(), passed: false, error: why };
  await assert.rejects(
    concludeDrill(failed, { lines: [], reports: {}, ok: false, print: (t) => void (printed += t) }),
    (e: unknown) => e instanceof CliExit && e.exitCode === 1,
  );
  assert.equal(printed, `FAIL: drill flap, 1/1 assertions hold, seed 7: ${why}\n`);
});

Deno.test("a replay says 'same decisions' only with the count of the notes that follow it", () => {
  assert.deepEqual(replayLines("r.json", [], []), ["same decisions as r.json"]);
  // A path is printed as every other user-supplied text is: never an escape character raw.
  assert.deepEqual(replayLines("/tmp/\x1b[2J/r.json", [], []), [
    "same decisions as '/tmp/\\x1b[2J/r.json'",
  ]);
  const note = "link a-b: recorded lost 190, now lost 192; not compared: an impair step changed it";
  // Before, a bare "same decisions" came first, as if the noted counts had been compared too.
  assert.deepEqual(replayLines("r.json", [], [note, "verdict: recorded FAIL, now PASS"]), [
    "same decisions as r.json, apart from the 2 notes below",
    `note: ${note}`,
    "note: verdict: recorded FAIL, now PASS",
  ]);
  assert.deepEqual(
    replayLines("r.json", [{ subject: "link a-b", recorded: "lost 1", replayed: "lost 2" }], [
      note,
    ]),
    ["1 decision differs from r.json:", "  link a-b: recorded lost 1, now lost 2", `note: ${note}`],
  );
});

Deno.test("--junit on a file --report writes, or a folder where a report goes, is refused before the run", async () => {
  await inTempDir(async (dir) => {
    const out = join(dir, "out");
    for (const name of ["report.json", "report.md", "chart.svg"]) {
      // Before, the XML silently replaced report.json, and the replay was lost.
      await assert.rejects(
        checkReportPaths({ report: out, junit: join(out, ".", name) }, "run the drill"),
        (e: unknown) =>
          e instanceof VlabError && e.code === "bad-option" &&
          e.message ===
            `Cannot run the drill: --junit "${
              join(out, ".", name)
            }" is where --report writes ${name}` &&
          e.hint === `Give --junit another file, such as ${join(out, "drill.xml")}`,
      );
    }
    // Before, found after the run: that report and every one written after it were lost.
    await Deno.mkdir(join(out, "report.md"), { recursive: true });
    await assert.rejects(
      checkReportPaths({ report: out }, "run the drill"),
      (e: unknown) =>
        e instanceof VlabError && e.code === "bad-option" &&
        e.message ===
          `Cannot run the drill: --report "${out}" cannot take report.md: "${
            join(out, "report.md")
          }" is a folder`,
    );
    await Deno.remove(join(out, "report.md"));
    await checkReportPaths({ report: out, junit: join(out, "drill.xml") }, "run the drill");
  });
});

Deno.test("a report that cannot be written costs no other: report.json and the JUnit XML are written", async () => {
  await inTempDir(async (dir) => {
    let printed = "";
    const out = join(dir, "out");
    // A folder where report.md goes, made after the paths were checked.
    await Deno.mkdir(join(out, "report.md"), { recursive: true });
    const junit = join(dir, "j.xml");
    await assert.rejects(
      concludeDrill(passedResult(), {
        lines: [],
        reports: { report: out, junit },
        ok: true,
        print: (t) => void (printed += t),
      }),
      (e: unknown) =>
        e instanceof VlabError && e.code === "write-failed" &&
        e.message.startsWith(`Cannot write "${join(out, "report.md")}"`),
    );
    assert.equal(JSON.parse(await Deno.readTextFile(join(out, "report.json"))).seed, 7);
    assert.match(await Deno.readTextFile(join(out, "chart.svg")), /^<svg/);
    assert.match(await Deno.readTextFile(junit), /<testsuite name="flap"/);
    assert.equal(
      printed,
      "PASS: drill flap, 1/1 assertions hold, seed 7\n" +
        `report: ${join(out, "report.json")} (replay: vlab drill replay ${
          join(out, "report.json")
        })\n` +
        `junit: ${junit}\n`,
    );
  });
});

Deno.test("a replayed report whose drill does not validate says so in a sentence", async () => {
  await inTempDir(async (dir) => {
    const report = join(dir, "report.json");
    const r = { ...passedResult(), version: 1, document: { timeline: [] } };
    await Deno.writeTextFile(report, JSON.stringify(r));
    const e = await drillError(["replay", report]);
    assert.equal(e.code, "drill-invalid");
    // Before: 'Cannot run drill of "…/report.json": 1 problem (above)'.
    assert.equal(e.message, `Cannot run the drill recorded in "${report}": 1 problem (above)`);
  });
});

Deno.test("drill run's help lists every exit code it can end with, 130 included", () => {
  const run = drillCommand().commands.find((c) => c.name() === "run")!;
  // Before, it stopped at "3 not run": Ctrl-C's 130 was missing.
  assert.match(run.description(), /0 pass, 1 fail, 2 invalid, 3 not run, 130 interrupted\)$/);
});

Deno.test("a report written over the file the command reads is refused before anything runs", async () => {
  await inTempDir(async (dir) => {
    const drill = join(dir, "d.yaml");
    await Deno.writeTextFile(drill, "topology: pair\ntimeline: []\n");
    // Before, `vlab drill run d.yaml --junit d.yaml` replaced the drill with its XML.
    const own = await drillError(["run", drill, "--junit", drill]);
    assert.equal(own.code, "bad-option");
    assert.equal(
      own.message,
      `Cannot run the drill: --junit "${drill}" is the drill file this command reads: the XML would replace it`,
    );
    assert.equal(own.hint, "Give --junit another file: the drill file would be lost");
    // The same file by another name (a symbolic link) too.
    await Deno.symlink(drill, join(dir, "link.yaml"));
    const linked = await drillError(["run", join(dir, "link.yaml"), "--junit", drill]);
    assert.match(linked.message, /is the drill file this command reads/);
    // A replay's reports on the report it replays replaced the recorded run.
    const out = join(dir, "out");
    await Deno.mkdir(out);
    await Deno.writeTextFile(join(out, "report.json"), "{}");
    const folder = await drillError(["replay", join(out, "report.json"), "--report", out]);
    assert.equal(
      folder.message,
      `Cannot replay the drill: --report "${out}" holds the recorded report this command reads (report.json): this run's report.json would replace it`,
    );
    const xml = await drillError([
      "replay",
      join(out, "report.json"),
      "--junit",
      join(out, "report.json"),
    ]);
    assert.match(
      xml.message,
      /is the recorded report this command reads: the XML would replace it$/,
    );
    assert.equal(await Deno.readTextFile(drill), "topology: pair\ntimeline: []\n");
    assert.equal(await Deno.readTextFile(join(out, "report.json")), "{}");
  });
});

Deno.test("a report written over the drill's topology file is refused before the lab starts", async () => {
  await inTempDir(async (dir) => {
    const topology = "name: drills8-t\nvms:\n  a: { nics: { eth0: { ip: 10.0.0.1/24 } } }\n";
    await Deno.writeTextFile(join(dir, "t.yaml"), topology);
    const drill = join(dir, "d.yaml");
    await Deno.writeTextFile(drill, "topology: ./t.yaml\ntimeline: []\n");
    // Before, the lab ran and the XML then replaced t.yaml.
    const xml = await drillError(["run", drill, "--junit", join(dir, "t.yaml")]);
    assert.equal(xml.code, "bad-option");
    assert.equal(
      xml.message,
      `Cannot run the drill: --junit "${
        join(dir, "t.yaml")
      }" is the drill's topology file this command reads: the XML would replace it`,
    );
    assert.equal(xml.hint, "Give --junit another file: the drill's topology file would be lost");
    // A --report folder whose report.md is the topology (a link to it) too.
    const out = join(dir, "out");
    await Deno.mkdir(out);
    await Deno.symlink(join(dir, "t.yaml"), join(out, "report.md"));
    const folder = await drillError(["run", drill, "--report", out]);
    assert.match(
      folder.message,
      /holds the drill's topology file this command reads \(report\.md\): this run's report\.md would replace it$/,
    );
    assert.equal(await Deno.readTextFile(join(dir, "t.yaml")), topology);
  });
});

Deno.test("drill run's help counts the JUnit timeline testcase beside the assertions'", () => {
  const run = drillCommand().commands.find((c) => c.name() === "run")!;
  const junit = run.options.find((o) => o.long === "--junit")!;
  // Before: "one testcase per assertion", and the XML held one more (the timeline).
  assert.match(junit.description, /one testcase per assertion, and one for the timeline\)$/);
});

Deno.test("a replay of a report read from stdin says so in words, not as a quoted path '-'", () => {
  assert.deepEqual(replayLines("-", [], []), ["same decisions as the report from stdin"]);
});

Deno.test({
  name: "--report or --junit under /dev, /proc or /sys names the option and a path elsewhere, " +
    "not the permissions",
  ignore: (() => {
    // Deno refuses these paths without --allow-all, as the vlab task does.
    try {
      Deno.statSync("/proc/self/status");
      return true;
    } catch (e) {
      return !(e instanceof Deno.errors.NotCapable);
    }
  })(),
}, async () => {
  const cases: [{ report?: string; junit?: string }, string, string][] = [
    [{ report: "/dev/shm/vlab-r" }, '--report "/dev/shm/vlab-r"', "a folder", "out/"],
    [{ report: "/proc/r" }, '--report "/proc/r"', "a folder", "out/"],
    [{ junit: "/sys/d.xml" }, '--junit "/sys/d.xml"', "a file", "out/drill.xml"],
    [{ report: "out", junit: "/dev/d.xml" }, '--junit "/dev/d.xml"', "a file", "out/drill.xml"],
  ].map(([opts, named, what, example]) => [
    opts as { report?: string; junit?: string },
    named as string,
    `Give ${
      (named as string).split(" ")[0]
    } ${what} outside /dev, /proc and /sys, such as ${example}`,
  ]);
  for (const [opts, named, hint] of cases) {
    await assert.rejects(() => checkReportPaths(opts, "run the drill"), (e: unknown) => {
      assert.ok(e instanceof VlabError);
      assert.equal(e.code, "bad-option");
      assert.equal(
        e.message,
        `Cannot run the drill: cannot check ${named}: ` +
          "vlab may not open files under /dev, /proc or /sys (Deno asks for --allow-all)",
      );
      // It said "Check the paths given to --report and --junit and their permissions".
      assert.equal(e.hint, hint);
      return true;
    });
  }
});
