/**
 * The `sink` workload: count the datagrams and bytes arriving on a port and detect loss,
 * reordering and duplicates from the flood payload's sequence numbers, with one `SeqTracker`
 * per sender (source IP and port: each flood numbers its own datagrams from 0), reported per
 * sender and in total. At most `MAX_SENDERS` senders are tracked; datagrams from more, and
 * datagrams without the flood magic, are counted in `ignored`.
 *
 * What "lost" can mean: a gap below the highest sequence number seen is known lost (until its
 * datagram comes late); datagrams after the last one seen cannot be told from datagrams never
 * sent, unless the sink was told how many to expect (`-n COUNT`). With `-n`, the datagrams still
 * missing at the end (COUNT minus those seen or known lost) count as lost too (`lostAtEnd`).
 *
 * @module
 */

import type { SinkRequest } from "./args.ts";
import type { NetStack } from "../net/stack.ts";
import { readFloodSeq } from "./flood_payload.ts";
import { rateText, serveUdp, type WorkloadError, type WorkloadOptions } from "./options.ts";
import { formatIpv4 } from "../net/ipv4.ts";
import { count } from "../../../devices/base/plural.ts";

/** Senders tracked at most (each holds an 8 KiB window). */
export const MAX_SENDERS = 1024;

const WINDOW_BITS = 1 << 16;

/**
 * Loss, reorder and duplicate detection over 32-bit sequence numbers starting at 0, with a
 * sliding window of 65536 sequence numbers. A gap counts as lost until its datagram arrives
 * late (then it counts as reordered instead); a number seen twice in the window is a duplicate;
 * one older than the window counts as reordered.
 *
 * @example
 * ```ts
 * import { SeqTracker } from "./sink.ts";
 * const t = new SeqTracker();
 * for (const s of [0, 2, 1, 1, 4]) t.observe(s);
 * [t.lost, t.reordered, t.duplicated]; // [1, 1, 1]
 * ```
 */
export class SeqTracker {
  /** Gaps below the highest number seen (not counting what came after the last one seen). */
  lost = 0;
  /** Numbers that came after a higher one. */
  reordered = 0;
  /** Numbers seen twice within the window. */
  duplicated = 0;
  #highest = -1;
  readonly #seen = new Uint8Array(WINDOW_BITS / 8);

  /** The highest sequence number seen, or -1: the sender numbered `highest + 1` datagrams so far. */
  get highest(): number {
    return this.#highest;
  }

  /** Record one sequence number. */
  observe(seq: number): void {
    if (seq > this.#highest) {
      // Clear the bits of the numbers entering the window (bounded by the window size).
      const gap = seq - this.#highest;
      if (gap >= WINDOW_BITS) this.#seen.fill(0);
      else for (let s = this.#highest + 1; s <= seq; s++) this.#set(s, false);
      this.lost += gap - 1;
      this.#highest = seq;
      this.#set(seq, true);
    } else if (this.#highest - seq >= WINDOW_BITS) {
      this.reordered++;
    } else if (this.#get(seq)) {
      this.duplicated++;
    } else {
      this.#set(seq, true);
      this.reordered++;
      if (this.lost > 0) this.lost--;
    }
  }

  #get(s: number): boolean {
    const i = s % WINDOW_BITS;
    return (this.#seen[i >>> 3] & (1 << (i & 7))) !== 0;
  }

  #set(s: number, v: boolean): void {
    const i = s % WINDOW_BITS;
    if (v) this.#seen[i >>> 3] |= 1 << (i & 7);
    else this.#seen[i >>> 3] &= ~(1 << (i & 7));
  }
}

/**
 * What the sink counted from one sender (source `ip:port`).
 *
 * @example
 * ```ts
 * import type { SinkSender } from "./sink.ts";
 * const s: SinkSender = { src: "10.0.0.1:49152", received: 3, lost: 0, reordered: 0, duplicated: 0, lostAtEnd: null };
 * ```
 */
export interface SinkSender {
  /** The sender, `ip:port`. */
  src: string;
  /** Its datagrams received (duplicates included). */
  received: number;
  /** Gaps below the highest sequence number seen, plus `lostAtEnd` when it is known. */
  lost: number;
  /** Datagrams that came after a higher sequence number (or older than the 65536-wide window). */
  reordered: number;
  /** Sequence numbers seen twice within the window. */
  duplicated: number;
  /**
   * Of `lost`, the datagrams after the last one seen: known only with `-n` and one sender (the
   * sink's count is a total, not a count per sender); null otherwise.
   */
  lostAtEnd: number | null;
}

