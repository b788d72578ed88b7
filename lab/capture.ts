/**
 * Live captures of links, on the main thread: one drain per link, fanned out to every reader.
 *
 * Each link direction has one tap ring (`host/tap.ts`) with a single reader end. Two captures
 * that each drained it would take each other's frames, and the first to close would switch the
 * tap off under the other. So the supervisor keeps one {@linkcode LinkCapture} per link: the
 * first reader switches both taps on and starts the drain timer, every drained batch goes to
 * every reader, and the last reader to leave switches the taps off. `mergePcapRecords` merges
 * the two directions into one timeline.
 *
 * A worker stamps a frame when it handles it and publishes its tap after its pass, so a record can
 * reach its tap later than a newer one of the other direction reached theirs (a worker the OS
 * paused in between). The drain therefore hands on only the records older than
 * {@linkcode CAPTURE_HOLD_MS} and keeps the newer ones for the next drain, where a late record of
 * the other direction is merged in before them: the timeline holds unless a worker sat longer than
 * that between stamping and publishing. The last drain hands on everything. A reader that leaves
 * while others read gets what is kept back for them at once (its last frames); one that joins
 * while others read gets none of the records kept back from before it joined (a record stamped
 * no later than the newest of them is one of those, even one its worker publishes later).
 *
 * @module
 */

import type { TapReader } from "./host/tap.ts";

/**
 * The longest capture a script or `vlab capture --duration` may ask for, ms: a week (a timer
 * armed for more than 2³¹ − 1 ms fires at once, and a capture that long holds a link's every
 * frame in memory anyway).
 */
export const MAX_CAPTURE_MS = 604_800_000;

/**
 * How long a capture keeps the newest records back before handing them on, ms: longer than a
 * worker's pass between stamping a frame and publishing its tap (at most 2 ms of work, plus what
 * the OS takes from it), short beside a person watching a live capture.
 */
export const CAPTURE_HOLD_MS = 50;

/** Wall-clock microseconds, the clock the workers stamp records with (`nowUs` of the link ends). */
const wallUs = (): number => (performance.timeOrigin + performance.now()) * 1000;

/** Receives pcap records (no global header) in time order. */
export type CaptureReader = (records: Uint8Array) => void;

/**
 * Called once when a capture ends by itself: with no argument when the lab stops, with
 * `{ error }` when its reader threw (it gets no more frames).
 */
export type CaptureEnd = (ended?: { error: unknown }) => void;

/**
 * Tell a capture's `onEnd` that it ended (`ended` holds what its reader threw). Without an
 * `onEnd`, a reader's error is reported as uncaught once the current task is done (the process
 * ends with its stack unless a globalThis "error" listener prevents it); so is an error `onEnd`
 * itself throws. Neither stops the drain or the lab.
 */
function endCapture(onEnd: CaptureEnd | null, ended?: { error: unknown }): void {
  if (onEnd === null) {
    if (ended !== undefined) queueMicrotask(() => reportError(ended.error));
    return;
  }
  try {
    if (ended === undefined) onEnd();
    else onEnd(ended);
  } catch (e) {
    queueMicrotask(() => reportError(e));
  }
}

/**
 * The captures of one link.
 *
 * @example
 * ```ts
 * import { LinkCapture, mergePcapRecords } from "./capture.ts";
 * import { TapReader } from "./host/tap.ts";
 * const taps = [TapReader.create(1 << 16), TapReader.create(1 << 16)];
 * const capture = new LinkCapture(taps, mergePcapRecords);
 * const stop = capture.add((records) => console.log(records.length));
 * stop();
 * ```
 */
export class LinkCapture {
  readonly #taps: readonly TapReader[];
  readonly #merge: (a: Uint8Array, b: Uint8Array) => Uint8Array;
  readonly #intervalMs: number;
  readonly #readers = new Set<CaptureReader>();
  readonly #onEnd = new Map<CaptureReader, CaptureEnd | null>();
  /**
   * For a reader that joined while others read, the newest record's stamp then (µs): the records
   * kept back for the others, up to that one, are none of its frames. -Infinity for one that
   * enabled the taps, or that joined when nothing was kept back.
   */
  readonly #since = new Map<CaptureReader, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Merged records too new to hand on yet (see the module doc), in time order. */
  #pending: Uint8Array = new Uint8Array(0);
  readonly #holdUs: number;
  readonly #nowUs: () => number;

