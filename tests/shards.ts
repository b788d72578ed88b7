/**
 * The test task's last step: every test file of the repository, run by `deno test` processes side
 * by side (one per CPU, at most {@linkcode MAX_JOBS}), then the files that must run alone.
 *
 * Why processes and not `deno test --parallel`: `--parallel` runs test modules as workers of one
 * process, and the lab's tests give each module its own state folder through the process's
 * environment (`VLAB_STATE_DIR`), which workers share. Each process here has its own.
 *
 * - **Files.** Every `*_test.ts`/`*_test.tsx` (and `test.ts`, `*.test.ts`: `deno test`'s own
 *   pattern) under the repository, outside what `deno.json`'s `test.exclude` excludes (its paths
 *   and globs read as `deno test` reads them).
 * - **Alone.** A file that measures the machine (a benchmark's test, a busy loop on every CPU)
 *   says so on a line of its own: {@linkcode ALONE_MARK} and the reason. Such files run after the
 *   others, one process, nothing beside them.
 * - **Shards.** The others are dealt to the processes longest first (`tests/durations.json`: each
 *   file's seconds in a serial run; a file missing there counts one second), each to the process
 *   with the least so far: stale durations cost balance, never a file.
 * - **Output.** Each process's lines stream as they come, behind `[N] `; at the end, one summary
 *   line in `deno test`'s own form (`ok | 12 passed (3 steps) | 0 failed (1m2s)`), summed over the
 *   processes: a process that ended without its summary (a module that did not load), or with a
 *   failing exit status after an `ok`, counts one failed test. A process's summary is its own:
 *   a line of its standard output, not one a test printed that looks like it. The exit status is 0 only when
 *   every process passed.
 *
 * Run by the `test` task: `deno run --allow-run --allow-read --allow-write --allow-env
 * tests/shards.ts -- DENO_TEST_FLAGS...` (the flags are given to every `deno test`).
 * `VLAB_TEST_JOBS=N` sets the number of processes (1 runs everything in one, in order).
 * `VLAB_TEST_DURATIONS=FILE` writes each file's seconds in this run to FILE: `tests/durations.json`
 * comes from a quiet run with `VLAB_TEST_JOBS=1`.
 *
 * @module
 */

/** The line that keeps a test file out of the shards: it runs alone, after them. */
export const ALONE_MARK = "// test-shards: alone";

/** The most `deno test` processes side by side. */
export const MAX_JOBS = 4;

import { matchesGlob } from "node:path";

/** The folders the walk never enters (with `deno.json`'s `test.exclude`). */
const SKIPPED = new Set([".git", "node_modules"]);

/** `deno test`'s own pattern for test files. */
const TEST_FILE = /(^|[_.])test\.(ts|tsx|mts|js|mjs|jsx)$/;

/** One entry of `deno.json`'s `test.exclude`, read as `deno test` reads it. */
interface ExcludeEntry {
  /** `!…`: it takes back what the entries before it excluded. */
  negated: boolean;
  /** A glob (the entry has `*` or `?`), for `matchesGlob`; else null. */
  glob: string | null;
  /**
   * A path without glob characters: that file, or that folder and all under it ("" for the
   * root: everything).
   */
  path: string;
  /**
   * For a glob `X/*` (or a lone `*`), the folder X ("" for the root), which it matches too, as a
   * whole: deno leaves all of it, dot files too, yet takes nothing deeper by the glob.
   */
  folder: string | null;
}

/**
 * Read `exclude` as `deno test` does (checked against Deno 2.9): an entry with `*` or `?` is a
 * glob (`*` and `?` stop at `/` and at a leading dot, `**` spans folders but not dot folders;
 * `[`, `]`, `{` and `}` are plain characters), any other a path (that file, or that folder and
 * everything under it); `./` in front and `/` at the end change nothing; `!` in front takes back
 * what the entries before it matched. The globs are matched with `node:path`'s `matchesGlob`,
 * the special characters deno does not read escaped. An entry that is a folder (or nothing)
 * followed by `**`, or `**` segments and then `*`, is that folder and everything under it, dot
 * files too, as a path is: a lone `**` excludes everything. A folder followed by one `*` matches
 * the folder itself as well, so it too leaves all of it, dot files too (a lone `*` leaves
 * everything), but as a glob it matches nothing deeper: `["*", "!sub/deep/*"]` runs
 * `sub/deep/keep/k_test.ts`, which `["sub/", "!sub/deep/*"]` leaves out.
 */
