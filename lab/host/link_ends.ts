/**
 * The two ends of a directed link ring as a worker holds them: {@linkcode LinkOut} (the
 * producer, with the direction's impairment stage) and {@linkcode LinkIn} (the consumer, with
 * the direction's capture tap). Device workers and switch workers use both.
 *
 * @module
 */

import type { FrameSink } from "../../devices/net/device.ts";
import { Prng } from "../../devices/base/prng.ts";
import type { ControlGate } from "../wire/control_gate.ts";
import { ringDoorbell } from "../wire/doorbell.ts";
import type { WorkerRing } from "../wire/messages.ts";
import { type Impairment, ImpairStage, isPassthrough, type MetaSettler } from "./impair.ts";
import { macNumber, type PartitionFilter } from "../wire/partition.ts";
import { LinkRing } from "./link_ring.ts";
import { TapWriter } from "./tap.ts";

/**
 * What a producer does when the link ring is full: a NIC's device holds the frame in its
 * transmitq and waits for room (back-pressure, as QEMU's virtio-net stops reading the TX queue
 * when its peer cannot take more); a switch drops it and counts it (one slow port must not stall
 * the others).
 */
export type FullRingPolicy = "backpressure" | "drop";

/**
 * The producer end of a link direction: its ring, impairment stage, the worker's partition
 * filter, the link's state and the thread to wake. Without an impairment (and with nothing held
 * by the stage) a frame goes straight into the ring: the stage is bypassed. While the link is
 * down ({@linkcode LinkOut.setLinkUp}) nothing goes into the ring: what the stage held when it
 * went down is dropped (Linux resets a device's qdisc when the device goes down, which purges
 * what netem holds) and so is every frame committed meanwhile, each counted in `linkDownDropped`.
 */
export class LinkOut implements FrameSink {
  readonly ring: LinkRing;
  /** Index of the ring in the plan (live changes name it). */
  readonly ringIndex: number;
  readonly consumerThread: number;
  readonly policy: FullRingPolicy;
  /** True while a frame waits for room in the ring (back-pressure). */
  blocked = false;
  /** Frames not sent because a partition cuts them. */
  partitionDropped = 0;
  /**
   * Frames not sent because the link was down: held by the stage when it went down, or
   * committed while it was down.
   */
  linkDownDropped = 0;
  #stage: ImpairStage | null = null;
  #bypass = true;
  #up = true;
  readonly #seed: number;
  readonly #partition: PartitionFilter | null;
  readonly #consumerMac: number;
  #scratch: Uint8Array;
  #reserved: Uint8Array | null = null;
  #bells: Int32Array;
  #pending = false;
  readonly #reorderOnChange: boolean;
  readonly #settle: MetaSettler | null;
  readonly #gate: ControlGate | null;

  /**
   * @param spec the ring as the plan gives it
   * @param bells the lab's doorbells
   * @param policy what a full ring means
   * @param partition the worker's partition filter (shared by its producers), if any
   * @param settle what the impairment stage does to a frame's meta word before it corrupts the
   *   frame (Ethernet links: `settleChecksum`); null keeps the word
   * @param reorderOnChange netem's order after a live change (Ethernet links): frames sent after
   *   a change to knobs without a rate, or after a clear, do not wait behind the frames the stage
   *   held under the earlier knobs (which keep their due times); false keeps every frame in the
   *   order sent (a vsock link: a stream must not be reordered)
   * @param gate the producing worker's control gate: {@linkcode LinkOut.held} answers from it
   */
  constructor(
    spec: WorkerRing,
    bells: Int32Array,
    policy: FullRingPolicy,
    partition: PartitionFilter | null = null,
    settle: MetaSettler | null = null,
    reorderOnChange = false,
    gate: ControlGate | null = null,
  ) {
    const attached = LinkRing.attach(spec.buffer);
    if (!attached.ok) throw new Error(`Cannot attach link ring ${spec.label}`);
    this.ring = attached.value;
    this.ringIndex = spec.index;
    this.#seed = spec.seed;
    this.#partition = partition;
    this.#consumerMac = macNumber(spec.consumerMac);
    this.consumerThread = spec.consumerThread;
    this.policy = policy;
    this.#bells = bells;
    this.#settle = settle;
    this.#reorderOnChange = reorderOnChange;
    this.#gate = gate;
    this.#scratch = new Uint8Array(this.ring.slotBytes);
    this.setImpairment(spec.impair);
  }

