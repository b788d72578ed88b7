/**
 * The loop every worker runs (guest, device, switch): do work while there is some, returning to
 * the event loop now and then; when there is none, busy-poll for a short budget (like vhost
 * polling), then announce sleep, re-check, and wait on the thread's doorbell. It returns when
 * the main thread sets the thread's stop flag.
 *
 * Why it is shaped like this (architecture.md, runtime facts): `worker.terminate()` cannot
 * interrupt synchronous JavaScript, so the loop never spins unboundedly and always comes back
 * to the event loop; a wait costs 16–25 µs, so a short poll before it saves most waits under
 * load; and with more workers than cores, an unbounded spin would starve the peer it waits for.
 *
 * @module
 */

import {
  announceSleep,
  beat,
  cancelSleep,
  readBell,
  setThreadState,
  stopRequested,
  ThreadState,
  waitDoorbell,
} from "./doorbell.ts";

/** What a worker plugs into {@linkcode runLoop}. */
export interface LoopHooks {
  /** Do whatever work is pending; return true if there was any. */
  pump(): boolean;
  /** Prepare to sleep (enable notifications, mark ring consumers waiting); return true if work arrived meanwhile. */
  prepareSleep(): boolean;
  /** Milliseconds until the worker's next timer (Infinity if none). */
  nextTimerMs(): number;
  /** Called about every 100 ms (publish statistics). */
  periodic?(): void;
  /**
   * True once this worker has been replaced (its epoch is no longer the control block's): the
   * loop returns at once, without touching the thread's words, which now belong to its successor.
   */
  fenced?(): boolean;
}

/** Options of {@linkcode runLoop}. */
export interface LoopOptions {
  /** The lab's doorbells. */
  bells: Int32Array;
  /** This thread. */
  thread: number;
  /** Busy-poll budget before waiting, µs. */
  pollUs: number;
}

/** Longest wait: the heartbeat period of an idle worker. */
const MAX_WAIT_MS = 1000;
/** How early a worker wakes for a timer (impairment releases), ms; it polls the rest. */
const TIMER_SLACK_MS = 1;
/** Longest stretch of work before returning to the event loop. */
const MAX_BUSY_MS = 2;

const channel = new MessageChannel();
const pendingTasks: Array<() => void> = [];
channel.port1.onmessage = () => pendingTasks.shift()?.();

/** Yield to the event loop (a macrotask: messages, timers and every pending microtask run). */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    pendingTasks.push(resolve);
    channel.port2.postMessage(0);
  });
}

/**
 * Run a worker loop until the stop flag is set.
 *
 * @example
 * ```ts
 * import { runLoop } from "./loop.ts";
 * import { createDoorbells, requestStop } from "./doorbell.ts";
 * const bells = createDoorbells(1);
 * requestStop(bells, 0);
 * await runLoop({ bells, thread: 0, pollUs: 0 }, {
 *   pump: () => false, prepareSleep: () => false, nextTimerMs: () => Infinity,
 * });
 * ```
 */
export async function runLoop(opts: LoopOptions, hooks: LoopHooks): Promise<void> {
  const { bells, thread } = opts;
  setThreadState(bells, thread, ThreadState.RUNNING);
  let lastYield = performance.now();
  let lastPeriodic = 0;
  try {
    let busyPasses = 0;
    while (!stopRequested(bells, thread)) {
      if (hooks.fenced?.()) return;
      const seen = readBell(bells, thread);
      beat(bells, thread);
      if (hooks.pump()) {
        // Read the clock (a system call, the top symbol of a flood's profile) every 8 busy passes.
        if ((++busyPasses & 7) === 0) {
          const now = performance.now();
          if (hooks.periodic && now - lastPeriodic >= 100) {
            lastPeriodic = now;
            hooks.periodic();
          }
          if (now - lastYield > MAX_BUSY_MS) {
            await macrotask();
            lastYield = performance.now();
            continue;
          }
        }
        await null; // let promise continuations (workloads) take their next step
        continue;
      }
      const now = performance.now();
      if (hooks.periodic && now - lastPeriodic >= 100) {
        lastPeriodic = now;
        hooks.periodic();
      }
      // Nothing to do: first let pending continuations run.
      await null;
      if (hooks.pump()) continue;
      // Busy-poll a short budget.
      const pollEnd = performance.now() + opts.pollUs / 1000;
      let found = false;
      while (performance.now() < pollEnd) {
        if (readBell(bells, thread) !== seen || hooks.pump()) {
          found = true;
          break;
        }
      }
      if (found) continue;
      // Sleep: announce, re-check every source, wait.
      announceSleep(bells, thread);
      if (hooks.prepareSleep() || hooks.pump()) {
        cancelSleep(bells, thread);
        continue;
      }
      // A timed wait ends up to about a millisecond late here (timer granularity plus the
      // wake-up), which a 2 ms netem delay would feel: wake a millisecond early and poll the
      // rest (yielding to the event loop between passes).
      const next = hooks.nextTimerMs();
      if (next <= TIMER_SLACK_MS) {
        cancelSleep(bells, thread);
        await macrotask();
        lastYield = performance.now();
        continue;
      }
      const timeout = Math.min(MAX_WAIT_MS, next - TIMER_SLACK_MS);
      await waitDoorbell(bells, thread, seen, timeout);
      lastYield = performance.now();
    }
    setThreadState(bells, thread, ThreadState.STOPPED);
  } catch (e) {
    setThreadState(bells, thread, ThreadState.FAILED);
    throw e;
  }
}
