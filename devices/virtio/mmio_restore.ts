/**
 * The restore path of the virtio-mmio device transport: what `MmioDeviceTransport.restore`
 * (in `mmio_device.ts`) does with a register file written by a previous device worker.
 *
 * It runs on the device worker, once, when a worker restarted after a crash rebuilds its
 * transport. The saved status byte and accepted features are replayed into the new status
 * machine (`replayRegFile`), and every ready queue resumes from its state record
 * (`resumeQueue`). The register file is the worker's own state, so a file the transport could
 * not have written is an error; a queue that cannot resume is guest-visible and sets
 * DEVICE_NEEDS_RESET instead.
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import { err, ok, type Result } from "../base/result.ts";
import type { DescriptorChain } from "./chain.ts";
import { Status } from "./constants.ts";
import type { FeatureError } from "./features.ts";
import { clearQueueWords, type RegFileError, RegFileWord } from "./mmio.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import type { DeviceQueue, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { type RestoreError, SplitDeviceQueue } from "./split_device.ts";
import type { DeviceStatusMachine, NeedsResetReason } from "./status.ts";

/**
 * Why a register file cannot be restored from (the device worker's own state is corrupt).
 *
 * @example
 * ```ts
 * import type { MmioRestoreError } from "./mmio_device.ts";
 * const e: MmioRestoreError = { kind: "reg-file-header", field: "magic", value: 0, expected: "VMIO" };
 * ```
 */
export type MmioRestoreError =
  | RegFileError
  /** The register file says FEATURES_OK, but its features do not pass negotiation. */
  | { readonly kind: "reg-file-features"; readonly error: FeatureError };

/** Why a restored transport set DEVICE_NEEDS_RESET: a queue could not resume. */
export interface QueueRestoreFailure extends NeedsResetReason {
  /** Discriminant. */
  readonly kind: "queue-restore-failed";
  /** The queue. */
  readonly queue: number;
  /** Why its state record or ring could not be resumed. */
  readonly cause: RestoreError;
}

/**
 * Replay the saved status byte `status` and the accepted features of `regs` into the new status
 * machine `m`. Without FEATURES_OK no queue can be ready, so it also clears the words of all
 * `queueCount` queues: it finishes a reset cut short by the crash.
 *
 * @example
 * ```ts
 * import { DeviceStatusMachine } from "./status.ts";
 * import { initRegFile, regFileWords } from "./mmio.ts";
 * import { replayRegFile } from "./mmio_restore.ts";
 * const regs = new Int32Array(regFileWords(1));
 * initRegFile(regs, 1);
 * replayRegFile(new DeviceStatusMachine({ offered: 1n << 32n }), regs, { status: 0, queueCount: 1 });
 * ```
 */
export function replayRegFile(
  m: DeviceStatusMachine,
  regs: Int32Array,
  saved: { status: number; queueCount: number },
): Result<void, MmioRestoreError> {
  const status = saved.status;
  if (status !== 0) {
    m.writeDriverFeatures(0, regs[RegFileWord.DRIVER_FEATURES_LO] >>> 0);
    m.writeDriverFeatures(1, regs[RegFileWord.DRIVER_FEATURES_HI] >>> 0);
    const base = status & (Status.ACKNOWLEDGE | Status.DRIVER | Status.FAILED);
    if (base !== 0) m.writeStatus(base);
    if ((status & Status.FEATURES_OK) !== 0) {
      const out = m.writeStatus(base | Status.FEATURES_OK);
      if (out.kind === "features-refused") {
        return err({ kind: "reg-file-features", error: out.error });
      }
    }
    if ((status & Status.DRIVER_OK) !== 0) m.writeStatus(m.readStatus() | Status.DRIVER_OK);
    if ((status & Status.DEVICE_NEEDS_RESET) !== 0) {
      m.markNeedsReset({ kind: "needs-reset-before-restore" });
    }
  }
  if ((status & Status.FEATURES_OK) === 0) {
    for (let q = 0; q < saved.queueCount; q++) clearQueueWords(regs, q);
  }
  return ok(undefined);
}

/**
 * A queue opener for the restore path: it resumes queue `q` from its state record `st`
 * (`SplitDeviceQueue.restore` / `PackedDeviceQueue.restore`) and stores the chains it had in
 * flight in `inFlight[q]`.
 *
 * @example
 * ```ts
 * import type { DescriptorChain } from "./chain.ts";
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { resumeQueue } from "./mmio_restore.ts";
 * const mem = GuestMemory.create(1 << 20);
 * const inFlight: DescriptorChain[][] = [];
 * const open = resumeQueue(new DirectDma(mem), new SharedRingAccess(mem), inFlight);
 * ```
 */
export function resumeQueue(
  dma: DmaView,
  ring: RingAccess,
  inFlight: DescriptorChain[][],
): (q: number, config: QueueConfig, st: Uint32Array) => Result<DeviceQueue, NeedsResetReason> {
  return (q, config, st) => {
    const r = config.layout === "split"
      ? SplitDeviceQueue.restore(dma, ring, config, st)
      : PackedDeviceQueue.restore(dma, ring, config, st);
    if (!r.ok) {
      const reason: QueueRestoreFailure = {
        kind: "queue-restore-failed",
        queue: q,
        cause: r.error,
      };
      return err(reason);
    }
    inFlight[q] = r.value.inFlight;
    return ok(r.value.queue);
  };
}
