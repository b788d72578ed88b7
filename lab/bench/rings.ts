/**
 * `vlab bench rings`: per-request cost of the split and packed virtqueues against batch size,
 * between a driver worker and a device worker over shared guest memory.
 *
 * Called by the CLI (`cli/bench.ts`) and by scripts through `mod.ts`; runs on the main thread
 * and owns the workers: one fresh pair per layout and mode (so each worker's JIT only ever sees
 * one ring class), reused across batch sizes. Each point has a warm-up run, then `runs` timed
 * runs; the report gives the median, minimum and maximum. With `vsC` each point also runs
 * through the C ring (`c_ring.ts`), before or after the workers' turn.
 *
 * @module
 */

import { cpus } from "node:os";
import { GuestMemory } from "../../devices/memory/memory.ts";
import { CRing } from "./c_ring.ts";
import { runCacheModel } from "./cache_model.ts";
import { type BenchLayout, benchLayout, Ctl, ctl, CTL_WORDS } from "./ring_layout.ts";
import type { WorkerReply, WorkerRequest } from "./ring_worker.ts";
import { RUN_DEADLINE_MS } from "./types.ts";
import type {
  ProgressFn,
  RingLayout,
  RingMode,
  RingsBenchOptions,
  RingsBenchReport,
  RingsBenchRow,
  RingsCFigures,
  RingsCStatus,
  Spread,
} from "./types.ts";

/** Default options of `vlab bench rings`. */
export const DEFAULT_RINGS_OPTIONS: RingsBenchOptions = {
  layouts: ["split", "packed"],
  batches: [1, 2, 4, 8, 16, 32, 64],
  modes: ["poll"],
  queueSize: 256,
  runs: 5,
  requests: 200_000,
  outstanding: false,
  payload: false,
  cacheModel: false,
  sameCore: false,
  vsC: false,
};

/** Requests per run when both workers share one core (busy-polling there is pathological). */
export const SAME_CORE_REQUESTS = 2_000;

/** Ping-pong rounds per calibration (three per point). */
const CALIBRATION_ROUNDS = 20_000;

/**
 * Run the ring benchmark.
 *
 * With `vsC`, the C ring is built here and removed when the run ends. A signal that ends the
 * process skips that removal: a caller that ends the process on Ctrl-C calls
 * `disposeCompiledNow` (`c_build.ts`) in its signal listener first, as `vlab bench rings` does.
 *
 * @example
 * ```ts ignore
 * import { DEFAULT_RINGS_OPTIONS, runRingsBench } from "./rings.ts";
 * const report = await runRingsBench({ ...DEFAULT_RINGS_OPTIONS, batches: [1, 16], runs: 3 });
 * console.log(report.results.map((r) => `${r.layout} ${r.batch}: ${r.nsPerRequest.median} ns`));
 * ```
 */
export async function runRingsBench(
  options: RingsBenchOptions,
  progress: ProgressFn = () => {},
): Promise<RingsBenchReport> {
  // Two spinning workers on one core hand off once per time slice: cap the work.
  if (options.sameCore) {
    options = { ...options, requests: Math.min(options.requests, SAME_CORE_REQUESTS) };
  }
  const results: RingsBenchRow[] = [];
  const c = options.vsC ? await startCRing(options) : null;
  const cRing = c?.ring ?? null;
  try {
    let point = 0;
    for (const mode of options.modes) {
      for (const layout of options.layouts) {
        const pair = await WorkerPair.start();
        try {
          for (const batch of options.batches) {
            // The two rings take turns leading a point, so neither always runs on a machine
            // the other has just warmed (or disturbed).
            const cFirst = point++ % 2 === 1;
            const cPoint = cRing !== null
              ? () => measureCPoint(cRing, options, layout, mode, batch, cFirst, progress)
              : null;
            const cLed = cFirst && cPoint ? await cPoint() : undefined;
            const row = await measurePoint(pair, options, layout, mode, batch, progress);
            const cFigures = cLed ?? (cPoint ? await cPoint() : undefined);
            if (cFigures !== undefined) row.c = cFigures;
            if (options.cacheModel) {
              const model = runCacheModel({
                layout,
                queueSize: options.queueSize,
                batch,
                outstanding: options.outstanding,
                requests: Math.max(4096, batch * 64),
                notify: mode === "notify",
              });
              row.linesPerRequest = model.linesPerRequest;
              row.invalidationsPerRequest = model.invalidationsPerRequest;
            }
            results.push(row);
          }
        } finally {
          pair.stop();
        }
      }
    }
  } finally {
    await cRing?.dispose();
  }
  const report: RingsBenchReport = { options, environment: environment(), results };
  if (c !== null) report.c = c.status;
  return report;
}

