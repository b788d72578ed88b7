import assert from "node:assert/strict";
import { LAB_TEST } from "../testing.ts";
import {
  cWakeFloorUs,
  DEFAULT_NET_OPTIONS,
  delayOvershootPct,
  formatNetReport,
  idleCpuSkipped,
  type LatencyRow,
  type NetBenchOptions,
  type NetBenchRow,
  pairedRatios,
  quietCpu,
  runNetBench,
  type ScaleRow,
  servingCpuPctOver,
  THROUGHPUT_WINDOWS,
  type ThroughputRow,
  wakeFloorUs,
} from "./net.ts";
import { wakeRoundTrips } from "./wake_floor.ts";
import { execOk, median, pairTopology, pingRun } from "./net_run.ts";
import { Lab } from "../lab.ts";
import { CWakeup } from "./c_wakeup.ts";
import { printingProgram } from "./c_testing.ts";
import type { VhostPciRow } from "./net_vhost_pci.ts";

/** Options that measure only what `part` turns on (no floods, pings, scale or vhost-pci else). */
const onlyPart = (part: Partial<NetBenchOptions>): NetBenchOptions => ({
  ...DEFAULT_NET_OPTIONS,
  frameSizes: [],
  delaysMs: [],
  scale: [],
  idleSeconds: 0,
  vhostPci: false,
  ...part,
});

const perPing = { wakeups: 5.9, kicks: 2, interrupts: 2 };
const row = (layout: "split" | "packed", delayMs: number, rttMedianUs: number): LatencyRow => ({
  kind: "latency",
  layout,
  count: 200,
  delayMs,
  rttMedianUs,
  rttP99Us: rttMedianUs * 2,
  runsMedianUs: [rttMedianUs],
  runsP99Us: [rttMedianUs * 2],
  perPing,
  releaseLateUs: delayMs > 0 ? 150 : null,
  wakeRoundTripUs: 100,
});
/** A split 64-byte throughput row whose runs moved `runsPps` (its median is the middle run's). */
const tpRow = (runsPps: number[], more: Partial<ThroughputRow> = {}): ThroughputRow => ({
  kind: "throughput",
  layout: "split",
  csum: true,
  placement: "auto",
  frameSize: 64,
  queueSize: 256,
  pps: runsPps[1],
  gbitPerSecond: 0.5,
  sentPps: runsPps[1],
  lossPct: 0,
  runsPps,
  barePps: 2e7,
  ratioToBare: runsPps[1] / 2e7,
  cpuPct: 160,
  cpuUsPerFrame: 1.6e6 / runsPps[1],
  perFrame: perPing,
  ...more,
});

Deno.test("a delayed ping's overshoot is against twice the delay plus the same layout's idle median", () => {
  const rows = [row("split", 0, 1000), row("split", 2, 5100), row("packed", 2, 5000)];
  assert.equal(delayOvershootPct(rows[0], rows), null, "no delay, no overshoot");
  assert.ok(Math.abs(delayOvershootPct(rows[1], rows)! - 2) < 1e-9); // 5100 against 4000 + 1000
  assert.equal(delayOvershootPct(rows[2], rows), null, "no packed row without delay to compare");
  const text = formatNetReport({
    date: "2026-12-03T00:00:00.000Z",
    cpus: 2,
    options: DEFAULT_NET_OPTIONS,
    rows,
  });
  const header = text.split("\n").find((l) => l.startsWith("ping at idle"))!;
  assert.match(header, /over %\s+late µs\s+wake floor µs\s+C floor µs$/);
  // How far apart the pings went: 10 ms for a row of an older report, which did not say.
  assert.match(header, /^ping at idle\s+delay ms\s+count\s+every ms\s+median µs/);
  assert.match(text, /^split\s+0\s+200\s+10\s+1000\s/m);
  const sparse = formatNetReport({
    date: "",
    cpus: 2,
    options: { ...DEFAULT_NET_OPTIONS, pingIntervalMs: 1000 },
    rows: [{ ...rows[0], intervalMs: 1000 }],
  });
  assert.match(sparse, /^split\s+0\s+200\s+1000\s+1000\s/m);
  assert.match(sparse, /^pings 1000 ms apart: wake, block and the floors count every wake-up/m);
  assert.doesNotMatch(text, /ms apart: wake, block/, "not at 10 ms");
  const delayed = text.split("\n").find((l) => /^split\s+2\s/.test(l))!;
  assert.match(delayed, /\s2\.0\s+150\s+295\s+-$/); // 5.9 wake-ups at 50 µs each
  assert.ok(text.includes("100.0 µs in this run"), text);
  // With the C pair's round trip: each wake-up at half of it, and a line that says so.
  const withC = formatNetReport({
    date: "",
    cpus: 2,
    options: DEFAULT_NET_OPTIONS,
    rows: rows.map((r) => ({ ...r, cWakeRoundTripUs: 40 })),
  });
  assert.match(withC.split("\n").find((l) => /^split\s+2\s/.test(l))!, /\s295\s+118$/);
  assert.match(withC, /^C floor: each wake-up at half .* 40\.0 µs in this run/m);
  const noC = formatNetReport({
    date: "",
    cpus: 2,
    options: DEFAULT_NET_OPTIONS,
    rows: rows.map((r) => ({ ...r, cWakeRoundTripUs: null, cWakeNotMeasured: "no C compiler" })),
  });
  assert.match(noC, /^C floor: not measured: no C compiler$/m);
  // Without a measured round trip: no floor, no line.
  const none = formatNetReport({
    date: "",
    cpus: 2,
    options: DEFAULT_NET_OPTIONS,
    rows: [{ ...rows[0], wakeRoundTripUs: null }],
  });
  assert.match(none.split("\n").find((l) => /^split\s+0\s/.test(l))!, /\s-\s+-$/);
  assert.ok(!none.includes("wake floor:") && !none.includes("C floor:"), none);
});

