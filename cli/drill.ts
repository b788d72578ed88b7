/**
 * `vlab drill run FILE` and `vlab drill replay REPORT.json`: run a drill (progress on stdout,
 * one line per step), write its reports, exit 0 when every assertion holds, 1 when one fails
 * (or a replay took other decisions), 2 when the drill is invalid (every problem printed as
 * `file:line:col` with a hint), 3 when it did not run because its lab could not start (a lab of
 * the topology's name already runs). The logic is in `lab/drill/`.
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { join } from "node:path";
import { LabError } from "../lab/errors.ts";
import {
  type DrillResult,
  jsonReport,
  junitReport,
  markdownReport,
  renderDrillChart,
  replayDrill,
  runDrill,
} from "../lab/drill/mod.ts";
import { quote } from "../lab/topology/quote.ts";
import { EXIT_CODES, ioReason, VlabError } from "./errors.ts";
import { writeAll } from "./progress.ts";
import { CliExit } from "./usage.ts";

const encoder = new TextEncoder();
const out = (text: string) => writeAll(Deno.stdout, encoder.encode(text));
const errOut = (text: string) => writeAll(Deno.stderr, encoder.encode(text));

function parseSeed(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n > 0xffff_ffff) {
    throw new VlabError(
      "bad-option",
      `Cannot run the drill: --seed must be a u32, got ${quote(text)}`,
      {
        hint: "Give a seed such as --seed 42",
      },
    );
  }
  return n;
}

async function writeFile(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text);
  } catch (e) {
    throw new VlabError(
      "write-failed",
      `Cannot write ${quote(path)}: ${ioReason(e)}`,
      { hint: "Check that the folder exists and is writable" },
    );
  }
}

const SIGNALS: Deno.Signal[] = ["SIGINT", "SIGTERM"];

/**
 * Abort on Ctrl-C or SIGTERM while `body` runs, so the drill stops its lab and reports; says
 * whether it was interrupted (the command then exits 130 after its report: it did not finish).
 */
async function interruptible<T>(
  body: (signal: AbortSignal) => Promise<T>,
): Promise<{ value: T; interrupted: boolean }> {
  const c = new AbortController();
  const on = () => c.abort();
  for (const s of SIGNALS) Deno.addSignalListener(s, on);
  try {
    const value = await body(c.signal);
    return { value, interrupted: c.signal.aborted };
  } finally {
    for (const s of SIGNALS) Deno.removeSignalListener(s, on);
  }
}

/** Write the reports asked for; returns the lines that say where they went. */
async function writeReports(
  result: DrillResult,
  opts: { report?: string; junit?: string },
): Promise<string[]> {
  const said: string[] = [];
  if (opts.report !== undefined) {
    try {
      await Deno.mkdir(opts.report, { recursive: true });
    } catch (e) {
      throw new VlabError("write-failed", `Cannot create ${quote(opts.report)}: ${ioReason(e)}`, {
        hint: "Check that the parent folder is writable",
      });
    }
    await writeFile(join(opts.report, "chart.svg"), await renderDrillChart(result));
    await writeFile(join(opts.report, "report.md"), markdownReport(result, "chart.svg"));
    await writeFile(join(opts.report, "report.json"), jsonReport(result));
    said.push(
      `report: ${join(opts.report, "report.md")} (replay: ${join(opts.report, "report.json")})`,
    );
  }
  if (opts.junit !== undefined) {
    await writeFile(opts.junit, junitReport(result));
    said.push(`junit: ${opts.junit}`);
  }
  return said;
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
  if (!(e instanceof LabError) || (e.code !== "lab-exists" && e.code !== "lab-failed")) {
    return null;
  }
  const hint = e.code === "lab-exists"
    ? `${e.hint}; a drill runs its topology's lab under the topology's name`
    : e.hint;
  return new VlabError("drill-not-run", e.message, { hint, cause: e });
}

