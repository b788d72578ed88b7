/**
 * The vhost-pci frontend: VM `a`'s virtio-net device model, wrapped so that at DRIVER_OK it
 * hands its queues over to the VM that serves them (like a vhost-user frontend: queue
 * addresses, sizes, layout and negotiated features stay in `a`'s register file, the queue state
 * records in `a`'s control block) and at a reset takes them back before the reset completes.
 *
 * Who calls it: `a`'s device worker (`lab/host/kinds/net.ts`) builds it around the NIC's
 * `NetDevice` and gives it to the NIC's virtio-mmio transport, which calls `activate` at
 * DRIVER_OK (or when a restarted worker restores a live device) and `reset` when the driver
 * writes 0 to Status. The control plane (features, status, config) stays with the wrapped model.
 *
 * Revocation is a handshake (vhost-user's GET_VRING_BASE): `reset` stores `VHOST_CONN = 0`, rings
 * the peer, and waits (bounded) until the peer stored 0 in `VHOST_PEER`. Only then does the
 * trapped Status write complete, so `a`'s driver never reuses ring memory the peer may still
 * write. A peer that does not answer in time (dead) is reported by `reset`'s caller through
 * `lastRevokeAcked`.
 *
 * The link of `a`'s NIC follows the peer (`followPeer`, once a pass of `a`'s device worker): up
 * while the peer serves the connection with its link up (`peerServing`), and down then up again
 * when the peer stopped serving since the last pass (`VHOST_PEER_DOWNS`, counted by
 * `publishPeerDown`), however soon it served again.
 *
 * @module
 */

import type { Result } from "../base/result.ts";
import type { ActivateContext, ActivateError, VirtioDeviceModel } from "../virtio/device_model.ts";
import type { FeatureSet } from "../virtio/features.ts";
import { QueueWord, queueWord, RegFileWord } from "../virtio/mmio.ts";

/** Options of a `VhostPciFrontend`. */
export interface VhostPciFrontendOptions {
  /** The device's register file (the handover words live there). */
  regs: Int32Array;
  /** The thread `a`'s kicks of the handed-over queues ring (the serving VM's guest worker). */
  peerThread: number;
  /** Ring the peer (a handover or a revocation to look at). */
  ringPeer: () => void;
  /** Longest wait for the peer's acknowledgement of a revocation, ms (default 200). */
  ackTimeoutMs?: number;
  /**
   * Wait while `regs[VHOST_PEER]` holds `conn`, at most `timeoutMs`; true once it changed.
   * Default: `Atomics.wait` (device workers may block).
   */
  waitAck?: (regs: Int32Array, conn: number, timeoutMs: number) => boolean;
}

function atomicsWaitAck(regs: Int32Array, conn: number, timeoutMs: number): boolean {
  const end = performance.now() + timeoutMs;
  for (let i = 0; i < 1000; i++) {
    if (Atomics.load(regs, RegFileWord.VHOST_PEER) !== conn) return true;
    const left = end - performance.now();
    if (left <= 0) return false;
    Atomics.wait(regs, RegFileWord.VHOST_PEER, conn, left);
  }
  return Atomics.load(regs, RegFileWord.VHOST_PEER) !== conn;
}

/**
 * Whether the peer serves the connection `a` handed over with its link up (the link of `a`'s NIC
 * is up). A peer whose link is set down (`VHOST_PEER_LINK_DOWN`) still serves the connection, and
 * drops every frame.
 *
 * @example
 * ```ts
 * import { regFileWords } from "../virtio/mmio.ts";
 * import { peerServing } from "./frontend.ts";
 * peerServing(new Int32Array(regFileWords(2))); // false
 * ```
 */
export function peerServing(regs: Int32Array): boolean {
  const conn = Atomics.load(regs, RegFileWord.VHOST_CONN);
  // observe the peer: pairs with the backend's Atomics.store of VHOST_PEER.
  return conn !== 0 && Atomics.load(regs, RegFileWord.VHOST_PEER) === conn &&
    Atomics.load(regs, RegFileWord.VHOST_PEER_LINK_DOWN) === 0;
}