  /**
   * @param taps the forward and reverse taps of the link
   * @param merge merges the two directions' records into one timeline
   * @param intervalMs how often the taps are drained
   * @param hold how long the newest records are kept back (`holdMs`, default
   *   {@linkcode CAPTURE_HOLD_MS}), and the records' clock (`nowUs`, wall-clock µs by default)
   */
  constructor(
    taps: readonly TapReader[],
    merge: (a: Uint8Array, b: Uint8Array) => Uint8Array,
    intervalMs = 20,
    hold: { holdMs?: number; nowUs?: () => number } = {},
  ) {
    this.#taps = taps;
    this.#merge = merge;
    this.#intervalMs = intervalMs;
    this.#holdUs = (hold.holdMs ?? CAPTURE_HOLD_MS) * 1000;
    this.#nowUs = hold.nowUs ?? wallUs;
  }

  /** How many readers the link has. */
  get readers(): number {
    return this.#readers.size;
  }

  /**
   * Add a reader; it receives every frame captured from now until it calls the returned stop.
   * A reader that throws (or, async, whose promise rejects) is removed and gets no more frames;
   * the others go on. Its error is never dropped: `onEnd` gets it, or, without `onEnd`, it is
   * reported as uncaught once the drain is done, as an `addEventListener` listener's is (see
   * {@linkcode CaptureEnd}).
   */
  add(reader: CaptureReader, onEnd?: CaptureEnd): () => void {
    // A function object per call: the same callback added twice is two readers.
    const entry: CaptureReader = (records) => reader(records);
    this.#onEnd.set(entry, onEnd ?? null);
    if (this.#readers.size > 0) this.#collect(); // what came before it, kept back for the others
    this.#since.set(entry, this.#readers.size === 0 ? -Infinity : lastStampUs(this.#pending));
    if (this.#readers.size === 0) {
      this.#pending = new Uint8Array(0); // kept back for readers that have all left
      for (const t of this.#taps) t.setEnabled(true);
      this.#timer = setInterval(() => this.#drain(), this.#intervalMs);
    }
    this.#readers.add(entry);
    return () => {
      if (!this.#readers.has(entry)) return;
      if (this.#readers.size === 1) {
        clearInterval(this.#timer);
        this.#timer = undefined;
        for (const t of this.#taps) t.setEnabled(false);
        this.#drain(true); // the last frames, to the last reader
      } else {
        // Its last frames too, kept back for the others as well: they were held for the hold
        // (50 ms) and then went to the others only, so a capture that ended while another of
        // the link ran lacked its last 50 ms of frames.
        this.#collect();
        this.#deliver([entry], this.#pending);
      }
      this.#readers.delete(entry);
      this.#onEnd.delete(entry);
      this.#since.delete(entry);
    };
  }

  /** End every capture (the lab stops): the last frames go out, then each reader's `onEnd`. */
  close(): void {
    if (this.#readers.size === 0) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const t of this.#taps) t.setEnabled(false);
    this.#drain(true);
    const ends = [...this.#readers].map((r) => this.#onEnd.get(r));
    this.#readers.clear();
    this.#onEnd.clear();
    this.#since.clear();
    for (const end of ends) endCapture(end ?? null);
  }

  /** Hand on what the taps hold, but for the records newer than the hold (all of them if `last`). */
  #drain(last = false): void {
    // Everything pending: a drain that took a fixed share (it took 1 MiB) lets a fast link (a
    // vsock stream's 64 KiB packets at 100 MB/s) fill its tap between drains, and the capture
    // drops what the link delivered.
    this.#collect();
    const all = this.#pending;
    const cut = last ? all.length : recordsUpTo(all, this.#nowUs() - this.#holdUs);
    const merged = all.subarray(0, cut);
    this.#pending = cut === all.length ? new Uint8Array(0) : all.slice(cut);
    if (merged.length === 0) return;
    this.#deliver([...this.#readers], merged);
    this.#idleWithoutReaders();
  }

  /** Move what the taps hold into the pending records, in time order. */
  #collect(): void {
    // Both heads first: a drain of 16 MiB of vsock records takes milliseconds, and the reverse
    // tap's records published meanwhile came out ahead of older forward ones (6 ms back in time).
    const heads = this.#taps.map((t) => t.head());
    this.#pending = this.#merge(
      this.#pending,
      this.#merge(
        this.#taps[0].drain(this.#taps[0].capacity, heads[0]),
        this.#taps[1].drain(this.#taps[1].capacity, heads[1]),
      ),
    );
  }

  /** Hand `records` to `readers`, each only those newer than what came before it joined. */
  #deliver(readers: readonly CaptureReader[], records: Uint8Array): void {
    for (const reader of readers) {
      const since = this.#since.get(reader) ?? -Infinity;
      const own = since === -Infinity ? records : records.subarray(recordsUpTo(records, since));
      if (own.length === 0) continue;
      try {
        const r: unknown = reader(own);
        // An async reader's rejection is its throw (it was an unhandled rejection).
        if (r instanceof Promise) r.catch((e) => this.#failed(reader, e));
      } catch (e) {
        this.#failed(reader, e);
      }
    }
  }

  /**
   * `reader` threw `error` (a script's callback's bug, or its stream gone): it gets no more
   * frames, and what it threw reaches its `onEnd` or is reported, never dropped (frames then went
   * missing from its capture with no sign). One that already left has its error reported.
   */
  #failed(reader: CaptureReader, error: unknown): void {
    if (!this.#readers.has(reader)) {
      endCapture(null, { error });
      return;
    }
    const end = this.#onEnd.get(reader) ?? null;
    this.#readers.delete(reader);
    this.#onEnd.delete(reader);
    this.#since.delete(reader);
    endCapture(end, { error });
    this.#idleWithoutReaders();
  }

  /** With no reader left, the drain stops and the taps are switched off. */
  #idleWithoutReaders(): void {
    if (this.#readers.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      for (const t of this.#taps) t.setEnabled(false);
    }
  }
}

/** The last record's stamp, µs (the newest: records are in time order), or -Infinity for none. */
function lastStampUs(records: Uint8Array): number {
  const v = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let last = -Infinity;
  for (let at = 0; at + 16 <= records.length; at += 16 + v.getUint32(at + 8, true)) {
    last = v.getUint32(at, true) * 1e6 + v.getUint32(at + 4, true);
  }
  return last;
}

/** The byte length of the records of `records` (in time order) stamped at `us` or before. */
function recordsUpTo(records: Uint8Array, us: number): number {
  const v = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let at = 0;
  while (at + 16 <= records.length) {
    if (v.getUint32(at, true) * 1e6 + v.getUint32(at + 4, true) > us) return at;
    at += 16 + v.getUint32(at + 8, true);
  }
  return records.length;
}

/**
 * Merge two runs of pcap records (each already in time order) into one in time order, so a
 * capture of both directions of a link reads as one timeline. Records are 16-byte headers
 * (ts_sec, ts_usec, incl_len, orig_len, little-endian) followed by `incl_len` bytes.
 *
 * @example
 * ```ts
 * import { mergePcapRecords } from "./capture.ts";
 * mergePcapRecords(new Uint8Array(0), new Uint8Array(0)).length; // 0
 * ```
 */
export function mergePcapRecords(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  const va = new DataView(a.buffer, a.byteOffset, a.byteLength);
  const vb = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const time = (v: DataView, at: number) => v.getUint32(at, true) * 1e6 + v.getUint32(at + 4, true);
  const size = (v: DataView, at: number) => 16 + v.getUint32(at + 8, true);
  let i = 0, j = 0, o = 0;
  while (i < a.length || j < b.length) {
    const takeA = j >= b.length ||
      (i < a.length && i + 16 <= a.length && time(va, i) <= time(vb, j));
    const [src, v, at] = takeA ? [a, va, i] : [b, vb, j];
    const n = at + 16 <= src.length ? Math.min(size(v, at), src.length - at) : src.length - at;
    out.set(src.subarray(at, at + n), o);
    o += n;
    if (takeA) i += n;
    else j += n;
  }
  return out;
}

/**
 * Counts the pcap records of a byte stream cut anywhere (an HTTP body's chunks): it skips the
 * global header, reads each record's 16-byte header (even split between two chunks) and skips
 * its `incl_len` bytes. `vlab capture` counts what it wrote this way, and the control server
 * what it sent each reader.
 *
 * @example
 * ```ts
 * import { PcapRecordCounter } from "./capture.ts";
 * const counter = new PcapRecordCounter(0); // records only, no global header
 * const record = new Uint8Array(16 + 60);
 * new DataView(record.buffer).setUint32(8, 60, true); // incl_len
 * counter.push(record.subarray(0, 10)); // cut inside the record header
 * counter.push(record.subarray(10));
 * counter.records; // 1
 * ```
 */
export class PcapRecordCounter {
  /** Records whose header has been seen (the last one may not be complete yet). */
  records = 0;
  /** Records seen whole, header and every byte of the frame. */
  complete = 0;
  /**
   * Bytes seen after the last whole record (or of an incomplete global header): what a stream
   * cut here would leave as a torn record, which a pcap reader calls "cut short".
   */
  partialBytes = 0;
  /** Bytes still to skip before the next record header. */
  #skip: number;
  /** True while the bytes skipped are a record's frame (false: the global header). */
  #inRecord = false;
  readonly #header = new Uint8Array(16);
  #have = 0;

  /** @param globalHeaderBytes bytes before the first record (24, libpcap's; 0 for records only) */
  constructor(globalHeaderBytes = 24) {
    this.#skip = globalHeaderBytes;
  }

  /** Count the records that begin in `chunk`. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        this.partialBytes += n;
        i += n;
        if (this.#skip === 0) this.#whole();
        continue;
      }
      const n = Math.min(16 - this.#have, chunk.length - i);
      this.#header.set(chunk.subarray(i, i + n), this.#have);
      this.#have += n;
      this.partialBytes += n;
      i += n;
      if (this.#have === 16) {
        this.records++;
        this.#have = 0;
        this.#skip = new DataView(this.#header.buffer).getUint32(8, true);
        this.#inRecord = true;
        if (this.#skip === 0) this.#whole();
      }
    }
  }

  /** The global header or a record has been seen whole. */
  #whole(): void {
    if (this.#inRecord) this.complete++;
    this.#inRecord = false;
    this.partialBytes = 0;
  }
}

/**
 * A pcap byte stream cut anywhere (an HTTP body's chunks) handed on in whole records: each push
 * returns the bytes that end on a record's end, and keeps a torn record's start until its rest
 * comes. A stream that breaks off before then leaves that record out, so what was handed on is a
 * pcap every reader reads to its end (`vlab capture` writes only these bytes). With a `limit`
 * (`vlab capture -c N`) it hands on the global header and the first `limit` records, and nothing
 * after them.
 *
 * @example
 * ```ts
 * import { WholeRecords } from "./capture.ts";
 * const whole = new WholeRecords();
 * whole.push(new Uint8Array(24 + 10)); // the global header, and 10 bytes of a record's header
 * whole.records; // 0
 * ```
 */
export class WholeRecords {
  readonly #counter = new PcapRecordCounter();
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  readonly #limit: number;
  /** Records handed on, and global header bytes still to hand on (counted with a limit only). */
  #passed = 0;
  #headerLeft = 24;

  /** @param limit records to hand on at most (default: all); a positive integer or Infinity */
  constructor(limit = Infinity) {
    if (!(limit === Infinity || (Number.isInteger(limit) && limit > 0))) {
      throw new RangeError(`Cannot limit a capture to ${limit} records: give a positive integer`);
    }
    this.#limit = limit;
  }

  /** Records handed on whole. */
  get records(): number {
    return Math.min(this.#counter.complete, this.#limit);
  }

  /** True once `limit` records were handed on: later pushes hand on nothing. */
  get full(): boolean {
    return this.#passed >= this.#limit;
  }

  /** The bytes of `chunk`, and of those held before it, that end on a record's end. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#counter.push(chunk);
    const keep = this.#counter.partialBytes;
    if (keep >= this.#heldBytes + chunk.length) {
      this.#held.push(chunk.slice());
      this.#heldBytes += chunk.length;
      return [];
    }
    const out = [...this.#held, chunk.subarray(0, chunk.length - keep)];
    this.#held = keep > 0 ? [chunk.slice(chunk.length - keep)] : [];
    this.#heldBytes = keep;
    return this.#limit === Infinity ? out : this.#upToLimit(out);
  }

  /** The first of `parts` (whole records, from a record's start) up to the limit. */
  #upToLimit(parts: Uint8Array[]): Uint8Array[] {
    if (this.full) return [];
    const bytes = parts.length === 1 ? parts[0] : concatBytes(parts);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = Math.min(this.#headerLeft, bytes.length);
    this.#headerLeft -= at;
    while (at < bytes.length && !this.full) {
      at += 16 + dv.getUint32(at + 8, true);
      this.#passed++;
    }
    return [bytes.subarray(0, at)];
  }
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
