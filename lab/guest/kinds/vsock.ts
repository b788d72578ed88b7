/**
 * The virtio-vsock kind in the guest worker: brings the VM's vsock driver up through the
 * generic virtio-mmio init, reads its CID from the config space (under the config generation,
 * virtio 1.2 §2.5), and runs the socket table over it. On every pass of the worker's loop it
 * acknowledges interrupts, hands received packets to the sockets, handles TRANSPORT_RESET
 * events, refills, reclaims, moves queued packets into the TX ring and kicks. The socket table
 * is the service workloads use (`vsock-echo`, `vsock-send`, `vsock-sink`). Runs on the guest
 * worker's thread.
 *
 * @module
 */

import { DeviceId, Feature } from "../../../devices/virtio/constants.ts";
import { featureSet } from "../../../devices/virtio/features.ts";
import { kickQueue, MmioReg } from "../../../devices/virtio/mmio.ts";
import {
  ackInterrupt,
  initDevice,
  readConfigStable,
  readInterruptStatus,
} from "../../../devices/virtio/mmio_driver.ts";
import type { DriverQueue } from "../../../devices/virtio/queue.ts";
import {
  type PacketSink,
  VSOCK_LARGE_RX_BUFFER,
  VSOCK_LARGE_RX_BUFFERS,
  VSOCK_LARGE_TX_BUFFER,
  VSOCK_LARGE_TX_BUFFERS,
  VsockCid,
  VsockConfigOffset,
  VsockDriver,
  VsockEventId,
  VsockQueue,
  VsockSockets,
} from "../../../devices/vsock/mod.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import { MailboxPort } from "../../wire/mailbox.ts";
import type { Fence } from "../../wire/fence.ts";
import type { VsockDeviceSpec } from "../../wire/specs.ts";
import type { GuestContext, GuestKind, GuestKindInstance } from "./types.ts";
import { configUnstableError, driverStartError } from "./start_error.ts";

/** The features the vlab vsock driver supports (STREAM is implied without a vsock bit). */
const DRIVER_FEATURES = featureSet([
  Feature.VERSION_1,
  Feature.RING_PACKED,
  Feature.EVENT_IDX,
  Feature.INDIRECT_DESC,
  Feature.IN_ORDER,
]);

/**
 * Receive buffer (credit) per connection: 4 MiB, sixteen times Linux's default, so that a sender
 * is not held by the credit round trip through four threads (256 KiB measured 30 % slower than
 * 1 MiB). The receiver sends a CREDIT_UPDATE when the credit its peer saw drops under half of it
 * (`Connection`), so a 4 MiB window costs one update per 2 MiB: a 256 MiB stream woke each of
 * its four threads 1.2 times per MiB instead of 3.4 with 1 MiB (docs/performance.md). It is a
 * credit, not memory: bytes wait in the socket only while its reader does not read.
 */
const GUEST_BUF_ALLOC = 4 << 20;

/**
 * `sink` whose sends write guest memory (a TX buffer, a descriptor, an avail entry) as sections
 * of the guest's generation (`lab/wire/fence.ts`): a crashed guest's workload sends nothing (the
 * socket table keeps the packet, as for a full ring). Inside the loop's pass it costs nothing; a
 * workload's burst of sends pays one section ({@linkcode Fence.enterBurst}).
 *
 * @example
 * ```ts
 * import { createDoorbells, endGeneration } from "../../wire/doorbell.ts";
 * import { guestFence } from "../../wire/fence.ts";
 * import { fencedSink } from "./vsock.ts";
 * const bells = createDoorbells(1);
 * const sink = fencedSink({ send: () => true }, guestFence(bells, 0, 0));
 * endGeneration(bells, 0);
 * sink.send({} as never, null); // false
 * ```
 */
export function fencedSink(sink: PacketSink, fence: Fence): PacketSink {
  return { send: (h, payload) => fence.enterBurst() && sink.send(h, payload) };
}

/** An instance for a VM without vsock: nothing to do. */
const IDLE: GuestKindInstance = {
  pump: () => false,
  prepareSleep: () => false,
  nextTimerMs: () => Infinity,
  periodic: () => {},
  inspect: () => ({}),
  provide: () => {},
};

