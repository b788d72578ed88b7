/**
 * `vlab bench net`: what the lab does with real traffic, measured on real labs.
 *
 * - **Throughput**: for each layout and frame size, a `pair` lab; `b` runs `sink`, `a` runs
 *   `udp-flood --max`; the figure is what the sink received (frames per second, and Gbit/s of
 *   Ethernet frame bytes), with what the flood sent and the link dropped beside it, after
 *   `warmupSeconds` of unmeasured flood in the same lab (`warmUp`: a fresh lab runs cold for
 *   its first second). The layouts take turns run by run, and packed's rate over split's is
 *   given run by run.
 * - **The runtime's limit**: the same frame sizes through a bare link ring between two
 *   busy-polling workers (copy in, copy out, no virtio, no doorbells); the lab's ratio to it.
 * - **Latency**: ping round trips at idle (median and p99), per layout, `runs` fresh labs each
 *   (the layouts in turn), after `warmupSeconds` of unmeasured pings (`warmUpPings`, then
 *   `warmUpIdlePings`).
 * - **vhost-pci**: the same two VMs over a virtio-net link and over a vhost-pci link, the frame
 *   rate at each frame size and the ping median (`net_vhost_pci.ts`).
 * - **Scale**: `up` time and resident memory for labs of N VMs (N/2 linked pairs), and the CPU
 *   an idle 16-VM lab burns; the sizes take turns, each lab started on a quiet process.
 * - Instead of the rest, with `besideFlood`: pings from a VM that floods the same link
 *   (`net_beside.ts`); with `star`: the `star` topology under two floods (`net_star.ts`); with
 *   `dashboard`: what an attached dashboard costs (`net_dashboard.ts`).
 *
 * Everything is reported as medians of `runs` runs, measured in one process, one at a time.
 *
 * @module
 */

import { defaultWaitMode, Lab, type PlacementMode, type WaitMode } from "../lab.ts";
import {
  dashboardOverhead,
  dashboardPing,
  type DashboardPingRow,
  type DashboardRow,
  priorityCell,
} from "./net_dashboard.ts";
import { formatVhostPciRows, vhostPciComparison, type VhostPciRow } from "./net_vhost_pci.ts";
import type { RingLayout } from "../topology/types.ts";
import { LinkRing } from "../host/link_ring.ts";
import { LINK_RING_SLOTS, linkSlotBytes } from "../plan.ts";
import { DEFAULT_MTU } from "../../devices/net/config.ts";
import type { LinkWorkerResult, LinkWorkerStart } from "./link_worker.ts";
import {
  cpuPctOver,
  type DashboardAttacher,
  DEFAULT_PING_INTERVAL_MS,
  median,
  pairTopology,
  type PingRun,
  pingRun,
  roundOrder,
  spawnOk,
  throughputRun,
} from "./net_run.ts";
import type { WakeCounts } from "./wake_counts.ts";
import { starBench, type StarRow } from "./net_star.ts";
import { besideFloodBench, type BesideFloodRow } from "./net_beside.ts";
import { cWakeFloorUs, wakeFloorUs, type WakeRoundTrips, wakeRoundTrips } from "./wake_floor.ts";
import { type NetComparison, netComparisons } from "./net_compare.ts";

export type { DashboardAttacher } from "./net_run.ts";
export { cWakeFloorUs, wakeFloorUs } from "./wake_floor.ts";
export { DEFAULT_PING_INTERVAL_MS, throughputRun } from "./net_run.ts";
export { type NetComparison, netComparisons, pairedRatios } from "./net_compare.ts";

/** What `vlab bench net` measures. */
export interface NetBenchOptions {
  /** Layouts. */
  layouts: RingLayout[];
  /** Ethernet frame sizes (60…1514). */
  frameSizes: number[];
  /** Seconds of flood per run. */
  seconds: number;
  /**
   * Seconds of unmeasured flood before each measured one, and of unmeasured pings before the
   * measured pings, in the same lab (a fresh lab's first seconds run cold; see `warmUp` and
   * `warmUpPings`).
   */
  warmupSeconds: number;
  /** Runs per point; medians are reported. */
  runs: number;
  /** Pings per latency point. */
  pings: number;
  /**
   * Milliseconds between two pings, in every ping the benchmark measures (the latency rows, the
   * dashboard's, vhost-pci's, the veth's; default {@linkcode DEFAULT_PING_INTERVAL_MS}).
   */
  pingIntervalMs?: number;
  /** Link delays (ms, each way) at which ping is measured; 0 is the lab's own latency. */
  delaysMs: number[];
  /** Lab sizes for the scale rows (empty: skip). */
  scale: number[];
  /** Seconds over which an idle 16-VM lab's CPU is measured (0: skip). */
  idleSeconds: number;
  /** The VMs' busy-poll budget, µs (the topology's `poll_us`). */
  pollUs: number;
  /** Queue size of the throughput and latency labs' NICs. */
  queueSize: number;
  /** Also measure the dashboard's cost (needs an attacher; see `runNetBench`). */
  dashboard: boolean;
  /** Compare a virtio-net link with a vhost-pci link between the same two VMs (default true). */
  vhostPci?: boolean;
  /** Measure instead the `star` topology under two floods at once (more busy workers than cores). */
  star?: boolean;
  /**
   * Measure instead pings from a VM that floods the same link at `--max` (`net_beside.ts`): how
   * late they leave and how long they take while its transmit ring is full.
   */
  besideFlood?: boolean;
  /**
   * Checksum offload settings of the throughput rows (default `[true]`); both measure its gain,
   * their runs alternated.
   */
  csum?: boolean[];
  /**
   * CPU placement of the throughput labs (default `["auto"]`, the lab's default); `auto,off`
   * measures what placing each VM's threads on one CPU buys, their runs alternated.
   */
  placement?: PlacementMode[];
  /**
   * How the host workers of the throughput and ping labs sleep after work (default: the lab's,
   * `defaultWaitMode`); `hot,async` measures what blocking waits buy, their runs alternated.
   */
  hostWait?: WaitMode[];
  /**
   * How the guests of the throughput and ping labs sleep after work (default: the lab's,
   * `defaultWaitMode`); `hot,async` measures what their blocking waits buy, runs alternated.
   */
  guestWait?: WaitMode[];
}

