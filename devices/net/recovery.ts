/**
 * The guest's virtio-net reset path (issue 13, as Linux's virtnet reset): reset and
 * re-initialise the device (`reinitDevice`), hand the fresh queues to the existing `NetDriver`
 * (its buffers are kept: nothing is allocated), post every RX buffer again and publish. The
 * caller kicks the queues `flush` names, as after any publish.
 *
 * Runs on the guest worker. A later session wires it to the triggers: DEVICE_NEEDS_RESET on a
 * config interrupt, a `queue-broken` driver fault, a `tx-timeout`.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import type {
  DriverInitError,
  DriverInitOptions,
  InitializedDevice,
  RegisterPort,
} from "../virtio/mmio_driver.ts";
import { resetDevice } from "../virtio/mmio_driver.ts";
import { reinitDevice } from "../virtio/mmio_reinit.ts";
import type { FlushOutcome, NetDriver, NetReattachError } from "./driver.ts";

/** What a recovered NIC has: the new device handles and the queues to kick. */
export interface NetRecovery {
  /** The re-initialised device (free its `pages` at the next reset). */
  readonly device: InitializedDevice;
  /** Which queues to kick now (RX buffers were posted again). */
  readonly kick: FlushOutcome;
}

/**
 * Reset `previous`, initialise again with `opts`, and reattach `driver` to the new receiveq
 * (queue 0) and transmitq (queue 1). Frames in flight at the reset are lost.
 *
 * @example
 * ```ts
 * import type { DriverInitOptions, InitializedDevice, RegisterPort } from "../virtio/mmio_driver.ts";
 * import type { NetDriver } from "./driver.ts";
 * import { recoverNet } from "./recovery.ts";
 * async function onNeedsReset(port: RegisterPort, opts: DriverInitOptions, dev: InitializedDevice, d: NetDriver) {
 *   const r = await recoverNet(port, { opts, previous: dev, driver: d });
 *   return r.ok ? r.value.device : null;
 * }
 * ```
 */
export async function recoverNet(
  port: RegisterPort,
  o: { opts: DriverInitOptions; previous: InitializedDevice; driver: NetDriver },
): Promise<Result<NetRecovery, DriverInitError | NetReattachError>> {
  // What the device returned before it stopped was sent: reclaimed, not counted dropped by
  // `reattach` (a driver whose queue broke reads nothing more from it).
  const reclaim = () => (o.driver.reclaimTx(), true);
  if (!(o.opts.section?.(reclaim, false) ?? reclaim())) return await new Promise<never>(() => {});
  const r = await reinitDevice(port, o.opts, o.previous);
  if (!r.ok) return r;
  const [rx, tx] = r.value.queues;
  const attach = () => {
    const a = o.driver.reattach(rx, tx);
    if (!a.ok) return a;
    o.driver.fillRx();
    return ok(o.driver.flush());
  };
  // Rings written: a section of the driver's CPU (`DriverInitOptions.section`); a gone CPU's
  // recovery goes no further (it never settles).
  const section = o.opts.section;
  const a = section === undefined ? attach() : section<ReturnType<typeof attach> | null>(
    attach,
    null,
  );
  if (a === null) return await new Promise<never>(() => {});
  if (!a.ok) {
    // Stop the device before its rings go back to the allocator; keep them if it will not stop.
    if ((await resetDevice(port)).ok) { for (const gpa of r.value.pages) o.opts.alloc.free(gpa); }
    return err(a.error);
  }
  return ok({ device: r.value, kick: a.value });
}
