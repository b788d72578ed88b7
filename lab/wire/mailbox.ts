/**
 * The register mailbox: how a guest driver's access to a trapped virtio-mmio register reaches
 * the device worker (the simulated MMIO exit), and how the answer comes back.
 *
 * The mailbox is a FIFO of {@linkcode MAILBOX_FIFO_ENTRIES} requests in shared memory, served
 * strictly in order. Writes are **posted**, as PCIe memory writes and Arm Device-nGnRE stores
 * are: the guest ({@linkcode MailboxPort}, a `RegisterPort`) fills the next entry (operation,
 * offset, value, width), publishes its sequence number in `REQ`, rings the device worker's
 * doorbell and goes on. A read is non-posted: it is queued behind the earlier writes and waits
 * until `ACK` reaches its sequence number, so it observes the effect of every earlier write (a
 * read is the driver's flush, as Linux reads Status back after writing 0). The device side
 * ({@linkcode serveMailbox}) performs every queued request per call, stores each read's result
 * in its entry and publishes `ACK` after each one, then notifies the waiter. A driver's bring-up
 * thus pays a round trip per read (11 for a two-queue NIC) instead of one per access (38).
 *
 * Errors: a write to a device worker that is gone or hung does not fail at the write. It fails
 * at the next read ({@linkcode MailboxTimeout}, when `ACK` has not moved for the port's timeout),
 * or at the write itself when the FIFO is full (the writer waits for a free entry, as a
 * posted-write buffer back-pressures, and times out the same way). A device worker that has not
 * started yet (still loading its modules, which can take seconds on a loaded machine) is waited
 * for. A request that timed out stays queued: a restarted device worker resumes the FIFO at
 * `ACK + 1`, so no published write is lost. A device worker that dies after performing a request
 * but before publishing its `ACK` leaves that one request to be performed again by its
 * successor (at most one, since `ACK` is published after each request; the single-slot mailbox
 * had the same window): register writes are idempotent, except that a second reset is a no-op.
 *
 * The guest waits for a read's answer the way a vCPU waits on an MMIO exit: while the device
 * worker runs, first in blocking `Atomics.wait` slices for at most {@linkcode MAILBOX_BLOCK_MS}
 * (a device worker's answer wakes it 1.5 to 4.5 times sooner than `Atomics.waitAsync` would),
 * then on its event loop.
 *
 * A result stays in its entry until the guest has collected it: an entry is reused only after
 * the port has taken the answers up to it (`#reap`, synchronously after it observes `ACK`).
 *
 * @module
 */

import {
  MAILBOX_ENTRY_WORDS,
  MAILBOX_FIFO_ENTRIES,
  MailboxEntryWord,
  MailboxWord,
} from "./control.ts";
import { DoorbellWord, readDoorbellWord, ringDoorbell, ThreadState } from "./doorbell.ts";

/** The register operations of a mailbox. */
export const MailboxOp = { READ: 0, WRITE: 1 } as const;

/** Longest blocking wait for a running device worker's answer to a read, ms (then async). */
export const MAILBOX_BLOCK_MS = 2;

/** Why a register access did not complete. */
export class MailboxTimeout extends Error {
  /** @param offset the register that did not answer */
  constructor(readonly offset: number) {
    super(`Register access at 0x${offset.toString(16)} got no answer from the device worker`);
  }
}

/** The first word of the FIFO entry of request `seq`. */
function entryAt(seq: number): number {
  return MailboxWord.FIFO + (seq & (MAILBOX_FIFO_ENTRIES - 1)) * MAILBOX_ENTRY_WORDS;
}

/** A published read waiting for its answer. */
interface PendingRead {
  seq: number;
  offset: number;
  resolve: (value: number) => void;
  reject: (error: unknown) => void;
}

/** An access waiting for a free FIFO entry (the FIFO was full). */
interface HeldAccess {
  op: number;
  offset: number;
  value: number;
  size: number;
  resolve: (value: number) => void;
  reject: (error: unknown) => void;
}

/**
 * What a port publishes its accesses and collects its answers through, when given: the guest's
 * fence (`lab/wire/fence.ts`). `enter` false: the guest that asks is gone, publish nothing and
 * answer nothing.
 */
