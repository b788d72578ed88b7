/**
 * Test rig for a guest kind: one device of the kind whose device worker runs in the test's own
 * thread. Every millisecond it performs the register accesses the guest queued (as a device
 * worker's pass does), runs the device's own pass the test gives, and then the guest's pump (as
 * its loop does). Used by the guest kinds' tests of resets and configuration interrupts.
 *
 * @module
 */

import { createDoorbells } from "../../wire/doorbell.ts";
import { guestFence } from "../../wire/fence.ts";
import { controlLayout, type DeviceControl, deviceControl } from "../../wire/control.ts";
import { serveMailbox } from "../../wire/mailbox.ts";
import type { FromWorker } from "../../wire/messages.ts";
import type { DeviceSpec } from "../../wire/specs.ts";
import { MmioDeviceTransport } from "../../../devices/virtio/mmio_device.ts";
import { MmioReg } from "../../../devices/virtio/mmio.ts";
import type { VirtioDeviceModel } from "../../../devices/virtio/device_model.ts";
import { SharedRingAccess } from "../../../devices/virtio/ring_access.ts";
import { resetState } from "../../../devices/virtio/state.ts";
import { DirectDma } from "../../../devices/memory/dma.ts";
import { GuestMemory, PAGE_SIZE, PageAllocator } from "../../../devices/memory/mod.ts";
import type { GuestContext, GuestKind, GuestKindInstance } from "./types.ts";
import type { Clock } from "../net/api.ts";

/** An event the guest kind posted. */
export interface PostedEvent {
  /** The event's kind. */
  kind: string;
  /** Its detail. */
  detail?: Record<string, unknown>;
}

/** What `startInThread` brought up. */
export interface InThreadRig<M extends VirtioDeviceModel> {
  /** The guest's memory. */
  mem: GuestMemory;
  /** The device's control block. */
  ctl: DeviceControl;
  /** The device model. */
  device: M;
  /** Its virtio-mmio transport (the registers the guest's accesses reach). */
  transport: MmioDeviceTransport;
  /** The events the guest kind posted, in order. */
  events: PostedEvent[];
  /** The started guest kind. */
  kind: GuestKindInstance;
  /** Stop the passes. */
  stop(): void;
}

/**
 * Start `guestKind` with its one device `spec`, whose model `model` makes, in `memBytes` of guest
 * memory. `pass` is the device worker's pass after the register accesses (a device's TX, RX and
 * interrupts); `onStatusWrite` sees each write of the device status register after it took
 * effect. Stop it with `stop()` (the caller bounds the test).
 *
 * @example
 * ```ts
 * import { startInThread } from "./in_thread_testing.ts";
 * // const rig = await startInThread({ guestKind: NET_GUEST_KIND, spec, memBytes: 1 << 20,
 * //   model: (mem, counters) => new NetDevice({ memory: mem, counters, ... }) });
 * // rig.stop();
 * ```
 */
export async function startInThread<M extends VirtioDeviceModel>(o: {
  guestKind: GuestKind;
  spec: DeviceSpec;
  memBytes: number;
  model: (mem: GuestMemory, counters: Float64Array) => M;
  pass?: (device: M, transport: MmioDeviceTransport) => void;
  onStatusWrite?: (value: number) => void;
  clock?: Clock;
}): Promise<InThreadRig<M>> {
  const layout = controlLayout([o.spec]);
  const control = new SharedArrayBuffer(layout.bytes);
  const ctl = deviceControl(control, layout.devices[0]);
  const mem = GuestMemory.create(o.memBytes);
  const ring = new SharedRingAccess(mem);
  const bells = createDoorbells(2);
  const device = o.model(mem, ctl.deviceCounters);
  const transport = new MmioDeviceTransport({
    model: device,
    dma: new DirectDma(mem),
    ring,
    regs: ctl.regs,
    queueState: (q, qLayout, size) => {
      resetState(ctl.queueState[q], qLayout, size);
      return ctl.queueState[q];
    },
  });
  const onStatusWrite = o.onStatusWrite;
  const target = onStatusWrite === undefined ? transport : {
    read: (offset: number, size: 1 | 2 | 4) => transport.read(offset, size),
    write: (offset: number, value: number, size: 1 | 2 | 4) => {
      transport.write(offset, value, size);
      if (offset === MmioReg.STATUS) onStatusWrite(value);
    },
  };
  const events: PostedEvent[] = [];
  const ctx = {
    vm: "a",
    seed: 1,
    mem,
    alloc: new PageAllocator(PAGE_SIZE, mem.size - PAGE_SIZE),
    ring,
    bells,
    deviceThread: 1,
    wakeSelf: () => {},
    sleeping: () => false,
    timersChanged: () => {},
    control,
    layout,
    clock: o.clock ?? { now: () => performance.now() },
    post: (m: FromWorker) => {
      if (m.type === "event") events.push({ kind: m.kind, detail: m.detail });
    },
    frontends: new Map(),
    thread: 0,
    fence: guestFence(bells, 0, 0),
    iommu: null,
  } as unknown as GuestContext;
  let kind: GuestKindInstance | null = null;
  const timer = setInterval(() => {
    serveMailbox(ctl.mailbox, target);
    o.pass?.(device, transport);
    kind?.pump();
  }, 1);
  try {
    kind = await o.guestKind.start(ctx, [o.spec]);
  } catch (e) {
    clearInterval(timer);
    throw e;
  }
  return { mem, ctl, device, transport, events, kind, stop: () => clearInterval(timer) };
}

/**
 * Poll `probe` every 5 ms until it is true; false after `ms`.
 *
 * @example
 * ```ts
 * import { becomes } from "./in_thread_testing.ts";
 * await becomes(() => true, 100); // true
 * ```
 */
export async function becomes(
  probe: () => boolean | Promise<boolean>,
  ms: number,
): Promise<boolean> {
  for (const end = performance.now() + ms; performance.now() < end;) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return probe();
}
