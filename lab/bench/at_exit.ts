/**
 * What a benchmark leaves on the machine while it runs (a temporary folder, a child process),
 * undone at the process's exit as well as at the benchmark's end. Ctrl-C and SIGTERM end a
 * `vlab bench` run with `Deno.exit(130)` (`cli/bench_partial.ts`), which runs no `finally` block:
 * the benchmark's own clean-up never ran, and `vlab bench vsock` left its lab's folder (the VMs'
 * `vsock.sock`) in `$TMPDIR`. Deno dispatches `unload` at `Deno.exit`, so the clean-up registered
 * here runs then too, once, synchronously (nothing can be awaited at exit).
 *
 * Runs on the CLI's main thread.
 *
 * @module
 */

import { LabError } from "../errors.ts";
import { quote } from "../../devices/base/quote.ts";

/**
 * Register `cleanup` to run at the process's exit; returns the call that runs it now instead
 * (and no longer at exit). Either way it runs once; an error it throws is swallowed (clean-up is
 * best effort: what it removes may be gone already).
 *
 * @example
 * ```ts
 * import { untilExit } from "./at_exit.ts";
 * const dir = Deno.makeTempDirSync();
 * const release = untilExit(() => Deno.removeSync(dir, { recursive: true }));
 * release(); // removed now, not again at exit
 * ```
 */
export function untilExit(cleanup: () => void): () => void {
  let done = false;
  const release = (): void => {
    if (done) return;
    done = true;
    globalThis.removeEventListener("unload", release);
    try {
      cleanup();
    } catch {
      // Best effort: gone already.
    }
  };
  globalThis.addEventListener("unload", release);
  return release;
}

/** A temporary folder of a benchmark, removed by {@linkcode BenchTempDir.remove} or at exit. */
export interface BenchTempDir {
  /** The folder's path. */
  readonly path: string;
  /** Remove the folder and what it holds, now (and no longer at exit). */
  remove(): void;
}

/**
 * Make a temporary folder (`<prefix>XXXX` under `$TMPDIR`) that goes at the process's exit if
 * {@linkcode BenchTempDir.remove} was not called before: on Ctrl-C and SIGTERM too.
 *
 * @throws {LabError} `lab-failed` when no folder can be made there (no such `$TMPDIR`, no right
 * to write), naming the folder, with a hint
 *
 * @example
 * ```ts
 * import { benchTempDir } from "./at_exit.ts";
 * const dir = benchTempDir("vlab-bench-example-");
 * Deno.writeTextFileSync(`${dir.path}/x`, "x");
 * dir.remove();
 * ```
 */
export function benchTempDir(prefix: string): BenchTempDir {
  let path: string;
  try {
    path = Deno.makeTempDirSync({ prefix });
  } catch (error) {
    // Deno says "No such file or directory (os error 2): tmpdir", naming neither the folder nor
    // what to do.
    const text = error instanceof Error ? error.message : String(error);
    const why = text.replace(/\s*\(os error \d+\).*$/s, "");
    const where = Deno.env.get("TMPDIR") ?? "/tmp";
    throw new LabError(
      "lab-failed",
      `no temporary folder under ${quote(where)}: ${why.charAt(0).toLowerCase()}${why.slice(1)}`,
      "Set TMPDIR to a folder you may write",
    );
  }
  const remove = untilExit(() => Deno.removeSync(path, { recursive: true }));
  return { path, remove };
}
