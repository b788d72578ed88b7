/**
 * Create the device half of a queue, in either layout: what a device model needs, without the
 * driver halves (a device worker need not load driver code).
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import type { Result } from "../base/result.ts";
import { argumentError, type QueueSetupError } from "./errors.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import type { DeviceQueue, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { SplitDeviceQueue } from "./split_device.ts";
import { checkLayout } from "./setup.ts";

/**
 * Create the device half of a queue at power-on state.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { createState } from "./state.ts";
 * import { createDeviceQueue } from "./device_queue.ts";
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
  // A script's argument of the wrong type is named, not "Cannot read properties of null".
  if (typeof dma !== "object" || dma === null) {
    throw argumentError("createDeviceQueue", "dma", "a DmaView", dma);
  }
  if (typeof ring !== "object" || ring === null) {
    throw argumentError("createDeviceQueue", "ring", "a RingAccess", ring);
  }
  // Checked here, not defaulted: each layout's own `create` takes its layout as given.
  const checked = checkLayout(config, "createDeviceQueue");
  if (!(state instanceof Uint32Array)) {
    throw argumentError("createDeviceQueue", "state", "a Uint32Array (createState)", state);
  }
  if (!checked.ok) return checked;
  return config.layout === "split"
    ? SplitDeviceQueue.create(dma, ring, config, state)
    : PackedDeviceQueue.create(dma, ring, config, state);
}
