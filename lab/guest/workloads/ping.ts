/**
 * The `ping` workload, as iputils' ping: one echo request every `-i` seconds whether or not
 * replies came back, on a ping socket of its own (its own ICMP identifier, so concurrent pings
 * never take each other's replies). Replies are matched by sequence number: a reply within `-W`
 * of its request counts as received, one after it as late, a second one as a duplicate. After
 * the last request it waits until every request is answered or has timed out. A request the NIC's
 * full transmit ring cannot take is not sent, and is tried again until it is (or -W has passed),
 * as iputils does on ENOBUFS: `transmitted` counts requests that left. A size that does
 * not fit the interface's MTU is fragmented by the stack (and the reply reassembled).
 *
 * @module
 */

import type { PingRequest } from "./args.ts";
import { formatIpv4 } from "../net/ipv4.ts";
import type { NetStack } from "../net/stack.ts";
import {
  broadcastDestination,
  Changes,
  noInterface,
  type PingProgress,
  waitFor,
  waitUntil,
  type WorkloadError,
  type WorkloadOptions,
} from "./options.ts";
import { HeadTail, keptLines } from "./kept.ts";

/** IPv4 (20) plus ICMP echo (8) header bytes around the payload. */
const PING_OVERHEAD = 28;

/** What became of one request, by sequence number. */
interface Sent {
  sentAt: number;
  deadline: number;
  answered: boolean;
}

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
  /** The shortest round trip, ms. */
  min: number;
  /** The mean, ms. */
  avg: number;
  /** The longest, ms. */
  max: number;
  /** The standard deviation, ms (iputils' `mdev`). */
  mdev: number;
  /** The nearest-rank median, ms. */
  median: number;
  /** The nearest-rank 99th percentile, ms. */
  p99: number;
}

/**
 * The result of `ping`. `rttMs` is null when no reply came back.
 *
 * @example
 * ```ts
 * import type { PingResult } from "./ping.ts";
 * const r: PingResult = { kind: "ping", dst: "10.0.0.2", transmitted: 1, received: 0, lossPct: 100, rttMs: null, replies: [], late: 0, duplicates: 0, text: "" };
 * ```
 */
