/**
 * The vhost-pci backend: VM `b`'s driver serving VM `a`'s virtio-net queues in `a`'s memory.
 *
 * Who calls it: `b`'s guest worker (`lab/guest/kinds/vhost_pci.ts`), on every pass of its loop.
 * `a`'s device worker keeps the control plane (features, status, config) and, at DRIVER_OK,
 * hands the queues over in `a`'s register file (`config.ts`). The backend then:
 *
 * - takes the connection (`poll`): reads the queue addresses, sizes, layout and the negotiated
 *   features from `a`'s register file, resumes each queue from `a`'s queue state record with the
 *   device-side queue code of `devices/virtio/` (`resumeQueue`, as a restarted device worker
 *   does: the state lives with `a`, so a restarted `b` continues where it stopped), and
 *   activates a `NetDevice` model over them: the same device model `a`'s device worker runs,
 *   only in another VM. What waits in `a`'s transmitq then was sent while `a`'s link was down
 *   (nobody served it): it is completed undelivered and counted (`linkDownIn`) before `a` sees
 *   its link up, so a rebooted `b` never gets frames sent to the old one;
 * - moves frames: `transmit` pops `a`'s transmitq into a `FrameSink` (`b`'s stack), `receive`
 *   fills `a`'s receiveq; `finish` publishes and, as event suppression allows, raises `a`'s
 *   used-buffer interrupt (`a`'s InterruptStatus, then the `interrupt` callback rings `a`'s
 *   guest);
 * - sees all of it through a `PeerWindow` over `a`'s memory: every refused access (outside the
 *   window, without the permission) is a device error of the connection: the backend stops
 *   touching `a`'s rings, publishes the `FAILED` state and waits for `a` to reset its NIC;
 * - with its link set down (`setLinkUp(false)`, `vlab link NAME down`) keeps serving the
 *   connection as a NIC whose link is down: it pops `a`'s transmitq and completes every frame
 *   undelivered, refuses every frame of `b`'s stack, counts both (`linkDownIn`, `linkDownOut`),
 *   and tells `a` its link is down (`VHOST_PEER_LINK_DOWN`), so nothing `a` sent meanwhile is
 *   delivered later and `a`'s transmit watchdog sees its frames completed;
 * - acknowledges a revocation (`a` reset its NIC: `VHOST_CONN` went to 0) by storing 0 in
 *   `VHOST_PEER`, after which it never touches those rings again; a device error stores `-conn`
 *   instead, which `a`'s device worker turns into DEVICE_NEEDS_RESET of its NIC (`peerFailed`):
 *   `a`'s driver resets, hands the queues over again, and the link comes back;
 * - counts every end of its serving (a disconnect of any kind, its link set down) in
 *   `VHOST_PEER_DOWNS` (`publishPeerDown`), so that `a`'s device worker sees `a`'s link go down
 *   and up even when `b` serves again before that worker's next pass.
 *
 * @module
 */

import type { DescriptorChain } from "../virtio/chain.ts";
import type { FeatureSet } from "../virtio/features.ts";
import {
  consumeDrop,
  InterruptBit,
  queueConfigOf,
  QueueWord,
  queueWord,
  RegFileWord,
} from "../virtio/mmio.ts";
import { recheckQueueAreas } from "../virtio/mmio_queue.ts";
import { resumeQueue } from "../virtio/mmio_restore.ts";
import type { DeviceQueue, QueueConfig } from "../virtio/queue.ts";
import type { RingAccess } from "../virtio/ring_access.ts";
import { checkQueueConfig, type QueueAreas } from "../virtio/setup.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { type FrameSink, NetDevice, type RxOutcome, type TxOutcome } from "../net/device.ts";
import { NetQueue } from "../net/config.ts";
import { NetCounter } from "../net/metrics.ts";
import { formatNetFault } from "../net/errors.ts";
import { VhostPciCounter, VhostPciState } from "./config.ts";
import { publishPeerDown } from "./frontend.ts";
import type { PeerWindow } from "./window.ts";

