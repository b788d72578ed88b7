/**
 * A link ring: the single-producer single-consumer frame ring that carries Ethernet frames out
 * of one VM, in its own `SharedArrayBuffer`, to the peer VM's device worker or to a switch
 * worker.
 *
 * The producer (a device worker's virtio-net TX path, or a switch worker) reserves a slot,
 * writes a frame into it, commits it, and publishes a batch of commits with one atomic store of
 * `head`. The consumer peeks at the oldest frame, releases it, and returns a batch of slots with
 * one atomic store of `tail`. When the consumer runs out of frames it announces that it is going
 * to sleep (`prepareToWait`); `publish` tells the producer when it must ring the consumer's
 * doorbell. The doorbell itself belongs to the integrator (architecture.md, Doorbells).
 *
 * The header layout, its limits and its errors are in `link_ring_layout.ts`.
 *
 * Lost-wakeup freedom (Dekker-style; all four accesses are sequentially consistent Atomics):
 * ```
 * consumer (prepareToWait)           producer (publish)
 *   Atomics.store(waiting, 1)   (C1)   Atomics.store(head, h)       (P1)
 *   Atomics.load(head)          (C2)   Atomics.load(waiting)        (P2)
 * ```
 * In the single total order of seq-cst accesses, either C2 comes after P1 (the consumer sees
 * the new frames and does not sleep) or P2 comes after C1 (the producer sees `waiting` and rings
 * the doorbell), or both (one spurious wake-up). The consumer reads its doorbell counter *before*
 * C1 and sleeps with `Atomics.wait(bell, seen)`, so a ring that lands between C2 and the wait
 * makes the wait return at once.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";
import {
  isLinkRingGeometry,
  LINK_RING_MAGIC,
  LINK_RING_MAX_SLOT_BYTES,
  LINK_RING_MAX_SLOTS,
  LINK_RING_VERSION,
  LINK_SLOT_HEADER,
  linkRingBytes,
  type LinkRingCounters,
  type LinkRingError,
  LinkRingOffset,
  linkRingSlotStride,
} from "./link_ring_layout.ts";

export {
  formatLinkRingError,
  LINK_RING_MAGIC,
  LINK_RING_MAX_SLOT_BYTES,
  LINK_RING_MAX_SLOTS,
  LINK_RING_VERSION,
  linkRingBytes,
  type LinkRingCounters,
  type LinkRingError,
  LinkRingOffset,
} from "./link_ring_layout.ts";

const HEAD = LinkRingOffset.head / 4;
const TAIL = LinkRingOffset.tail / 4;
const WAITING = LinkRingOffset.consumerWaiting / 4;
const P_WAITING = LinkRingOffset.producerWaiting / 4;
const P_FRAMES_IN = LinkRingOffset.producerCounters / 8;
const P_BYTES_IN = P_FRAMES_IN + 1;
const P_FRAMES_DROPPED = P_FRAMES_IN + 2;
const P_BYTES_DROPPED = P_FRAMES_IN + 3;
const P_PUBLISHES = P_FRAMES_IN + 4;
const P_WAKEUPS = P_FRAMES_IN + 5;
const C_FRAMES_OUT = LinkRingOffset.consumerCounters / 8;
const C_BYTES_OUT = C_FRAMES_OUT + 1;
const C_BAD_FRAMES = C_FRAMES_OUT + 2;
const C_LINK_DOWN = C_FRAMES_OUT + 3;

/**
 * One side's handle on a link ring. Each thread attaches its own handle; the producer uses only
 * the producer methods and the consumer only the consumer methods.
 *
 * @example
 * ```ts
 * import { LinkRing } from "./link_ring.ts";
 * const tx = LinkRing.create(8, 64);
 * const rx = LinkRing.attach(tx.buffer);
 * if (!rx.ok) throw new Error("attach");
 * tx.push(new Uint8Array([1, 2, 3]));
 * tx.publish();
 * const frame = rx.value.peek(); // Uint8Array [1, 2, 3]
 * rx.value.release();
 * rx.value.finishConsume();
 * ```
 */