Deno.test("with and without checksum offload, rows say which and a line gives the ratios", () => {
  const tp = (csum: boolean, pps: number, cpuUsPerFrame: number) => ({
    kind: "throughput" as const,
    layout: "split" as const,
    csum,
    frameSize: 1500,
    queueSize: 256,
    pps,
    gbitPerSecond: 1,
    sentPps: pps,
    lossPct: 0,
    runsPps: [pps],
    barePps: 1e6,
    ratioToBare: pps / 1e6,
    cpuPct: 150,
    cpuUsPerFrame,
    perFrame: perPing,
  });
  const options = { ...DEFAULT_NET_OPTIONS, csum: [false, true] };
  const both = formatNetReport({
    date: "",
    cpus: 2,
    options,
    rows: [tp(false, 1e5, 8), tp(true, 1.5e5, 6)],
  })
    .split("\n");
  assert.ok(both.some((l) => /^split csum off\s+256\s+1500\s+0\.100\s/.test(l)), both.join("\n"));
  assert.ok(both.some((l) => /^split csum on\s+256\s+1500\s+0\.150\s/.test(l)));
  assert.ok(both.includes(
    "checksum offload, split, 1500 B: on/off 1.50x the frame rate, 0.75x the CPU per frame",
  ));
  const one = formatNetReport({ date: "", cpus: 2, options, rows: [tp(true, 1e5, 8)] });
  assert.ok(!one.includes("csum") && !one.includes("checksum offload"), one);
});

Deno.test("with and without CPU placement, rows say which and a line gives the paired ratios", () => {
  const tp = (placement: "auto" | "off", runsPps: number[], cpuUsPerFrame: number) =>
    tpRow(runsPps, { placement, cpuUsPerFrame });
  const options = { ...DEFAULT_NET_OPTIONS, placement: ["auto", "off"] as ("auto" | "off")[] };
  const rows = [tp("auto", [1.2e6, 1.1e6, 0.9e6], 1.5), tp("off", [1e6, 1e6, 1e6], 2)];
  const text = formatNetReport({ date: "", cpus: 2, options, rows }).split("\n");
  assert.ok(text.some((l) => /^split cpus auto\s+256\s+64\s+1\.100\s/.test(l)), text.join("\n"));
  assert.ok(text.some((l) => /^split cpus off\s+256\s+64\s+1\.000\s/.test(l)));
  assert.ok(
    text.includes(
      "CPU placement, split, 64 B, auto/off: 1.10x the frame rate (median of 3 paired runs, " +
        "0.90–1.20), 0.75x the CPU per frame",
    ),
    text.join("\n"),
  );
  const one = formatNetReport({ date: "", cpus: 2, options, rows: [rows[0]] });
  assert.ok(!one.includes("cpus") && !one.includes("CPU placement"), one);
});

