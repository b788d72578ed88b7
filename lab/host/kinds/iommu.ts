/**
 * The virtio-iommu kind in the device worker: the VM's vIOMMU. It owns the mapping tables (in
 * `HostContext.iommu`, a shared buffer the main thread reads for metrics), registers one IOTLB
 * consumer per endpoint in the plan's order (so the net kind, started after it, finds its
 * consumer slot in its spec), serves the device's register mailbox and, once the driver set
 * DRIVER_OK, services the request queue (ATTACH, DETACH, MAP, UNMAP, PROBE): an UNMAP completes
 * only after every consumer acknowledged the invalidation, which the net kind does at the start
 * of every loop pass. Faults the consumers logged go to the guest on the event queue. A queue the
 * guest broke (a malformed ring) stops the device: DEVICE_NEEDS_RESET with a configuration
 * interrupt, and a `device-error` event, as the net and vsock kinds report theirs.
 *
 * @module
 */

import {
  formatIommuFault,
  formatViommuError,
  IommuDevice,
  IommuQueue,
  Viommu,
} from "../../../devices/iommu/mod.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import { serveMailbox } from "../../wire/mailbox.ts";
import type { IommuDeviceSpec } from "../../wire/specs.ts";
import { iommuCapacity } from "../../wire/iommu.ts";
import { openTransport } from "./transport.ts";
import type { HostContext, HostKind, HostKindInstance } from "./types.ts";

/** The virtio-iommu queues (virtio 1.2 §5.13.2). */
const REQUESTQ = 0;
const EVENTQ = 1;

const IDLE: HostKindInstance = {
  pump: () => false,
  prepareSleep: () => false,
  nextTimerMs: () => Infinity,
  periodic: () => {},
  control: () => {},
};

/** How often a pending invalidation is looked at while consumers have not acknowledged it. */
const WAIT_POLL_MS = 1;
/** The clock `IommuDevice.service` reads only when an invalidation waits or starts. */
const now = () => performance.now();
/**
 * Loop passes run back to back while an invalidation waits: the consumers on this thread (the
 * net kind's IOTLBs) acknowledge on the next pass, so a strict driver's UNMAP completes in
 * microseconds rather than a timer tick; a consumer elsewhere that is slower falls back to
 * `WAIT_POLL_MS`.
 */
const WAIT_SPIN_PASSES = 4;