function excludeEntries(exclude: readonly string[]): ExcludeEntry[] {
  return exclude.map((raw) => {
    const negated = raw.startsWith("!");
    let path = (negated ? raw.slice(1) : raw).replace(/^(\.\/)+/, "").replace(/\/+$/, "");
    const star = /^(?:([^*?]*)\/)?\*$/.exec(path);
    const folder = star === null ? null : star[1] ?? "";
    const all = /^(?:([^*?]*)\/)?(?:\*\*\/)*\*\*?$/.exec(path);
    if (all !== null && star === null) path = all[1] ?? "";
    const glob = /[*?]/.test(path) ? path.replace(/[[\]{}()!+@\\]/g, "\\$&") : null;
    return { negated, glob, path, folder };
  });
}

/**
 * What `entries` say of `path` (a file or folder relative to the root), as `deno test` reads them:
 * the last entry that matches the path itself says, a path entry matching what is at or under it,
 * a glob what it matches. Null: no entry matches.
 */
function verdict(entries: readonly ExcludeEntry[], path: string): "excluded" | "taken-back" | null {
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    const hit = e.glob === null
      ? e.path === "" || path === e.path || path.startsWith(`${e.path}/`)
      : path === e.folder || (path !== "" && matchesGlob(path, e.glob));
    if (hit) return e.negated ? "taken-back" : "excluded";
  }
  return null;
}

/**
 * Where `deno test` starts its walks: the root, and what each `!` entry takes back (a path, or a
 * glob's folder before its first `*` or `?`). A walk never enters a folder the entries exclude:
 * a file in one is found only by the walk from a `!` path at or under it, never because a `!`
 * glob names it (`["sub/", "!sub/*_test.ts"]` runs nothing in `sub/`).
 */
function walkStarts(entries: readonly ExcludeEntry[]): string[] {
  const starts = new Set([""]);
  for (const e of entries) {
    if (!e.negated) continue;
    if (e.glob === null) starts.add(e.path);
    else {
      const parts = e.path.split("/");
      starts.add(parts.slice(0, parts.findIndex((p) => /[*?]/.test(p))).join("/"));
    }
  }
  return [...starts];
}

/**
 * Every test file under `root` (paths relative to it, `/`-separated, sorted), outside what
 * `exclude` names (`deno.json`'s `test.exclude`, as `deno test` reads it: paths such as
 * `node_modules/`, globs such as `docs/*.svg`, `!` entries that take back).
 *
 * @example
 * ```ts ignore
 * findTestFiles(".", [".tools/"]); // ["cli/bench_test.ts", ...]
 * ```
 */
export function findTestFiles(root: string, exclude: readonly string[]): string[] {
  const entries = excludeEntries(exclude);
  const files = new Set<string>();
  const seen = new Set<string>();
  const walk = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    for (const entry of Deno.readDirSync(dir === "" ? root : `${root}/${dir}`)) {
      const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
      if (verdict(entries, path) === "excluded") continue;
      if (entry.isDirectory) {
        if (!SKIPPED.has(entry.name)) walk(path);
      } else if (entry.isFile && TEST_FILE.test(entry.name)) {
        files.add(path);
      }
    }
  };
  for (const start of walkStarts(entries)) {
    // A start the entries exclude is not walked (a `!` glob's folder inside an excluded one).
    if (verdict(entries, start) === "excluded") continue;
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(start === "" ? root : `${root}/${start}`);
    } catch {
      continue; // a `!` entry for something that is not there
    }
    const name = start.slice(start.lastIndexOf("/") + 1);
    if (info.isDirectory) walk(start);
    else if (info.isFile && TEST_FILE.test(name)) files.add(start);
  }
  return [...files].sort();
}

