/**
 * `vlab bench vsock`: what the vsock devices do with real streams, measured on a real lab (two
 * VMs with vsock, joined by a vsock link, each with its host socket `vsock.sock`).
 *
 * - **Stream VM to VM**: `a` runs `vsock-send` to `b`'s `vsock-sink` in 64 KiB writes; the
 *   figure is what the sink read, in Gbit/s of payload, checksum verified.
 * - **Reference**: in the same run, a Unix-socket stream of the same size between two host
 *   processes (this one reads, a child `deno` process writes 64 KiB at a time); the report
 *   gives the vsock/Unix ratio.
 * - **Connection set-up and tear-down**: sequential connections from the host (CID 2) through
 *   `a`'s `vsock.sock` to `a`'s `vsock-echo` (`CONNECT`, `OK`, close), per second.
 * - **Round trip**: one byte to `a`'s `vsock-echo` and back over one host connection, median
 *   and p99 in µs.
 * - **Waiting servers' cost**: the lab's CPU over a second before `a`'s `vsock-echo` starts,
 *   and over a second at the start of each run while it listens with no connection, each after
 *   a second to settle: a server that waits for a connection should cost what an idle VM does (a
 *   1 ms poll made it 6 % of a core).
 *
 * The set-up rate and the round trip go through the host's Unix socket as well as the device:
 * they are the host-to-guest figures. Every figure is the median of `runs` runs, measured one at
 * a time in one process.
 *
 * @module
 */

import { Lab } from "../lab.ts";
import { planLab } from "../plan.ts";
import { topologyFromObject } from "../topology/mod.ts";
import { benchTempDir } from "./at_exit.ts";
import { LabError } from "../errors.ts";
import { SOCKET_PATH_MAX } from "../runner.ts";
import { quote } from "../../devices/base/quote.ts";
import { count } from "../../devices/base/plural.ts";
import { cpuPctOver, median } from "./net_run.ts";

/** What `vlab bench vsock` measures. */
export interface VsockBenchOptions {
  /** Bytes per stream run (VM to VM and the Unix reference). */
  bytes: number;
  /** Runs per figure; medians are reported. */
  runs: number;
  /** Connections opened and closed per set-up run. */
  connections: number;
  /** One-byte round trips per latency run. */
  pings: number;
}

/** Defaults of `vlab bench vsock`. */
export const DEFAULT_VSOCK_OPTIONS: VsockBenchOptions = {
  bytes: 256 << 20,
  runs: 3,
  connections: 200,
  pings: 2000,
};

/** The report of `vlab bench vsock` (medians over the runs). */
export interface VsockBenchReport {
  /** The options measured. */
  options: VsockBenchOptions;
  /** VM-to-VM stream, Gbit/s of payload. */
  streamGbit: number;
  /** Each run's VM-to-VM figure. */
  streamRuns: number[];
  /** Unix-socket stream between two host processes, Gbit/s. */
  unixGbit: number;
  /** Each run's Unix figure. */
  unixRuns: number[];
  /** `streamGbit / unixGbit`. */
  ratio: number;
  /** Host-to-guest connections set up and torn down per second. */
  connectionsPerSecond: number;
  /** One-byte round trip host to guest and back, median µs. */
  rttMedianUs: number;
  /** The same, 99th percentile µs. */
  rttP99Us: number;
  /** The lab's CPU before any workload ran, percent of one core (NaN: not measured). */
  idleCpuPct: number;
  /** The lab's CPU while `a`'s `vsock-echo` listened with no connection, median of the runs. */
  servingCpuPct: number;
}

/** Milliseconds of each CPU window of the waiting servers' cost, and of the settling before it. */
const CPU_WINDOW_MS = 1000;

/** Progress callback: one line of what runs now. */
export type VsockProgress = (line: string) => void;

/** The p-quantile of a list (nearest rank; NaN when empty). */
export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

const ECHO_PORT = 7;
const SINK_PORT = 5000;

/** The bench's VMs, each with a host socket `<folder>/<vm>/vsock.sock`. */
const BENCH_VMS = ["a", "b"] as const;

/**
 * The Unix sockets the bench makes in its folder `dir`: each VM's `vsock.sock`, and the Unix
 * reference's `ref.sock`, named so that it is never the longest (it was `unix-ref.sock`, a byte
 * longer than `a/vsock.sock`: a folder whose VM sockets only just fit failed at the reference).
 *
 * @example
 * ```ts
 * import { benchSockets } from "./vsock.ts";
 * benchSockets("/tmp/x").reference; // "/tmp/x/ref.sock"
 * benchSockets("/tmp/x").all.length; // 3
 * ```
 */
