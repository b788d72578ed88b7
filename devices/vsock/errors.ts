/**
 * virtio-vsock errors as data: what broke the device (a queue's ring error: the worker sets
 * DEVICE_NEEDS_RESET) and what the driver saw the device do wrong (reliability section C).
 * Per-packet problems (reliability F1–F12) are not errors: they are dropped, answered with RST
 * where Linux does, and counted in `metrics.ts`.
 *
 * @module
 */

import type { DriverError, RingError } from "../virtio/errors.ts";
import { formatQueueError } from "../virtio/errors.ts";

/** Which virtio-vsock queue. */
export type VsockQueueName = "rx" | "tx" | "event";

/** Why the device stopped using its queues. */
export type VsockDeviceFault =
  /** A ring error broke one queue: the device needs a reset. */
  { kind: "queue-broken"; queue: VsockQueueName; cause: RingError };

/** What the driver saw the device do wrong; the driver stops using the queues. */
export type VsockDriverFault =
  /** A queue reported a device fault (bad used id, used index jump). */
  | { kind: "queue-broken"; queue: VsockQueueName; cause: DriverError }
  /** A used length larger than the buffer posted. */
  | {
    kind: "used-len-too-big";
    queue: VsockQueueName;
    token: number;
    len: number;
    capacity: number;
  }
  /** A used token that is not a buffer of this queue, or not in flight. */
  | { kind: "unknown-token"; queue: VsockQueueName; token: number };

/**
 * Render a vsock fault as one sentence-case line quoting the values.
 *
 * @example
 * ```ts
 * import { formatVsockFault } from "./errors.ts";
 * formatVsockFault({ kind: "unknown-token", queue: "rx", token: 9 });
 * // "Cannot reclaim on the vsock rx queue: token 9 is not a buffer in flight"
 * ```
 */
export function formatVsockFault(e: VsockDeviceFault | VsockDriverFault): string {
  switch (e.kind) {
    case "queue-broken":
      return formatQueueError(e.cause, `the vsock ${e.queue} queue`);
    case "used-len-too-big":
      return `Cannot receive into vsock ${e.queue} buffer ${e.token}: used length ${e.len} exceeds its ${e.capacity} bytes`;
    case "unknown-token":
      return `Cannot reclaim on the vsock ${e.queue} queue: token ${e.token} is not a buffer in flight`;
  }
}
