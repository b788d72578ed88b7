/**
 * A capture tap on a link: a second single-producer single-consumer ring, of bytes, in its own
 * `SharedArrayBuffer`. The link's consumer (a device worker or switch worker) copies every frame
 * it delivers into the tap with a timestamp and a direction byte, but only while the main thread
 * has set the `enabled` word; the main thread drains the tap into pcap records (`vlab capture`).
 * A full tap drops the frame and counts it (`tapDropped`): capture never slows or blocks a link.
 *
 * Layout (offsets in bytes; hot words on their own 64-byte lines):
 * ```
 * struct tapHeader {
 *   le32 magic;      // 0   "VTAP"
 *   le32 version;    // 4
 *   le32 capacity;   // 8   data bytes, a power of two >= 256
 *   le32 snaplen;    // 12  bytes of each frame kept
 *   le32 head;       // 64  free-running byte index; written by the link's consumer (writer)
 *   le32 tail;       // 128 free-running byte index; written by the main thread (reader)
 *   le32 enabled;    // 192 written by the main thread
 *   f64  counters[3];// 256 tapFrames tapBytes tapDropped (written by the writer)
 * };
 * struct tapRecord {   // from offset 320, 8-byte aligned, never split across the ring's end
 *   le32 capLen;       // 0xffffffff: padding, the next record starts at the ring's start
 *   le32 origLen; f64 tsUs;  // tsUs: µs since the epoch
 *   u8 direction; u8 phase; u8 pad[6];
 *   u8 pad[phase]; u8 frame[capLen]; pad to 8;
 * };
 * ```
 * A frame is kept `phase` bytes past a multiple of 8, where it was in its link ring, so that the
 * writer's copy runs word by word (V8 copies shared memory byte by byte between offsets that differ
 * modulo 8; `link_ring_layout.ts`).
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import { Pcap, writePcapRecord } from "./pcap.ts";

/** "VTAP" as a little-endian u32. */
export const TAP_MAGIC = 0x5041_5456;
const TAP_VERSION = 2;

/** Byte offsets of the tap header. */
export const TapOffset = {
  magic: 0,
  version: 4,
  capacity: 8,
  snaplen: 12,
  head: 64,
  tail: 128,
  enabled: 192,
  counters: 256,
  dataStart: 320,
} as const;

const HEAD = TapOffset.head / 4;
const TAIL = TapOffset.tail / 4;
const ENABLED = TapOffset.enabled / 4;
const FRAMES = TapOffset.counters / 8;
const BYTES = FRAMES + 1;
const DROPPED = FRAMES + 2;
const RECORD_HEADER = 24;
const PAD = 0xffffffff;

/** Bytes of a record of `capLen` frame bytes kept `phase` bytes past a multiple of 8. */
function recordBytes(capLen: number, phase: number): number {
  return align8(RECORD_HEADER + phase + capLen);
}

/** Bytes of the largest record of a tap of `snaplen`. */
function maxRecordBytes(snaplen: number): number {
  return recordBytes(snaplen, 7);
}

/** Direction bytes. */
export const TapDirection = { rx: 0, tx: 1 } as const;

/** Why a tap buffer could not be attached. */
export type TapError =
  /** Tap buffer has a bad header */
  { kind: "bad-tap-header"; magic: number; capacity: number; byteLength: number };

/** The tap's counters. */
export interface TapCounters {
  /** Frames captured. */
  tapFrames: number;
  /** Original bytes of the frames captured. */
  tapBytes: number;
  /** Frames dropped because the tap was full. */
  tapDropped: number;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/**
 * The main thread's end of a tap: creates the buffer, switches capture on and off, drains.
 *
 * @example
 * ```ts
 * import { TapReader, TapWriter } from "./tap.ts";
 * const reader = TapReader.create(1 << 16);
 * const w = TapWriter.attach(reader.buffer); // in the link consumer's worker
 * reader.setEnabled(true);
 * if (w.ok) w.value.capture(new Uint8Array(60), { tsUs: Date.now() * 1000, direction: 0 });
 * const records = reader.drain(1 << 20); // pcap records; prepend pcapGlobalHeader()
 * ```
 */
export class TapReader {
  /** The shared buffer; send it to the link's consumer, which calls `TapWriter.attach`. */
  readonly buffer: SharedArrayBuffer;
  /** Data bytes of the ring. */
  readonly capacity: number;
  /** Bytes of each frame kept. */
  readonly snaplen: number;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #dv: DataView;
  readonly #f64: Float64Array;
  #tail = 0;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.#dv = new DataView(buffer);
    this.capacity = this.#dv.getUint32(TapOffset.capacity, true);
    this.snaplen = this.#dv.getUint32(TapOffset.snaplen, true);
    this.#i32 = new Int32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.#f64 = new Float64Array(buffer, 0, TapOffset.dataStart / 8);
    this.#tail = Atomics.load(this.#i32, TAIL) >>> 0;
  }

