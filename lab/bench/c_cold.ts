/**
 * `vlab bench wakeup --vs-c`'s second table: what a sleep costs the memory a thread touches when
 * it wakes, timed by a C program (`c_cold.c` beside this file) on the machine itself. A ping's
 * hop is a thread that wakes after sleeping since the last ping and walks its own state; on a
 * virtual machine whose idle vCPUs halt, that state may have left the caches and the TLB by then.
 * The wake-up table prices the ring; this one prices the memory behind it.
 *
 * @module
 */

import { z } from "zod";
import { ok, type Result } from "../../devices/base/result.ts";
import { CProgram } from "./c_build.ts";
import type { CommandRunner } from "./command.ts";

/** The sleeps the benchmark prices, µs: a hop's usual gaps, from a flood's to `ping`'s default. */
export const COLD_SLEEPS_US: readonly number[] = [200, 1_000, 2_000, 3_000, 10_000, 100_000];
/** Cache lines walked, each on a page of its own. */
export const COLD_LINES = 256;

const POINT = z.object({
  sleepUs: z.number().int().positive(),
  rounds: z.number().int().positive(),
  coldNs: z.number().nonnegative(),
  warmNs: z.number().nonnegative(),
});
const OUTPUT = z.object({ lines: z.number().int().positive(), points: z.array(POINT) });

/** One sleep's walks: the median ns a line took right after the sleep, and again at once. */
export type ColdPoint = z.infer<typeof POINT>;

/** What the C program measured. */
export interface ColdRun {
  /** Cache lines in the walk, each on a 4 KiB page of its own. */
  lines: number;
  /** One point per sleep, in the order asked. */
  points: ColdPoint[];
}

/**
 * The compiled walker: {@linkcode CCold.build} it, {@linkcode CCold.measure}, then
 * {@linkcode CCold.dispose} of it.
 *
 * @example
 * ```ts ignore
 * import { CCold } from "./c_cold.ts";
 * const built = await CCold.build();
 * if (built.ok) {
 *   const run = await built.value.measure(256, [200, 10_000]);
 *   console.log(run.points[1].coldNs / run.points[1].warmNs);
 *   await built.value.dispose();
 * }
 * ```
 */
export class CCold {
  private constructor(private readonly program: CProgram) {}

  /** The compiler command that built it. */
  get compiler(): string {
    return this.program.compiler;
  }

  /** Compile `c_cold.c` (default compiler `$CC`, else `cc`); the reason in one line when it cannot. */
  static async build(compiler?: string, run?: CommandRunner): Promise<Result<CCold, string>> {
    const built = await CProgram.compile("c_cold.c", compiler, run);
    return built.ok ? ok(new CCold(built.value)) : built;
  }

  /**
   * Walk `lines` cache lines after each sleep of `sleepsUs` (about two seconds' worth of rounds
   * each, 20 to 200).
   *
   * @throws {Error} when the program fails or prints what it should not (a point missing, or for
   * another sleep)
   */
  async measure(lines: number, sleepsUs: readonly number[]): Promise<ColdRun> {
    const out = await this.program.run([String(lines), ...sleepsUs.map(String)]);
    if (out.code !== 0) {
      throw new Error(`C memory walk: exit ${out.code}: ${out.stderr.trim().split("\n")[0] ?? ""}`);
    }
    let parsed: ColdRun;
    try {
      parsed = OUTPUT.parse(JSON.parse(out.stdout));
    } catch {
      throw new Error(
        `C memory walk: unexpected output ${JSON.stringify(out.stdout.slice(0, 200))}`,
      );
    }
    const asked = sleepsUs.join(",");
    const got = parsed.points.map((p) => p.sleepUs).join(",");
    if (parsed.lines !== lines || got !== asked) {
      throw new Error(
        `C memory walk: measured ${parsed.lines} lines after sleeps of ${got} µs, ` +
          `asked ${lines} after ${asked}`,
      );
    }
    return parsed;
  }

  /** Remove the compiled binary and its folder. */
  dispose(): Promise<void> {
    return this.program.dispose();
  }
}

/**
 * The walks as a text table: each sleep, the rounds kept, ns a line right after it and warm, and
 * the ratio.
 *
 * @example
 * ```ts
 * import { formatColdTable } from "./c_cold.ts";
 * formatColdTable({ lines: 256, points: [{ sleepUs: 200, rounds: 180, coldNs: 8, warmNs: 4 }] });
 * ```
 */
export function formatColdTable(run: ColdRun): string {
  const lines = [
    `memory after a sleep (C: ${run.lines} cache lines, each on a page of its own, walked as a chain)`,
    "slept ms  rounds  ns/line  warm ns/line  ×warm",
  ];
  for (const p of run.points) {
    const ratio = p.warmNs > 0 ? (p.coldNs / p.warmNs).toFixed(1) : "-";
    lines.push(
      `${(p.sleepUs / 1000).toString().padStart(8)}  ${String(p.rounds).padStart(6)}  ${
        p.coldNs.toFixed(1).padStart(7)
      }  ${p.warmNs.toFixed(1).padStart(12)}  ${ratio.padStart(5)}`,
    );
  }
  return lines.join("\n");
}
