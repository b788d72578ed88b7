/**
 * The virtio-net kind in the guest worker: brings each NIC's driver up through the generic
 * virtio-mmio init (trapped register accesses through the mailbox), builds the guest network
 * stack over the NICs, and then, on every pass of the worker's loop, acknowledges interrupts,
 * receives, reclaims, refills and kicks. Configuration interrupts (link up/down, a device that
 * needs a reset) are read through the config generation (virtio 1.2 §2.5). Runs on the guest
 * worker's thread.
 *
 * @module
 */

import { coalescedConfigReads } from "./config_reads.ts";
import { DeviceId, Feature, Status } from "../../../devices/virtio/constants.ts";
import { featureSet, hasFeature } from "../../../devices/virtio/features.ts";
import {
  InterruptBit,
  kickQueue,
  kickTarget,
  MmioReg,
  queueConfigOf,
  RegFileWord,
} from "../../../devices/virtio/mmio.ts";
import { brokenQueue, type ResetCause } from "../../../devices/virtio/mmio_reinit.ts";
import { breaksQueue, type PlantedGuestBug } from "../../../devices/virtio/guest_faults.ts";
import { recoverNet } from "../../../devices/net/recovery.ts";
import { formatNetFault } from "../../../devices/net/errors.ts";
import type { ToWorker } from "../../wire/messages.ts";
import {
  ackInterrupt,
  type DriverInitOptions,
  initDevice,
  type InitializedDevice,
  readConfigStable,
  readInterruptStatus,
} from "../../../devices/virtio/mmio_driver.ts";
import {
  DEFAULT_MTU,
  driverLinkUp,
  driverMtu,
  NetConfigOffset,
  NetFeature,
  NetQueue,
  netQueueName,
} from "../../../devices/net/config.ts";
import { indirectEntriesFor, NetDriver } from "../../../devices/net/driver.ts";
import {
  NET_FRAME_PHASE,
  netDriverMemoryBytes,
  netDriverRingBytes,
} from "../../../devices/net/sizing.ts";
import { PAGE_SIZE, PageAllocator } from "../../../devices/memory/mod.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import { MailboxPort } from "../../wire/mailbox.ts";
import type { NetDeviceSpec } from "../../wire/specs.ts";
import { type NetInterface, NetStack } from "../net/stack.ts";
import { flatCounters } from "../net/counters.ts";
import type { GuestContext, GuestKind, GuestKindInstance } from "./types.ts";
import type { Fence } from "../../wire/fence.ts";
import { resetGiveUpHint, ResetRetries, watchReset } from "./reset_retry.ts";
import {
  MISSED_TAKEN_BEFORE,
  missedInBrokenQueue,
  plantGuestBug,
  postMissedBug,
} from "./guest_bug.ts";
import {
  driverStartError,
  nicDevice,
  outOfMemoryError,
  resetFailureMessage,
} from "./start_error.ts";

/** The features a vlab guest driver supports; the device's offer decides the rest. */
const DRIVER_FEATURES = featureSet([
  Feature.VERSION_1,
  Feature.RING_PACKED,
  Feature.EVENT_IDX,
  Feature.INDIRECT_DESC,
  Feature.IN_ORDER,
  NetFeature.MAC,
  NetFeature.MTU,
  NetFeature.STATUS,
  NetFeature.MRG_RXBUF,
  NetFeature.CSUM,
  NetFeature.GUEST_CSUM,
]);

