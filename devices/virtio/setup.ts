/**
 * Queue-enable checks shared by both layouts (reliability.md A18–A20): size, area alignment,
 * and that each area is reachable, through the device's DMA view, with the access the device
 * needs. A queue that fails them never becomes ready, so nothing later indexes outside it.
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import { err, ok, type Result } from "../result.ts";
import type { QueueSetupError } from "./errors.ts";
import { isValidPackedSize, PACKED_ALIGN, packedAreaSizes } from "./packed_layout.ts";
import type { QueueConfig } from "./queue.ts";
import { isValidSplitSize, SPLIT_ALIGN, splitAreaSizes } from "./split_layout.ts";

/** Guest-physical addresses of a queue's three areas after translation. */
export interface QueueAreas {
  /** Descriptor Area. */
  descriptor: number;
  /** Driver Area. */
  driver: number;
  /** Device Area. */
  device: number;
}

/**
 * Check a queue configuration and translate its areas for the device.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { checkQueueConfig } from "./setup.ts";
 * const features = { eventIdx: true, indirect: false, inOrder: false };
 * const r = checkQueueConfig(new DirectDma(GuestMemory.create(65536)), {
 *   layout: "split", size: 256, descAddr: 0x1000, driverAddr: 0x2000, deviceAddr: 0x3000, features,
 * });
 * r.ok; // true
 * ```
 */
export function checkQueueConfig(
  dma: DmaView,
  config: QueueConfig,
): Result<QueueAreas, QueueSetupError> {
  const packed = config.layout === "packed";
  if (!(packed ? isValidPackedSize(config.size) : isValidSplitSize(config.size))) {
    return err({ kind: "bad-size", size: config.size, layout: config.layout });
  }
  const sizes = packed ? packedAreaSizes(config.size) : splitAreaSizes(config.size);
  const align = packed ? PACKED_ALIGN : SPLIT_ALIGN;
  // The device writes the descriptor ring only in the packed layout.
  const access = {
    descriptor: packed ? "write" : "read",
    driver: "read",
    device: "write",
  } as const;
  const addrs = {
    descriptor: config.descAddr,
    driver: config.driverAddr,
    device: config.deviceAddr,
  };
  const out: QueueAreas = { descriptor: 0, driver: 0, device: 0 };
  for (const area of ["descriptor", "driver", "device"] as const) {
    const addr = addrs[area];
    if (!Number.isSafeInteger(addr) || addr % align[area] !== 0) {
      return err({ kind: "misaligned", area, addr, align: align[area] });
    }
    const t = dma.translate(addr, sizes[area], access[area]);
    if (!t.ok) return err({ kind: "area-unreachable", area, cause: t.error });
    out[area] = t.value;
  }
  return ok(out);
}
