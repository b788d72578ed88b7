/**
 * `vlab bench wakeup --vs-c`: the wake-up benchmark's doorbell round trips between two C
 * threads in the kernel's futex (`c_wakeup.c` beside this file), so that what a wake-up costs
 * the machine and what it costs a Deno worker come from the same run. Compiled once per
 * benchmark ({@linkcode CProgram}); without a compiler the benchmark says in one line why it
 * skipped the C row.
 *
 * @module
 */

import { z } from "zod";
import { ok, type Result } from "../../devices/base/result.ts";
import { CProgram } from "./c_build.ts";
import type { CommandRunner } from "./command.ts";

const OUTPUT = z.object({
  rttUs: z.array(z.number().nonnegative()),
  wakes: z.number().int().nonnegative(),
  late: z.number().int().nonnegative(),
});

/** What the C threads measured. */
export interface CWakeupRun {
  /** Each round trip (two wake-ups), µs, in order. */
  rttUs: number[];
  /** `FUTEX_WAKE` calls made (a ring to a thread that had not yet announced its sleep makes none). */
  wakes: number;
}

/**
 * The compiled C wake-up pair: {@linkcode CWakeup.build} it, time round trips with
 * {@linkcode CWakeup.measure}, then {@linkcode CWakeup.dispose} of it.
 *
 * @example
 * ```ts ignore
 * import { CWakeup } from "./c_wakeup.ts";
 * const built = await CWakeup.build();
 * if (built.ok) {
 *   const run = await built.value.measure(500, 2);
 *   console.log(run.rttUs.length);
 *   await built.value.dispose();
 * }
 * ```
 */
export class CWakeup {
  private constructor(private readonly program: CProgram) {}

  /** The compiler command that built it. */
  get compiler(): string {
    return this.program.compiler;
  }

  /** Compile `c_wakeup.c` (default compiler `$CC`, else `cc`); the reason in one line when it cannot. */
  static async build(compiler?: string, run?: CommandRunner): Promise<Result<CWakeup, string>> {
    const built = await CProgram.compile("c_wakeup.c", compiler, run);
    return built.ok ? ok(new CWakeup(built.value)) : built;
  }

  /**
   * Time `rounds` round trips, each side sleeping in slices of at most `sliceMs`.
   *
   * @throws {Error} when the program fails, prints what it should not, or abandons a round trip
   * (a lost wake-up: the figures would mean nothing)
   */
  async measure(rounds: number, sliceMs: number): Promise<CWakeupRun> {
    const out = await this.program.run([String(rounds), String(sliceMs)]);
    if (out.code !== 0) {
      throw new Error(`C futex: exit ${out.code}: ${out.stderr.trim().split("\n")[0] ?? ""}`);
    }
    let parsed: z.infer<typeof OUTPUT>;
    try {
      parsed = OUTPUT.parse(JSON.parse(out.stdout));
    } catch {
      throw new Error(`C futex: unexpected output ${JSON.stringify(out.stdout.slice(0, 200))}`);
    }
    if (parsed.late > 0) {
      throw new Error(`C futex: ${parsed.late} round trips not answered within 1 s`);
    }
    if (parsed.rttUs.length !== rounds) {
      throw new Error(`C futex: ${parsed.rttUs.length} round trips timed of ${rounds}`);
    }
    return { rttUs: parsed.rttUs, wakes: parsed.wakes };
  }

  /** Remove the compiled binary and its folder. */
  dispose(): Promise<void> {
    return this.program.dispose();
  }

  /** Remove them at once (from a signal listener, where nothing may be awaited). */
  disposeNow(): void {
    this.program.disposeNow();
  }
}
