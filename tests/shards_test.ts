import assert from "node:assert/strict";
import {
  ALONE_MARK,
  dealShards,
  durationsFromJunit,
  findTestFiles,
  parseSummary,
  repoRoot,
  runsAlone,
  runShard,
  sumSummaries,
  type TestSummary,
} from "./shards.ts";

/** Write `files` (empty tests) under a new temporary folder; returns the folder. */
function treeOf(prefix: string, files: readonly string[]): string {
  const root = Deno.makeTempDirSync({ prefix });
  for (const f of files) {
    Deno.mkdirSync(`${root}/${f}`.replace(/\/[^/]*$/, ""), { recursive: true });
    Deno.writeTextFileSync(`${root}/${f}`, 'Deno.test("t", () => {});\n');
  }
  return root;
}

/**
 * Check that `findTestFiles` finds `expected` under `root` with `exclude`, and that `deno test`
 * itself, given the same `test.exclude`, runs exactly those files.
 */
async function assertAsDenoTest(root: string, exclude: string[], expected: string[]) {
  assert.deepEqual(findTestFiles(root, exclude), expected, exclude.join(" "));
  Deno.writeTextFileSync(`${root}/deno.json`, JSON.stringify({ test: { exclude } }));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--no-check", "--no-lock"],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (expected.length > 0) assert.ok(out.success, text + new TextDecoder().decode(out.stderr));
  const theirs = [...text.matchAll(/^running \d+ tests? from \.\/(.+)$/gm)].map((m) => m[1]);
  assert.deepEqual(theirs.sort(), expected, `deno test with ${exclude.join(" ")}`);
}

