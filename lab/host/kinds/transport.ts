/**
 * How a device kind's host slice gets its virtio-mmio transport: a fresh one at lab start, or,
 * in a device worker started by the supervisor after a backend crash, one restored from the
 * register file and queue state records the previous worker left in the control block
 * (`MmioDeviceTransport.restore`). A register file that cannot be restored from is reported as
 * a `backend-restore-failed` event and the device starts fresh (its guest then has to reset it).
 *
 * @module
 */

import type { DmaView } from "../../../devices/memory/dma.ts";
import { MmioDeviceTransport } from "../../../devices/virtio/mmio_device.ts";
import type { VirtioDeviceModel } from "../../../devices/virtio/device_model.ts";
import { resetState } from "../../../devices/virtio/state.ts";
import type { DeviceControl } from "../../wire/control.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import type { HostContext } from "./types.ts";

/**
 * The transport of one device slot: restored when `ctx.restore` is set, fresh otherwise.
 *
 * @example
 * ```ts ignore
 * const transport = openTransport(ctx, ctl, device, "eth0", { platformDma: iommuView });
 * ```
 */
export function openTransport(
  ctx: HostContext,
  ctl: DeviceControl,
  model: VirtioDeviceModel,
  name: string,
  options: { platformDma?: DmaView } = {},
): MmioDeviceTransport {
  const base = {
    model,
    dma: ctx.dma,
    platformDma: options.platformDma,
    ring: ctx.ring,
    regs: ctl.regs,
    // The irqfd: every interrupt raised in the register file wakes the guest.
    onInterrupt: () => ringDoorbell(ctx.bells, ctx.guestThread),
  };
  if (ctx.restore) {
    // The records are the previous worker's: restore re-validates them, never resets them.
    const restored = MmioDeviceTransport.restore({ ...base, queueState: (q) => ctl.queueState[q] });
    if (restored.ok) return restored.value;
    ctx.post({
      type: "event",
      kind: "backend-restore-failed",
      detail: { device: name, error: restored.error.kind },
    });
  }
  return new MmioDeviceTransport({
    ...base,
    queueState: (q, qLayout, size) => {
      const st = ctl.queueState[q];
      resetState(st, qLayout, size);
      return st;
    },
  });
}
