/**
 * `vlab bench net --vs-veth`: what users would run instead of a lab, measured on the same
 * machine in the same run. Two network namespaces joined by a veth pair (as mininet and
 * containerlab wire their nodes); iperf3 moves UDP datagrams of the same Ethernet frame sizes as
 * the lab's flood, and iputils `ping` measures the idle round trip at the same interval. vlab's
 * figures are then divided by these.
 *
 * It needs root, `ip`, `ping` and `iperf3` (Debian packages iproute2, iputils-ping, iperf3);
 * {@linkcode vethUnavailable} says in one line what is missing, and the benchmark skips. The
 * namespaces get a name unique to the run (`vlab-veth-<pid>-<random>-a`/`-b`), hold the only
 * addresses of the pair (10.254.0.1 and .2, no route anywhere else, so traffic stays inside
 * them), and are deleted in a `finally` whatever happened (deleting a namespace deletes its
 * veth end, but leaves the processes started in it running: on Ctrl-C or SIGTERM,
 * {@linkcode endVethPair} ends them first).
 *
 * Runs on the main thread of the CLI; every command goes through a {@linkcode CommandRunner},
 * so tests can replace the system.
 *
 * @module
 */

import { type CommandResult, type CommandRunner, systemRunner } from "./command.ts";

/** What the veth side measures. */
export interface VethOptions {
  /** Ethernet frame sizes (60…1514), as `vlab bench net --sizes`. */
  frameSizes: number[];
  /** Seconds of traffic per size (iperf3 takes whole seconds). */
  seconds: number;
  /**
   * Whole seconds of traffic before them, left out of the figure (iperf3's `--omit`, as the
   * lab's floods warm up; default 0).
   */
  warmupSeconds?: number;
  /** Pings. */
  pings: number;
  /** Milliseconds between two pings (default 10, as the lab's). */
  pingIntervalMs?: number;
}

/** The veth pair's figures. */
export interface VethReport {
  /** Per frame size: frames per second received, and Gbit/s of frame bytes. */
  throughput: { frameSize: number; pps: number; gbitPerSecond: number }[];
  /** Idle ping round trip, µs. */
  rttMedianUs: number;
  /** 99th percentile, µs. */
  rttP99Us: number;
}

/** Ethernet + IPv4 + UDP header bytes: a UDP payload of n bytes is a frame of n + 42. */
export const UDP_FRAME_OVERHEAD = 42;
const ADDR_A = "10.254.0.1";
const ADDR_B = "10.254.0.2";
const IPERF_PORT = "5201";
/** How long iperf3's server may take to listen, ms. */
const SERVER_READY_MS = 5000;

/**
 * Why the veth comparison cannot run here (one line), or null when it can.
 *
 * @example
 * ```ts ignore
 * const why = await vethUnavailable(systemRunner, Deno.uid());
 * if (why) console.log(`veth comparison skipped: ${why}`);
 * ```
 */
export async function vethUnavailable(
  run: CommandRunner,
  uid: number | null,
): Promise<string | null> {
  if (uid !== 0) return `it needs root to create network namespaces (uid ${uid ?? "unknown"})`;
  const missing: string[] = [];
  for (const [tool, pkg] of [["ip", "iproute2"], ["ping", "iputils-ping"], ["iperf3", "iperf3"]]) {
    const r = await run([tool, "-V"]);
    if (r.code === 127) missing.push(`${tool} (Debian package ${pkg})`);
  }
  return missing.length > 0 ? `${missing.join(", ")} not found` : null;
}

/** The names of one run's namespaces and veth ends. */
export interface VethNames {
  /** Namespace of side a (the senders). */
  a: string;
  /** Namespace of side b. */
  b: string;
  /** Veth end in a (at most 15 characters, the kernel's limit). */
  va: string;
  /** Veth end in b. */
  vb: string;
}

/**
 * Names unique to the process and the call.
 *
 * @example
 * ```ts
 * import { vethNames } from "./veth.ts";
 * vethNames(4242, 0.5).a; // "vlab-veth-4242-i00000-a"
 * ```
 */