/** One NIC as the guest sees it. */
class GuestNic implements NetInterface {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly ip: number | null;
  readonly prefix: number | null;
  readonly mtu: number;
  up = true;
  /** VIRTIO_NET_F_STATUS negotiated: the config `status` field says whether the link is up. */
  statusField = true;
  /** The guest is resetting the device (recovery): nothing touches the queues meanwhile. */
  resetting = false;
  /** TX buffers came back (the driver's `onTxRoom`): the stack wakes its waiting senders. */
  onTxRoom: () => void = () => {};
  /**
   * A reset whose queues are live again, waiting for its first frame (received or completed)
   * before `device-reset` is logged: detection time, queues-live time (ms) and cause.
   */
  resumePending: { t0: number; liveAt: number; cause: string } | null = null;
  /** The vIOMMU refused to map this NIC's buffers (reported once; the NIC stays stopped). */
  dmaFailed = false;
  /** Guest bugs written into its queues (`vlab fault guest-bug`), by queue, until the reset. */
  readonly plantedBugs = new Map<number, PlantedGuestBug>();
  /** The failed attempts of the reset under way, and when the next is due. */
  readonly retries = new ResetRetries();
  /** What the reset under way is for, and when it was detected (its retries keep both). */
  resetCause: ResetCause = { kind: "tx-timeout" };
  resetT0 = 0;
  constructor(
    spec: NetDeviceSpec,
    readonly driver: NetDriver,
    readonly regs: Int32Array,
    readonly port: MailboxPort,
    /**
     * Publish what a workload queued while the loop sleeps (see `sendWith`); the loop's next
     * pass publishes it otherwise.
     */
    readonly publish: () => void,
    /** Wake this worker's loop if it sleeps. */
    readonly wake: () => void,
    /** The initialised device (its queues and pages), replaced by each reset. */
    public device: InitializedDevice,
    /** How it was initialised (a reset initialises it the same way). */
    readonly initOpts: DriverInitOptions,
    /** The guest's fence: a send is a section of its generation. */
    readonly fence: Fence,
  ) {
    this.name = spec.name;
    this.mac = Uint8Array.from(spec.mac);
    this.ip = spec.ip;
    this.prefix = spec.prefix;
    this.mtu = driver.mtu;
    this.slot = spec.index;
    this.iommuEndpoint = spec.iommu?.endpoint ?? null;
  }
  /** Its endpoint behind the VM's vIOMMU, or null. */
  readonly iommuEndpoint: number | null;
  /** Its slot in the control block. */
  readonly slot: number;
  linkUp(): boolean {
    return this.up;
  }
  get checksumOffload(): boolean {
    return this.driver.checksumOffload;
  }
  /** Where the driver's TX buffers put a frame past a multiple of 8. */
  readonly framePhase: number = NET_FRAME_PHASE;
  sendWith(len: number, fill: (buf: Uint8Array) => void, csum = 0): boolean {
    if (this.resetting) return false;
    // A section of this guest's generation, once per burst (a crashed guest's workload writes no
    // ring).
    if (!this.fence.enterBurst()) return false;
    const sent = this.driver.sendWith(len, fill, csum) ||
      (this.driver.reclaimTx() > 0 && this.driver.sendWith(len, fill, csum));
    // A frame sent while the loop sleeps is published here. One that found no room wakes the
    // loop, which asks for a transmitq interrupt before it sleeps again (`enableInterrupts`):
    // the sender waits for room (`whenWritable`) that only a reclaim announces.
    if (sent) this.publish();
    else this.wake();
    return sent;
  }
}

/**
 * Kick the queues `kick` names; true if the device saw a kick. A kick that a lost-kick fault
 * swallowed (`kickQueue` returns -1) must ring no doorbell either: the device never saw it.
 */
function kickNic(
  nic: { readonly regs: Int32Array },
  kick: { kickRx: boolean; kickTx: boolean },
  bells: Int32Array,
): boolean {
  const rx = kick.kickRx && kickOne(nic.regs, NetQueue.RECEIVEQ, bells);
  const tx = kick.kickTx && kickOne(nic.regs, NetQueue.TRANSMITQ, bells);
  return rx || tx;
}