/**
 * Build the C ring for `--vs-c`, or say why it will not run: its threads take two cores, so
 * `sameCore` skips it.
 */
async function startCRing(
  options: RingsBenchOptions,
): Promise<{ ring: CRing | null; status: RingsCStatus }> {
  if (options.sameCore) {
    return {
      ring: null,
      status: { ran: false, reason: "the C ring runs on two cores, not with --same-core" },
    };
  }
  const built = await CRing.build();
  if (!built.ok) return { ring: null, status: { ran: false, reason: built.error } };
  return { ring: built.value, status: { ran: true, compiler: built.value.compiler } };
}

async function measureCPoint(
  ring: CRing,
  options: RingsBenchOptions,
  layout: RingLayout,
  mode: RingMode,
  batch: number,
  ranFirst: boolean,
  progress: ProgressFn,
): Promise<RingsCFigures> {
  progress(`${layout} ${mode} batch ${batch}: C ring, ${options.runs + 1} runs`);
  const p = await ring.point({
    layout,
    queueSize: options.queueSize,
    batch,
    runs: options.runs,
    requests: options.requests,
    outstanding: options.outstanding,
    payload: options.payload,
    notify: mode === "notify",
  });
  return {
    nsPerRequest: spread(p.nsPerRun),
    kicksPerRequest: spread(p.kicksPerRun).median,
    interruptsPerRequest: spread(p.interruptsPerRun).median,
    handoffNs: p.handoffNs,
    checkedRequests: p.checkedRequests,
    truncatedRuns: p.truncatedRuns,
    ranFirst,
  };
}

async function measurePoint(
  pair: WorkerPair,
  options: RingsBenchOptions,
  layout: RingLayout,
  mode: RingMode,
  batch: number,
  progress: ProgressFn,
): Promise<RingsBenchRow> {
  const features = { eventIdx: true, indirect: false, inOrder: false };
  const placement = benchLayout(layout, options.queueSize, features);
  const memory = GuestMemory.create(placement.memoryBytes);
  const control = new SharedArrayBuffer(CTL_WORDS * 4);
  await pair.setup(memory.buffer, control, placement);
  const ctlView = new Int32Array(control);
  const requests = options.requests;
  const ns: number[] = [];
  const kicks: number[] = [];
  const interrupts: number[] = [];
  // The machine's cache-line hand-off cost right now: our VMs' two vCPUs are sometimes close
  // (a shared cache) and sometimes far apart, and every figure below scales with it.
  const handoff = spread([
    await pair.handoffNs(CALIBRATION_ROUNDS),
    await pair.handoffNs(CALIBRATION_ROUNDS),
    await pair.handoffNs(CALIBRATION_ROUNDS),
  ]).median;
  let checked = 0;
  let truncated = 0;
  for (let run = 0; run <= options.runs; run++) {
    const label = run === 0 ? "warm-up" : `run ${run}/${options.runs}`;
    progress(`${layout} ${mode} batch ${batch}: ${label}`);
    for (const f of [Ctl.KICKS, Ctl.INTERRUPTS, Ctl.DEVICE_REQUESTS, Ctl.DEVICE_SEQ_ERRORS]) {
      Atomics.store(ctlView, ctl(f), 0);
    }
    const r = await pair.run({
      cmd: "run",
      runId: pair.nextRunId(),
      requests,
      batch,
      mode,
      outstanding: options.outstanding,
      payload: options.payload,
      deadlineMs: RUN_DEADLINE_MS,
    });
    const seqErrors = Atomics.load(ctlView, ctl(Ctl.DEVICE_SEQ_ERRORS));
    if (r.tokenErrors > 0 || seqErrors > 0) {
      throw new Error(
        `${layout} batch ${batch}: ${r.tokenErrors} tokens and ${seqErrors} sequence numbers out of order`,
      );
    }
    if (r.completed === 0) throw new Error(`${layout} batch ${batch}: no request completed`);
    const seen = Atomics.load(ctlView, ctl(Ctl.DEVICE_REQUESTS));
    if (!r.truncated && seen !== r.completed) {
      throw new Error(
        `${layout} batch ${batch}: the device used ${seen} requests, the driver got ${r.completed} back`,
      );
    }
    checked += r.completed;
    if (r.truncated) truncated++;
    if (run === 0) continue;
    ns.push(r.elapsedNs / r.completed);
    kicks.push(Atomics.load(ctlView, ctl(Ctl.KICKS)) / r.completed);
    interrupts.push(Atomics.load(ctlView, ctl(Ctl.INTERRUPTS)) / r.completed);
  }
  return {
    layout,
    mode,
    batch,
    nsPerRequest: spread(ns),
    kicksPerRequest: spread(kicks).median,
    handoffNs: handoff,
    interruptsPerRequest: spread(interrupts).median,
    checkedRequests: checked,
    truncatedRuns: truncated,
  };
}