export function benchSockets(dir: string): { reference: string; all: string[] } {
  const reference = `${dir}/ref.sock`;
  return { reference, all: [...BENCH_VMS.map((vm) => `${dir}/${vm}/vsock.sock`), reference] };
}

/**
 * The first socket of {@linkcode benchSockets} whose path is too long for a Unix socket
 * (`SOCKET_PATH_MAX` bytes), or null when every one fits: checked before the lab starts.
 *
 * @example
 * ```ts
 * import { benchSocketTooLong } from "./vsock.ts";
 * benchSocketTooLong("/tmp/x"); // null
 * benchSocketTooLong(`/tmp/${"d".repeat(100)}`); // "/tmp/ddd…/a/vsock.sock"
 * ```
 */
export function benchSocketTooLong(dir: string): string | null {
  const encoder = new TextEncoder();
  return benchSockets(dir).all.find((p) => encoder.encode(p).length > SOCKET_PATH_MAX) ?? null;
}

/**
 * Run the benchmark (a lab in this process, in a temporary state folder it removes, at the
 * process's exit too);
 * `partial` hears the report of the runs measured so far after each run.
 *
 * @example
 * ```ts ignore
 * import { DEFAULT_VSOCK_OPTIONS, runVsockBench } from "./vsock.ts";
 * const r = await runVsockBench({ ...DEFAULT_VSOCK_OPTIONS, runs: 1 }, console.error);
 * console.log(r.streamGbit, r.unixGbit, r.ratio);
 * ```
 */
export async function runVsockBench(
  o: VsockBenchOptions,
  progress: VsockProgress = () => {},
  partial: (soFar: VsockBenchReport) => void = () => {},
): Promise<VsockBenchReport> {
  const t = topologyFromObject({
    name: "bench-vsock",
    vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } }, // BENCH_VMS
    links: [{ kind: "vsock", endpoints: ["a", "b"] }],
  }, "<bench vsock>");
  if (!t.ok) throw new Error(`bench topology: ${t.error.map((i) => i.message).join("; ")}`);
  // The lab's folder (each VM's vsock.sock) goes at the end, on a failed start, and at the
  // process's exit on Ctrl-C or SIGTERM, which run no `finally`.
  const temp = benchTempDir("vlab-bench-vsock-");
  const dir = temp.path;
  // A socket path the kernel cannot take failed at the first connect, a second into the run, as
  // "path must be shorter than SUN_LEN".
  const socket = benchSocketTooLong(dir);
  if (socket !== null) {
    temp.remove();
    throw new LabError(
      "lab-failed",
      `its lab's socket ${quote(socket)} is longer than a Unix socket path can be ` +
        `(${SOCKET_PATH_MAX} bytes)`,
      "Set TMPDIR to a shorter folder (the bench's lab is made there)",
    );
  }
  let lab: Lab;
  try {
    lab = await Lab.start(planLab(t.value), { stateDir: dir });
  } catch (error) {
    temp.remove();
    throw error;
  }
  const streamRuns: number[] = [];
  const unixRuns: number[] = [];
  const rates: number[] = [];
  const rtts: number[] = [];
  const idle: number[] = [];
  const serving: number[] = [];
  const runs = () => ({ streamRuns, unixRuns, rates, rtts, idle, serving });
  try {
    const hostSocket = lab.vsockSocket("a")!;
    // Each after a second to settle: a lab's first second runs its workers' start-up, and a
    // run's traffic leaves garbage collection behind it.
    const settledCpuPct = async () => {
      await new Promise((r) => setTimeout(r, CPU_WINDOW_MS));
      return await cpuPctOver(CPU_WINDOW_MS);
    };
    progress("the idle lab's CPU");
    idle.push(await settledCpuPct());
    const echo = lab.exec("a", ["vsock-echo", "-p", String(ECHO_PORT)]);
    await waitForListener(hostSocket, ECHO_PORT);
    for (let run = 0; run < o.runs; run++) {
      progress(`the lab's CPU, vsock-echo waiting, run ${run + 1}/${o.runs}`);
      serving.push(await settledCpuPct());
      progress(`vsock stream VM to VM, run ${run + 1}/${o.runs}`);
      streamRuns.push(await streamRun(lab, o.bytes));
      progress(`Unix-socket stream between two processes, run ${run + 1}/${o.runs}`);
      unixRuns.push(await unixRun(benchSockets(dir).reference, o.bytes));
      progress(`vsock connection set-up, run ${run + 1}/${o.runs}`);
      rates.push(await setupRun(hostSocket, o.connections));
      progress(`vsock one-byte round trip, run ${run + 1}/${o.runs}`);
      rtts.push(...await rttRun(hostSocket, o.pings));
      partial(vsockReport(o, runs()));
    }
    await lab.stop();
    await echo;
  } finally {
    await lab.stop();
    temp.remove();
  }
  return vsockReport(o, runs());
}

