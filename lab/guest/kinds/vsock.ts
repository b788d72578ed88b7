/**
 * The virtio-vsock kind in the guest worker: brings the VM's vsock driver up through the
 * generic virtio-mmio init, reads its CID from the config space (under the config generation,
 * virtio 1.2 §2.5), and runs the socket table over it. On every pass of the worker's loop it
 * acknowledges interrupts, hands received packets to the sockets, handles TRANSPORT_RESET
 * events, refills, reclaims, moves queued packets into the TX ring and kicks. A configuration
 * interrupt makes it read Status: a device that needs a reset (DEVICE_NEEDS_RESET), or a queue
 * the driver found broken, is reset and brought back, its connections reset. A guest bug on
 * demand (`vlab fault guest-bug`) corrupts one of its queues as the net slice does
 * (`guest_bug.ts`). The socket table is the service workloads use (`vsock-echo`, `vsock-send`,
 * `vsock-sink`). Runs on the guest worker's thread.
 *
 * @module
 */

import { coalescedConfigReads } from "./config_reads.ts";
import { DeviceId, Feature } from "../../../devices/virtio/constants.ts";
import { featureSet } from "../../../devices/virtio/features.ts";
import { InterruptBit, kickQueue, MmioReg, queueConfigOf } from "../../../devices/virtio/mmio.ts";
import type { PlantedGuestBug } from "../../../devices/virtio/guest_faults.ts";
import {
  ackInterrupt,
  type DriverInitOptions,
  initDevice,
  type InitializedDevice,
  readConfigStable,
  readInterruptStatus,
  resetDevice,
} from "../../../devices/virtio/mmio_driver.ts";
import {
  readNeedsReset,
  reinitDevice,
  type ResetCause,
} from "../../../devices/virtio/mmio_reinit.ts";
import type { DriverQueue } from "../../../devices/virtio/queue.ts";
import {
  type PacketSink,
  VSOCK_EVENT_BUFFERS,
  VSOCK_LARGE_RX_BUFFER,
  VSOCK_LARGE_RX_BUFFERS,
  VSOCK_LARGE_TX_BUFFER,
  VSOCK_LARGE_TX_BUFFERS,
  VsockCid,
  VsockConfigOffset,
  VsockDriver,
  type VsockDriverFault,
  VsockEventId,
  VsockQueue,
  type VsockQueueName,
  type VsockReattachError,
  VsockSockets,
} from "../../../devices/vsock/mod.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import { MailboxPort } from "../../wire/mailbox.ts";
import type { Fence } from "../../wire/fence.ts";
import type { VsockDeviceSpec } from "../../wire/specs.ts";
import type { ToWorker } from "../../wire/messages.ts";
import type { GuestContext, GuestKind, GuestKindInstance } from "./types.ts";
import {
  MISSED_TAKEN_BEFORE,
  missedInBrokenQueue,
  plantGuestBug,
  postMissedBug,
} from "./guest_bug.ts";
import { configUnstableError, driverStartError, resetFailureMessage } from "./start_error.ts";
import { resetGiveUpHint, ResetRetries, watchReset } from "./reset_retry.ts";

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

/**
 * How long after its reset's queues are live the guest holds its sockets' packets for the
 * device's TRANSPORT_RESET (the event a device puts on its event queue when it is activated again
 * after a reset), ms: past it, the packets go without it.
 */
const RESET_EVENT_WAIT_MS = 1000;

/** The queue index of a vsock queue's name. */
const QUEUE_INDEX: Readonly<Record<VsockQueueName, number>> = {
  rx: VsockQueue.RX,
  tx: VsockQueue.TX,
  event: VsockQueue.EVENT,
};

/** The name of a vsock queue, by index (virtio 1.2 §5.10.2). */
const QUEUE_NAMES: readonly VsockQueueName[] = ["rx", "tx", "event"];