/** Whether a test file's text holds {@linkcode ALONE_MARK} on a line of its own (and a reason). */
export function runsAlone(text: string): boolean {
  return text.split("\n").some((line) => line === ALONE_MARK || line.startsWith(`${ALONE_MARK} `));
}

/**
 * Deal `files` to `jobs` shards, longest first, each to the shard with the least seconds so far
 * (`seconds`: a file's duration; missing, one second). Empty shards are left out.
 *
 * @example
 * ```ts
 * import { dealShards } from "./shards.ts";
 * dealShards(["a", "b", "c"], { a: 5, b: 3, c: 3 }, 2); // [["a"], ["b", "c"]]
 * ```
 */
export function dealShards(
  files: readonly string[],
  seconds: Readonly<Record<string, number>>,
  jobs: number,
): string[][] {
  const cost = (f: string) => Object.hasOwn(seconds, f) ? seconds[f] : 1;
  const order = [...files].sort((x, y) => cost(y) - cost(x) || (x < y ? -1 : 1));
  const shards = Array.from({ length: Math.max(1, jobs) }, () => ({ files: [] as string[], s: 0 }));
  for (const f of order) {
    const least = shards.reduce((m, x) => (x.s < m.s ? x : m));
    least.files.push(f);
    least.s += cost(f);
  }
  return shards.map((x) => x.files.sort()).filter((x) => x.length > 0);
}

/** What a `deno test` summary line counts. */
export interface TestSummary {
  /** Whether it said `ok`. */
  ok: boolean;
  /** Tests passed. */
  passed: number;
  /** Steps passed (the parenthesis after `passed`). */
  passedSteps: number;
  /** Tests failed. */
  failed: number;
  /** Tests ignored. */
  ignored: number;
}

const SUMMARY =
  /^(ok|FAILED) \| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored(?: \(\d+ steps?\))?)?/;

/**
 * The counts of a `deno test` summary line (colour codes stripped), or null for any other line.
 *
 * @example
 * ```ts
 * import { parseSummary } from "./shards.ts";
 * parseSummary("ok | 12 passed (3 steps) | 0 failed (1s)");
 * // { ok: true, passed: 12, passedSteps: 3, failed: 0, ignored: 0 }
 * ```
 */