Deno.test("with hot and async host waits, rows and pings say which and lines pair like with like", () => {
  const tp = (
    layout: "split" | "packed",
    hostWait: "hot" | "async",
    runsPps: number[],
  ) => tpRow(runsPps, { layout, hostWait });
  const rows = [
    tp("split", "hot", [1.2e6, 1.2e6, 1.2e6]),
    tp("split", "async", [1e6, 1e6, 1e6]),
    tp("packed", "hot", [1.2e6, 1.2e6, 1.2e6]),
    tp("packed", "async", [0.5e6, 0.5e6, 0.5e6]),
    { ...row("split", 0, 400), hostWait: "hot" as const },
    { ...row("split", 0, 500), hostWait: "async" as const },
    { ...row("split", 2, 4500), hostWait: "hot" as const },
  ];
  const lat = rows.slice(4) as LatencyRow[];
  assert.ok(Math.abs(delayOvershootPct(lat[2], lat)! - 2.27272727) < 1e-6, "against hot's idle");
  const options = { ...DEFAULT_NET_OPTIONS, hostWait: ["hot", "async"] as ("hot" | "async")[] };
  const text = formatNetReport({ date: "", cpus: 2, options, rows }).split("\n");
  const all = text.join("\n");
  assert.ok(text.some((l) => /^split wait hot\s+256\s+64\s+1\.200\s/.test(l)), all);
  assert.ok(text.some((l) => /^packed wait async\s+256\s+64\s+0\.500\s/.test(l)), all);
  assert.ok(text.some((l) => /^split wait async\s+0\s+200\s+10\s+500\s/.test(l)), all);
  assert.ok(
    text.includes(
      "host workers' waits, split, 64 B, hot/async: 1.20x the frame rate (median of 3 paired " +
        "runs, 1.20–1.20), 0.83x the CPU per frame",
    ),
    all,
  );
  // Packed against split within each way to wait, never across.
  assert.ok(text.some((l) => l.startsWith("packed/split, 64 B, wait hot: 1.00x")), all);
  assert.ok(text.some((l) => l.startsWith("packed/split, 64 B, wait async: 0.50x")), all);
  const hotOnly = formatNetReport({
    date: "",
    cpus: 2,
    options,
    rows: [rows[0], rows[2], rows[4]],
  });
  assert.ok(!hotOnly.includes("wait") && !hotOnly.includes("host workers"), hotOnly);
});

Deno.test("guests' waits pair within one host wait, and host waits within one guest wait", () => {
  const tp = (hostWait: "hot" | "async", guestWait: "hot" | "async", runsPps: number[]) =>
    tpRow(runsPps, { hostWait, guestWait });
  const rows = [
    tp("hot", "hot", [1.5e6, 1.5e6, 1.5e6]),
    tp("hot", "async", [1.2e6, 1.2e6, 1.2e6]),
    tp("async", "hot", [1.1e6, 1.1e6, 1.1e6]),
    tp("async", "async", [1e6, 1e6, 1e6]),
    { ...row("split", 0, 300), hostWait: "hot" as const, guestWait: "hot" as const },
    { ...row("split", 0, 400), hostWait: "hot" as const, guestWait: "async" as const },
    { ...row("split", 2, 4300), hostWait: "hot" as const, guestWait: "hot" as const },
  ];
  const lat = rows.slice(4) as LatencyRow[];
  // 4300 µs: 4 ms plus the idle median of the same waits (300 µs), not the other row's 400.
  assert.ok(Math.abs(delayOvershootPct(lat[2], lat)! - 0) < 1e-9);
  const options = {
    ...DEFAULT_NET_OPTIONS,
    hostWait: ["hot", "async"] as ("hot" | "async")[],
    guestWait: ["hot", "async"] as ("hot" | "async")[],
  };
  const text = formatNetReport({ date: "", cpus: 2, options, rows }).split("\n");
  const all = text.join("\n");
  assert.ok(text.some((l) => /^split wait hot guest hot\s+256\s+64\s+1\.500\s/.test(l)), all);
  assert.ok(text.some((l) => /^split wait async guest async\s+256\s+64\s+1\.000\s/.test(l)), all);
  // Among the pings only the guests' waits differ.
  assert.ok(text.some((l) => /^split guest async\s+0\s+200\s+10\s+400\s/.test(l)), all);
  assert.ok(
    text.includes(
      "guests' waits, split, 64 B, wait hot, hot/async: 1.25x the frame rate (median of 3 paired " +
        "runs, 1.25–1.25), 0.80x the CPU per frame",
    ),
    all,
  );
  assert.ok(
    text.some((l) => l.startsWith("guests' waits, split, 64 B, wait async, hot/async: 1.10x")),
  );
  assert.ok(
    text.some((l) => l.startsWith("host workers' waits, split, 64 B, guest hot, hot/async: 1.36x")),
  );
  assert.ok(
    text.some((l) =>
      l.startsWith("host workers' waits, split, 64 B, guest async, hot/async: 1.20x")
    ),
  );
  const hostOnly = formatNetReport({ date: "", cpus: 2, options, rows: [rows[0], rows[2]] });
  assert.ok(!hostOnly.includes("guest"), hostOnly);
});

