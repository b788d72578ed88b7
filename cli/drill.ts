/**
 * `vlab drill run FILE` and `vlab drill replay REPORT.json`: run a drill (progress on stdout,
 * one line per step), write its reports, exit 0 when every assertion holds, 1 when one fails
 * (or a replay took other decisions), 2 when the drill is invalid (every problem printed as
 * `file:line:col` with a hint), 3 when it did not run because its lab could not start (a lab of
 * the topology's name already runs). The logic is in `lab/drill/`.
 *
 * @module
 */

import { count } from "../devices/base/plural.ts";
import { Command, Option } from "@commander-js/extra-typings";
import { dirname, join, resolve } from "node:path";
import { LabError } from "../lab/errors.ts";
import {
  DRILL_FILE,
  type DrillResult,
  formatDrillIssues,
  type InputKind,
  jsonReport,
  junitReport,
  loadDrillFile,
  markdownReport,
  parseDrill,
  parseReport,
  readReport,
  renderDrillChart,
  type ReplayDifference,
  replayDrill,
  REPORT_FILE,
  runDrill,
  runDrillText,
  STDIN_SOURCE,
} from "../lab/drill/mod.ts";
import { readBoundedStream } from "../lab/topology/files.ts";
import { quote, shellArg } from "../devices/base/quote.ts";
import { EXIT_CODES, ioReason, isClosedStdout, isSpecialFileRefusal, VlabError } from "./errors.ts";
import { writeAll } from "./progress.ts";
import { CliExit } from "./usage.ts";
import { onInterrupt } from "./interrupt.ts";

const encoder = new TextEncoder();
/** Set once whoever read stdout has gone (`vlab drill run … | head -3`). */
let stdoutGone = false;

/**
 * Progress and verdict lines to stdout. A reader that went away (EPIPE) does not end the drill,
 * as it ends a command whose only output is stdout: the drill goes on, writes its reports and
 * exits with its verdict; only its lines are dropped. (Before, the progress callback's throw
 * stopped the run at its second line, and the command exited 0 with no report.)
 */
const out = (text: string) => {
  if (stdoutGone) return;
  try {
    writeAll(Deno.stdout, encoder.encode(text));
  } catch (e) {
    if (!isClosedStdout(e)) throw e;
    stdoutGone = true;
  }
};
const errOut = (text: string) => writeAll(Deno.stderr, encoder.encode(text));

/**
 * The value of a `--seed` option (`vlab drill run`, `vlab up`): undefined when not given, else a
 * whole number 0..4294967295 written in decimal digits (as a topology's or a drill's `seed`; a
 * leading zero is harmless here: `010` is 10); anything else (negative, fractional, beyond
 * 2^32 - 1, or a seed in range in another notation, `0x10`, `0o10`, `1e3`, `+5`, whose hint then
 * gives it in decimal) is a `bad-option` error that starts with `Cannot ACTION:`.
 *
 * @example
 * ```ts
 * import { parseSeedOption } from "./drill.ts";
 * parseSeedOption("4294967295", "start the lab"); // 4294967295
 * parseSeedOption(undefined, "start the lab"); // undefined
 * ```
 */
export function parseSeedOption(text: string | undefined, action: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n > 0xffff_ffff) {
    const inRange = text.trim() !== "" && Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;
    throw new VlabError(
      "bad-option",
      `Cannot ${action}: --seed must be a whole number from 0 to 4294967295 in decimal digits, ` +
        `got ${quote(text)}`,
      {
        hint: inRange ? `Write it in decimal digits: --seed ${n}` : "Give a seed such as --seed 42",
      },
    );
  }
  return n;
}