function start(ctx: HostContext, spec: IommuDeviceSpec): HostKindInstance {
  if (ctx.iommu === null) {
    throw new Error(`VM ${ctx.vm} has a virtio-iommu device but no vIOMMU tables`);
  }
  // After a backend crash the tables in shared memory are adopted, not recreated: domains,
  // endpoints and mappings stay (a fresh owner would not know them: the guest's next MAP would
  // find no domain, and new mappings could take live slots). At power-on over tables a previous
  // owner used (a VM reboot, `restore: false`) they are adopted too, then emptied by the
  // device's reset below.
  const reboot = !ctx.restore && Viommu.initialized(ctx.iommu);
  const viommu = ctx.restore || reboot
    ? Viommu.adopt(ctx.iommu)
    : Viommu.create(iommuCapacity(spec), ctx.iommu);
  // A restarted or rebooted worker finds the consumers registered by its predecessor (the slots
  // live in the shared tables, and their owners keep using them: a vhost-pci peer in another
  // VM): registering again would take new slots. Their names come from the plan's order.
  const names = [...spec.endpoints.map((e) => e.name), ...(spec.peers ?? []).map((p) => p.name)];
  if (!ctx.restore && !reboot) {
    // One per endpoint, then the vhost-pci peers, which translate from another VM's thread.
    for (const name of names) viommu.registerConsumer(name);
  } else {
    names.forEach((name, slot) => viommu.nameConsumer(slot, name));
  }
  const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  const device = new IommuDevice({
    viommu,
    memory: ctx.mem,
    queueMaxSize: spec.queues[0].size,
    ring: { packed: false, eventIdx: true, indirect: false },
    counters: ctl.deviceCounters,
  });
  // A reboot resets the device as the driver's reset does (virtio 1.2 §5.13.5: after reset no
  // endpoint is attached and no mapping exists): the old guest's domains and mappings go, and
  // the reset's invalidation makes every consumer, in this VM or a peer's, drop what it cached
  // before the new guest's first request is taken.
  if (reboot) device.reset();
  const { bells, guestThread } = ctx;
  const transport = openTransport(ctx, ctl, device, spec.name);
  // Restored after a backend crash: the requests the old worker held for an invalidation are
  // completed by this one (the vIOMMU's tables live in shared memory and stay).
  const inFlight = transport.restoredInFlight;
  if (inFlight.length > 0) device.adoptInFlight(inFlight[REQUESTQ] ?? []);
  let waiting = false;
  let spins = 0;
  // The last invalidation timeout reported: each new one is an event, not only a counter.
  let lastTimeout = device.lastTimeout;
  /** The device's fault was reported (DEVICE_NEEDS_RESET, `device-error`): once per fault. */
  let faultReported = false;
  return {
    pump: () => {
      let work = false;
      if (serveMailbox(ctl.mailbox, transport) > 0) {
        work = true;
        ringDoorbell(bells, guestThread);
      }
      // A reset (Status 0, served above) cleared the fault: report the next one too.
      if (device.fault === null) faultReported = false;
      if (!transport.isLive()) return work;
      const o = device.service(now);
      const fault = device.fault;
      if (fault !== null && !faultReported) {
        // A queue the guest broke: the device stops and asks for a reset (G13), said aloud.
        faultReported = true;
        transport.markNeedsReset(fault);
        ctx.post({
          type: "event",
          kind: "device-error",
          detail: { device: spec.name, error: formatIommuFault(fault) },
        });
      }
      // A peer acknowledges on its own thread's passes: wake it when an invalidation waits.
      if (o.waiting) { for (const p of spec.peers ?? []) ringDoorbell(bells, p.thread); }
      waiting = o.waiting;
      spins = waiting ? spins + 1 : 0;
      const timeout = device.lastTimeout;
      if (timeout !== lastTimeout && timeout !== null) {
        // An UNMAP completed with IOERR while a consumer may still hold the entry: said aloud.
        lastTimeout = timeout;
        ctx.post({
          type: "event",
          kind: "iommu-invalidation-timeout",
          detail: { device: spec.name, consumer: timeout.name, error: formatViommuError(timeout) },
        });
      }
      // One signal per queue that is due: a lost-irq fault of that queue drops only its own.
      if (o.interruptRequest) transport.signalUsed(REQUESTQ);
      if (o.interruptEvent) transport.signalUsed(EVENTQ);
      return work || o.completed > 0 || o.interruptEvent || (waiting && spins <= WAIT_SPIN_PASSES);
    },
    prepareSleep: () => {
      if (!transport.isLive()) return false;
      // Only new requests and unreported faults are work. The eventq's buffers wait for faults
      // (the driver keeps it stocked): counting them as pending kept the worker spinning.
      const requestq = transport.queues[IommuQueue.REQUESTQ];
      const pending = requestq ? requestq.enableNotifications() : false;
      return pending || device.faultsPending();
    },
    // Consumers acknowledge on their own loop passes (same thread here): look again soon.
    nextTimerMs: () => (waiting ? WAIT_POLL_MS : Infinity),
    periodic: () => {},
    control: () => {},
  };
}

/** The iommu kind's host slice (started before the net kind: it registers the consumers). */
export const IOMMU_HOST_KIND: HostKind = {
  kind: "iommu",
  start: (ctx, devices) => {
    const spec = devices.find((d): d is IommuDeviceSpec => d.kind === "iommu");
    return spec ? start(ctx, spec) : IDLE;
  },
};