/**
 * The result of `sink`. `bytes` and `gbitPerSecond` count Ethernet frame bytes (payload + 42),
 * like `udp-flood`; `seconds` runs from the first to the last datagram. `reordered` and
 * `duplicated` are the sums over `senders`; so is `lost` without `-n`. With `-n`, `lost` also
 * counts the datagrams never seen at the end (`lostAtEnd`), which only a single sender's row
 * carries too.
 *
 * @example
 * ```ts
 * import type { SinkResult } from "./sink.ts";
 * const r: SinkResult = { kind: "sink", port: 9, received: 0, bytes: 0, pps: 0, gbitPerSecond: 0, lost: 0, lostAtEnd: null, expected: null, reordered: 0, duplicated: 0, ignored: 0, seconds: 0, senders: [], text: "" };
 * ```
 */
export interface SinkResult {
  /** The workload. */
  kind: "sink";
  /** The UDP port it listened on. */
  port: number;
  /** Datagrams received (duplicates and ignored ones included). */
  received: number;
  /** Ethernet frame bytes received. */
  bytes: number;
  /** Datagrams a second, from the first to the last. */
  pps: number;
  /** Frame bits a second, in Gbit/s. */
  gbitPerSecond: number;
  /**
   * Datagrams lost: the gaps below each sender's highest sequence number seen and, with `-n`,
   * `lostAtEnd`. Without `-n` the datagrams after the last one seen are not counted (they cannot
   * be told from datagrams never sent).
   */
  lost: number;
  /**
   * With `-n`: of `lost`, the datagrams never seen at the end (`expected` minus the datagrams
   * seen or known lost, at least 0); null without `-n`.
   */
  lostAtEnd: number | null;
  /** The `-n` count (the datagrams all senders together were expected to send), or null. */
  expected: number | null;
  /** The senders' `reordered`, summed. */
  reordered: number;
  /** The senders' `duplicated`, summed. */
  duplicated: number;
  /** Datagrams without a flood payload, or from senders past `MAX_SENDERS` (not checked). */
  ignored: number;
  /** From the first datagram to the last, s. */
  seconds: number;
  /** One row per sender, in order of first arrival. */
  senders: SinkSender[];
  /** The summary people read (`--json` prints the whole object). */
  text: string;
}

/** The cells of `runSink`'s per-datagram doubles. */
const enum Cell {
  lastKey,
  first,
  last,
  bytes,
  count,
}

/**
 * Run `sink` for `-t` seconds from its start, until its `-n`th datagram (its count ends the wait
 * at once; datagrams arriving in the same pass are counted too, so a duplicate still shows), or
 * until aborted, whichever comes first.
 *
 * @example
 * ```ts
 * import { runSink } from "./sink.ts";
 * // const r = await runSink(stack, { kind: "sink", port: 9, seconds: 2, count: null }, opts);
 * ```
 */
