/**
 * The vhost-pci kind in the guest worker of VM `b`: for each vhost-pci-net device it probes the
 * device (a virtio-mmio init with no queues, device ID 63), then serves the queues of VM `a`'s
 * NIC in `a`'s memory with a `VhostPciBackend` over `b`'s window onto `a`, and shows the frames
 * to `b`'s network stack as an ordinary interface with `b`'s own MAC and address. No device
 * worker and no link ring sit in that data path: `a`'s kicks ring this worker (the handover set
 * the kick target), and the backend raises `a`'s interrupt and rings `a`'s guest.
 *
 * On every pass: follow the handover (connect, acknowledge a revocation, the IOTLB handshake),
 * pop `a`'s transmitq into the stack, publish what the stack sent into `a`'s receiveq. A refused
 * access ends the connection (the interface's link goes down; `a` goes on); a new handover (after
 * `a` reset its NIC) brings it back. `vlab link NAME down` keeps the connection served with the
 * link down, as a virtio-net link is down: every frame either way is dropped and counted
 * (`linkDownIn`, `linkDownOut`), none is held for later. A guest bug of `b` makes its driver
 * reset its device: it stops serving first (`a`'s link goes down), then serves the same
 * connection again once the device is live. Runs on `b`'s guest worker.
 *
 * @module
 */

import { DirectDma, GuestMemory } from "../../../devices/memory/mod.ts";
import { IommuDma, Iotlb } from "../../../devices/iommu/mod.ts";
import { Hdr } from "../../../devices/iommu/layout.ts";
import { NetQueue, netQueueName } from "../../../devices/net/config.ts";
import { NET_FRAME_PHASE } from "../../../devices/net/sizing.ts";
import { bytesAtPhase } from "../../../devices/memory/allocator.ts";
import type { FrameSink } from "../../../devices/net/device.ts";
import { Feature } from "../../../devices/virtio/constants.ts";
import { featureSet } from "../../../devices/virtio/features.ts";
import { notifyCount } from "../../../devices/virtio/mmio.ts";
import { type DriverInitOptions, initDevice } from "../../../devices/virtio/mmio_driver.ts";
import { SharedRingAccess } from "../../../devices/virtio/ring_access.ts";
import {
  PeerWindow,
  VHOST_PCI_NET_DEVICE_ID,
  VhostPciBackend,
  VhostPciCounter,
  type VhostPciDownReason,
} from "../../../devices/vhost_pci/mod.ts";
import { deviceControl } from "../../wire/control.ts";
import type { ControlGate } from "../../wire/control_gate.ts";
import { macNumberOf, PartitionFilter } from "../../wire/partition.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import { MailboxPort } from "../../wire/mailbox.ts";
import type { VhostPciFrontendMemory } from "../../wire/messages.ts";
import type { VhostPciDeviceSpec } from "../../wire/specs.ts";
import type { NetInterface } from "../net/api.ts";
import type { NetStack } from "../net/stack.ts";
import type { Fence } from "../../wire/fence.ts";
import type { GuestContext, GuestKind, GuestKindInstance } from "./types.ts";
import { driverStartError, resetFailureMessage, vhostPciDevice } from "./start_error.ts";

/**
 * How long `b`'s link stays down after `b` reset its device, ms: a link partner's reset is seen
 * as a link flap (a PHY renegotiates for longer). `a`'s device sees a flap however short
 * (`VHOST_PEER_DOWNS`); `a`'s driver reads its link status on the configuration interrupt, and
 * reads the down only if the link is still down then.
 */
const RESET_LINK_DOWN_MS = 100;

/** Frames popped from `a`'s transmitq per pass. */
const TX_BUDGET = 64;
/** A pass that does not look at `a`'s transmitq (armed, and no kick since). */
const NO_TX = Object.freeze({ sent: 0, dropped: 0, blocked: false });

/**
 * One vhost-pci-net device of `b` and its interface in `b`'s stack (exported for its tests).
 */