  /**
   * A new tap of `capacity` data bytes (a power of two, at least 4 records of `snaplen`; the
   * default snaplen is the largest that fits, at most 65535).
   * Throws on a bad size (a programmer error).
   *
   * @example
   * ```ts
   * import { TapReader } from "./tap.ts";
   * const tap = TapReader.create(1 << 20, 2048);
   * ```
   */
  static create(
    capacity: number,
    snaplen: number = Math.min(65535, Math.floor(capacity / 4) - RECORD_HEADER - 8),
  ): TapReader {
    if (
      !Number.isInteger(capacity) || capacity < 256 || (capacity & (capacity - 1)) !== 0 ||
      capacity > 1 << 30 || !Number.isInteger(snaplen) || snaplen < 14 ||
      4 * maxRecordBytes(snaplen) > capacity
    ) {
      throw new RangeError(
        `Cannot create tap: capacity must be a power of 2 holding 4 records of snaplen ${snaplen}, got ${capacity}`,
      );
    }
    const buffer = new SharedArrayBuffer(TapOffset.dataStart + capacity);
    const dv = new DataView(buffer);
    dv.setUint32(TapOffset.magic, TAP_MAGIC, true);
    dv.setUint32(TapOffset.version, TAP_VERSION, true);
    dv.setUint32(TapOffset.capacity, capacity, true);
    dv.setUint32(TapOffset.snaplen, snaplen, true);
    return new TapReader(buffer);
  }

