/**
 * The fence of a worker that a successor may replace on the same shared memory: a guest after a
 * `vm-crash` (`lab/vm_reboot.ts`), a device worker after a backend restart or a VM's power cycle
 * (`lab/supervisor.ts`). `worker.terminate()` does not interrupt running JavaScript (the current
 * task runs to its end), and a worker descheduled mid-task resumes whenever its CPU comes back:
 * it could so finish a pass after its successor started and write rings the successor owns.
 * Every stretch of a worker that may write shared state (a loop pass, a message's handling, a
 * register access, a send) runs as a section of its generation, over two words:
 *
 * - `GENERATION`: the generation that may run (the guest's doorbell `GENERATION` word; a device
 *   worker's epoch, the control block's fencing word). Only ever moved on, never cleared: a
 *   worker still finishing a task never sees its own number again;
 * - `INSIDE`: the sections under way, of any generation.
 *
 * {@linkcode Fence.enter} counts the section in `INSIDE`, then reads `GENERATION`: a section of
 * an ended generation does not start. Whoever replaces the worker moves `GENERATION` on, then
 * starts the successor only once {@linkcode sectionsOver} sees `INSIDE` at 0. Sequentially
 * consistent (Dekker): either the section reads the moved word and does not start, or the
 * replacer reads it counted and waits for its end. A section is synchronous (no `await` in it),
 * so a terminated worker ends it within its last task; `guard` ends it on a throw too. Nested
 * sections count once: one atomic add, load and sub per outermost section (a loop pass), none
 * for the sections nested in it (a frame's delivery).
 *
 * @module
 */

import { type ControlLayout, FenceWord, fenceWords } from "./control.ts";
import { DOORBELL_STRIDE, DoorbellWord } from "./doorbell.ts";

/**
 * One worker's fence: its generation, over a generation word and an inside word of `words`.
 *
 * @example
 * ```ts
 * import { Fence } from "./fence.ts";
 * const words = new Int32Array(new SharedArrayBuffer(8));
 * const fence = new Fence(words, { generation: 0, inside: 1 }, 0);
 * fence.guard(() => "written", "fenced"); // "written"
 * Atomics.add(words, 0, 1); // a successor's turn
 * fence.guard(() => "written", "fenced"); // "fenced"
 * ```
 */
export class Fence {
  readonly #words: Int32Array;
  readonly #generation: number;
  readonly #generationWord: number;
  readonly #insideWord: number;
  #depth = 0;
  /** A burst's end, made once: a flood's frames, each a burst of its own, allocate nothing. */
  readonly #exitBurst = () => this.exit();

  /**
   * @param words the shared words
   * @param at which of them is the generation word and which the inside word
   * @param generation the generation of this worker
   */
  constructor(words: Int32Array, at: { generation: number; inside: number }, generation: number) {
    this.#words = words;
    this.#generation = generation;
    this.#generationWord = at.generation;
    this.#insideWord = at.inside;
  }