export interface PingResult {
  /** The workload. */
  kind: "ping";
  /** The destination address, dotted. */
  dst: string;
  /** Echo requests sent. */
  transmitted: number;
  /** Replies received within their `-W` timeout (duplicates and late ones aside). */
  received: number;
  /** Requests without a reply in time, percent of `transmitted`. */
  lossPct: number;
  /** Round-trip times of the replies received, ms; null when none came. */
  rttMs: RttStats | null;
  /**
   * Each reply received: its request's sequence number and its round trip, ms. A long run keeps
   * its first 500 and last 500 (`received - replies.length` are not kept); `received` and
   * `rttMs` count every one.
   */
  replies: { seq: number; rttMs: number }[];
  /** Replies that came back after their request's `-W` timeout (not in `received`). */
  late: number;
  /** Replies to a request that was already answered. */
  duplicates: number;
  /**
   * What iputils prints: the `PING` line, a line per reply, then the statistics. A long run's
   * text keeps its first 500 and last 500 lines, with a line that says how many between them it
   * did not keep (`[N lines not kept: …]`); the statistics are always there, and whole.
   */
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
export function rttStats(rtts: readonly number[]): RttStats {
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
  const none = noInterface(stack, `ping ${dst}`);
  if (none !== null) return none;
  const broadcast = broadcastDestination(stack, args.dst, `ping ${dst}`);
  if (broadcast !== null) return broadcast;
  const ifIndex = stack.route(args.dst);
  if (ifIndex === null) {
    return {
      kind: "error",
      message: `Cannot ping ${dst}: no interface's subnet holds it`,
      hint: "Check the VM's interface addresses and prefixes in the topology",
    };
  }
  // The text keeps the first and last lines of a long run (kept.ts), as the replies: a
  // `-c 1000000` held every line and reply. The counts and the RTTs (8 bytes each, for the
  // exact median and p99) are whole.
  const lines = new HeadTail<string>();
  // A line of the run, as it happens: into the text, and to whoever listens (`onLine`), with the
  // counts its event changed, if any (one message: the lab never hears the one without the other).
  const say = (line: string, news?: PingProgress) => {
    lines.push(line);
    opts.onLine?.(line, news);
  };
  say(`PING ${dst} (${dst}) ${args.size}(${args.size + PING_OVERHEAD}) bytes of data.`);
  const replies = new HeadTail<{ seq: number; rttMs: number }>();
  const rtts: number[] = [];
  // By 16-bit sequence number; a wrapped number replaces the request it shares a slot with.
  const sent = new Map<number, Sent>();
  let late = 0;
  let duplicates = 0;
  const changes = new Changes(); // a reply came
  let transmitted = 0;
  let start = opts.clock.now();
  // The counts so far, for whoever listens to them (`onProgress`): with each request sent (to
  // `onProgress`) and each reply (with its line).
  const counts = (reply?: { seq: number; rttMs: number }): PingProgress | undefined =>
    opts.onProgress === undefined ? undefined : {
      kind: "ping",
      dst,
      transmitted,
      late,
      duplicates,
      elapsedMs: opts.clock.now() - start,
      ...(reply !== undefined ? { reply } : {}),
    };
  const opened = stack.pingOpen((r) => {
    const s = sent.get(r.seq);
    if (s === undefined) return;
    const now = opts.clock.now();
    const rtt = now - s.sentAt;
    const text = `${r.bytes} bytes from ${formatIpv4(r.src)}: icmp_seq=${r.seq} ttl=${r.ttl} time=${
      formatRtt(rtt)
    } ms`;
    if (s.answered) {
      duplicates++;
      say(`${text} (DUP!)`, counts());
      return;
    }
    s.answered = true;
    if (now > s.deadline) {
      late++;
      say(`${text} (late, after -W ${args.timeoutS} s)`, counts());
      return;
    }
    const reply = { seq: r.seq, rttMs: rtt };
    replies.push(reply);
    rtts.push(rtt);
    say(text, counts(reply));
    changes.ring();
  });
  if (!opened.ok) {
    return {
      kind: "error",
      message: `Cannot ping ${dst}: all ${opened.error.open} ICMP identifiers are in use`,
      hint: "Wait for some of the VM's running pings to end",
    };
  }
  const socket = opened.value;
  start = opts.clock.now();
  const timeoutMs = args.timeoutS * 1000;
  // While the NIC's transmit ring is full the request is not sent (iputils' ENOBUFS): the same
  // request is tried again after half the interval (at most 500 ms), for up to -W in all; past
  // that it counts as sent and failed, as iputils' hard errors do.
  const retryMs = Math.max(1, Math.min((args.intervalS * 1000) / 2, 500));
  let fullFor = 0;
  try {
    for (let seq = 1; seq <= args.count && !opts.signal.aborted;) {
      const sentAt = opts.clock.now();
      const seq16 = seq & 0xffff;
      const o = socket.send(args.dst, { seq: seq16, size: args.size });
      if (o === "ring-full" && fullFor + retryMs < timeoutMs) {
        fullFor += retryMs;
        await waitUntil(opts, sentAt + retryMs);
        continue;
      }
      fullFor = 0;
      transmitted++;
      if (o === "sent" || o === "arp-pending") {
        sent.set(seq16, { sentAt, deadline: sentAt + timeoutMs, answered: false });
        const news = counts();
        if (news !== undefined) opts.onProgress?.(news);
      } else {
        sent.delete(seq16);
        say(`ping: sendmsg: ${o} (icmp_seq=${seq16})`, counts());
      }
      if (seq < args.count) await waitUntil(opts, sentAt + args.intervalS * 1000);
      seq++;
    }
    // The last wait: until every request is answered or past its timeout, waking for the
    // replies that move the last open deadline (not every 100 ms, as it did).
    const lastOpen = () => {
      let last = -Infinity;
      for (const s of sent.values()) if (!s.answered && s.deadline > last) last = s.deadline;
      return last;
    };
    // Bounded: each pass ends with the last open deadline earlier, or past it.
    for (let d = lastOpen(); d > opts.clock.now() && !opts.signal.aborted; d = lastOpen()) {
      await waitFor(opts, () => lastOpen() < d, d, changes);
    }
  } finally {
    socket.close();
  }
  return pingResult({
    dst,
    transmitted,
    replies,
    rtts,
    late,
    duplicates,
    elapsedMs: opts.clock.now() - start,
  }, lines);
}

/**
 * A ping's result from its counts and the lines it said: `text` is those lines (the first and
 * last ones of a long run, with the gap's line between: kept.ts), then the statistics iputils
 * prints at its end (or at Ctrl-C). `replies` holds the replies kept (the first and the last);
 * `rtts` every reply's round trip, in order, which `received` and `rttMs` count. The ping builds
 * it at its end; the lab builds it from what it heard when the guest could not answer (a
 * `vm-crash` mid-run).
 *
 * @example
 * ```ts
 * import { pingResult } from "./ping.ts";
 * import { HeadTail } from "./kept.ts";
 * const replies = new HeadTail<{ seq: number; rttMs: number }>();
 * replies.push({ seq: 1, rttMs: 0.5 });
 * const r = pingResult({ dst: "10.0.0.2", transmitted: 2, replies, rtts: [0.5], late: 0, duplicates: 0, elapsedMs: 1000 }, new HeadTail());
 * r.lossPct; // 50
 * ```
 */
export function pingResult(
  counts: {
    dst: string;
    transmitted: number;
    replies: HeadTail<{ seq: number; rttMs: number }>;
    rtts: readonly number[];
    late: number;
    duplicates: number;
    elapsedMs: number;
  },
  said: HeadTail<string>,
): PingResult {
  const { dst, transmitted, late, duplicates } = counts;
  const lines = keptLines(said);
  const received = counts.rtts.length;
  const lossPct = transmitted === 0 ? 0 : ((transmitted - received) * 100) / transmitted;
  const rtt = received === 0 ? null : rttStats(counts.rtts);
  // The summary: in the text only (a listener has its lines, then prints the rest of the text).
  lines.push("", `--- ${dst} ping statistics ---`);
  const extra = (duplicates > 0 ? `, +${duplicates} duplicates` : "") +
    (late > 0 ? `, +${late} late` : "");
  lines.push(
    `${transmitted} packets transmitted, ${received} received${extra}, ${+lossPct.toFixed(
      3,
    )}% packet loss, time ${Math.round(counts.elapsedMs)}ms`,
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
    replies: counts.replies.items(),
    late,
    duplicates,
    text: lines.join("\n"),
  };
}
