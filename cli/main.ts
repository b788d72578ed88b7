/**
 * The `vlab` command line: builds the commander program, runs it, and turns every failure into
 * the two lines of {@linkcode formatError} on stderr and an exit code (0 success, 1 failure while
 * running, 2 usage error, 3 drill not run, 130 interrupted).
 *
 * Run it with `deno task vlab …` (the task holds the permission flags).
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import meta from "../deno.json" with { type: "json" };
import { benchCommand } from "./bench.ts";
import { labCommands } from "./lab.ts";
import { dashboardCommand } from "./dashboard_command.ts";
import { drillCommand } from "./drill.ts";
import { graphCommand } from "./graph.ts";
import { pingallCommand } from "./pingall.ts";
import { vsockCommand } from "./vsock.ts";
import { EXIT_CODES, formatError, isClosedStdout, toVlabError } from "./errors.ts";
import { writeAll } from "./progress.ts";
import { CONFIG_PATH } from "./deno_run.ts";
import { CliExit, configureCommandTree } from "./usage.ts";

/** The version of vlab, from `deno.json`. */
export const VERSION: string = meta.version;

const encoder = new TextEncoder();
const writeOut = (text: string) => writeAll(Deno.stdout, encoder.encode(text));
/** stderr, or the file a detached `vlab up` was told to report its errors to. */
const writeErr = (text: string) => {
  const log = Deno.env.get("VLAB_ERROR_LOG");
  if (log) {
    Deno.writeTextFileSync(log, text, { append: true });
    return Promise.resolve();
  }
  return writeAll(Deno.stderr, encoder.encode(text));
};

/**
 * The `vlab` program, configured to throw (never exit) and to print no error text of its own.
 *
 * @example
 * ```ts
 * import { createProgram } from "./main.ts";
 *
 * createProgram().helpInformation(); // "Usage: vlab [options] [command]…"
 * ```
 */
export function createProgram(): Command {
  const program = new Command("vlab")
    .description("a virtio network lab: virtio rings in shared memory between workers")
    .version(VERSION, "-V, --version", "print the version of vlab")
    .addHelpText(
      "after",
      "\nExit codes: 0 success, 1 failure while running, 2 usage error (bad command or option), " +
        "3 drill not run (its lab could not start), 130 interrupted (Ctrl-C before the command " +
        "finished: exec, up -d starting, drill, pingall, vsock, bench).",
    );
  for (const c of labCommands()) program.addCommand(c);
  program.addCommand(graphCommand());
  program.addCommand(pingallCommand());
  program.addCommand(vsockCommand());
  program.addCommand(dashboardCommand());
  program.addCommand(benchCommand());
  program.addCommand(drillCommand());
  configureCommandTree(program, { writeOut, writeErr });
  return program;
}

/**
 * Run `vlab` with the given arguments (without the program name) and return the exit code.
 * Errors are printed on stderr; nothing here exits the process.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 *
 * const code = await main(["--version"]); // prints the version, returns 0
 * ```
 */
export async function main(args: readonly string[]): Promise<number> {
  try {
    await createProgram().parseAsync([...args], { from: "user" });
    return EXIT_CODES.success;
  } catch (error) {
    if (error instanceof CliExit) return error.exitCode;
    // Whoever read stdout has gone (`| head`): nothing more to say, to anyone (Unix tools end
    // quietly too). Every write to stdout goes through writeAll, which marks its errors.
    if (isClosedStdout(error)) return EXIT_CODES.success;
    const vlabError = toVlabError(error);
    try {
      writeErr(`${formatError(vlabError)}\n`);
      debugTrace(vlabError.cause ?? vlabError);
    } catch {
      // stderr itself cannot be written: the exit code is all that is left to say it.
    }
    return vlabError.exitCode;
  }
}

/** With `VLAB_DEBUG=1`, print the stack trace of what went wrong. */
function debugTrace(error: unknown): void {
  if (Deno.env.get("VLAB_DEBUG") !== "1") return;
  const trace = error instanceof Error ? error.stack ?? error.message : String(error);
  writeErr(`${trace}\n`);
}

/**
 * `deno task vlab …` runs the CLI in the folder of `deno.json`, not the caller's, and says where
 * the caller was in `INIT_CWD` (as npm does). The paths a user types (a topology, a drill, `-w
 * FILE`) are relative to where they typed them: go back there. A CLI started any other way (a
 * test's `deno run` in a folder of its own, a detached lab's own process) stays where it is.
 */
function enterCallersFolder(): void {
  let from: string | undefined;
  try {
    from = Deno.env.get("INIT_CWD");
    if (from && from !== PROJECT_DIR && Deno.cwd() === PROJECT_DIR) Deno.chdir(from);
  } catch {
    // No permission to read it, or the folder is gone: paths stay relative to the project.
  }
}

/** The folder of `deno.json`, where `deno task` starts the CLI. */
const PROJECT_DIR = CONFIG_PATH.slice(0, CONFIG_PATH.lastIndexOf("/"));

if (import.meta.main) {
  enterCallersFolder();
  Deno.exit(await main(Deno.args));
}