Deno.test("test files are found by deno test's pattern, outside excluded and module folders", () => {
  const root = Deno.makeTempDirSync({ prefix: "vlab-shards-" });
  try {
    for (
      const f of [
        "a_test.ts",
        "b/c_test.tsx",
        "b/d.test.ts",
        "b/test.ts",
        "b/helper.ts",
        "b/contest.ts",
        ".tools/x_test.ts",
        "node_modules/y_test.ts",
        "e/node_modules/z_test.ts",
      ]
    ) {
      Deno.mkdirSync(`${root}/${f}`.replace(/\/[^/]*$/, ""), { recursive: true });
      Deno.writeTextFileSync(`${root}/${f}`, "");
    }
    assert.deepEqual(findTestFiles(root, [".tools/"]), [
      "a_test.ts",
      "b/c_test.tsx",
      "b/d.test.ts",
      "b/test.ts",
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("test.exclude is read as deno test reads it: paths, globs, ! entries (checked against deno test)", async () => {
  // Entries were matched as exact paths only: `sub/*_test.ts` or `**/deep/` excluded nothing,
  // and the runner ran files that `deno test` itself leaves out.
  const root = treeOf("vlab-shards-glob-", [
    "a_test.ts",
    "sub/b_test.ts",
    "sub/deep/c_test.ts",
    "sub/deep/keep/k_test.ts",
    "gen/e_test.ts",
    "x/y_test.ts",
    "x/[y]_test.ts",
    ".hidden/d_test.ts",
    "docs/f.test.ts",
  ]);
  try {
    const exclude = [
      "gen", // a folder, without its slash
      "sub/*_test.ts", // `*` stops at a slash: sub/deep is not matched by it
      "**/deep/", // a folder anywhere, and all in it
      "!sub/deep/keep/", // taken back
      "x/[y]_test.ts", // brackets are plain characters: this one file
      "./docs/*.test.ts",
      "*/d_test.ts", // `*` does not match a leading dot
    ];
    await assertAsDenoTest(root, exclude, [
      ".hidden/d_test.ts",
      "a_test.ts",
      "sub/deep/keep/k_test.ts",
      "x/y_test.ts",
    ]);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a lone * excludes dot files too, and a folder's * or ** is all of it, as deno test reads them", async () => {
  // `*` was read as a glob, which leaves dot files and dot folders: `deno test` excludes them.
  const root = treeOf("vlab-shards-star-", [
    ".e_test.ts",
    ".hidden/d_test.ts",
    "a_test.ts",
    "sub/b_test.ts",
    "sub/.x_test.ts",
    "sub/.dd/y_test.ts",
    "sub/deep/c_test.ts",
    "keep/k_test.ts",
    "keep/.k_test.ts",
  ]);
  try {
    const cases: [string[], string[]][] = [
      [["*", "!keep/"], ["keep/.k_test.ts", "keep/k_test.ts"]],
      [["sub/**/*", ".hidden/*"], [".e_test.ts", "a_test.ts", "keep/.k_test.ts", "keep/k_test.ts"]],
      // Not a folder's all: globs, which pass over dot names.
      [["*/*"], [
        ".e_test.ts",
        ".hidden/d_test.ts",
        "a_test.ts",
        "keep/.k_test.ts",
        "sub/.dd/y_test.ts",
        "sub/.x_test.ts",
      ]],
    ];
    for (const [exclude, expected] of cases) await assertAsDenoTest(root, exclude, expected);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("a folder a path excludes is entered again only by a ! path, never by a ! glob, as deno test walks", async () => {
  // `["sub/", "!sub/*_test.ts"]` and `["*", "!*_test.ts"]` ran the files the ! glob names, where
  // deno test runs nothing there: it never walks into a folder the entries exclude, and starts a
  // walk of its own only at what a ! entry takes back.
  const root = treeOf("vlab-shards-reopen-", [
    "a_test.ts",
    "keep/k_test.ts",
    "sub/b_test.ts",
    "sub/deep/c_test.ts",
    "sub/deep/keep/k_test.ts",
  ]);
  try {
    const outside = ["a_test.ts", "keep/k_test.ts"];
    const cases: [string[], string[]][] = [
      [["sub/", "!sub/*_test.ts"], outside],
      [["*", "!*_test.ts"], []],
      [["sub/", "!sub/deep/*_test.ts"], outside],
      [["sub/", "!**/keep/"], outside], // the top keep/ only: sub/ is not walked
      // A ! path is walked from: what it holds comes back, the rest of sub/ stays out.
      [["sub/", "!sub/deep/keep/"], [...outside, "sub/deep/keep/k_test.ts"]],
      [["*", "!sub/deep/"], ["sub/deep/c_test.ts", "sub/deep/keep/k_test.ts"]],
      // A ! folder/* walks from the folder but takes back only what the glob matches: the
      // deeper file is left to the entries before it (a path: out; a lone *: its own, in).
      [["sub/", "!sub/deep/*"], [...outside, "sub/deep/c_test.ts"]],
      [["*", "!sub/deep/*"], ["sub/deep/c_test.ts", "sub/deep/keep/k_test.ts"]],
    ];
    for (const [exclude, expected] of cases) await assertAsDenoTest(root, exclude, expected);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("the repository's own walk finds this file and every shipped test folder", () => {
  const root = repoRoot(import.meta.url);
  const files = findTestFiles(root, [".tools/"]);
  assert.ok(files.includes("tests/shards_test.ts"));
  for (const dir of ["cli/", "devices/", "lab/", "tests/"]) {
    assert.ok(files.some((f) => f.startsWith(dir)), dir);
  }
  assert.ok(!files.some((f) => f.includes("node_modules/")));
});

Deno.test("a file runs alone only with the mark on a line of its own", () => {
  assert.equal(runsAlone(`/** x */\n${ALONE_MARK} (busy CPUs)\nimport "y";\n`), true);
  assert.equal(runsAlone(`${ALONE_MARK}\n`), true);
  assert.equal(runsAlone(`const s = "${ALONE_MARK}";\n`), false);
  assert.equal(runsAlone(`${ALONE_MARK}s\n`), false);
  assert.equal(runsAlone("import 'z';\n"), false);
});

Deno.test("shards are dealt longest first to the least loaded, unknown files at one second", () => {
  assert.deepEqual(dealShards(["a", "b", "c"], { a: 5, b: 3, c: 3 }, 2), [["a"], ["b", "c"]]);
  // 10 against 4+3+2+1 (unknown x at one second), then y to the first of the two at 10.
  assert.deepEqual(
    dealShards(["p", "q", "r", "s", "x", "y"], { p: 10, q: 4, r: 3, s: 2 }, 2),
    [["p", "y"], ["q", "r", "s", "x"]],
  );
  // More processes than files: no empty shard; one process: everything.
  assert.deepEqual(dealShards(["a"], {}, 3), [["a"]]);
  assert.deepEqual(dealShards(["b", "a"], {}, 1), [["a", "b"]]);
  // Every file once, whatever the weights.
  const files = Array.from({ length: 50 }, (_, i) => `f${i}`);
  const weights = Object.fromEntries(files.map((f, i) => [f, (i * 7) % 13]));
  const shards = dealShards(files, weights, 3);
  assert.deepEqual(shards.flat().sort(), [...files].sort());
  const loads = shards.map((s) => s.reduce((a, f) => a + weights[f], 0));
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 12, `balanced: ${loads}`);
});

Deno.test("deno test's summary lines are read, with steps, ignored tests and colour", () => {
  assert.deepEqual(parseSummary("ok | 12 passed (3 steps) | 0 failed (1s)"), {
    ok: true,
    passed: 12,
    passedSteps: 3,
    failed: 0,
    ignored: 0,
  });
  assert.deepEqual(
    parseSummary("\x1b[0m\x1b[31mFAILED\x1b[0m | 10 passed | 2 failed (1 step) | 4 ignored (3s)"),
    { ok: false, passed: 10, passedSteps: 0, failed: 2, ignored: 4 },
  );
  assert.equal(parseSummary("[1] ok | 1 passed | 0 failed (1s)"), null);
  assert.equal(parseSummary("running 1 test from ./a_test.ts"), null);
});

Deno.test("summaries add up in deno test's form; a process without one is a failure", () => {
  const ok = (passed: number, passedSteps = 0): TestSummary => ({
    ok: true,
    passed,
    passedSteps,
    failed: 0,
    ignored: 0,
  });
  assert.equal(
    sumSummaries([ok(5, 2), ok(7)], 61_400),
    "ok | 12 passed (2 steps) | 0 failed (1m1s)",
  );
  assert.equal(sumSummaries([ok(1, 1)], 2_000), "ok | 1 passed (1 step) | 0 failed (2s)");
  assert.equal(sumSummaries([ok(5), null], 500), "FAILED | 5 passed | 1 failed (1s)");
  assert.equal(
    sumSummaries([ok(3), { ok: false, passed: 2, passedSteps: 0, failed: 2, ignored: 1 }], 0),
    "FAILED | 5 passed | 2 failed | 1 ignored (0s)",
  );
  // A process that said FAILED with no failed test (an uncaught error) still fails the sum.
  assert.equal(
    sumSummaries([{ ok: false, passed: 3, passedSteps: 0, failed: 0, ignored: 0 }], 0),
    "FAILED | 3 passed | 1 failed (0s)",
  );
  // The sum reads back as the .ci/run summary it is.
  assert.deepEqual(parseSummary(sumSummaries([ok(4, 2), ok(6)], 0)), ok(10, 2));
});

Deno.test("a process's lines come behind its prefix, and its summary says how it ended", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-shards-run-" });
  try {
    Deno.writeTextFileSync(`${dir}/pass_test.ts`, 'Deno.test("passes", () => {});\n');
    Deno.writeTextFileSync(`${dir}/fail_test.ts`, 'Deno.test("fails", () => { throw 1; });\n');
    Deno.writeTextFileSync(`${dir}/broken_test.ts`, 'import "./missing.ts";\n');
    const lines: string[] = [];
    const sink = {
      writeSync: (p: Uint8Array) => (lines.push(new TextDecoder().decode(p)), p.length),
    };
    const run = (file: string) =>
      runShard([`${dir}/${file}`], ["--no-check", "--no-config"], "[7] ", {
        stdout: sink,
        stderr: sink,
      });
    assert.deepEqual(await run("pass_test.ts"), {
      ok: true,
      passed: 1,
      passedSteps: 0,
      failed: 0,
      ignored: 0,
    });
    assert.ok(lines.every((l) => l.startsWith("[7] ")), lines.join(""));
    // deno test colours its lines unless NO_COLOR is set.
    // deno-lint-ignore no-control-regex
    const plain = lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ""));
    assert.ok(plain.some((l) => l.startsWith("[7] passes ... ok")), lines.join(""));
    assert.deepEqual(await run("fail_test.ts"), {
      ok: false,
      passed: 0,
      passedSteps: 0,
      failed: 1,
      ignored: 0,
    });
    assert.equal(await run("broken_test.ts"), null);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a process's summary is deno test's own line, not one a test printed", async () => {
  // Every line of both streams was read, the last summary-like one kept: a process that died
  // before its own summary was counted with the line its test had printed (99 passed).
  const dir = Deno.makeTempDirSync({ prefix: "vlab-shards-summary-" });
  try {
    Deno.writeTextFileSync(
      `${dir}/dies_test.ts`,
      'Deno.test("passes", () => {});\n' +
        'Deno.test("dies", async () => {\n' +
        '  console.log("ok | 99 passed | 0 failed (1s)");\n' +
        '  console.error("ok | 98 passed | 0 failed (1s)");\n' +
        // Time for deno test to pass the lines on before the kill (a kill at once lost them now
        // and then on a loaded machine, and the test then checked nothing).
        "  await new Promise((r) => setTimeout(r, 300));\n" +
        '  Deno.kill(Deno.pid, "SIGKILL");\n' +
        "});\n",
    );
    Deno.writeTextFileSync(
      `${dir}/prints_test.ts`,
      'Deno.test("prints", () => { console.log("FAILED | 0 passed | 7 failed (1s)"); });\n',
    );
    const lines: string[] = [];
    const sink = {
      writeSync: (p: Uint8Array) => (lines.push(new TextDecoder().decode(p)), p.length),
    };
    const run = (file: string) =>
      runShard([`${dir}/${file}`], ["--no-check", "--no-config", "--allow-run"], "", {
        stdout: sink,
        stderr: sink,
      });
    assert.equal(await run("dies_test.ts"), null, lines.join(""));
    assert.ok(lines.some((l) => l.includes("ok | 99 passed")), "the test's line was shown");
    assert.deepEqual(await run("prints_test.ts"), {
      ok: true,
      passed: 1,
      passedSteps: 0,
      failed: 0,
      ignored: 0,
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("durations are read from JUnit reports: each file's tests, plus its load, in tenths", () => {
  const report = (suites: string) =>
    `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="deno test" time="9.000">\n${suites}</testsuites>`;
  const a = report(
    `    <testsuite name="./lab/a_test.ts" tests="2">
        <testcase name="x &gt; y" classname="./lab/a_test.ts" time="1.210" line="1" col="6">
        </testcase>
        <testcase name="z" classname="./lab/a_test.ts" time="0.400" line="9" col="6">
        </testcase>
    </testsuite>
    <testsuite name="./b_test.ts" tests="0">
    </testsuite>
`,
  );
  const c = report(
    `    <testsuite name="./c/d_test.tsx" tests="1">
        <testcase name="w" classname="./c/d_test.tsx" time="2.000" line="1" col="6">
        </testcase>
    </testsuite>
`,
  );
  assert.deepEqual(durationsFromJunit([a, c, ""]), {
    "b_test.ts": 0.3,
    "c/d_test.tsx": 2.3,
    "lab/a_test.ts": 1.9,
  });
});

Deno.test("the repository's folder is a path, escapes decoded (a folder with a space in its name)", () => {
  assert.equal(repoRoot("file:///home/me/my%20labs/vlab/tests/shards.ts"), "/home/me/my labs/vlab");
  assert.equal(repoRoot("file:///srv/vlab/tests/shards.ts"), "/srv/vlab");
});