/**
 * Why the guest resets its vsock device: DEVICE_NEEDS_RESET (read on a configuration
 * interrupt), or the queue a driver fault names (a device that broke the ring protocol), as the
 * net guest does.
 *
 * @example
 * ```ts
 * import { vsockResetCause } from "./vsock.ts";
 * vsockResetCause({ kind: "unknown-token", queue: "tx", token: 9 }); // { kind: "queue-broken", queue: 1 }
 * ```
 */
export function vsockResetCause(fault: VsockDriverFault): ResetCause {
  return { kind: "queue-broken", queue: QUEUE_INDEX[fault.queue] };
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
  const initOpts: DriverInitOptions = {
    deviceId: DeviceId.VSOCK,
    supported: DRIVER_FEATURES,
    queues: spec.queues.map((q) => ({ size: q.size })),
    mem: ctx.mem,
    alloc: ctx.alloc,
    ring: ctx.ring,
    // Rings written as sections of this guest's generation (a crashed guest's set-up stops).
    section: (fn, otherwise) => ctx.fence.guard(fn, otherwise),
  };
  const init = await initDevice(port, initOpts);
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
  /** The initialised device (its queues and pages), replaced by each reset. */
  let current: InitializedDevice = init.value;
  let queues: DriverQueue[] = init.value.queues;
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
    // As Linux: the event queue keeps free descriptors (a guest bug takes one).
    eventBuffers: VSOCK_EVENT_BUFFERS,
  });
  const { clock, bells, deviceThread } = ctx;
  // The lab's CIDs: a connect to another is refused as "no-such-cid" (the REQUEST still goes
  // out and gets its RST: the wire is virtio's, only the socket table names the cause).
  const labCids = new Map((spec.labCids ?? []).map(([cid, vm]) => [cid, vm]));
  // The CIDs a vsock link or router joins this VM to: a refusal from another is the topology's.
  const joinedCids = spec.joinedCids === undefined ? undefined : new Set(spec.joinedCids);
  const joinedPaths = spec.joinedPaths === undefined ? undefined : new Map(spec.joinedPaths);
  /**
   * The device is being reset (from the detection until its queues are live again), or its
   * reset's TRANSPORT_RESET has not come yet (`eventDueAt`): the sockets' packets wait in their
   * table, and the pump leaves the queues alone while `resetting`.
   */
  let resetting = false;
  /** Until when (the clock's ms) packets wait for the reset's TRANSPORT_RESET; 0: not waiting. */
  let eventDueAt = 0;
  const held = () => resetting || eventDueAt > 0;
  const sockets = new VsockSockets({
    cid: cidRead.value >>> 0,
    // A workload's write or connect sends from its own continuation, outside the loop's pass.
    sink: fencedSink({ send: (h, p) => !held() && driver.send(h, p) }, ctx.fence),
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
  let deviceResets = 0;
  /** Guest bugs written into its queues (`vlab fault guest-bug`), by queue, until the reset. */
  const plantedBugs = new Map<number, PlantedGuestBug>();
  /** A reset whose queues are live and whose TRANSPORT_RESET is due: said once it is over. */
  let resetDone: { cause: string; t0: number } | null = null;
  const resetOver = (): void => {
    if (resetDone === null) return;
    const resetMs = Math.round((performance.now() - resetDone.t0) * 100) / 100;
    ctx.post({
      type: "event",
      kind: "device-reset",
      detail: { device: spec.name, cause: resetDone.cause, resetMs },
    });
    resetDone = null;
  };
  const onEvent = (id: number) => {
    if (id === VsockEventId.TRANSPORT_RESET) {
      transportResets++;
      // The one a reset of ours waited for: the new transport is the device's from here on.
      eventDueAt = 0;
      sockets.transportReset();
      resetOver();
    }
  };
  const onPacket = sockets.handle.bind(sockets);
  const { post } = ctx;
  const name = spec.name;

  /**
   * Handle a configuration interrupt: read Status through the mailbox and reset the device if
   * it needs it (DEVICE_NEEDS_RESET: the device met a malformed ring, or lost its state). The
   * only config field, the CID, does not change under a running driver. One read at a time,
   * coalesced (`config_reads.ts`).
   */
  const refreshConfig = coalescedConfigReads(
    () =>
      readNeedsReset(port).then((cause) => {
        if (cause !== null) recover(cause);
      }),
    (message) =>
      post({ type: "event", kind: "config-read-failed", detail: { device: name, message } }),
  );

  /** The failed attempts of the reset under way, and when the next is due (`reset_retry.ts`). */
  const retries = new ResetRetries();
  let resetCause: ResetCause = { kind: "needs-reset", status: 0 };
  let resetT0 = 0;
  /**
   * An attempt at a reset that failed: said, as each attempt's is, with the next attempt's wait
   * or (the last) the give-up hint; the sockets' connections end (no transport is left).
   * `zeroed`: Status read 0 in it, so the previous rings' pages went back to the allocator.
   */
  const resetFailed = (error: string, message: string, attempt: number, zeroed: boolean): void => {
    if (zeroed) current = { ...current, pages: [] };
    sockets.transportReset();
    const retryInMs = retries.failed(clock.now());
    post({
      type: "event",
      kind: "device-reset-failed",
      detail: {
        device: name,
        error,
        message,
        attempt,
        ...(retryInMs === null ? { hint: resetGiveUpHint(ctx.vm) } : { retryInMs }),
      },
    });
    if (retryInMs !== null) ctx.timersChanged();
  };

  /**
   * Reset the device and bring it back, as Linux's virtio-vsock driver takes its device down and
   * up again (`virtio_vsock_vqs_del`, then `virtio_vsock_vqs_init`: its freeze and restore; its
   * virtio core leaves DEVICE_NEEDS_RESET to drivers), once per trigger: DEVICE_NEEDS_RESET
   * on a configuration interrupt, or a queue the driver found broken. Every connection ends at
   * once (TRANSPORT_RESET semantics, §5.10.6.7: Linux resets its connected sockets there; the
   * device sent RST for each to its peers when the driver wrote Status 0); listeners stay. Then
   * the device is reset and initialised again, the driver takes the new queues with its own
   * buffers (`VsockDriver.reattach`), posts them and kicks. A device activated again after a
   * reset puts TRANSPORT_RESET on its event queue: until it comes (at most
   * {@linkcode RESET_EVENT_WAIT_MS}), what a workload sends waits in the socket table, so a
   * connection opened meanwhile is reset by that event before any of its packets went out.
   * Logs `device-needs-reset`, `device-queues-live` and `device-reset` (`resetMs`), or
   * `device-reset-failed`.
   */
  const recover = (cause: ResetCause): void => {
    if (resetting) return;
    // A bug the device never met (it took the buffer the bug was written over first): said.
    if (cause.kind === "queue-broken") {
      const bug = missedInBrokenQueue(plantedBugs, cause.queue, queues[cause.queue]?.broken);
      if (bug !== null) {
        postMissedBug(post, { device: name }, QUEUE_NAMES[cause.queue], bug, MISSED_TAKEN_BEFORE);
      }
    }
    // A reset ends every guest bug in the device's queues, met or not.
    plantedBugs.clear();
    resetting = true;
    eventDueAt = 0;
    resetCause = cause;
    // What the device sent and returned is no loss: taken back now, so that only the TX packets
    // the reset discards count as `txDropped` (`VsockDriver.reattach`). A section: a
    // configuration interrupt's read (a continuation) may ask for the reset.
    ctx.fence.guard(() => driver.reclaimTx(), 0);
    sockets.transportReset();
    attemptReset(performance.now());
  };

  /**
   * One attempt at the reset `recover` began at `t0`: logged as `device-needs-reset` (with its
   * `attempt` after the first), then `device-reset`, or `device-reset-failed` and the next
   * attempt after a back-off (the pump starts it), the last failure with its give-up hint.
   */
  const attemptReset = (t0: number): void => {
    const cause = resetCause;
    const attempt = retries.attempt;
    resetT0 = t0;
    post({
      type: "event",
      kind: "device-needs-reset",
      detail: { device: name, cause: cause.kind, ...(attempt > 1 ? { attempt } : {}) },
    });
    const watched = watchReset(port);
    reinitDevice(watched.port, initOpts, current).then(
      (r) => {
        if (!r.ok) {
          resetFailed(
            r.error.kind,
            resetFailureMessage(device, r.error),
            attempt,
            watched.zeroed(),
          );
          return;
        }
        const fresh = r.value;
        // Rings written, doorbells rung: a section of this guest's generation (a crashed
        // guest's recovery goes no further: its successor owns them).
        ctx.fence.guard(() => {
          const q = fresh.queues;
          const a = driver.reattach(q[VsockQueue.RX], q[VsockQueue.TX], q[VsockQueue.EVENT]);
          if (!a.ok) {
            // Stop the device before its rings go back to the allocator; keep them if it
            // will not stop.
            void resetDevice(port).then((stopped) => {
              if (stopped.ok) { for (const gpa of fresh.pages) ctx.alloc.free(gpa); }
            });
            resetFailed(a.error.kind, reattachFailureMessage(ctx.vm, a.error), attempt, true);
            return;
          }
          current = fresh;
          queues = fresh.queues;
          driver.fillRx();
          driver.fillEvents();
          const kick = driver.flush();
          if (kick.kickRx) kickQueue(regs, VsockQueue.RX);
          if (kick.kickTx) kickQueue(regs, VsockQueue.TX);
          if (kick.kickEvent) kickQueue(regs, VsockQueue.EVENT);
          ringDoorbell(bells, deviceThread);
          resetting = false;
          retries.succeeded();
          eventDueAt = clock.now() + RESET_EVENT_WAIT_MS;
          deviceResets++;
          const resetMs = Math.round((performance.now() - t0) * 100) / 100;
          post({
            type: "event",
            kind: "device-queues-live",
            detail: { device: name, queuesLiveMs: resetMs },
          });
          // `device-reset` once the transport is new (its TRANSPORT_RESET came, or its wait
          // ended): a connection made after it is one of the new transport, never reset by it.
          resetDone = { cause: cause.kind, t0 };
          ctx.wakeSelf();
          // A DEVICE_NEEDS_RESET set while the device was reset raised no interrupt (none
          // before DRIVER_OK, §2.1): read Status once more, as the net guest does.
          refreshConfig();
        }, undefined);
      },
      (error) =>
        resetFailed(
          "reset-error",
          error instanceof Error ? error.message : String(error),
          attempt,
          watched.zeroed(),
        ),
    );
  };

  /**
   * A guest bug on demand (`vlab fault guest-bug`) in one of the vsock queues (`guest_bug.ts`):
   * undefined for another device slot, null when written, else the refusal. The device meets a
   * TX bug at the kick that follows it, an RX bug at the next packet for the guest, an event
   * bug at once (it takes event buffers as they come); then DEVICE_NEEDS_RESET, and the reset.
   */
  const guestBug = (
    m: Extract<ToWorker, { type: "guest-bug" }>,
  ): string | { busy: string } | null | undefined => {
    if (m.device !== spec.index) return undefined;
    const queueName = QUEUE_NAMES[m.queue];
    if (queueName === undefined) return `Cannot inject ${m.bug}: ${name} has no queue ${m.queue}`;
    return plantGuestBug(ctx, {
      subject: { device: name },
      queueName,
      queue: m.queue,
      driverQueue: queues[m.queue],
      config: queueConfigOf(regs, m.queue, current.negotiated),
      busy: resetting
        ? `${name} is being reset`
        : driver.frozen(queueName)
        ? `${name}'s ${queueName} queue already holds a guest bug, and waits for its reset`
        : null,
      planted: plantedBugs,
      freeze: () => driver.freeze(queueName),
      kick: () => {
        if (kickQueue(regs, m.queue) > 0) ringDoorbell(bells, deviceThread);
      },
    }, m.bug);
  };

  return {
    guestBug,
    pump: () => {
      // Acknowledge before handling, so that a bit raised meanwhile is not lost.
      const isr = readInterruptStatus(regs);
      if (isr !== 0) ackInterrupt(regs, isr);
      if (isr & InterruptBit.CONFIG) refreshConfig();
      if (resetting) {
        // Nothing touches the queues while the device is reset; deadlines still run. A failed
        // reset's next attempt starts when its back-off is over (`reset_retry.ts`).
        sockets.tick();
        if (retries.take(clock.now())) {
          attemptReset(resetT0);
          return true;
        }
        return isr !== 0;
      }
      if (eventDueAt > 0 && clock.now() >= eventDueAt) {
        eventDueAt = 0; // it did not come
        resetOver();
      }
      // Events first: a TRANSPORT_RESET makes every packet of the old transport stale (an RST
      // a restarted device sent, or gave to a packet the guest wrote before it heard of the
      // reset): those must find the sockets already reset.
      const events = driver.pollEvents(onEvent);
      // While the reset's TRANSPORT_RESET is due, what the RX queue holds waits there: the queues
      // are not ordered, so a peer's REQUEST can be in a new RX buffer before the event is in its
      // queue; accepted now, it would be reset by the event, its RESPONSE never sent.
      const received = eventDueAt > 0 ? 0 : driver.receive(onPacket, 256);
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
      // A queue the driver found broken (the device broke the ring protocol): reset (as the net
      // guest does on a driver fault).
      const fault = driver.fault;
      if (fault !== null) recover(vsockResetCause(fault));
      return received > 0 || events > 0 || reclaimed > 0 || sent > 0 || isr !== 0 ||
        fault !== null;
    },
    prepareSleep: () => {
      if (resetting) return false;
      let pending = false;
      for (let i = 0; i < queues.length; i++) {
        // RX entries left for the reset's event (see pump) wake nothing: the event does, or its
        // deadline (`nextTimerMs`).
        if (queues[i].enableInterrupts() && (i !== VsockQueue.RX || eventDueAt === 0)) {
          pending = true;
        }
      }
      // Packets wait in the socket table while there is room in the TX ring: do not sleep.
      if (!held() && sockets.pendingOut > 0 && driver.canSend()) pending = true;
      return pending;
    },
    nextTimerMs: () =>
      Math.min(
        sockets.size > 0 ? 100 : Infinity,
        eventDueAt > 0 ? Math.max(0, eventDueAt - clock.now()) : Infinity,
        retries.untilMs(clock.now()),
      ),
    periodic: () => {},
    inspect: () => ({
      vsock: {
        cid: sockets.cid,
        connections: sockets.size,
        transportResets,
        deviceResets,
        resetting,
        fault: driver.fault,
        registerAccessesPending: port.pending,
      },
    }),
    provide: (services) => {
      services.vsock = { sockets, wake: ctx.wakeSelf, labCids, joinedCids, joinedPaths };
    },
  };
}

/** Why `reattach` refused the new queues, as `device-reset-failed`'s message. */
function reattachFailureMessage(vm: string, e: VsockReattachError): string {
  return `VM "${vm}" could not reset its vsock device: its ${e.queue} queue's size changed to ${e.size}, its buffers are for ${e.expected}`;
}

/** The vsock kind's guest slice. */
export const VSOCK_GUEST_KIND: GuestKind = {
  kind: "vsock",
  start: (ctx, devices) => {
    const spec = devices.find((d): d is VsockDeviceSpec => d.kind === "vsock");
    return spec ? start(ctx, spec) : Promise.resolve(IDLE);
  },
};
