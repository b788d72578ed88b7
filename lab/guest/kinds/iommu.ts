/**
 * The virtio-iommu kind in the guest worker: brings the VM's virtio-iommu driver up through the
 * generic virtio-mmio init, reads its config space, and offers the other kinds `GuestIommu`
 * (`ctx.iommu`), through which a NIC with `iommu: true` makes its DMA window reachable before
 * its own driver starts: `passthrough` attaches the endpoint in bypass; `static` attaches it and
 * maps the NIC's whole buffer pool (its rings and buffers, one window of guest pages) once, with
 * IOVA = GPA, as DPDK's virtio PMD does in IOVA-as-PA mode; `strict` and `lazy` attach it, map
 * only its rings once (IOVA = GPA, Linux's coherent allocation) and give the NIC's driver a
 * `GuestDma` (iommu_dma.ts) that maps each buffer before it is posted and unmaps it on completion,
 * at IOVAs above guest memory (the requests themselves: `iommu_requests.ts`). On every loop pass
 * it acknowledges interrupts, collects completions (routed to each endpoint's `GuestDma`), sends
 * the UNMAPs that wait (strict: each; lazy: the flush queue when full or old), refills the event
 * queue and reads fault reports (counted in the driver counters with the last fault's IOVA,
 * access and endpoint, and posted as an `iommu-fault` event). A configuration interrupt makes it
 * read Status: a device that stopped on an error (DEVICE_NEEDS_RESET, a queue the guest broke) is
 * not reset (Linux's driver has no such path: docs/design.md says what one would need), but the
 * kind's own requests then give up at once, saying why, and `inspect` shows `needsReset`. Started
 * before the net kind.
 *
 * @module
 */

import { coalescedConfigReads } from "./config_reads.ts";
import {
  FAULT_REPORT_SIZE,
  IOMMU_CONFIG_SIZE,
  IommuDriver,
  IommuFeature,
  parseIommuConfig,
} from "../../../devices/iommu/mod.ts";
import { Feature, VIRTIO_ID_IOMMU } from "../../../devices/virtio/constants.ts";
import { featureSet } from "../../../devices/virtio/features.ts";
import { InterruptBit, kickQueue, MmioReg } from "../../../devices/virtio/mmio.ts";
import {
  ackInterrupt,
  initDevice,
  readConfigStable,
  readInterruptStatus,
} from "../../../devices/virtio/mmio_driver.ts";
import { readNeedsReset } from "../../../devices/virtio/mmio_reinit.ts";
import { IommuDriverCounter } from "../../wire/iommu.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell, stopRequested } from "../../wire/doorbell.ts";
import { MailboxPort } from "../../wire/mailbox.ts";
import type { IommuDeviceSpec } from "../../wire/specs.ts";
import type { GuestContext, GuestKind, GuestKindInstance } from "./types.ts";
import { configUnstableError, driverStartError } from "./start_error.ts";
import { guestIommuRequests } from "./iommu_requests.ts";

const DRIVER_FEATURES = featureSet([
  Feature.VERSION_1,
  Feature.EVENT_IDX,
  IommuFeature.INPUT_RANGE,
  IommuFeature.DOMAIN_RANGE,
  IommuFeature.MAP_UNMAP,
  IommuFeature.PROBE,
  IommuFeature.BYPASS_CONFIG,
]);

/**
 * Kick queue `q` of the virtio-iommu device and ring its worker's doorbell (`ring`), unless an
 * armed lost-kick fault swallowed the kick: then the device hears nothing, as after a lost
 * notification. True when the kick went through.
 *
 * @example
 * ```ts
 * import { notifyIommu } from "./iommu.ts";
 * import { dropNotifications, regFileWords } from "../../../devices/virtio/mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
 * let rung = 0;
 * dropNotifications(regs, 0, { kicks: 1, interrupts: 0 });
 * notifyIommu(regs, 0, () => rung++); // false: swallowed, rung === 0
 * notifyIommu(regs, 0, () => rung++); // true, rung === 1
 * ```
 */
export function notifyIommu(regs: Int32Array, q: number, ring: () => void): boolean {
  if (kickQueue(regs, q) <= 0) return false;
  ring();
  return true;
}

const IDLE: GuestKindInstance = {
  pump: () => false,
  prepareSleep: () => false,
  nextTimerMs: () => Infinity,
  periodic: () => {},
  inspect: () => ({}),
  provide: () => {},
};

const EVENTQ = 1;

