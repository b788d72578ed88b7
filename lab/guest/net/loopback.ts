/**
 * The loopback queue of the guest stack: datagrams a VM sends to one of its own addresses are
 * queued here (bounded) and handed back to the stack's input on a microtask, so a send never
 * re-enters the receive path, and the frames a round's input sends (echo replies) wait for the
 * next round. Runs on the guest worker's thread, inside the `NetStack`.
 *
 * @module
 */

/**
 * Frames waiting on the loopback queue at most; past it a send is refused and counted.
 *
 * @example
 * ```ts
 * import { LOOPBACK_QUEUE_LIMIT } from "./loopback.ts";
 * LOOPBACK_QUEUE_LIMIT; // 256
 * ```
 */
export const LOOPBACK_QUEUE_LIMIT = 256;

/**
 * A bounded queue of frames delivered to `deliver` on the next microtask.
 *
 * @example
 * ```ts
 * import { LoopbackQueue } from "./loopback.ts";
 * const q = new LoopbackQueue((ifIndex, frame) => console.log(ifIndex, frame.length));
 * q.push(0, new Uint8Array(60)); // true; delivered after the current task's synchronous code
 * ```
 */
export class LoopbackQueue {
  #frames: { ifIndex: number; frame: Uint8Array }[] = [];
  #scheduled = false;
  readonly #deliver: (ifIndex: number, frame: Uint8Array) => void;

  /** @param deliver the stack's input for one looped-back frame */
  constructor(deliver: (ifIndex: number, frame: Uint8Array) => void) {
    this.#deliver = deliver;
  }

  /** Queue a frame (the queue keeps it); false if the queue is full. */
  push(ifIndex: number, frame: Uint8Array): boolean {
    if (this.#frames.length >= LOOPBACK_QUEUE_LIMIT) return false;
    this.#frames.push({ ifIndex, frame });
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#drain());
    }
    return true;
  }

  #drain(): void {
    this.#scheduled = false;
    const frames = this.#frames;
    this.#frames = []; // what these frames answer is queued for the next round
    for (const { ifIndex, frame } of frames) this.#deliver(ifIndex, frame);
  }
}
