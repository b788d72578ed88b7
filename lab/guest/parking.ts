/**
 * Whether a guest's workloads could run on its event loop now, and when the first of their timers
 * is due: what the guest's loop asks before it sleeps in a blocking wait (`runLoop`'s
 * `blockUntil`, `../wire/loop.ts`).
 *
 * A workload runs as promise continuations on the guest's event loop, and a thread blocked in
 * `Atomics.wait` runs none of them: blocking while one is queued starves it until the slice ends
 * (a flooding guest that blocked moved a tenth of its frames). But a workload that waits through
 * the worker's own `sleep` or `waitAtMost` is *parked*: nothing of it runs until that wait's timer
 * fires or its promise settles, and the worker sees both. Settling is done by the loop's pump (a
 * frame received, TX room), which marks the workload running again before its continuation is
 * queued; a timer fires only on the event loop, so the loop stops blocking before it is due. A
 * guest whose every workload is parked (a ping's far end, a sink, a ping between two requests)
 * may therefore block, and a ring wakes it at a blocking wait's cost, not a `waitAsync`'s.
 *
 * @module
 */

/**
 * The workloads of one guest: how many run, and the deadlines of the parked ones' timers.
 *
 * @example
 * ```ts
 * import { WorkloadParking } from "./parking.ts";
 * const p = new WorkloadParking();
 * p.begin(); // a workload starts: nothing may block
 * p.blockUntil(); // -Infinity
 * const unpark = p.park(performance.now() + 10); // it sleeps 10 ms
 * p.blockUntil(); // its timer's deadline
 * unpark(); // its timer fired
 * p.end(); // it returned
 * p.blockUntil(); // Infinity: no workload
 * ```
 */
export class WorkloadParking {
  #running = 0;
  #next = 0;
  /** Deadline (`performance.now()` ms; Infinity: none) of each parked wait, by token. */
  readonly #parked = new Map<number, number>();

  /** A workload starts: it runs until it parks. */
  begin(): void {
    this.#running++;
  }

  /** A workload returned (or threw), while running. */
  end(): void {
    this.#running--;
  }

  /**
   * The running workload parks until its wait's timer (`deadline`, `performance.now()` ms;
   * Infinity when it has none) or until the returned function is called, whichever comes first.
   * Call that function as soon as the wait ends, before the workload's continuation is queued; a
   * second call does nothing.
   */
  park(deadline: number): () => void {
    const token = this.#next++;
    this.#parked.set(token, deadline);
    this.#running--;
    return () => {
      if (!this.#parked.delete(token)) return;
      this.#running++;
    };
  }

  /** Workloads running now (not parked). */
  get running(): number {
    return this.#running;
  }

  /**
   * Until when the guest may block: -Infinity while a workload runs, else the earliest parked
   * deadline (Infinity with none).
   */
  blockUntil(): number {
    if (this.#running > 0) return -Infinity;
    let until = Infinity;
    for (const at of this.#parked.values()) if (at < until) until = at;
    return until;
  }
}
