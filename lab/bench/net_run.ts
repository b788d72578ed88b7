/**
 * One throughput run of `vlab bench net` on a fresh lab (two VMs joined by one link), and the
 * helpers the net bench and the dashboard-overhead bench share: the pair topology, a workload
 * that must succeed, a median, the order of a round's cases. Every `vlab bench net` part and the
 * iommu and vsock benches import it; it imports none of them.
 *
 * @module
 */

import process from "node:process";
import { type ExecOutcome, Lab, type PlacementMode, type WaitMode } from "../lab.ts";
import { launchLab } from "../runner.ts";
import { planLab } from "../plan.ts";
import { topologyFromObject } from "../topology/mod.ts";
import type { RingLayout } from "../topology/types.ts";
import { perUnit, type WakeCounts, wakeCounts } from "./wake_counts.ts";

/** Median of a list (NaN when empty). */
export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? NaN
    : s.length % 2
    ? s[(s.length - 1) / 2]
    : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * The cases of round `round` in the order to measure them: `cases` rotated by `round`, so that
 * each leads a round in turn and none always follows another's lab (its workers ending, its
 * memory freed) or always meets the machine later in a round.
 *
 * @example
 * ```ts
 * import { roundOrder } from "./net_run.ts";
 * roundOrder(["split", "packed"], 1); // ["packed", "split"]
 * ```
 */
export function roundOrder<T>(cases: readonly T[], round: number): T[] {
  const k = ((round % cases.length) + cases.length) % cases.length;
  return [...cases.slice(k), ...cases.slice(0, k)];
}

/**
 * The CPU this process used over the next `ms`, percent of one core (every lab worker is a thread
 * of it).
 *
 * @example
 * ```ts
 * import { cpuPctOver } from "./net_run.ts";
 * const pct = await cpuPctOver(10);
 * ```
 */
export async function cpuPctOver(ms: number): Promise<number> {
  const before = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const used = process.cpuUsage(before);
  return (100 * (used.user + used.system) / 1000) / (performance.now() - t0);
}

/** The plan of `pairs` VM pairs, each joined by one link. */
export function pairTopology(
  name: string,
  layout: RingLayout,
  pairs: number,
  pollUs: number,
  queueSize: number,
  delayMs = 0,
  csum = true,
) {
  const vms: Record<string, unknown> = {};
  const links: unknown[] = [];
  for (let p = 0; p < pairs; p++) {
    const net = `10.${Math.floor(p / 250)}.${p % 250}`;
    vms[`a${p}`] = { nics: { eth0: { ip: `${net}.1/24` } } };
    vms[`b${p}`] = { nics: { eth0: { ip: `${net}.2/24` } } };
    links.push({
      name: `l${p}`,
      endpoints: [`a${p}:eth0`, `b${p}:eth0`],
      ...(delayMs > 0 ? { delay: `${delayMs}ms` } : {}),
    });
  }
  const t = topologyFromObject({
    name,
    defaults: {
      vm: { poll_us: pollUs },
      nic: {
        layout,
        queue_size: queueSize,
        // Without checksum offload: the default features less `csum`.
        ...(csum ? {} : { features: ["event_idx", "mrg_rxbuf"] }),
      },
    },
    vms,
    links,
  }, `<bench ${name}>`);
  if (!t.ok) throw new Error(`bench topology: ${t.error.map((i) => i.message).join("; ")}`);
  return planLab(t.value);
}

/** Run a workload that must succeed; its result. */
export async function execOk(
  lab: Lab,
  vm: string,
  argv: string[],
): Promise<Record<string, number>> {
  return resultOk(vm, argv, await lab.exec(vm, argv));
}

/**
 * Start a workload and resolve once it runs (a sink's port is bound: `Lab.spawn`); `result` is
 * what `execOk` would give. `signal` stops it (a server without `-t`), as `Lab.spawn`'s does.
 */
export async function spawnOk(
  lab: Lab,
  vm: string,
  argv: string[],
  signal?: AbortSignal,
): Promise<{ result: Promise<Record<string, number>> }> {
  const started = await lab.spawn(vm, argv, signal);
  const result = started.result.then((r) => resultOk(vm, argv, r));
  result.catch(() => {}); // thrown where it is awaited, not as an unhandled rejection
  return { result };
}

