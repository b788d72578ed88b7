/**
 * `vlab bench wakeup`: what one thread wake-up costs, by how the thread sleeps. Two workers
 * ping-pong through the lab's doorbells (`wakeup_worker.ts`); a round trip is two wake-ups, as a
 * kick and its interrupt are. It compares `Atomics.waitAsync` on the worker's event loop (how
 * `lab/wire/loop.ts` sleeps when idle) with a blocking `Atomics.wait` in
 * bounded slices (how a lab's threads sleep while hot). Runs one mode at a time, in
 * one process. Given a {@linkcode CWakeup}, it times the same round trips between two C threads
 * in the kernel's futex last: what a wake-up costs the machine itself.
 *
 * @module
 */

import type { WakeupWorkerResult, WakeupWorkerStart } from "./wakeup_worker.ts";
import { createDoorbells, requestStop } from "../wire/doorbell.ts";
import type { CWakeup } from "./c_wakeup.ts";

/** A sleeping mode of the benchmark. */
export type WakeupMode = WakeupWorkerStart["mode"];

/** One row: a mode's round trips. */
export interface WakeupRow {
  /** How both sides slept: a mode of the workers, or `c-futex` (two C threads in futex waits). */
  mode: WakeupMode | "c-futex";
  /** Round trips measured. */
  rounds: number;
  /** Median round trip (two wake-ups), µs. */
  medianUs: number;
  /** 99th percentile, µs. */
  p99Us: number;
}

/** Options of {@linkcode runWakeupBench}. */
export interface WakeupBenchOptions {
  /** Modes, in order. */
  modes: WakeupMode[];
  /** Round trips per mode (bounded by the CLI). */
  rounds: number;
  /** Longest blocking slice, ms. */
  sliceMs: number;
}

/** Defaults of `vlab bench wakeup`. */
export const DEFAULT_WAKEUP_OPTIONS: WakeupBenchOptions = {
  modes: ["async", "block"],
  rounds: 2000,
  sliceMs: 2,
};

/** The `q` quantile of `values` (nearest rank; NaN for none). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

function spawn(start: WakeupWorkerStart): { worker: Worker; done: Promise<WakeupWorkerResult> } {
  const worker = new Worker(new URL("./wakeup_worker.ts", import.meta.url), { type: "module" });
  const done = new Promise<WakeupWorkerResult>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<WakeupWorkerResult>) => resolve(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`Wake-up worker failed: ${e.message}`));
    };
  });
  worker.postMessage(start);
  return { worker, done };
}

/**
 * Measure each mode's round trips.
 *
 * @example
 * ```ts ignore
 * import { runWakeupBench } from "./wakeup.ts";
 * const rows = await runWakeupBench({ modes: ["async", "block"], rounds: 500, sliceMs: 2 });
 * ```
 */
export async function runWakeupBench(
  options: WakeupBenchOptions,
  c?: CWakeup,
): Promise<WakeupRow[]> {
  const rows: WakeupRow[] = [];
  for (const mode of options.modes) {
    const bells = createDoorbells(2);
    const base = { mode, bells: bells.buffer as SharedArrayBuffer, sliceMs: options.sliceMs };
    const echo = spawn({ ...base, role: "echo", rounds: 0 });
    const init = spawn({ ...base, role: "initiator", rounds: options.rounds });
    try {
      const { rttUs } = await init.done;
      requestStop(bells, 1);
      await echo.done;
      rows.push(row(mode, rttUs));
    } finally {
      init.worker.terminate();
      echo.worker.terminate();
    }
  }
  if (c !== undefined) {
    rows.push(row("c-futex", (await c.measure(options.rounds, options.sliceMs)).rttUs));
  }
  return rows;
}

/** A row from all round trips: the first tenth (the JIT's warm-up, caches) is dropped. */
function row(mode: WakeupRow["mode"], rttUs: readonly number[]): WakeupRow {
  const kept = rttUs.slice(Math.floor(rttUs.length / 10));
  return { mode, rounds: kept.length, medianUs: quantile(kept, 0.5), p99Us: quantile(kept, 0.99) };
}

/**
 * The rows as a text table. With a `c-futex` row, a `×C` column gives each median against its
 * median.
 */
export function formatWakeupTable(rows: readonly WakeupRow[]): string {
  const c = rows.find((r) => r.mode === "c-futex");
  const lines = [`mode     rounds  median µs  p99 µs${c ? "     ×C" : ""}`];
  for (const r of rows) {
    const ratio = c ? `  ${(r.medianUs / c.medianUs).toFixed(2).padStart(5)}` : "";
    lines.push(
      `${r.mode.padEnd(7)}  ${String(r.rounds).padStart(6)}  ${
        r.medianUs.toFixed(1).padStart(9)
      }  ${r.p99Us.toFixed(1).padStart(6)}${ratio}`,
    );
  }
  return lines.join("\n");
}
