/**
 * The layout-independent virtqueue API: one descriptor-chain type, one device-half interface
 * and one driver-half interface over both the split (virtio 1.0) and packed (1.1) layouts.
 *
 * A queue is configured (`QueueConfig`: size, the three area addresses, negotiated ring
 * features) and then created as a running half; creation validates the configuration, so a
 * running queue never indexes outside its areas.
 *
 * @module
 */

import type { Result } from "../base/result.ts";
import type { DescriptorChain, PopError } from "./chain.ts";
import type { DriverError, PushError, RingError } from "./errors.ts";

export type { DescriptorChain, Segment } from "./chain.ts";

/** A ring layout. */
export type Layout = "split" | "packed";

/** Ring features that change how a queue behaves, taken from the negotiated feature set. */
export interface RingFeatures {
  /** `VIRTIO_F_EVENT_IDX`: `used_event`/`avail_event` (split), DESC events (packed). */
  eventIdx: boolean;
  /** `VIRTIO_F_INDIRECT_DESC`. */
  indirect: boolean;
  /** `VIRTIO_F_IN_ORDER`. */
  inOrder: boolean;
}

/** A queue's configuration, as the driver programs it into the transport. */
export interface QueueConfig {
  /** Layout: exactly `"split"` or `"packed"` (anything else is refused as `bad-layout`). */
  layout: Layout;
  /** Number of descriptors (split: a power of two; both: 1…32768). */
  size: number;
  /** Descriptor Area (descriptor table or descriptor ring). */
  descAddr: number;
  /** Driver Area (split: avail ring; packed: driver event suppression). */
  driverAddr: number;
  /** Device Area (split: used ring; packed: device event suppression). */
  deviceAddr: number;
  /** Negotiated ring features (not an object of three booleans: a `TypeError`). */
  features: RingFeatures;
}

/** The result of `pop`: a chain, `null` when the ring is empty, or an error. */
export type PopResult = Result<DescriptorChain | null, PopError>;

/**
 * The device half of a virtqueue (runs in the device worker).
 *
 * @example
 * ```ts
 * import type { DeviceQueue } from "./queue.ts";
 * function serve(q: DeviceQueue): boolean {
 *   for (;;) {
 *     const r = q.pop();
 *     if (!r.ok) return false; // a fatal error broke the queue: set DEVICE_NEEDS_RESET
 *     if (r.value === null) break;
 *     q.push(r.value, 0);
 *   }
 *   q.publish();
 *   return q.needsInterrupt();
 * }
 * ```
 */
export interface DeviceQueue {
  /** Layout. */
  readonly layout: Layout;
  /** Queue size. */
  readonly size: number;
  /** The fatal error that broke the queue, or null. A broken queue pops and pushes nothing. */
  readonly broken: RingError | null;
  /** Chains popped and not yet pushed. */
  readonly inFlight: number;
  /** Pop the next available chain (validated, snapshotted, translated). */
  pop(): PopResult;
  /**
   * Whether the last `pop` (its chain, or the chain its error refuses) came from a fresh load of
   * what the driver publishes (split: the avail idx, read again once the device has caught up
   * with the last one read; packed: the head's flags, read by every pop): a load that can reveal
   * chains made available since. A caller that must have seen whatever was published before such
   * a chain (a lab worker's control messages, `lab/wire/control_gate.ts`) checks then, once per
   * such load, whether that pop gave a chain or an error (the chains after a refused one come
   * from the same load, without one of their own).
   */
  readonly observed: boolean;
  /**
   * Stage a chain as used with `written` bytes (clamped to its writable length). It becomes
   * visible to the driver at the next `publish`. Refused, with nothing staged, for a chain not
   * in flight (`not-in-flight`) and, when `VIRTIO_F_IN_ORDER` was negotiated, for any chain but
   * the oldest one popped and not yet pushed (`out-of-order`, naming that one). A `written`
   * that is no number is a `TypeError`, `NaN` a `RangeError`.
   */
  push(chain: DescriptorChain, written: number): Result<void, PushError>;
  /** Make every staged used entry visible to the driver. */
  publish(): void;
  /** After `publish`: whether the driver wants a used-buffer notification now. */
  needsInterrupt(): boolean;
  /**
   * Ask for available-buffer notifications again, then re-check the ring (full fence between):
   * true if buffers arrived meanwhile and the device must keep going instead of sleeping.
   */
  enableNotifications(): boolean;
  /** Ask the driver not to notify (a hint; the device still polls). */
  disableNotifications(): void;
}

/** A chain the driver wants to post: buffers the device reads, then buffers it writes. */
export interface ChainSpec {
  /** Device-readable buffers as `[gpa, len]` pairs. */
  readable: ReadonlyArray<readonly [number, number]>;
  /** Device-writable buffers as `[gpa, len]` pairs. */
  writable: ReadonlyArray<readonly [number, number]>;
}

/** A buffer the device returned. */
export interface UsedBuffer {
  /** The token given to `add`. */
  token: number;
  /** Bytes the device wrote (0 for a chain with nothing writable; more than posted breaks the queue). */
  len: number;
}

/**
 * The driver half of a virtqueue (runs in the guest worker).
 *
 * @example
 * ```ts
 * import type { DriverQueue } from "./queue.ts";
 * function send(q: DriverQueue, gpa: number, len: number, kick: () => void): void {
 *   const r = q.add({ readable: [[gpa, len]], writable: [] }, 42);
 *   if (!r.ok) return; // ring full: reclaim first
 *   if (q.publish()) kick();
 * }
 * ```
 */
export interface DriverQueue {
  /** Layout. */
  readonly layout: Layout;
  /** Queue size. */
  readonly size: number;
  /** Free descriptors. */
  readonly freeDescriptors: number;
  /** Chains posted and not yet reclaimed. */
  readonly inFlight: number;
  /** The device error that broke the queue (section C of reliability.md), or null. */
  readonly broken: DriverError | null;
  /**
   * Stage a chain carrying `token`; it becomes visible at the next `publish`. Refused, with
   * nothing staged: `ring-full` (retry after reclaiming), `bad-chain-length`, a buffer whose
   * address is not a non-negative safe integer (`bad-buffer-address`) or whose length is not
   * an integer in 0…2^32 − 1 (`bad-buffer-length`), each naming the buffer's index in the
   * chain (readable ones first) and the value, and a chain of more than 2^32 bytes
   * (`bad-chain-bytes`). A `chain` that is no `ChainSpec` (`add(null)`), or one whose segment is
   * null or undefined, throws a `TypeError` naming the call and the segment
   * (`DriverQueue.add: chain.readable[0] must be a [gpa, len] pair, got null`), nothing staged.
   * A `token` that is no number (`add(chain, "x")`) is a `TypeError`, `NaN` or an infinity a
   * `RangeError`, each naming the token.
   */
  add(chain: ChainSpec, token: number): Result<void, DriverError>;
  /** Make staged chains visible to the device; true if the device wants a kick now. */
  publish(): boolean;
  /**
   * Take the next used buffer, or null if none. The returned object belongs to the queue and
   * is refilled by the next call: copy what you need.
   */
  getUsed(): Result<UsedBuffer | null, DriverError>;
  /**
   * Ask for a used-buffer notification once `count` more buffers are used (event index; 1
   * without it), then re-check: true if used buffers are already waiting. A `count` that is no
   * whole number is a `TypeError` (no number) or a `RangeError` (`NaN`, `1.5`).
   */
  enableInterrupts(count?: number): boolean;
  /** Ask the device not to interrupt (a hint). */
  disableInterrupts(): void;
}
