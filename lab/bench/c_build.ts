/**
 * C references for the benchmarks (`--vs-c`): a small C program beside this file, compiled once
 * per benchmark with the system's C compiler (`$CC`, else `cc`, at `-O2`) into a temporary
 * folder, run as often as the benchmark needs, then removed (on Ctrl-C too: the CLI's signal
 * listeners call {@linkcode disposeCompiledNow}). Without a compiler the benchmark says in one
 * line why it skipped its C figures.
 *
 * Runs on the CLI's main thread; commands go through a {@linkcode CommandRunner}, so tests can
 * replace the system.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { err, ok, type Result } from "../../devices/base/result.ts";
import { type CommandRunner, systemRunner } from "./command.ts";
import { untilExit } from "./at_exit.ts";

/** The programs compiled and not yet disposed of, for {@linkcode disposeCompiledNow}. */
const live = new Set<CProgram>();

/**
 * Remove every compiled program's folder at once. A signal ends Deno without running `finally`
 * blocks, so the CLI's Ctrl-C and SIGTERM listeners call this before they end the process.
 *
 * @example
 * ```ts ignore
 * Deno.addSignalListener("SIGINT", () => {
 *   disposeCompiledNow();
 *   Deno.exit(130);
 * });
 * ```
 */
export function disposeCompiledNow(): void {
  for (const program of [...live]) program.disposeNow();
}

/** Whether a C reference ran: the compiler that built it, or why it did not. */
export type CStatus = { ran: true; compiler: string } | { ran: false; reason: string };

/**
 * A compiled C program of `lab/bench/`: {@linkcode CProgram.compile} it, run it with
 * {@linkcode CProgram.run}, then {@linkcode CProgram.dispose} of it.
 *
 * @example
 * ```ts ignore
 * import { CProgram } from "./c_build.ts";
 * const built = await CProgram.compile("c_wakeup.c");
 * if (built.ok) {
 *   const out = await built.value.run(["100", "2"]);
 *   console.log(out.stdout);
 *   await built.value.dispose();
 * }
 * ```
 */
export class CProgram {
  private constructor(
    /** The compiler command that built it. */
    readonly compiler: string,
    /** The temporary folder that holds the binary. */
    readonly dir: string,
    private readonly binary: string,
    private readonly runner: CommandRunner,
    /** Removes the folder now, and no longer at exit. */
    private readonly release: () => void,
  ) {}

  /**
   * Compile `lab/bench/<source>` with `compiler` (default `$CC`, else `cc`); the reason in one
   * line when it cannot (no compiler on PATH, the source not a local file, no temporary folder,
   * a compile error).
   */
  static async compile(
    source: string,
    compiler: string = Deno.env.get("CC") || "cc",
    run: CommandRunner = systemRunner,
  ): Promise<Result<CProgram, string>> {
    const url = new URL(`./${source}`, import.meta.url);
    if (url.protocol !== "file:") {
      return err(`the C source ${source} is not a local file (${url.href})`);
    }
    const name = source.replace(/\.c$/, "");
    // c_ring.c builds in vlab-c-ring-XXXX/c_ring
    let dir: string;
    try {
      dir = await Deno.makeTempDir({ prefix: `vlab-${name.replaceAll("_", "-")}-` });
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return err(`no temporary folder to build it in (${why}; set TMPDIR to one you may write)`);
    }
    // Removed at the process's exit too: Ctrl-C while the compiler runs (before the program is
    // one that disposeCompiledNow knows) left the folder, with the binary the compiler finished.
    const folder = dir;
    const release = untilExit(() => Deno.removeSync(folder, { recursive: true }));
    const binary = `${dir}/${name}`;
    const out = await run([
      compiler,
      "-O2",
      "-std=c11",
      "-pthread",
      "-o",
      binary,
      fileURLToPath(url),
    ]);
    if (out.code !== 0) {
      release();
      if (out.code === 127) {
        const where = compiler.includes("/") ? "does not exist" : "is not on PATH";
        return err(`no C compiler: \`${compiler}\` ${where} (install gcc, or name one in CC)`);
      }
      const first = (out.stderr.trim().split("\n")[0] ?? "").slice(0, 200) || `exit ${out.code}`;
      return err(`\`${compiler}\` could not compile lab/bench/${source}: ${first}`);
    }
    const program = new CProgram(compiler, dir, binary, run, release);
    live.add(program);
    return ok(program);
  }

  /** Run the program with `args`. */
  run(args: readonly string[]): ReturnType<CommandRunner> {
    return this.runner([this.binary, ...args]);
  }

  /** Remove the binary and its folder. */
  dispose(): Promise<void> {
    this.disposeNow();
    return Promise.resolve();
  }

  /** Remove them at once (from a signal listener, where nothing may be awaited). */
  disposeNow(): void {
    live.delete(this);
    this.release(); // gone already: no error
  }
}
