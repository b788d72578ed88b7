/**
 * The error a guest slice throws when a device's driver cannot come up at the VM's start: one
 * sentence that names the VM, the device and what failed (`VM "b" could not start the driver of
 * NIC eth0: queue 0 (receiveq): size 300 is not allowed for the split layout`) and a hint. The
 * worker scope posts both (`failed`), the lab logs them (`guest-failed`) and a lab that cannot
 * start says them (`vlab up`). The same words serve a reset that fails later
 * (`device-reset-failed`'s `message`, beside its `error` code).
 *
 * @module
 */

import { type DriverInitError, driverInitReason } from "../../../devices/virtio/mmio_driver.ts";
import type { NetReattachError } from "../../../devices/net/driver.ts";
import { NET_QUEUE_NAMES } from "../../../devices/net/config.ts";

/**
 * A guest-side failure to start a device, with what the user can do about it. The worker scope
 * posts its `hint` with its message.
 *
 * @example
 * ```ts
 * import { GuestStartError } from "./start_error.ts";
 * const e = new GuestStartError('VM "a" could not start its vsock device: …', "Report it");
 * e.hint; // "Report it"
 * ```
 */
export class GuestStartError extends Error {
  /** What to do about it. */
  readonly hint: string;

  /**
   * Make one.
   *
   * @param message one line: which device of which VM, what failed
   * @param hint what to do about it
   */
  constructor(message: string, hint: string) {
    super(message);
    this.name = "GuestStartError";
    this.hint = hint;
  }
}

/** A device as a start error names it. */
export interface StartingDevice {
  /** The VM's name. */
  readonly vm: string;
  /** The device, as a sentence names it: `NIC eth0`, `its vsock device`. */
  readonly device: string;
  /** Its queues' names in queue order (`receiveq`, `transmitq`). */
  readonly queues?: readonly string[];
  /** Its queue sizes come from the topology (`queue_size`), not from vlab. */
  readonly queueSizeKey?: boolean;
}

/**
 * NIC `name` of VM `vm`, with its queues' names.
 *
 * @example
 * ```ts
 * import { nicDevice } from "./start_error.ts";
 * nicDevice("a", "eth0").device; // "NIC eth0"
 * ```
 */
export function nicDevice(vm: string, name: string): StartingDevice {
  return { vm, device: `NIC ${name}`, queues: NET_QUEUE_NAMES, queueSizeKey: true };
}

/**
 * NIC `name` of VM `vm` that serves another VM's NIC over a vhost-pci link (it has no queues).
 *
 * @example
 * ```ts
 * import { vhostPciDevice } from "./start_error.ts";
 * vhostPciDevice("b", "eth0").device; // "NIC eth0 (vhost-pci)"
 * ```
 */
export function vhostPciDevice(vm: string, name: string): StartingDevice {
  return { vm, device: `NIC ${name} (vhost-pci)` };
}

/** The hint for a bug of vlab's own: a topology that validates never causes it. */
const BUG_HINT = "A topology that validates should never cause this: please report it with the " +
  "topology and the lab's event log (VLAB_DEBUG=1 shows the stack)";

/**
 * Why the driver of `d` could not initialise its device, as one line: the VM, the device, the
 * reason in words (queues by name), never a bare code such as `queue-setup`.
 *
 * @example
 * ```ts
 * import { driverFailureMessage } from "./start_error.ts";
 * driverFailureMessage({ vm: "b", device: "NIC eth0", queues: ["receiveq", "transmitq"] }, {
 *   kind: "queue-refused",
 *   queue: 1,
 * });
 * // 'VM "b" could not start the driver of NIC eth0: the device refused queue 1 (transmitq) (QueueReady reads 0)'
 * ```
 */
export function driverFailureMessage(d: StartingDevice, e: DriverInitError): string {
  return `VM "${d.vm}" could not start the driver of ${d.device}: ${driverInitReason(e, d.queues)}`;
}