/** How long the floods warmed up, for the report's first line (none in older reports). */
function warmupNote(o: NetBenchOptions): string {
  const w = o.warmupSeconds ?? 0;
  return w > 0 ? ` after ${w} s of warm-up` : "";
}

/** `1 run`, `3 runs`. */
const runsWord = (n: number) => `${n} run${n === 1 ? "" : "s"}`;

/** Defaults of `vlab bench net`. */
export const DEFAULT_NET_OPTIONS: NetBenchOptions = {
  layouts: ["split", "packed"],
  frameSizes: [64, 1500],
  seconds: 2,
  warmupSeconds: 1,
  runs: 3,
  pings: 200,
  delaysMs: [0],
  scale: [2, 16, 64],
  idleSeconds: 3,
  pollUs: 0,
  queueSize: 256,
  dashboard: false,
  vhostPci: true,
};

/** A throughput point. */
export interface ThroughputRow {
  /** Row kind. */
  kind: "throughput";
  /** Ring layout of both NICs. */
  layout: RingLayout;
  /** Whether both NICs offered checksum offload (`csum`). */
  csum: boolean;
  /** The lab's CPU placement (absent in older reports: `auto`). */
  placement?: PlacementMode;
  /** How its host workers slept after work (absent in older reports: `async`, or the lab's). */
  hostWait?: WaitMode;
  /** How its guests slept after work (absent in older reports: `async`). */
  guestWait?: WaitMode;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** Queue size of both NICs. */
  queueSize: number;
  /** Frames per second the sink received (median of runs). */
  pps: number;
  /** Gbit/s of frame bytes the sink received (median of runs). */
  gbitPerSecond: number;
  /** Frames per second the flood sent (median of runs). */
  sentPps: number;
  /** Percent of sent frames that did not arrive (median of runs). */
  lossPct: number;
  /** Received pps of each run. */
  runsPps: number[];
  /** The bare link ring's pps at this frame size (median of the runs, each right before a lab run). */
  barePps: number;
  /** Median over the runs of the lab's pps divided by the bare ring's pps measured just before. */
  ratioToBare: number;
  /** CPU the lab's process used during the flood, percent of one core (median). */
  cpuPct: number;
  /** CPU time per received frame, µs (from `cpuPct` and `pps`). */
  cpuUsPerFrame: number;
  /** Thread wake-ups, kicks and interrupts per received frame, over the whole lab (median). */
  perFrame: WakeCounts;
}

/** A latency point. */
export interface LatencyRow {
  /** Row kind. */
  kind: "latency";
  /** Ring layout. */
  layout: RingLayout;
  /** How its host workers slept after work (absent in older reports). */
  hostWait?: WaitMode;
  /** How its guests slept after work (absent in older reports: `async`). */
  guestWait?: WaitMode;
  /** Pings sent. */
  count: number;
  /** Milliseconds between two pings (absent in older reports: 10). */
  intervalMs?: number;
  /** Link delay each way (netem `delay`), ms. */
  delayMs: number;
  /** Median round trip, µs: the median of the runs' medians. */
  rttMedianUs: number;
  /** 99th percentile, µs: the median of the runs' p99s. */
  rttP99Us: number;
  /** Each run's median round trip, µs, in run order (a fresh lab each). */
  runsMedianUs: number[];
  /** Each run's p99, µs, in run order. */
  runsP99Us: number[];
  /** Thread wake-ups, kicks and interrupts per round trip, over the whole lab (median of runs). */
  perPing: WakeCounts;
  /**
   * With a delay: the mean of how late delayed frames left their impairment stages, µs past due
   * (the workers' timer precision; median of the runs; null without a delay).
   */
  releaseLateUs: number | null;
  /**
   * A doorbell round trip between two workers sleeping in `waitAsync` (two wake-ups, `vlab bench
   * wakeup`'s `async` median), measured once per report before the pings, µs; null if not measured.
   */
  wakeRoundTripUs: number | null;
  /**
   * The same between two workers sleeping in blocking slices (`vlab bench wakeup`'s `block`
   * median), µs; absent in older reports, whose floor counts every wake-up at `wakeRoundTripUs`.
   */
  wakeRoundTripBlockUs?: number | null;
  /**
   * The same between two C threads in futex waits (`vlab bench wakeup --vs-c`'s `c-futex`
   * median), µs: what a wake-up costs the machine itself; null when it was not measured
   * (`cWakeNotMeasured` says why), absent in older reports.
   */
  cWakeRoundTripUs?: number | null;
  /** Why `cWakeRoundTripUs` is null, in one clause (no C compiler, say). */
  cWakeNotMeasured?: string;
}

/** The lab size whose idle CPU `vlab bench net` measures (the other sizes print `-`). */
export const IDLE_CPU_VMS = 16;

/** How long the idle lab settles before its CPU is measured, ms (after 300 ms up). */
const IDLE_SETTLE_MS = 1000;