async function start(ctx: GuestContext, spec: IommuDeviceSpec): Promise<GuestKindInstance> {
  const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  const port = new MailboxPort(ctl.mailbox, ctx.bells, ctx.deviceThread, undefined, ctx.fence);
  const init = await initDevice(port, {
    deviceId: VIRTIO_ID_IOMMU,
    supported: DRIVER_FEATURES,
    queues: spec.queues.map((q) => ({ size: q.size })),
    mem: ctx.mem,
    alloc: ctx.alloc,
    ring: ctx.ring,
    // Rings written as sections of this guest's generation (a crashed guest's set-up stops).
    section: (fn, otherwise) => ctx.fence.guard(fn, otherwise),
  });
  if (!init.ok) {
    const queues = spec.queues.map((q) => q.name);
    throw driverStartError({ vm: ctx.vm, device: "its virtio-iommu device", queues }, init.error);
  }
  const raw = new Uint8Array(IOMMU_CONFIG_SIZE);
  const read = await readConfigStable(port, async () => {
    for (let o = 0; o < IOMMU_CONFIG_SIZE; o += 4) {
      const v = await port.read(MmioReg.CONFIG + o, 4);
      for (let i = 0; i < 4; i++) raw[o + i] = (v >>> (8 * i)) & 0xff;
    }
    return 0;
  });
  if (!read.ok) {
    throw configUnstableError(ctx.vm, "its virtio-iommu device", "config", read.error.attempts);
  }
  const [requestq, eventq] = init.value.queues;
  const driver = new IommuDriver({
    mem: ctx.mem,
    alloc: ctx.alloc,
    requestq,
    eventq,
    config: parseIommuConfig(raw),
  });
  const counters = ctl.driverCounters;
  counters[IommuDriverCounter.lastFaultIova] = -1;
  const { regs } = ctl;
  const { bells, deviceThread, post } = ctx;
  const kick = (q: number) => notifyIommu(regs, q, () => ringDoorbell(bells, deviceThread));
  // After the awaits of the set-up: a crashed guest's rest of its start writes no ring.
  ctx.fence.guard(() => driver.fillEvents() && kick(EVENTQ), false);
  // The lab stops, or this guest crashed (its generation ended: a successor may start).
  const stopped = () => stopRequested(bells, ctx.thread) || !ctx.fence.current();
  /** The device set DEVICE_NEEDS_RESET (read on a configuration interrupt): it answers no more. */
  let needsReset = false;
  /**
   * Read Status after a configuration interrupt (the only config field a running device changes
   * is none: the interrupt means DEVICE_NEEDS_RESET). One read at a time, coalesced
   * (`config_reads.ts`), none after the guest stopped.
   */
  const refreshConfig = coalescedConfigReads(
    () =>
      readNeedsReset(port).then((cause) => {
        if (cause !== null) needsReset = true;
      }),
    (message) =>
      post({ type: "event", kind: "config-read-failed", detail: { device: spec.name, message } }),
    () => !stopped(),
  );
  const requests = guestIommuRequests({
    driver,
    spec,
    vm: ctx.vm,
    counters,
    kick,
    post,
    stopped,
    needsReset: () => needsReset,
    guard: (fn, otherwise) => ctx.fence.guard(fn, otherwise),
  });
  const { collect, readFaults, dmas, revoke, service } = requests;
  ctx.iommu = service;

  return {
    pump: () => {
      const isr = readInterruptStatus(regs);
      if (isr !== 0) ackInterrupt(regs, isr);
      if (isr & InterruptBit.CONFIG) refreshConfig();
      const n = collect() + readFaults();
      let sent = false;
      for (const d of dmas.values()) if (d.tick()) sent = true;
      return n > 0 || isr !== 0 || sent;
    },
    prepareSleep: () => {
      let pending = false;
      for (const d of dmas.values()) if (d.dueMs() === 0) pending = true;
      for (const q of init.value.queues) if (q.enableInterrupts()) pending = true;
      return pending;
    },
    nextTimerMs: () => {
      let t = Infinity;
      for (const d of dmas.values()) t = Math.min(t, d.dueMs());
      return t;
    },
    periodic: () => {},
    inspect: () => ({
      iommu: {
        mode: spec.mode,
        endpoints: spec.endpoints.length,
        faultReports: counters[IommuDriverCounter.faultReports],
        fault: driver.broken,
        needsReset,
        reportSize: FAULT_REPORT_SIZE,
      },
    }),
    provide: (services) => {
      services.iommu = { revoke };
    },
  };
}

/** The iommu kind's guest slice (started first: NICs behind it use `ctx.iommu`). */
export const IOMMU_GUEST_KIND: GuestKind = {
  kind: "iommu",
  start: (ctx, devices) => {
    const spec = devices.find((d): d is IommuDeviceSpec => d.kind === "iommu");
    return spec ? start(ctx, spec) : Promise.resolve(IDLE);
  },
};
