import assert from "node:assert/strict";
import {
  formatNetOutput,
  netBenchJson,
  parseNetOptions,
  type VethDeps,
  vethOutcome,
  vethPrerequisites,
} from "./bench_net.ts";
import {
  formatNetReport,
  type LatencyRow,
  type NetBenchReport,
  type ThroughputRow,
} from "../lab/bench/net.ts";
import { formatVethComparison } from "../lab/bench/veth_report.ts";
import { vethNames } from "../lab/bench/veth.ts";
import type { CommandResult } from "../lab/bench/command.ts";
import { VlabError } from "./errors.ts";

const RAW = {
  layout: "both",
  sizes: "64,1500",
  seconds: "2",
  runs: "3",
  pings: "200",
  delays: "0,2,10",
  scale: "2,16,64",
  idleSeconds: "3",
  pollUs: "0",
  queueSize: "256",
};

Deno.test("bench net options parse into the benchmark's options", () => {
  const o = parseNetOptions(RAW);
  assert.deepEqual(o.layouts, ["split", "packed"]);
  assert.deepEqual(o.frameSizes, [64, 1500]);
  assert.equal(o.pingIntervalMs, 10, "pings 10 ms apart by default");
  assert.equal(parseNetOptions({ ...RAW, pingInterval: "1000" }).pingIntervalMs, 1000);
  assert.deepEqual(o.delaysMs, [0, 2, 10]);
  assert.deepEqual(o.scale, [2, 16, 64]);
  assert.equal(o.dashboard, false);
  assert.equal(o.vhostPci, true, "the vhost-pci row is measured by default");
  assert.equal(parseNetOptions({ ...RAW, vhostPci: false }).vhostPci, false, "--no-vhost-pci");
  assert.deepEqual(parseNetOptions({ ...RAW, scale: "none", layout: "packed" }).scale, []);
  assert.deepEqual(o.csum, [true], "checksum offload on by default");
  assert.deepEqual(parseNetOptions({ ...RAW, csum: "off,on" }).csum, [false, true]);
  assert.deepEqual(parseNetOptions({ ...RAW, csum: "off" }).csum, [false]);
  assert.deepEqual(o.placement, ["auto"], "the lab's own placement by default");
  assert.deepEqual(parseNetOptions({ ...RAW, placement: "auto,off" }).placement, ["auto", "off"]);
  assert.deepEqual(parseNetOptions({ ...RAW, placement: "off,off" }).placement, ["off"]);
  assert.equal(o.hostWait, undefined, "the lab's own way to wait by default");
  assert.deepEqual(parseNetOptions({ ...RAW, hostWait: "hot,async" }).hostWait, ["hot", "async"]);
  assert.deepEqual(parseNetOptions({ ...RAW, hostWait: "async" }).hostWait, ["async"]);
  assert.equal(o.warmupSeconds, 1, "a second of warm-up by default");
  assert.equal(parseNetOptions({ ...RAW, warmup: "0" }).warmupSeconds, 0, "--warmup 0");
});

Deno.test("bad bench net options are usage errors naming the option", () => {
  for (
    const [key, value, option] of [
      ["sizes", "59", "--sizes"],
      ["layout", "ring", "--layout"],
      ["delays", "2,x", "--delays"],
      ["queueSize", "4", "--queue-size"],
      ["csum", "yes", "--csum"],
      ["placement", "pinned", "--placement"],
      ["hostWait", "spin", "--host-wait"],
      ["guestWait", "spin", "--guest-wait"],
      ["warmup", "-1", "--warmup"],
      ["seconds", "2,3", "--seconds"],
      ["runs", "1e1", "--runs"],
      ["pingInterval", "0", "--ping-interval"],
      ["pingInterval", "0.5", "--ping-interval"],
    ] as const
  ) {
    assert.throws(
      () => parseNetOptions({ ...RAW, [key]: value }),
      (e) => e instanceof VlabError && e.code === "bad-option" && e.message.startsWith(option),
    );
  }
});