export class LinkRing {
  /** The shared buffer; send it to the other side, which calls `LinkRing.attach`. */
  readonly buffer: SharedArrayBuffer;
  /** Slot count (a power of two). */
  readonly slots: number;
  /** The largest frame a slot holds. */
  readonly slotBytes: number;
  /** Where each frame starts past a multiple of 8 (0..7). */
  readonly framePhase: number;
  /**
   * The consumer's control gate (`lab/wire/control_gate.ts`), or null: `peek` asks it right after
   * the load of `head` that reveals new frames, and while a control message is pending it sees
   * none of them (they stay in the ring for the pass after the message is read). Set by the
   * consumer's worker (`LinkIn`).
   */
  gate: { pending(): boolean } | null = null;
  readonly #stride: number;
  /** Byte offset of slot 0's frame. */
  readonly #frameAt: number;
  readonly #mask: number;
  readonly #views: (Uint8Array | undefined)[] = [];
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly #f64: Float64Array;
  // producer-private state
  #head: number;
  #cachedTail: number;
  #reserved = -1;
  // consumer-private state
  #tail: number;
  #cachedHead: number;
  /** Frames and bytes released since the last `finishConsume` (counted there, with the tail). */
  #releasedFrames = 0;
  #releasedBytes = 0;

  private constructor(
    buffer: SharedArrayBuffer,
    slots: number,
    slotBytes: number,
    framePhase: number,
  ) {
    this.buffer = buffer;
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.framePhase = framePhase;
    this.#stride = linkRingSlotStride(slotBytes, framePhase);
    this.#frameAt = LinkRingOffset.slotsStart + LINK_SLOT_HEADER + framePhase;
    this.#mask = slots - 1;
    this.#i32 = new Int32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.#f64 = new Float64Array(buffer, 0, LinkRingOffset.slotsStart / 8);
    this.#head = Atomics.load(this.#i32, HEAD) >>> 0;
    this.#tail = Atomics.load(this.#i32, TAIL) >>> 0;
    this.#cachedTail = this.#tail;
    this.#cachedHead = this.#head;
  }

  /**
   * A new ring in a new shared buffer, each frame `framePhase` bytes past a multiple of 8 (see
   * `link_ring_layout.ts`). Throws on a bad geometry (a programmer or planner error).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(2048, 2048, 4);
   * ```
   */
  static create(slots: number, slotBytes: number, framePhase = 0): LinkRing {
    if (!isLinkRingGeometry(slots, slotBytes, framePhase)) {
      throw new RangeError(
        `Cannot create link ring: slots must be a power of 2 up to ${LINK_RING_MAX_SLOTS}, slotBytes 1..${LINK_RING_MAX_SLOT_BYTES} and framePhase 0..7, got ${slots}, ${slotBytes} and ${framePhase}`,
      );
    }
    const buffer = new SharedArrayBuffer(linkRingBytes(slots, slotBytes, framePhase));
    const dv = new DataView(buffer);
    dv.setUint32(LinkRingOffset.magic, LINK_RING_MAGIC, true);
    dv.setUint32(LinkRingOffset.version, LINK_RING_VERSION, true);
    dv.setUint32(LinkRingOffset.slots, slots, true);
    dv.setUint32(LinkRingOffset.slotBytes, slotBytes, true);
    dv.setUint32(LinkRingOffset.slotStride, linkRingSlotStride(slotBytes, framePhase), true);
    dv.setUint32(LinkRingOffset.framePhase, framePhase, true);
    return new LinkRing(buffer, slots, slotBytes, framePhase);
  }

  /**
   * Attach to a ring created elsewhere (another worker), validating its header.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const r = LinkRing.attach(LinkRing.create(4, 64).buffer);
   * if (r.ok) r.value.slots; // 4
   * ```
   */
  static attach(buffer: SharedArrayBuffer): Result<LinkRing, LinkRingError> {
    if (buffer.byteLength < LinkRingOffset.slotsStart) {
      return err({ kind: "bad-geometry", slots: 0, slotBytes: 0, byteLength: buffer.byteLength });
    }
    const dv = new DataView(buffer);
    const magic = dv.getUint32(LinkRingOffset.magic, true);
    if (magic !== LINK_RING_MAGIC) return err({ kind: "bad-magic", magic });
    const version = dv.getUint32(LinkRingOffset.version, true);
    if (version !== LINK_RING_VERSION) return err({ kind: "bad-version", version });
    const slots = dv.getUint32(LinkRingOffset.slots, true);
    const slotBytes = dv.getUint32(LinkRingOffset.slotBytes, true);
    const stride = dv.getUint32(LinkRingOffset.slotStride, true);
    const phase = dv.getUint32(LinkRingOffset.framePhase, true);
    if (
      !isLinkRingGeometry(slots, slotBytes, phase) ||
      stride !== linkRingSlotStride(slotBytes, phase) ||
      buffer.byteLength !== linkRingBytes(slots, slotBytes, phase)
    ) {
      return err({ kind: "bad-geometry", slots, slotBytes, byteLength: buffer.byteLength });
    }
    return ok(new LinkRing(buffer, slots, slotBytes, phase));
  }