/**
 * The text piped into a drill command given `-` (`vlab drill run - < drill.yaml`), read as a
 * file is (at most `kind.maxBytes`, text only); a terminal on stdin is refused rather than waited
 * on, and a text that cannot be read is one `drill-invalid` error (exit 2), as a file's. `hints`
 * replaces what to pipe in, said for a terminal and for a text of the wrong kind (`vlab validate -`
 * takes a topology or a drill).
 *
 * @example
 * ```ts ignore
 * import { readStdinInput } from "./drill.ts";
 * import { DRILL_FILE } from "../lab/drill/mod.ts";
 * const text = await readStdinInput(DRILL_FILE, "the drill", "run the drill");
 * ```
 */
export async function readStdinInput(
  kind: InputKind,
  what: string,
  doing: string,
  hints?: { terminal: string; kind: string },
): Promise<string> {
  if (Deno.stdin.isTerminal()) {
    throw new VlabError(
      "drill-invalid",
      `Cannot ${doing}: "-" reads ${what} from stdin, and stdin is a terminal`,
      {
        hint: hints?.terminal ??
          (kind === REPORT_FILE
            ? "Pipe the report in (vlab drill replay - < out/report.json), or give its path"
            : "Pipe the drill in (vlab drill run - < drill.yaml), or give its path, such as drills/link-flap.yaml"),
      },
    );
  }
  // What to pipe in: not the file kind's "give a regular file … or -".
  const piped: InputKind = {
    ...kind,
    kindHint: hints?.kind ??
      (kind === REPORT_FILE
        ? "pipe in the report.json written by `vlab drill run --report DIR`"
        : "pipe in a drill file (YAML text), for example drills/link-flap.yaml"),
  };
  const r = await readBoundedStream(Deno.stdin.readable, piped, `${what} from stdin`);
  if (r.ok) return r.value;
  throw new VlabError("drill-invalid", r.error.message, { hint: sentence(r.error.hint, "") });
}

/** The files `--report DIR` writes, in the order it writes them. */
const REPORT_FILES = ["chart.svg", "report.md", "report.json"] as const;

/** What to do about a failed write or folder creation, from the error's kind. */
function writeHint(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "Its folder does not exist: make it first";
  if (isSpecialFileRefusal(e)) return "Give a path outside /dev, /proc and /sys";
  if (e instanceof Deno.errors.PermissionDenied) {
    return "Its folder is not writable: give a path you can write to";
  }
  if (e instanceof Deno.errors.AlreadyExists || e instanceof Deno.errors.NotADirectory) {
    return "A file is in the way where a folder should be: give another path, or move the file";
  }
  if (e instanceof Deno.errors.IsADirectory) return "It is a folder: give a file path";
  return "Check the path: its folder must exist and be writable";
}

async function writeFile(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text);
  } catch (e) {
    throw new VlabError("write-failed", `Cannot write ${quote(path)}: ${ioReason(e)}`, {
      hint: writeHint(e),
    });
  }
}

/**
 * The file's info, or null when nothing is at `path` (or a parent of it is a file, which the
 * caller finds as it walks up); other errors are thrown.
 */
async function statOrNull(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null;
    throw e;
  }
}

/** Whether `a` and `b` name one file: the same absolute path, or the same file once followed. */
async function sameFile(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true;
  const [x, y] = [await statOrNull(a), await statOrNull(b)];
  return x !== null && y !== null && x.ino !== null && x.dev === y.dev && x.ino === y.ino;
}

