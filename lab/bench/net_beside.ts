/**
 * A ping beside a flood from the same VM (`vlab bench net --beside-flood`): `a0` floods `b0` at
 * `--max` over one link, and while it does, `a0` pings `b0`. The flood keeps `a0`'s transmit ring
 * full, so this measures what a full ring does to other traffic of the same VM: how late the pings
 * leave (the time `count` pings took against `count − 1` intervals), their round trips (which then
 * include the frames queued ahead of them in the rings), their loss, and the flood's rate.
 *
 * @module
 */

import { Lab } from "../lab.ts";
import type { RingLayout } from "../topology/types.ts";
import {
  DEFAULT_PING_INTERVAL_MS,
  execOk,
  intervalArg,
  maxFloodArgv,
  median,
  pairTopology,
  spawnOk,
  warmUp,
} from "./net_run.ts";

/** The row: medians over runs. */
export interface BesideFloodRow {
  /** Row kind. */
  kind: "beside-flood";
  /** Ring layout of both NICs. */
  layout: RingLayout;
  /** The flood's Ethernet frame bytes. */
  frameSize: number;
  /** Pings per run. */
  count: number;
  /** Milliseconds between two pings. */
  intervalMs: number;
  /** Median round trip of each run, µs. */
  runsMedianUs: number[];
  /** Median of `runsMedianUs`. */
  medianUs: number;
  /** 99th percentile round trip, µs (median over runs). */
  p99Us: number;
  /** Pings without a reply, percent (median over runs). */
  lossPct: number;
  /**
   * How long the pings took over `count − 1` intervals (1.0: on time), each run: a request that
   * finds no room is sent again half an interval later (iputils' answer to `ENOBUFS`).
   */
  runsPace: number[];
  /** Median of `runsPace`. */
  pace: number;
  /** The flood's frames per second over its whole run (the sink's count), median over runs. */
  floodPps: number;
}

/** What one run measured. */
export interface BesideFloodRun {
  /** Median round trip, µs. */
  medianUs: number;
  /** 99th percentile, µs. */
  p99Us: number;
  /** Pings without a reply, percent. */
  lossPct: number;
  /** The pings' time over `count − 1` intervals. */
  pace: number;
  /** Frames per second the sink received. */
  floodPps: number;
}

/** How long the flood runs before the pings start, ms: past its first ring-full. */
const FLOOD_LEAD_MS = 500;

/**
 * One run on a fresh pair lab: a warm-up flood (`warmUp`), then a flood at `--max` with `count`
 * pings `intervalMs` apart beside it, from the same VM.
 *
 * @example
 * ```ts ignore
 * const r = await besideFloodRun("split", 64, { count: 50, intervalMs: 20, warmupSeconds: 1 });
 * console.log(r.pace, r.medianUs);
 * ```
 */
export async function besideFloodRun(
  layout: RingLayout,
  frameSize: number,
  o: { count: number; intervalMs?: number; warmupSeconds: number },
): Promise<BesideFloodRun> {
  const intervalMs = o.intervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const lab = await Lab.start(pairTopology(`bench-beside-${layout}`, layout, 1, 0, 256));
  try {
    await execOk(lab, "a0", ["ping", "10.0.0.2", "-c", "3", "-i", "0.01"]);
    await warmUp(lab, [{ from: "a0", to: "b0", dst: "10.0.0.2" }], frameSize, o.warmupSeconds);
    const pingMs = (o.count - 1) * intervalMs;
    const seconds = Math.ceil((FLOOD_LEAD_MS + pingMs) / 1000) + 2;
    const sink = (await spawnOk(lab, "b0", ["sink", "-t", String(seconds + 1)])).result;
    const flood = (await spawnOk(lab, "a0", maxFloodArgv("10.0.0.2", seconds, frameSize))).result;
    await new Promise((resolve) => setTimeout(resolve, FLOOD_LEAD_MS));
    const t0 = performance.now();
    const ping = await execOk(lab, "a0", [
      "ping",
      "10.0.0.2",
      "-c",
      String(o.count),
      "-i",
      intervalArg(intervalMs),
    ]);
    const tookMs = performance.now() - t0;
    await flood;
    const got = await sink;
    const rtt = ping.rttMs as unknown as { median: number; p99: number } | null;
    return {
      medianUs: rtt === null ? NaN : rtt.median * 1000,
      p99Us: rtt === null ? NaN : rtt.p99 * 1000,
      lossPct: ping.lossPct,
      pace: pingMs > 0 ? tookMs / pingMs : NaN,
      floodPps: got.pps,
    };
  } finally {
    await lab.stop();
  }
}

/**
 * The row: `runs` runs of {@linkcode besideFloodRun}.
 *
 * @example
 * ```ts ignore
 * const row = await besideFloodBench("split", 64, { pings: 50, runs: 3, warmupSeconds: 1 });
 * ```
 */
export async function besideFloodBench(
  layout: RingLayout,
  frameSize: number,
  o: { pings: number; pingIntervalMs?: number; runs: number; warmupSeconds: number },
  progress: (what: string) => void = () => {},
): Promise<BesideFloodRow> {
  const intervalMs = o.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const runs: BesideFloodRun[] = [];
  for (let i = 0; i < o.runs; i++) {
    progress(`ping beside a flood, ${layout} ${frameSize} B, run ${i + 1}/${o.runs}`);
    runs.push(
      await besideFloodRun(layout, frameSize, {
        count: o.pings,
        intervalMs,
        warmupSeconds: o.warmupSeconds,
      }),
    );
  }
  return {
    kind: "beside-flood",
    layout,
    frameSize,
    count: o.pings,
    intervalMs,
    runsMedianUs: runs.map((r) => r.medianUs),
    medianUs: median(runs.map((r) => r.medianUs)),
    p99Us: median(runs.map((r) => r.p99Us)),
    lossPct: median(runs.map((r) => r.lossPct)),
    runsPace: runs.map((r) => r.pace),
    pace: median(runs.map((r) => r.pace)),
    floodPps: median(runs.map((r) => r.floodPps)),
  };
}