/**
 * The serving side stopped serving `a`'s queues (it acknowledged a revocation, stopped, reset its
 * device, failed, set its link down, or died): count it in `VHOST_PEER_DOWNS`. Call it after
 * the store that ended serving (`VHOST_PEER`, `VHOST_PEER_LINK_DOWN`), so that a frontend which
 * sees the count move sees that store too. However soon the peer serves again, `a`'s device
 * worker then sees its link go down and up (`VhostPciFrontend.followPeer`).
 *
 * @example
 * ```ts
 * import { RegFileWord, regFileWords } from "../virtio/mmio.ts";
 * import { publishPeerDown } from "./frontend.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
 * publishPeerDown(regs);
 * regs[RegFileWord.VHOST_PEER_DOWNS]; // 1
 * ```
 */
export function publishPeerDown(regs: Int32Array): void {
  // publish the stop: pairs with followPeer's Atomics.load of VHOST_PEER_DOWNS in a's worker.
  Atomics.add(regs, RegFileWord.VHOST_PEER_DOWNS, 1);
}

/**
 * Whether the peer stopped serving the connection after a device error (it stored `-conn`): the
 * NIC needs a reset to hand its queues over again.
 *
 * @example
 * ```ts
 * import { regFileWords } from "../virtio/mmio.ts";
 * import { peerFailed } from "./frontend.ts";
 * peerFailed(new Int32Array(regFileWords(2))); // false
 * ```
 */
export function peerFailed(regs: Int32Array): boolean {
  const conn = Atomics.load(regs, RegFileWord.VHOST_CONN);
  return conn !== 0 && Atomics.load(regs, RegFileWord.VHOST_PEER) === -conn;
}

/**
 * A device model whose queues another VM serves once the driver set DRIVER_OK.
 *
 * @example
 * ```ts ignore
 * const model = new VhostPciFrontend(netDevice, { regs, peerThread: 4, ringPeer });
 * new MmioDeviceTransport({ model, ... });
 * ```
 */
export class VhostPciFrontend implements VirtioDeviceModel {
  readonly #inner: VirtioDeviceModel;
  readonly #o: VhostPciFrontendOptions;
  /** Whether the last revocation was acknowledged by the peer (false: it timed out). */
  lastRevokeAcked = true;
  /** Handovers made by this worker. */
  handovers = 0;
  /** `VHOST_PEER_DOWNS` as `followPeer` last read it (null: not read yet). */
  #seenDowns: number | null = null;
  /** The last connection `takePeerFailure` returned (0: none). */
  #reportedFailure = 0;

  /** Wrap `inner` (the NIC's model). */
  constructor(inner: VirtioDeviceModel, opts: VhostPciFrontendOptions) {
    this.#inner = inner;
    this.#o = opts;
  }

  /** The wrapped model's device ID. */
  get deviceId(): number {
    return this.#inner.deviceId;
  }
  /** The wrapped model's queue count. */
  get queueCount(): number {
    return this.#inner.queueCount;
  }
  /** The wrapped model's QueueSizeMax. */
  get queueMaxSize(): number {
    return this.#inner.queueMaxSize;
  }
  /** The wrapped model's features. */
  get offered(): FeatureSet {
    return this.#inner.offered;
  }
  /** The wrapped model's config size. */
  get configSize(): number {
    return this.#inner.configSize;
  }

  /** The wrapped model's config space. */
  readConfig(offset: number, size: 1 | 2 | 4): number {
    return this.#inner.readConfig(offset, size);
  }

  /** Activate the wrapped model, then hand the queues over (kept if already handed over). */
  activate(ctx: ActivateContext): Result<void, ActivateError> {
    const r = this.#inner.activate(ctx);
    if (r.ok) this.#handOver();
    return r;
  }

  /** Take the queues back (waiting for the peer's acknowledgement), then reset the model. */
  reset(): void {
    this.revoke();
    this.#inner.reset();
  }