export function vethNames(pid: number, random: number): VethNames {
  const r = Math.floor(random * 36 ** 6).toString(36).padStart(6, "0");
  const tag = `vlab-veth-${pid}-${r}`;
  const short = `vv${(pid % 36 ** 4).toString(36)}${r}`; // ≤ 12 characters
  return { a: `${tag}-a`, b: `${tag}-b`, va: `${short}a`, vb: `${short}b` };
}

/** Round trips from iputils ping's output (`time=0.045 ms` lines), ms. */
export function parsePingTimes(stdout: string): number[] {
  const out: number[] = [];
  for (const m of stdout.matchAll(/ time=([0-9.]+) ms/g)) out.push(Number(m[1]));
  return out;
}

/**
 * Datagrams received per second from an iperf3 UDP client's JSON report (`end.sum_received`, or
 * `end.sum` from older iperf3s: packets less lost packets, over the seconds).
 *
 * @example
 * ```ts
 * import { parseIperfUdp } from "./veth.ts";
 * parseIperfUdp('{"end":{"sum":{"packets":300,"lost_packets":100,"seconds":2}}}').pps; // 100
 * ```
 */
export function parseIperfUdp(json: string): { pps: number; seconds: number } {
  type Sum = { packets?: number; lost_packets?: number; seconds?: number };
  const report = JSON.parse(json) as { error?: string; end?: { sum?: Sum; sum_received?: Sum } };
  const sum = report.end?.sum_received ?? report.end?.sum;
  if (!sum || typeof sum.packets !== "number" || typeof sum.seconds !== "number") {
    throw new Error(`iperf3 printed no UDP summary${report.error ? `: ${report.error}` : ""}`);
  }
  const received = sum.packets - (sum.lost_packets ?? 0);
  return { pps: sum.seconds > 0 ? received / sum.seconds : 0, seconds: sum.seconds };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function must(run: CommandRunner, argv: string[]): Promise<CommandResult> {
  const r = await run(argv);
  if (r.code !== 0) {
    throw new Error(`${argv.join(" ")} failed (${r.code}): ${firstLine(r)}`);
  }
  return r;
}

/** What a failed command said first (stderr, else stdout), or its exit code when it said nothing. */
function firstLine(r: CommandResult): string {
  return (r.stderr.trim() || r.stdout.trim()).split("\n")[0] || `exit code ${r.code}, no message`;
}

/** One UDP flood through the pair; the client retries while the server is not listening yet. */
async function udpRate(
  run: CommandRunner,
  ns: VethNames,
  frameSize: number,
  seconds: number,
  omit: number,
  servers: Promise<unknown>[],
): Promise<number> {
  // One test, and never past its time: `timeout` ends a server that no client reached.
  const limit = String(omit + seconds + SERVER_READY_MS / 1000 + 5);
  const server = run([
    "ip",
    "netns",
    "exec",
    ns.b,
    "timeout",
    limit,
    "iperf3",
    "-s",
    "-1",
    "-p",
    IPERF_PORT,
  ]); // deno-fmt-ignore
  servers.push(server);
  const payload = Math.max(1, frameSize - UDP_FRAME_OVERHEAD);
  const deadline = performance.now() + SERVER_READY_MS;
  for (;;) {
    const r = await run([
      "ip",
      "netns",
      "exec",
      ns.a,
      "iperf3",
      "-c",
      ADDR_B,
      "-p",
      IPERF_PORT,
      "-u",
      "-b",
      "0",
      "-l",
      String(payload),
      "-t",
      String(seconds),
      "-O",
      String(omit),
      "-J",
    ]); // deno-fmt-ignore
    // With -J, iperf3 reports a failure as an `error` field, with exit code 0 or not.
    const failed = r.code !== 0 || /"error"\s*:/.test(r.stdout);
    if (!failed) return parseIperfUdp(r.stdout).pps;
    if (performance.now() > deadline || !/connect|refused/i.test(r.stdout + r.stderr)) {
      throw new Error(`iperf3 client failed: ${firstLine(r)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the server is still starting
  }
}

/** Sends a signal to a process (`Deno.kill`; tests replace it). */
export type Killer = (pid: number, signal: Deno.Signal) => void;

/**
 * End every process still in the pair's namespaces (iperf3's server and its `timeout`, a client,
 * a `ping`), then delete the namespaces: what Ctrl-C or SIGTERM do before the process ends.
 * Deleting a namespace does not end the processes in it (they hold it): a `ping -c 1000` at
 * one-second intervals went on pinging for a quarter of an hour after the benchmark had exited.
 * The processes are found with `ip netns pids`; the namespaces are this run's own (their names
 * carry its pid and a random part), so whatever runs in them is the run's.
 *
 * @example
 * ```ts ignore
 * await endVethPair(systemRunner, names);
 * ```
 */
export async function endVethPair(
  run: CommandRunner,
  names: Pick<VethNames, "a" | "b">,
  kill: Killer = Deno.kill,
): Promise<void> {
  for (const ns of [names.a, names.b]) {
    const r = await run(["ip", "netns", "pids", ns]);
    if (r.code !== 0) continue; // no such namespace (not made yet): nothing runs in it
    for (const pid of r.stdout.split(/\s+/).filter((w) => /^[0-9]+$/.test(w))) {
      try {
        kill(Number(pid), "SIGKILL");
      } catch {
        // Ended already.
      }
    }
  }
  await run(["ip", "netns", "del", names.a]);
  await run(["ip", "netns", "del", names.b]);
}

/**
 * Build the pair, measure, and delete the namespaces (in every case).
 *
 * @example
 * ```ts ignore
 * const report = await runVethBench({ frameSizes: [64, 1500], seconds: 2, pings: 200 });
 * ```
 */
export async function runVethBench(
  options: VethOptions,
  run: CommandRunner = systemRunner,
  names: VethNames = vethNames(Deno.pid, Math.random()),
): Promise<VethReport> {
  const { a, b, va, vb } = names;
  const servers: Promise<unknown>[] = [];
  try {
    await must(run, ["ip", "netns", "add", a]);
    await must(run, ["ip", "netns", "add", b]);
    await must(run, [
      "ip",
      "link",
      "add",
      va,
      "netns",
      a,
      "type",
      "veth",
      "peer",
      "name",
      vb,
      "netns",
      b,
    ]);
    await must(run, ["ip", "-n", a, "addr", "add", `${ADDR_A}/24`, "dev", va]);
    await must(run, ["ip", "-n", b, "addr", "add", `${ADDR_B}/24`, "dev", vb]);
    for (const [ns, dev] of [[a, va], [b, vb], [a, "lo"], [b, "lo"]]) {
      await must(run, ["ip", "-n", ns, "link", "set", dev, "up"]);
    }
    const throughput: VethReport["throughput"] = [];
    for (const frameSize of options.frameSizes) {
      const omit = Math.max(0, Math.round(options.warmupSeconds ?? 0));
      const pps = await udpRate(run, names, frameSize, options.seconds, omit, servers);
      throughput.push({ frameSize, pps, gbitPerSecond: (pps * frameSize * 8) / 1e9 });
    }
    const ping = await must(run, [
      "ip",
      "netns",
      "exec",
      a,
      "ping",
      "-n",
      "-c",
      String(options.pings),
      "-i",
      String((options.pingIntervalMs ?? 10) / 1000),
      "-W",
      "1",
      ADDR_B,
    ]); // deno-fmt-ignore
    const times = parsePingTimes(ping.stdout).sort((x, y) => x - y);
    if (times.length === 0) throw new Error("ping got no reply through the veth pair");
    return {
      throughput,
      rttMedianUs: quantile(times, 0.5) * 1000,
      rttP99Us: quantile(times, 0.99) * 1000,
    };
  } finally {
    // iperf3's servers end after one test, or at their `timeout`; then the namespaces go (and
    // their veth ends with them).
    await Promise.allSettled(servers);
    await run(["ip", "netns", "del", a]);
    await run(["ip", "netns", "del", b]);
  }
}