/** Whether a file can be made in the folder `dir` (a probe file, removed at once). */
async function writableFolder(dir: string): Promise<boolean> {
  try {
    await Deno.remove(await Deno.makeTempFile({ dir, prefix: ".vlab-write-probe-" }));
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuse a report that would land on `reads.path`, a file the command reads (the drill file, its
 * topology file, the report a replay replays): `--junit` that is that file, or a `--report`
 * folder that holds it as one of its files, by path or by device and inode (a symbolic link).
 * Throws a `bad-option` error whose hint says the file would be lost; `-` (stdin) is no file.
 */
async function refuseReportsOn(
  opts: { report?: string; junit?: string },
  doing: string,
  reads: { path: string; what: string },
): Promise<void> {
  if (reads.path === "-") return;
  const refuse = (option: string, path: string, why: string): never => {
    throw new VlabError("bad-option", `Cannot ${doing}: ${option} ${quote(path)} ${why}`, {
      hint: `Give ${option} ${
        option === "--junit" ? "another file" : "another folder"
      }: the ${reads.what} would be lost`,
    });
  };
  try {
    if (opts.junit !== undefined && await sameFile(opts.junit, reads.path)) {
      refuse(
        "--junit",
        opts.junit,
        `is the ${reads.what} this command reads: the XML would replace it`,
      );
    }
    for (const name of opts.report === undefined ? [] : REPORT_FILES) {
      if (await sameFile(join(opts.report!, name), reads.path)) {
        refuse(
          "--report",
          opts.report!,
          `holds the ${reads.what} this command reads (${name}): this run's ${name} would replace it`,
        );
      }
    }
  } catch (e) {
    if (e instanceof VlabError) throw e;
    throw new VlabError(
      "bad-option",
      `Cannot ${doing}: cannot check the report paths: ${ioReason(e)}`,
      {
        hint: isSpecialFileRefusal(e)
          ? "Give --report and --junit paths outside /dev, /proc and /sys"
          : "Check that the report paths can be read",
      },
    );
  }
}

/**
 * Check, before the drill's lab starts, that its reports can be written: `--report` is a folder
 * or can be made (its nearest existing parent is a writable folder) and none of the files it
 * receives is a folder or a file that cannot be written, `--junit` is no folder and no file of
 * `--report`'s, and its folder exists or can be made, the same way; and no report lands on the
 * file the command reads (`options.reads`: the drill file, or the report a replay replays). A
 * path that cannot work throws a `bad-option` error that says what is wrong with it, so that a
 * drill is not run for nothing. Makes and changes nothing.
 *
 * @example
 * ```ts ignore
 * import { checkReportPaths } from "./drill.ts";
 * await checkReportPaths({ junit: "/nonexistent/j.xml" }, "run the drill"); // throws bad-option
 * await checkReportPaths({ junit: "d.yaml" }, "run the drill", { reads: "d.yaml" }); // too
 * ```
 */
export async function checkReportPaths(
  opts: { report?: string; junit?: string },
  doing: string,
  options: {
    /** The file the command reads (not `-`): a report written there would replace it. */
    reads?: { path: string; what: string };
  } = {},
): Promise<void> {
  const refuse = (option: string, path: string, why: string, hint: string): never => {
    throw new VlabError("bad-option", `Cannot ${doing}: ${option} ${quote(path)} ${why}`, {
      hint,
    });
  };
  // A folder that is there or can be made: its nearest existing parent is a writable folder.
  const makeable = async (option: string, path: string, dir: string) => {
    let at = resolve(dir);
    let found = await statOrNull(at);
    while (found === null && dirname(at) !== at) {
      at = dirname(at);
      found = await statOrNull(at);
    }
    if (found !== null && !found.isDirectory) {
      refuse(
        option,
        path,
        `cannot be made: ${quote(at)} is a file, not a folder`,
        `Give ${option} a path whose folders are folders`,
      );
    }
    if (!(await writableFolder(at))) {
      refuse(
        option,
        path,
        `cannot be written: ${quote(at)} is not writable`,
        `Give ${option} a path in a folder you can write to`,
      );
    }
  };
  // A file that is there must take the report: opened to write, not truncated (it is left as it
  // is until the report is written).
  const openable = async (option: string, path: string, file: string) => {
    try {
      (await Deno.open(file, { write: true })).close();
    } catch (e) {
      refuse(
        option,
        path,
        `cannot be written: ${file === path ? "" : `${quote(file)}: `}${ioReason(e)}`,
        `Give ${option} ${option === "--junit" ? "a file" : "a folder"} ${
          isSpecialFileRefusal(e) ? "outside /dev, /proc and /sys" : "you can write to"
        }`,
      );
    }
  };
  // An empty path is no path: `--report ""` wrote into the current folder, `--junit ""` failed
  // once the drill had run.
  if (opts.report === "") {
    refuse("--report", "", "is empty", "Give --report a folder, such as out/");
  }
  if (opts.junit === "") {
    refuse("--junit", "", "is empty", "Give --junit a file path, such as out/drill.xml");
  }
  // `-` is stdout elsewhere (`vlab capture -w -`), but stdout carries the drill's progress and
  // verdict lines: `--junit -` wrote a file named "-" in the current folder.
  if (opts.report === "-") {
    refuse(
      "--report",
      "-",
      "is not stdout: --report writes three files into a folder",
      "Give --report a folder, such as out/",
    );
  }
  if (opts.junit === "-") {
    refuse(
      "--junit",
      "-",
      "is not stdout: the drill's progress and verdict lines go there",
      "Give --junit a file path, such as out/drill.xml, and read the file",
    );
  }
  // The option being checked, for the hint of a failure the checks did not expect.
  let checking: "--report" | "--junit" = "--report";
  try {
    if (opts.report !== undefined) {
      const dir = opts.report;
      const info = await statOrNull(dir);
      if (info !== null && !info.isDirectory) {
        refuse(
          "--report",
          dir,
          "is a file, not a folder",
          "Give --report a folder (it is made if missing): it receives report.md, report.json and chart.svg",
        );
      }
      await makeable("--report", dir, dir);
      // A folder where one of its files goes: found after the run, it lost that report and every
      // report written after it (report.json, what a replay needs, among them).
      for (const name of REPORT_FILES) {
        const at = join(dir, name);
        const there = await statOrNull(at);
        if (there?.isDirectory === true) {
          refuse(
            "--report",
            dir,
            `cannot take ${name}: ${quote(at)} is a folder`,
            "Give --report another folder, or move that folder away",
          );
        }
        if (there !== null) await openable("--report", dir, at);
      }
    }
    if (opts.junit !== undefined) {
      checking = "--junit";
      const file = opts.junit;
      const info = await statOrNull(file);
      if (info?.isDirectory === true) {
        refuse("--junit", file, "is a folder", "Give --junit a file path, such as out/drill.xml");
      }
      // Its folder is made if missing, as --report's is (`--report out/ --junit out/drill.xml`).
      await makeable("--junit", file, dirname(resolve(file)));
      // One of --report's files: the XML replaced it (report.json, and the replay was lost).
      const taken = opts.report === undefined
        ? undefined
        : REPORT_FILES.find((name) => resolve(opts.report!, name) === resolve(file));
      if (taken !== undefined) {
        refuse(
          "--junit",
          file,
          `is where --report writes ${taken}`,
          `Give --junit another file, such as ${join(opts.report!, "drill.xml")}`,
        );
      }
      if (info?.isFile === true) await openable("--junit", file, file);
    }
    // `vlab drill run d.yaml --junit d.yaml` replaced the drill with its XML, and a replay's
    // --junit or --report on the report it replays replaced the recorded run.
    if (options.reads !== undefined) await refuseReportsOn(opts, doing, options.reads);
  } catch (e) {
    if (e instanceof VlabError) throw e;
    throw new VlabError(
      "bad-option",
      `Cannot ${doing}: cannot check ${checking} ${
        quote(checking === "--report" ? opts.report! : opts.junit!)
      }: ${ioReason(e)}`,
      {
        // No permission of the path's changes Deno's refusal of /dev, /proc and /sys.
        hint: isSpecialFileRefusal(e)
          ? `Give ${checking} ${
            checking === "--report" ? "a folder" : "a file"
          } outside /dev, /proc and /sys, such as ${
            checking === "--report" ? "out/" : "out/drill.xml"
          }`
          : `Check the path given to ${checking} and its permissions`,
      },
    );
  }
}

/**
 * Abort on Ctrl-C or SIGTERM while `body` runs, so the drill stops its lab and reports, then run
 * `conclude` (the verdict and the reports) with the signals still held: a second Ctrl-C while the
 * reports are written must not kill the process half-way (it left no report, or the previous
 * run's, without a word). `conclude` learns whether the drill was interrupted, by then or during
 * it (the command then exits 130 after its report: it did not finish).
 */
async function interruptible<T>(
  body: (signal: AbortSignal) => Promise<T>,
  conclude: (value: T, interrupted: () => boolean) => Promise<void>,
): Promise<void> {
  const c = new AbortController();
  const off = onInterrupt(() => c.abort());
  try {
    const value = await body(c.signal);
    await conclude(value, () => c.signal.aborted);
  } finally {
    off();
  }
}

/** Make the folder `dir` (and its parents): a `write-failed` error when it cannot be made. */
async function makeFolder(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new VlabError("write-failed", `Cannot create ${quote(dir)}: ${ioReason(e)}`, {
      hint: writeHint(e),
    });
  }
}

/**
 * Write the reports asked for, each whatever became of the others (a report.md that cannot be
 * written does not cost the report.json a replay needs, nor the JUnit XML), printing where each
 * went; then throw the first write that failed, if any.
 */
async function writeReports(
  result: DrillResult,
  opts: { report?: string; junit?: string },
  print: (text: string) => void | Promise<void>,
): Promise<void> {
  const failures: unknown[] = [];
  const attempt = async (write: () => Promise<void>): Promise<boolean> => {
    try {
      await write();
      return true;
    } catch (e) {
      failures.push(e);
      return false;
    }
  };
  if (opts.report !== undefined) {
    const dir = opts.report;
    if (await attempt(() => makeFolder(dir))) {
      // report.json first: what a replay needs.
      const json = await attempt(() => writeFile(join(dir, "report.json"), jsonReport(result)));
      // The replay command holds from any folder: the report.json's absolute path.
      const replay = resolve(dir, "report.json");
      const md = await attempt(() =>
        writeFile(join(dir, "report.md"), markdownReport(result, "chart.svg", { replay }))
      );
      await attempt(async () => writeFile(join(dir, "chart.svg"), await renderDrillChart(result)));
      if (md || json) {
        await print(
          md && json
            ? `report: ${shellArg(join(dir, "report.md"))} (replay: vlab drill replay ${
              shellArg(replay)
            })\n`
            : md
            ? `report: ${shellArg(join(dir, "report.md"))}\n`
            : `report: ${shellArg(join(dir, "report.json"))} (replay: vlab drill replay ${
              shellArg(replay)
            })\n`,
        );
      }
    }
  }
  if (opts.junit !== undefined) {
    const file = opts.junit;
    if (
      await attempt(async () => {
        await makeFolder(dirname(resolve(file)));
        await writeFile(file, junitReport(result));
      })
    ) await print(`junit: ${shellArg(file)}\n`);
  }
  if (failures.length > 0) throw failures[0];
}

/**
 * The error of a drill whose lab could not start (a lab of the topology's name already runs, or
 * the lab failed to start): `drill-not-run`, exit 3, so that it is never taken for the verdict
 * of a drill that failed (exit 1). Null for any other error.
 *
 * @example
 * ```ts
 * import { LabError } from "../lab/errors.ts";
 * import { drillNotRun } from "./drill.ts";
 * const running = new LabError("lab-exists", 'Cannot start lab "pair": it is already running (pid 7)', "");
 * drillNotRun(running)?.exitCode; // 3
 * ```
 */
export function drillNotRun(e: unknown): VlabError | null {
  const notRun = ["lab-exists", "lab-failed", "not-enough-memory"];
  if (!(e instanceof LabError) || !notRun.includes(e.code)) return null;
  const hint = e.code === "lab-exists"
    ? `${e.hint}; a drill runs its topology's lab under the topology's name, so a drill of the ` +
      "same topology that runs must end first (`vlab down` would end it too)"
    : e.hint;
  return new VlabError("drill-not-run", e.message, { hint, cause: e });
}

/**
 * Turn a drill's validation error into the printed problems and an exit-2 error, and a lab that
 * could not start into {@linkcode drillNotRun}'s exit-3 error.
 */
async function rethrow(e: unknown, what: string): Promise<never> {
  const notRun = drillNotRun(e);
  if (notRun) throw notRun;
  if (e instanceof LabError && e.code === "drill-invalid") {
    if (e.details.length === 0) throw new VlabError("drill-invalid", e.message, { hint: e.hint });
    // A drill file that could not be read at all (missing, a folder, too large) has one problem
    // and no place: it is the error itself, one line and its hint, not a problem above
    // "1 problem (above)" whose hint says to fix it.
    if (e.details.length <= 2 && e.details[0] === e.message && /^Cannot read /.test(e.message)) {
      const hint = e.hint.charAt(0).toUpperCase() + e.hint.slice(1);
      throw new VlabError("drill-invalid", e.message, { hint, cause: e });
    }
    // Every problem is printed, each with its hint; the last line counts them.
    await errOut(e.details.join("\n") + "\n");
    const problems = e.details.filter((l) => !l.startsWith(" ")).length;
    // A topology or a report given as the drill: its one problem says what takes it.
    if (problems === 1 && e.details[0].endsWith(", not a drill file")) {
      throw new VlabError(
        "drill-invalid",
        `Cannot run ${what}: it is no drill file (above)`,
        {
          hint:
            "Give a drill file, such as drills/link-flap.yaml; the hint above says what takes this file",
          cause: e,
        },
      );
    }
    throw new VlabError(
      "drill-invalid",
      `Cannot run ${what}: ${count(problems, "problem")} (above)`,
      {
        hint: `Fix ${problems === 1 ? "it" : "them"}; docs/drills.md describes the format`,
        cause: e,
      },
    );
  }
  throw e;
}

/**
 * End a drill command: print the verdict line and `lines` (a replay's differences and notes),
 * then write the reports asked for and say where they went, then exit 130 when the drill was
 * interrupted or 1 when `ok` is false. The verdict comes first, so a report that cannot be
 * written (its `write-failed` error is thrown after it) never hides how the drill went.
 *
 * @example
 * ```ts ignore
 * import { concludeDrill } from "./drill.ts";
 * await concludeDrill(result, { lines: [], reports: { report: "out/" }, ok: result.passed });
 * ```
 */
export async function concludeDrill(
  result: DrillResult,
  options: {
    /** Lines printed after the verdict's. */
    lines: string[];
    /** Where to write the reports (`--report`, `--junit`). */
    reports: { report?: string; junit?: string };
    /** Whether the command succeeded (exit 0). */
    ok: boolean;
    /**
     * Whether the drill was interrupted (exit 130); a function is asked once the reports are
     * written, so a Ctrl-C while they are written counts too.
     */
    interrupted?: boolean | (() => boolean);
    /** Where the lines go (stdout). */
    print?: (text: string) => void | Promise<void>;
  },
): Promise<void> {
  const print = options.print ?? out;
  const passed = result.assertions.filter((a) => a.verdict === "pass").length;
  await print(
    [
      `${
        result.passed ? "PASS" : "FAIL"
      }: drill ${result.name}, ${passed}/${result.assertions.length} assertions hold, seed ${result.seed}${
        // Every assertion may hold and the drill still fail: say why on the verdict's line (after a
        // colon: the error may end in its own parentheses).
        result.error === undefined ? "" : `: ${result.error}`}`,
      ...options.lines,
    ].join("\n") + "\n",
  );
  await writeReports(result, options.reports, print);
  // Interrupted: the verdict and reports are out, but the drill did not run to its end.
  const interrupted = typeof options.interrupted === "function"
    ? options.interrupted()
    : options.interrupted === true;
  if (interrupted) throw new CliExit(EXIT_CODES.interrupted);
  if (!options.ok) throw new CliExit(EXIT_CODES.failure);
}

/**
 * What `vlab drill replay` prints after the verdict: `same decisions as PATH` (PATH as a shell
 * argument; `-`, stdin, as "the report from stdin"), saying how many notes follow (what timing
 * kept out of the comparison), or each difference; then each note.
 *
 * @example
 * ```ts
 * import { replayLines } from "./drill.ts";
 * replayLines("r.json", [], ["link a-b: …"]);
 * // ["same decisions as r.json, apart from the 1 note below", "note: link a-b: …"]
 * ```
 */
export function replayLines(
  path: string,
  differences: readonly ReplayDifference[],
  notes: readonly string[],
): string[] {
  const noted = notes.length === 0 ? "" : `, apart from the ${count(notes.length, "note")} below`;
  // `-` is stdin: said in words, not quoted as a path.
  const from = path === "-" ? "the report from stdin" : shellArg(path);
  const lines = differences.length === 0 ? [`same decisions as ${from}${noted}`] : [
    `${differences.length} decision${
      differences.length === 1 ? " differs" : "s differ"
    } from ${from}:`,
    ...differences.map((d) => `  ${d.subject}: recorded ${d.recorded}, now ${d.replayed}`),
  ];
  lines.push(...notes.map((n) => `note: ${n}`));
  return lines;
}

/**
 * `vlab drill replay REPORT --seed N`: refused, since a replay runs with the seed its report
 * recorded (its decisions are compared with the recorded ones); the hint gives the seed and the
 * `vlab drill run` that takes another, from the report when it reads.
 */
async function refuseReplaySeed(path: string, seed: string): Promise<never> {
  // Stdin is left unread: the report it holds is not needed to refuse.
  const read = path === "-" ? null : await readReport(path);
  const recorded = read?.ok === true ? read.value as { seed?: unknown; source?: unknown } : {};
  const source = typeof recorded.source === "string" && !recorded.source.startsWith("<")
    ? shellArg(recorded.source)
    : "DRILL.yaml";
  const was = typeof recorded.seed === "number" ? ` (${recorded.seed} in ${quote(path)})` : "";
  throw new VlabError(
    "bad-option",
    `Cannot replay with --seed ${quote(seed)}: a replay uses the seed its report recorded${was}`,
    {
      hint:
        `Leave --seed out to replay; to run the drill with another seed: vlab drill run ${source} --seed ${
          // Only a seed that `drill run` takes: a hint must not lead to another refusal.
          /^\d+$/.test(seed) && Number(seed) <= 0xffff_ffff ? seed : "N"}`,
    },
  );
}

/** A hint as a command's error gives it: a capital first letter. */
function sentence(hint: string | null, fallback: string): string {
  const text = hint ?? fallback;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * The `vlab drill` command and its subcommands.
 *
 * @example
 * ```ts ignore
 * import { drillCommand } from "./drill.ts";
 * program.addCommand(drillCommand());
 * ```
 */
export function drillCommand(): Command {
  const drill = new Command("drill").description(
    "run a fault drill (a timeline, assertions and a verdict) or replay one",
  );
  drill.addCommand(
    new Command("run")
      .description(
        "run a drill file and judge its assertions (exit 0 pass, 1 fail, 2 invalid, 3 not run, 130 interrupted)",
      )
      .argument("<file>", "the drill (YAML; - reads it from stdin); shipped drills are in drills/")
      .option("--seed <n>", "seed of every random choice (default: the drill's seed)")
      .option("--report <dir>", "write report.md, report.json and chart.svg to this folder")
      .option(
        "--junit <file>",
        "write a JUnit XML report (one testcase per assertion, and one for the timeline)",
      )
      .addHelpText("after", "\nExample:\n  vlab drill run drills/link-flap.yaml --report out/\n")
      .action(async (file, opts) => {
        const seed = parseSeedOption(opts.seed, "run the drill");
        // Before the lab starts: a report path that cannot work would be found after the run.
        await checkReportPaths(opts, "run the drill", {
          reads: { path: file, what: "drill file" },
        });
        // `-`: the drill piped in, named <stdin> in its problems and its reports.
        const text = file === "-"
          ? await readStdinInput(DRILL_FILE, "the drill", "run the drill")
          : null;
        // Nor on the drill's topology file (`topology: ./t.yaml` and `--junit t.yaml` replaced
        // it with the XML), known once the drill reads: one that does not is runDrill's to tell.
        const loaded = text === null
          ? await loadDrillFile(file)
          : await parseDrill(text, STDIN_SOURCE);
        // An inline topology's source is the drill's own (checked above), or `<stdin>`.
        const topology = loaded.ok && loaded.value.topology.source !== loaded.value.source
          ? loaded.value.topology.source
          : null;
        if (topology !== null && !topology.startsWith("<")) {
          await refuseReportsOn(opts, "run the drill", {
            path: topology,
            what: "drill's topology file",
          });
        }
        await interruptible(
          (signal) => {
            const options = { seed, signal, onProgress: (l: string) => void out(l + "\n") };
            return (text === null
              ? runDrill(file, options)
              : runDrillText(text, STDIN_SOURCE, options))
              .catch((e) =>
                rethrow(e, text === null ? `drill ${quote(file)}` : "the drill from stdin")
              );
          },
          (result, interrupted) =>
            concludeDrill(result, { lines: [], reports: opts, ok: result.passed, interrupted }),
        );
      }) as unknown as Command,
  );
  drill.addCommand(
    new Command("replay")
      .description(
        "run a drill again from its report.json and check that it took the same decisions",
      )
      .argument("<report>", "the report.json of an earlier run (- reads it from stdin)")
      .option("--report <dir>", "write the new run's reports to this folder")
      .option("--junit <file>", "write a JUnit XML report of the new run")
      // Taken only to be refused with the reason (`drill run` has it): a replay's seed is the
      // recorded one, or it would not take the same decisions.
      .addOption(new Option("--seed <n>").hideHelp())
      .action(async (path, opts) => {
        if (opts.seed !== undefined) await refuseReplaySeed(path, opts.seed);
        await checkReportPaths(opts, "replay the drill", {
          reads: { path, what: "recorded report" },
        });
        // A regular file of bounded size (a FIFO would block), JSON placed at its line:col; `-`
        // reads it from stdin, named <stdin>.
        const read = path === "-"
          ? parseReport(
            await readStdinInput(REPORT_FILE, "the report", "replay the drill"),
            STDIN_SOURCE,
          )
          : await readReport(path);
        if (!read.ok) {
          const e = read.error;
          throw new VlabError(
            "drill-invalid",
            e.line === null ? e.message : formatDrillIssues([{ ...e, hint: null }]),
            {
              hint: sentence(
                e.hint,
                "give the report.json written by `vlab drill run --report DIR`",
              ),
            },
          );
        }
        const recorded = read.value;
        await interruptible(
          (signal) =>
            replayDrill(recorded, { signal, onProgress: (l) => void out(l + "\n") })
              .catch((e) =>
                rethrow(
                  e,
                  `the drill recorded in ${path === "-" ? "the report from stdin" : quote(path)}`,
                )
              ),
          ({ result, differences, notes }, interrupted) =>
            concludeDrill(result, {
              lines: replayLines(path, differences, notes),
              reports: opts,
              ok: result.passed && differences.length === 0,
              interrupted,
            }),
        );
      }) as unknown as Command,
  );
  return drill as unknown as Command;
}