export class VhostPciLink implements NetInterface {
  readonly name: string;
  readonly mac: Uint8Array;
  readonly ip: number | null;
  readonly prefix: number | null;
  readonly mtu: number;
  /** Where frames sit past a multiple of 8 in `a`'s buffers, and in this link's own. */
  readonly framePhase: number = NET_FRAME_PHASE;
  ifIndex = -1;
  backend: VhostPciBackend | null = null;
  /** Frames the stack sent since the last publish. */
  pendingRx = false;
  /** The stack found `a`'s receiveq without buffers: wake its writers at `a`'s next RX kick. */
  rxBlocked = false;
  lastRxKicks = 0;
  /** `a` added RX buffers while `b` armed its RX kicks. */
  rxRetry = false;
  /** A send found a control message pending: its writers wait until the loop has read it. */
  gateHeld = false;
  readonly #gate: ControlGate;
  /**
   * `b` armed `a`'s TX kicks before it slept (nothing was pending): until `a` kicks again
   * (`lastTxKicks` moves), `b` does not look at `a`'s transmitq. `b`'s worker also wakes for its
   * own reasons (its stack, its timers, its idle wake-up), and a backend that polled then would
   * recover a lost kick that a vhost backend never sees (`a`'s transmit watchdog would not fire).
   */
  txArmed = false;
  lastTxKicks = 0;
  /**
   * The link is up (`vlab link NAME up|down`): a down link keeps serving the connection and drops
   * every frame both ways (`VhostPciBackend.setLinkUp`).
   */
  adminUp = true;
  /** `b`'s driver is resetting its vhost-pci-net device: it serves nothing until it is live. */
  resetting = false;
  /** After `b`'s reset, the link stays down until then (ms, `performance.now()`; 0: no hold). */
  downUntil = 0;
  /** `a`'s register file of the served NIC (set with the backend). */
  aRegs: Int32Array | null = null;
  /** Lengths of `frames`. */
  readonly lengths: number[] = [];
  /** Whether each of `frames` left `a` with a partial checksum (`b`'s stack trusts it). */
  readonly partial: boolean[] = [];
  /** Frames popped this pass, handed to the stack after the publish. */
  readonly frames: Uint8Array[] = [];
  frameCount = 0;
  readonly #scratch: Uint8Array;
  readonly sink: FrameSink;
  /** MACs as numbers: `b`'s interface and `a`'s NIC (a partition's last hop to each). */
  readonly macNumber: number;
  readonly frontendMac: number;

  constructor(
    readonly spec: VhostPciDeviceSpec,
    readonly frontend: VhostPciFrontendMemory,
    readonly wake: () => void,
    /** The register port of `b`'s vhost-pci-net device and how its driver initializes it. */
    readonly port: MailboxPort,
    readonly initOpts: DriverInitOptions,
    /** The partitions in force (`vlab partition`), shared by the worker's links. */
    readonly partition: PartitionFilter,
    /** `b`'s counters of this device (`VhostPciCounter`). */
    readonly counters: Float64Array,
    /** The worker's control gate: `a`'s frames revealed while a message is pending wait. */
    gate: ControlGate,
    /** `b`'s fence: a send writes `a`'s memory as a section of `b`'s generation. */
    readonly fence: Fence,
  ) {
    this.name = spec.name;
    this.mac = Uint8Array.from(spec.mac);
    this.macNumber = macNumberOf(spec.mac);
    this.frontendMac = macNumberOf(spec.frontend.mac);
    this.ip = spec.ip;
    this.prefix = spec.prefix;
    this.mtu = spec.mtu;
    this.#gate = gate;
    // Frames copied to and from `a`'s buffers sit at their phase, so the copies run word by word.
    this.#scratch = bytesAtPhase(spec.mtu + 14, NET_FRAME_PHASE);
    let reserved: Uint8Array | null = null;
    this.sink = {
      // A frame `a` published after a partition or a link change was posted to this worker waits
      // in `a`'s transmitq until the loop has read it: it then meets the new cuts, and so does
      // the answer `b`'s stack makes to it.
      held: () => gate.pending(),
      reserve: (maxLen) => {
        if (this.frameCount >= TX_BUDGET) return null;
        let buf = this.frames[this.frameCount];
        if (buf === undefined || buf.length < maxLen) {
          buf = bytesAtPhase(Math.max(maxLen, spec.mtu + 14), NET_FRAME_PHASE);
          this.frames[this.frameCount] = buf;
        }
        reserved = buf;
        return buf;
      },
      commit: (len, meta = 0) => {
        if (reserved === null) return;
        this.frames[this.frameCount] = reserved;
        this.lengths[this.frameCount] = len;
        this.partial[this.frameCount] = meta !== 0;
        this.frameCount++;
        reserved = null;
      },
    };
  }