/**
 * The end of a NIC's reset, its new queues attached and its RX buffers posted: kick the queues
 * `kick` names and ring its device worker, then run `o.resume` (the sends that waited, the loop's
 * wake-up), all as one section of the guest's generation (`fence`). False, nothing written and
 * `resume` not run, when that generation ended meanwhile: the reset runs over awaits (the
 * device's registers through the mailbox), and a guest that crashed during them must not write
 * the registers or doorbells its successor owns (`lab/wire/fence.ts`).
 *
 * @example
 * ```ts
 * import { createDoorbells, endGeneration } from "../../wire/doorbell.ts";
 * import { guestFence } from "../../wire/fence.ts";
 * import { regFileWords } from "../../../devices/virtio/mmio.ts";
 * import { kickAfterReset } from "./net.ts";
 * const bells = createDoorbells(2);
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
 * const fence = guestFence(bells, 0, 0);
 * const kick = { kickRx: true, kickTx: false };
 * kickAfterReset(regs, kick, { bells, deviceThread: 1, fence }); // true
 * endGeneration(bells, 0);
 * kickAfterReset(regs, kick, { bells, deviceThread: 1, fence }); // false
 * ```
 */
export function kickAfterReset(
  regs: Int32Array,
  kick: { kickRx: boolean; kickTx: boolean },
  o: { bells: Int32Array; deviceThread: number; fence: Fence; resume?: () => void },
): boolean {
  return o.fence.guard(() => {
    kickNic({ regs }, kick, o.bells);
    ringDoorbell(o.bells, o.deviceThread);
    o.resume?.();
    return true;
  }, false);
}

/**
 * Kick queue `q`; true if its device worker must be rung. A queue another VM serves (a
 * vhost-pci link) rings that VM's thread itself.
 */
function kickOne(regs: Int32Array, q: number, bells: Int32Array): boolean {
  if (kickQueue(regs, q) <= 0) return false;
  const target = kickTarget(regs, q);
  if (target < 0) return true;
  ringDoorbell(bells, target);
  return false;
}

/** A config-space field read under the config generation (§2.5); throws if it never settles. */
async function readConfigField(
  port: MailboxPort,
  offset: number,
  size: 1 | 2 | 4,
): Promise<number> {
  const r = await readConfigStable(port, () => port.read(MmioReg.CONFIG + offset, size));
  if (!r.ok) throw new Error(`config space kept changing over ${r.error.attempts} reads`);
  return r.value;
}

/** The link state: config `status` bit 0, or always up without VIRTIO_NET_F_STATUS (§5.1.4). */
async function readLinkUp(nic: GuestNic): Promise<boolean> {
  if (!nic.statusField) return driverLinkUp(false, 0);
  return driverLinkUp(true, await readConfigField(nic.port, NetConfigOffset.STATUS, 2));
}

const ACCESS_PLATFORM = featureSet([Feature.ACCESS_PLATFORM]);

/** How long after a reset's queues are live the guest waits for a first frame, ms. */
const RESET_RESUME_WAIT_MS = 250;

/** Where a NIC's rings and its buffers come from. */
interface NicMemory {
  /** Rings (and indirect tables). */
  rings: PageAllocator;
  /** RX and TX buffers. */
  buffers: PageAllocator;
}

/**
 * A NIC behind the vIOMMU takes its rings and buffers from a window of its own (the pages its
 * driver needs, as the topology check sized them: rings first, then buffers) and has the vIOMMU
 * make that window reachable by the VM's mode before the driver touches the device (strict and
 * lazy: only the rings; buffers are mapped one by one): nothing else of the guest's memory is
 * reachable by the NIC.
 */
