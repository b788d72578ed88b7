import assert from "node:assert/strict";
import { type CommandResult, type CommandRunner, systemRunner } from "./command.ts";
import { parseIperfUdp, parsePingTimes, runVethBench, vethNames, vethUnavailable } from "./veth.ts";
import { formatVethComparison } from "./veth_report.ts";
import type { NetBenchReport } from "./net.ts";

const ok = (stdout = ""): CommandResult => ({ code: 0, stdout, stderr: "" });
const NAMES = vethNames(1234, 0.25);

/** A fake system: answers iperf3 and ping like the real tools, records every command. */
function fakeSystem(fail?: (argv: string[]) => CommandResult | null) {
  const calls: string[][] = [];
  const run: CommandRunner = (argv) => {
    calls.push(argv);
    const failed = fail?.(argv);
    if (failed) return Promise.resolve(failed);
    if (argv.includes("iperf3") && argv.includes("-c")) {
      const size = Number(argv[argv.indexOf("-l") + 1]);
      // 64-byte frames (22-byte payload): 200,000 of 250,000 arrive in 2 s.
      const packets = size === 22 ? 250_000 : 50_000;
      return Promise.resolve(ok(JSON.stringify({
        end: { sum_received: { packets, lost_packets: packets / 5, seconds: 2 } },
      })));
    }
    if (argv.includes("ping")) {
      const lines = [40, 50, 60, 70, 900].map((us, i) =>
        `64 bytes from 10.254.0.2: icmp_seq=${i + 1} ttl=64 time=${us / 1000} ms`
      );
      return Promise.resolve(ok(lines.join("\n")));
    }
    return Promise.resolve(ok());
  };
  return { run, calls };
}

Deno.test("the veth comparison says in one line why it cannot run", async () => {
  const all: CommandRunner = () => Promise.resolve(ok());
  assert.equal(await vethUnavailable(all, 0), null);
  assert.match(
    (await vethUnavailable(all, 1000))!,
    /^it needs root to create network namespaces \(uid 1000\)$/,
  );
  const noIperf: CommandRunner = (argv) =>
    Promise.resolve(argv[0] === "iperf3" ? { code: 127, stdout: "", stderr: "" } : ok());
  assert.equal(await vethUnavailable(noIperf, 0), "iperf3 (Debian package iperf3) not found");
  const skipped = formatVethComparison(emptyReport(), { ran: false, reason: "iperf3 not found" });
  assert.equal(skipped, "veth comparison skipped: iperf3 not found");
});

Deno.test("the veth pair's figures come from iperf3's and ping's output", async () => {
  const { run, calls } = fakeSystem();
  const r = await runVethBench({ frameSizes: [64, 1500], seconds: 2, pings: 5 }, run, NAMES);
  assert.deepEqual(r.throughput.map((t) => t.pps), [100_000, 20_000]);
  assert.equal(r.throughput[1].gbitPerSecond, 20_000 * 1500 * 8 / 1e9);
  assert.equal(r.rttMedianUs, 60);
  assert.equal(r.rttP99Us, 900);
  // Traffic stays in the namespaces: every iperf3 and ping runs inside one.
  for (const c of calls.filter((c) => c.includes("iperf3") || c.includes("ping"))) {
    assert.deepEqual(c.slice(0, 3), ["ip", "netns", "exec"], c.join(" "));
  }
  assert.deepEqual(calls.slice(-2), [
    ["ip", "netns", "del", NAMES.a],
    ["ip", "netns", "del", NAMES.b],
  ]);
  const omitted = (c: string[]) => c[c.indexOf("-O") + 1];
  const clients = calls.filter((c) => c.includes("iperf3") && c.includes("-c"));
  assert.deepEqual(clients.map(omitted), ["0", "0"], "no warm-up asked: nothing omitted");
  const warm = fakeSystem();
  await runVethBench({ frameSizes: [64], seconds: 2, warmupSeconds: 1, pings: 5 }, warm.run, NAMES);
  const warmClients = warm.calls.filter((c) => c.includes("iperf3") && c.includes("-c"));
  assert.deepEqual(warmClients.map(omitted), ["1"], "as the lab's warm-up: iperf3 --omit 1");
  // ping -i: the lab's 10 ms by default, else the interval the run asks for.
  const interval = (c: string[][]) => {
    const ping = c.find((argv) => argv.includes("ping"))!;
    return ping[ping.indexOf("-i") + 1];
  };
  assert.equal(interval(calls), "0.01");
  const sparse = fakeSystem();
  await runVethBench(
    { frameSizes: [], seconds: 2, pings: 5, pingIntervalMs: 1000 },
    sparse.run,
    NAMES,
  );
  assert.equal(interval(sparse.calls), "1");
});

Deno.test("the namespaces are deleted when a step fails", async () => {
  const { run, calls } = fakeSystem((argv) =>
    argv.includes("link") && argv.includes("add")
      ? { code: 2, stdout: "", stderr: "RTNETLINK answers: Operation not permitted\n" }
      : null
  );
  await assert.rejects(
    runVethBench({ frameSizes: [64], seconds: 1, pings: 5 }, run, NAMES),
    /ip link add .* failed \(2\): RTNETLINK answers: Operation not permitted$/,
  );
  assert.deepEqual(calls.slice(-2), [
    ["ip", "netns", "del", NAMES.a],
    ["ip", "netns", "del", NAMES.b],
  ]);
});

