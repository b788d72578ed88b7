/**
 * A worker's control gate: whether the main thread has posted a control message (a link set down
 * or up, an impairment, the partitions) that the worker has not read yet, so that no frame the
 * worker takes is forwarded under the state that message replaces.
 *
 * The main thread posts a control message, then moves the worker's `CONTROL` doorbell word
 * (`WorkerSet.postControl`, `publishControl`); the worker reads the message on its event loop, that
 * is between two loop passes. A pass that began before the post must not take a frame published
 * after it: every producer, right after the load that reveals new frames to it (a virtqueue's
 * avail idx or packed descriptor flags, a link ring's head), asks {@linkcode ControlGate.pending}
 * and, when a message is pending, takes none of them. The worker's loop (`loop.ts`) then ends the
 * pass, lets the event loop deliver the message ({@linkcode ControlGate.read}), and the next pass
 * takes the frames under the new state.
 *
 * Why the order of the loads is enough (all sequentially consistent Atomics): a frame published
 * after the call that posted the message returned was published after the `CONTROL` store; a
 * producer whose load of the index saw that frame therefore sees the moved word in its next load
 * of `CONTROL`. One `Atomics.load` per reveal (per batch on a split ring or a link ring, per chain
 * on a packed ring, where each chain's flags are such a load), never one per frame taken from
 * what a load revealed.
 *
 * Runs on the worker's thread; the worker entry makes one and hands it to its loop and producers.
 *
 * @module
 */

import { DOORBELL_STRIDE, DoorbellWord } from "./doorbell.ts";

/**
 * The longest a loop pass waits for a control message posted to its worker, ms: the message is
 * in flight (posted before the `CONTROL` word moved), so this bounds a delivery that never comes
 * (a worker that is being replaced), not a normal one, which takes an event-loop turn.
 */
export const CONTROL_WAIT_MS = 50;

/**
 * A worker's view of its `CONTROL` doorbell word against the control messages it has read.
 *
 * @example
 * ```ts
 * import { ControlGate } from "./control_gate.ts";
 * import { createDoorbells, nextControl, publishControl } from "./doorbell.ts";
 * const bells = createDoorbells(1);
 * let applied = 0;
 * const gate = new ControlGate(bells, 0, () => applied);
 * gate.pending(); // false
 * publishControl(bells, 0, nextControl(bells, 0)); // the main thread posted message 1
 * gate.pending(); // true: take no frame revealed from now on
 * applied = 1; // the worker's message handler ran
 * await gate.read();
 * gate.pending(); // false
 * ```
 */
export class ControlGate {
  readonly #bells: Int32Array;
  readonly #word: number;
  readonly #applied: () => number;
  /**
   * The last posted number the loop has read (or waited {@linkcode CONTROL_WAIT_MS} for in vain):
   * `pending` compares the word with it, one `Atomics.load`.
   */
  #through: number;

  /**
   * @param bells the lab's doorbells
   * @param thread this worker's thread
   * @param applied the number of the last control message the worker has handled
   *   (`worker_scope.ts`'s `controlApplied`)
   */
  constructor(bells: Int32Array, thread: number, applied: () => number) {
    this.#bells = bells;
    this.#word = thread * DOORBELL_STRIDE + DoorbellWord.CONTROL;
    this.#applied = applied;
    this.#through = applied();
  }

  /**
   * Whether a control message was posted that the loop has not read: a producer that has just
   * loaded the index revealing new frames takes none of them while this is true.
   */
  pending(): boolean {
    // observe CONTROL: pairs with publishControl in WorkerSet.postControl (after the postMessage)
    return Atomics.load(this.#bells, this.#word) !== this.#through;
  }

  /**
   * Let the event loop deliver the posted control messages (the loop, between two passes): waits
   * until the worker has handled every message posted so far, or {@linkcode CONTROL_WAIT_MS}.
   */
  async read(): Promise<void> {
    const posted = Atomics.load(this.#bells, this.#word);
    const until = performance.now() + CONTROL_WAIT_MS;
    while (((this.#applied() - posted) | 0) < 0 && performance.now() < until) {
      await new Promise<void>((resolve) => setTimeout(resolve, 0));
    }
    // Read, or never coming: either way the frames wait no longer (a later post moves the word).
    this.#through = posted;
  }
}