function resultOk(vm: string, argv: string[], r: ExecOutcome): Record<string, number> {
  if (!r.ok) throw new Error(`${vm}: ${argv.join(" ")}: ${r.message}`);
  return r.result as Record<string, number>;
}

/** What an attached dashboard did over the measured window. */
export interface DashboardUse {
  /** Its CPU use, percent of one core. */
  cpuPct: number;
  /** New snapshots it drew a second (it asks for one every 100 ms). */
  updatesPerSecond: number;
  /** What it drew into: a terminal's size ("160x50"), or "none" (it then draws at 80×24). */
  terminal: string;
  /**
   * The priority it took (`vlab dashboard`'s `lowerPriority`): "idle group" if it spent any of the
   * window in its idle CPU group (`groupPct` says how much), else "idle", "nice N"…
   */
  priority: string;
  /** The share of the window it spent in its idle CPU group, percent (it leaves it under floods). */
  groupPct: number;
}

/**
 * Attaches a dashboard to a registered lab: `startWindow` marks the start of the measured
 * window, `detach` ends the dashboard and says what it did over the window.
 */
export type DashboardAttacher = (
  labName: string,
) => Promise<{ startWindow(): void; detach(): Promise<DashboardUse> }>;

/** What one throughput run floods. */
export interface ThroughputRunOptions {
  /** Ring layout of both NICs. */
  layout: RingLayout;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** Seconds of measured flood. */
  seconds: number;
  /** Seconds of unmeasured flood before it (see `warmUp`; 0: none). */
  warmupSeconds: number;
  /** The VMs' busy-poll budget, µs. */
  pollUs: number;
  /** Queue size of both NICs. */
  queueSize: number;
  /** NICs with checksum offload (default true). */
  csum?: boolean;
  /** The lab's CPU placement (default: the lab's, `defaultPlacement`). */
  placement?: PlacementMode;
  /** How the lab's host workers sleep after work (default: the lab's). */
  hostWait?: WaitMode;
  /** How the lab's guests sleep after work (default: the lab's). */
  guestWait?: WaitMode;
}

/** One flow of a warm-up: `from` floods `dst`, which `to` receives. */
export interface FloodPath {
  /** The sending VM. */
  from: string;
  /** The receiving VM (a sink runs there during the warm-up). */
  to: string;
  /** The address flooded. */
  dst: string;
}

/**
 * The UDP port of the warm-up's floods and sinks: not the measured sinks' (9). The frames still
 * in the rings when a warm-up ends arrive after its sink has stopped; on a port of their own
 * they are dropped as `noListener` instead of being counted by the measured sink bound next.
 */
export const WARMUP_PORT = 9009;

/**
 * The argv of `udp-flood` to `dst` at full speed (`--max`) with `frameSize`-byte frames, for
 * `seconds` (`-t`); `extra` goes before `--max` (a port: `["-p", "9009"]`).
 *
 * @example
 * ```ts
 * import { maxFloodArgv } from "./net_run.ts";
 * maxFloodArgv("10.0.0.2", 2, 64).join(" "); // "udp-flood 10.0.0.2 --max -t 2 -s 64"
 * ```
 */
export function maxFloodArgv(
  dst: string,
  seconds: number,
  frameSize: number,
  extra: readonly string[] = [],
): string[] {
  return ["udp-flood", dst, ...extra, "--max", "-t", String(seconds), "-s", String(frameSize)];
}

/**
 * Flood every path at once for `seconds` at full speed, unmeasured, into sinks on
 * {@linkcode WARMUP_PORT} that stop with it (as iperf3's `--omit` skips a test's first
 * seconds). A fresh lab's workers spend their first second or so of a flood compiling its code,
 * moving frames at half their later rate or less (docs/performance.md): a measured flood that
 * started cold would average that in. Nothing is done for `seconds` ≤ 0. Returns the frames the
 * floods sent.
 *
 * @example
 * ```ts ignore
 * await warmUp(lab, [{ from: "a0", to: "b0", dst: "10.0.0.2" }], 64, 1);
 * ```
 */