  /** Whether the queues are handed over now. */
  get handedOver(): boolean {
    return Atomics.load(this.#o.regs, RegFileWord.VHOST_CONN) !== 0;
  }

  /**
   * Take the queues back: kicks ring the device worker again, `VHOST_CONN` goes to 0, and the
   * peer acknowledges (bounded wait). Returns whether it acknowledged (true if nothing was
   * handed over).
   */
  revoke(): boolean {
    const { regs } = this.#o;
    for (let q = 0; q < this.#inner.queueCount; q++) {
      Atomics.store(regs, queueWord(q, QueueWord.NOTIFY_THREAD), 0);
    }
    const conn = Atomics.load(regs, RegFileWord.VHOST_CONN);
    if (conn === 0) return true;
    // publish the revocation: pairs with the backend's Atomics.load of VHOST_CONN in poll().
    Atomics.store(regs, RegFileWord.VHOST_CONN, 0);
    this.#o.ringPeer();
    const wait = this.#o.waitAck ?? atomicsWaitAck;
    this.lastRevokeAcked = Atomics.load(regs, RegFileWord.VHOST_PEER) !== conn ||
      wait(regs, conn, this.#o.ackTimeoutMs ?? 200);
    return this.lastRevokeAcked;
  }

  /**
   * Follow the peer, once a pass of `a`'s device worker: `setLink` is given the link of `a`'s NIC
   * (`peerServing`), after `setLink(false)` when the peer stopped serving since the last call
   * (`VHOST_PEER_DOWNS` moved), however briefly: a peer that went down and came back between two
   * passes is a link down and up, as if each had been seen in its own pass. The first call only
   * reads the count (a restarted worker does not take its predecessor's last flap for a new one).
   */
  followPeer(setLink: (up: boolean) => void): void {
    const regs = this.#o.regs;
    // The count first: a moved count means the store that ended serving is visible (it was made
    // before the count), so peerServing below reads that stop or a later start, never older.
    const downs = Atomics.load(regs, RegFileWord.VHOST_PEER_DOWNS);
    const moved = this.#seenDowns !== null && downs !== this.#seenDowns;
    this.#seenDowns = downs;
    if (moved) setLink(false);
    setLink(peerServing(regs));
  }

  /**
   * The connection the peer stopped serving after a device error (`peerFailed`), the first time
   * it is asked about that connection; 0 otherwise. Each connection has its own number, so a
   * failed connection is returned even when the NIC was reset and handed over anew since the
   * last call (a boolean cleared only while nothing was handed over missed a reset and handover
   * within one pass, and the next connection's failure with it).
   */
  takePeerFailure(): number {
    const regs = this.#o.regs;
    // VHOST_CONN is this worker's own word; only the peer's answer moves under it.
    const conn = Atomics.load(regs, RegFileWord.VHOST_CONN);
    if (conn === 0 || conn === this.#reportedFailure) return 0;
    // observe the device error: pairs with the backend's Atomics.store of -conn in VHOST_PEER.
    if (Atomics.load(regs, RegFileWord.VHOST_PEER) !== -conn) return 0;
    this.#reportedFailure = conn;
    return conn;
  }

  #handOver(): void {
    const { regs, peerThread } = this.#o;
    // A restored worker finds its device handed over already: the peer keeps serving.
    if (Atomics.load(regs, RegFileWord.VHOST_CONN) !== 0) return;
    for (let q = 0; q < this.#inner.queueCount; q++) {
      // publish the kick target: pairs with kickTarget in the driver's kick path.
      Atomics.store(regs, queueWord(q, QueueWord.NOTIFY_THREAD), peerThread + 1);
    }
    const seq = (Atomics.load(regs, RegFileWord.VHOST_SEQ) % 0x7fff_fffe) + 1;
    Atomics.store(regs, RegFileWord.VHOST_SEQ, seq);
    // publish the handover: pairs with the backend's Atomics.load of VHOST_CONN in poll().
    Atomics.store(regs, RegFileWord.VHOST_CONN, seq);
    this.handovers++;
    this.#o.ringPeer();
  }
}