Deno.test("bench net refuses what a lab would refuse or measure otherwise, before any lab runs", () => {
  const refuses = (raw: Partial<Parameters<typeof parseNetOptions>[0]>, message: RegExp) =>
    assert.throws(
      () => parseNetOptions({ ...RAW, ...raw }),
      (e) => e instanceof VlabError && e.code === "bad-option" && message.test(e.message),
    );
  // Split rings need a power of 2: the first lab would fail after the first bare-ring run.
  refuses(
    { queueSize: "100" },
    /^--queue-size must be a power of 2 for the split layout, got 100$/,
  );
  refuses({ queueSize: "100", layout: "split" }, /power of 2/);
  assert.equal(parseNetOptions({ ...RAW, queueSize: "100", layout: "packed" }).queueSize, 100);
  // A scale lab is N/2 pairs: 3 would be measured as a 2-VM lab, under the name 2.
  refuses({ scale: "2,3" }, /^--scale takes even lab sizes \(N\/2 linked pairs\), got 3$/);
  assert.deepEqual(parseNetOptions({ ...RAW, scale: "16,2,16" }).scale, [16, 2], "each size once");
  // Modes that replace the rest cannot be combined with each other or with the veth comparison.
  refuses({ star: true, dashboard: true }, /--star and --dashboard/);
  refuses({ star: true, vsVeth: true }, /^--vs-veth .* --star does not measure$/);
  refuses({ dashboard: true, vsVeth: true }, /--dashboard does not measure$/);
  refuses({ besideFlood: true, star: true }, /^--star and --beside-flood each measure instead/);
  refuses({ besideFlood: true, vsVeth: true }, /--beside-flood does not measure$/);
  assert.equal(parseNetOptions({ ...RAW, besideFlood: true }).besideFlood, true);
  assert.equal(parseNetOptions({ ...RAW, vsVeth: true }).star, false);
});

Deno.test("bench net's --csum, --placement and --*-wait errors name only values they take", () => {
  for (
    const [key, value, good] of [
      ["csum", "both", "off,on"],
      ["placement", "both", "auto,off"],
      ["hostWait", "both", "hot,async"],
      ["guestWait", "both", "hot,async"],
    ]
  ) {
    assert.throws(
      () => parseNetOptions({ ...RAW, [key]: value }),
      (e) => e instanceof VlabError && e.message.includes(good) && !/\bor both\b/.test(e.message),
    );
    parseNetOptions({ ...RAW, [key]: good }); // what the message offers is taken
  }
});

Deno.test("bench net's settings are exact, and a near miss gets a did-you-mean", () => {
  assert.throws(
    () => parseNetOptions({ ...RAW, csum: "ON" }),
    (e) => e instanceof VlabError && e.hint === "Did you mean on?",
  );
  assert.throws(
    () => parseNetOptions({ ...RAW, placement: "off,atuo" }),
    (e) => e instanceof VlabError && e.hint === "Did you mean auto?",
  );
  assert.throws(
    () => parseNetOptions({ ...RAW, hostWait: "sleep" }),
    (e) => e instanceof VlabError && e.hint === "For example --host-wait hot,async",
  );
  // --layout had only "For example --layout packed" for any miss.
  assert.throws(
    () => parseNetOptions({ ...RAW, layout: "Split" }),
    (e) => e instanceof VlabError && e.hint === "Did you mean --layout split?",
  );
  assert.throws(
    () => parseNetOptions({ ...RAW, layout: "ring" }),
    (e) => e instanceof VlabError && e.hint === "For example --layout packed",
  );
});

/** A system where every command succeeds except what `fail` answers; records every command. */
function fakeVethDeps(fail: (argv: string[]) => CommandResult | null) {
  const calls: string[][] = [];
  const listeners = new Set<() => void>();
  const exits: number[] = [];
  const deps: VethDeps = {
    run: (argv) => {
      calls.push(argv);
      return Promise.resolve(fail(argv) ?? { code: 0, stdout: "", stderr: "" });
    },
    uid: 0,
    names: vethNames(42, 0.5),
    onSignal: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    exit: (code) => exits.push(code),
  };
  return { deps, calls, listeners, exits };
}

Deno.test("a veth run that fails is a reason beside the labs' figures, not a lost report", async () => {
  const { deps, calls, listeners } = fakeVethDeps((argv) =>
    argv.includes("-c") && argv.includes("iperf3")
      ? { code: 1, stdout: "", stderr: "iperf3: error - control socket has closed unexpectedly" }
      : null
  );
  const options = parseNetOptions({ ...RAW, sizes: "64" });
  const outcome = await vethOutcome(options, () => {}, deps);
  assert.deepEqual(outcome, {
    ran: false,
    reason:
      "it failed: iperf3 client failed: iperf3: error - control socket has closed unexpectedly",
  });
  assert.deepEqual(calls.slice(-2), [
    ["ip", "netns", "del", deps.names.a],
    ["ip", "netns", "del", deps.names.b],
  ]);
  assert.equal(listeners.size, 0, "the signal listener is removed after the run");
});

