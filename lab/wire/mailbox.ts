/**
 * The register mailbox: how a guest driver's access to a trapped virtio-mmio register reaches
 * the device worker (the simulated MMIO exit), and how the answer comes back.
 *
 * Guest side ({@linkcode MailboxPort}, a `RegisterPort`): write the operation, offset, value and
 * width, publish the request sequence number, ring the device worker's doorbell, then wait on
 * the `ACK` word until it equals the request's sequence number. Device side
 * ({@linkcode serveMailbox}): when `REQ` differs from `ACK`, perform the access on the transport,
 * store the result, publish `ACK` and notify the waiter.
 *
 * An access fails with {@linkcode MailboxTimeout} when a running device worker does not answer
 * within the port's timeout; a device worker that has not started yet (still loading its
 * modules, which can take seconds on a loaded machine) is waited for.
 *
 * The guest waits for the answer the way a vCPU waits on an MMIO exit: while the device worker
 * runs, first in a blocking `Atomics.wait` of at most {@linkcode MAILBOX_BLOCK_MS} (a device
 * worker's answer wakes it 1.5 to 4.5 times sooner than `Atomics.waitAsync` would: a driver's
 * bring-up is about 44 such round trips), then on its event loop.
 *
 * One outstanding request per mailbox, as a vCPU blocks on an MMIO exit: the port queues
 * accesses and issues each only once the previous one has been answered. Two callers that race
 * (a config interrupt handler while the driver reads a register) would otherwise overwrite each
 * other's request, and one of them would wait for an answer that never comes.
 *
 * @module
 */

import { MailboxWord } from "./control.ts";
import { DoorbellWord, readDoorbellWord, ringDoorbell, ThreadState } from "./doorbell.ts";

/** The register operations of a mailbox. */
export const MailboxOp = { READ: 0, WRITE: 1 } as const;

/** Longest blocking wait for a running device worker's answer, ms (then the wait is async). */
export const MAILBOX_BLOCK_MS = 2;

/** Why a register access did not complete. */
export class MailboxTimeout extends Error {
  /** @param offset the register that did not answer */
  constructor(readonly offset: number) {
    super(`Register access at 0x${offset.toString(16)} got no answer from the device worker`);
  }
}

/**
 * The guest side of a mailbox.
 *
 * @example
 * ```ts
 * import { MailboxPort } from "./mailbox.ts";
 * import { createDoorbells } from "./doorbell.ts";
 * const port = new MailboxPort(new Int32Array(new SharedArrayBuffer(64)), createDoorbells(2), 1);
 * // await port.read(0x000) answers once a device worker serves the mailbox
 * ```
 */
export class MailboxPort {
  #mailbox: Int32Array;
  #bells: Int32Array;
  #deviceThread: number;
  #timeoutMs: number;
  /** The access in flight (or the last one): the next one starts after it settles. */
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #answeredBlocking = 0;

  /**
   * @param mailbox the mailbox words of one device
   * @param bells the lab's doorbells
   * @param deviceThread the device worker's thread index
   * @param timeoutMs how long one access may take before it fails
   */
  constructor(mailbox: Int32Array, bells: Int32Array, deviceThread: number, timeoutMs = 5000) {
    this.#mailbox = mailbox;
    this.#bells = bells;
    this.#deviceThread = deviceThread;
    this.#timeoutMs = timeoutMs;
  }

  /** Answers that ended a blocking wait (the fast path), cumulative. */
  get answeredBlocking(): number {
    return this.#answeredBlocking;
  }

  /** Accesses queued or in flight (0 when the mailbox is idle). */
  get pending(): number {
    return this.#pending;
  }

  /** Read a register. */
  read(offset: number, size: 1 | 2 | 4 = 4): Promise<number> {
    return this.#access(MailboxOp.READ, offset, 0, size);
  }

  /** Write a register. */
  async write(offset: number, value: number, size: 1 | 2 | 4 = 4): Promise<void> {
    await this.#access(MailboxOp.WRITE, offset, value, size);
  }

