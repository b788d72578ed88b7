/**
 * The contract between a virtio transport and a device model (the rust-vmm `VirtioDevice`
 * idea): the transport owns registers, status and queue configuration; the model owns its
 * config space and, once the driver sets DRIVER_OK, its queues.
 *
 * A model runs on the device worker and knows nothing of workers, registers or YAML.
 *
 * @module
 */

import type { Result } from "../base/result.ts";
import type { FeatureSet } from "./features.ts";
import type { DeviceQueue } from "./queue.ts";

/** What the transport hands a model when the driver sets DRIVER_OK. */
export interface ActivateContext {
  /** The features the driver accepted (FEATURES_OK was set with these). */
  readonly negotiated: FeatureSet;
  /** The device halves of the queues, indexed by queue index; null where the driver left a queue unready. */
  readonly queues: ReadonlyArray<DeviceQueue | null>;
}

/** Why a model refused to activate (the transport then sets DEVICE_NEEDS_RESET). */
export interface ActivateError {
  /** Discriminant. */
  readonly kind: "missing-queue";
  /** The queue the model needs but the driver did not make ready. */
  readonly queue: number;
}

/**
 * A device model as a transport sees it.
 *
 * @example
 * ```ts
 * import type { VirtioDeviceModel } from "./device_model.ts";
 * function describe(m: VirtioDeviceModel): string {
 *   return `device ${m.deviceId} with ${m.queueCount} queues`;
 * }
 * ```
 */
export interface VirtioDeviceModel {
  /** The virtio device ID (1 = network). */
  readonly deviceId: number;
  /** How many queues the device has. */
  readonly queueCount: number;
  /** QueueSizeMax for every queue. */
  readonly queueMaxSize: number;
  /** Every feature the device offers, device-specific and transport/ring bits alike. */
  readonly offered: FeatureSet;
  /** Size of the config space in bytes. */
  readonly configSize: number;
  /** Read `size` bytes of config space at `offset`, little-endian; out of range reads 0. */
  readConfig(offset: number, size: 1 | 2 | 4): number;
  /** Start using the queues. */
  activate(ctx: ActivateContext): Result<void, ActivateError>;
  /** Forget the queues and negotiated state (the driver wrote 0 to Status). */
  reset(): void;
}