/**
 * Why the idle-CPU figure was not measured (one clause), or null when it was or when there is no
 * scale table to print it in (`--scale none`).
 *
 * @example
 * ```ts
 * import { idleCpuSkipped } from "./net.ts";
 * idleCpuSkipped({ scale: [2, 64], idleSeconds: 3 });
 * // "it is measured on the 16-VM lab only, and --scale 2,64 has none"
 * ```
 */
export function idleCpuSkipped(
  options: Pick<NetBenchOptions, "scale" | "idleSeconds">,
): string | null {
  if (options.scale.length === 0) return null;
  if (options.idleSeconds === 0) return "--idle-seconds 0 skips it";
  if (!options.scale.includes(IDLE_CPU_VMS)) {
    return `it is measured on the ${IDLE_CPU_VMS}-VM lab only, and --scale ${
      options.scale.join(",")
    } has none`;
  }
  return null;
}

/** A scale point. */
export interface ScaleRow {
  /** Row kind. */
  kind: "scale";
  /** VMs in the lab. */
  vms: number;
  /** Workers the lab runs. */
  workers: number;
  /** Time from start to every guest at DRIVER_OK, ms (median of the runs). */
  upMs: number;
  /** That time in each run, ms, in run order. */
  runsUpMs: number[];
  /**
   * Resident memory of the whole process with the lab up, MiB, in the first run (the sizes in
   * ascending order there; later runs would count what earlier labs left in the process).
   */
  rssMiB: number;
  /**
   * CPU the idle lab used, percent of one core (median of the runs; measured for
   * {@linkcode IDLE_CPU_VMS} VMs only, else null: see {@linkcode idleCpuSkipped}), from 1.3 s
   * after it was up (0.3 s until 2026-12-06, which read about a point more).
   */
  idleCpuPct: number | null;
  /**
   * CPU the same lab used while every VM served `udp-echo` and no datagram came, percent of one
   * core (as `idleCpuPct`; null where it is). A server waiting for traffic should cost what an
   * idle VM does: a workload that polled its wait (100 ms steps until 2026-12-06) did not.
   */
  servingCpuPct: number | null;
}

/** One row of the report. */
export type NetBenchRow =
  | ThroughputRow
  | LatencyRow
  | ScaleRow
  | DashboardRow
  | DashboardPingRow
  | StarRow
  | BesideFloodRow
  | VhostPciRow;

/** The report. */
export interface NetBenchReport {
  /** When it ran. */
  date: string;
  /** CPUs of the machine. */
  cpus: number;
  /** Options used. */
  options: NetBenchOptions;
  /** Rows, in the order measured. */
  rows: NetBenchRow[];
}

/** Frames per second through a bare link ring between two busy-polling workers. */
export async function bareRingPps(frameSize: number, seconds: number): Promise<number> {
  // The ring a lab gives a link between NICs of the default MTU, as the benchmark's labs have.
  const ring = LinkRing.create(LINK_RING_SLOTS, linkSlotBytes(DEFAULT_MTU));
  const done = new SharedArrayBuffer(4);
  const url = new URL("./link_worker.ts", import.meta.url);
  const run = (role: "producer" | "consumer") =>
    new Promise<LinkWorkerResult>((resolve, reject) => {
      const w = new Worker(url, { type: "module" });
      w.onmessage = (e) => {
        w.terminate();
        resolve(e.data);
      };
      w.onerror = (e) => {
        e.preventDefault();
        w.terminate();
        reject(new Error(e.message));
      };
      const msg: LinkWorkerStart = { role, ring: ring.buffer, frameSize, ms: seconds * 1000, done };
      w.postMessage(msg);
    });
  const [, consumer] = await Promise.all([run("producer"), run("consumer")]);
  return consumer.frames / consumer.seconds;
}

/**
 * A throughput or ping row's name in the tables: its layout, then each setting that differs among
 * `rows` (`csum on|off`, `cpus auto|off`, `wait hot|async` for host workers, `guest hot|async`),
 * so that two rows of one layout read apart.
 *
 * @example
 * ```ts
 * import { rowName } from "./net.ts";
 * import type { LatencyRow } from "./net.ts";
 * const hot = { layout: "split", hostWait: "hot" } as LatencyRow;
 * rowName(hot, [hot, { ...hot, hostWait: "async" }]); // "split wait hot"
 * ```
 */
export function rowName(
  r: ThroughputRow | LatencyRow,
  rows: readonly (ThroughputRow | LatencyRow)[],
): string {
  const tp = (x: ThroughputRow | LatencyRow): x is ThroughputRow => x.kind === "throughput";
  let name = r.layout;
  if (tp(r)) {
    if (rows.some((x) => tp(x) && x.csum === false)) {
      name += ` csum ${r.csum === false ? "off" : "on"}`;
    }
    if (rows.some((x) => tp(x) && x.placement === "off")) name += ` cpus ${r.placement ?? "auto"}`;
  }
  if (r.hostWait && rows.some((x) => x.hostWait === "async")) name += ` wait ${r.hostWait}`;
  if (r.guestWait && rows.some((x) => x.guestWait === "async")) name += ` guest ${r.guestWait}`;
  return name;
}

/**
 * How far a delayed ping's median lies above what the delay alone would give (twice the delay
 * plus the same layout's median without delay, from the same run), in percent; null for a row
 * without delay or with no such row to compare with.
 *
 * @example
 * ```ts ignore
 * delayOvershootPct(rowWith2ms, rows); // 4.2: the median is 4.2 % above 4 ms plus the idle one
 * ```
 */
