/**
 * `vlab bench rings --vs-c`: the ring benchmark's hand-offs through a C ring, measured in the
 * same run as the JavaScript rings, so that "within 2× of C" is a ratio from one run on one
 * machine and not a comparison with figures taken elsewhere.
 *
 * The C ring is `c_ring.c` beside this file: a minimal split and packed virtqueue whose driver
 * and device threads follow `ring_worker.ts`'s protocol request for request (closed batches or
 * up to a batch outstanding, each request published as it is added and followed by a kick
 * decision, completions published every 8 and when the ring runs empty, sequence numbers checked
 * on both sides, from the address or with `payload` from the buffer; busy polling, or with
 * `notify` futex sleeps on doorbells that event suppression's kicks and interrupts ring).
 * It is compiled once per benchmark ({@linkcode CProgram}) and run once per point; without a
 * compiler the benchmark says in one line why it skipped the C columns.
 *
 * @module
 */

import { z } from "zod";
import { ok, type Result } from "../../devices/base/result.ts";
import { CProgram } from "./c_build.ts";
import type { RingLayout } from "./types.ts";
import type { CommandRunner } from "./command.ts";

/** What the C ring measured at one point. */
export interface CRingPoint {
  /** Nanoseconds per request of each timed run. */
  nsPerRun: number[];
  /** Kicks delivered per request in each timed run (none in poll mode). */
  kicksPerRun: number[];
  /** Interrupts delivered per request in each timed run (none in poll mode). */
  interruptsPerRun: number[];
  /** One cache line changing hands between the C threads, in ns, before the point. */
  handoffNs: number;
  /** Requests whose sequence number both C threads checked (warm-up included). */
  checkedRequests: number;
  /** Runs stopped by the per-run deadline. */
  truncatedRuns: number;
}

/** One point's request to the C ring. */
export interface CRingRequest {
  /** Ring layout. */
  layout: RingLayout;
  /** Queue size (split: a power of two). */
  queueSize: number;
  /** Batch size. */
  batch: number;
  /** Timed runs (one warm-up run comes first). */
  runs: number;
  /** Requests per run. */
  requests: number;
  /** Keep up to `batch` requests in flight instead of closed batches. */
  outstanding: boolean;
  /** Write each request's sequence number into its buffer, and check it there. */
  payload: boolean;
  /** Sleep on doorbells and deliver the kicks and interrupts event suppression asks for. */
  notify: boolean;
}

const OUTPUT = z.object({
  ns: z.array(z.number().positive()).min(1),
  kicksPerRequest: z.array(z.number().nonnegative()),
  interruptsPerRequest: z.array(z.number().nonnegative()),
  handoffNs: z.number().nonnegative(),
  checked: z.number().int().nonnegative(),
  tokenErrors: z.number().int().nonnegative(),
  seqErrors: z.number().int().nonnegative(),
  truncated: z.number().int().nonnegative(),
  kickDecisions: z.number().int().nonnegative(),
  interruptDecisions: z.number().int().nonnegative(),
});

/**
 * The compiled C ring: {@linkcode CRing.build} it, run points with {@linkcode CRing.point},
 * then {@linkcode CRing.dispose} it.
 *
 * @example
 * ```ts ignore
 * import { CRing } from "./c_ring.ts";
 * const built = await CRing.build();
 * if (built.ok) {
 *   const p = await built.value.point({
 *     layout: "packed", queueSize: 256, batch: 16, runs: 3, requests: 100_000,
 *     outstanding: false, payload: false, notify: false,
 *   });
 *   console.log(p.nsPerRun);
 *   await built.value.dispose();
 * }
 * ```
 */
export class CRing {
  private constructor(private readonly program: CProgram) {}

  /** The compiler command that built it. */
  get compiler(): string {
    return this.program.compiler;
  }

  /**
   * Compile `c_ring.c` with `compiler` (default `$CC`, else `cc`); the reason in one line when
   * it cannot (no compiler on PATH, the source missing, a compile error).
   */
  static async build(
    compiler?: string,
    run?: CommandRunner,
  ): Promise<Result<CRing, string>> {
    const built = await CProgram.compile("c_ring.c", compiler, run);
    return built.ok ? ok(new CRing(built.value)) : built;
  }

  /**
   * Time one point: a warm-up run and `runs` timed runs of `requests` requests each.
   *
   * @throws {Error} when the C ring fails, prints what it should not, or finds a request out of
   * order (the figures of a ring that lost requests mean nothing)
   */
  async point(req: CRingRequest): Promise<CRingPoint> {
    const out = await this.program.run([
      req.layout,
      String(req.queueSize),
      String(req.batch),
      String(req.runs),
      String(req.requests),
      ...(req.outstanding ? ["outstanding"] : []),
      ...(req.payload ? ["payload"] : []),
      ...(req.notify ? ["notify"] : []),
    ]);
    const where = `C ${req.layout}${req.notify ? " notify" : ""} batch ${req.batch}`;
    if (out.code !== 0) {
      throw new Error(`${where}: exit ${out.code}: ${out.stderr.trim().split("\n")[0] ?? ""}`);
    }
    let parsed: z.infer<typeof OUTPUT>;
    try {
      parsed = OUTPUT.parse(JSON.parse(out.stdout));
    } catch {
      throw new Error(`${where}: unexpected output ${JSON.stringify(out.stdout.slice(0, 200))}`);
    }
    if (parsed.tokenErrors > 0 || parsed.seqErrors > 0) {
      throw new Error(
        `${where}: ${parsed.tokenErrors} tokens and ${parsed.seqErrors} sequence numbers out of order`,
      );
    }
    return {
      nsPerRun: parsed.ns,
      kicksPerRun: parsed.kicksPerRequest,
      interruptsPerRun: parsed.interruptsPerRequest,
      handoffNs: parsed.handoffNs,
      checkedRequests: parsed.checked,
      truncatedRuns: parsed.truncated,
    };
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
