/**
 * The `ping` workload: iputils-style echo requests, one at a time (each waits for its reply or
 * its `-W` timeout, then the rest of the `-i` interval), with iputils-like text output.
 *
 * @module
 */

import type { PingRequest } from "./args.ts";
import { formatIpv4 } from "../net/ipv4.ts";
import type { NetStack } from "../net/stack.ts";
import type { WorkloadError, WorkloadOptions } from "./options.ts";

/**
 * RTT statistics in ms (iputils' mdev: the standard deviation, sqrt(E[x²] - E[x]²)).
 *
 * @example
 * ```ts
 * import type { RttStats } from "./ping.ts";
 * const s: RttStats = { min: 1, avg: 1, max: 1, mdev: 0, median: 1, p99: 1 };
 * ```
 */
export interface RttStats {
  min: number;
  avg: number;
  max: number;
  mdev: number;
  median: number;
  p99: number;
}

/**
 * The result of `ping`. `rttMs` is null when no reply came back.
 *
 * @example
 * ```ts
 * import type { PingResult } from "./ping.ts";
 * const r: PingResult = { kind: "ping", dst: "10.0.0.2", transmitted: 1, received: 0, lossPct: 100, rttMs: null, replies: [], text: "" };
 * ```
 */
export interface PingResult {
  kind: "ping";
  dst: string;
  transmitted: number;
  received: number;
  lossPct: number;
  rttMs: RttStats | null;
  replies: { seq: number; rttMs: number }[];
  text: string;
}

/**
 * Statistics of a non-empty list of RTTs (nearest-rank median and p99).
 *
 * @example
 * ```ts
 * import { rttStats } from "./ping.ts";
 * rttStats([1, 2, 3]).median; // 2
 * ```
 */
export function rttStats(rtts: number[]): RttStats {
  const sorted = [...rtts].sort((x, y) => x - y);
  const n = sorted.length;
  let sum = 0;
  let sum2 = 0;
  for (const r of sorted) {
    sum += r;
    sum2 += r * r;
  }
  const avg = sum / n;
  const rank = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  return {
    min: sorted[0],
    avg,
    max: sorted[n - 1],
    mdev: Math.sqrt(Math.max(0, sum2 / n - avg * avg)),
    median: rank(0.5),
    p99: rank(0.99),
  };
}

/**
 * Format an RTT like iputils: 3 decimals under 1 ms, 2 under 10, 1 under 100, else none.
 *
 * @example
 * ```ts
 * import { formatRtt } from "./ping.ts";
 * formatRtt(0.1234); // "0.123"
 * ```
 */
export function formatRtt(ms: number): string {
  const digits = ms < 1 ? 3 : ms < 10 ? 2 : ms < 100 ? 1 : 0;
  return ms.toFixed(digits);
}

/**
 * Run `ping`.
 *
 * @example
 * ```ts
 * import { runPing } from "./ping.ts";
 * // const r = await runPing(stack, { kind: "ping", dst: 0x0a000002, count: 3, intervalS: 1, size: 56, timeoutS: 1 }, opts);
 * ```
 */
export async function runPing(
  stack: NetStack,
  args: PingRequest,
  opts: WorkloadOptions,
): Promise<PingResult | WorkloadError> {
  const dst = formatIpv4(args.dst);
  if (stack.route(args.dst) === null) {
    return {
      kind: "error",
      message: `Cannot ping ${dst}: no interface's subnet holds it`,
      hint: "Check the VM's interface addresses and prefixes in the topology",
    };
  }
  const lines = [`PING ${dst} (${dst}) ${args.size}(${args.size + 28}) bytes of data.`];
  const replies: { seq: number; rttMs: number }[] = [];
  const start = opts.clock.now();
  let transmitted = 0;
  for (let seq = 1; seq <= args.count && !opts.signal.aborted; seq++) {
    const sentAt = opts.clock.now();
    const o = await stack.ping(args.dst, { seq, size: args.size, timeoutMs: args.timeoutS * 1000 });
    transmitted++;
    if (o.kind === "reply") {
      replies.push({ seq, rttMs: o.rttMs });
      lines.push(
        `${o.bytes} bytes from ${dst}: icmp_seq=${seq} ttl=${o.ttl} time=${formatRtt(o.rttMs)} ms`,
      );
    } else if (o.kind === "send-failed") {
      lines.push(`ping: sendmsg: ${o.reason} (icmp_seq=${seq})`);
    }
    if (seq < args.count) {
      const wait = sentAt + args.intervalS * 1000 - opts.clock.now();
      if (wait > 0 && !opts.signal.aborted) await opts.sleep(wait);
    }
  }
  const received = replies.length;
  const lossPct = transmitted === 0 ? 0 : ((transmitted - received) * 100) / transmitted;
  const rtt = received === 0 ? null : rttStats(replies.map((r) => r.rttMs));
  lines.push("", `--- ${dst} ping statistics ---`);
  lines.push(
    `${transmitted} packets transmitted, ${received} received, ${+lossPct.toFixed(
      3,
    )}% packet loss, time ${Math.round(opts.clock.now() - start)}ms`,
  );
  if (rtt !== null) {
    const f = (v: number) => v.toFixed(3);
    lines.push(
      `rtt min/avg/max/mdev = ${f(rtt.min)}/${f(rtt.avg)}/${f(rtt.max)}/${f(rtt.mdev)} ms`,
    );
  }
  return {
    kind: "ping",
    dst,
    transmitted,
    received,
    lossPct,
    rttMs: rtt,
    replies,
    text: lines.join("\n"),
  };
}