export function delayOvershootPct(row: LatencyRow, rows: readonly LatencyRow[]): number | null {
  if (row.delayMs <= 0) return null;
  const idle = rows.find((r) =>
    r.delayMs === 0 && r.layout === row.layout && r.hostWait === row.hostWait &&
    r.guestWait === row.guestWait
  );
  if (!idle) return null;
  const expected = 2 * row.delayMs * 1000 + idle.rttMedianUs;
  return (row.rttMedianUs / expected - 1) * 100;
}

/**
 * From this many milliseconds between two pings, the idle lab's own wake-ups (the watchdog's rings
 * of idle device workers, a few a second) weigh on each ping's count: the report says so.
 */
const SPARSE_PING_MS = 50;

/** A latency row from `runs` ping runs of one layout (each a fresh lab): medians over the runs. */
function latencyRow(
  layout: RingLayout,
  count: number,
  intervalMs: number,
  delayMs: number,
  runs: readonly PingRun[],
  wakeRoundTrip: WakeRoundTrips | null,
): LatencyRow {
  const blocking = runs.map((r) => r.perPing.blocking).filter((v): v is number => v !== undefined);
  const late = runs.map((r) => r.releaseLateUs).filter((v): v is number => v !== null);
  return {
    kind: "latency",
    layout,
    count,
    intervalMs,
    delayMs,
    rttMedianUs: median(runs.map((r) => r.medianUs)),
    rttP99Us: median(runs.map((r) => r.p99Us)),
    runsMedianUs: runs.map((r) => r.medianUs),
    runsP99Us: runs.map((r) => r.p99Us),
    perPing: {
      wakeups: median(runs.map((r) => r.perPing.wakeups)),
      kicks: median(runs.map((r) => r.perPing.kicks)),
      interrupts: median(runs.map((r) => r.perPing.interrupts)),
      ...(blocking.length === runs.length ? { blocking: median(blocking) } : {}),
    },
    releaseLateUs: late.length > 0 ? median(late) : null,
    wakeRoundTripUs: wakeRoundTrip?.asyncUs ?? null,
    wakeRoundTripBlockUs: wakeRoundTrip?.blockUs ?? null,
    cWakeRoundTripUs: wakeRoundTrip?.cUs ?? null,
    ...(wakeRoundTrip?.cNotMeasured ? { cWakeNotMeasured: wakeRoundTrip.cNotMeasured } : {}),
  };
}

/** Up time, resident memory and (for 16 VMs) idle CPU of an N-VM lab. */
async function scale(
  vms: number,
  idleSeconds: number,
  pollUs: number,
  queueSize: number,
): Promise<ScaleRow> {
  const plan = pairTopology(
    `bench-scale-${vms}`,
    "split",
    Math.max(1, Math.floor(vms / 2)),
    pollUs,
    queueSize,
  );
  const lab = await Lab.start(plan, { readyTimeoutMs: 120_000 });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const rssMiB = Deno.memoryUsage().rss / 2 ** 20;
    let idleCpuPct: number | null = null;
    let servingCpuPct: number | null = null;
    if (vms === IDLE_CPU_VMS && idleSeconds > 0) {
      // A second more to settle: read 300 ms after the lab was up, the window still held its
      // workers' start-up (about a point more than the serving window read after it).
      await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS));
      idleCpuPct = await cpuPctOver(idleSeconds * 1000);
      servingCpuPct = await servingCpuPctOver(lab, idleSeconds * 1000);
    }
    return {
      kind: "scale",
      vms: plan.vms.length,
      workers: plan.threads.length,
      upMs: lab.upMs,
      runsUpMs: [lab.upMs],
      rssMiB,
      idleCpuPct,
      servingCpuPct,
    };
  } finally {
    await lab.stop();
    // A big lab's workers give their memory back for seconds after `stop` (docs/performance.md,
    // "A lab that stops at once when its process exits"): the next lab would start on a busy
    // machine.
    await quietCpu();
  }
}

/**
 * Resolve once the process used under `maxPct` of one core over a `windowMs` window, or after
 * `limitMs`. Returns how long it waited, ms.
 *
 * @example
 * ```ts ignore
 * import { quietCpu } from "./net.ts";
 * await quietCpu(); // after a lab's stop, before the next measurement
 * ```
 */
export async function quietCpu(maxPct = 5, windowMs = 300, limitMs = 15_000): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    if (await cpuPctOver(windowMs) < maxPct) break;
  }
  return performance.now() - t0;
}

/** The CPU this process used over the next `ms`, percent of one core (all its threads). */
/**
 * CPU the process used over `ms`, percent of one core, while every VM of `lab` served
 * `udp-echo` (started, left waiting, stopped after): what servers waiting for traffic cost.
 * Throws when a server received anything (the figure would not be a wait's).
 *
 * @example
 * ```ts ignore
 * import { servingCpuPctOver } from "./net.ts";
 * const pct = await servingCpuPctOver(lab, 3000);
 * ```
 */
export async function servingCpuPctOver(lab: Lab, ms: number): Promise<number> {
  const stop = new AbortController();
  const served = await Promise.all(
    lab.plan.vms.map((vm) => spawnOk(lab, vm.name, ["udp-echo"], stop.signal)),
  );
  let pct: number;
  try {
    await new Promise((r) => setTimeout(r, 300)); // the servers' start-up is not their wait
    pct = await cpuPctOver(ms);
  } finally {
    stop.abort();
  }
  // Each reports what it served: nothing, or the wait was not a server's.
  for (const [i, s] of served.entries()) {
    const r = await s.result;
    if (r.received !== 0) {
      throw new Error(`${lab.plan.vms[i].name}: udp-echo received ${r.received} datagrams`);
    }
  }
  return pct;
}