Deno.test("packed against split: the median of the per-run ratios, with their range", () => {
  const tp = (layout: "split" | "packed", runsPps: number[], cpuUsPerFrame: number) =>
    ({
      kind: "throughput" as const,
      layout,
      csum: true,
      frameSize: 64,
      queueSize: 256,
      pps: runsPps[1],
      gbitPerSecond: 0.1,
      sentPps: runsPps[1],
      lossPct: 0,
      runsPps,
      barePps: 1e7,
      ratioToBare: 0.03,
      cpuPct: 160,
      cpuUsPerFrame,
      perFrame: perPing,
    }) satisfies ThroughputRow;
  const split = tp("split", [4e5, 5e5, 2e5], 4);
  const packed = tp("packed", [4.4e5, 4e5, 3e5], 3);
  // Run by run: 1.1, 0.8, 1.5 (a ratio of the medians would say 4e5 / 4e5 = 1.0).
  assert.deepEqual(pairedRatios(packed, split).map((r) => r.toFixed(2)), [
    "1.10",
    "0.80",
    "1.50",
  ]);
  const lines = formatNetReport({
    date: "",
    cpus: 2,
    options: DEFAULT_NET_OPTIONS,
    rows: [split, packed],
  }).split("\n");
  assert.ok(
    lines.includes(
      "packed/split, 64 B: 1.10x the frame rate (median of 3 paired runs, 0.80–1.50), 0.75x the CPU per frame",
    ),
    lines.join("\n"),
  );
  const alone = formatNetReport({ date: "", cpus: 2, options: DEFAULT_NET_OPTIONS, rows: [split] });
  assert.ok(!alone.includes("packed/split"), alone);
});

Deno.test({
  name:
    "the throughput runs alternate layouts run by run, each leading a run in turn, and rows come out layout by layout",
  ...LAB_TEST,
  async fn() {
    const runs: string[] = [];
    const report = await runNetBench(
      // Half-second floods, no warm-up: the order and the rows are under test, not the rates.
      onlyPart({ frameSizes: [64], seconds: 0.5, warmupSeconds: 0, runs: 2 }),
      (what) => {
        if (!what.startsWith("bare")) runs.push(what);
      },
    );
    assert.deepEqual(runs, [
      "split, 64-byte frames, run 1/2",
      "packed, 64-byte frames, run 1/2",
      "packed, 64-byte frames, run 2/2",
      "split, 64-byte frames, run 2/2",
    ]);
    const tp = report.rows.filter((r): r is ThroughputRow => r.kind === "throughput");
    assert.deepEqual(tp.map((r) => [r.layout, r.runsPps.length]), [["split", 2], ["packed", 2]]);
    assert.ok(tp.every((r) => r.runsPps.every((pps) => pps > 0)), JSON.stringify(tp));
  },
});

Deno.test({
  name: "scale points are the median of --runs labs of each size, each run's up time listed",
  ...LAB_TEST,
  async fn() {
    const steps: string[] = [];
    const report = await runNetBench(
      onlyPart({ runs: 3, scale: [2, 4] }),
      (what) => steps.push(what),
    );
    assert.deepEqual(steps, [
      "scale: 2 VMs, run 1/3",
      "scale: 4 VMs, run 1/3",
      "scale: 2 VMs, run 2/3",
      "scale: 4 VMs, run 2/3",
      "scale: 2 VMs, run 3/3",
      "scale: 4 VMs, run 3/3",
    ]);
    const sc = report.rows.filter((r): r is ScaleRow => r.kind === "scale");
    assert.deepEqual(sc.map((r) => [r.vms, r.runsUpMs.length]), [[2, 3], [4, 3]]);
    for (const r of sc) {
      const sorted = [...r.runsUpMs].sort((a, b) => a - b);
      assert.equal(r.upMs, sorted[1], `the median of ${r.runsUpMs}`);
      assert.ok(sorted[0] > 0);
    }
    const line = formatNetReport(report).split("\n").find((l) => /^2\s/.test(l))!;
    assert.ok(line.includes(sc[0].runsUpMs.map((ms) => ms.toFixed(0)).join(" ")), line);
  },
});