async function dmaWindow(ctx: GuestContext, spec: NetDeviceSpec): Promise<NicMemory> {
  if (ctx.iommu === null || spec.iommu === null) {
    throw new Error(`NIC ${ctx.vm}:${spec.name} is behind a vIOMMU the VM does not have`);
  }
  const len = netDriverMemoryBytes({
    layout: spec.layout,
    queueSize: spec.queueSize,
    mtu: spec.mtu,
    mrgRxbuf: spec.features.mrgRxbuf,
    indirect: spec.features.indirect,
  });
  const r = ctx.alloc.allocBytes(len);
  if (!r.ok) throw outOfMemoryError(ctx.vm, `the DMA window of NIC ${spec.name}`, len);
  const size = Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  const rings = netDriverRingBytes({
    layout: spec.layout,
    queueSize: spec.queueSize,
    mtu: spec.mtu,
    indirect: spec.features.indirect,
  });
  await ctx.iommu.prepare(spec.iommu.endpoint, { gpa: r.value, len: size }, {
    gpa: r.value,
    len: rings,
  });
  return {
    rings: new PageAllocator(r.value, rings),
    buffers: new PageAllocator(r.value + rings, size - rings),
  };
}

/** Bring up one NIC's driver. */
async function startNic(ctx: GuestContext, spec: NetDeviceSpec): Promise<GuestNic> {
  const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  const port = new MailboxPort(ctl.mailbox, ctx.bells, ctx.deviceThread, undefined, ctx.fence);
  const memory: NicMemory = spec.iommu === null
    ? { rings: ctx.alloc, buffers: ctx.alloc }
    : await dmaWindow(ctx, spec);
  const initOpts: DriverInitOptions = {
    deviceId: DeviceId.NET,
    supported: spec.iommu === null ? DRIVER_FEATURES : DRIVER_FEATURES | ACCESS_PLATFORM,
    queues: spec.queues.map((q) => ({ size: q.size })),
    mem: ctx.mem,
    alloc: memory.rings,
    ring: ctx.ring,
    // Rings written as sections of this guest's generation (a crashed guest's set-up stops).
    section: (fn, otherwise) => ctx.fence.guard(fn, otherwise),
    // Tables for the longest chain the driver builds at this MTU (the device reports it too).
    indirectEntries: indirectEntriesFor(spec.mtu),
  };
  const init = await initDevice(port, initOpts);
  if (!init.ok) throw driverStartError(nicDevice(ctx.vm, spec.name), init.error);
  const rx = init.value.queues[NetQueue.RECEIVEQ];
  const tx = init.value.queues[NetQueue.TRANSMITQ];
  const negotiated = init.value.negotiated;
  // The MTU is the device's config field when VIRTIO_NET_F_MTU is negotiated (§5.1.4).
  const hasMtu = hasFeature(negotiated, NetFeature.MTU);
  const configMtu = hasMtu ? await readConfigField(port, NetConfigOffset.MTU, 2) : DEFAULT_MTU;
  const dma = spec.iommu === null ? null : ctx.iommu?.dma(spec.iommu.endpoint) ?? null;
  const driver = new NetDriver({
    mem: ctx.mem,
    alloc: memory.buffers,
    dma: dma ?? undefined,
    rx,
    tx,
    negotiated,
    mtu: driverMtu(hasMtu, configMtu),
    counters: ctl.driverCounters,
    txTimeoutMs: spec.txTimeoutMs,
    onTxRoom: () => nic.onTxRoom(),
  });
  // A workload runs while the loop waits on its doorbell (a timer, a message): the frames it
  // sends are published and kicked by the sender, as Linux's ndo_start_xmit kicks from the
  // sender's context, once per burst (a microtask after the sender's synchronous run: xmit_more).
  // Ringing the loop to do it would cost a wake-up of this thread (docs/performance.md, "Fewer
  // wake-ups per ping"); while the loop runs, its next pass publishes. The frames may have armed
  // the transmit watchdog: the loop hears of it if it would sleep past its deadline.
  let publishing = false;
  const publishBurst = () => {
    publishing = false;
    if (!ctx.sleeping() || nic.resetting) return;
    // A section of this guest's generation: a crashed guest's burst publishes nothing.
    if (ctx.fence.guard(() => kickNic(nic, driver.flush(), ctx.bells), false)) {
      ringDoorbell(ctx.bells, ctx.deviceThread);
    }
    ctx.timersChanged();
  };
  const publish = () => {
    if (publishing || !ctx.sleeping()) return;
    publishing = true;
    queueMicrotask(publishBurst);
  };
  const nic = new GuestNic(
    spec,
    driver,
    ctl.regs,
    port,
    publish,
    ctx.wakeSelf,
    init.value,
    initOpts,
    ctx.fence,
  );
  nic.statusField = hasFeature(negotiated, NetFeature.STATUS);
  nic.up = await readLinkUp(nic);
  return nic;
}