/**
 * Median, minimum and maximum of a non-empty list.
 *
 * @example
 * ```ts
 * import { spread } from "./rings.ts";
 * spread([3, 1, 2]); // { median: 2, min: 1, max: 3 }
 * ```
 */
export function spread(values: number[]): Spread {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1] };
}

function environment(): RingsBenchReport["environment"] {
  let cpuModel = "unknown";
  try {
    // node:os reads /proc/cpuinfo for us (Deno itself wants --allow-all for that file).
    cpuModel = cpus()[0]?.model?.trim() || cpuModel;
  } catch { /* no --allow-sys: leave unknown */ }
  return {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    cpus: navigator.hardwareConcurrency,
    cpuModel,
  };
}

type DriverDone = Extract<WorkerReply, { kind: "driver-done" }>;

/** The two bench workers and the message plumbing to them. */
class WorkerPair {
  private runId = 0;
  private constructor(private readonly driver: Worker, private readonly device: Worker) {}

  static start(): Promise<WorkerPair> {
    const url = new URL("./ring_worker.ts", import.meta.url);
    return Promise.resolve(
      new WorkerPair(new Worker(url, { type: "module" }), new Worker(url, { type: "module" })),
    );
  }

  nextRunId(): number {
    return ++this.runId;
  }

  async setup(
    memory: SharedArrayBuffer,
    control: SharedArrayBuffer,
    layout: BenchLayout,
  ): Promise<void> {
    // The driver initialises the ring; the device validates it afterwards.
    await this.ask(this.driver, { cmd: "setup", role: "driver", memory, control, layout }, "ready");
    await this.ask(this.device, { cmd: "setup", role: "device", memory, control, layout }, "ready");
  }

  /** Half a busy-poll round trip between the two workers: one cache line changing hands. */
  async handoffNs(rounds: number): Promise<number> {
    const device = this.ask(this.device, { cmd: "pingpong", rounds }, "pingpong-done");
    const driver = this.ask(this.driver, { cmd: "pingpong", rounds }, "pingpong-done");
    const [done] = await Promise.all([driver, device]);
    return (done as Extract<WorkerReply, { kind: "pingpong-done" }>).roundTripNs / 2;
  }

  async run(msg: Extract<WorkerRequest, { cmd: "run" }>): Promise<DriverDone> {
    const device = this.ask(this.device, msg, "device-done");
    const driver = this.ask(this.driver, msg, "driver-done") as Promise<DriverDone>;
    const [done] = await Promise.all([driver, device]);
    return done;
  }

  stop(): void {
    this.driver.postMessage({ cmd: "exit" } satisfies WorkerRequest);
    this.device.postMessage({ cmd: "exit" } satisfies WorkerRequest);
    // A worker still spinning would ignore the message: terminate as well.
    setTimeout(() => {
      this.driver.terminate();
      this.device.terminate();
    }, 100);
  }

  private ask(worker: Worker, msg: WorkerRequest, want: WorkerReply["kind"]): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<WorkerReply>) => {
        if (e.data.kind === "error") reject(new Error(e.data.message));
        else if (e.data.kind === want) resolve(e.data);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(e.message));
      };
      worker.postMessage(msg);
    });
  }
}