Deno.test("quietCpu waits while a thread of the process is busy, not when it is idle", async () => {
  assert.ok(await quietCpu(20, 100, 5_000) < 1_000, "an idle process is quiet at once");
  const spin =
    `const end = performance.now() + 800; while (performance.now() < end) {} postMessage(0);`;
  const url = `data:application/javascript,${encodeURIComponent(spin)}`;
  const worker = new Worker(url, { type: "module" });
  const done = new Promise((r) => worker.onmessage = r);
  try {
    const waited = await quietCpu(20, 100, 5_000);
    assert.ok(waited >= 500, `it waited ${waited} ms while a worker spun for 800`);
    assert.ok(waited < 5_000, "it ended before its limit");
  } finally {
    await done;
    worker.terminate();
  }
});

Deno.test({
  name: "the pings come with a doorbell round trip measured in the same run, and their floor",
  ...LAB_TEST,
  async fn() {
    const report = await runNetBench(
      onlyPart({ layouts: ["split"], pings: 5, delaysMs: [0], runs: 2, warmupSeconds: 0 }),
    );
    const lat = report.rows.filter((r): r is LatencyRow => r.kind === "latency");
    assert.equal(lat.length, 1);
    // Two runs, each a fresh lab: the row gives each run's figures and their medians.
    assert.equal(lat[0].runsMedianUs.length, 2);
    assert.equal(lat[0].runsP99Us.length, 2);
    assert.equal(lat[0].rttMedianUs, median(lat[0].runsMedianUs));
    assert.equal(lat[0].rttP99Us, median(lat[0].runsP99Us));
    const text = formatNetReport(report);
    assert.ok(
      text.includes(lat[0].runsMedianUs.map((us) => us.toFixed(0)).join(" ")),
      "each run's median is printed",
    );
    const rt = lat[0].wakeRoundTripUs;
    const block = lat[0].wakeRoundTripBlockUs;
    assert.ok(rt !== null && rt > 0 && rt < lat[0].rttMedianUs * 10, `round trip ${rt} µs`);
    assert.ok(typeof block === "number" && block > 0, `blocking round trip ${block} µs`);
    const { wakeups, blocking } = lat[0].perPing;
    // Six hops at most, each a thread another one woke; the pinging guest's ring of itself when
    // its workload arms the next ping's timer is not one of them (it counted 1 more a ping).
    assert.ok(wakeups > 0 && wakeups < 6.5, `${wakeups} wake-ups a ping`);
    // Hot by default: some of the ping's wake-ups were blocking ones, never more than all.
    assert.ok(blocking !== undefined && blocking > 0 && blocking <= wakeups, `${blocking}`);
    assert.equal(wakeFloorUs(lat[0]), blocking * block / 2 + (wakeups - blocking) * rt / 2);
    // The C pair ran too (the test command installs a compiler): the machine's own floor.
    const c = lat[0].cWakeRoundTripUs;
    assert.ok(typeof c === "number" && c > 0, `C round trip ${c} µs`);
    assert.equal(cWakeFloorUs(lat[0]), wakeups * c / 2);
  },
});

Deno.test({
  name: "a ping over a delayed link reports how late its frames left their impairment stages",
  ...LAB_TEST,
  async fn() {
    const delayed = await pingRun({
      layout: "split",
      count: 20,
      pollUs: 0,
      queueSize: 256,
      delayMs: 2,
      warmupSeconds: 0,
    });
    assert.ok(delayed.medianUs >= 4000, `a 2 ms delay each way, yet ${delayed.medianUs} µs`);
    assert.ok(
      delayed.releaseLateUs !== null && delayed.releaseLateUs >= 0 &&
        delayed.releaseLateUs < delayed.medianUs,
      `release lateness ${delayed.releaseLateUs}`,
    );
  },
});

