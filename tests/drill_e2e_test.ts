/**
 * Drills from the command line, the way a user runs them: `vlab drill run` on a shipped drill
 * (exit 0, reports, JUnit XML checked with xmllint), `vlab drill replay` of its report, a failing
 * assertion (exit 1, the measured value in the report), and an invalid drill (exit 2, every
 * problem as file:line:col). Every test uses its own state folder (VLAB_STATE_DIR).
 *
 * Needs `xmllint` (Debian package libxml2-utils); the test fails with a message if it is missing.
 */

import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { onPath, type Run, runProgram, runVlab, spawnVlab, vlabIn } from "./run.ts";
import { vlabChildEnv, vlabRunArgs } from "../cli/deno_run.ts";
import { twoAtOnce } from "./two_at_once.ts";

/** A fresh state folder and work folder; `vlab` runs with the state folder. */
async function withDirs(
  body: (vlab: (...args: string[]) => Promise<Run>, work: string) => Promise<void>,
): Promise<void> {
  const state = await Deno.makeTempDir({ prefix: "vlab-drill-e2e-" });
  const work = await Deno.makeTempDir({ prefix: "vlab-drill-work-" });
  try {
    await body(vlabIn(state), work);
    // The lab is gone once the drill is over.
    const left = [...Deno.readDirSync(state)].map((e) => e.name).filter((n) => n !== "logs");
    assert.deepEqual(left, [], `left in the state folder: ${left.join(", ")}`);
  } finally {
    await Deno.remove(state, { recursive: true }).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

async function xmllint(file: string): Promise<Run> {
  assert.ok(
    await onPath("xmllint"),
    "xmllint is missing: install the Debian package libxml2-utils",
  );
  return await runProgram("xmllint", ["--noout", file]);
}

const DRILL = fileURLToPath(new URL("../drills/link-flap.yaml", import.meta.url));

Deno.test({
  name: "a link flap under ping passes from the CLI with reports, JUnit XML and a replay",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDirs(async (vlab, work) => {
      const r = await vlab(
        "drill",
        "run",
        DRILL,
        "--report",
        `${work}/out`,
        "--junit",
        `${work}/j.xml`,
      );
      assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      // Progress: one line per step run, stamped relative to the start; a step run late says
      // so at the end of its line (a loaded machine ran #1.0 114 ms late).
      const late = String.raw`( \(\d+(\.\d)? ms late: [^)\n]*\))?\n`;
      assert.match(
        r.stdout,
        new RegExp(String.raw`\[\s+\d+\.\d{3} s\] #1\.0 link a-b down for 200 ms` + late),
      );
      assert.match(
        r.stdout,
        new RegExp(String.raw`\[\s+\d+\.\d{3} s\] #1\.1 link a-b down for 200 ms` + late),
      );
      assert.match(r.stdout, /PASS {2}ping\.loss_pct < 50 \(ping\.loss_pct = [\d.]+\)/);
      assert.match(r.stdout, /PASS: drill link-flap, 9\/9 assertions hold, seed 1/);
      const md = await Deno.readTextFile(`${work}/out/report.md`);
      assert.match(md, /^# Drill link-flap: PASS/);
      assert.match(md, /\| PASS \| `ping.received >= 15` \| ping.received = \d+ \|/);
      assert.match(md, /!\[link-flap\]\(chart.svg\)/);
      assert.match(await Deno.readTextFile(`${work}/out/chart.svg`), /recovery time per fault/);
      const lint = await xmllint(`${work}/j.xml`);
      assert.equal(lint.code, 0, lint.stderr);
      const xml = await Deno.readTextFile(`${work}/j.xml`);
      assert.equal(xml.match(/<testcase /g)?.length, 10);
      assert.doesNotMatch(xml, /<failure|<error/);
      const json = JSON.parse(await Deno.readTextFile(`${work}/out/report.json`));
      assert.equal(json.seed, 1);
      assert.equal(json.document.topology.name, "pair");
      assert.deepEqual(
        json.steps.map((s: { step: number; plannedMs: number }) => [s.step, s.plannedMs]),
        [[0, 0], [1, 300], [1, 900], [2, 0]],
      );
      const again = await vlab("drill", "replay", `${work}/out/report.json`);
      assert.equal(again.code, 0, `exit ${again.code}\n${again.stdout}\n${again.stderr}`);
      assert.match(again.stdout, /same decisions as .*report\.json/);
      assert.match(again.stdout, /PASS: drill link-flap, 9\/9 assertions hold, seed 1/);
      // A record whose decisions differ from what the seed gives: the replay says which.
      json.steps[1].plannedMs = 301;
      // … and whose verdict differs from the replay's: said as a note.
      json.passed = false;
      json.assertions[0].verdict = "fail";
      await Deno.writeTextFile(`${work}/tampered.json`, JSON.stringify(json));
      const differ = await vlab("drill", "replay", `${work}/tampered.json`);
      assert.equal(differ.code, 1, `exit ${differ.code}\n${differ.stdout}\n${differ.stderr}`);
      assert.match(
        differ.stdout,
        /1 decision differs from .*tampered\.json:\n {2}step #1\.0: recorded "link a-b down for 200 ms" planned at 301 ms \(jitter 0 ms\), now "link a-b down for 200 ms" planned at 300 ms \(jitter 0 ms\)\n/,
      );
      assert.match(differ.stdout, /^note: verdict: recorded FAIL, now PASS$/m);
      assert.match(
        differ.stdout,
        /^note: assertion count\(events, kind = "link-down", subject = "a-b"\) == 2: recorded FAIL, now PASS$/m,
      );
    }),
});

Deno.test({
  name: "a failing assertion exits 1 and the report shows the measured value",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDirs(async (vlab, work) => {
      await Deno.writeTextFile(
        `${work}/fail.yaml`,
        // A connect to the host's CID, where nothing listens: a failure only the run can tell (a
        // ping outside the VM's subnets is refused before the lab starts).
        `topology: vsock-pair
timeline:
  - exec: { vm: a, argv: [ping, 10.0.0.2, -c, "3", -i, "0.01"], as: ping }
  - exec: { vm: b, argv: [vsock-send, 2, 6000], as: nowhere }
assert:
  - ping.received == 3
  - ping.received > 100
`,
      );
      const r = await vlab(
        "drill",
        "run",
        `${work}/fail.yaml`,
        "--report",
        `${work}/out`,
        "--junit",
        `${work}/j.xml`,
      );
      assert.equal(r.code, 1, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /FAIL {2}ping\.received > 100 \(ping\.received = 3\)/);
      assert.match(r.stdout, /FAIL: drill fail, 1\/2 assertions hold, seed 1/);
      // A workload that could not run says so as the drill goes.
      assert.match(r.stdout, /\] workload nowhere failed: .*vsock 2:6000/);
      const md = await Deno.readTextFile(`${work}/out/report.md`);
      assert.match(md, /^# Drill fail: FAIL/);
      assert.match(md, /\| FAIL \| `ping.received > 100` \| ping.received = 3 \|/);
      assert.match(await Deno.readTextFile(`${work}/out/chart.svg`), /timeline/);
      const lint = await xmllint(`${work}/j.xml`);
      assert.equal(lint.code, 0, lint.stderr);
      assert.match(
        await Deno.readTextFile(`${work}/j.xml`),
        /name="ping.received &gt; 100"><failure message="assertion does not hold: ping.received = 3">/,
      );
    }),
});

Deno.test({
  name: "an invalid drill exits 2 with every problem as file:line:col and a hint",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDirs(async (vlab, work) => {
      const file = `${work}/bad.yaml`;
      await Deno.writeTextFile(
        file,
        `topology: pair
timeline:
  - link: { name: a-c, state: down }
  - wiat: 1s
assert:
  - count(events, kind = "link-down") = 1
`,
      );
      const notReport = `${work}/not-a-report.json`;
      await Deno.writeTextFile(notReport, "{}");
      // The replay and the run are independent: two at once.
      const [replay, r] = await twoAtOnce(
        [["replay", notReport], ["run", file]],
        (args) => vlab("drill", ...args),
      );
      assert.equal(replay.code, 2);
      assert.equal(
        replay.stderr,
        "vlab: Cannot replay: this is not a drill report (no seed, document, steps or links)\n" +
          "hint: Give the report.json written by `vlab drill run --report DIR`\n",
      );
      assert.equal(r.code, 2, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout, "");
      assert.equal(
        r.stderr,
        `${file}:3:19: Unknown link "a-c"
  hint: did you mean \`a-b\`?
${file}:4:5: Unknown step kind "wiat" in timeline[1]
  hint: did you mean \`wait\`?
${file}:6:39: Unexpected "=" after a complete expression (assert[0], column 35 of the assertion)
  hint: compare with ==
vlab: Cannot run drill "${file}": 3 problems (above)
hint: Fix them; docs/drills.md describes the format
`,
      );
    }),
});

Deno.test({
  name: "a drill on an unknown topology says so and every step problem it can judge, in one run",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDirs(async (vlab, work) => {
      const file = `${work}/bad-topology.yaml`;
      await Deno.writeTextFile(
        file,
        `topology: pari
timeline:
  - exec: { vm: c, argv: [ping, 10.0.0.2], background: true, as: ping }
  - wait_for: { workload: pnig }
assert:
  - ping.received > 0
`,
      );
      const r = await vlab("drill", "run", file);
      assert.equal(r.code, 2, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.equal(r.stdout, "");
      // VM "c" is not judged: only the topology could say whether it exists.
      assert.equal(
        r.stderr,
        `${file}:1:11: Unknown shipped topology "pari"
  hint: did you mean \`pair\`?
${file}:4:27: No earlier step starts a workload named "pnig"
  hint: did you mean \`ping\`?
vlab: Cannot run drill "${file}": 2 problems (above)
hint: Fix them; docs/drills.md describes the format
`,
      );
    }),
});

/** What a test of a running `vlab drill run` child gets from {@linkcode withDrillChild}. */
interface DrillChild {
  child: Deno.ChildProcess;
  /** Its state folder and the folder the drill file is in. */
  state: string;
  work: string;
  /** What its stdout said so far (read by `readUntil` and `readToEnd`). */
  stdout: () => string;
  /** Read stdout until `pattern` matches (30 s at most). */
  readUntil: (pattern: RegExp) => Promise<void>;
  /** Read stdout to its end. */
  readToEnd: () => Promise<void>;
  /** The lab folders left in the state folder (its logs aside). */
  left: () => string[];
}

/**
 * Run `vlab drill run <work>/drill.yaml ...args` on `yaml` in fresh folders, hand it to `body`,
 * and kill it and remove both folders afterwards, whatever `body` did. `body` that reads stdout
 * itself gets it untouched: the readers here start at the first call.
 */
async function withDrillChild(
  yaml: string,
  args: (work: string) => string[],
  body: (d: DrillChild) => Promise<void>,
): Promise<void> {
  const state = await Deno.makeTempDir({ prefix: "vlab-drill-e2e-" });
  const work = await Deno.makeTempDir({ prefix: "vlab-drill-work-" });
  const file = `${work}/drill.yaml`;
  Deno.writeTextFileSync(file, yaml);
  const child = spawnVlab(["drill", "run", file, ...args(work)], { stateDir: state });
  let stdout = "";
  let reader: ReadableStreamDefaultReader<string> | undefined;
  const read = () => reader ??= child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await body({
      child,
      state,
      work,
      stdout: () => stdout,
      readUntil: async (pattern) => {
        const deadline = performance.now() + 30_000;
        while (!pattern.test(stdout)) {
          assert.ok(performance.now() < deadline, `no ${pattern} in:\n${stdout}`);
          const { value, done } = await read().read();
          if (done) break;
          stdout += value;
        }
      },
      readToEnd: async () => {
        for (let r = await read().read(); !r.done; r = await read().read()) stdout += r.value;
      },
      left: () => [...Deno.readDirSync(state)].map((e) => e.name).filter((n) => n !== "logs"),
    });
  } finally {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    await child.status;
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(state, { recursive: true }).catch(() => {});
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/** A drill that runs until it is interrupted. */
const LONG_DRILL = "name: long\ntopology: pair\ntimeline:\n  - wait: 60s\n";

Deno.test({
  name: "Ctrl-C during vlab drill run stops the lab, prints the verdict and exits 130",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDrillChild(LONG_DRILL, () => [], async (d) => {
      // The wait step has started: the lab is up and the drill is running.
      await d.readUntil(/#0 wait/);
      d.child.kill("SIGINT");
      await d.readToEnd();
      const out = await d.child.status;
      assert.equal(out.code, 130, d.stdout());
      assert.match(d.stdout(), /The drill was interrupted/);
      // The verdict's own line says why it failed: every assertion (none) holds.
      assert.match(
        d.stdout(),
        /^FAIL: drill long, 0\/0 assertions hold, seed 1: The drill was interrupted$/m,
      );
      assert.deepEqual(d.left(), [], `left in the state folder: ${d.left().join(", ")}`);
    }),
});

Deno.test({
  name:
    "a second Ctrl-C while the reports are written does not cut them off: written, then exit 130",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDrillChild(LONG_DRILL, (work) => {
      // A report of an earlier run in the folder: before the fix it was left there, as if current.
      Deno.mkdirSync(`${work}/out`);
      Deno.writeTextFileSync(`${work}/out/report.json`, "{}\n");
      return ["--report", `${work}/out`];
    }, async (d) => {
      await d.readUntil(/#0 wait/);
      d.child.kill("SIGINT");
      // The verdict is printed before the reports are written (the chart alone takes a while):
      // the second Ctrl-C lands while they are.
      await d.readUntil(/^FAIL: drill long/m);
      d.child.kill("SIGINT");
      await d.readToEnd();
      const out = await d.child.status;
      assert.equal(out.code, 130, d.stdout());
      assert.equal(out.signal, null, "the process was killed by the second Ctrl-C");
      assert.match(d.stdout(), /^report: .*report\.md/m);
      const report = JSON.parse(Deno.readTextFileSync(`${d.work}/out/report.json`));
      assert.equal(report.error, "The drill was interrupted");
      assert.match(Deno.readTextFileSync(`${d.work}/out/report.md`), /^# Drill long: FAIL/);
      assert.deepEqual(d.left(), [], `left in the state folder: ${d.left().join(", ")}`);
    }),
});

Deno.test({
  name:
    "a drill whose stdout reader goes away (| head -1) still runs, writes its reports and exits with its verdict",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDrillChild(
      "topology: pair\ntimeline:\n  - wait: 300ms\n  - wait: 10ms\nassert:\n  - 1 == 2\n",
      (work) => ["--report", `${work}/out`],
      async (d) => {
        // What `| head -1` does: read the first line, then close the pipe.
        const reader = d.child.stdout.getReader();
        await reader.read();
        await reader.cancel();
        const status = await d.child.status;
        // Before: exit 0 with no report, the drill stopped at its second line.
        assert.equal(status.code, 1, "the failed assertion's verdict");
        const report = JSON.parse(Deno.readTextFileSync(`${d.work}/out/report.json`));
        assert.equal(report.steps.length, 2);
        assert.equal(report.passed, false);
        assert.deepEqual(d.left(), [], `left in the state folder: ${d.left().join(", ")}`);
      },
    ),
});

/** `vlab args` started in `cwd`, as a user's shell in that folder would start it. */
async function vlabInFolder(state: string, cwd: string, ...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: vlabRunArgs(args),
    cwd,
    env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: state }, cwd),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
    bytes: out.stdout,
  };
}

Deno.test({
  name: "the replay and run-again commands a drill gives hold from any folder",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDirs(async (vlab, work) => {
      // The drill run from its own folder, with relative paths, as a user types them.
      await Deno.writeTextFile(`${work}/quick.yaml`, "topology: pair\ntimeline:\n  - wait: 1ms\n");
      const state = await Deno.makeTempDir({ prefix: "vlab-drill-e2e-" });
      try {
        const r = await vlabInFolder(state, work, "drill", "run", "quick.yaml", "--report", "out");
        assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        // Before: `(replay: out/report.json)`, and report.md's `vlab drill replay report.json`.
        assert.match(
          r.stdout,
          new RegExp(
            `^report: out/report\\.md \\(replay: vlab drill replay ${work}/out/report\\.json\\)$`,
            "m",
          ),
        );
        const md = await Deno.readTextFile(`${work}/out/report.md`);
        assert.match(md, new RegExp(`^- source: \`${work}/quick\\.yaml\`$`, "m"));
        assert.ok(
          md.includes(
            `(replay: \`vlab drill replay ${work}/out/report.json\`; run again: \`vlab drill run ${work}/quick.yaml --seed 1\`)`,
          ),
          md,
        );
        // From another folder, the hint of a refused --seed still names the drill where it is.
        // Before: `vlab drill run quick.yaml --seed 5`, a file that is not there.
        const refused = await vlab("drill", "replay", `${work}/out/report.json`, "--seed", "5");
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(
          refused.stderr,
          new RegExp(
            `to run the drill with another seed: vlab drill run ${work}/quick\\.yaml --seed 5$`,
            "m",
          ),
        );
      } finally {
        await Deno.remove(state, { recursive: true }).catch(() => {});
      }
    }),
});

Deno.test({
  name: "vlab drill run - reads the drill from stdin, and vlab drill replay - its report",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withDirs(async (_vlab, work) => {
      const state = await Deno.makeTempDir({ prefix: "vlab-drill-e2e-" });
      const vlab = (stdin: string, ...args: string[]) => runVlab(args, { stateDir: state, stdin });
      try {
        const drill =
          "name: piped\ntopology: pair\ntimeline:\n  - wait: 1ms\nassert:\n  - 1 == 1\n";
        // On a terminal it is refused, not waited on (`script` gives it one).
        const line = [Deno.execPath(), ...vlabRunArgs(["drill", "run", "-"])]
          .map((w) => `'${w.replaceAll("'", `'\\''`)}'`).join(" ");
        const onTerminal = async (): Promise<Run> => {
          const out = await new Deno.Command("script", {
            args: ["-qec", line, "/dev/null"],
            stdin: "null",
            stdout: "piped",
            stderr: "piped",
            env: vlabChildEnv({ NO_COLOR: "1", VLAB_STATE_DIR: state }),
          }).output();
          const text = new TextDecoder().decode(out.stdout).replaceAll("\r", "");
          return { code: out.code, stdout: text, stderr: "", bytes: out.stdout };
        };
        // The drill runs its lab while the refusals below run one after the other beside it.
        const [[r], [bad, binary, tty]] = await twoAtOnce<() => Promise<Run[]>, Run[]>([
          // Before: 'Cannot read drill file "-": no such file'.
          async () => [await vlab(drill, "drill", "run", "-", "--report", `${work}/out`)],
          async () => [
            await vlab("topology: pair\ntimeline:\n  - wait: lots\n", "drill", "run", "-"),
            await vlab("\0\0", "drill", "run", "-"),
            await onTerminal(),
          ],
        ], (run) => run());
        assert.equal(r.code, 0, `exit ${r.code}\n${r.stdout}\n${r.stderr}`);
        assert.match(r.stdout, /^PASS: drill piped, 1\/1 assertions hold, seed 1$/m);
        // It has no file to run again: the report says to pipe it in again.
        const md = await Deno.readTextFile(`${work}/out/report.md`);
        assert.match(md, /^- source: `<stdin>`$/m);
        assert.match(md, /run again: pipe the drill into `vlab drill run - --seed 1`/);
        const report = await Deno.readTextFile(`${work}/out/report.json`);
        const again = await vlab(report, "drill", "replay", "-");
        assert.equal(again.code, 0, `exit ${again.code}\n${again.stdout}\n${again.stderr}`);
        assert.match(again.stdout, /^same decisions as the report from stdin$/m);
        // Its problems are placed at <stdin>:line:col, as a file's.
        assert.equal(bad.code, 2, bad.stderr);
        assert.match(bad.stderr, /^<stdin>:3:11: Cannot read "lots" as a duration$/m);
        assert.match(bad.stderr, /^vlab: Cannot run the drill from stdin: 1 problem \(above\)$/m);
        assert.equal(binary.code, 2, binary.stderr);
        assert.match(
          binary.stderr,
          /^vlab: Cannot read the drill from stdin: it is binary, not text$/m,
        );
        // What to pipe in, not "give a regular file".
        assert.match(binary.stderr, /^hint: Pipe in a drill file \(YAML text\), for example/m);
        // On a terminal it is refused, not waited on.
        assert.equal(tty.code, 2, tty.stdout);
        assert.match(
          tty.stdout,
          /^vlab: Cannot run the drill: "-" reads the drill from stdin, and stdin is a terminal$/m,
        );
      } finally {
        await Deno.remove(state, { recursive: true }).catch(() => {});
      }
    }),
});