  #access(op: number, offset: number, value: number, size: number): Promise<number> {
    this.#pending++;
    const done = () => {
      this.#pending--;
    };
    const run = this.#tail.then(() => this.#issue(op, offset, value, size)).finally(done);
    this.#tail = run.catch(() => {});
    return run;
  }

  async #issue(op: number, offset: number, value: number, size: number): Promise<number> {
    const m = this.#mailbox;
    // A request that timed out may still be served: let the device finish it before its words
    // are reused, so that it can never answer this access with the old request's result.
    await this.#waitAck(Atomics.load(m, MailboxWord.REQ), offset);
    const seq = (Atomics.load(m, MailboxWord.REQ) + 1) | 0;
    m[MailboxWord.OP] = op;
    m[MailboxWord.OFFSET] = offset;
    m[MailboxWord.VALUE] = value | 0;
    m[MailboxWord.SIZE] = size;
    // Publish the request: pairs with the device's observe of REQ in serveMailbox.
    Atomics.store(m, MailboxWord.REQ, seq);
    ringDoorbell(this.#bells, this.#deviceThread);
    await this.#waitAck(seq, offset);
    return m[MailboxWord.RESULT] >>> 0;
  }

  /** Wait until the device has answered request `seq`; throws `MailboxTimeout` after the timeout. */
  async #waitAck(seq: number, offset: number): Promise<void> {
    const m = this.#mailbox;
    let deadline = performance.now() + this.#timeoutMs;
    let blocked = false;
    for (;;) {
      // Observe the answer: pairs with the publish of ACK in serveMailbox.
      const ack = Atomics.load(m, MailboxWord.ACK);
      if (ack === seq) return;
      const now = performance.now();
      // A device worker that is still loading is slow, not gone: the clock starts once it runs.
      const state = readDoorbellWord(this.#bells, this.#deviceThread, DoorbellWord.STATE);
      if (state === ThreadState.STARTING) deadline = now + this.#timeoutMs;
      const left = deadline - now;
      if (left <= 0) throw new MailboxTimeout(offset);
      if (!blocked && state === ThreadState.RUNNING) {
        // Once per access, a running device worker: block a short slice, as a vCPU would.
        blocked = true;
        const outcome = Atomics.wait(m, MailboxWord.ACK, ack, Math.min(left, MAILBOX_BLOCK_MS));
        if (outcome === "ok" && Atomics.load(m, MailboxWord.ACK) === seq) this.#answeredBlocking++;
        continue;
      }
      const w = Atomics.waitAsync(m, MailboxWord.ACK, ack, Math.min(left, 100));
      if (w.async) await w.value;
    }
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
 * Serve a pending request of a mailbox, if any. Returns true if one was served.
 *
 * @example
 * ```ts
 * import { serveMailbox } from "./mailbox.ts";
 * const mailbox = new Int32Array(new SharedArrayBuffer(64));
 * serveMailbox(mailbox, { read: () => 0x74726976, write: () => {} }); // false: nothing pending
 * ```
 */
export function serveMailbox(mailbox: Int32Array, target: RegisterTarget): boolean {
  // Observe the request: pairs with the publish of REQ in MailboxPort.
  const req = Atomics.load(mailbox, MailboxWord.REQ);
  if (req === Atomics.load(mailbox, MailboxWord.ACK)) return false;
  const size = mailbox[MailboxWord.SIZE];
  const width = size === 1 || size === 2 ? size : 4;
  const offset = mailbox[MailboxWord.OFFSET];
  if (mailbox[MailboxWord.OP] === MailboxOp.WRITE) {
    target.write(offset, mailbox[MailboxWord.VALUE] >>> 0, width);
    mailbox[MailboxWord.RESULT] = 0;
  } else {
    mailbox[MailboxWord.RESULT] = target.read(offset, width) | 0;
  }
  // Publish the answer: pairs with the guest's observe of ACK in MailboxPort.
  Atomics.store(mailbox, MailboxWord.ACK, req);
  Atomics.notify(mailbox, MailboxWord.ACK);
  return true;
}