export interface AccessFence {
  /** Start a section; false when the guest's generation ended. */
  enter(): boolean;
  /** End the section `enter` started. */
  exit(): void;
}

/**
 * The guest side of a mailbox.
 *
 * @example
 * ```ts
 * import { MailboxPort } from "./mailbox.ts";
 * import { createDoorbells } from "./doorbell.ts";
 * import { MAILBOX_WORDS } from "./control.ts";
 * const mailbox = new Int32Array(new SharedArrayBuffer(MAILBOX_WORDS * 4));
 * const port = new MailboxPort(mailbox, createDoorbells(2), 1);
 * // port.write(0x070, 1) is posted; await port.read(0x000) answers once a device worker serves
 * ```
 */
export class MailboxPort {
  #mailbox: Int32Array;
  #bells: Int32Array;
  #deviceThread: number;
  #timeoutMs: number;
  /** The latest sequence number whose answer the port has collected. */
  #reaped: number;
  /** Published reads, in sequence order. */
  #reads: PendingRead[] = [];
  /** Accesses waiting for a free entry, in program order. */
  #held: HeldAccess[] = [];
  /** The wait loop runs. */
  #waiting = false;
  /** Blocking waits are allowed until then (set when a read is published). */
  #blockUntil = 0;
  #answeredBlocking = 0;
  #reads_ = 0;
  #writes = 0;
  readonly #fence: AccessFence | null;

  /**
   * @param mailbox the mailbox words of one device
   * @param bells the lab's doorbells
   * @param deviceThread the device worker's thread index
   * @param timeoutMs how long a read (or a write into a full FIFO) may wait without the device
   * worker performing any request before it fails
   * @param fence the guest's fence: an access is published as its section, and one of a guest
   * whose generation ended is not published at all, nor ever completes
   */
  constructor(
    mailbox: Int32Array,
    bells: Int32Array,
    deviceThread: number,
    timeoutMs = 5000,
    fence: AccessFence | null = null,
  ) {
    this.#mailbox = mailbox;
    this.#bells = bells;
    this.#deviceThread = deviceThread;
    this.#timeoutMs = timeoutMs;
    this.#fence = fence;
    this.#reaped = Atomics.load(mailbox, MailboxWord.ACK);
  }

  /** Answers that ended a blocking wait (the fast path), cumulative. */
  get answeredBlocking(): number {
    return this.#answeredBlocking;
  }

  /** Reads issued, cumulative (each waits for its answer; reads issued together share one). */
  get reads(): number {
    return this.#reads_;
  }

  /** Writes issued, cumulative (posted: none waits for the device worker). */
  get writes(): number {
    return this.#writes;
  }

  /** Accesses queued in the FIFO or waiting for room in it (0 when the mailbox is idle). */
  get pending(): number {
    const m = this.#mailbox;
    const queued = (Atomics.load(m, MailboxWord.REQ) - Atomics.load(m, MailboxWord.ACK)) | 0;
    return Math.max(0, queued) + this.#held.length;
  }

  /**
   * Read a register: queued behind every earlier access, it answers once the device worker has
   * performed them all and then the read.
   */
  read(offset: number, size: 1 | 2 | 4 = 4): Promise<number> {
    this.#reads_++;
    return new Promise<number>((resolve, reject) => {
      this.#submit({ op: MailboxOp.READ, offset, value: 0, size, resolve, reject });
    });
  }