/** A sink that takes nothing: `transmit` with the link down never asks it for room. */
const DROP_SINK: FrameSink = { reserve: () => null, commit: () => {} };

/** What the backend needs of the frontend (VM `a`) and of its own VM. */
export interface VhostPciBackendOptions {
  /** `a`'s memory (what the window translates into). */
  memory: GuestMemory;
  /** `a`'s register file of the served NIC (the handover words, the queue configuration). */
  regs: Int32Array;
  /** `a`'s queue state records of the NIC, by queue index. */
  queueState: ReadonlyArray<Uint32Array>;
  /** `b`'s window onto `a`'s memory. */
  window: PeerWindow;
  /** Ring access over `a`'s memory. */
  ring: RingAccess;
  /** `a`'s NIC's device counters (the Queues panel of `a` keeps counting). */
  netCounters: Float64Array;
  /** `b`'s counters of the link (`VhostPciCounter`). */
  counters: Float64Array;
  /** MTU of `a`'s NIC. */
  mtu: number;
  /** QueueSizeMax of `a`'s queues. */
  queueMaxSize: number;
  /** Ring `a`'s guest (after `a`'s InterruptStatus was raised). */
  interrupt: () => void;
  /** Ring `a`'s device worker (the peer state changed: it flips `a`'s link status). */
  notifyFrontend: () => void;
}

/** Why the backend is not serving. */
export type VhostPciDownReason =
  /** `a` has not handed its queues over, or took them back (a reset). */
  | { kind: "not-handed-over" }
  /** `b` stopped serving (`stop()`). */
  | { kind: "stopped" }
  /** `b`'s driver is resetting its vhost-pci-net device (a guest bug of `b`). */
  | { kind: "reset" }
  /** An access of `b` was refused by the window. */
  | { kind: "window-fault"; addr: number; access: "read" | "write" | null }
  /**
   * A ring area of `a` is no longer reachable through the window (an unmap): the re-check's
   * refused access (`addr`, `access`; -1 and null when the area moved rather than went).
   */
  | { kind: "ring-revoked"; queue: number; addr: number; access: "read" | "write" | null }
  /** A queue of `a` could not be resumed or broke (`a`'s guest wrote a bad ring). */
  | { kind: "ring-error"; message: string };

/** What changed in one `poll`. */
export type PollOutcome = "none" | "connected" | "disconnected";

/**
 * `b`'s side of one vhost-pci link.
 *
 * @example
 * ```ts ignore
 * const be = new VhostPciBackend({ memory, regs, queueState, window, ring, netCounters,
 *   counters, mtu: 1500, queueMaxSize: 256, interrupt, notifyFrontend });
 * if (be.poll() === "connected") console.log("serving connection", be.connection);
 * ```
 */
export class VhostPciBackend {
  readonly #o: VhostPciBackendOptions;
  readonly #device: NetDevice;
  #conn = 0;
  /** The connection that failed (not taken again until `a` hands over a new one). */
  #failedConn = 0;
  #queues: DeviceQueue[] = [];
  #configs: QueueConfig[] = [];
  #areas: QueueAreas[] = [];
  #seenRefusals = 0;
  /** Frames written into `a`'s receiveq and not yet published (`finish`): not yet `framesOut`. */
  #rxPending = 0;
  #down: VhostPciDownReason = { kind: "not-handed-over" };
  /** `b`'s link as set (`setLinkUp`): down, the connection drops every frame. */
  #linkUp = true;
  readonly #tx: TxOutcome = { sent: 0, dropped: 0, blocked: false };
  readonly #sleep = { tx: false, rx: false };