/**
 * Why a reset of `d` (its driver's recovery: reset, negotiate, queues again) failed, as one line
 * for `device-reset-failed`'s `message` (its `error` keeps the code).
 *
 * @example
 * ```ts
 * import { resetFailureMessage } from "./start_error.ts";
 * resetFailureMessage({ vm: "a", device: "NIC eth0" }, { kind: "queue-refused", queue: 0 });
 * // 'VM "a" could not reset NIC eth0: the device refused queue 0 (QueueReady reads 0)'
 * ```
 */
export function resetFailureMessage(
  d: StartingDevice,
  e: DriverInitError | NetReattachError,
): string {
  const why = e.kind === "queue-size-changed"
    ? `its queue sizes changed to ${e.rx} (receiveq) and ${e.tx} (transmitq), its buffers are ` +
      `for ${e.expectedRx} and ${e.expectedTx}`
    : driverInitReason(e, d.queues);
  return `VM "${d.vm}" could not reset ${d.device}: ${why}`;
}

/**
 * What the user can do about `e`: give the VM memory, fix a NIC's queue size, or, for what only
 * a bug of vlab's causes, report it.
 *
 * @example
 * ```ts
 * import { driverFailureHint } from "./start_error.ts";
 * driverFailureHint({ vm: "a", device: "NIC eth0" }, {
 *   kind: "queue-out-of-memory",
 *   queue: 0,
 *   bytes: 8192,
 *   freePages: 1,
 * });
 * // 'Give VM "a" more guest memory (its `memory:` in the topology)'
 * ```
 */
export function driverFailureHint(d: StartingDevice, e: DriverInitError): string {
  if (e.kind === "queue-out-of-memory") {
    return `Give VM "${d.vm}" more guest memory (its \`memory:\` in the topology)`;
  }
  if (d.queueSizeKey === true && e.kind === "queue-setup" && e.cause.kind === "bad-size") {
    return "Set queue_size to 8..32768, a power of 2 for the split layout";
  }
  return BUG_HINT;
}

/**
 * The error to throw when the driver of `d` cannot start: {@linkcode driverFailureMessage} and
 * {@linkcode driverFailureHint}.
 *
 * @example
 * ```ts
 * import { driverStartError } from "./start_error.ts";
 * const e = driverStartError({ vm: "a", device: "its vsock device" }, {
 *   kind: "driver-ok-refused",
 *   status: 0x4f,
 * });
 * e.message; // 'VM "a" could not start the driver of its vsock device: the device did not accept DRIVER_OK (Status 0x4f)'
 * ```
 */
export function driverStartError(d: StartingDevice, e: DriverInitError): GuestStartError {
  return new GuestStartError(driverFailureMessage(d, e), driverFailureHint(d, e));
}

/**
 * The error to throw when VM `vm` has no room left in its guest memory for `bytes` that
 * `device` needs (`the DMA window of NIC eth0`), with the hint to give it more.
 *
 * @example
 * ```ts
 * import { outOfMemoryError } from "./start_error.ts";
 * outOfMemoryError("a", "the DMA window of NIC eth0", 1 << 20).message;
 * // 'VM "a" has no guest memory left for the DMA window of NIC eth0 (1048576 bytes)'
 * ```
 */
export function outOfMemoryError(vm: string, what: string, bytes: number): GuestStartError {
  return new GuestStartError(
    `VM "${vm}" has no guest memory left for ${what} (${bytes} bytes)`,
    `Give VM "${vm}" more guest memory (its \`memory:\` in the topology)`,
  );
}

/**
 * The error to throw when a device of `vm` came up but its config space never settled (the
 * device kept changing it while the driver read it), naming the device and the field.
 *
 * @example
 * ```ts
 * import { configUnstableError } from "./start_error.ts";
 * configUnstableError("a", "its vsock device", "guest CID", 8).message;
 * // 'VM "a" could not read the guest CID of its vsock device: its config space changed on each of 8 reads'
 * ```
 */
export function configUnstableError(
  vm: string,
  device: string,
  field: string,
  attempts: number,
): GuestStartError {
  return new GuestStartError(
    `VM "${vm}" could not read the ${field} of ${device}: its config space changed on each of ${attempts} reads`,
    BUG_HINT,
  );
}