  /** The impairment stage, once the direction has been impaired (null before). */
  get stage(): ImpairStage | null {
    return this.#stage;
  }

  /**
   * Change the direction's impairment (netem's `change`): frames the stage holds keep their due
   * times; the stage is made on the first impairment and bypassed again once it is off and
   * empty, or at once with `reorderOnChange` (new frames go straight into the ring, ahead of the
   * held ones, which still leave at their due times). Throws on invalid knobs, like
   * {@linkcode ImpairStage}.
   */
  setImpairment(imp: Impairment): void {
    if (this.#stage) this.#stage.setImpairment(imp);
    else if (!isPassthrough(imp)) {
      this.#stage = new ImpairStage(
        imp,
        Prng.fromSeed(this.#seed),
        this.#settle,
        this.#reorderOnChange,
      );
    }
    this.#updateBypass();
  }

  /** The link's state as this end knows it (up until told otherwise). */
  get up(): boolean {
    return this.#up;
  }

  /**
   * Bring the link down or up at this end. Going down drops every frame the stage holds (counted
   * in `linkDownDropped`), so that nothing sent before the down leaves after it, even if the link
   * is up again before the frame was due; while down, `reserve` hands out a scratch buffer and
   * `commit` drops the frame and counts it (a producer that knows the link is down should not
   * offer frames: a NIC completes them as `link down` itself). The stage's knobs, counters and
   * random state carry on.
   */
  setLinkUp(up: boolean): void {
    if (up === this.#up) return;
    this.#up = up;
    if (!up && this.#stage) this.linkDownDropped += this.#stage.purge();
    this.blocked = false; // nothing waits for room now
    this.#updateBypass();
  }

  #updateBypass(): void {
    const s = this.#stage;
    // Down: never bypassed, so that `commit` takes the (cold) path that drops the frame.
    this.#bypass = this.#up &&
      (s === null || (s.passthrough && (s.held === 0 || this.#reorderOnChange)));
  }

  /** True when the stage holds frames to release (also while new frames bypass it). */
  #stageHolds(): boolean {
    return this.#stage !== null && (!this.#bypass || this.#stage.held > 0);
  }

  /**
   * FrameSink: room in the ring (or the impairment stage's scratch buffer). Null when the ring
   * is full and the policy is back-pressure: the device keeps the frame in its transmitq.
   */
  reserve(maxLen: number): Uint8Array | null {
    if (!this.#bypass) return this.#scratch.subarray(0, Math.min(maxLen, this.#scratch.length));
    const slot = this.ring.reserve(maxLen);
    this.#reserved = slot;
    if (slot !== null) {
      this.blocked = false;
      return slot;
    }
    if (this.policy === "backpressure") {
      this.blocked = true;
      return null;
    }
    // Drop policy: hand out the scratch buffer; commit counts the drop.
    return this.#scratch.subarray(0, Math.min(maxLen, this.#scratch.length));
  }

  /**
   * Whether `frames` frames can be reserved and committed one after the other now, without a
   * drop: room in the ring (a full ring sets `blocked`), or, behind an impairment stage, room
   * under its `limit`. Always true under the drop policy, and while the link is down (`commit`
   * drops and counts).
   */
  hasRoom(frames: number): boolean {
    if (this.policy !== "backpressure" || !this.#up) return true;
    if (!this.#bypass) {
      // The stage holds at most `limit` frames and drops beyond (netem): wait instead; it
      // releases frames at their due times (`nextDueMs`), which wakes the producer.
      const s = this.#stage!;
      return s.held + frames <= s.impairment.limit;
    }
    if (this.ring.freeSlots(frames) >= frames) return true;
    this.blocked = true;
    return false;
  }

  /**
   * FrameSink: whether frames revealed from now on must wait, because a control message posted
   * to the producing worker (its link state, impairment or partitions) is not read yet.
   */
  held(): boolean {
    return this.#gate !== null && this.#gate.pending();
  }

  /** FrameSink: send the reserved frame, with its slot's meta word (dropped while down). */
  commit(len: number, meta = 0): void {
    const p = this.#partition;
    if (!this.#bypass) {
      const frame = this.#scratch.subarray(0, len);
      if (!this.#up) this.linkDownDropped++;
      else if (p?.active && p.cuts(frame, this.#consumerMac)) this.partitionDropped++;
      else this.#stage!.offer(frame, nowUs(), meta);
    } else if (this.#reserved) {
      if (p?.active && p.cuts(this.#reserved.subarray(0, len), this.#consumerMac)) {
        this.partitionDropped++; // the slot stays unused: the next reserve returns it again
        this.#reserved = null;
        return;
      }
      this.ring.commit(len, meta);
      this.#reserved = null;
      this.#pending = true;
    } else {
      this.ring.dropped(len); // the ring was full: counted in the ring's framesDropped
    }
  }

  /** Release due frames of the impairment stage and publish; wake the consumer if it sleeps. */
  flush(): void {
    const stage = this.#stage;
    if (this.#up && stage !== null && this.#stageHolds()) {
      // While new frames bypass the stage, `blocked` is theirs (a full ring): keep it.
      if (!this.#bypass) this.blocked = false;
      stage.drain(nowUs(), (frame, meta) => {
        const slot = this.ring.reserve(frame.length);
        if (slot === null) {
          if (this.policy === "backpressure") {
            this.blocked = true; // the stage keeps the frame (up to its limit)
            return false;
          }
          this.ring.dropped(frame.length);
          return true; // dropped: keep draining
        }
        slot.set(frame);
        this.ring.commit(frame.length, meta);
        this.#pending = true;
        return true;
      });
      this.#updateBypass();
    }
    if (!this.#pending) return;
    this.#pending = false;
    if (this.ring.publish()) ringDoorbell(this.#bells, this.consumerThread);
  }

  /**
   * Before sleeping: if blocked, ask the consumer to ring when it frees a slot. True if the
   * producer may sleep (not blocked, or still full); false if room appeared meanwhile.
   */
  prepareSleep(): boolean {
    return !this.blocked || this.ring.prepareToWaitForSpace();
  }

  /** Milliseconds until the stage next has a frame due (Infinity while blocked: a ring wakes us). */
  nextDueMs(): number {
    if (!this.#stageHolds() || this.blocked || !this.#up) return Infinity;
    const due = this.#stage!.nextDueUs();
    return due === Infinity ? Infinity : Math.max(0, (due - nowUs()) / 1000);
  }
}

/** The consumer end of a link direction, with its tap. */
export class LinkIn {
  readonly ring: LinkRing;
  readonly tap: TapWriter;
  readonly producerThread: number;
  #bells: Int32Array;
  /**
   * @param spec the ring as the plan gives it
   * @param bells the lab's doorbells
   * @param gate the consuming worker's control gate: frames published after a control message
   *   was posted to it wait in the ring until it has read it (`LinkRing.gate`)
   */
  constructor(spec: WorkerRing, bells: Int32Array, gate: ControlGate | null = null) {
    this.producerThread = spec.producerThread;
    this.#bells = bells;
    const attached = LinkRing.attach(spec.buffer);
    if (!attached.ok) throw new Error(`Cannot attach link ring ${spec.label}`);
    this.ring = attached.value;
    this.ring.gate = gate;
    const tap = TapWriter.attach(spec.tap);
    if (!tap.ok) throw new Error(`Cannot attach the tap of link ring ${spec.label}`);
    this.tap = tap.value;
  }

  /**
   * Discard up to `max` frames waiting in the ring, counted as `link down` in the ring's
   * `linkDownDropped` (the consumer's link is down: what was in flight is not delivered), and
   * return the slots. Returns how many.
   */
  discardLinkDown(max: number): number {
    let n = 0;
    while (n < max && this.ring.peek() !== null) {
      this.ring.release();
      n++;
    }
    if (n > 0) {
      this.ring.countLinkDown(n);
      this.finish();
    }
    return n;
  }

  /** Publish what was consumed, and the tap's records staged with it; wake a waiting producer. */
  finish(): void {
    this.tap.publish();
    this.ring.finishConsume();
    if (this.ring.takeProducerWakeup()) ringDoorbell(this.#bells, this.producerThread);
  }

  /** Before sleeping: true if the ring is empty (sleep); wakes a producer waiting for room. */
  prepareSleep(): boolean {
    this.tap.publish();
    const empty = this.ring.prepareToWait();
    if (this.ring.takeProducerWakeup()) ringDoorbell(this.#bells, this.producerThread);
    return empty;
  }
}

/** Wall-clock microseconds (the same clock in every worker, for impairments and pcap). */
export function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}