  /**
   * Write a register (posted): it resolves once the write is queued, before the device worker
   * performs it. A later read observes its effect. It rejects with `MailboxTimeout` only when
   * the FIFO stayed full for the timeout.
   */
  write(offset: number, value: number, size: 1 | 2 | 4 = 4): Promise<void> {
    this.#writes++;
    this.#reap();
    if (this.#held.length === 0 && this.#room() > 0) {
      // A crashed guest's write never completes (`#start`).
      if (this.#publish(MailboxOp.WRITE, offset, value, size) === null) {
        return new Promise(() => {});
      }
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#held.push({
        op: MailboxOp.WRITE,
        offset,
        value,
        size,
        resolve: () => resolve(),
        reject,
      });
      this.#wait();
    });
  }

  #submit(a: HeldAccess): void {
    this.#reap();
    if (this.#held.length === 0 && this.#room() > 0) this.#start(a);
    else this.#held.push(a);
    this.#wait();
  }

  /** Free FIFO entries: those whose answers the port has collected. */
  #room(): number {
    const used = (Atomics.load(this.#mailbox, MailboxWord.REQ) - this.#reaped) | 0;
    return MAILBOX_FIFO_ENTRIES - used;
  }

  /**
   * Publish `a` (there is room): a write is done, a read waits for its answer. Neither completes
   * when the guest's generation ended (a dead CPU's access never does): the flow that asked
   * (a reset, a bring-up) goes no further, and writes no ring after it.
   */
  #start(a: HeldAccess): void {
    const seq = this.#publish(a.op, a.offset, a.value, a.size);
    if (seq === null) return;
    if (a.op === MailboxOp.WRITE) {
      a.resolve(0);
      return;
    }
    this.#reads.push({ seq, offset: a.offset, resolve: a.resolve, reject: a.reject });
    this.#blockUntil = performance.now() + MAILBOX_BLOCK_MS;
  }

  /** Publish one access: its sequence number, or null when the fence refused it. */
  #publish(op: number, offset: number, value: number, size: number): number | null {
    const fence = this.#fence;
    if (fence === null) return this.#publishNow(op, offset, value, size);
    if (!fence.enter()) return null;
    try {
      return this.#publishNow(op, offset, value, size);
    } finally {
      fence.exit();
    }
  }

  #publishNow(op: number, offset: number, value: number, size: number): number {
    const m = this.#mailbox;
    const seq = (Atomics.load(m, MailboxWord.REQ) + 1) | 0;
    const at = entryAt(seq);
    m[at + MailboxEntryWord.OP] = op;
    m[at + MailboxEntryWord.OFFSET] = offset;
    m[at + MailboxEntryWord.VALUE] = value | 0;
    m[at + MailboxEntryWord.SIZE] = size;
    // Publish the request: pairs with the device's observe of REQ in serveMailbox.
    Atomics.store(m, MailboxWord.REQ, seq);
    ringDoorbell(this.#bells, this.#deviceThread);
    return seq;
  }

  /**
   * Collect the answers the device has published: resolve every read up to `ACK` with the
   * result in its entry, then mark their entries free. Synchronous, so that no entry is reused
   * between observing `ACK` and taking a result.
   */
  #reap(): number {
    const fence = this.#fence;
    if (fence === null) return this.#reapNow();
    // A crashed guest's reads are never answered: its flow (a reset, a bring-up) goes no further
    // (the reboot moves ACK up to REQ: what it would read there no device wrote).
    if (!fence.enter()) {
      this.#reads.length = 0;
      this.#held.length = 0;
      return 0;
    }
    try {
      return this.#reapNow();
    } finally {
      fence.exit();
    }
  }

  #reapNow(): number {
    const m = this.#mailbox;
    // Observe the answers: pairs with the publish of ACK in serveMailbox.
    const ack = Atomics.load(m, MailboxWord.ACK);
    let answered = 0;
    while (this.#reads.length > 0 && ((ack - this.#reads[0].seq) | 0) >= 0) {
      const r = this.#reads.shift()!;
      r.resolve(m[entryAt(r.seq) + MailboxEntryWord.VALUE] >>> 0);
      answered++;
    }
    this.#reaped = ack;
    // Entries freed: accesses that waited for room go out, in order.
    while (this.#held.length > 0 && this.#room() > 0) this.#start(this.#held.shift()!);
    return answered;
  }

  /**
   * Run the wait loop unless it runs already. It starts after the current task's synchronous
   * part, so that accesses issued together (`Promise.all([port.read(a), port.read(b)])`) are
   * all queued before the guest blocks for the first answer: one round trip for the batch.
   */
  #wait(): void {
    if (this.#waiting || (this.#reads.length === 0 && this.#held.length === 0)) return;
    this.#waiting = true;
    queueMicrotask(() => {
      this.#waitLoop().finally(() => {
        this.#waiting = false;
        // A read published while the loop was ending.
        this.#wait();
      });
    });
  }

  /**
   * Wait until every published read is answered and every held access is published. Fails
   * them all with `MailboxTimeout` once a running device worker performed no request for the
   * port's timeout.
   */
  async #waitLoop(): Promise<void> {
    const m = this.#mailbox;
    let lastAck = Atomics.load(m, MailboxWord.ACK);
    let deadline = performance.now() + this.#timeoutMs;
    for (;;) {
      this.#reap();
      if (this.#reads.length === 0 && this.#held.length === 0) return;
      const ack = Atomics.load(m, MailboxWord.ACK);
      const now = performance.now();
      // Progress (the device performed a request) restarts the clock.
      if (ack !== lastAck) {
        lastAck = ack;
        deadline = now + this.#timeoutMs;
      }
      // A device worker that is still loading is slow, not gone: the clock starts once it runs.
      const state = readDoorbellWord(this.#bells, this.#deviceThread, DoorbellWord.STATE);
      if (state === ThreadState.STARTING) deadline = now + this.#timeoutMs;
      const left = deadline - now;
      if (left <= 0) {
        this.#failAll();
        return;
      }
      if (state === ThreadState.RUNNING && this.#reads.length > 0 && now < this.#blockUntil) {
        // A running device worker: block a short slice, as a vCPU would.
        const outcome = Atomics.wait(
          m,
          MailboxWord.ACK,
          ack,
          Math.min(left, this.#blockUntil - now),
        );
        if (outcome === "ok" && this.#reap() > 0) this.#answeredBlocking++;
        continue;
      }
      const w = Atomics.waitAsync(m, MailboxWord.ACK, ack, Math.min(left, 100));
      if (w.async) await w.value;
    }
  }

  /** The device worker did not answer: fail every waiting read and every held access. */
  #failAll(): void {
    const reads = this.#reads.splice(0);
    const held = this.#held.splice(0);
    for (const r of reads) r.reject(new MailboxTimeout(r.offset));
    for (const h of held) h.reject(new MailboxTimeout(h.offset));
  }
}

/** What the device side needs from a transport. */
export interface RegisterTarget {
  /** Read a register. */
  read(offset: number, size: 1 | 2 | 4): number;
  /** Write a register. */
  write(offset: number, value: number, size: 1 | 2 | 4): void;
}

/**
 * Serve the queued requests of a mailbox, in order: at most two FIFOs' worth per call, so a
 * guest that keeps writing cannot hold the device worker. `ACK` is published after each
 * request, and the guest notified once at the end. Returns how many were served (0: none
 * pending). Call it before the device looks at its queues in a pass: a driver's posted
 * QueueReady or DRIVER_OK then takes effect before the kick that follows it is served.
 *
 * @example
 * ```ts
 * import { serveMailbox } from "./mailbox.ts";
 * import { MAILBOX_WORDS } from "./control.ts";
 * const mailbox = new Int32Array(new SharedArrayBuffer(MAILBOX_WORDS * 4));
 * serveMailbox(mailbox, { read: () => 0x74726976, write: () => {} }); // 0: nothing pending
 * ```
 */
export function serveMailbox(mailbox: Int32Array, target: RegisterTarget): number {
  let ack = Atomics.load(mailbox, MailboxWord.ACK);
  let served = 0;
  while (served < 2 * MAILBOX_FIFO_ENTRIES) {
    // Observe the request: pairs with the publish of REQ in MailboxPort.
    if (Atomics.load(mailbox, MailboxWord.REQ) === ack) break;
    const seq = (ack + 1) | 0;
    const at = entryAt(seq);
    const size = mailbox[at + MailboxEntryWord.SIZE];
    const width = size === 1 || size === 2 ? size : 4;
    const offset = mailbox[at + MailboxEntryWord.OFFSET];
    if (mailbox[at + MailboxEntryWord.OP] === MailboxOp.WRITE) {
      target.write(offset, mailbox[at + MailboxEntryWord.VALUE] >>> 0, width);
    } else {
      mailbox[at + MailboxEntryWord.VALUE] = target.read(offset, width) | 0;
    }
    // Publish the answer: pairs with the guest's observe of ACK in MailboxPort.
    Atomics.store(mailbox, MailboxWord.ACK, seq);
    ack = seq;
    served++;
  }
  if (served > 0) Atomics.notify(mailbox, MailboxWord.ACK);
  return served;
}