export async function runSink(
  stack: NetStack,
  args: SinkRequest,
  opts: WorkloadOptions,
): Promise<SinkResult | WorkloadError> {
  // Keyed by ip * 65536 + port (exact in a double); 1024 trackers at most.
  const trackers = new Map<number, { tracker: SeqTracker; received: number }>();
  let lastSender: { tracker: SeqTracker; received: number } | undefined;
  let received = 0;
  let ignored = 0;
  // What changes at every datagram and is no small integer (a sender's key, the clock, the
  // bytes past 1 GiB): kept in a Float64Array, since a double in a closure's variable is a new
  // heap object at every store, garbage a flood's sink would make at every frame.
  const d = new Float64Array(Cell.count);
  d[Cell.lastKey] = -1;
  // Ends the wait at the count (the caller's signal still ends it too).
  const counted = new AbortController();
  const count = args.count ?? Infinity;
  // Datagrams that count toward -n: all but duplicates (a copy the link made is no datagram of
  // the COUNT sent; counted, it ended the sink early and its last datagrams read as lost).
  let distinct = 0;
  /** Record one datagram; false for a duplicate. */
  const take = (src: { ip: number; port: number }, payload: Uint8Array): boolean => {
    const seq = readFloodSeq(payload);
    if (seq < 0) {
      ignored++;
      return true;
    }
    const key = src.ip * 65536 + src.port;
    // A flood's datagrams come in runs: skip the lookup while the sender stays the same.
    let t = key === d[Cell.lastKey] ? lastSender : trackers.get(key);
    if (t === undefined) {
      if (trackers.size >= MAX_SENDERS) {
        ignored++;
        return true;
      }
      t = { tracker: new SeqTracker(), received: 0 };
      trackers.set(key, t);
    }
    d[Cell.lastKey] = key;
    lastSender = t;
    t.received++;
    const duplicates = t.tracker.duplicated;
    t.tracker.observe(seq);
    return t.tracker.duplicated === duplicates;
  };
  const served = await serveUdp(stack, args.port, args.seconds, (src, payload) => {
    const now = opts.clock.now();
    if (received === 0) d[Cell.first] = now;
    d[Cell.last] = now;
    received++;
    d[Cell.bytes] += payload.length + 42;
    if (take(src, payload) && ++distinct === count) counted.abort();
  }, { ...opts, signal: AbortSignal.any([opts.signal, counted.signal]) });
  if (!served.ok) return served.error;
  const seconds = (d[Cell.last] - d[Cell.first]) / 1000;
  const bytes = d[Cell.bytes];
  const senders: SinkSender[] = [];
  // Datagrams the senders numbered up to the last one seen from each (seen or known lost).
  let numbered = 0;
  for (const [key, t] of trackers) {
    numbered += t.tracker.highest + 1;
    senders.push({
      src: `${formatIpv4(Math.floor(key / 65536))}:${key % 65536}`,
      received: t.received,
      lost: t.tracker.lost,
      reordered: t.tracker.reordered,
      duplicated: t.tracker.duplicated,
      lostAtEnd: null,
    });
  }
  const sum = (k: "lost" | "reordered" | "duplicated") => senders.reduce((n, s) => n + s[k], 0);
  // With -n, what was expected and never seen at the end is lost too; an ignored datagram took
  // its place in the count. One sender's tail is its own; several senders' cannot be split.
  const expected = args.count;
  const lostAtEnd = expected === null ? null : Math.max(0, expected - ignored - numbered);
  if (lostAtEnd !== null && senders.length === 1) {
    senders[0].lost += lostAtEnd;
    senders[0].lostAtEnd = lostAtEnd;
  }
  const r: SinkResult = {
    kind: "sink",
    port: args.port,
    received,
    bytes,
    pps: seconds > 0 ? received / seconds : 0,
    gbitPerSecond: seconds > 0 ? (bytes * 8) / seconds / 1e9 : 0,
    lost: sum("lost") + (lostAtEnd !== null && senders.length !== 1 ? lostAtEnd : 0),
    lostAtEnd,
    expected,
    reordered: sum("reordered"),
    duplicated: sum("duplicated"),
    ignored,
    seconds,
    senders,
    text: "",
  };
  r.text = sinkText(r);
  return r;
}

function sinkText(r: SinkResult): string {
  // Say what "lost" covers: with -n, the end too; without, only what came before the last seen.
  const counts = (x: SinkSender | SinkResult, expected: number | null = null) =>
    `lost ${x.lost} (${
      x.lostAtEnd === null
        ? "before the last datagram seen"
        : `${x.lostAtEnd} after the last datagram seen${
          expected === null ? "" : `, of ${expected} expected`
        }`
    }), reordered ${x.reordered}, duplicated ${x.duplicated}`;
  const lines = [
    `sink on port ${r.port}: ${count(r.received, "datagram")} (${
      count(r.bytes, "frame byte")
    }) in ${r.seconds.toFixed(3)} s, ${
      r.received > 0 ? rateText(r.seconds, r.pps, r.gbitPerSecond) : "0 pps, 0.000 Gbit/s"
    }`,
    `total: ${counts(r, r.expected)}, ignored ${r.ignored}, from ${r.senders.length} sender(s)`,
  ];
  if (r.senders.length > 1) {
    for (const s of r.senders) lines.push(`  ${s.src}: ${s.received} received, ${counts(s)}`);
  }
  return lines.join("\n");
}
