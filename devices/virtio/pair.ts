/**
 * Build both halves of one queue over one guest memory: the layout-independent entry point
 * used by tests, fuzzers and benchmarks (a device model builds only its own half).
 *
 * @module
 */

import { DirectDma, type DmaView } from "../memory/dma.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { ok, type Result } from "../base/result.ts";
import type { QueueSetupError } from "./errors.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import { PackedDriverQueue } from "./packed_driver.ts";
import type { DeviceQueue, DriverQueue, QueueConfig } from "./queue.ts";
import { type RingAccess, SharedRingAccess } from "./ring_access.ts";
import { SplitDeviceQueue } from "./split_device.ts";
import { type IndirectArea, SplitDriverQueue } from "./split_driver.ts";
import { createState } from "./state.ts";

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
 * Create the driver half of a queue (it initialises the ring).
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { createDriverQueue } from "./pair.ts";
 * const mem = GuestMemory.create(65536);
 * createDriverQueue(mem, new SharedRingAccess(mem), { layout: "packed", size: 100, descAddr: 0x1000,
 *   driverAddr: 0x2000, deviceAddr: 0x2010, features: { eventIdx: true, indirect: false, inOrder: false } });
 * ```
 */
export function createDriverQueue(
  mem: GuestMemory,
  ring: RingAccess,
  config: QueueConfig,
  indirect: IndirectArea | null = null,
): Result<DriverQueue, QueueSetupError> {
  return config.layout === "split"
    ? SplitDriverQueue.create(mem, ring, config, indirect)
    : PackedDriverQueue.create(mem, ring, config, indirect);
}

/**
 * Create the device half of a queue at power-on state.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { createState } from "./state.ts";
 * import { createDeviceQueue } from "./pair.ts";
 * const mem = GuestMemory.create(65536);
 * createDeviceQueue(new DirectDma(mem), new SharedRingAccess(mem), { layout: "split", size: 8,
 *   descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000,
 *   features: { eventIdx: true, indirect: false, inOrder: false } }, createState("split", 8));
 * ```
 */
export function createDeviceQueue(
  dma: DmaView,
  ring: RingAccess,
  config: QueueConfig,
  state: Uint32Array,
): Result<DeviceQueue, QueueSetupError> {
  return config.layout === "split"
    ? SplitDeviceQueue.create(dma, ring, config, state)
    : PackedDeviceQueue.create(dma, ring, config, state);
}

/**
 * Both halves over one memory in one thread (tests and the cache model).
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
