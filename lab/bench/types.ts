/**
 * Options and results of `vlab bench rings`, shared by the runner (`rings.ts`), the report
 * printers (`report.ts`, `chart.ts`) and the CLI.
 *
 * @module
 */

import type { CStatus } from "./c_build.ts";

/** A ring layout. */
export type RingLayout = "split" | "packed";

/** How the two sides learn about new work. */
export type RingMode = "poll" | "notify";

/** What `vlab bench rings` is asked to measure. */
export interface RingsBenchOptions {
  /** Layouts to measure, in order. Default: split then packed. */
  layouts: RingLayout[];
  /** Batch sizes (requests posted before waiting for them all). Default 1…64. */
  batches: number[];
  /** Modes. Default: poll. */
  modes: RingMode[];
  /** Queue size (split: a power of two). Default 256. */
  queueSize: number;
  /** Timed runs per point; the median is reported. Default 5, at least 1. */
  runs: number;
  /** Requests per timed run. */
  requests: number;
  /** Keep up to `batch` requests in flight instead of closed batches. */
  outstanding: boolean;
  /**
   * Write each request's sequence number into its buffer and check it on the device side (one
   * more cache line per request). Off by default: ringtest, our C reference, touches no payload.
   */
  payload: boolean;
  /** Run the deterministic cache-line model as well. */
  cacheModel: boolean;
  /** Pin both workers to one CPU (set by the CLI after re-exec under `taskset`). */
  sameCore: boolean;
  /**
   * Also time each poll-mode point through the C ring (`c_ring.c`, compiled with the system's C
   * compiler), right before or after the JavaScript ring, for ratios from the same run.
   */
  vsC: boolean;
}

/** Median, minimum and maximum of a set of runs. */
export interface Spread {
  /** Median. */
  median: number;
  /** Minimum. */
  min: number;
  /** Maximum. */
  max: number;
}

/** One measured point: a layout, mode and batch size. */
export interface RingsBenchRow {
  /** Ring layout. */
  layout: RingLayout;
  /** poll or notify. */
  mode: RingMode;
  /** Batch size. */
  batch: number;
  /** Nanoseconds per request over the timed runs. */
  nsPerRequest: Spread;
  /** Available-buffer notifications (kicks) per request, median over runs (0 in poll mode). */
  kicksPerRequest: number;
  /** Used-buffer notifications (interrupts) per request, median over runs (0 in poll mode). */
  interruptsPerRequest: number;
  /**
   * Requests whose sequence number both sides checked, over the warm-up and timed runs
   * (the run fails on the first one out of order).
   */
  checkedRequests: number;
  /**
   * One cache line changing hands between the two workers, in ns (half a busy-poll ping-pong
   * round trip, measured before the point). ns/request divided by it estimates the lines
   * moved per request.
   */
  handoffNs: number;
  /** Runs stopped by the per-run deadline (their ns/request covers what completed). */
  truncatedRuns: number;
  /** Ring cache lines moved to a reader per request, by the cache model (with `cacheModel`). */
  linesPerRequest?: number;
  /** Ring-line invalidations per request, by the cache model (with `cacheModel`). */
  invalidationsPerRequest?: number;
  /** The same point through the C ring (with `vsC`, when a compiler was found). */
  c?: RingsCFigures;
}

/** The C ring's figures at one point (`vsC`). */
export interface RingsCFigures {
  /** Nanoseconds per request over the timed runs. */
  nsPerRequest: Spread;
  /** Kicks delivered per request, median over the timed runs (0 in poll mode). */
  kicksPerRequest: number;
  /** Interrupts delivered per request, median over the timed runs (0 in poll mode). */
  interruptsPerRequest: number;
  /** One cache line changing hands between the C threads, measured before the point. */
  handoffNs: number;
  /** Requests whose sequence number both C threads checked (warm-up included). */
  checkedRequests: number;
  /** Runs stopped by the per-run deadline. */
  truncatedRuns: number;
  /** Whether the C ring ran before the JavaScript ring at this point (the two take turns). */
  ranFirst: boolean;
}

/** Whether the C ring ran (`vsC`): the compiler that built it, or why it did not. */
export type RingsCStatus = CStatus;

/** The whole report. */
export interface RingsBenchReport {
  /** The options the run used. */
  options: RingsBenchOptions;
  /** Deno, V8 and CPU facts, for the record. */
  environment: { deno: string; v8: string; cpus: number; cpuModel: string };
  /** One row per layout, mode and batch. */
  results: RingsBenchRow[];
  /** The C ring's status (with `vsC`). */
  c?: RingsCStatus;
}

/** Progress callback: a short line describing what runs now. */
export type ProgressFn = (line: string) => void;

/** Each timed run of `vlab bench rings` stops here and reports what it completed (`truncatedRuns`). */
export const RUN_DEADLINE_MS = 5_000;