  /**
   * Switch capture on or off (the writer checks the word on every frame).
   *
   * @example
   * ```ts
   * import { TapReader } from "./tap.ts";
   * TapReader.create(1 << 16).setEnabled(true);
   * ```
   */
  setEnabled(on: boolean): void {
    // publish enabled: pairs with observe enabled in TapWriter.capture
    Atomics.store(this.#i32, ENABLED, on ? 1 : 0);
  }

  /**
   * Where the writer's records end now (a free-running byte index): `drain` takes the records
   * before it. A capture of two taps reads both heads first, then drains each up to its own, so
   * that a record the other direction published meanwhile waits for the next drain rather than
   * landing in this one ahead of older records of the first tap.
   *
   * @example
   * ```ts
   * import { TapReader } from "./tap.ts";
   * const tap = TapReader.create(1 << 16);
   * tap.drain(65536, tap.head()).length; // 0
   * ```
   */
  head(): number {
    // observe head: pairs with publish head in TapWriter.capture (records before it are written)
    return Atomics.load(this.#i32, HEAD) >>> 0;
  }

  /**
   * Take the captured frames as pcap records, at most `maxBytes` of them (but always at least
   * one record when any is pending), up to `upTo` (a `head()` read before; default: now).
   * Prepend `pcapGlobalHeader(tap.snaplen)` once per file.
   *
   * @example
   * ```ts
   * import { TapReader } from "./tap.ts";
   * TapReader.create(1 << 16).drain(65536).length; // 0
   * ```
   */
  drain(maxBytes: number, upTo: number = this.head()): Uint8Array {
    const head = upTo;
    const mask = this.capacity - 1;
    let out = new Uint8Array(0);
    let used = 0;
    for (let guard = this.capacity / 8; guard > 0 && this.#tail !== head; guard--) {
      const pos = this.#tail & mask;
      const at = TapOffset.dataStart + pos;
      const capLen = this.#dv.getUint32(at, true);
      if (capLen === PAD) {
        this.#tail = (this.#tail + this.capacity - pos) >>> 0;
        continue;
      }
      const phase = this.#u8[at + 17];
      if (capLen > this.snaplen || phase > 7 || pos + recordBytes(capLen, phase) > this.capacity) {
        this.#tail = head; // a corrupt tap: discard what is there
        break;
      }
      const frameAt = at + RECORD_HEADER + phase;
      const need = Pcap.recordHeaderBytes + capLen;
      if (used > 0 && used + need > maxBytes) break;
      if (used + need > out.length) {
        const bigger = new Uint8Array(
          Math.max(used + need, Math.min(maxBytes, 64 * 1024), out.length * 2),
        );
        bigger.set(out.subarray(0, used));
        out = bigger;
      }
      used += writePcapRecord(out, used, {
        tsUs: this.#dv.getFloat64(at + 8, true),
        frame: this.#u8.subarray(frameAt, frameAt + capLen),
        origLen: this.#dv.getUint32(at + 4, true),
        snaplen: this.snaplen,
      });
      this.#tail = (this.#tail + recordBytes(capLen, phase)) >>> 0;
    }
    // publish tail: pairs with observe tail in TapWriter.capture (the space may be reused)
    Atomics.store(this.#i32, TAIL, this.#tail | 0);
    return out.subarray(0, used);
  }

  /**
   * The tap's counters.
   *
   * @example
   * ```ts
   * import { TapReader } from "./tap.ts";
   * TapReader.create(1 << 16).counters().tapDropped; // 0
   * ```
   */
  counters(): TapCounters {
    return {
      tapFrames: this.#f64[FRAMES],
      tapBytes: this.#f64[BYTES],
      tapDropped: this.#f64[DROPPED],
    };
  }
}

/** Records of the largest size a tap holds at least, so a capture keeps up with a burst of them. */
export const TAP_MIN_RECORDS = 128;

/**
 * The data bytes of a tap for frames of up to `snaplen` bytes: at least 1 MiB, and at least
 * {@linkcode TAP_MIN_RECORDS} records of `snaplen` (a vsock link's 64 KiB packets need 16 MiB
 * where an Ethernet link's 1500-byte frames fit 1 MiB hundreds of times), as a power of two.
 *
 * @example
 * ```ts
 * import { tapCapacity } from "./tap.ts";
 * tapCapacity(65535); // 16777216
 * tapCapacity(1514); // 1048576
 * ```
 */
export function tapCapacity(snaplen: number): number {
  let capacity = 1 << 20;
  while (capacity < TAP_MIN_RECORDS * maxRecordBytes(snaplen)) capacity *= 2;
  return capacity;
}

/**
 * The link consumer's end of a tap.
 *
 * @example
 * ```ts
 * import { TapReader, TapWriter } from "./tap.ts";
 * const w = TapWriter.attach(TapReader.create(1 << 16).buffer);
 * if (w.ok) w.value.capture(new Uint8Array(60), { tsUs: 0, direction: 1 }); // false: disabled
 * ```
 */
export class TapWriter {
  /** Data bytes of the ring. */
  readonly capacity: number;
  /** Bytes of each frame kept. */
  readonly snaplen: number;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #dv: DataView;
  readonly #f64: Float64Array;
  #head: number;
  #cachedTail: number;
  #stagedFrames = 0;
  #stagedBytes = 0;

  private constructor(buffer: SharedArrayBuffer, capacity: number, snaplen: number) {
    this.capacity = capacity;
    this.snaplen = snaplen;
    this.#i32 = new Int32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.#dv = new DataView(buffer);
    this.#f64 = new Float64Array(buffer, 0, TapOffset.dataStart / 8);
    this.#head = Atomics.load(this.#i32, HEAD) >>> 0;
    this.#cachedTail = Atomics.load(this.#i32, TAIL) >>> 0;
  }

  /**
   * Attach to a tap created by `TapReader.create`, validating its header.
   *
   * @example
   * ```ts
   * import { TapReader, TapWriter } from "./tap.ts";
   * TapWriter.attach(TapReader.create(1 << 16).buffer).ok; // true
   * ```
   */
  static attach(buffer: SharedArrayBuffer): Result<TapWriter, TapError> {
    const byteLength = buffer.byteLength;
    if (byteLength < TapOffset.dataStart) {
      return err({ kind: "bad-tap-header", magic: 0, capacity: 0, byteLength });
    }
    const dv = new DataView(buffer);
    const magic = dv.getUint32(TapOffset.magic, true);
    const capacity = dv.getUint32(TapOffset.capacity, true);
    const snaplen = dv.getUint32(TapOffset.snaplen, true);
    if (
      magic !== TAP_MAGIC || dv.getUint32(TapOffset.version, true) !== TAP_VERSION ||
      capacity < 256 || (capacity & (capacity - 1)) !== 0 ||
      byteLength !== TapOffset.dataStart + capacity ||
      4 * maxRecordBytes(snaplen) > capacity
    ) {
      return err({ kind: "bad-tap-header", magic, capacity, byteLength });
    }
    return ok(new TapWriter(buffer, capacity, snaplen));
  }

  /**
   * True when capture is on (one atomic load).
   *
   * @example
   * ```ts
   * import { TapReader, TapWriter } from "./tap.ts";
   * const w = TapWriter.attach(TapReader.create(1 << 16).buffer);
   * w.ok && w.value.enabled(); // false
   * ```
   */
  enabled(): boolean {
    // observe enabled: pairs with publish enabled in TapReader.setEnabled
    return Atomics.load(this.#i32, ENABLED) !== 0;
  }

  /**
   * Copy `frame` (its first `snaplen` bytes) into the tap when capture is on. Returns true when
   * it was captured; false when capture is off or the tap is full (then counted in
   * `tapDropped`). Never blocks.
   *
   * @example
   * ```ts
   * import { TapReader, TapWriter } from "./tap.ts";
   * const r = TapReader.create(1 << 16);
   * r.setEnabled(true);
   * const w = TapWriter.attach(r.buffer);
   * w.ok && w.value.capture(new Uint8Array(60), { tsUs: 1e15, direction: 0 }); // true
   * ```
   */
  capture(frame: Uint8Array, meta: { tsUs: number; direction: number }): boolean {
    const r = this.stage(frame, meta);
    if (r) this.publish();
    return r;
  }

  /**
   * {@linkcode capture} without publishing: the record is written, and the reader sees it at the
   * next {@linkcode publish}. A link consumer stages what it delivers in a loop pass and
   * publishes with the pass (`LinkIn.finish`), so that a worker dying in the middle of a pass
   * (`backend-crash --mode mid-pass`) leaves no record of frames its successor delivers, and
   * captures, again.
   *
   * @example
   * ```ts
   * import { TapReader, TapWriter } from "./tap.ts";
   * const r = TapReader.create(1 << 16);
   * r.setEnabled(true);
   * const w = TapWriter.attach(r.buffer);
   * if (w.ok && w.value.stage(new Uint8Array(60), { tsUs: 1e15, direction: 0 })) w.value.publish();
   * ```
   */
  stage(frame: Uint8Array, meta: { tsUs: number; direction: number }): boolean {
    if (!this.enabled()) return false;
    const capLen = Math.min(frame.length, this.snaplen);
    const phase = frame.byteOffset & 7;
    const size = recordBytes(capLen, phase);
    const cap = this.capacity;
    const pos = this.#head & (cap - 1);
    const toEnd = cap - pos;
    const need = size <= toEnd ? size : toEnd + size;
    if (cap - ((this.#head - this.#cachedTail) >>> 0) < need) {
      // observe tail: pairs with publish tail in TapReader.drain
      this.#cachedTail = Atomics.load(this.#i32, TAIL) >>> 0;
      if (cap - ((this.#head - this.#cachedTail) >>> 0) < need) {
        this.#f64[DROPPED]++;
        return false;
      }
    }
    let at = TapOffset.dataStart + pos;
    if (size > toEnd) {
      this.#dv.setUint32(at, PAD, true);
      this.#head = (this.#head + toEnd) >>> 0;
      at = TapOffset.dataStart;
    }
    const dv = this.#dv;
    dv.setUint32(at, capLen, true);
    dv.setUint32(at + 4, frame.length, true);
    dv.setFloat64(at + 8, meta.tsUs, true);
    dv.setUint32(at + 16, (meta.direction & 0xff) | (phase << 8), true);
    dv.setUint32(at + 20, 0, true);
    this.#u8.set(
      capLen === frame.length ? frame : frame.subarray(0, capLen),
      at + RECORD_HEADER + phase,
    );
    this.#head = (this.#head + size) >>> 0;
    this.#stagedFrames++;
    this.#stagedBytes += frame.length;
    return true;
  }

  /**
   * Make the records staged since the last publish visible to the reader, and count them.
   *
   * @example
   * ```ts
   * import { TapReader, TapWriter } from "./tap.ts";
   * const w = TapWriter.attach(TapReader.create(1 << 16).buffer);
   * if (w.ok) w.value.publish(); // nothing staged: nothing to do
   * ```
   */
  publish(): void {
    if (this.#stagedFrames === 0) return;
    // publish head: pairs with observe head in TapReader.drain
    Atomics.store(this.#i32, HEAD, this.#head | 0);
    this.#f64[FRAMES] += this.#stagedFrames;
    this.#f64[BYTES] += this.#stagedBytes;
    this.#stagedFrames = 0;
    this.#stagedBytes = 0;
  }
}
