/**
 * `vlab bench recovery`: the figures of issue 13, measured on real labs (the lead runs them; the
 * test suite runs a smoke test with N = 3).
 *
 * - **Backend crashes under a flood**: a `pair` lab; `b` runs `sink`, `a` floods it with 64-byte
 *   datagrams at `ratePps`; `a`'s device worker is killed (`backend-crash --mode exit`) `crashes`
 *   times, each after the previous restart and some traffic. Reported: the restart pause (the
 *   `backend-restarted` event's `pauseMs`: from the crash noticed to the new worker's first pass
 *   that moved frames), median and p99, the median of each of its phases (`RestartPhases`), and
 *   the datagrams the sink saw lost or duplicated (from sequence numbers).
 * - **Ring corruptions**: two pairs; `a`'s guest corrupts its transmitq `corruptions` times
 *   (`guest-bug`, cycling through four bugs), each after the previous reset, while `c` floods `d`.
 *   `b` floods `a` meanwhile (5,000 pps at most), so that frames wait for `a`'s new queues.
 *   Reported: the reset cycle (`device-reset`'s `resetMs`: detection to the first frame through
 *   the new queues),
 *   median and p99, and `d`'s receive rate before and during the loop (other VMs unaffected).
 *
 * Runs on the main thread; every loop is bounded by its count and a deadline per step.
 *
 * @module
 */

import { NetCounter } from "../../devices/net/metrics.ts";
import type { GuestFaultKind } from "../../devices/virtio/guest_faults.ts";
import type { LabEvent } from "../events.ts";
import { Lab } from "../lab.ts";
import { planLab } from "../plan.ts";
import { topologyFromObject } from "../topology/mod.ts";
import { deviceControl } from "../wire/control.ts";

/** What `vlab bench recovery` measures. */
export interface RecoveryBenchOptions {
  /** Backend crashes under the flood (0: skip). */
  crashes: number;
  /** Ring corruptions (0: skip). */
  corruptions: number;
  /** The floods' rate, datagrams per second. */
  ratePps: number;
}

/** Defaults of `vlab bench recovery` (the issue's figures: 1,000 of each). */
export const DEFAULT_RECOVERY_OPTIONS: RecoveryBenchOptions = {
  crashes: 1000,
  corruptions: 1000,
  ratePps: 20_000,
};

/** Median, p99 and maximum of a set of durations, ms. */
export interface Quantiles {
  /** How many. */
  count: number;
  /** Median, ms. */
  median: number;
  /** 99th percentile (nearest rank), ms. */
  p99: number;
  /** Largest, ms. */
  max: number;
}

/** What `runRecoveryBench` measured. */
export interface RecoveryBenchReport {
  /** Backend crashes (null: skipped). */
  crash: {
    pauseMs: Quantiles;
    /** Median of each phase of the pause (`RestartPhases` of `lab/supervisor.ts`), ms. */
    phaseMedianMs: Record<string, number>;
    sent: number;
    received: number;
    lost: number;
    duplicated: number;
  } | null;
  /** Ring corruptions (null: skipped). */
  corruption: {
    resetMs: Quantiles;
    /** Detection to the queues live again (the bring-up alone, without the first frame). */
    queuesLiveMs: Quantiles;
    failed: number;
    otherPpsBefore: number;
    otherPpsDuring: number;
  } | null;
}

/**
 * Median, p99 (nearest rank) and max of `values`.
 *
 * @example
 * ```ts
 * import { quantiles } from "./recovery.ts";
 * quantiles([3, 1, 2]); // { count: 3, median: 2, p99: 3, max: 3 }
 * ```
 */
export function quantiles(values: readonly number[]): Quantiles {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return { count: 0, median: NaN, p99: NaN, max: NaN };
  const rank = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  return { count: s.length, median: rank(0.5), p99: rank(0.99), max: s[s.length - 1] };
}

const STEP_MS = 10_000;

