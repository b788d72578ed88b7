/**
 * The `sink` workload: count the datagrams and bytes arriving on a port and detect loss,
 * reordering and duplicates from the flood payload's sequence numbers (`SeqTracker`).
 * Assumes one flow (one flood) per sink; datagrams without the flood magic are counted in
 * `ignored`.
 *
 * @module
 */

import type { SinkRequest } from "./args.ts";
import type { NetStack } from "../net/stack.ts";
import { readFloodSeq } from "./flood_payload.ts";
import { serveUdp, type WorkloadError, type WorkloadOptions } from "./options.ts";

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
  lost = 0;
  reordered = 0;
  duplicated = 0;
  #highest = -1;
  readonly #seen = new Uint8Array(WINDOW_BITS / 8);

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
 * The result of `sink`. `bytes` and `gbitPerSecond` count Ethernet frame bytes (payload + 42),
 * like `udp-flood`; `seconds` runs from the first to the last datagram.
 *
 * @example
 * ```ts
 * import type { SinkResult } from "./sink.ts";
 * const r: SinkResult = { kind: "sink", port: 9, received: 0, bytes: 0, pps: 0, gbitPerSecond: 0, lost: 0, reordered: 0, duplicated: 0, ignored: 0, seconds: 0 };
 * ```
 */
export interface SinkResult {
  kind: "sink";
  port: number;
  received: number;
  bytes: number;
  pps: number;
  gbitPerSecond: number;
  lost: number;
  reordered: number;
  duplicated: number;
  /** Datagrams without a flood payload (not sequence-checked). */
  ignored: number;
  seconds: number;
}

/**
 * Run `sink` for `-t` seconds from its start (or until aborted).
 *
 * @example
 * ```ts
 * import { runSink } from "./sink.ts";
 * // const r = await runSink(stack, { kind: "sink", port: 9, seconds: 2 }, opts);
 * ```
 */
export async function runSink(
  stack: NetStack,
  args: SinkRequest,
  opts: WorkloadOptions,
): Promise<SinkResult | WorkloadError> {
  const tracker = new SeqTracker();
  let received = 0;
  let bytes = 0;
  let ignored = 0;
  let first = 0;
  let last = 0;
  const served = await serveUdp(stack, args.port, args.seconds, (_src, payload) => {
    const now = opts.clock.now();
    if (received === 0) first = now;
    last = now;
    received++;
    bytes += payload.length + 42;
    const seq = readFloodSeq(payload);
    if (seq < 0) ignored++;
    else tracker.observe(seq);
  }, opts);
  if (!served.ok) return served.error;
  const seconds = (last - first) / 1000;
  return {
    kind: "sink",
    port: args.port,
    received,
    bytes,
    pps: seconds > 0 ? received / seconds : 0,
    gbitPerSecond: seconds > 0 ? (bytes * 8) / seconds / 1e9 : 0,
    lost: tracker.lost,
    reordered: tracker.reordered,
    duplicated: tracker.duplicated,
    ignored,
    seconds,
  };
}
