/**
 * Test support for the C references of the benchmarks (`c_build.ts`): a command runner whose
 * compile succeeds and whose program prints what the test says, to check how a C reference's
 * wrong answers are reported. Nothing in the lab imports it.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Result } from "../../devices/base/result.ts";
import type { CommandRunner } from "./command.ts";

/**
 * A runner under which every compile (a command line with `-O2`) succeeds and every run of the
 * compiled program exits 0 printing `stdout()`.
 *
 * @example
 * ```ts ignore
 * import { CWakeup } from "./c_wakeup.ts";
 * let out = "{}";
 * const built = await CWakeup.build("cc", printingProgram(() => out));
 * ```
 */
export function printingProgram(stdout: () => string): CommandRunner {
  return (argv) =>
    Promise.resolve(
      argv.includes("-O2")
        ? { code: 0, stdout: "", stderr: "" }
        : { code: 0, stdout: stdout(), stderr: "" },
    );
}

/** Why a build failed, or "" when it built (for messages and equality checks). */
export function reason<T>(built: Result<T, string>): string {
  return built.ok ? "" : built.error;
}

/**
 * Build a C reference, hand it to `use`, and dispose of it whatever `use` does; a build that
 * fails fails the test with its reason.
 *
 * @example
 * ```ts ignore
 * await usingBuilt(CWakeup.build(), async (pair) => {
 *   await pair.measure(100, 2);
 * });
 * ```
 */
export async function usingBuilt<T extends { dispose(): Promise<void> }>(
  build: Promise<Result<T, string>>,
  use: (built: T) => Promise<void>,
): Promise<void> {
  const built = await build;
  assert.ok(built.ok, reason(built));
  try {
    await use(built.value);
  } finally {
    await built.value.dispose();
  }
}