Deno.test("Ctrl-C during the veth run ends what runs in the namespaces, deletes them, then exits 130", async () => {
  let signalled = false;
  // What `ip netns pids` lists: iperf3's server and its `timeout` in b, the client in a.
  const pids = new Map([["a", "301\n"], ["b", "201\n202\n"]]);
  const fake = fakeVethDeps((argv) => {
    if (argv.includes("iperf3") && argv.includes("-c") && !signalled) {
      signalled = true;
      for (const fn of fake.listeners) fn(); // the user presses Ctrl-C mid-flood
      return { code: 1, stdout: "", stderr: "interrupted" };
    }
    if (argv[2] === "pids") return { code: 0, stdout: pids.get(argv[3].slice(-1))!, stderr: "" };
    return null;
  });
  const { calls, exits } = fake;
  const killed: string[] = [];
  const deps = {
    ...fake.deps,
    // `ip` takes its time, as a real one does: the run's failure comes back first.
    run: async (argv: string[]) => {
      if (argv[2] === "pids") await new Promise((r) => setTimeout(r, 20));
      return fake.deps.run(argv);
    },
    kill: (pid: number, signal: Deno.Signal) => {
      killed.push(`${signal} ${pid}`);
      calls.push(["kill", String(pid)]);
    },
  };
  await vethOutcome(parseNetOptions({ ...RAW, sizes: "64" }), () => {}, deps);
  assert.ok(signalled);
  // Ended before the run's failure (its client killed) came back as an outcome: that printed
  // "veth comparison skipped: it failed: iperf3 client failed: " and exited 0.
  assert.deepEqual(exits, [130]);
  // Deleting a namespace leaves its processes running (an iperf3 server, a long ping went on
  // after the bench had exited): they are ended first.
  assert.deepEqual(killed, ["SIGKILL 301", "SIGKILL 201", "SIGKILL 202"]);
  const deletes = calls.flatMap((c, i) => c[2] === "del" ? [i] : []);
  const lastKill = calls.findLastIndex((c) => c[0] === "kill");
  assert.deepEqual(deletes.map((i) => calls[i][3]).slice(-2), [deps.names.a, deps.names.b]);
  assert.ok(deletes.at(-2)! > lastKill, JSON.stringify(calls.slice(-7)));
});

Deno.test("without root the veth comparison is one reason and nothing is created", async () => {
  const { deps, calls } = fakeVethDeps(() => null);
  const outcome = await vethOutcome(parseNetOptions(RAW), () => {}, { ...deps, uid: 1000 });
  assert.deepEqual(outcome, {
    ran: false,
    reason: "it needs root to create network namespaces (uid 1000)",
  });
  assert.equal(await vethPrerequisites({ ...deps, uid: 1000 }), outcome.reason);
  assert.deepEqual(calls, []);
});