export function parseSummary(line: string): TestSummary | null {
  // deno-lint-ignore no-control-regex
  const m = SUMMARY.exec(line.replace(/\x1b\[[0-9;]*m/g, ""));
  if (m === null) return null;
  return {
    ok: m[1] === "ok",
    passed: Number(m[2]),
    passedSteps: Number(m[3] ?? 0),
    failed: Number(m[4]),
    ignored: Number(m[5] ?? 0),
  };
}

/**
 * One summary line for several processes' summaries, in `deno test`'s form; a process that
 * printed none (`null`) counts one failed test. `ms`: the whole run's wall time.
 *
 * @example
 * ```ts
 * import { sumSummaries } from "./shards.ts";
 * sumSummaries([{ ok: true, passed: 2, passedSteps: 0, failed: 0, ignored: 0 }, null], 61_000);
 * // "FAILED | 2 passed | 1 failed (1m1s)"
 * ```
 */
export function sumSummaries(summaries: readonly (TestSummary | null)[], ms: number): string {
  let passed = 0, steps = 0, failed = 0, ignored = 0;
  for (const s of summaries) {
    if (s === null) {
      failed++;
      continue;
    }
    passed += s.passed;
    steps += s.passedSteps;
    failed += s.failed + (s.ok ? 0 : s.failed === 0 ? 1 : 0);
    ignored += s.ignored;
  }
  const stepText = steps > 0 ? ` (${steps} step${steps === 1 ? "" : "s"})` : "";
  const ignoredText = ignored > 0 ? ` | ${ignored} ignored` : "";
  const s = Math.round(ms / 1000);
  const time = s >= 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s}s`;
  return `${
    failed === 0 ? "ok" : "FAILED"
  } | ${passed} passed${stepText} | ${failed} failed${ignoredText} (${time})`;
}

/** Where {@linkcode runShard} writes a process's lines (this process's own, by default). */
export interface ShardOutput {
  /** Its standard output's lines. */
  stdout: { writeSync(p: Uint8Array): number };
  /** Its standard error's lines. */
  stderr: { writeSync(p: Uint8Array): number };
}

/**
 * Run one `deno test` over `files` with `flags`, each line of its output behind `prefix`: its
 * summary, or null when it printed none; an `ok` summary of a process that exited with a failing
 * status reads as failed. The summary is `deno test`'s own: a summary line of its standard output
 * outside the blocks that show what a test printed (its standard error is not read for one), so a
 * test that prints a line like it changes no count.
 *
 * @example
 * ```ts ignore
 * await runShard(["a_test.ts"], ["--no-check"], "[1] "); // { ok: true, passed: 1, ... }
 * ```
 */
export async function runShard(
  files: readonly string[],
  flags: readonly string[],
  prefix: string,
  output: ShardOutput = { stdout: Deno.stdout, stderr: Deno.stderr },
): Promise<TestSummary | null> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", ...flags, ...files],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Set by the stdout pump's closure (a holder: TypeScript does not follow closures' writes).
  const seen: { summary: TestSummary | null; inOutput: boolean } = {
    summary: null,
    inOutput: false,
  };
  const encoder = new TextEncoder();
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    out: { writeSync(p: Uint8Array): number },
    isStdout: boolean,
  ) => {
    let rest = "";
    const emit = (line: string) => {
      if (isStdout) readOwnLine(seen, line);
      writeAll(out, encoder.encode(`${prefix}${line}\n`));
    };
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) emit(line);
    }
    if (rest !== "") emit(rest);
  };
  const [, , status] = await Promise.all([
    pump(child.stdout, output.stdout, true),
    pump(child.stderr, output.stderr, false),
    child.status,
  ]);
  const read = seen.summary;
  if (read !== null && !status.success) return { ...read, ok: false };
  return read;
}

// deno-lint-ignore no-control-regex
const COLOUR = /\x1b\[[0-9;]*m/g;
/** The line that opens what a test printed (`------- output -------`, `pre-test`, `post-test`). */
const OUTPUT_START = /^-+ (?:[a-z-]+ )?output -+$/;
/** The line that closes it (`----- output end -----`). */
const OUTPUT_END = /^-+ (?:[a-z-]+ )?output end -+$/;

/**
 * Read one line of a `deno test` process's standard output into `seen`: a summary line counts
 * only outside the blocks in which deno shows what a test printed (a test that prints a line like
 * the summary, and the process that dies before its own, changed the counts).
 */
function readOwnLine(seen: { summary: TestSummary | null; inOutput: boolean }, line: string) {
  const plain = line.replace(COLOUR, "");
  if (seen.inOutput) seen.inOutput = !OUTPUT_END.test(plain);
  else if (OUTPUT_START.test(plain)) seen.inOutput = true;
  else seen.summary = parseSummary(plain) ?? seen.summary;
}

function writeAll(out: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += out.writeSync(bytes.subarray(at));
}

/** The number of processes: `VLAB_TEST_JOBS`, else one per CPU, at most {@linkcode MAX_JOBS}. */
function jobCount(): number {
  const asked = Deno.env.get("VLAB_TEST_JOBS");
  if (asked !== undefined && asked !== "") {
    const n = Number(asked);
    if (!Number.isInteger(n) || n < 1 || n > 64) {
      throw new Error(`VLAB_TEST_JOBS must be a whole number from 1 to 64, not "${asked}"`);
    }
    return n;
  }
  return Math.min(MAX_JOBS, Math.max(1, navigator.hardwareConcurrency));
}

/**
 * Each test file's seconds in JUnit reports (`deno test --junit-path`): its tests' times, plus
 * {@linkcode LOAD_SECONDS} for loading it; rounded to tenths.
 *
 * @example
 * ```ts
 * import { durationsFromJunit } from "./shards.ts";
 * durationsFromJunit([
 *   '<testsuite name="./a_test.ts"><testcase name="x" time="1.5"></testcase></testsuite>',
 * ]); // { "a_test.ts": 1.8 }
 * ```
 */
export function durationsFromJunit(reports: readonly string[]): Record<string, number> {
  const seconds = new Map<string, number>();
  for (const xml of reports) {
    for (const suite of xml.split("<testsuite ").slice(1)) {
      const name = /^name="(?:\.\/)?([^"]*)"/.exec(suite)?.[1];
      if (name === undefined) continue;
      let t = LOAD_SECONDS;
      for (const m of suite.matchAll(/<testcase [^>]*?time="([0-9.]+)"/g)) t += Number(m[1]);
      seconds.set(name, Math.round(((seconds.get(name) ?? 0) + t) * 10) / 10);
    }
  }
  return Object.fromEntries([...seconds].sort(([x], [y]) => (x < y ? -1 : 1)));
}

/** Seconds a test file costs beyond its tests' own (its module graph, its isolate). */
export const LOAD_SECONDS = 0.25;

/**
 * The repository's folder, from this module's URL (`tests/shards.ts` in it): a path, its escapes
 * decoded (a folder named `my labs` is `my%20labs` in a URL).
 *
 * @example
 * ```ts
 * import { repoRoot } from "./shards.ts";
 * repoRoot("file:///home/me/my%20labs/vlab/tests/shards.ts"); // "/home/me/my labs/vlab"
 * ```
 */
export function repoRoot(moduleUrl: string): string {
  return decodeURIComponent(new URL("..", moduleUrl).pathname).replace(/\/$/, "");
}

async function main(args: readonly string[]): Promise<number> {
  const root = repoRoot(import.meta.url);
  const config = JSON.parse(Deno.readTextFileSync(`${root}/deno.json`));
  const files = findTestFiles(root, config.test?.exclude ?? []);
  const seconds = JSON.parse(Deno.readTextFileSync(`${root}/tests/durations.json`));
  const alone = files.filter((f) => runsAlone(Deno.readTextFileSync(`${root}/${f}`)));
  const shared = files.filter((f) => !alone.includes(f));
  const flags = args[0] === "--" ? args.slice(1) : [...args];
  const jobs = jobCount();
  const shards = jobs === 1 ? [files] : dealShards(shared, seconds, jobs);
  if (jobs > 1 && alone.length > 0) shards.push(alone);
  // VLAB_TEST_DURATIONS=FILE: each process writes a JUnit report, and FILE gets their durations.
  const durationsTo = Deno.env.get("VLAB_TEST_DURATIONS") || null;
  const junitDir = durationsTo === null ? null : Deno.makeTempDirSync({ prefix: "vlab-junit-" });
  const junit = (i: number) => (junitDir === null ? [] : [`--junit-path=${junitDir}/${i}.xml`]);
  const t0 = performance.now();
  const side = jobs === 1 ? shards : shards.slice(0, shards.length - (alone.length > 0 ? 1 : 0));
  console.log(
    `tests: ${files.length} files, ${side.length} deno test process${
      side.length === 1 ? "" : "es"
    } side by side` + (jobs === 1 ? "" : `, then ${alone.length} alone`),
  );
  Deno.chdir(root);
  const prefix = (i: number) => (side.length === 1 ? "" : `[${i + 1}] `);
  const summaries = await Promise.all(
    side.map((s, i) => runShard(s, [...flags, ...junit(i)], prefix(i))),
  );
  if (side.length < shards.length) {
    summaries.push(await runShard(alone, [...flags, ...junit(side.length)], "[alone] "));
  }
  console.log();
  console.log(sumSummaries(summaries, performance.now() - t0));
  if (junitDir !== null && durationsTo !== null) {
    const reports = shards.map((_, i) => {
      try {
        return Deno.readTextFileSync(`${junitDir}/${i}.xml`);
      } catch {
        return "";
      }
    });
    Deno.writeTextFileSync(
      durationsTo,
      JSON.stringify(durationsFromJunit(reports), null, 2) + "\n",
    );
    Deno.removeSync(junitDir, { recursive: true });
    console.log(`tests: each file's seconds written to ${durationsTo}`);
  }
  return summaries.every((s) => s !== null && s.ok) ? 0 : 1;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`tests: ${e instanceof Error ? e.message : String(e)}`);
    console.error("hint: VLAB_TEST_JOBS=1 runs every test file in one deno test process");
    Deno.exit(2);
  }
}
