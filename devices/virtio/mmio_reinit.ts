/**
 * Guest-side reset and re-initialisation (issue 13, reliability I4): what a driver does after
 * the device set DEVICE_NEEDS_RESET, after one of its own queues broke on device output
 * (reliability C), or after its transmit watchdog fired. It mirrors Linux's
 * `virtio_device_restore` and virtio_net's reset: write 0 to Status and wait (bounded) until it
 * reads back 0, so the device has stopped using the rings; only then free the old queue pages;
 * negotiate again, rebuild the queues and reach DRIVER_OK (`initAfterReset`: one recovery is
 * one reset).
 *
 * Runs on the guest worker, like `mmio_driver.ts`. Allocation-bounded: each cycle returns the
 * queue pages it took before taking new ones, so the pages the driver holds do not grow however
 * often the device is reset. Buffers (the net driver's) are kept and re-posted by their owner
 * (`NetDriver.reattach`). Requests in flight at the reset are lost: the spec lets the device
 * complete them or not (§2.1.2), so their owner fails them upward.
 *
 * @module
 */

import { err, type Result } from "../base/result.ts";
import { Status } from "./constants.ts";
import { MmioReg } from "./mmio.ts";
import {
  type DriverInitError,
  type DriverInitOptions,
  initAfterReset,
  type InitializedDevice,
  type RegisterPort,
  resetDevice,
} from "./mmio_driver.ts";

/** Why the driver resets the device: the trigger goes into the event log. */
export type ResetCause =
  /** The device set DEVICE_NEEDS_RESET (a config interrupt told the driver). */
  | { readonly kind: "needs-reset"; readonly status: number }
  /** A driver queue broke on device output (reliability section C). */
  | { readonly kind: "queue-broken"; readonly queue: number }
  /** The transmit watchdog fired. */
  | { readonly kind: "tx-timeout" };

/**
 * Whether the device asks to be reset: Status shows DEVICE_NEEDS_RESET (§2.1.2). Read it when a
 * configuration-change interrupt arrives.
 *
 * @example
 * ```ts
 * import type { RegisterPort } from "./mmio_driver.ts";
 * import { readNeedsReset } from "./mmio_reinit.ts";
 * async function onConfigInterrupt(port: RegisterPort) {
 *   const cause = await readNeedsReset(port);
 *   if (cause) console.log("reset the device", cause.status);
 * }
 * ```
 */
export async function readNeedsReset(
  port: RegisterPort,
): Promise<Extract<ResetCause, { kind: "needs-reset" }> | null> {
  const status = await port.read(MmioReg.STATUS);
  return (status & Status.DEVICE_NEEDS_RESET) !== 0 ? { kind: "needs-reset", status } : null;
}

/**
 * The first queue of `device` that broke on device output, as a reset cause, or null.
 *
 * @example
 * ```ts
 * import { brokenQueue } from "./mmio_reinit.ts";
 * brokenQueue({ queues: [{ broken: null }, { broken: { kind: "used-id-not-in-flight", id: 3 } }] });
 * // { kind: "queue-broken", queue: 1 }
 * ```
 */
export function brokenQueue(
  device: { readonly queues: ReadonlyArray<{ readonly broken: unknown }> },
): ResetCause | null {
  const q = device.queues.findIndex((x) => x.broken !== null);
  return q < 0 ? null : { kind: "queue-broken", queue: q };
}

/**
 * Reset the device and initialise it again: Status 0 and its read-back (at most `maxReads`
 * reads), then the pages of `previous` go back to `opts.alloc`, then `initAfterReset`. If the
 * device never reads back 0 the old pages are kept (the device may still be writing them) and
 * the error is returned. The device's identity (magic, version, ID) is not checked again. On success the new queues replace every handle of `previous`.
 *
 * @example
 * ```ts
 * import type { DriverInitOptions, InitializedDevice, RegisterPort } from "./mmio_driver.ts";
 * import { reinitDevice } from "./mmio_reinit.ts";
 * async function recover(port: RegisterPort, opts: DriverInitOptions, old: InitializedDevice) {
 *   const r = await reinitDevice(port, opts, old);
 *   return r.ok ? r.value.queues : null; // re-post the buffers on these
 * }
 * ```
 */
export async function reinitDevice(
  port: RegisterPort,
  opts: DriverInitOptions,
  previous: InitializedDevice,
  maxReads = 16,
): Promise<Result<InitializedDevice, DriverInitError>> {
  const reset = await resetDevice(port, maxReads);
  if (!reset.ok) return err(reset.error);
  // Status reads 0: the device no longer touches the rings (§2.4), so their pages are free.
  for (const gpa of previous.pages) opts.alloc.free(gpa);
  return await initAfterReset(port, opts);
}