  // ---------------------------------------------------------------- producer side

  /**
   * The view of `len` bytes of frame in slot `slot`, cached per slot: a steady stream of
   * equal-sized frames allocates no view per frame.
   */
  #view(slot: number, len: number): Uint8Array {
    let v = this.#views[slot];
    if (v === undefined || v.length !== len) {
      const at = this.#frameAt + slot * this.#stride;
      v = this.#u8.subarray(at, at + len);
      this.#views[slot] = v;
    }
    return v;
  }

  /**
   * A view of `maxLen` bytes in the next free slot, or null when the ring is full or `maxLen`
   * exceeds `slotBytes`. Write the frame, then `commit(len)`. Counts nothing: a caller that
   * gives up calls `dropped(len)`.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * const view = ring.reserve(3);
   * if (view) { view.set([1, 2, 3]); ring.commit(3); ring.publish(); }
   * ```
   */
  reserve(maxLen: number): Uint8Array | null {
    if (!(maxLen >= 0 && maxLen <= this.slotBytes)) return null;
    if (((this.#head - this.#cachedTail) >>> 0) >= this.slots) {
      // observe tail: pairs with publish tail in finishConsume (the consumer is done with
      // the slots before it)
      this.#cachedTail = Atomics.load(this.#i32, TAIL) >>> 0;
      if (((this.#head - this.#cachedTail) >>> 0) >= this.slots) return null;
    }
    this.#reserved = maxLen;
    return this.#view(this.#head & this.#mask, maxLen);
  }

  /**
   * Free slots the producer can fill now (at least `want` when it returns `want` or more): a
   * producer that must put several frames in at once (a vsock packet split across slots) checks
   * first. Producer side only.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * LinkRing.create(4, 64).freeSlots(2); // 4
   * ```
   */
  freeSlots(want: number): number {
    let free = this.slots - ((this.#head - this.#cachedTail) >>> 0);
    if (free < want) {
      // observe tail: pairs with publish tail in finishConsume (as in reserve)
      this.#cachedTail = Atomics.load(this.#i32, TAIL) >>> 0;
      free = this.slots - ((this.#head - this.#cachedTail) >>> 0);
    }
    return free;
  }

  /**
   * Write the length of the reserved slot's frame and its `meta` word (what the link's kind
   * says it means; 0 for nothing) and advance the private head. Does not publish: batch many
   * commits under one `publish()`.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.reserve(10)?.fill(7);
   * ring.commit(10);
   * ```
   */
  commit(len: number, meta = 0): void {
    if (this.#reserved < 0 || !(len >= 0 && len <= this.#reserved)) {
      throw new RangeError(`Cannot commit ${len} bytes: reserved ${this.#reserved}`);
    }
    const at = LinkRingOffset.slotsStart + (this.#head & this.#mask) * this.#stride;
    // payload, length and meta: plain writes, made visible by the publish of head
    this.#i32[at >> 2] = len;
    this.#i32[(at >> 2) + 1] = meta;
    this.#head = (this.#head + 1) >>> 0;
    this.#reserved = -1;
    this.#f64[P_FRAMES_IN]++;
    this.#f64[P_BYTES_IN] += len;
  }

  /**
   * Reserve, copy and commit `frame` (with `meta`); when the ring is full (or the frame too big)
   * count a drop and return false.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(1, 64);
   * ring.push(new Uint8Array(8)); // true
   * ring.push(new Uint8Array(8)); // false: full, counted in framesDropped
   * ```
   */
  push(frame: Uint8Array, meta = 0): boolean {
    const view = this.reserve(frame.length);
    if (view === null) {
      this.dropped(frame.length);
      return false;
    }
    view.set(frame);
    this.commit(frame.length, meta);
    return true;
  }

  /**
   * Count a frame the producer gave up on (ring full).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(1, 64);
   * ring.dropped(60);
   * ring.counters().framesDropped; // 1
   * ```
   */
  dropped(len: number): void {
    this.#f64[P_FRAMES_DROPPED]++;
    this.#f64[P_BYTES_DROPPED] += len;
  }

  /**
   * Publish every committed frame to the consumer. Returns true when the consumer was waiting:
   * the caller must then ring the consumer's doorbell (`Atomics.add` + `Atomics.notify`).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.push(new Uint8Array(4));
   * if (ring.publish()) {
   *   // Atomics.add(doorbell, 0, 1); Atomics.notify(doorbell, 0);
   * }
   * ```
   */
  publish(): boolean {
    // publish head (P1): pairs with observe head in peek and in prepareToWait (C2)
    Atomics.store(this.#i32, HEAD, this.#head | 0);
    this.#f64[P_PUBLISHES]++;
    // observe waiting (P2): pairs with publish waiting in prepareToWait (C1). The exchange
    // clears the flag so that one sleep costs at most one doorbell.
    if (Atomics.load(this.#i32, WAITING) !== 0 && Atomics.exchange(this.#i32, WAITING, 0) !== 0) {
      this.#f64[P_WAKEUPS]++;
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- consumer side

  /**
   * A view of the oldest published frame, or null when the ring is empty. The view stays valid
   * until `release()`. A slot whose length exceeds `slotBytes` (a corrupt peer) is skipped and
   * counted in `badFrames`.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.peek(); // null
   * ```
   */
  peek(): Uint8Array | null {
    for (let skipped = 0; skipped <= this.slots; skipped++) {
      if (this.#tail === this.#cachedHead) {
        // observe head: pairs with publish head in publish (P1); the frames before it are
        // fully written
        const head = Atomics.load(this.#i32, HEAD) >>> 0;
        if (this.#tail === head) return null;
        if (((head - this.#tail) >>> 0) > this.slots) {
          // a head more than a ring ahead: the producer is broken; see nothing
          this.#f64[C_BAD_FRAMES]++;
          return null;
        }
        // After the load that revealed them: frames published after a control message was
        // posted to the consumer wait until it has read it (`control_gate.ts`).
        if (this.gate !== null && this.gate.pending()) return null;
        this.#cachedHead = head;
      }
      const at = LinkRingOffset.slotsStart + (this.#tail & this.#mask) * this.#stride;
      const len = this.#i32[at >> 2] >>> 0;
      if (len <= this.slotBytes) return this.#view(this.#tail & this.#mask, len);
      this.#f64[C_BAD_FRAMES]++;
      this.#tail = (this.#tail + 1) >>> 0;
    }
    return null;
  }

  /**
   * The meta word of the frame `peek` last returned (call before `release`).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.push(new Uint8Array(4), 7);
   * ring.publish();
   * if (ring.peek()) ring.peekedMeta(); // 7
   * ```
   */
  peekedMeta(): number {
    const at = LinkRingOffset.slotsStart + (this.#tail & this.#mask) * this.#stride;
    return this.#i32[(at >> 2) + 1] >>> 0;
  }

  /**
   * The frame `peek` returned was changed in place so that it needs its meta word no more (its
   * partial checksum completed by a receiving device): set that word to 0. A consumer that
   * reads the frame again (the successor of one that died before `finishConsume`) then takes
   * it as it is, instead of completing the checksum a second time over the first.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.push(new Uint8Array(4), 7);
   * ring.publish();
   * if (ring.peek()) ring.settlePeekedMeta();
   * ring.peekedMeta(); // 0
   * ```
   */
  settlePeekedMeta(): void {
    if (this.#tail === this.#cachedHead) return;
    const at = LinkRingOffset.slotsStart + (this.#tail & this.#mask) * this.#stride;
    this.#i32[(at >> 2) + 1] = 0;
  }

  /**
   * Consume the frame `peek` returned (advance the private tail; counted in `framesOut` at
   * `finishConsume`, with the tail it publishes: a consumer that dies before that, a device
   * worker crashing mid-pass, leaves the frame to its successor, which counts it once).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.push(new Uint8Array(4));
   * ring.publish();
   * const f = ring.peek();
   * if (f) ring.release();
   * ```
   */
  release(): void {
    if (this.#tail === this.#cachedHead) return;
    const at = LinkRingOffset.slotsStart + (this.#tail & this.#mask) * this.#stride;
    this.#releasedFrames++;
    this.#releasedBytes += this.#i32[at >> 2] >>> 0;
    this.#tail = (this.#tail + 1) >>> 0;
  }

  /**
   * Count `n` released frames as discarded by the consumer because its link was down (a switch
   * forwards nothing that arrives on a port whose link is down); they stay counted in
   * `framesOut`, as a NIC's `link down` drops on receive do.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.countLinkDown(2);
   * ring.counters().linkDownDropped; // 2
   * ```
   */
  countLinkDown(n: number): void {
    this.#f64[C_LINK_DOWN] += n;
  }

  /**
   * Return the released slots to the producer (one atomic store for the batch).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.finishConsume();
   * ```
   */
  finishConsume(): void {
    if (this.#releasedFrames > 0) {
      this.#f64[C_FRAMES_OUT] += this.#releasedFrames;
      this.#f64[C_BYTES_OUT] += this.#releasedBytes;
      this.#releasedFrames = 0;
      this.#releasedBytes = 0;
    }
    // publish tail: pairs with observe tail in reserve (the producer may now overwrite them)
    // and in prepareToWaitForSpace (R2)
    Atomics.store(this.#i32, TAIL, this.#tail | 0);
  }

  /**
   * Consumer side, after `finishConsume` (or `prepareToWait`): true once if the producer waits
   * for space (it set the flag in `prepareToWaitForSpace`); the caller rings its doorbell.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.takeProducerWakeup(); // false: nobody waits
   * ```
   */
  takeProducerWakeup(): boolean {
    // observe producer waiting (R3): pairs with publish producer waiting (R1). The exchange
    // clears it, so one wait costs at most one doorbell.
    return Atomics.load(this.#i32, P_WAITING) !== 0 &&
      Atomics.exchange(this.#i32, P_WAITING, 0) !== 0;
  }

  /**
   * Producer side, when `reserve` found the ring full and the producer is about to sleep:
   * announce it, then re-check. True if the ring is still full (sleep: the consumer will ring
   * after it frees a slot); false if space appeared meanwhile (go on, flag cleared).
   *
   * Lost-wakeup freedom, as for the consumer: R1 store waiting, R2 load tail (producer); store
   * tail, R3 load waiting (consumer); all sequentially consistent.
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * ring.prepareToWaitForSpace(); // false: the ring has room
   * ```
   */
  prepareToWaitForSpace(): boolean {
    // publish producer waiting (R1): pairs with observe producer waiting in takeProducerWakeup (R3)
    Atomics.store(this.#i32, P_WAITING, 1);
    // observe tail (R2): pairs with publish tail in finishConsume
    this.#cachedTail = Atomics.load(this.#i32, TAIL) >>> 0;
    if (((this.#head - this.#cachedTail) >>> 0) < this.slots) {
      Atomics.store(this.#i32, P_WAITING, 0);
      return false;
    }
    return true;
  }

  /**
   * Announce that the consumer is about to sleep, then re-check for frames. Returns false when
   * frames arrived (do not sleep; the flag is cleared). Read the doorbell counter *before*
   * calling this and sleep with `Atomics.wait(bell, 0, seen)` (see the module comment).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * const ring = LinkRing.create(4, 64);
   * const bell = new Int32Array(new SharedArrayBuffer(4));
   * const seen = Atomics.load(bell, 0);
   * if (ring.prepareToWait()) {
   *   // await Atomics.waitAsync(bell, 0, seen, 50).value;
   * }
   * ```
   */
  prepareToWait(): boolean {
    this.finishConsume();
    // publish waiting (C1): pairs with observe waiting in publish (P2)
    Atomics.store(this.#i32, WAITING, 1);
    // observe head (C2): pairs with publish head in publish (P1). Not kept as the cached head:
    // frames are taken only after `peek`'s own load, which asks the gate.
    if ((Atomics.load(this.#i32, HEAD) >>> 0) !== this.#tail) {
      Atomics.store(this.#i32, WAITING, 0);
      return false;
    }
    return true;
  }

  /**
   * Frames published and not yet released by this consumer handle (a snapshot).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * LinkRing.create(4, 64).pending(); // 0
   * ```
   */
  pending(): number {
    return (Atomics.load(this.#i32, HEAD) - this.#tail) >>> 0;
  }

  /**
   * The ring's counters (readable from any thread holding the buffer).
   *
   * @example
   * ```ts
   * import { LinkRing } from "./link_ring.ts";
   * LinkRing.create(4, 64).counters().framesIn; // 0
   * ```
   */
  counters(): LinkRingCounters {
    const f = this.#f64;
    return {
      framesIn: f[P_FRAMES_IN],
      bytesIn: f[P_BYTES_IN],
      framesDropped: f[P_FRAMES_DROPPED],
      bytesDropped: f[P_BYTES_DROPPED],
      publishes: f[P_PUBLISHES],
      wakeups: f[P_WAKEUPS],
      framesOut: f[C_FRAMES_OUT],
      bytesOut: f[C_BYTES_OUT],
      badFrames: f[C_BAD_FRAMES],
      linkDownDropped: f[C_LINK_DOWN],
    };
  }
}