/**
 * Run the benchmark. `progress` is called before each measurement; each row is pushed on `rows`
 * as soon as it is measured (the report's rows are that array), so that a caller can report
 * what a failed or interrupted run measured.
 *
 * @example
 * ```ts ignore
 * import { DEFAULT_NET_OPTIONS, runNetBench } from "./net.ts";
 * const report = await runNetBench({ ...DEFAULT_NET_OPTIONS, runs: 1, scale: [] });
 * ```
 */
export async function runNetBench(
  options: NetBenchOptions,
  progress: (what: string) => void = () => {},
  attach?: DashboardAttacher,
  rows: NetBenchRow[] = [],
): Promise<NetBenchReport> {
  if (options.besideFlood) {
    for (const layout of options.layouts) {
      for (const size of options.frameSizes) {
        rows.push(await besideFloodBench(layout, size, options, progress));
      }
    }
    return { date: new Date().toISOString(), cpus: navigator.hardwareConcurrency, options, rows };
  }
  if (options.star) {
    for (const layout of options.layouts) {
      for (const size of options.frameSizes) {
        rows.push(await starBench(layout, size, options, progress));
      }
    }
    return { date: new Date().toISOString(), cpus: navigator.hardwareConcurrency, options, rows };
  }
  if (options.dashboard) {
    if (!attach) throw new Error("measuring the dashboard's cost needs a way to attach one");
    for (const layout of options.layouts) {
      for (const size of options.frameSizes) {
        rows.push(await dashboardOverhead(layout, size, options, attach, progress));
      }
      rows.push(await dashboardPing(layout, options, attach, progress));
    }
    return { date: new Date().toISOString(), cpus: navigator.hardwareConcurrency, options, rows };
  }
  // Each variant is a checksum offload setting, a CPU placement and a way to wait (host workers'
  // and guests').
  const hostWaits = options.hostWait ?? [defaultWaitMode()];
  const guestWaits = options.guestWait ?? [defaultWaitMode()];
  const waits = hostWaits.flatMap((hostWait) =>
    guestWaits.map((guestWait) => ({ hostWait, guestWait }))
  );
  const waitNote = (w: { hostWait: WaitMode; guestWait: WaitMode }) =>
    (hostWaits.length > 1 ? `, host wait ${w.hostWait}` : "") +
    (guestWaits.length > 1 ? `, guest wait ${w.guestWait}` : "");
  const variants = (options.csum ?? [true]).flatMap((csum) =>
    (options.placement ?? ["auto"]).flatMap((placement) =>
      waits.map((w) => ({ csum, placement, ...w }))
    )
  );
  const variantNote = (
    v: { csum: boolean; placement: PlacementMode; hostWait: WaitMode; guestWait: WaitMode },
  ) =>
    [
      (options.csum ?? [true]).length > 1 ? `, csum ${v.csum ? "on" : "off"}` : "",
      (options.placement ?? ["auto"]).length > 1 ? `, placement ${v.placement}` : "",
      waitNote(v),
    ].join("");
  // Layouts and offload settings alternate run by run at each size, so that the machine's drift
  // falls on each alike (packed against split is one of the speed issue's targets), each
  // leading a round in turn (`roundOrder`); rows come out layout by layout.
  const byLayout = new Map(options.layouts.map((l) => [l, [] as ThroughputRow[]]));
  for (const size of options.frameSizes) {
    const runsOf = options.layouts.map(() =>
      variants.map(() => [] as Awaited<ReturnType<typeof throughputRun>>[])
    );
    const bareOf = options.layouts.map(() => variants.map(() => [] as number[]));
    const pairs = options.layouts.flatMap((_, j) => variants.map((_, k) => [j, k] as const));
    for (let i = 0; i < options.runs; i++) {
      for (const [j, k] of roundOrder(pairs, i)) {
        const layout = options.layouts[j];
        const what = variantNote(variants[k]);
        // The runtime's limit is measured right before each run: this machine's cross-core
        // hand-off changes by 4x from one minute to the next, and the ratio cancels it.
        progress(`bare link ring, ${size}-byte frames, run ${i + 1}/${options.runs}`);
        bareOf[j][k].push(await bareRingPps(size, 0.5));
        progress(`${layout}, ${size}-byte frames${what}, run ${i + 1}/${options.runs}`);
        runsOf[j][k].push(
          await throughputRun({ ...options, layout, frameSize: size, ...variants[k] }),
        );
      }
    }
    for (let j = 0; j < options.layouts.length; j++) {
      for (let k = 0; k < variants.length; k++) {
        const runs = runsOf[j][k];
        const bare = bareOf[j][k];
        byLayout.get(options.layouts[j])!.push({
          kind: "throughput",
          layout: options.layouts[j],
          ...variants[k],
          frameSize: size,
          queueSize: options.queueSize,
          pps: median(runs.map((r) => r.pps)),
          gbitPerSecond: median(runs.map((r) => r.gbit)),
          sentPps: median(runs.map((r) => r.sentPps)),
          lossPct: median(runs.map((r) => r.lossPct)),
          runsPps: runs.map((r) => r.pps),
          barePps: median(bare),
          ratioToBare: median(runs.map((r, i) => r.pps / bare[i])),
          cpuPct: median(runs.map((r) => r.cpuPct)),
          cpuUsPerFrame: median(runs.map((r) => (r.cpuPct / 100) * 1e6 / r.pps)),
          perFrame: {
            wakeups: median(runs.map((r) => r.perFrame.wakeups)),
            kicks: median(runs.map((r) => r.perFrame.kicks)),
            interrupts: median(runs.map((r) => r.perFrame.interrupts)),
          },
        });
      }
    }
  }
  for (const layoutRows of byLayout.values()) rows.push(...layoutRows);
  let wakeRoundTrip: WakeRoundTrips | null = null;
  if (options.delaysMs.length > 0 && options.layouts.length > 0) {
    // The floor under a ping: two idle workers ringing each other, as the lab's workers sleep
    // (in `waitAsync`, or in blocking slices when hot), and two C threads in futex waits.
    progress("doorbell round trips between two workers and two C threads (the wake-up floor)");
    wakeRoundTrip = await wakeRoundTrips();
  }
  const pingIntervalMs = options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
  for (const delayMs of options.delaysMs) {
    // Each layout (and way to wait) `runs` times, a fresh lab each, in turn run by run.
    const cases = options.layouts.flatMap((layout) => waits.map((w) => ({ layout, ...w })));
    const runsOf = cases.map((): PingRun[] => []);
    for (let i = 0; i < options.runs; i++) {
      for (const j of roundOrder(cases.map((_, j) => j), i)) {
        const { layout, hostWait, guestWait } = cases[j];
        const what = waitNote({ hostWait, guestWait });
        progress(
          `ping at idle, ${layout}, link delay ${delayMs} ms${what}, run ${i + 1}/${options.runs}`,
        );
        const { pings: count, pollUs, queueSize, warmupSeconds } = options;
        runsOf[j].push(
          await pingRun({
            layout,
            count,
            intervalMs: pingIntervalMs,
            pollUs,
            queueSize,
            delayMs,
            warmupSeconds,
            hostWait,
            guestWait,
          }),
        );
      }
    }
    for (const [j, { layout, hostWait, guestWait }] of cases.entries()) {
      if (runsOf[j].length === 0) continue;
      rows.push({
        ...latencyRow(layout, options.pings, pingIntervalMs, delayMs, runsOf[j], wakeRoundTrip),
        hostWait,
        guestWait,
      });
    }
  }
  if (options.vhostPci !== false) {
    // The same two VMs over each kind of link, at every frame size of the run.
    for (const frameSize of options.frameSizes) {
      rows.push(await vhostPciComparison({ ...options, frameSize }, progress));
    }
  }
  // Each size `runs` times, the sizes in turn, smallest first (a start-up is one sample of a noisy
  // machine; memory is read in the first round, before any bigger lab ran).
  const sizes = [...options.scale].sort((a, b) => a - b);
  const scaleRuns = sizes.map(() => [] as ScaleRow[]);
  for (let i = 0; i < (sizes.length > 0 ? options.runs : 0); i++) {
    for (let j = 0; j < sizes.length; j++) {
      const n = sizes[j];
      progress(`scale: ${n} VMs, run ${i + 1}/${options.runs}`);
      scaleRuns[j].push(await scale(n, options.idleSeconds, options.pollUs, options.queueSize));
    }
  }
  for (const runs of scaleRuns) {
    const idle = runs.map((r) => r.idleCpuPct).filter((p): p is number => p !== null);
    const serving = runs.map((r) => r.servingCpuPct).filter((p): p is number => p !== null);
    rows.push({
      ...runs[0],
      upMs: median(runs.map((r) => r.upMs)),
      runsUpMs: runs.map((r) => r.upMs),
      rssMiB: runs[0].rssMiB,
      idleCpuPct: idle.length > 0 ? median(idle) : null,
      servingCpuPct: serving.length > 0 ? median(serving) : null,
    });
  }
  return {
    date: new Date().toISOString(),
    cpus: navigator.hardwareConcurrency,
    options,
    rows,
  };
}

