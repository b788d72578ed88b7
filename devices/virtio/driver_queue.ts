/**
 * Create the driver half of a queue, in either layout: what a guest's driver needs, without the
 * device halves (a guest worker whose VM only drives queues loads no device code).
 *
 * @module
 */

import type { GuestMemory } from "../memory/memory.ts";
import type { Result } from "../base/result.ts";
import { argumentError, type QueueSetupError } from "./errors.ts";
import { PackedDriverQueue } from "./packed_driver.ts";
import type { DriverQueue, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { type IndirectArea, SplitDriverQueue } from "./split_driver.ts";
import { checkLayout } from "./setup.ts";

/**
 * Create the driver half of a queue (it initialises the ring).
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { createDriverQueue } from "./driver_queue.ts";
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
  // A script's argument of the wrong type is named, not "Cannot read properties of null".
  if (typeof mem !== "object" || mem === null) {
    throw argumentError("createDriverQueue", "mem", "a GuestMemory", mem);
  }
  if (typeof ring !== "object" || ring === null) {
    throw argumentError("createDriverQueue", "ring", "a RingAccess", ring);
  }
  // Checked here, not defaulted: each layout's own `create` takes its layout as given.
  const checked = checkLayout(config, "createDriverQueue");
  if (!checked.ok) return checked;
  return config.layout === "split"
    ? SplitDriverQueue.create(mem, ring, config, indirect)
    : PackedDriverQueue.create(mem, ring, config, indirect);
}