async function start(ctx: GuestContext, spec: VsockDeviceSpec): Promise<GuestKindInstance> {
  const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  const port = new MailboxPort(ctl.mailbox, ctx.bells, ctx.deviceThread, undefined, ctx.fence);
  const init = await initDevice(port, {
    deviceId: DeviceId.VSOCK,
    supported: DRIVER_FEATURES,
    queues: spec.queues.map((q) => ({ size: q.size })),
    mem: ctx.mem,
    alloc: ctx.alloc,
    ring: ctx.ring,
    // Rings written as sections of this guest's generation (a crashed guest's set-up stops).
    section: (fn, otherwise) => ctx.fence.guard(fn, otherwise),
  });
  const device = {
    vm: ctx.vm,
    device: "its vsock device",
    queues: spec.queues.map((q) => q.name),
  };
  if (!init.ok) throw driverStartError(device, init.error);
  const cidRead = await readConfigStable(
    port,
    () => port.read(MmioReg.CONFIG + VsockConfigOffset.GUEST_CID, 4),
  );
  if (!cidRead.ok) {
    throw configUnstableError(ctx.vm, device.device, "guest CID", cidRead.error.attempts);
  }
  const queues: DriverQueue[] = init.value.queues;
  const driver = new VsockDriver({
    mem: ctx.mem,
    alloc: ctx.alloc,
    rx: queues[VsockQueue.RX],
    tx: queues[VsockQueue.TX],
    event: queues[VsockQueue.EVENT],
    counters: ctl.driverCounters,
    // One packet per 64 KiB write (a 4 KiB TX buffer made 16), and up to 64 KiB per RX buffer
    // (the device merges consecutive RWs): a sixteenth of the packets each way.
    txBufferSize: VSOCK_LARGE_TX_BUFFER,
    txBuffers: VSOCK_LARGE_TX_BUFFERS,
    rxBufferSize: VSOCK_LARGE_RX_BUFFER,
    rxBuffers: VSOCK_LARGE_RX_BUFFERS,
  });
  const { clock, bells, deviceThread } = ctx;
  // The lab's CIDs: a connect to another is refused as "no-such-cid" (the REQUEST still goes
  // out and gets its RST: the wire is virtio's, only the socket table names the cause).
  const labCids = new Map((spec.labCids ?? []).map(([cid, vm]) => [cid, vm]));
  // The CIDs a vsock link or router joins this VM to: a refusal from another is the topology's.
  const joinedCids = spec.joinedCids === undefined ? undefined : new Set(spec.joinedCids);
  const joinedPaths = spec.joinedPaths === undefined ? undefined : new Map(spec.joinedPaths);
  const sockets = new VsockSockets({
    cid: cidRead.value >>> 0,
    // A workload's write or connect sends from its own continuation, outside the loop's pass.
    sink: fencedSink(driver, ctx.fence),
    now: () => clock.now(),
    maxPayload: driver.maxPayload,
    bufAlloc: GUEST_BUF_ALLOC,
    counters: ctl.driverCounters,
    knownCids: spec.labCids === undefined ? undefined : new Set([VsockCid.HOST, ...labCids.keys()]),
  });
  const regs = ctl.regs;
  // After the awaits of the set-up: a crashed guest's rest of its start writes no ring.
  ctx.fence.guard(() => {
    driver.fillRx();
    driver.fillEvents();
  }, undefined);
  let transportResets = 0;
  const onEvent = (id: number) => {
    if (id === VsockEventId.TRANSPORT_RESET) {
      transportResets++;
      sockets.transportReset();
    }
  };
  const onPacket = sockets.handle.bind(sockets);
  return {
    pump: () => {
      const isr = readInterruptStatus(regs);
      if (isr !== 0) ackInterrupt(regs, isr);
      // Events first: a TRANSPORT_RESET makes every packet of the old transport stale (an RST
      // a restarted device sent, or gave to a packet the guest wrote before it heard of the
      // reset): those must find the sockets already reset.
      const events = driver.pollEvents(onEvent);
      const received = driver.receive(onPacket, 256);
      driver.fillRx();
      const reclaimed = driver.reclaimTx();
      sockets.tick();
      const sent = sockets.flush();
      const kick = driver.flush();
      // A kick a lost-kick fault swallowed rings no doorbell either (kickQueue returns -1).
      let seen = false;
      if (kick.kickRx && kickQueue(regs, VsockQueue.RX) > 0) seen = true;
      if (kick.kickTx && kickQueue(regs, VsockQueue.TX) > 0) seen = true;
      if (kick.kickEvent && kickQueue(regs, VsockQueue.EVENT) > 0) seen = true;
      if (seen) ringDoorbell(bells, deviceThread);
      return received > 0 || events > 0 || reclaimed > 0 || sent > 0 || isr !== 0;
    },
    prepareSleep: () => {
      let pending = false;
      for (const q of queues) if (q.enableInterrupts()) pending = true;
      // Packets wait in the socket table while there is room in the TX ring: do not sleep.
      if (sockets.pendingOut > 0 && driver.canSend()) pending = true;
      return pending;
    },
    nextTimerMs: () => (sockets.size > 0 ? 100 : Infinity),
    periodic: () => {},
    inspect: () => ({
      vsock: {
        cid: sockets.cid,
        connections: sockets.size,
        transportResets,
        fault: driver.fault,
        registerAccessesPending: port.pending,
      },
    }),
    provide: (services) => {
      services.vsock = { sockets, wake: ctx.wakeSelf, labCids, joinedCids, joinedPaths };
    },
  };
}

/** The vsock kind's guest slice. */
export const VSOCK_GUEST_KIND: GuestKind = {
  kind: "vsock",
  start: (ctx, devices) => {
    const spec = devices.find((d): d is VsockDeviceSpec => d.kind === "vsock");
    return spec ? start(ctx, spec) : Promise.resolve(IDLE);
  },
};
