/**
 * Build both halves of one queue over one guest memory: the layout-independent entry point
 * used by tests, fuzzers and benchmarks (a device model builds only its own half, from
 * `device_queue.ts`; a driver from `driver_queue.ts`).
 *
 * @module
 */

import { DirectDma, type DmaView } from "../memory/dma.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { ok, type Result } from "../base/result.ts";
import { argumentError, type QueueSetupError } from "./errors.ts";
import { createDeviceQueue } from "./device_queue.ts";
import { createDriverQueue } from "./driver_queue.ts";
import type { DeviceQueue, DriverQueue, QueueConfig } from "./queue.ts";
import { type RingAccess, SharedRingAccess } from "./ring_access.ts";
import type { IndirectArea } from "./split_driver.ts";
import { createState } from "./state.ts";

export { createDeviceQueue, createDriverQueue };

/** A driver half and a device half of the same queue. */
export interface QueuePair {
  /** Guest side. */
  driver: DriverQueue;
  /** Device side. */
  device: DeviceQueue;
  /** The device's state record. */
  state: Uint32Array;
}

/**
 * Both halves over one memory in one thread (tests and the cache model). A `mem`, `config` or
 * `options` that is no object is a `TypeError` naming it.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { createQueuePair } from "./pair.ts";
 * const mem = GuestMemory.create(65536);
 * const r = createQueuePair(mem, { layout: "split", size: 8, descAddr: 0x1000, driverAddr: 0x2000,
 *   deviceAddr: 0x3000, features: { eventIdx: true, indirect: false, inOrder: false } });
 * ```
 */
export function createQueuePair(
  mem: GuestMemory,
  config: QueueConfig,
  options: {
    indirect?: IndirectArea;
    driverRing?: RingAccess;
    deviceRing?: RingAccess;
    dma?: DmaView;
  } = {},
): Result<QueuePair, QueueSetupError> {
  // Each was "Cannot read properties of null" from deep inside a queue's set-up.
  if (typeof mem !== "object" || mem === null) {
    throw argumentError("createQueuePair", "mem", "a GuestMemory", mem);
  }
  if (typeof config !== "object" || config === null) {
    throw argumentError("createQueuePair", "config", "a QueueConfig object", config);
  }
  if (typeof options !== "object" || options === null) {
    throw argumentError("createQueuePair", "options", "an object (or left out)", options);
  }
  const driver = createDriverQueue(
    mem,
    options.driverRing ?? new SharedRingAccess(mem),
    config,
    options.indirect ?? null,
  );
  if (!driver.ok) return driver;
  const state = createState(config.layout, config.size);
  const device = createDeviceQueue(
    options.dma ?? new DirectDma(mem),
    options.deviceRing ?? new SharedRingAccess(mem),
    config,
    state,
  );
  if (!device.ok) return device;
  return ok({ driver: driver.value, device: device.value, state });
}
