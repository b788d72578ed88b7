/**
 * virtio-net errors as data: what broke the device (a queue's ring error: the worker sets
 * DEVICE_NEEDS_RESET) and what the driver saw the device do wrong (reliability section C).
 * Per-frame problems (E1–E4) are not errors: they are dropped and counted in `metrics.ts`.
 *
 * @module
 */

import type { DriverError, RingError } from "../virtio/errors.ts";
import { formatQueueError } from "../virtio/errors.ts";

/** Which virtio-net queue. */
export type NetQueueName = "receiveq" | "transmitq";

/** Why the device stopped using its queues. */
export type NetDeviceFault =
  /** A ring error broke one queue: the device needs a reset. */
  { kind: "queue-broken"; queue: NetQueueName; cause: RingError };

/** What the driver saw the device do wrong; the driver stops using the queues. */
export type NetDriverFault =
  /** A queue reported a device fault (bad used id, used index jump). */
  | { kind: "queue-broken"; queue: NetQueueName; cause: DriverError }
  /** `num_buffers` is 0 or more than the buffers the device returned (virtio 1.2 §5.1.6.4). */
  | { kind: "bad-num-buffers"; numBuffers: number; available: number }
  /** A used length larger than the buffer posted. */
  | { kind: "used-len-too-big"; token: number; len: number; capacity: number }
  /** A merged frame larger than the reassembly buffer. */
  | { kind: "frame-too-big"; len: number; limit: number }
  /** A used token that is not a buffer of this queue, or not in flight. */
  | { kind: "unknown-token"; queue: NetQueueName; token: number }
  /** The transmit watchdog fired: buffers outstanding and no used entry for the timeout. */
  | { kind: "tx-timeout"; inFlight: number; idleMs: number }
  /** Behind the vIOMMU (strict, lazy): a buffer's MAP was refused or not answered in time. */
  | { kind: "dma-map-failed"; queue: NetQueueName; token: number };

/**
 * Render a net fault as one sentence-case line quoting the values.
 *
 * @example
 * ```ts
 * import { formatNetFault } from "./errors.ts";
 * formatNetFault({ kind: "bad-num-buffers", numBuffers: 9, available: 2 });
 * // "Cannot receive a frame: num_buffers 9 exceeds the 2 buffers the device returned"
 * ```
 */
export function formatNetFault(e: NetDeviceFault | NetDriverFault): string {
  switch (e.kind) {
    case "queue-broken":
      // One sentence that names the queue ("Cannot use the receiveq: head index …"); the queue
      // error's own "Cannot use the queue:" stacked on it before.
      return formatQueueError(e.cause, `the ${e.queue}`);
    case "bad-num-buffers":
      return `Cannot receive a frame: num_buffers ${e.numBuffers} exceeds the ${e.available} buffers the device returned`;
    case "used-len-too-big":
      return `Cannot receive into buffer ${e.token}: used length ${e.len} exceeds its ${e.capacity} bytes`;
    case "frame-too-big":
      return `Cannot reassemble a frame of ${e.len} bytes: the limit is ${e.limit}`;
    case "unknown-token":
      return `Cannot reclaim on the ${e.queue}: token ${e.token} is not a buffer in flight`;
    case "tx-timeout":
      return `Cannot transmit: ${e.inFlight} buffers outstanding and none returned for ${e.idleMs} ms`;
    case "dma-map-failed":
      return `Cannot post buffer ${e.token} on the ${e.queue}: the vIOMMU did not map it`;
  }
}
