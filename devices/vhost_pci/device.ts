/**
 * The vhost-pci-net device VM `b` probes (device ID `VHOST_PCI_NET_DEVICE_ID`): a virtio device
 * with no virtqueues of its own. Its config space holds the MAC of `b`'s interface and a status
 * word whose LINK_UP bit says whether `b` serves the frontend's queues; the queues it serves are
 * `a`'s, reached through the window (`backend.ts`), not through rings of this device.
 *
 * Runs on `b`'s device worker, which answers `b`'s driver's register accesses with it.
 *
 * @module
 */

import { OK_VOID, type Result } from "../base/result.ts";
import { Feature } from "../virtio/constants.ts";
import type { ActivateContext, ActivateError, VirtioDeviceModel } from "../virtio/device_model.ts";
import { type FeatureSet, featureSet } from "../virtio/features.ts";
import { VHOST_PCI_CONFIG_SIZE, VHOST_PCI_NET_DEVICE_ID, VhostPciConfigOffset } from "./config.ts";

/** Options of a `VhostPciNetDevice`. */
export interface VhostPciNetDeviceOptions {
  /** The MAC of `b`'s interface (6 bytes). */
  mac: Uint8Array;
  /** Whether `b` serves a connection now (read at every config access). */
  linkUp: () => boolean;
}

/**
 * The vhost-pci-net device model.
 *
 * @example
 * ```ts
 * import { VhostPciNetDevice } from "./device.ts";
 * const d = new VhostPciNetDevice({ mac: new Uint8Array(6), linkUp: () => true });
 * d.deviceId; // 63
 * d.readConfig(6, 2); // 1: LINK_UP
 * ```
 */
export class VhostPciNetDevice implements VirtioDeviceModel {
  /** The lab's vhost-pci-net ID. */
  readonly deviceId = VHOST_PCI_NET_DEVICE_ID;
  /** No queues of its own. */
  readonly queueCount = 0;
  /** No queues: 0. */
  readonly queueMaxSize = 0;
  /** VERSION_1 only. */
  readonly offered: FeatureSet = featureSet([Feature.VERSION_1]);
  /** mac[6], status u16. */
  readonly configSize = VHOST_PCI_CONFIG_SIZE;
  readonly #mac: Uint8Array;
  readonly #linkUp: () => boolean;

  /** A device for `b`'s interface. Throws a `RangeError` for a MAC that is not 6 bytes. */
  constructor(opts: VhostPciNetDeviceOptions) {
    if (opts.mac.length !== 6) {
      throw new RangeError(`Cannot create the vhost-pci-net device: MAC must be 6 bytes`);
    }
    this.#mac = Uint8Array.from(opts.mac);
    this.#linkUp = opts.linkUp;
  }

  /** Read config space little-endian; out of range reads 0. */
  readConfig(offset: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < size; i++) {
      const at = offset + i;
      let b = 0;
      if (at >= VhostPciConfigOffset.MAC && at < VhostPciConfigOffset.MAC + 6) b = this.#mac[at];
      else if (at === VhostPciConfigOffset.STATUS) b = this.#linkUp() ? 1 : 0;
      v |= b << (8 * i);
    }
    return v >>> 0;
  }

  /** Nothing to start: the queues served are the frontend's. */
  activate(_ctx: ActivateContext): Result<void, ActivateError> {
    return OK_VOID;
  }

  /** Nothing to forget. */
  reset(): void {}
}
