/**
 * The guest's fence: a `vm-crash` ends a guest worker with `terminate()`, which does not interrupt
 * running JavaScript (its current task runs to its end; no later task runs). A guest descheduled
 * mid-task could so resume after its successor started on the same guest memory and write its
 * rings. Every stretch of the guest that may write guest memory or registers (a loop pass, a
 * workload's send, a message's handling) runs as a section of its generation:
 *
 * - {@linkcode GuestFence.enter} counts the section in the thread's `INSIDE` word, then reads
 *   `GENERATION`: a section of an ended generation does not start;
 * - the reboot ends the generation (`endGeneration`), then starts the new guest only once
 *   `INSIDE` reads 0 (`vm_reboot.ts`).
 *
 * Sequentially consistent (Dekker): either the section reads the ended generation and does not
 * start, or the reboot reads it counted and waits for its end. A section is synchronous (no
 * `await` in it), so a terminated guest ends it within its last task. Nested sections count once.
 *
 * @module
 */

import { DOORBELL_STRIDE, DoorbellWord } from "../wire/doorbell.ts";

/**
 * One guest's fence: its generation, on its thread's doorbell line.
 *
 * @example
 * ```ts
 * import { createDoorbells, endGeneration } from "../wire/doorbell.ts";
 * import { GuestFence } from "./fence.ts";
 * const bells = createDoorbells(1);
 * const fence = new GuestFence(bells, 0, 0);
 * fence.guard(() => "written", "fenced"); // "written"
 * endGeneration(bells, 0);
 * fence.guard(() => "written", "fenced"); // "fenced"
 * ```
 */
export class GuestFence {
  readonly #bells: Int32Array;
  readonly #generation: number;
  readonly #generationWord: number;
  readonly #insideWord: number;
  #depth = 0;

  /** The fence of the guest of `generation` on guest thread `thread`. */
  constructor(bells: Int32Array, thread: number, generation: number) {
    this.#bells = bells;
    this.#generation = generation;
    this.#generationWord = thread * DOORBELL_STRIDE + DoorbellWord.GENERATION;
    this.#insideWord = thread * DOORBELL_STRIDE + DoorbellWord.INSIDE;
  }

  /** Whether this guest's generation still runs (a read: no section starts). */
  current(): boolean {
    return Atomics.load(this.#bells, this.#generationWord) === this.#generation;
  }

  /**
   * Start a section: false when this guest's generation ended (nothing starts; do not call
   * {@linkcode exit}). Inside a section, true at once.
   */
  enter(): boolean {
    if (this.#depth > 0) {
      this.#depth++;
      return true;
    }
    // Counted, then checked: pairs with endGeneration's add, then guestsInside's load.
    Atomics.add(this.#bells, this.#insideWord, 1);
    if (Atomics.load(this.#bells, this.#generationWord) !== this.#generation) {
      Atomics.sub(this.#bells, this.#insideWord, 1);
      return false;
    }
    this.#depth = 1;
    return true;
  }

  /**
   * Start a section that ends once the current run's microtasks have run (one microtask later),
   * or run inside the section under way: a workload's burst of sends pays the section once, not
   * per frame (a flood sends each frame apart). False when this guest's generation ended. Still
   * within the task: a terminated guest ends it within its last task too.
   */
  enterBurst(): boolean {
    if (this.#depth > 0) return true;
    if (!this.enter()) return false;
    queueMicrotask(() => this.exit());
    return true;
  }

  /** End the section {@linkcode enter} started. */
  exit(): void {
    if (--this.#depth === 0) Atomics.sub(this.#bells, this.#insideWord, 1);
  }

  /** Run `fn` as a section; `otherwise` when this guest's generation ended. `fn` must not await. */
  guard<T>(fn: () => T, otherwise: T): T {
    if (!this.enter()) return otherwise;
    try {
      return fn();
    } finally {
      this.exit();
    }
  }
}