export async function warmUp(
  lab: Lab,
  paths: readonly FloodPath[],
  frameSize: number,
  seconds: number,
): Promise<number> {
  if (!(seconds > 0)) return 0;
  const stop = new AbortController();
  const sinks: Promise<unknown>[] = [];
  try {
    for (const p of paths) {
      const argv = ["sink", "-p", String(WARMUP_PORT), "-t", "0"];
      sinks.push((await lab.spawn(p.to, argv, stop.signal)).result);
    }
    const flood = (p: FloodPath) =>
      execOk(lab, p.from, maxFloodArgv(p.dst, seconds, frameSize, ["-p", String(WARMUP_PORT)]));
    const sent = await Promise.all(paths.map(flood));
    return sent.reduce((n, f) => n + f.sent, 0);
  } finally {
    stop.abort();
    await Promise.allSettled(sinks);
  }
}

/**
 * One throughput run, after a warm-up (`warmUp`); with `attach`, a registered lab with a
 * dashboard attached to it; with `csum` false, NICs without checksum offload.
 */
export async function throughputRun(
  o: ThroughputRunOptions,
  attach?: DashboardAttacher,
): Promise<
  {
    pps: number;
    gbit: number;
    sentPps: number;
    lossPct: number;
    cpuPct: number;
    dashboard: DashboardUse | null;
    perFrame: WakeCounts;
  }
> {
  const { layout, frameSize, seconds, pollUs, queueSize, csum = true } = o;
  const plan = pairTopology(`bench-${layout}`, layout, 1, pollUs, queueSize, 0, csum);
  const options = { placement: o.placement, hostWait: o.hostWait, guestWait: o.guestWait };
  return await onPairLab(plan, options, attach, async (lab, dashboard) => {
    await execOk(lab, "a0", ["ping", "10.0.0.2", "-c", "1"]);
    await warmUp(lab, [{ from: "a0", to: "b0", dst: "10.0.0.2" }], frameSize, o.warmupSeconds);
    const sink = (await spawnOk(lab, "b0", ["sink", "-t", String(seconds + 1)])).result;
    dashboard?.startWindow();
    const counts0 = wakeCounts(lab);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const flood = await execOk(lab, "a0", maxFloodArgv("10.0.0.2", seconds, frameSize));
    const cpu = process.cpuUsage(cpu0);
    // The lab's whole process (every worker and the main thread), percent of one core.
    const cpuPct = (100 * (cpu.user + cpu.system) / 1000) / (performance.now() - t0);
    const got = await sink;
    const perFrame = perUnit(counts0, wakeCounts(lab), got.received);
    const used = dashboard ? await dashboard.detach() : null;
    return {
      pps: got.pps,
      gbit: got.gbitPerSecond,
      sentPps: flood.pps,
      lossPct: flood.sent > 0 ? 100 * (1 - got.received / flood.sent) : 0,
      cpuPct,
      dashboard: used,
      perFrame,
    };
  });
}

type AttachedDashboard = Awaited<ReturnType<DashboardAttacher>>;

/**
 * Runs `body` on a fresh lab of `plan`: with `attach`, a registered lab (`launchLab`) with a
 * dashboard attached, which is detached and stopped with the lab whether `body` succeeds or not
 * (a `detach` that `body` made already is not repeated); without it, a lab of this process.
 */
async function onPairLab<T>(
  plan: Parameters<typeof Lab.start>[0],
  options: Parameters<typeof Lab.start>[1],
  attach: DashboardAttacher | undefined,
  body: (lab: Lab, dashboard: AttachedDashboard | null) => Promise<T>,
): Promise<T> {
  const registered = attach ? await launchLab(plan) : null;
  const lab = registered ? registered.lab : await Lab.start(plan, options);
  let dashboard: AttachedDashboard | null = null;
  try {
    if (attach) {
      const attached = await attach(plan.name);
      let detaching: Promise<DashboardUse> | null = null;
      dashboard = {
        startWindow: () => attached.startWindow(),
        detach: () => detaching ??= attached.detach(),
      };
    }
    return await body(lab, dashboard);
  } finally {
    await dashboard?.detach().catch(() => null);
    if (registered) await registered.stop();
    else await lab.stop();
  }
}

/** What one ping run measured. */
export interface PingRun {
  /** Median round trip, µs. */
  medianUs: number;
  /** 99th percentile, µs. */
  p99Us: number;
  /** Thread wake-ups, kicks and interrupts per round trip, over the whole lab. */
  perPing: WakeCounts;
  /**
   * With a link delay: how late the delayed frames left their impairment stages, µs past their
   * due times, the mean over the measured pings (null without a delay).
   */
  releaseLateUs: number | null;
  /** What the attached dashboard did over the measured pings (null: none attached). */
  dashboard: DashboardUse | null;
}

