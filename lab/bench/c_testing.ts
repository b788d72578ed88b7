/**
 * Test support for the C references of the benchmarks (`c_build.ts`): a command runner whose
 * compile succeeds and whose program prints what the test says, to check how a C reference's
 * wrong answers are reported. Nothing in the lab imports it.
 *
 * @module
 */

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