Deno.test("names are unique per call and veth names fit the kernel's 15 characters", () => {
  const a = vethNames(4_194_303, 0.999999);
  const b = vethNames(4_194_303, 0.5);
  assert.notEqual(a.a, b.a);
  assert.notEqual(a.va, b.va);
  for (const n of [a.va, a.vb, b.va, b.vb]) assert.ok(n.length <= 15, n);
  assert.match(a.a, /^vlab-veth-4194303-[0-9a-z]{6}-a$/);
});

Deno.test("iperf3 and ping output parsers", () => {
  assert.deepEqual(parsePingTimes("x time=0.045 ms\ny time=1.5 ms\nrtt min/avg = 1/2 ms"), [
    0.045,
    1.5,
  ]);
  const old = parseIperfUdp('{"end":{"sum":{"packets":300,"lost_packets":100,"seconds":2}}}');
  assert.equal(old.pps, 100);
  assert.throws(
    () => parseIperfUdp('{"error":"unable to connect to server"}'),
    /no UDP summary: unable to connect to server/,
  );
});

Deno.test("vlab's ratios to the veth pair, per layout", () => {
  const report = emptyReport();
  report.rows.push(
    { kind: "throughput", layout: "split", frameSize: 64, pps: 500_000 } as never,
    { kind: "latency", layout: "split", delayMs: 0, rttMedianUs: 600, rttP99Us: 1800 } as never,
    {
      kind: "latency",
      layout: "packed",
      delayMs: 0,
      rttMedianUs: 660,
      rttP99Us: 1200,
      perPing: { wakeups: 6, kicks: 2, interrupts: 2 },
      cWakeRoundTripUs: 40,
    } as never,
  );
  const text = formatVethComparison(report, {
    ran: true,
    veth: {
      throughput: [{ frameSize: 64, pps: 200_000, gbitPerSecond: 0.1 }],
      rttMedianUs: 60,
      rttP99Us: 600,
    },
  });
  assert.match(text, /^64 +0\.200 +0\.10 +2\.50$/m);
  assert.match(text, /^ping at idle +median µs +p99 µs +median\/veth +p99\/veth +C floor\/veth$/m);
  assert.match(text, /^split +600 +1800 +10\.00 +3\.00 +-$/m);
  // Six wake-ups at half a 40 µs C round trip: 120 µs, twice the veth's 60.
  assert.match(text, /^packed +660 +1200 +11\.00 +2\.00 +2\.00$/m);
  assert.match(text, /^C floor\/veth: the ping's wake-ups alone, at a C thread's price/m);
  assert.match(text, /iputils ping every 10 ms\), same run$/m);
  const sparse = { ...report, options: { ...report.options, pingIntervalMs: 1000 } };
  const veth = { throughput: [], rttMedianUs: 60, rttP99Us: 600 };
  assert.match(formatVethComparison(sparse, { ran: true, veth }), /iputils ping every 1000 ms\)/);
});

Deno.test("a tiny real veth comparison when this machine allows it, else the skip reason", async () => {
  let uid: number | null = null;
  try {
    uid = Deno.uid();
  } catch { /* not allowed: not root */ }
  const reason = await vethUnavailable(systemRunner, uid);
  if (reason !== null) {
    // Skip mode: one line that names what is missing.
    assert.ok(reason.length > 0 && !reason.includes("\n"), reason);
    return;
  }
  const names = vethNames(Deno.pid, Math.random());
  const r = await runVethBench({ frameSizes: [64], seconds: 1, pings: 5 }, systemRunner, names);
  assert.ok(r.throughput[0].pps > 0, JSON.stringify(r));
  assert.ok(r.rttMedianUs > 0 && r.rttP99Us >= r.rttMedianUs, JSON.stringify(r));
  const left = await systemRunner(["ip", "netns", "list"]);
  assert.ok(!left.stdout.includes(names.a) && !left.stdout.includes(names.b), left.stdout);
});

function emptyReport(): NetBenchReport {
  return { date: "", cpus: 2, options: {} as never, rows: [] };
}

Deno.test("with --csum off,on, each offload setting gets its own ratio to the veth pair", () => {
  const report = emptyReport();
  report.rows.push(
    { kind: "throughput", layout: "split", csum: false, frameSize: 64, pps: 300_000 } as never,
    { kind: "throughput", layout: "split", csum: true, frameSize: 64, pps: 500_000 } as never,
  );
  const text = formatVethComparison(report, {
    ran: true,
    veth: {
      throughput: [{ frameSize: 64, pps: 200_000, gbitPerSecond: 0.1 }],
      rttMedianUs: 60,
      rttP99Us: 600,
    },
  });
  assert.match(
    text,
    /^frame B +veth Mpps +veth Gbit\/s +split csum off\/veth +split csum on\/veth$/m,
  );
  assert.match(text, /^64 +0\.200 +0\.10 +1\.50 +2\.50$/m);
});