Deno.test("bench net --json carries the figures the text derives: over %, wake floor, ratio lines, veth ratios", () => {
  const perFrame = { wakeups: 1, kicks: 0.5, interrupts: 0.5 };
  const tp = (layout: "split" | "packed", runsPps: number[]): ThroughputRow => ({
    kind: "throughput",
    layout,
    csum: true,
    placement: "auto",
    frameSize: 64,
    queueSize: 256,
    pps: runsPps[1],
    gbitPerSecond: 0.5,
    sentPps: runsPps[1],
    lossPct: 0,
    runsPps,
    barePps: 1e7,
    ratioToBare: 0.1,
    cpuPct: 100,
    cpuUsPerFrame: 1e6 / runsPps[1],
    perFrame,
  });
  const ping = (delayMs: number, rttMedianUs: number): LatencyRow => ({
    kind: "latency",
    layout: "split",
    count: 200,
    delayMs,
    rttMedianUs,
    rttP99Us: 2 * rttMedianUs,
    runsMedianUs: [rttMedianUs],
    runsP99Us: [2 * rttMedianUs],
    perPing: { wakeups: 6, kicks: 2, interrupts: 2, blocking: 4 },
    releaseLateUs: delayMs > 0 ? 100 : null,
    wakeRoundTripUs: 80,
    wakeRoundTripBlockUs: 30,
  });
  const report: NetBenchReport = {
    date: "",
    cpus: 2,
    options: parseNetOptions(RAW),
    rows: [
      tp("split", [1e6, 1e6, 1e6]),
      tp("packed", [9e5, 1.1e6, 1.2e6]),
      ping(0, 500),
      ping(2, 4600),
    ],
  };
  const veth = {
    throughput: [{ frameSize: 64, pps: 2e5, gbitPerSecond: 0.1 }],
    rttMedianUs: 50,
    rttP99Us: 100,
  };
  const json = JSON.parse(JSON.stringify(netBenchJson(report, { ran: true, veth })));
  const text = formatNetReport(report);
  // The ping table's blocking wake-ups, over % and wake floor µs: four blocking wake-ups at half
  // the blocking round trip, two at half the waitAsync one.
  assert.match(
    text,
    /^split +2 +200 +10 +4600 +4600 +9200 +9200 +6\.0 +4\.0 +2\.0 +2\.0 +2\.2 +100 +140 +-$/m,
  );
  assert.match(text, /80\.0 µs in waitAsync and 30\.0 µs in blocking slices/);
  const delayed = json.rows.find((r: LatencyRow) => r.delayMs === 2);
  assert.equal(delayed.overPct.toFixed(1), "2.2");
  assert.equal(delayed.wakeFloorUs, 140);
  assert.equal(delayed.cWakeFloorUs, null, "no C round trip in this report");
  assert.equal(json.rows.find((r: LatencyRow) => r.kind === "latency").overPct, null);
  // The packed/split line.
  assert.match(
    text,
    /^packed\/split, 64 B: 1\.10x the frame rate \(median of 3 paired runs, 0\.90–1\.20\)/m,
  );
  assert.deepEqual(json.comparisons, [{
    kind: "packed/split",
    layout: "split",
    frameSize: 64,
    csum: true,
    placement: "auto",
    ppsRatio: 1.1,
    ppsRatioMin: 0.9,
    ppsRatioMax: 1.2,
    pairedRuns: 3,
    cpuPerFrameRatio: 1e6 / 1.1e6 / 1,
  }]);
  // The veth tables' ratios.
  const vethText = formatVethComparison(report, { ran: true, veth });
  assert.match(vethText, /^64 +0\.200 +0\.10 +5\.00 +5\.50$/m);
  assert.deepEqual(json.veth.ratios.throughput.map((r: { ppsRatio: number }) => r.ppsRatio), [
    5,
    5.5,
  ]);
  assert.deepEqual(json.veth.ratios.ping, [{
    layout: "split",
    medianRatio: 10,
    p99Ratio: 10,
    cFloorRatio: null,
  }]);
  // Skipped: the reason, as the text says it.
  assert.deepEqual(netBenchJson(report, { ran: false, reason: "x" }).veth, {
    ran: false,
    reason: "x",
  });
  assert.equal("veth" in netBenchJson(report, null), false);
});

Deno.test("bench net measures each frame size and delay once", () => {
  const o = parseNetOptions({ ...RAW, sizes: "64,1500,64", delays: "0,2,0" });
  assert.deepEqual(o.frameSizes, [64, 1500]);
  assert.deepEqual(o.delaysMs, [0, 2]);
});

Deno.test("a run that ends early still prints what it measured, marked incomplete, as valid JSON", () => {
  const options = parseNetOptions(RAW);
  const empty: NetBenchReport = { date: "d", cpus: 2, options, rows: [] };
  const json = JSON.parse(formatNetOutput(empty, null, true, "interrupted (Ctrl-C or SIGTERM)"));
  assert.equal(json.incomplete, "interrupted (Ctrl-C or SIGTERM)");
  assert.deepEqual(json.rows, []);
  assert.deepEqual(json.comparisons, []);
  const done = JSON.parse(formatNetOutput(empty, null, true));
  assert.equal("incomplete" in done, false, "a complete run has no incomplete key");
  const text = formatNetOutput(empty, { ran: false, reason: "it failed: x" }, false, "failed: y");
  assert.match(text, /\n\nveth comparison skipped: it failed: x\n\nincomplete: failed: y$/);
});

Deno.test("bench net --json says why idle CPU is null beside the scale rows", () => {
  const options = parseNetOptions({ ...RAW, scale: "2" });
  const row = {
    kind: "scale" as const,
    vms: 2,
    workers: 4,
    upMs: 1,
    runsUpMs: [1],
    rssMiB: 1,
    idleCpuPct: null,
    servingCpuPct: null,
  };
  const json = JSON.parse(
    formatNetOutput({ date: "d", cpus: 2, options, rows: [row] }, null, true),
  );
  assert.equal(json.idleCpuSkipped, "it is measured on the 16-VM lab only, and --scale 2 has none");
  const before = JSON.parse(formatNetOutput({ date: "d", cpus: 2, options, rows: [] }, null, true));
  assert.equal("idleCpuSkipped" in before, false, "no scale rows yet, no reason");
});