/** The lab's impairment stages, summed: frames released at a due time, and how late in all (µs). */
function releaseLateness(lab: Lab): { delayed: number; lateUs: number } {
  let delayed = 0;
  let lateUs = 0;
  for (const w of lab.workerStats()) {
    for (const [k, v] of Object.entries(w.stats)) {
      if (k.endsWith("_impair_delayed")) delayed += v;
      else if (k.endsWith("_impair_late_seconds")) lateUs += v * 1e6;
    }
  }
  return { delayed, lateUs };
}

/** Long enough for every worker that worked to publish its statistics (every ~100 ms), ms. */
const STATS_SETTLE_MS = 250;

/** What one ping run measures. */
export interface PingRunOptions {
  /** Ring layout of both NICs. */
  layout: RingLayout;
  /** Pings measured. */
  count: number;
  /** Milliseconds between two pings (default {@linkcode DEFAULT_PING_INTERVAL_MS}). */
  intervalMs?: number;
  /** The VMs' busy-poll budget, µs. */
  pollUs: number;
  /** Queue size of both NICs. */
  queueSize: number;
  /** Link delay each way, ms (0: none). */
  delayMs: number;
  /**
   * Seconds of unmeasured pings before them (`warmUpPings`, 2 ms apart), then unmeasured pings
   * at the measured interval (`idleWarmupPings`; 0: none of either).
   */
  warmupSeconds: number;
  /** How the lab's host workers sleep after work (default: the lab's). */
  hostWait?: WaitMode;
  /** How the lab's guests sleep after work (default: the lab's). */
  guestWait?: WaitMode;
}

/** Unmeasured pings a second of warm-up sends (2 ms apart). */
export const WARMUP_PINGS_PER_SECOND = 500;

/**
 * Unmeasured pings at the measured interval (10 ms) after the 2 ms warm-up: a ping that follows
 * 10 ms of sleep runs code that pings 2 ms apart run seldom (each thread's path into and out of a
 * long sleep), and V8 compiles it while the first 200 or so such pings run. The first 200 pings
 * 10 ms apart after a 1 s warm-up had a p99 of 1.0–2.1 ms, the next 200 in the same lab 0.6–0.8
 * ms (docs/performance.md, "A ping's tail is its first 200 pings").
 */
export const IDLE_WARMUP_PINGS = 200;

/**
 * The interval of measured idle pings (and of `warmUpIdlePings`) unless a run asks for another,
 * ms: `vlab bench net --ping-interval`'s default.
 */
export const DEFAULT_PING_INTERVAL_MS = 10;

/** The longest the idle warm-up may take, ms: {@linkcode IDLE_WARMUP_PINGS} at the default interval. */
const IDLE_WARMUP_BUDGET_MS = IDLE_WARMUP_PINGS * DEFAULT_PING_INTERVAL_MS;

/**
 * How many unmeasured pings warm a ping run up at `intervalMs`: {@linkcode IDLE_WARMUP_PINGS},
 * or fewer when that many would take longer than they do at the default interval (two seconds):
 * 20 at 100 ms, 2 at 1 s.
 *
 * @example
 * ```ts
 * import { idleWarmupPings } from "./net_run.ts";
 * idleWarmupPings(10); // 200
 * idleWarmupPings(1000); // 2
 * ```
 */
export function idleWarmupPings(intervalMs: number): number {
  return Math.max(1, Math.min(IDLE_WARMUP_PINGS, Math.ceil(IDLE_WARMUP_BUDGET_MS / intervalMs)));
}

/**
 * `ping -i`'s argument for `ms` milliseconds.
 *
 * @example
 * ```ts
 * import { intervalArg } from "./net_run.ts";
 * intervalArg(10); // "0.01"
 * ```
 */
export function intervalArg(ms: number): string {
  return String(ms / 1000);
}

/**
 * Ping `dst` from `from` for `seconds`, 2 ms apart, unmeasured: as with floods (`warmUp`), a
 * fresh lab's first seconds of pings run cold (the first 200 pings after a lab starts took
 * 1.1–1.8 ms at the median where later ones took 0.7–1.2, docs/performance.md). Nothing is done
 * for `seconds` ≤ 0. Returns the pings sent.
 *
 * @example
 * ```ts ignore
 * await warmUpPings(lab, "a0", "10.0.0.2", 1);
 * ```
 */