Deno.test({
  name: "a ping run sends its pings at the interval it is given",
  ...LAB_TEST,
  async fn() {
    const t0 = performance.now();
    const sparse = await pingRun({
      layout: "split",
      count: 31,
      intervalMs: 100,
      pollUs: 0,
      queueSize: 256,
      delayMs: 0,
      warmupSeconds: 0,
    });
    // Thirty gaps of 100 ms between the measured pings: longer than the rest of the run (a lab's
    // start, three pings 10 ms apart, the statistics' settling) takes at 10 ms.
    const took = performance.now() - t0;
    assert.ok(took >= 3000, `31 pings 100 ms apart took ${took.toFixed(0)} ms`);
    assert.ok(sparse.medianUs > 0 && sparse.p99Us >= sparse.medianUs, JSON.stringify(sparse));
  },
});

Deno.test("with --csum off,on and --placement auto,off, each offload line pairs rows of one placement", () => {
  const tp = (csum: boolean, placement: "auto" | "off", pps: number): ThroughputRow => ({
    kind: "throughput",
    layout: "split",
    csum,
    placement,
    frameSize: 64,
    queueSize: 256,
    pps,
    gbitPerSecond: 1,
    sentPps: pps,
    lossPct: 0,
    runsPps: [pps],
    barePps: 1e7,
    ratioToBare: pps / 1e7,
    cpuPct: 100,
    cpuUsPerFrame: 1e6 / pps,
    perFrame: perPing,
  });
  // Rows in the order runNetBench gives them: csum off (auto, off), then csum on (auto, off).
  const rows = [
    tp(false, "auto", 1e6),
    tp(false, "off", 5e5),
    tp(true, "auto", 2e6),
    tp(true, "off", 6e5),
  ];
  const text = formatNetReport({
    date: "",
    cpus: 2,
    options: { ...DEFAULT_NET_OPTIONS, csum: [false, true], placement: ["auto", "off"] },
    rows,
  }).split("\n");
  const offload = text.filter((l) => l.startsWith("checksum offload"));
  assert.deepEqual(offload, [
    "checksum offload, split, 64 B, cpus auto: on/off 2.00x the frame rate, 0.50x the CPU per frame",
    "checksum offload, split, 64 B, cpus off: on/off 1.20x the frame rate, 0.83x the CPU per frame",
  ]);
  // Its sibling: each placement line names the offload setting it holds.
  assert.deepEqual(text.filter((l) => l.startsWith("CPU placement")).map((l) => l.split(":")[0]), [
    "CPU placement, split, 64 B, csum off, auto/off",
    "CPU placement, split, 64 B, csum on, auto/off",
  ]);
});

Deno.test("the vhost-pci comparison gets a row at every --sizes frame size, not at 64 bytes only", async () => {
  // No layout and no run: no lab starts, and the rows say at which sizes the comparison ran.
  const sizes = DEFAULT_NET_OPTIONS.frameSizes;
  assert.deepEqual(sizes, [64, 1500]);
  const report = await runNetBench(
    onlyPart({ layouts: [], frameSizes: sizes, runs: 0, vhostPci: true }),
  );
  const vp = report.rows.filter((r): r is VhostPciRow => r.kind === "vhost-pci");
  assert.deepEqual(vp.map((r) => r.frameSize), [64, 1500]);
  assert.equal(report.rows.length, vp.length, "nothing but the comparison");
  const text = formatNetReport(report);
  for (const size of sizes) assert.match(text, new RegExp(`^vhost-pci/net, ${size} B: `, "m"));
  // Any sizes, in the order given.
  const odd = await runNetBench(
    onlyPart({ layouts: [], frameSizes: [1500, 128], runs: 0, vhostPci: true }),
  );
  assert.deepEqual(odd.rows.map((r) => r.kind === "vhost-pci" && r.frameSize), [1500, 128]);
});

Deno.test("the report's first line counts one run as one run", () => {
  const head = (runs: number) =>
    formatNetReport({
      date: "d",
      cpus: 2,
      options: { ...DEFAULT_NET_OPTIONS, runs, seconds: 1 },
      rows: [],
    })
      .split("\n")[0];
  assert.match(head(1), /, medians of 1 run of 1 s after 1 s of warm-up,/);
  assert.match(head(3), /, medians of 3 runs of 1 s/);
});

