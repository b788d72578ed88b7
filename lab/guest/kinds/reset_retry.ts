/**
 * How a guest kind retries a device reset that failed (a register read that timed out because
 * the device worker crashed mid-reset, a device that would not read back Status 0, a reinit
 * error): the next attempt comes after a back-off, doubling from 100 ms, a bounded number of
 * times, as Linux's virtio-net retries its reset work at the next trigger rather than leave
 * the device dead. The kind keeps one {@linkcode ResetRetries} per device: it says when the
 * next attempt is due (the kind's `nextTimerMs`, and its pump starts the attempt), and when to
 * give up (said once, with {@linkcode resetGiveUpHint}). Shared by the net and vsock guests;
 * runs on the guest's thread.
 *
 * @module
 */

import { MmioReg } from "../../../devices/virtio/mmio.ts";
import type { RegisterPort } from "../../../devices/virtio/mmio_driver.ts";

/** The waits before each retry of a failed reset, ms: four retries, then the guest gives up. */
export const RESET_RETRY_DELAYS_MS: readonly number[] = [100, 200, 400, 800];

/**
 * The retries of one device's failed resets: `failed` after an attempt that failed schedules
 * the next (or gives up), `take` in the pump starts it when due, `succeeded` starts the
 * back-off over. Times are the guest clock's ms.
 *
 * @example
 * ```ts
 * import { ResetRetries } from "./reset_retry.ts";
 * const r = new ResetRetries();
 * r.failed(0); // 100: the next attempt in 100 ms
 * r.take(50); // false
 * r.take(100); // true: start attempt 2
 * r.attempt; // 2
 * ```
 */
export class ResetRetries {
  /** The attempt under way or next (1: the first). */
  attempt = 1;
  /** When the next attempt is due (clock ms); null: none scheduled. */
  dueAt: number | null = null;
  readonly #delaysMs: readonly number[];
  constructor(delaysMs: readonly number[] = RESET_RETRY_DELAYS_MS) {
    this.#delaysMs = delaysMs;
  }
  /** The attempt in progress failed at `now`: the wait before the next, or null to give up. */
  failed(now: number): number | null {
    const delay = this.#delaysMs[this.attempt - 1];
    if (delay === undefined) return null;
    this.attempt++;
    this.dueAt = now + delay;
    return delay;
  }
  /** True (once) when the next attempt is due at `now`: the caller starts it. */
  take(now: number): boolean {
    if (this.dueAt === null || now < this.dueAt) return false;
    this.dueAt = null;
    return true;
  }
  /** Ms until the next attempt is due (0 if overdue; Infinity: none). */
  untilMs(now: number): number {
    return this.dueAt === null ? Infinity : Math.max(0, this.dueAt - now);
  }
  /** A reset succeeded: the next failure starts from the first delay. */
  succeeded(): void {
    this.attempt = 1;
    this.dueAt = null;
  }
}

/**
 * The hint of a reset the guest gave up on.
 *
 * @example
 * ```ts
 * import { resetGiveUpHint } from "./reset_retry.ts";
 * resetGiveUpHint("a"); // 'the device stays stopped: "vlab fault vm-crash a" reboots the VM'
 * ```
 */
export function resetGiveUpHint(vm: string): string {
  return `the device stays stopped: "vlab fault vm-crash ${vm}" reboots the VM`;
}

/**
 * Watch a reset attempt's register accesses: `zeroed()` is true once Status read back 0 (the
 * device let go of its rings, and `reinitDevice` gave the previous rings' pages back to the
 * allocator). A retry after such an attempt must not free them again.
 *
 * @example
 * ```ts
 * import { watchReset } from "./reset_retry.ts";
 * import type { RegisterPort } from "../../../devices/virtio/mmio_driver.ts";
 * const port: RegisterPort = { read: () => Promise.resolve(0), write: () => Promise.resolve() };
 * const w = watchReset(port);
 * await w.port.read(0x70); // Status 0
 * w.zeroed(); // true
 * ```
 */
export function watchReset(port: RegisterPort): { port: RegisterPort; zeroed: () => boolean } {
  let zeroed = false;
  return {
    port: {
      read: async (offset, size) => {
        const v = await port.read(offset, size);
        if (offset === MmioReg.STATUS && v === 0) zeroed = true;
        return v;
      },
      write: (offset, value, size) => port.write(offset, value, size),
    },
    zeroed: () => zeroed,
  };
}