  linkUp(): boolean {
    return this.backend?.linkUp ?? false;
  }

  /**
   * `b`'s stack may leave layer-4 checksums partial: the device model that writes them into `a`'s
   * RX buffers hands them to `a` as NEEDS_CSUM (GUEST_CSUM) or completes them, as a NIC does.
   */
  readonly checksumOffload = true;

  sendWith(len: number, fill: (buf: Uint8Array) => void, csum = 0): boolean {
    const be = this.backend;
    if (be === null || !be.up || len > this.#scratch.length) return false;
    // A section of `b`'s generation, once per burst: a crashed `b`'s workload writes nothing
    // into `a`'s buffers and rings, which `b`'s successor serves, nor rings the loop (its
    // doorbell line is the successor's).
    if (!this.fence.enterBurst()) return false;
    // A control message posted to this worker and not read yet (a partition, this link set down
    // or up): the frame is not taken now. The stack holds it in its backlog (or its sender waits
    // for room, as at a full ring) until the loop has read the message and wakes the writers
    // (`serve`): it then meets the new state, as a frame of a's transmitq does (`held`). A
    // workload sending on its own timer went under the old cuts until the message's turn. One
    // load per frame: each send reveals a frame of its own (docs/design.md, "Live link changes
    // and partitions").
    if (this.#gate.pending()) {
      if (!this.gateHeld) {
        this.gateHeld = true;
        this.wake();
      }
      return false;
    }
    const frame = this.#scratch.subarray(0, len);
    fill(frame);
    if (this.partition.cuts(frame, this.frontendMac)) {
      // Cut on the way, as a partition cuts a ring link: the sender sees it sent.
      this.counters[VhostPciCounter.partitionDropped]++;
      return true;
    }
    const r = be.receive(frame, csum);
    // The link is set down: dropped on the way (counted), as a NIC with its link down drops
    // what its driver sent; the sender sees it sent.
    if (r === "link-down") return true;
    if (r === "delivered") {
      // Published by the loop's next pass, once per burst: only the burst's first frame rings
      // the loop (the sender runs while it waits; a ring per frame cost a notify per frame).
      if (!this.pendingRx) {
        this.pendingRx = true;
        this.wake();
      }
      return true;
    }
    if (r === "no-buffers" && !this.rxBlocked) {
      // The sender waits for room (`whenWritable`) that only a's refill kick announces: wake the
      // loop, which watches a's receiveq kicks before it sleeps again (it may be asleep now, a
      // workload on a timer sending).
      this.rxBlocked = true;
      this.wake();
    }
    return false;
  }
}

/**
 * The `link-down` event's detail. A refused access is told as `a`'s vIOMMU tells it (the
 * `iommu-fault` event of `a`): `addr` in hex (the IOVA; a GPA without a vIOMMU) and `access`,
 * so the two events name the same access.
 */
function describeDown(r: VhostPciDownReason): Record<string, unknown> {
  const refused = (addr: number, access: "read" | "write" | null) =>
    addr >= 0 ? { addr: `0x${addr.toString(16)}`, access } : {};
  return r.kind === "window-fault"
    ? { reason: r.kind, ...refused(r.addr, r.access) }
    : r.kind === "ring-revoked"
    ? { reason: r.kind, queue: netQueueName(r.queue), ...refused(r.addr, r.access) }
    : r.kind === "ring-error"
    ? { reason: r.kind, error: r.message }
    : { reason: r.kind };
}

/** The backend of `link`, once `a`'s side is there to be seen (its vIOMMU created), else null. */
function openBackend(ctx: GuestContext, link: VhostPciLink): VhostPciBackend | null {
  const { spec, frontend: f } = link;
  const memory = GuestMemory.fromBuffer(f.memory);
  const at = spec.frontend;
  let view;
  if (at.iommu !== null) {
    if (f.iommu === null) throw new Error(`VM ${f.vm} has no vIOMMU tables for ${spec.name}`);
    // a's device worker writes the vIOMMU header when it starts: wait until it is there.
    if (Atomics.load(new Int32Array(f.iommu), Hdr.CAP_CONSUMERS) === 0) return null;
    view = new IommuDma(
      memory,
      new Iotlb(f.iommu, { slot: at.iommu.consumer, endpoint: at.iommu.endpoint }),
    );
  } else {
    view = new DirectDma(memory);
  }
  const actl = deviceControl(f.control, f.layout.devices[at.device]);
  link.aRegs = actl.regs;
  const own = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
  return new VhostPciBackend({
    memory,
    regs: actl.regs,
    queueState: actl.queueState,
    window: new PeerWindow(view),
    ring: new SharedRingAccess(memory),
    netCounters: actl.deviceCounters,
    counters: own.deviceCounters,
    mtu: spec.mtu,
    queueMaxSize: at.queueSize,
    interrupt: () => ringDoorbell(ctx.bells, at.guestThread),
    notifyFrontend: () => ringDoorbell(ctx.bells, at.deviceThread),
  });
}

/**
 * The end of `b`'s reset of `link`'s vhost-pci-net device, a continuation after the awaits of its
 * register accesses: the link serves again (after {@linkcode RESET_LINK_DOWN_MS}), logs
 * `device-queues-live` and `device-reset` (`resetMs` from `reset.t0`, the detection, as
 * `performance.now()`) and wakes the loop (`b`'s doorbell). A section of `b`'s generation: false,
 * and nothing done (no event, no doorbell rung: the line is `b`'s successor's; the link stays
 * resetting), once the generation ended.
 *
 * @example
 * ```ts ignore
 * liveAfterReset(link, ctx, { cause: "guest-bug", t0 }); // true: b serves a again
 * ```
 */
export function liveAfterReset(
  link: VhostPciLink,
  ctx: Pick<GuestContext, "fence" | "post" | "wakeSelf">,
  reset: { cause: string; t0: number },
): boolean {
  const { cause, t0 } = reset;
  return ctx.fence.guard(() => {
    link.resetting = false;
    link.downUntil = performance.now() + RESET_LINK_DOWN_MS;
    const resetMs = Math.round((performance.now() - t0) * 100) / 100;
    // The lab's `resetting` state ends here, as for a NIC (the supervisor counts resets from
    // `device-needs-reset` to `device-queues-live`).
    ctx.post({
      type: "event",
      kind: "device-queues-live",
      detail: { nic: link.name, vhostPci: link.spec.link, queuesLiveMs: resetMs },
    });
    ctx.post({
      type: "event",
      kind: "device-reset",
      detail: { nic: link.name, vhostPci: link.spec.link, cause, resetMs },
    });
    ctx.wakeSelf();
    return true;
  }, false);
}

async function start(
  ctx: GuestContext,
  specs: VhostPciDeviceSpec[],
): Promise<GuestKindInstance> {
  const links: VhostPciLink[] = [];
  const partition = new PartitionFilter();
  for (const spec of specs) {
    const f = ctx.frontends.get(spec.frontend.vm);
    if (f === undefined) {
      throw new Error(`VM ${ctx.vm} serves ${spec.frontend.vm} but was not given its memory`);
    }
    // Probe the vhost-pci-net device as a driver does (it has no queues of its own).
    const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
    const port = new MailboxPort(ctl.mailbox, ctx.bells, ctx.deviceThread, undefined, ctx.fence);
    const initOpts: DriverInitOptions = {
      deviceId: VHOST_PCI_NET_DEVICE_ID,
      supported: featureSet([Feature.VERSION_1]),
      queues: [],
      mem: ctx.mem,
      alloc: ctx.alloc,
      ring: ctx.ring,
      // Rings written as sections of this guest's generation (a crashed guest's set-up stops).
      section: (fn, otherwise) => ctx.fence.guard(fn, otherwise),
    };
    const init = await initDevice(port, initOpts);
    if (!init.ok) throw driverStartError(vhostPciDevice(ctx.vm, spec.name), init.error);
    links.push(
      new VhostPciLink(
        spec,
        f,
        ctx.wakeSelf,
        port,
        initOpts,
        partition,
        ctl.deviceCounters,
        ctx.gate,
        ctx.fence,
      ),
    );
  }
  let stack: NetStack | null = null;

  const serve = (link: VhostPciLink): boolean => {
    if (link.backend === null) {
      link.backend = openBackend(ctx, link);
      if (link.backend === null) return false;
      link.backend.setLinkUp(link.adminUp);
    }
    const be = link.backend;
    let work = false;
    const p = be.poll(
      !link.resetting && (link.downUntil === 0 || performance.now() >= link.downUntil),
    );
    if (p === "connected") link.downUntil = 0;
    if (p !== "none") {
      work = true;
      // A connection taken while the link is set down is no link up; its end was said already.
      if (p === "disconnected" || link.adminUp) report(link, p);
    }
    if (!be.up) return work;
    link.frameCount = 0;
    if (p === "connected") link.txArmed = false;
    // A kick of a's transmitq since b armed them (asleep with nothing pending) woke b.
    const kicked = link.txArmed &&
      notifyCount(link.aRegs!, NetQueue.TRANSMITQ) !== link.lastTxKicks;
    if (kicked) link.txArmed = false;
    const tx = link.txArmed ? NO_TX : be.transmit(link.sink, TX_BUDGET);
    const fin = be.finish();
    if (fin !== "none") report(link, fin);
    if (tx.sent + tx.dropped > 0) {
      work = true;
      if (kicked) link.counters[VhostPciCounter.kicks]++;
    }
    for (let i = 0; i < link.frameCount; i++) {
      const frame = link.frames[i].subarray(0, link.lengths[i]);
      // a's frame left a's transmitq (completed, as on a cut cable); a partition cuts it here.
      if (partition.cuts(frame, link.macNumber)) {
        link.counters[VhostPciCounter.partitionDropped]++;
        continue;
      }
      // A partial checksum from a is trusted, as a NIC with GUEST_CSUM hands it up (NEEDS_CSUM).
      stack?.input(link.ifIndex, frame, link.partial[i]);
    }
    // A send waited for a control message (`sendWith`): read now, its writers go on under it.
    if (link.gateHeld && !ctx.gate.pending()) {
      link.gateHeld = false;
      stack?.onWritable(link.ifIndex);
    }
    // The stack's answers (and a workload's frames) went into a's receiveq: publish them.
    if (link.pendingRx) {
      link.pendingRx = false;
      work = true;
      const again = be.finish();
      if (again !== "none") report(link, again);
    }
    const rxKicks = notifyCount(link.aRegs!, NetQueue.RECEIVEQ);
    if (link.rxBlocked && (rxKicks !== link.lastRxKicks || link.rxRetry)) {
      // a's kick of its receiveq (new RX buffers) woke b's blocked stack.
      if (rxKicks !== link.lastRxKicks) link.counters[VhostPciCounter.kicks]++;
      link.rxBlocked = false;
      link.rxRetry = false;
      stack?.onWritable(link.ifIndex);
    }
    link.lastRxKicks = rxKicks;
    return work;
  };

  const report = (link: VhostPciLink, what: "connected" | "disconnected" | "link-set-down") => {
    const be = link.backend!;
    ctx.post({
      type: "event",
      kind: what === "connected" ? "link-up" : "link-down",
      detail: {
        nic: link.name,
        vhostPci: link.spec.link,
        frontend: `${link.spec.frontend.vm}:${link.spec.frontend.nic}`,
        ...(what === "connected"
          ? { connection: be.connection }
          : what === "link-set-down"
          ? { reason: "link-set-down", connection: be.connection }
          : describeDown(be.downReason)),
      },
    });
    if (what === "connected") stack?.onWritable(link.ifIndex);
  };

  /**
   * `b`'s driver resets its vhost-pci-net device (a bug of `b`'s driver: `vlab fault guest-bug`
   * on it), as a Linux driver does on DEVICE_NEEDS_RESET: it stops serving at once (before the
   * reset is written: from here on `b` writes nothing of `a`'s; `a` sees its link go down),
   * resets and initializes its device again, then takes `a`'s connection again on the next pass,
   * resuming `a`'s queues from their state records (`a` sees its link come up). Logs
   * `device-needs-reset`, `device-queues-live` and `device-reset` (`resetMs`: detection to device
   * live again).
   */
  const resetDriver = (link: VhostPciLink, cause: string, bug: string): void => {
    if (link.resetting) return;
    link.resetting = true;
    const t0 = performance.now();
    ctx.post({
      type: "event",
      kind: "device-needs-reset",
      detail: { nic: link.name, vhostPci: link.spec.link, cause, bug },
    });
    if (link.backend?.up) {
      // A link set down was said to be down already.
      const said = !link.backend.linkUp;
      link.backend.stop({ kind: "reset" });
      if (!said) report(link, "disconnected");
    }
    initDevice(link.port, link.initOpts).then(
      (r) => {
        if (!r.ok) {
          ctx.post({
            type: "event",
            kind: "device-reset-failed",
            detail: {
              nic: link.name,
              vhostPci: link.spec.link,
              error: r.error.kind,
              message: resetFailureMessage(vhostPciDevice(ctx.vm, link.name), r.error),
            },
          });
          return;
        }
        // After the reset's awaits: a crashed guest's reset goes no further.
        liveAfterReset(link, ctx, { cause, t0 });
      },
      (error) => {
        ctx.post({
          type: "event",
          kind: "device-reset-failed",
          detail: {
            nic: link.name,
            vhostPci: link.spec.link,
            error: error instanceof Error ? error.message : String(error),
          },
        });
      },
    );
  };

  return {
    guestBug: (m) => {
      const link = links.find((l) => l.spec.index === m.device);
      if (link === undefined) return undefined;
      if (link.resetting) {
        // Said, not dropped: b's driver is already resetting this device.
        const message = `Cannot inject ${m.bug}: ${link.name} is being reset`;
        ctx.post({
          type: "event",
          kind: "guest-bug-refused",
          detail: { nic: link.name, queue: netQueueName(m.queue), bug: m.bug, message },
        });
        return message;
      }
      resetDriver(link, "guest-bug", m.bug);
      return null;
    },
    control: (m) => {
      if (m.type === "partitions") {
        partition.set(m.cuts);
        return;
      }
      if (m.type !== "link") return;
      const link = links.find((l) => l.spec.index === m.device);
      if (link === undefined || link.adminUp === m.up) return;
      link.adminUp = m.up;
      // The connection stays served: down, every frame either way is dropped (a sees its link go
      // down, and its transmitq keeps moving: nothing it sends meanwhile arrives later); up,
      // frames cross again.
      if (link.backend?.setLinkUp(m.up)) report(link, m.up ? "connected" : "link-set-down");
      ctx.wakeSelf();
    },
    pump: () => {
      let work = false;
      for (const link of links) if (serve(link)) work = true;
      return work;
    },
    prepareSleep: () => {
      let pending = false;
      for (const link of links) {
        if (link.pendingRx) {
          pending = true;
          continue;
        }
        // The kick count first: a kick after this read moves it, whatever the re-check saw.
        const kicks = link.aRegs !== null ? notifyCount(link.aRegs, NetQueue.TRANSMITQ) : 0;
        const armed = link.txArmed;
        const s = link.backend?.prepareSleep(link.rxBlocked, armed);
        if (s?.tx) pending = true;
        else if (s !== undefined && link.backend?.up && !armed) {
          link.txArmed = true;
          link.lastTxKicks = kicks;
        }
        // RX buffers came while arming: wake the stack's writers on the next pass.
        if (s?.rx) pending = link.rxRetry = true;
      }
      return pending;
    },
    nextTimerMs: () => {
      let t = links.some((l) => l.backend === null) ? 1 : Infinity;
      for (const l of links) {
        if (l.downUntil !== 0) t = Math.min(t, Math.max(0, l.downUntil - performance.now()));
      }
      return t;
    },
    periodic: () => {},
    inspect: () => ({
      vhostPci: links.map((l) => ({
        name: l.name,
        link: l.spec.link,
        up: l.backend?.linkUp ?? false,
        connection: l.backend?.connection ?? 0,
      })),
    }),
    provide: (services) => {
      stack = services.net ?? null;
      for (const link of links) if (stack) link.ifIndex = stack.addInterface(link);
    },
  };
}

/** The vhost-pci kind's guest slice (started after the net kind: it adds to its stack). */
export const VHOST_PCI_GUEST_KIND: GuestKind = {
  kind: "vhost-pci",
  start: (ctx, devices) =>
    start(ctx, devices.filter((d): d is VhostPciDeviceSpec => d.kind === "vhost-pci")),
};