export async function warmUpPings(
  lab: Lab,
  from: string,
  dst: string,
  seconds: number,
): Promise<number> {
  const count = Math.round(seconds * WARMUP_PINGS_PER_SECOND);
  if (!(count > 0)) return 0;
  const r = await execOk(lab, from, ["ping", dst, "-c", String(count), "-i", "0.002"]);
  return r.transmitted;
}

/**
 * Ping `dst` from `from` `count` times `intervalMs` apart (the measured interval, default
 * {@linkcode DEFAULT_PING_INTERVAL_MS}), unmeasured: after `warmUpPings`, this warms what only
 * pings after a long sleep run ({@linkcode IDLE_WARMUP_PINGS}). Nothing is done for `count` ≤ 0.
 * Returns the pings sent.
 *
 * @example
 * ```ts ignore
 * await warmUpIdlePings(lab, "a0", "10.0.0.2", IDLE_WARMUP_PINGS);
 * ```
 */
export async function warmUpIdlePings(
  lab: Lab,
  from: string,
  dst: string,
  count: number,
  intervalMs: number = DEFAULT_PING_INTERVAL_MS,
): Promise<number> {
  if (!(count > 0)) return 0;
  const argv = ["ping", dst, "-c", String(count), "-i", intervalArg(intervalMs)];
  return (await execOk(lab, from, argv)).transmitted;
}

/**
 * One ping run on a fresh pair lab at idle: `count` pings `intervalMs` apart (after three
 * unmeasured ones and the warm-ups: `warmUpPings`, then `warmUpIdlePings`); with `attach`, a
 * registered lab with a dashboard attached for the whole run.
 *
 * @example
 * ```ts ignore
 * const r = await pingRun({
 *   layout: "split", count: 200, pollUs: 0, queueSize: 256, delayMs: 0, warmupSeconds: 1,
 * });
 * console.log(r.medianUs, r.p99Us);
 * ```
 */
export async function pingRun(o: PingRunOptions, attach?: DashboardAttacher): Promise<PingRun> {
  const { layout, count, pollUs, queueSize, delayMs } = o;
  const intervalMs = o.intervalMs ?? DEFAULT_PING_INTERVAL_MS;
  const plan = pairTopology(`bench-ping-${layout}`, layout, 1, pollUs, queueSize, delayMs);
  const options = { hostWait: o.hostWait, guestWait: o.guestWait };
  return await onPairLab(plan, options, attach, async (lab, dashboard) => {
    await execOk(lab, "a0", ["ping", "10.0.0.2", "-c", "3", "-i", "0.01"]);
    await warmUpPings(lab, "a0", "10.0.0.2", o.warmupSeconds);
    const idle = o.warmupSeconds > 0 ? idleWarmupPings(intervalMs) : 0;
    await warmUpIdlePings(lab, "a0", "10.0.0.2", idle, intervalMs);
    // Published statistics (release lateness, blocking wake-ups) are up to ~100 ms stale: let
    // the warm-up's be published before the counts are taken, and the run's after it.
    const settle = () => new Promise((resolve) => setTimeout(resolve, STATS_SETTLE_MS));
    await settle();
    const lateBefore = releaseLateness(lab);
    dashboard?.startWindow();
    const before = wakeCounts(lab);
    const measured = ["-c", String(count), "-i", intervalArg(intervalMs)];
    const r = await execOk(lab, "a0", ["ping", "10.0.0.2", ...measured]);
    const doorbells = wakeCounts(lab);
    await settle();
    const perPing = perUnit(before, { ...doorbells, blocking: wakeCounts(lab).blocking }, count);
    let releaseLateUs: number | null = null;
    if (delayMs > 0) {
      const after = releaseLateness(lab);
      const delayed = after.delayed - lateBefore.delayed;
      releaseLateUs = delayed > 0 ? (after.lateUs - lateBefore.lateUs) / delayed : null;
    }
    const rtt = r.rttMs as unknown as { median: number; p99: number };
    const used = dashboard ? await dashboard.detach() : null;
    return {
      medianUs: rtt.median * 1000,
      p99Us: rtt.p99 * 1000,
      perPing,
      releaseLateUs,
      dashboard: used,
    };
  });
}
