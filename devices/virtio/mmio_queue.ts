/**
 * The queue checks of the virtio-mmio device transport (`mmio_device.ts`): whether a QueueReady
 * write of 1 may enable a queue (`queueRefusal`), and how DRIVER_OK opens each ready queue at
 * power-on state (`activateQueue`).
 *
 * Both run on the device worker, inside the transport's register writes. A queue the driver
 * configured badly is guest input: it is refused (QueueReady stays 0) or sets
 * DEVICE_NEEDS_RESET, never thrown.
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import { err, type Result } from "../base/result.ts";
import { Status } from "./constants.ts";
import type { QueueSetupError } from "./errors.ts";
import { createDeviceQueue } from "./device_queue.ts";
import type { DeviceQueue, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { checkQueueConfig, type QueueAreas } from "./setup.ts";
import type { NeedsResetReason } from "./status.ts";

/** Why DRIVER_OK could not start a queue (its area became unreachable since QueueReady). */
export interface QueueActivateFailure extends NeedsResetReason {
  /** Discriminant. */
  readonly kind: "queue-activate-failed";
  /** The queue. */
  readonly queue: number;
  /** The setup check that failed. */
  readonly cause: QueueSetupError;
}

/**
 * Why a live queue stopped after an IOMMU invalidation: one of its areas is no longer reachable
 * through the device's DMA view, or now translates to other guest pages than the queue uses.
 */
export interface QueueAreaRevoked extends NeedsResetReason {
  /** Discriminant. */
  readonly kind: "queue-area-revoked";
  /** The queue. */
  readonly queue: number;
  /** The area. */
  readonly area: "descriptor" | "driver" | "device";
  /** The refused translation, or null when the area translates to other guest pages. */
  readonly cause: QueueSetupError | null;
}

/**
 * Translate a live queue's areas again (after an invalidation) and compare them with the
 * guest-physical areas the queue uses: null if they still match, else why the queue must stop.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { recheckQueueAreas } from "./mmio_queue.ts";
 * const config = { layout: "split", size: 8, descAddr: 0x1000, driverAddr: 0x2000,
 *   deviceAddr: 0x3000, features: { eventIdx: false, indirect: false, inOrder: false } } as const;
 * const inUse = { descriptor: 0x1000, driver: 0x2000, device: 0x3000 };
 * recheckQueueAreas(new DirectDma(GuestMemory.create(65536)), 0, config, inUse); // null
 * ```
 */
export function recheckQueueAreas(
  dma: DmaView,
  q: number,
  config: QueueConfig,
  inUse: QueueAreas,
): QueueAreaRevoked | null {
  const now = checkQueueConfig(dma, config);
  if (!now.ok) {
    const area = now.error.kind === "bad-size" || now.error.kind === "bad-layout"
      ? "descriptor"
      : now.error.area;
    return { kind: "queue-area-revoked", queue: q, area, cause: now.error };
  }
  for (const area of ["descriptor", "driver", "device"] as const) {
    if (now.value[area] !== inUse[area]) {
      return { kind: "queue-area-revoked", queue: q, area, cause: null };
    }
  }
  return null;
}

/**
 * Why QueueReady stayed 0 after the driver wrote 1.
 *
 * @example
 * ```ts
 * import type { QueueRefusal } from "./mmio_device.ts";
 * const r: QueueRefusal = { kind: "above-queue-size-max", size: 512, max: 256 };
 * ```
 */
export type QueueRefusal =
  | QueueSetupError
  /** FEATURES_OK is not set yet, so the layout is unknown (§3.1.1: queues come after it). */
  | { readonly kind: "features-not-ok"; readonly status: number }
  /** QueueSize is above QueueSizeMax. */
  | { readonly kind: "above-queue-size-max"; readonly size: number; readonly max: number };

/**
 * Why a QueueReady write of 1 must leave queue `config` disabled, or null if it may be enabled:
 * the device `status` must show FEATURES_OK (the layout is known only then, §3.1.1 step 7 comes
 * after step 5), its size must not exceed `max`, and its areas must pass `checkQueueConfig`.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { queueRefusal } from "./mmio_queue.ts";
 * const dma = new DirectDma(GuestMemory.create(1 << 20));
 * const features = { eventIdx: false, indirect: false, inOrder: false };
 * const config = { layout: "split" as const, size: 512, descAddr: 0, driverAddr: 0, deviceAddr: 0,
 *   features };
 * queueRefusal(dma, { config, status: 0xb, max: 256 }); // { kind: "above-queue-size-max", … }
 * ```
 */
export function queueRefusal(
  dma: DmaView,
  opts: { config: QueueConfig; status: number; max: number },
): QueueRefusal | null {
  const { config, status, max } = opts;
  return (status & Status.FEATURES_OK) === 0
    ? { kind: "features-not-ok", status }
    : config.size > max
    ? { kind: "above-queue-size-max", size: config.size, max }
    : ((r) => r.ok ? null : r.error)(checkQueueConfig(dma, config));
}

/**
 * A queue opener for DRIVER_OK: it starts queue `q` at power-on state over its state record.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { activateQueue } from "./mmio_queue.ts";
 * const mem = GuestMemory.create(1 << 20);
 * const open = activateQueue(new DirectDma(mem), new SharedRingAccess(mem));
 * ```
 */
export function activateQueue(
  dma: DmaView,
  ring: RingAccess,
): (q: number, config: QueueConfig, st: Uint32Array) => Result<DeviceQueue, NeedsResetReason> {
  return (q, config, st) => {
    const r = createDeviceQueue(dma, ring, config, st);
    if (r.ok) return r;
    const reason: QueueActivateFailure = {
      kind: "queue-activate-failed",
      queue: q,
      cause: r.error,
    };
    return err(reason);
  };
}
