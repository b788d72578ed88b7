/**
 * Where the ring benchmark puts a queue and its request buffers in guest memory, and the
 * control block both bench workers share. Each area starts on its own page, so the only cache
 * lines the two sides share are the ones the ring layout itself makes them share.
 *
 * @module
 */

import { PAGE_SIZE } from "../../devices/memory/memory.ts";
import { packedAreaSizes } from "../../devices/virtio/packed_layout.ts";
import type { Layout, QueueConfig, RingFeatures } from "../../devices/virtio/queue.ts";
import { splitAreaSizes } from "../../devices/virtio/split_layout.ts";

/** Word indices of the bench control block (an `Int32Array` over a `SharedArrayBuffer`). */
export const Ctl = {
  /** The driver's doorbell: the device adds 1 and notifies (an interrupt). */
  DRIVER_BELL: 0,
  /** The device's doorbell: the driver adds 1 and notifies (a kick). */
  DEVICE_BELL: 1,
  /** Set by the driver when a run has finished. */
  DONE: 2,
  /** The run the device is polling for, set by the device when it is ready. */
  DEVICE_RUNNING: 3,
  /** Kicks sent in this run. */
  KICKS: 4,
  /** Interrupts sent in this run. */
  INTERRUPTS: 5,
  /** Requests the device processed in this run. */
  DEVICE_REQUESTS: 6,
  /** Requests whose sequence number the device found out of order. */
  DEVICE_SEQ_ERRORS: 7,
  /** Calibration: the driver's ping (a counter). */
  PING: 8,
  /** Calibration: the device's answer (the last ping seen). */
  PONG: 9,
} as const;

/** Words in the control block (each on its own 64-byte line: 16 words apart). */
export const CTL_WORDS = 16 * 10;

/** Word index of a control field: every field sits on its own cache line. */
export function ctl(field: number): number {
  return field * 16;
}

/** Bytes per request buffer (a 32-bit sequence number). */
export const REQUEST_BYTES = 4;

/** The queue and buffer placement for one benchmark point. */
export interface BenchLayout {
  /** Queue configuration for both halves. */
  config: QueueConfig;
  /** GPA of request buffer 0. */
  bufferBase: number;
  /** Number of request buffers (a power of two ≥ the queue size). */
  bufferCount: number;
  /** Guest memory size needed. */
  memoryBytes: number;
}

function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

/**
 * Place a queue of `size` descriptors and its request buffers.
 *
 * @example
 * ```ts
 * import { benchLayout } from "./ring_layout.ts";
 * const l = benchLayout("split", 256, { eventIdx: true, indirect: false, inOrder: false });
 * l.config.descAddr; // 4096
 * ```
 */
export function benchLayout(layout: Layout, size: number, features: RingFeatures): BenchLayout {
  const sizes = layout === "split" ? splitAreaSizes(size) : packedAreaSizes(size);
  const descAddr = PAGE_SIZE;
  const driverAddr = pageAlign(descAddr + sizes.descriptor);
  const deviceAddr = pageAlign(driverAddr + sizes.driver);
  const bufferBase = pageAlign(deviceAddr + sizes.device);
  let bufferCount = 1;
  while (bufferCount < size) bufferCount *= 2;
  const memoryBytes = pageAlign(bufferBase + REQUEST_BYTES * bufferCount) + PAGE_SIZE;
  return {
    config: { layout, size, descAddr, driverAddr, deviceAddr, features },
    bufferBase,
    bufferCount,
    memoryBytes,
  };
}