  /** A backend in the DOWN state. */
  constructor(opts: VhostPciBackendOptions) {
    this.#o = opts;
    this.#device = new NetDevice({
      memory: opts.memory,
      mac: new Uint8Array(6),
      mtu: opts.mtu,
      queueMaxSize: opts.queueMaxSize,
      linkUp: true,
      ring: { packed: true, eventIdx: true, indirect: true, inOrder: true },
      mrgRxbuf: true,
      accessPlatform: true,
      counters: opts.netCounters,
    });
    // -1: no refused access yet. A rebooted `b` builds its backend over the counters it had
    // (they carry on across a reboot): the last refused access stays beside its count.
    if (opts.counters[VhostPciCounter.faults] === 0) {
      opts.counters[VhostPciCounter.lastFaultAddr] = -1;
    }
    this.#seenRefusals = opts.window.refusals;
  }

  /** Whether `b` serves `a`'s queues now (with its link up or down). */
  get up(): boolean {
    return this.#conn !== 0;
  }

  /** Whether `b` serves `a`'s queues with its link up: frames cross. */
  get linkUp(): boolean {
    return this.#conn !== 0 && this.#linkUp;
  }

  /**
   * Set `b`'s link up or down (`vlab link NAME up|down`). Down, the connection stays served as a
   * NIC whose link is down: `transmit` completes `a`'s frames undelivered and `receive` refuses
   * `b`'s, counted in `linkDownIn` and `linkDownOut`; `a` and `b` see their link down. True when
   * the link that frames see changed (a connection is served); a connection taken later starts
   * with the link as set.
   */
  setLinkUp(up: boolean): boolean {
    if (up === this.#linkUp) return false;
    this.#linkUp = up;
    this.#device.setLinkUp(up);
    if (this.#conn === 0) return false;
    this.#publishLink();
    // However soon it is set up again, a's device worker sees its link go down.
    if (!up) publishPeerDown(this.#o.regs);
    this.#o.notifyFrontend();
    return true;
  }

  /** The link as set, to `b`'s counters and to `a` (before `VHOST_PEER` on a connect). */
  #publishLink(): void {
    this.#o.counters[VhostPciCounter.state] = this.#linkUp ? VhostPciState.UP : VhostPciState.DOWN;
    // publish the link: pairs with peerServing's load of VHOST_PEER_LINK_DOWN in a's worker.
    Atomics.store(this.#o.regs, RegFileWord.VHOST_PEER_LINK_DOWN, this.#linkUp ? 0 : 1);
  }

  /** The connection served (0: none). */
  get connection(): number {
    return this.#conn;
  }

  /** Why the backend is down (meaningful while `up` is false). */
  get downReason(): VhostPciDownReason {
    return this.#down;
  }

  /**
   * Follow the handover: acknowledge a revocation, take a new connection, and (every pass,
   * connected or not) do the IOTLB handshake, re-checking `a`'s ring areas after an
   * invalidation. Call it at the start of every pass, before `transmit` and `receive`; with
   * `serve` false (`b`'s driver is resetting its device) it takes no connection.
   */
  poll(serve = true): PollOutcome {
    const regs = this.#o.regs;
    const dropped = this.#o.window.beginBatch();
    // observe the handover: pairs with the frontend's Atomics.store of VHOST_CONN.
    const conn = Atomics.load(regs, RegFileWord.VHOST_CONN);
    let outcome: PollOutcome = "none";
    if (this.#conn !== 0 && conn !== this.#conn) {
      this.#disconnect({ kind: "not-handed-over" });
      outcome = "disconnected";
    }
    if (this.#conn === 0 && conn === 0 && this.#failedConn !== 0) this.#failedConn = 0;
    if (this.#conn === 0 && conn !== 0 && conn !== this.#failedConn && serve) {
      // A handover that cannot be taken is a device error of that connection, reported once.
      return this.#connect(conn) ? "connected" : "disconnected";
    }
    if (this.#conn !== 0 && dropped) {
      const w = this.#o.window;
      for (let q = 0; q < this.#queues.length; q++) {
        if (recheckQueueAreas(w, q, this.#configs[q], this.#areas[q]) !== null) {
          this.#o.counters[VhostPciCounter.revoked]++;
          // The re-check's refusal (if the area went rather than moved) is one of `faults`.
          const refused = this.#refusedSince();
          this.#fail({
            kind: "ring-revoked",
            queue: q,
            addr: refused ? w.lastAddr : -1,
            access: refused ? w.lastAccess : null,
          });
          return "disconnected";
        }
      }
    }
    return outcome;
  }

  /** Pop up to `budget` frames from `a`'s transmitq into `sink`. */
  transmit(sink: FrameSink, budget: number): TxOutcome {
    const out = this.#tx;
    out.sent = 0;
    out.dropped = 0;
    out.blocked = false;
    // One chain at a time: the first refused access stops the connection's work at once.
    for (let n = 0; n < budget && this.#conn !== 0 && !this.#refusedSince(); n++) {
      const o = this.#device.transmit(sink, 1);
      out.sent += o.sent;
      out.dropped += o.dropped;
      out.blocked = o.blocked;
      if (o.sent + o.dropped === 0) break;
    }
    if (out.sent > 0) this.#o.counters[VhostPciCounter.framesIn] += out.sent;
    return out;
  }

  #refusedSince(): boolean {
    return this.#o.window.refusals !== this.#seenRefusals;
  }

  /**
   * Put one frame into `a`'s receiveq (visible after `finish`). `meta` is 0, or the partial
   * checksum `b`'s stack left in it (`partialChecksum`): `a`'s driver gets it as NEEDS_CSUM if it
   * negotiated GUEST_CSUM, otherwise the device model completes it in `frame` first.
   */
  receive(frame: Uint8Array, meta = 0): RxOutcome {
    if (this.#conn === 0 || this.#refusedSince()) {
      this.#o.counters[VhostPciCounter.framesDropped]++;
      return "not-live";
    }
    const r = this.#device.receive(frame, meta);
    // Counted out once `finish` published it: a connection that ends first loses it.
    if (r === "delivered") this.#rxPending++;
    // `b`'s link is set down: dropped, as a virtio-net link drops it (also `a`'s `rxLinkDown`).
    else if (r === "link-down") this.#o.counters[VhostPciCounter.linkDownOut]++;
    // No RX buffer: refused for want of room (back-pressure); a flood sends it again once `a`
    // refills, a sender that does not retry loses it in `b`'s stack (`txRingFull`).
    else if (r === "no-buffers") this.#o.counters[VhostPciCounter.rxWaits]++;
    else this.#o.counters[VhostPciCounter.framesDropped]++;
    return r;
  }

  /**
   * Publish what `transmit` and `receive` used, raise `a`'s interrupt if the driver wants one,
   * and check the window: a refused access or a broken queue ends the connection. Returns
   * "disconnected" when it did.
   */
  finish(): PollOutcome {
    if (this.#conn === 0) return "none";
    const net = this.#o.netCounters;
    const txLinkDown = net[NetCounter.txLinkDown];
    const irq = this.#device.finish();
    // `a`'s frames completed undelivered while `b`'s link is down (settled by `finish`).
    this.#o.counters[VhostPciCounter.linkDownIn] += net[NetCounter.txLinkDown] - txLinkDown;
    // Published, unless the window refused an access meanwhile (a revocation takes the used ring
    // too): then `#fail` below counts them dropped with the connection.
    if (this.#rxPending > 0 && !this.#refusedSince()) {
      this.#o.counters[VhostPciCounter.framesOut] += this.#rxPending;
      this.#rxPending = 0;
    }
    // One interrupt per queue that is due, as a's own device raises them (`signalUsed`): a
    // lost-irq fault armed on that queue in a's register file drops its own.
    const regs = this.#o.regs;
    const rx = irq.interruptRx && !consumeDrop(regs, NetQueue.RECEIVEQ, "interrupt");
    const tx = irq.interruptTx && !consumeDrop(regs, NetQueue.TRANSMITQ, "interrupt");
    if (rx || tx) {
      // publish interrupt bits: pairs with a's driver's Atomics.load in readInterruptStatus.
      Atomics.or(this.#o.regs, RegFileWord.INTERRUPT_STATUS, InterruptBit.USED);
      this.#o.counters[VhostPciCounter.interrupts]++;
      this.#o.interrupt();
    }
    const w = this.#o.window;
    if (w.refusals !== this.#seenRefusals) {
      this.#fail({ kind: "window-fault", addr: w.lastAddr, access: w.lastAccess });
      return "disconnected";
    }
    const fault = this.#device.fault;
    if (fault !== null) {
      this.#fail({ kind: "ring-error", message: formatNetFault(fault) });
      return "disconnected";
    }
    return "none";
  }

  /**
   * Ask for `a`'s TX kicks again before sleeping, unless `txArmed` (asked before and not kicked
   * since), and for its RX kicks when `rxWaiting` (`b`'s stack waits for RX buffers); true if
   * frames or buffers arrived meanwhile.
   */
  prepareSleep(rxWaiting = false, txArmed = false): { tx: boolean; rx: boolean } {
    const out = this.#sleep;
    out.tx = false;
    out.rx = false;
    this.#o.window.endBatch(); // the window's IOTLB hits reach its counter before b sleeps
    if (this.#conn === 0) return out;
    // Already armed (and not kicked since): a re-check now would find a buffer whose kick was
    // lost, which a vhost backend never looks at.
    if (!txArmed) out.tx = this.#queues[NetQueue.TRANSMITQ].enableNotifications();
    if (rxWaiting) out.rx = this.#queues[NetQueue.RECEIVEQ].enableNotifications();
    return out;
  }

  /**
   * Stop serving (`b`'s driver resetting its device, as if `b` were gone for a while): forget
   * the queues and store 0 in `VHOST_PEER` (`a` sees its link go down); from
   * here on the backend writes nothing of `a`'s until a `poll(true)` takes the same connection
   * again and resumes `a`'s queues from their state records.
   */
  stop(reason: { kind: "stopped" } | { kind: "reset" } = { kind: "stopped" }): void {
    if (this.#conn !== 0) this.#disconnect(reason);
  }

  #connect(conn: number): boolean {
    const o = this.#o;
    const regs = o.regs;
    const negotiated: FeatureSet = BigInt(regs[RegFileWord.DRIVER_FEATURES_LO] >>> 0) |
      (BigInt(regs[RegFileWord.DRIVER_FEATURES_HI] >>> 0) << 32n);
    const inFlight: DescriptorChain[][] = [];
    const open = resumeQueue(o.window, o.ring, inFlight);
    const queues: DeviceQueue[] = [];
    const configs: QueueConfig[] = [];
    const areas: QueueAreas[] = [];
    for (const q of [NetQueue.RECEIVEQ, NetQueue.TRANSMITQ]) {
      const config = queueConfigOf(regs, q, negotiated);
      const ready = regs[queueWord(q, QueueWord.READY)] === 1;
      const a = checkQueueConfig(o.window, config);
      const r = ready && a.ok ? open(q, config, o.queueState[q]) : null;
      if (r === null || !r.ok || !a.ok) {
        this.#failedConn = conn;
        this.#conn = conn; // so that #fail publishes and counts it
        this.#fail(
          !a.ok && o.window.refusals !== this.#seenRefusals
            ? { kind: "window-fault", addr: o.window.lastAddr, access: o.window.lastAccess }
            : { kind: "ring-error", message: `queue ${q} of the frontend cannot be resumed` },
        );
        this.#seenRefusals = o.window.refusals;
        return false;
      }
      queues.push(r.value);
      configs.push(config);
      areas.push(a.value);
    }
    const act = this.#device.activate({ negotiated, queues });
    if (!act.ok) return false;
    this.#device.adoptInFlight(
      inFlight[NetQueue.RECEIVEQ] ?? [],
      inFlight[NetQueue.TRANSMITQ] ?? [],
    );
    this.#queues = queues;
    this.#configs = configs;
    this.#areas = areas;
    this.#conn = conn;
    this.#seenRefusals = o.window.refusals;
    if (!this.#dropUnserved()) return false;
    const c = o.counters;
    this.#device.setLinkUp(this.#linkUp);
    this.#publishLink();
    c[VhostPciCounter.connection] = conn;
    c[VhostPciCounter.connects]++;
    // publish the peer: pairs with the frontend's Atomics.load of VHOST_PEER.
    Atomics.store(regs, RegFileWord.VHOST_PEER, conn);
    Atomics.notify(regs, RegFileWord.VHOST_PEER);
    o.notifyFrontend();
    return true;
  }

  /**
   * Before `a` sees its link up: drop every frame waiting in `a`'s transmitq, as a NIC whose link
   * is down drops what its driver sends (QEMU's virtio-net completes a TX frame undelivered while
   * its link is down, Linux's carrier-off qdisc drops it). They were posted while nobody served
   * the queues (`b` rebooting after `vm-crash`, `b`'s driver resetting its device, `a`'s own
   * handover not yet taken), or left unpopped by the server that went away: a's link was down
   * for all of them, and a rebooted `b`'s new stack must not take frames sent to the old one.
   * Completed and counted as `linkDownIn` (and `a`'s `txLinkDown`), as frames sent over a net
   * link towards a crashed VM count as link down. False if the connection failed meanwhile.
   */
  #dropUnserved(): boolean {
    this.#device.setLinkUp(false);
    // Each pass pops one chain; the ring holds at most its size, the restored ones as many.
    this.transmit(DROP_SINK, 2 * this.#queues[NetQueue.TRANSMITQ].size);
    this.#device.setLinkUp(this.#linkUp);
    return this.finish() === "none";
  }

  /** End the connection: forget the queues, acknowledge (VHOST_PEER = 0), tell `a`. */
  #disconnect(reason: VhostPciDownReason, state: number = VhostPciState.DOWN): void {
    const o = this.#o;
    const conn = this.#conn;
    // Frames written into a's receiveq that the connection's end leaves unpublished: a never
    // sees them, so they are dropped, and counted.
    o.counters[VhostPciCounter.framesDropped] += this.#rxPending;
    this.#rxPending = 0;
    this.#device.reset();
    this.#queues = [];
    this.#configs = [];
    this.#areas = [];
    this.#conn = 0;
    this.#down = reason;
    const c = o.counters;
    c[VhostPciCounter.state] = state;
    c[VhostPciCounter.connection] = 0;
    c[VhostPciCounter.disconnects]++;
    // acknowledge (0), or report the device error (-conn): pairs with the frontend's wait on
    // VHOST_PEER in revoke() and with peerFailed.
    Atomics.store(o.regs, RegFileWord.VHOST_PEER, state === VhostPciState.FAILED ? -conn : 0);
    Atomics.notify(o.regs, RegFileWord.VHOST_PEER);
    // Counted after the store: a's device worker sees the link go down even if `b` serves again
    // before its next pass (a reset of `b`'s device quicker than one of a's passes).
    publishPeerDown(o.regs);
    o.notifyFrontend();
  }

  /**
   * A device error of the connection: stop, publish FAILED, keep it failed until a new one.
   * Every access the window refused since the last look is counted in `faults` (a refused
   * access and a revoked ring alike: each is a fault `a`'s vIOMMU logged for `b`'s IOTLB).
   */
  #fail(reason: VhostPciDownReason): void {
    const c = this.#o.counters;
    const w = this.#o.window;
    const refused = w.refusals - this.#seenRefusals;
    if (refused > 0) {
      c[VhostPciCounter.faults] += refused;
      c[VhostPciCounter.lastFaultAddr] = w.lastAddr;
      c[VhostPciCounter.lastFaultAccess] = w.lastAccess === "read"
        ? 1
        : w.lastAccess === "write"
        ? 2
        : 0;
    }
    this.#seenRefusals = w.refusals;
    this.#failedConn = this.#conn;
    this.#disconnect(reason, VhostPciState.FAILED);
  }
}