  /** Whether this worker's generation still runs (a read: no section starts). */
  current(): boolean {
    return Atomics.load(this.#words, this.#generationWord) === this.#generation;
  }

  /**
   * Start a section: false when this worker's generation ended (nothing starts; do not call
   * {@linkcode exit}). Inside a section, true at once.
   */
  enter(): boolean {
    if (this.#depth > 0) {
      this.#depth++;
      return true;
    }
    // Counted, then checked: pairs with the replacer's add to GENERATION, then its load of INSIDE.
    Atomics.add(this.#words, this.#insideWord, 1);
    if (Atomics.load(this.#words, this.#generationWord) !== this.#generation) {
      Atomics.sub(this.#words, this.#insideWord, 1);
      return false;
    }
    this.#depth = 1;
    return true;
  }

  /**
   * Start a section that ends once the current run's microtasks have run (one microtask later),
   * or run inside the section under way: a workload's burst of sends pays the section once, not
   * per frame (a flood sends each frame apart). False when this worker's generation ended. Still
   * within the task: a terminated worker ends it within its last task too.
   */
  enterBurst(): boolean {
    if (this.#depth > 0) return true;
    if (!this.enter()) return false;
    queueMicrotask(this.#exitBurst);
    return true;
  }

  /** End the section {@linkcode enter} started. */
  exit(): void {
    if (--this.#depth === 0) Atomics.sub(this.#words, this.#insideWord, 1);
  }

  /**
   * Run `fn` as a section; `otherwise` when this worker's generation ended. `fn` must not await.
   * A throw ends the section too.
   */
  guard<T>(fn: () => T, otherwise: T): T {
    if (!this.enter()) return otherwise;
    try {
      return fn();
    } finally {
      this.exit();
    }
  }
}

/**
 * The fence of the guest of `generation` on guest thread `thread`: its doorbell line's
 * `GENERATION` and `INSIDE` words (`endGeneration` ends it).
 *
 * @example
 * ```ts
 * import { createDoorbells, endGeneration } from "./doorbell.ts";
 * import { guestFence } from "./fence.ts";
 * const bells = createDoorbells(1);
 * const fence = guestFence(bells, 0, 0);
 * endGeneration(bells, 0);
 * fence.enter(); // false
 * ```
 */
export function guestFence(bells: Int32Array, thread: number, generation: number): Fence {
  const base = thread * DOORBELL_STRIDE;
  return new Fence(bells, {
    generation: base + DoorbellWord.GENERATION,
    inside: base + DoorbellWord.INSIDE,
  }, generation);
}

/**
 * The fence of the device worker of `epoch` on a VM's control block: its fencing words
 * ({@linkcode fenceWords}); the supervisor moves the epoch on.
 *
 * @example
 * ```ts
 * import { controlLayout } from "./control.ts";
 * import { deviceFence } from "./fence.ts";
 * const layout = controlLayout([]);
 * const fence = deviceFence(new SharedArrayBuffer(layout.bytes), layout, 0);
 * fence.guard(() => "written", "fenced"); // "written"
 * ```
 */
export function deviceFence(
  control: SharedArrayBuffer,
  layout: ControlLayout,
  epoch: number,
): Fence {
  return new Fence(fenceWords(control, layout), {
    generation: FenceWord.EPOCH,
    inside: FenceWord.INSIDE,
  }, epoch);
}

/** How {@linkcode sectionsOver} waits. */
export interface SectionsWait {
  /** Resolves after about `ms` (a timer: the waiting thread stays free). */
  wait(ms: number): Promise<void>;
  /** True when the wait is pointless (the lab stops): it ends at once. */
  stopped(): boolean;
  /** Longest wait, ms. */
  timeoutMs: number;
}

/**
 * Wait, polling every millisecond on timers (never blocking the thread) and for at most
 * `timeoutMs`, until `words[inside]` reads 0: once the generation word was moved on, no section
 * of an ended generation is under way then, and none starts later. Resolves to whether it read
 * 0; false at the bound (a worker still inside: stuck, or descheduled that long) or once
 * `stopped()`. The caller decides what the bound means (the lab starts the successor anyway,
 * and says so with a `fence-timeout` event).
 *
 * @example
 * ```ts
 * import { sectionsOver } from "./fence.ts";
 * const words = new Int32Array(new SharedArrayBuffer(8));
 * const wait = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
 * await sectionsOver(words, 1, { wait, stopped: () => false, timeoutMs: 1000 }); // true
 * ```
 */
export async function sectionsOver(
  words: Int32Array,
  inside: number,
  how: SectionsWait,
): Promise<boolean> {
  const end = performance.now() + how.timeoutMs;
  while (Atomics.load(words, inside) > 0) {
    if (how.stopped() || performance.now() >= end) return false;
    await how.wait(1);
  }
  return true;
}