/**
 * The legend line under the throughput table: the two rates time different windows, so that
 * `recv Mpps` can top `sent Mpps` although no frame is received twice (the counts, in `loss %`,
 * compare exactly).
 */
export const THROUGHPUT_WINDOWS = "recv Mpps: frames the sink received over its first to last " +
  "arrival; sent Mpps: frames udp-flood sent over its whole -t run, stalls on a full ring " +
  "included; the windows differ (recv can exceed sent), loss % compares the frame counts";

/**
 * The report as text tables.
 *
 * @example
 * ```ts ignore
 * console.log(formatNetReport(report));
 * ```
 */
export function formatNetReport(report: NetBenchReport): string {
  const lines: string[] = [
    `vlab bench net, ${report.date}, ${report.cpus} CPUs, medians of ${
      runsWord(report.options.runs)
    } of ${report.options.seconds} s${
      warmupNote(report.options)
    }, poll ${report.options.pollUs} µs`,
    "",
  ];
  const table = (rows: string[][]) => {
    const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    return rows.map((r) => r.map((x, c) => c === 0 ? x.padEnd(w[c]) : x.padStart(w[c])).join("  "));
  };
  const tp = report.rows.filter((r): r is ThroughputRow => r.kind === "throughput");
  const layoutOf = (r: ThroughputRow) => rowName(r, tp);
  const csumShown = tp.some((r) => r.csum === false);
  const placementShown = tp.some((r) => r.placement === "off");
  const waitShown = tp.some((r) => r.hostWait === "async");
  const guestShown = tp.some((r) => r.guestWait === "async");
  if (tp.length > 0) {
    lines.push(
      ...table([
        [
          "layout",
          "queue",
          "frame B",
          "recv Mpps",
          "Gbit/s",
          "sent Mpps",
          "loss %",
          "bare Mpps",
          "lab/bare",
          "CPU %",
          "CPU µs/frame",
          "wake/frame",
          "kick/frame",
          "irq/frame",
        ],
        ...tp.map((r) => [
          layoutOf(r),
          String(r.queueSize),
          String(r.frameSize),
          (r.pps / 1e6).toFixed(3),
          r.gbitPerSecond.toFixed(2),
          (r.sentPps / 1e6).toFixed(3),
          r.lossPct.toFixed(1),
          (r.barePps / 1e6).toFixed(2),
          r.ratioToBare.toFixed(3),
          r.cpuPct.toFixed(0),
          r.cpuUsPerFrame.toFixed(2),
          r.perFrame.wakeups.toFixed(3),
          r.perFrame.kicks.toFixed(3),
          r.perFrame.interrupts.toFixed(3),
        ]),
      ]),
      THROUGHPUT_WINDOWS,
      "",
    );
    // The ratios under the table, one line each (the same figures as `--json`'s `comparisons`).
    const comparisons = netComparisons(tp);
    // The settings a comparison's two rows share, but for the one it compares (`omit`).
    const setting = (c: NetComparison, omit?: "csum" | "cpus" | "wait" | "guest") =>
      (omit !== "csum" && csumShown ? `, csum ${c.csum ? "on" : "off"}` : "") +
      (omit !== "cpus" && placementShown ? `, cpus ${c.placement}` : "") +
      (omit !== "wait" && waitShown && c.hostWait ? `, wait ${c.hostWait}` : "") +
      (omit !== "guest" && guestShown && c.guestWait ? `, guest ${c.guestWait}` : "");
    const paired = (c: NetComparison) =>
      `${c.ppsRatio.toFixed(2)}x the frame rate (median of ${c.pairedRuns} paired runs, ` +
      `${c.ppsRatioMin!.toFixed(2)}–${c.ppsRatioMax!.toFixed(2)}), ` +
      `${c.cpuPerFrameRatio.toFixed(2)}x the CPU per frame`;
    const groups: [NetComparison["kind"], (c: NetComparison) => string][] = [
      [
        "csum on/off",
        (c) =>
          `checksum offload, ${c.layout}, ${c.frameSize} B${setting(c, "csum")}: on/off ` +
          `${c.ppsRatio.toFixed(2)}x the frame rate, ${
            c.cpuPerFrameRatio.toFixed(2)
          }x the CPU per frame`,
      ],
      [
        "placement auto/off",
        (c) =>
          `CPU placement, ${c.layout}, ${c.frameSize} B${setting(c, "cpus")}, auto/off: ${
            paired(c)
          }`,
      ],
      [
        "host wait hot/async",
        (c) =>
          `host workers' waits, ${c.layout}, ${c.frameSize} B${setting(c, "wait")}, hot/async: ${
            paired(c)
          }`,
      ],
      [
        "guest wait hot/async",
        (c) =>
          `guests' waits, ${c.layout}, ${c.frameSize} B${setting(c, "guest")}, hot/async: ${
            paired(c)
          }`,
      ],
      [
        "packed/split",
        (c) => `packed/split, ${c.frameSize} B${setting(c)}: ${paired(c)}`,
      ],
    ];
    for (const [kind, line] of groups) {
      const these = comparisons.filter((c) => c.kind === kind);
      if (these.length > 0) lines.push(...these.map(line), "");
    }
  }
  const lat = report.rows.filter((r): r is LatencyRow => r.kind === "latency");
  if (lat.length > 0) {
    lines.push(
      ...table([
        [
          "ping at idle",
          "delay ms",
          "count",
          "every ms",
          "median µs",
          "each run",
          "p99 µs",
          "each run",
          "wake",
          "block",
          "kick",
          "irq",
          "over %",
          "late µs",
          "wake floor µs",
          "C floor µs",
        ],
        ...lat.map((r) => {
          const over = delayOvershootPct(r, lat);
          const floor = wakeFloorUs(r);
          const cFloor = cWakeFloorUs(r);
          return [
            rowName(r, lat),
            String(r.delayMs),
            String(r.count),
            String(r.intervalMs ?? DEFAULT_PING_INTERVAL_MS),
            r.rttMedianUs.toFixed(0),
            r.runsMedianUs.map((us) => us.toFixed(0)).join(" "),
            r.rttP99Us.toFixed(0),
            r.runsP99Us.map((us) => us.toFixed(0)).join(" "),
            r.perPing.wakeups.toFixed(1),
            r.perPing.blocking === undefined ? "-" : r.perPing.blocking.toFixed(1),
            r.perPing.kicks.toFixed(1),
            r.perPing.interrupts.toFixed(1),
            over === null ? "-" : over.toFixed(1),
            r.releaseLateUs === null ? "-" : r.releaseLateUs.toFixed(0),
            floor === null ? "-" : floor.toFixed(0),
            cFloor === null ? "-" : cFloor.toFixed(0),
          ];
        }),
      ]),
    );
    const rt = lat.find((r) => r.wakeRoundTripUs !== null);
    if (rt !== undefined && rt.wakeRoundTripUs !== null) {
      const block = rt.wakeRoundTripBlockUs;
      lines.push(
        block === undefined || block === null
          ? `wake floor: a ping's wake-ups at half a doorbell round trip between two idle ` +
            `workers, ${rt.wakeRoundTripUs.toFixed(1)} µs in this run (vlab bench wakeup, async)`
          : `wake floor: each of a ping's wake-ups at half a doorbell round trip between two ` +
            `idle workers sleeping as it did, ${
              rt.wakeRoundTripUs.toFixed(1)
            } µs in waitAsync and ` +
            `${block.toFixed(1)} µs in blocking slices in this run (vlab bench wakeup); wake ` +
            `counts both, block the blocking ones`,
      );
      const c = rt.cWakeRoundTripUs;
      if (c !== undefined && c !== null) {
        lines.push(
          `C floor: each wake-up at half a round trip between two C threads in futex waits, ` +
            `${c.toFixed(1)} µs in this run (vlab bench wakeup --vs-c): what the wake-ups ` +
            `alone cost the machine`,
        );
      } else if (rt.cWakeNotMeasured !== undefined) {
        lines.push(`C floor: not measured: ${rt.cWakeNotMeasured}`);
      }
    }
    const sparse = Math.max(...lat.map((r) => r.intervalMs ?? DEFAULT_PING_INTERVAL_MS));
    if (sparse >= SPARSE_PING_MS) {
      lines.push(
        `pings ${sparse} ms apart: wake, block and the floors count every wake-up between the ` +
          `first ping and the last, the idle lab's own too (the watchdog's rings of idle device ` +
          `workers)`,
      );
    }
    lines.push("");
  }
  const vp = report.rows.filter((r): r is VhostPciRow => r.kind === "vhost-pci");
  if (vp.length > 0) lines.push(...formatVhostPciRows(vp), "");
  const db = report.rows.filter((r): r is DashboardRow => r.kind === "dashboard");
  if (db.length > 0) {
    lines.push(
      ...table([
        [
          "dashboard cost",
          "frame B",
          "Mpps without",
          "Mpps with",
          "change %",
          "dashboard CPU %",
          "updates/s",
          "terminal",
          "priority",
        ],
        ...db.map((r) => [
          r.layout,
          String(r.frameSize),
          (r.ppsWithout / 1e6).toFixed(3),
          (r.ppsWith / 1e6).toFixed(3),
          r.deltaPct.toFixed(1),
          r.dashboardCpuPct.toFixed(1),
          r.dashboardUpdatesPerSecond.toFixed(1),
          r.terminal === "none" ? "none (80x24)" : r.terminal,
          priorityCell(r),
        ]),
      ]),
      "",
    );
  }
  const st = report.rows.filter((r): r is StarRow => r.kind === "star");
  if (st.length > 0) {
    lines.push(
      ...table([
        ["star, 2 floods", "frame B", "Mpps (both sinks)", "runs Mpps", "loss %"],
        ...st.map((r) => [
          r.layout,
          String(r.frameSize),
          (r.pps / 1e6).toFixed(3),
          r.runsPps.map((p) => (p / 1e6).toFixed(3)).join(" "),
          r.lossPct.toFixed(1),
        ]),
      ]),
      "",
    );
  }
  const bf = report.rows.filter((r): r is BesideFloodRow => r.kind === "beside-flood");
  if (bf.length > 0) {
    lines.push(
      ...table([
        [
          "ping beside a flood",
          "flood B",
          "pings",
          "every ms",
          "pace",
          "each run",
          "median µs",
          "each run",
          "p99 µs",
          "loss %",
          "flood Mpps",
        ],
        ...bf.map((r) => [
          r.layout,
          String(r.frameSize),
          String(r.count),
          String(r.intervalMs),
          r.pace.toFixed(2),
          r.runsPace.map((x) => x.toFixed(2)).join(" "),
          r.medianUs.toFixed(0),
          r.runsMedianUs.map((x) => x.toFixed(0)).join(" "),
          r.p99Us.toFixed(0),
          r.lossPct.toFixed(1),
          (r.floodPps / 1e6).toFixed(3),
        ]),
      ]),
      "pace: how long the pings took over (pings - 1) intervals (1.00: on time); the flood is " +
        "udp-flood --max from the same VM to the same peer",
      "",
    );
  }
  const dp = report.rows.filter((r): r is DashboardPingRow => r.kind === "dashboard-ping");
  if (dp.length > 0) {
    lines.push(
      ...table([
        [
          "ping, dashboard",
          "count",
          "median µs without",
          "median µs with",
          "p99 µs without",
          "p99 µs with",
          "priority",
        ],
        ...dp.map((r) => [
          r.layout,
          String(r.count),
          r.medianUsWithout.toFixed(0),
          r.medianUsWith.toFixed(0),
          r.p99UsWithout.toFixed(0),
          r.p99UsWith.toFixed(0),
          priorityCell(r),
        ]),
      ]),
      "",
    );
  }
  const sc = report.rows.filter((r): r is ScaleRow => r.kind === "scale");
  if (sc.length > 0) {
    lines.push(...table([
      ["VMs", "workers", "up ms", "each run", "RSS MiB", "idle CPU % of a core", "serving"],
      ...sc.map((r) => [
        String(r.vms),
        String(r.workers),
        r.upMs.toFixed(0),
        r.runsUpMs.map((ms) => ms.toFixed(0)).join(" "),
        r.rssMiB.toFixed(0),
        r.idleCpuPct === null ? "-" : r.idleCpuPct.toFixed(2),
        r.servingCpuPct === null ? "-" : r.servingCpuPct.toFixed(2),
      ]),
    ]));
    if (sc.some((r) => r.servingCpuPct !== null)) {
      lines.push("serving: the same lab's CPU with every VM serving udp-echo, no traffic");
    }
    const skipped = idleCpuSkipped(report.options);
    if (skipped !== null) lines.push(`idle CPU not measured: ${skipped}`);
  }
  while (lines.at(-1) === "") lines.pop();
  return lines.join("\n");
}