/**
 * The report of the runs measured: medians of each figure's runs (NaN, `null` in JSON, for a
 * figure with no run yet).
 *
 * @example
 * ```ts
 * import { DEFAULT_VSOCK_OPTIONS, vsockReport } from "./vsock.ts";
 * const r = vsockReport(DEFAULT_VSOCK_OPTIONS, {
 *   streamRuns: [4, 2], unixRuns: [8, 4], rates: [100], rtts: [10, 20, 30],
 * });
 * r.ratio; // 0.5
 * ```
 */
export function vsockReport(
  o: VsockBenchOptions,
  runs: {
    streamRuns: number[];
    unixRuns: number[];
    rates: number[];
    rtts: number[];
    idle?: number[];
    serving?: number[];
  },
): VsockBenchReport {
  const streamGbit = median(runs.streamRuns);
  const unixGbit = median(runs.unixRuns);
  return {
    options: o,
    streamGbit,
    streamRuns: [...runs.streamRuns],
    unixGbit,
    unixRuns: [...runs.unixRuns],
    ratio: streamGbit / unixGbit,
    connectionsPerSecond: median(runs.rates),
    rttMedianUs: median(runs.rtts),
    rttP99Us: quantile(runs.rtts, 0.99),
    idleCpuPct: median(runs.idle ?? []),
    servingCpuPct: median(runs.serving ?? []),
  };
}

/** One VM-to-VM stream of `bytes` in 64 KiB writes; Gbit/s the sink measured. */
async function streamRun(lab: Lab, bytes: number): Promise<number> {
  // spawn resolves once b's sink listens: the send's first connect is not refused.
  const { result: sink } = await lab.spawn("b", [
    "vsock-sink",
    "-p",
    String(SINK_PORT),
    "-t",
    "120",
  ]);
  const r = await lab.exec("a", [
    "vsock-send",
    "4",
    String(SINK_PORT),
    "-b",
    String(bytes),
    "--chunk",
    "65536",
  ]);
  if (!r.ok) throw new Error(`a: vsock-send: ${r.message}`);
  const got = await sink;
  if (!got.ok) throw new Error(`b: vsock-sink: ${got.message}`);
  const s = got.result as { bytes: number; mismatches: number; gbitPerSecond: number };
  if (s.bytes !== bytes || s.mismatches !== 0) {
    throw new Error(`the vsock stream lost bytes: ${s.bytes} of ${bytes}, ${s.mismatches} off`);
  }
  return s.gbitPerSecond;
}

/** The writer of the Unix reference: a child `deno` process, 64 KiB writes. */
const UNIX_WRITER = `
const [path, total] = [Deno.args[0], Number(Deno.args[1])];
const c = await Deno.connect({ transport: "unix", path });
const buf = new Uint8Array(65536).fill(7);
for (let sent = 0; sent < total;) {
  const n = Math.min(buf.length, total - sent);
  let off = 0;
  while (off < n) off += await c.write(buf.subarray(off, n));
  sent += n;
}
c.close();
`;

/** One Unix-socket stream of `bytes` from a child process to this one, over `path`; Gbit/s. */
async function unixRun(path: string, bytes: number): Promise<number> {
  const listener = Deno.listen({ transport: "unix", path });
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", UNIX_WRITER, path, String(bytes)],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const conn = await listener.accept();
    const buf = new Uint8Array(256 * 1024);
    let got = 0;
    let t0 = 0;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      if (got === 0) t0 = performance.now();
      got += n;
    }
    const seconds = (performance.now() - t0) / 1000;
    conn.close();
    const st = await child.output();
    if (!st.success || got !== bytes) {
      throw new Error(`the Unix reference moved ${got} of ${bytes} bytes`);
    }
    return (got * 8) / seconds / 1e9;
  } finally {
    listener.close();
    try {
      Deno.removeSync(path);
    } catch {
      // Closing the listener removed it.
    }
  }
}

