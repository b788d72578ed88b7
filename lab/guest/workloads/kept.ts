/**
 * What a long workload keeps of its per-event output (a ping's reply lines and replies): the
 * first {@linkcode KEPT_HEAD} and the last {@linkcode KEPT_TAIL} items, and how many between them
 * it did not keep. A `ping -c 1000000` kept every reply line in its result (about 100 MB in the
 * guest, again in the lab and in the answer); iputils prints its lines and keeps none. Its counts
 * and statistics stay exact: they are counted, not read back from the kept items.
 *
 * Runs in the guest worker (the workload's own result) and on the main thread (`ExecTally`).
 *
 * @module
 */

/** Items kept from the start of a run. */
export const KEPT_HEAD = 500;
/** Items kept from the end of a run. */
export const KEPT_TAIL = 500;

/**
 * The first `head` and the last `tail` items pushed, and the count of those between.
 *
 * @example
 * ```ts
 * import { HeadTail } from "./kept.ts";
 * const k = new HeadTail<number>(2, 2);
 * for (let i = 1; i <= 7; i++) k.push(i);
 * k.head; // [1, 2]
 * k.tail(); // [6, 7]
 * k.skipped; // 3
 * ```
 */
export class HeadTail<T> {
  /** The first items, in order. */
  readonly head: T[] = [];
  readonly #ring: T[] = [];
  #next = 0;
  /** Items pushed between the head and the tail, not kept. */
  skipped = 0;

  /**
   * Keep up to `headSize` first items and `tailSize` last ones.
   *
   * @param headSize items kept from the start
   * @param tailSize items kept from the end
   */
  constructor(readonly headSize = KEPT_HEAD, readonly tailSize = KEPT_TAIL) {}

  /** Push the run's next item. */
  push(item: T): void {
    if (this.head.length < this.headSize) {
      this.head.push(item);
      return;
    }
    if (this.tailSize === 0) {
      this.skipped++;
      return;
    }
    if (this.#ring.length < this.tailSize) {
      this.#ring.push(item);
      return;
    }
    this.#ring[this.#next] = item;
    this.#next = (this.#next + 1) % this.tailSize;
    this.skipped++;
  }

  /** Items pushed in all: the head, the skipped ones and the tail. */
  get count(): number {
    return this.head.length + this.skipped + this.#ring.length;
  }

  /** The last items, in order. */
  tail(): T[] {
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }

  /** Every item kept, in order (the head, then the tail), without a mark of the gap. */
  items(): T[] {
    return [...this.head, ...this.tail()];
  }
}

/**
 * The line that stands for `n` lines a result's `text` did not keep, between its first and its
 * last ones ({@linkcode gapOfLine} reads it back).
 *
 * @example
 * ```ts
 * import { gapLine } from "./kept.ts";
 * gapLine(99000); // "[99000 lines not kept: a result's text keeps its first 500 and last 500 lines]"
 * ```
 */
export function gapLine(n: number, head = KEPT_HEAD, tail = KEPT_TAIL): string {
  return `[${n} line${n === 1 ? "" : "s"} not kept: a result's text keeps its first ${head} ` +
    `and last ${tail} lines]`;
}

/**
 * How many lines `line` stands for when it is a {@linkcode gapLine}, else null.
 *
 * @example
 * ```ts
 * import { gapLine, gapOfLine } from "./kept.ts";
 * gapOfLine(gapLine(12)); // 12
 * gapOfLine("64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.254 ms"); // null
 * ```
 */
export function gapOfLine(line: string): number | null {
  const m = /^\[(\d+) lines? not kept: a result's text keeps its first \d+ and last \d+ lines\]$/
    .exec(line);
  return m === null ? null : Number(m[1]);
}

/**
 * The kept lines as a text's lines: the head, the gap's line when lines were not kept, the tail.
 *
 * @example
 * ```ts
 * import { HeadTail, keptLines } from "./kept.ts";
 * const k = new HeadTail<string>(1, 1);
 * for (const l of ["a", "b", "c"]) k.push(l);
 * keptLines(k); // ["a", "[1 line not kept: …]", "c"]
 * ```
 */
export function keptLines(kept: HeadTail<string>): string[] {
  return kept.skipped === 0
    ? kept.items()
    : [...kept.head, gapLine(kept.skipped, kept.headSize, kept.tailSize), ...kept.tail()];
}