async function start(ctx: GuestContext, specs: NetDeviceSpec[]): Promise<GuestKindInstance> {
  const nics: GuestNic[] = [];
  for (const spec of specs) nics.push(await startNic(ctx, spec));
  const { bells, deviceThread, clock, post } = ctx;
  const stack = new NetStack({ interfaces: nics, clock, seed: ctx.seed });
  // Every reclaim announces room, wherever it happened (a pass, a send, the watchdog).
  nics.forEach((nic, i) => nic.onTxRoom = () => stack.onWritable(i));

  /**
   * Handle a configuration interrupt: read the device status and link status through the
   * mailbox, one read at a time per NIC (`config_reads.ts`).
   */
  const configReads = nics.map((nic, index) =>
    coalescedConfigReads(
      () => readConfig(nic, index),
      (message) =>
        post({ type: "event", kind: "config-read-failed", detail: { nic: nic.name, message } }),
    )
  );

  const readConfig = async (nic: GuestNic, index: number) => {
    const status = await nic.port.read(MmioReg.STATUS);
    if (status & Status.DEVICE_NEEDS_RESET) {
      recover(nic, index, { kind: "needs-reset", status });
      return;
    }
    const up = await readLinkUp(nic);
    if (up !== nic.up) {
      nic.up = up;
      // The carrier back: the transmit watchdog's wait starts now (Linux's netif_trans_update).
      if (up) nic.driver.restartTxWatchdog();
      post({ type: "event", kind: up ? "link-up" : "link-down", detail: { nic: nic.name, index } });
    }
  };

  /**
   * Reset the device and resume (recovery.ts, as Linux's virtnet reset), once per trigger:
   * DEVICE_NEEDS_RESET on a config interrupt, a queue the driver found broken, or the transmit
   * watchdog. Logs `device-needs-reset` at detection and `device-reset` with the time from
   * detection until the queues take traffic again (or `device-reset-failed`).
   */
  const recover = (nic: GuestNic, index: number, cause: ResetCause): void => {
    if (nic.resetting) return;
    // A reset ends every guest bug in the NIC's queues, met or not.
    nic.plantedBugs.clear();
    // The previous reset is over even if no frame came through it yet: log it first.
    if (nic.resumePending !== null) resumed(nic, false, Infinity);
    // What the device returned in the receiveq before it stopped was received whole: handed up
    // now, as the pump would have, not discarded with the old queues by the reset (a flood into
    // this NIC lost up to a ring of frames that no counter showed). Bounded: nothing reposts a
    // buffer meanwhile, so the device returns no more than were posted; a driver whose queue
    // broke reads nothing more from it.
    const input = (frame: Uint8Array, trusted: boolean) => stack.input(index, frame, trusted);
    // A section: a configuration interrupt's read (a continuation) may ask for the reset.
    ctx.fence.guard(() => {
      while (nic.driver.receive(input, 64) === 64) { /* the next 64 */ }
    }, undefined);
    nic.resetting = true;
    nic.resetCause = cause;
    attemptReset(nic, index, performance.now());
  };

  /**
   * One attempt at the reset `recover` began at `t0`: logged as `device-needs-reset` (with its
   * `attempt` after the first), then `device-queues-live`, or `device-reset-failed` and the next
   * attempt after a back-off (`reset_retry.ts`), the last failure with its give-up hint.
   */
  const attemptReset = (nic: GuestNic, index: number, t0: number): void => {
    const cause = nic.resetCause;
    const attempt = nic.retries.attempt;
    nic.resetT0 = t0;
    post({
      type: "event",
      kind: "device-needs-reset",
      detail: { nic: nic.name, cause: cause.kind, ...(attempt > 1 ? { attempt } : {}) },
    });
    /** This attempt failed: said, as every attempt's failure is, with what comes next. */
    const failed = (detail: Record<string, unknown>): void => {
      // The previous rings' pages went back to the allocator once Status read 0: not again.
      if (watched.zeroed()) nic.device = { ...nic.device, pages: [] };
      const retryInMs = nic.retries.failed(clock.now());
      post({
        type: "event",
        kind: "device-reset-failed",
        detail: {
          nic: nic.name,
          ...detail,
          attempt,
          ...(retryInMs === null ? { hint: resetGiveUpHint(ctx.vm) } : { retryInMs }),
        },
      });
      if (retryInMs !== null) ctx.timersChanged();
    };
    const watched = watchReset(nic.port);
    // Behind the vIOMMU, a driver that resets its device maps its DMA pool again first (it may
    // have been revoked: `iommu-unmap`); nothing to do when it was not. Until the reset is over,
    // the window is not revoked again: the device would refuse the new queues' rings.
    const endpoint = nic.iommuEndpoint;
    const release = endpoint !== null && ctx.iommu !== null ? ctx.iommu.hold(endpoint) : () => {};
    const remapped = endpoint !== null && ctx.iommu !== null
      ? ctx.iommu.restore(endpoint)
      : Promise.resolve(false);
    remapped.then(() =>
      recoverNet(watched.port, { opts: nic.initOpts, previous: nic.device, driver: nic.driver })
    ).then(
      (r) => {
        release();
        if (!r.ok) {
          failed({
            error: r.error.kind,
            message: resetFailureMessage(nicDevice(ctx.vm, nic.name), r.error),
          });
          return;
        }
        nic.device = r.value.device;
        nic.retries.succeeded();
        // After the reset's awaits: a crashed guest's recovery goes no further. What follows the
        // kick runs in its section too: the backlog's sends and the wake-up of this thread's
        // loop (its doorbell line is its successor's after a crash) end before a reboot starts
        // the successor, whose rings and doorbell they would otherwise write into.
        const resume = () => {
          nic.resetting = false;
          // `device-reset` is logged at the first frame through the new queues (see pump); the
          // device is usable now (the supervisor's `resetting` state ends here).
          const liveAt = performance.now();
          nic.resumePending = { t0, liveAt, cause: cause.kind };
          post({
            type: "event",
            kind: "device-queues-live",
            detail: { nic: nic.name, queuesLiveMs: Math.round((liveAt - t0) * 100) / 100 },
          });
          stack.onWritable(index);
          nic.wake();
          // The link may have changed while the device was reset: no configuration interrupt
          // said so (none before DRIVER_OK, §2.1, and the reset cleared InterruptStatus), nor
          // did the read that found DEVICE_NEEDS_RESET look at the link. Read it now, as Linux's
          // virtio core delivers a config change that came while the device was being reset
          // (`config_change_pending`) once it is ready again.
          configReads[index]();
        };
        kickAfterReset(nic.regs, r.value.kick, { bells, deviceThread, fence: ctx.fence, resume });
      },
      (error) => {
        release();
        failed({ error: error instanceof Error ? error.message : String(error) });
      },
    );
  };

  /**
   * Log `device-reset` for a NIC whose reset is done: `resetMs` runs from detection to the first
   * frame through the new queues (`moved`), or to queues live when none came within
   * {@linkcode RESET_RESUME_WAIT_MS} (`resumed: false`); `queuesLiveMs` is the time to queues live.
   */
  const resumed = (nic: GuestNic, moved: boolean, now = performance.now()): void => {
    const p = nic.resumePending!;
    if (!moved && now - p.liveAt < RESET_RESUME_WAIT_MS) return;
    nic.resumePending = null;
    const ms = (t: number) => Math.round((t - p.t0) * 100) / 100;
    post({
      type: "event",
      kind: "device-reset",
      detail: {
        nic: nic.name,
        cause: p.cause,
        resetMs: ms(moved ? now : p.liveAt),
        queuesLiveMs: ms(p.liveAt),
        resumed: moved,
      },
    });
  };

  /**
   * Say so (`guest-bug-missed`) when a reset for `cause` comes from a guest bug the device never
   * met: a queue broken because the device took the buffer the bug was written over before the
   * bug landed (`guestBugMissed`), or the transmit watchdog on a transmitq whose bug the device
   * never reached (a lost kick). Without it the bug would show only as this reset (no
   * `device-error`), and a drill could not tell a bug the device met from one it never saw.
   */
  const missedBug = (nic: GuestNic, cause: ResetCause): void => {
    let queue: number;
    let why: string;
    if (cause.kind === "queue-broken") {
      queue = cause.queue;
      const error = nic.device.queues[queue]?.broken;
      if (missedInBrokenQueue(nic.plantedBugs, queue, error) === null) return;
      why = MISSED_TAKEN_BEFORE;
    } else if (cause.kind === "tx-timeout") {
      // A bug in a transmitq the device never looked at (its kick was lost): a device that met
      // it would have asked for a reset (DEVICE_NEEDS_RESET) before the watchdog.
      queue = NetQueue.TRANSMITQ;
      const bug = nic.plantedBugs.get(queue);
      if (bug === undefined || !breaksQueue(bug.kind)) return;
      if (nic.regs[RegFileWord.STATUS] & Status.DEVICE_NEEDS_RESET) return;
      why = "the device did not reach it before the transmit watchdog reset the device";
    } else return;
    postMissedBug(post, { nic: nic.name }, netQueueName(queue), nic.plantedBugs.get(queue)!, why);
  };

  /**
   * A guest bug on demand (`vlab fault guest-bug`): corrupt a queue the way a buggy driver would
   * (`guest_bug.ts`). Returns undefined for a slot that is no NIC, null when written, else the
   * refusal.
   */
  const guestBug = (
    m: Extract<ToWorker, { type: "guest-bug" }>,
  ): string | { busy: string } | null | undefined => {
    const nic = nics.find((n) => n.slot === m.device);
    if (!nic) return undefined;
    const queueName = m.queue === NetQueue.RECEIVEQ ? "receiveq" : "transmitq";
    return plantGuestBug(ctx, {
      subject: { nic: nic.name },
      queueName,
      queue: m.queue,
      driverQueue: nic.device.queues[m.queue],
      config: queueConfigOf(nic.regs, m.queue, nic.device.negotiated),
      busy: nic.resetting
        ? `${nic.name} is being reset`
        : nic.driver.frozen(queueName)
        ? `${nic.name}'s ${queueName} already holds a guest bug, and waits for its reset`
        : null,
      planted: nic.plantedBugs,
      // Whatever the bug, the driver adds nothing more to the queue until the reset. On a
      // frozen transmitq the bug counts as a buffer in flight for the transmit watchdog.
      freeze: () => nic.driver.freeze(queueName),
      kick: () => {
        if (kickOne(nic.regs, m.queue, bells)) ringDoorbell(bells, deviceThread);
      },
    }, m.bug);
  };

  return {
    guestBug,
    pump: () => {
      let work = false;
      for (let i = 0; i < nics.length; i++) {
        const nic = nics[i];
        if (nic.resetting) {
          // A failed reset's next attempt, when its back-off is over (`reset_retry.ts`).
          if (nic.retries.take(clock.now())) {
            attemptReset(nic, i, nic.resetT0);
            work = true;
          }
          continue;
        }
        // Acknowledge before handling, so that a bit raised meanwhile is not lost.
        const isr = readInterruptStatus(nic.regs);
        if (isr !== 0) ackInterrupt(nic.regs, isr);
        if (isr & InterruptBit.CONFIG) configReads[i]();
        const received = nic.driver.receive(
          (frame, trusted) => stack.input(i, frame, trusted),
          64,
        );
        const reclaimed = nic.driver.reclaimTx(); // announced through `onTxRoom`
        nic.driver.fillRx();
        const kick = nic.driver.flush();
        if (kickNic(nic, kick, bells)) ringDoorbell(bells, deviceThread);
        if (received > 0 || reclaimed > 0 || isr !== 0) work = true;
        if (nic.resumePending !== null) resumed(nic, received + reclaimed > 0);
        // A queue broken on device output, or the transmit watchdog: reset (reliability C, I).
        const fault = nic.driver.fault;
        const revoked = nic.iommuEndpoint !== null && ctx.iommu !== null &&
          ctx.iommu.revoked(nic.iommuEndpoint);
        if (fault !== null && fault.kind === "dma-map-failed" && !revoked) {
          // The vIOMMU refused the NIC's buffers and nothing revoked its window: a reset would
          // map them again and fail again, so the NIC stops here, reported once. (After a
          // revocation the reset below maps the window again first.)
          if (!nic.dmaFailed) {
            nic.dmaFailed = true;
            post({
              type: "event",
              kind: "device-error",
              detail: { nic: nic.name, error: formatNetFault(fault) },
            });
          }
        } else if (fault !== null) {
          const cause: ResetCause = fault.kind === "tx-timeout"
            ? { kind: "tx-timeout" }
            : brokenQueue(nic.device) ?? { kind: "queue-broken", queue: NetQueue.TRANSMITQ };
          missedBug(nic, cause);
          recover(nic, i, cause);
          work = true;
        }
      }
      return work;
    },
    prepareSleep: () => {
      let pending = false;
      for (const nic of nics) {
        if (!nic.resetting && nic.driver.enableInterrupts()) pending = true;
      }
      return pending;
    },
    nextTimerMs: () => {
      // The stack's timers, and each transmit watchdog's deadline (checked by `periodic`).
      let t = stack.tick();
      // A NIC without carrier is no stall (Linux's dev_watchdog checks only a carrier that is ok):
      // a vhost-pci frontend's transmitq waits, undrained, while its peer reboots.
      for (const nic of nics) {
        if (!nic.resetting && nic.up) t = Math.min(t, nic.driver.txTimeoutDueMs());
      }
      for (const nic of nics) t = Math.min(t, nic.retries.untilMs(clock.now()));
      for (const nic of nics) {
        const p = nic.resumePending;
        if (p !== null) {
          t = Math.min(t, Math.max(0, p.liveAt + RESET_RESUME_WAIT_MS - performance.now()));
        }
      }
      return t;
    },
    periodic: (stats) => {
      // The stack's timers (ARP retries, a stale neighbour's probes and their give-up, reassembly
      // timeouts) run here too: the loop asks `nextTimerMs` only before it sleeps, and a loop a
      // flood keeps busy may not sleep for seconds (a neighbour that stopped answering was never
      // probed again, nor removed). Late by at most this hook's ~100 ms.
      stack.tick();
      stats.setAll("stack_", flatCounters(stack.counters));
      // The transmit watchdog (Linux's ndo_tx_timeout): a fault here is reset by the next pump.
      // Not while its link is down (above); the wait starts over when it comes back up.
      for (const nic of nics) if (!nic.resetting && nic.up) nic.driver.checkTxTimeout();
    },
    inspect: () => ({
      nics: nics.map((n) => ({
        name: n.name,
        linkUp: n.up,
        fault: n.driver.fault,
        registerAccessesPending: n.port.pending,
      })),
      arp: stack.arpRows(),
    }),
    provide: (services) => {
      services.net = stack;
    },
  };
}

/** The net kind's guest slice. */
export const NET_GUEST_KIND: GuestKind = {
  kind: "net",
  start: (ctx, devices) => start(ctx, devices.filter((d): d is NetDeviceSpec => d.kind === "net")),
};