/**
 * Turn a drill's validation error into the printed problems and an exit-2 error, and a lab that
 * could not start into {@linkcode drillNotRun}'s exit-3 error.
 */
async function rethrow(e: unknown): Promise<never> {
  const notRun = drillNotRun(e);
  if (notRun) throw notRun;
  if (e instanceof LabError && e.code === "drill-invalid") {
    if (e.details.length > 0) await errOut(e.details.join("\n") + "\n");
    throw new VlabError("drill-invalid", `${e.message}${e.details.length > 0 ? " (above)" : ""}`, {
      hint: e.details.length > 0 ? "Fix them; docs/drills.md describes the format" : e.hint,
      cause: e,
    });
  }
  throw e;
}

async function finish(
  result: DrillResult,
  extra: string[],
  ok: boolean,
  interrupted: boolean,
): Promise<void> {
  const passed = result.assertions.filter((a) => a.verdict === "pass").length;
  await out(
    [
      `${
        result.passed ? "PASS" : "FAIL"
      }: drill ${result.name}, ${passed}/${result.assertions.length} assertions hold, seed ${result.seed}${
        // Every assertion may hold and the drill still fail: say why on the verdict's line.
        result.error === undefined ? "" : ` (${result.error})`}`,
      ...extra,
    ].join("\n") + "\n",
  );
  // Interrupted: the verdict and reports are out, but the drill did not run to its end.
  if (interrupted) throw new CliExit(EXIT_CODES.interrupted);
  if (!ok) throw new CliExit(EXIT_CODES.failure);
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
        "run a drill file and judge its assertions (exit 0 pass, 1 fail, 2 invalid, 3 not run)",
      )
      .argument("<file>", "the drill (YAML); shipped drills are in drills/")
      .option("--seed <n>", "seed of every random choice (default: the drill's seed)")
      .option("--report <dir>", "write report.md, report.json and chart.svg to this folder")
      .option("--junit <file>", "write a JUnit XML report (one testcase per assertion)")
      .addHelpText("after", "\nExample:\n  vlab drill run drills/link-flap.yaml --report out/\n")
      .action(async (file, opts) => {
        const seed = parseSeed(opts.seed);
        const { value: result, interrupted } = await interruptible((signal) =>
          runDrill(file, { seed, signal, onProgress: (l) => void out(l + "\n") })
        ).catch(rethrow);
        await finish(result, await writeReports(result, opts), result.passed, interrupted);
      }) as unknown as Command,
  );
  drill.addCommand(
    new Command("replay")
      .description(
        "run a drill again from its report.json and check that it took the same decisions",
      )
      .argument("<report>", "the report.json of an earlier run")
      .option("--report <dir>", "write the new run's reports to this folder")
      .option("--junit <file>", "write a JUnit XML report of the new run")
      .action(async (path, opts) => {
        let recorded: unknown;
        try {
          recorded = JSON.parse(await Deno.readTextFile(path));
        } catch (e) {
          throw new VlabError(
            "drill-invalid",
            `Cannot read the report ${quote(path)}: ${e instanceof Error ? e.message : String(e)}`,
            { hint: "give the report.json written by `vlab drill run --report DIR`" },
          );
        }
        const { value: { result, differences, notes }, interrupted } = await interruptible((
          signal,
        ) => replayDrill(recorded, { signal, onProgress: (l) => void out(l + "\n") })).catch(
          rethrow,
        );
        const lines = differences.length === 0 ? [`same decisions as ${path}`] : [
          `${differences.length} decision${
            differences.length === 1 ? " differs" : "s differ"
          } from ${path}:`,
          ...differences.map((d) => `  ${d.subject}: recorded ${d.recorded}, now ${d.replayed}`),
        ];
        lines.push(...notes.map((n) => `note: ${n}`));
        await finish(
          result,
          [...lines, ...await writeReports(result, opts)],
          result.passed && differences.length === 0,
          interrupted,
        );
      }) as unknown as Command,
  );
  return drill as unknown as Command;
}