async function until(what: string, probe: () => boolean, ms = STEP_MS): Promise<void> {
  const deadline = performance.now() + ms;
  while (!probe()) {
    if (performance.now() > deadline) throw new Error(`recovery bench: no ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

function pairs(names: string[][]): Record<string, unknown> {
  const vms: Record<string, unknown> = {};
  const links: unknown[] = [];
  names.forEach(([x, y], i) => {
    vms[x] = { nics: { eth0: { ip: `10.0.${i}.1/24` } } };
    vms[y] = { nics: { eth0: { ip: `10.0.${i}.2/24` } } };
    links.push({ endpoints: [`${x}:eth0`, `${y}:eth0`] });
  });
  return { name: "bench-recovery", seed: 1, vms, links };
}

async function start(object: Record<string, unknown>): Promise<Lab> {
  const t = topologyFromObject(object);
  if (!t.ok) throw new Error(`recovery bench topology: ${JSON.stringify(t.error)}`);
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 60_000 });
}

function counter(lab: Lab, vm: string, which: number): number {
  const v = lab.plan.vms.find((x) => x.name === vm)!;
  return deviceControl(lab.controlOf(v.index), v.control.devices[0]).deviceCounters[which];
}

/**
 * Every event of the given kinds from now on, by subscription: the log's `recent()` keeps only
 * the newest events, fewer than a thousand crashes make.
 */
function collect(lab: Lab, kinds: readonly string[]) {
  const seen = new Map<string, LabEvent[]>(kinds.map((k) => [k, []]));
  const off = lab.events.subscribe((e) => seen.get(e.kind)?.push(e));
  return { of: (kind: string) => seen.get(kind) ?? [], off };
}

/** Start a sink on `dst` and a flood from `src` to `ip`; returns how to stop both. */
async function flood(lab: Lab, src: string, dst: string, ip: string, ratePps: number) {
  const stopSink = new AbortController();
  const stopFlood = new AbortController();
  const sink = (await lab.spawn(dst, ["sink", "-t", "0"], stopSink.signal)).result;
  const sending = lab.exec(
    src,
    ["udp-flood", ip, "-s", "64", "-t", "3600", "-r", String(ratePps)],
    stopFlood.signal,
  );
  return async () => {
    stopFlood.abort();
    const sent = await sending;
    if (!sent.ok) throw new Error(`flood: ${sent.message}`);
    const n = (sent.result as { sent: number }).sent;
    await until("drained transmitq", () => counter(lab, src, NetCounter.txFrames) >= n);
    await new Promise((r) => setTimeout(r, 200));
    stopSink.abort();
    const got = await sink;
    if (!got.ok) throw new Error(`sink: ${got.message}`);
    return { sent: n, sink: got.result as { received: number; lost: number; duplicated: number } };
  };
}

async function crashes(n: number, ratePps: number): Promise<RecoveryBenchReport["crash"]> {
  const lab = await start(pairs([["a", "b"]]));
  const events = collect(lab, ["backend-restarted"]);
  try {
    const stop = await flood(lab, "a", "b", "10.0.0.2", ratePps);
    for (let i = 1; i <= n; i++) {
      const before = counter(lab, "a", NetCounter.txFrames);
      await until("traffic", () => counter(lab, "a", NetCounter.txFrames) > before + 16);
      const f = await lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
      if (!f.ok) throw new Error(f.message);
      await until(`restart ${i}`, () => events.of("backend-restarted").length >= i);
    }
    const r = await stop();
    const restarts = events.of("backend-restarted");
    const pauses = restarts.map((e) => e.detail?.pauseMs as number);
    return {
      pauseMs: quantiles(pauses),
      phaseMedianMs: phaseMedians(restarts),
      sent: r.sent,
      ...r.sink,
    };
  } finally {
    events.off();
    await lab.stop();
  }
}

/** The median of each numeric phase of `backend-restarted` events (a phase that is null: left out). */
function phaseMedians(restarts: readonly LabEvent[]): Record<string, number> {
  const by = new Map<string, number[]>();
  for (const e of restarts) {
    const phases = (e.detail?.phases ?? {}) as Record<string, unknown>;
    for (const [k, v] of Object.entries(phases)) {
      if (typeof v === "number") by.set(k, [...(by.get(k) ?? []), v]);
    }
  }
  return Object.fromEntries([...by].map(([k, v]) => [k, quantiles(v).median]));
}

const BUGS: readonly GuestFaultKind[] = [
  "head-out-of-range",
  "loop",
  "index-jump",
  "next-out-of-range",
];

async function corruptions(n: number, ratePps: number): Promise<RecoveryBenchReport["corruption"]> {
  const lab = await start(pairs([["a", "b"], ["c", "d"]]));
  const events = collect(lab, ["device-reset", "device-reset-failed"]);
  try {
    const stop = await flood(lab, "c", "d", "10.0.1.2", ratePps);
    // Traffic into a: a reset ends when a frame goes through the new queues.
    const stopToA = await flood(lab, "b", "a", "10.0.0.1", Math.min(ratePps, 5000));
    const rx = () => counter(lab, "d", NetCounter.rxFrames);
    const t0 = performance.now();
    const rx0 = rx();
    await new Promise((r) => setTimeout(r, 500));
    const t1 = performance.now();
    const rx1 = rx();
    for (let i = 1; i <= n; i++) {
      const f = await lab.fault({
        kind: "guest-bug",
        vm: "a",
        device: "eth0",
        queue: "transmitq",
        bug: BUGS[i % BUGS.length],
      });
      if (!f.ok) throw new Error(f.message);
      await until(`reset ${i}`, () => events.of("device-reset").length >= i);
    }
    const t2 = performance.now();
    const rx2 = rx();
    await stop();
    await stopToA();
    const resets = events.of("device-reset").map((e) => e.detail?.resetMs as number);
    const live = events.of("device-reset").map((e) => e.detail?.queuesLiveMs as number);
    return {
      resetMs: quantiles(resets),
      queuesLiveMs: quantiles(live),
      failed: events.of("device-reset-failed").length,
      otherPpsBefore: ((rx1 - rx0) * 1000) / (t1 - t0),
      otherPpsDuring: ((rx2 - rx1) * 1000) / Math.max(1, t2 - t1),
    };
  } finally {
    events.off();
    await lab.stop();
  }
}

/**
 * Run the recovery benchmark (two labs, one after the other); `partial` hears the report once
 * the crashes are measured, before the corruptions run.
 *
 * @example
 * ```ts ignore
 * import { runRecoveryBench } from "./recovery.ts";
 * const r = await runRecoveryBench({ crashes: 3, corruptions: 3, ratePps: 5000 });
 * ```
 */
export async function runRecoveryBench(
  opts: RecoveryBenchOptions,
  progress: (line: string) => void = () => {},
  partial: (soFar: RecoveryBenchReport) => void = () => {},
): Promise<RecoveryBenchReport> {
  progress(`backend crashes: ${opts.crashes} under a 64-byte flood at ${opts.ratePps} pps`);
  const crash = opts.crashes > 0 ? await crashes(opts.crashes, opts.ratePps) : null;
  if (crash) partial({ crash, corruption: null });
  progress(`ring corruptions: ${opts.corruptions}, another pair flooding at ${opts.ratePps} pps`);
  const corruption = opts.corruptions > 0
    ? await corruptions(opts.corruptions, opts.ratePps)
    : null;
  return { crash, corruption };
}

const ms = (v: number) => Number.isFinite(v) ? v.toFixed(2) : "–";

/**
 * The report as Markdown tables.
 *
 * @example
 * ```ts ignore
 * console.log(formatRecoveryReport(await runRecoveryBench(DEFAULT_RECOVERY_OPTIONS)));
 * ```
 */
export function formatRecoveryReport(r: RecoveryBenchReport): string {
  const lines: string[] = [];
  if (r.crash) {
    const c = r.crash;
    lines.push(
      "| backend crashes | pause median ms | pause p99 ms | pause max ms | sent | received | lost | duplicated |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
      `| ${c.pauseMs.count} | ${ms(c.pauseMs.median)} | ${ms(c.pauseMs.p99)} | ${
        ms(c.pauseMs.max)
      } | ${c.sent} | ${c.received} | ${c.lost} | ${c.duplicated} |`,
      "",
      `Pause phases, median ms: ${
        Object.entries(c.phaseMedianMs).map(([k, v]) => `${k.replace(/Ms$/, "")} ${ms(v)}`)
          .join(", ")
      }`,
      "",
    );
  }
  if (r.corruption) {
    const c = r.corruption;
    lines.push(
      "| ring corruptions | reset median ms | reset p99 ms | reset max ms | failed | other pair pps before | during |",
      "| --- | --- | --- | --- | --- | --- | --- |",
      `| ${c.resetMs.count} | ${ms(c.resetMs.median)} | ${ms(c.resetMs.p99)} | ${
        ms(c.resetMs.max)
      } | ${c.failed} | ${Math.round(c.otherPpsBefore)} | ${Math.round(c.otherPpsDuring)} |`,
      "",
      `Of which the bring-up (detection to queues live): median ${ms(c.queuesLiveMs.median)}, p99 ${
        ms(c.queuesLiveMs.p99)
      } ms`,
      "",
    );
  }
  return lines.join("\n");
}