Deno.test("the scale table says why idle CPU is '-': no 16-VM lab in --scale, or --idle-seconds 0", () => {
  const scaleRow = (vms: number): NetBenchRow => ({
    kind: "scale",
    vms,
    workers: vms * 2,
    upMs: 100,
    runsUpMs: [100],
    rssMiB: 50,
    idleCpuPct: null,
    servingCpuPct: null,
  });
  const text = (part: Partial<NetBenchOptions>, vms: number[]) =>
    formatNetReport({ date: "", cpus: 2, options: onlyPart(part), rows: vms.map(scaleRow) });
  assert.match(
    text({ scale: [2, 64], idleSeconds: 3 }, [2, 64]),
    /\nidle CPU not measured: it is measured on the 16-VM lab only, and --scale 2,64 has none$/,
  );
  assert.match(
    text({ scale: [16], idleSeconds: 0 }, [16]),
    /\nidle CPU not measured: --idle-seconds 0 skips it$/,
  );
  assert.equal(idleCpuSkipped({ scale: [2, 16], idleSeconds: 3 }), null);
  assert.equal(idleCpuSkipped({ scale: [], idleSeconds: 3 }), null, "no scale table, no note");
  assert.doesNotMatch(
    formatNetReport({
      date: "",
      cpus: 2,
      options: onlyPart({ scale: [16], idleSeconds: 3 }),
      rows: [{ ...scaleRow(16) as ScaleRow, idleCpuPct: 4 }],
    }),
    /not measured/,
  );
  const served = formatNetReport({
    date: "",
    cpus: 2,
    options: onlyPart({ scale: [16], idleSeconds: 3 }),
    rows: [{ ...scaleRow(16) as ScaleRow, idleCpuPct: 4, servingCpuPct: 4.5 }],
  });
  assert.match(served, /idle CPU % of a core\s+serving\n/);
  assert.match(served, /\s4\.00\s+4\.50\n/);
  assert.match(served, /\nserving: the same lab's CPU with every VM serving udp-echo, no traffic$/);
});

Deno.test({
  name: "the serving figure runs udp-echo on every VM while it measures, and stops them after",
  ...LAB_TEST,
  async fn() {
    const lab = await Lab.start(pairTopology("bench-serving", "split", 1, 0, 256));
    try {
      const pct = await servingCpuPctOver(lab, 200);
      assert.ok(Number.isFinite(pct) && pct >= 0, String(pct));
      // Stopped: port 7 is free again on both VMs (a second server there would be refused).
      for (const vm of ["a0", "b0"]) {
        const r = await execOk(lab, vm, ["udp-echo", "-t", "0.05"]);
        assert.equal(r.received, 0);
      }
    } finally {
      await lab.stop();
    }
  },
});

Deno.test("the throughput table's legend says recv and sent Mpps time different windows", () => {
  const tp: ThroughputRow = {
    kind: "throughput",
    layout: "split",
    csum: true,
    placement: "auto",
    frameSize: 64,
    queueSize: 256,
    pps: 1.2e6,
    gbitPerSecond: 0.6,
    sentPps: 1.1e6,
    lossPct: 0,
    runsPps: [1.2e6],
    barePps: 1e7,
    ratioToBare: 0.12,
    cpuPct: 100,
    cpuUsPerFrame: 1,
    perFrame: { wakeups: 1, kicks: 0, interrupts: 0 },
  };
  const lines = formatNetReport({ date: "", cpus: 2, options: onlyPart({}), rows: [tp] })
    .split("\n");
  const header = lines.findIndex((l) => l.startsWith("layout"));
  assert.equal(lines[header + 2], THROUGHPUT_WINDOWS, "right under the table's rows");
  assert.match(THROUGHPUT_WINDOWS, /recv Mpps: .*first to last arrival.*sent Mpps: .*-t run/);
});

Deno.test("the wake floor's C pair costs its own figure when it fails or is missing, not the bench", async () => {
  const failing = await wakeRoundTrips(() => CWakeup.build("cc", printingProgram(() => "{}")));
  assert.ok(failing.asyncUs > 0 && failing.blockUs > 0, "the workers' round trips stand");
  assert.equal(failing.cUs, null);
  assert.match(failing.cNotMeasured ?? "", /^it failed: C futex: unexpected output "\{\}"$/);
  const throwing = await wakeRoundTrips(() => Promise.reject(new Error("permission denied")));
  assert.equal(throwing.cNotMeasured, "it failed: permission denied");
  const missing = await wakeRoundTrips(() => CWakeup.build("vlab-no-such-cc"));
  assert.equal(missing.cUs, null);
  assert.match(missing.cNotMeasured ?? "", /^no C compiler: `vlab-no-such-cc`/);
});