/** Connect through `vsock.sock` to `port`; the socket after `OK`, or null when refused. */
async function hostConnect(path: string, port: number): Promise<Deno.UnixConn | null> {
  const c = await Deno.connect({ transport: "unix", path });
  await c.write(new TextEncoder().encode(`CONNECT ${port}\n`));
  const one = new Uint8Array(1);
  let line = "";
  while (line.length < 32) {
    const n = await c.read(one);
    if (n === null) break;
    if (one[0] === 0x0a) {
      if (/^OK [0-9]+$/.test(line)) return c;
      break;
    }
    line += String.fromCharCode(one[0]);
  }
  c.close();
  return null;
}

/** Wait (bounded) until the guest's echo accepts through the host socket. */
async function waitForListener(path: string, port: number): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const c = await hostConnect(path, port);
    if (c !== null) {
      c.close();
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`vsock-echo did not accept on port ${port} in 5 s`);
}

/** `n` sequential connections set up and torn down; per second. */
async function setupRun(path: string, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const c = await hostConnect(path, ECHO_PORT);
    if (c === null) throw new Error("vsock-echo refused a connection");
    await c.closeWrite();
    // Torn down: the guest's side closed too (end of stream).
    const buf = new Uint8Array(16);
    while ((await c.read(buf)) !== null) { /* nothing was sent */ }
    c.close();
  }
  return n / ((performance.now() - t0) / 1000);
}

/** `n` one-byte round trips over one connection; each in µs. */
async function rttRun(path: string, n: number): Promise<number[]> {
  const c = await hostConnect(path, ECHO_PORT);
  if (c === null) throw new Error("vsock-echo refused a connection");
  const out: number[] = [];
  const one = new Uint8Array([42]);
  const back = new Uint8Array(1);
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await c.write(one);
      if ((await c.read(back)) !== 1) throw new Error("vsock-echo closed mid round trip");
      out.push((performance.now() - t0) * 1000);
    }
  } finally {
    c.close();
  }
  return out;
}

/**
 * A stream's size as the report names it: whole MiB as such, else MiB to three decimals (1.5 MiB
 * must not read "2 MiB"); below a MiB whole KiB or bytes (`--bytes 1` read "0.000 MiB").
 */
function streamSize(bytes: number): string {
  const MiB = 1 << 20;
  if (bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes > MiB) return `${(bytes / MiB).toFixed(3)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return count(bytes, "byte");
}

/** The report as text. */
export function formatVsockReport(r: VsockBenchReport): string {
  // A figure with no run yet (a partial report) is "-", not NaN.
  const f = (x: number, d = 2) => Number.isFinite(x) ? x.toFixed(d) : "-";
  const size = streamSize(r.options.bytes);
  // The runs measured: a run cut short (Ctrl-C, a failure) said "medians of 3 runs" over one.
  const done = r.streamRuns.length;
  const runs = done < r.options.runs ? `${done} of ${r.options.runs} runs` : count(done, "run");
  const rows: [string, string][] = [
    [`stream VM to VM (64 KiB writes, ${size})`, `${f(r.streamGbit)} Gbit/s`],
    ["Unix-socket stream, two host processes", `${f(r.unixGbit)} Gbit/s`],
    ["ratio vsock / Unix", f(r.ratio)],
    ["connection set-up + tear-down, host to guest", `${f(r.connectionsPerSecond, 0)} /s`],
    [
      "one-byte round trip, host to guest",
      `median ${f(r.rttMedianUs, 1)} µs, p99 ${f(r.rttP99Us, 1)} µs`,
    ],
    [
      "lab CPU, idle; vsock-echo waiting",
      `${f(r.idleCpuPct)} %; ${f(r.servingCpuPct)} % of a core`,
    ],
  ];
  // The figures in one column, whatever the stream's size says (they were one off or more).
  const width = Math.max(...rows.map(([label]) => label.length)) + 2;
  return [
    `vsock bench: medians of ${runs}`,
    ...rows.map(([label, value]) => `  ${label.padEnd(width)}${value}`),
  ].join("\n");
}
