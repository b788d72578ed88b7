/**
 * The loop every worker runs (guest, device, switch): do work while there is some, returning to
 * the event loop now and then; when there is none, busy-poll for a short budget (like vhost
 * polling, giving the CPU between polls to any thread waiting for it), then announce sleep,
 * re-check, and wait on the thread's doorbell. It returns when the main thread sets the thread's
 * stop flag.
 *
 * Why it is shaped like this (architecture.md, runtime facts): `worker.terminate()` cannot
 * interrupt synchronous JavaScript, so the loop never spins unboundedly and always comes back
 * to the event loop; a wait costs 16–25 µs, so a short poll before it saves most waits under
 * load; and with more workers than cores, an unbounded spin would starve the peer it waits for.
 *
 * How it sleeps, adaptively when `hotMs` is set (like NAPI switching between polling and
 * interrupts, but without spinning): while traffic is recent (work within the last `hotMs`), the
 * thread sleeps in blocking `Atomics.wait` slices of at most {@linkcode BLOCK_SLICE_MS}, with a
 * short `waitAsync` between slices so that messages and timers run. A ring wakes a blocking wait
 * sooner than a `waitAsync`, whose wake-up goes through the event loop's task queue, and for a
 * fraction of its CPU (`vlab bench wakeup`); a blocked thread uses no CPU. Once quiet, or with
 * `hotMs` 0, it sleeps in `Atomics.waitAsync` (up to `idleWaitMs`), where its event loop stays
 * free. Host workers are hot after work ({@linkcode HOST_WAIT}). A guest is hot only while its
 * event loop has nothing to run (`blockUntil`: every workload parked in one of the guest worker's
 * waits, up to the first of their timers), since its workloads run there.
 *
 * Before a timer (an impairment stage's next release), a timed `waitAsync` would end one to a
 * few milliseconds late: a worker with `blockForTimers` sleeps the last
 * {@linkcode TIMER_BLOCK_MS} in a blocking wait and spins the final {@linkcode TIMER_SPIN_MS}.
 *
 * @module
 */

import { cpuYield, type NoAffinity, type ThreadAffinity, threadAffinity } from "./affinity.ts";
import {
  announceSleep,
  beat,
  cancelSleep,
  cpuOf,
  publishCpuTime,
  readBell,
  setThreadState,
  stopRequested,
  ThreadState,
  waitDoorbell,
  waitDoorbellSync,
} from "./doorbell.ts";
import type { ControlGate } from "./control_gate.ts";

/** How a worker's loop slept and woke, cumulative (a worker copies them into its statistics). */
export interface LoopCounters {
  /** Blocking waits (hot) that a ring ended. */
  wakeupsBlocking: number;
  /** `waitAsync` waits (quiet) that a ring ended. */
  wakeupsAsync: number;
  /** Waits of either kind that timed out. */
  timeouts: number;
  /** Blocking slices that ended without a ring (the thread then gave its event loop a turn). */
  idleSlices: number;
  /** Busy-poll budgets that found work. */
  pollHits: number;
}

/** A zeroed {@linkcode LoopCounters}. */
export function loopCounters(): LoopCounters {
  return { wakeupsBlocking: 0, wakeupsAsync: 0, timeouts: 0, idleSlices: 0, pollHits: 0 };
}

/**
 * When a worker's loop wakes next (a `performance.now()` time), for code that runs while the loop
 * waits (a workload on a timer or a message): 0 while the loop runs. Such code may arm a deadline
 * the loop has not seen (a transmit watchdog, an ARP retry); if the loop would wake after it, the
 * code rings the thread (see the guest worker's `timersChanged`).
 */
export interface LoopWake {
  /** The end of the current wait, or 0 while the loop runs. */
  at: number;
}

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
  /** Busy-poll budget before waiting, µs (between polls the thread yields its CPU: `cpuYield`). */
  pollUs: number;
  /** Longest wait when nothing is due, ms (default 1000). */
  idleWaitMs?: number;
  /**
   * How long after its last work the thread sleeps in blocking slices, ms (default 0: never;
   * host workers take {@linkcode HOST_WAIT}'s).
   */
  hotMs?: number;
  /** Counters the loop keeps up to date (a worker publishes them). */
  counters?: LoopCounters;
  /** Kept up to date with the end of each wait (see {@linkcode LoopWake}). */
  wake?: LoopWake;
  /**
   * The worker's control gate (`control_gate.ts`). When given, a pass that finds a control message
   * posted and not yet read (the doorbell's `CONTROL` word) first lets the event loop deliver it,
   * for up to {@linkcode CONTROL_WAIT_MS}; and a pass whose producers held frames back because of
   * one (they ask the gate right after the load that revealed them) counts as work, so that the
   * next pass reads the message and takes the frames under it instead of sleeping. A link taken
   * down, an impairment or a partition thus acts on every frame published after the main thread
   * posted it.
   */
  control?: ControlGate;
  /**
   * Sleep the last {@linkcode TIMER_BLOCK_MS} before a timer in a blocking `Atomics.wait` and spin
   * the final {@linkcode TIMER_SPIN_MS}, so that an impairment release leaves on time (default
   * false). Only for a worker whose event loop runs nothing but messages (device, switch and
   * router workers): a guest's workloads run on its event loop, and a blocked loop would starve
   * them.
   */
  blockForTimers?: boolean;
  /**
   * Until when (`performance.now()` ms) the thread's event loop has nothing of its own to run,
   * so that a hot wait may block: -Infinity while something runs there, the next timer of what
   * waits there otherwise. Asked before every blocking slice (default: Infinity, for workers whose
   * event loop runs only messages). A guest answers from its workloads (`lab/guest/parking.ts`).
   */
  blockUntil?: () => number;
  /**
   * What the thread writes in its `SLEEPING` word while it waits (non-zero, default 1): a
   * replaceable owner's generation or epoch plus one, so that one replaced while it waited clears
   * only its own announcement, never its successor's (`doorbell.ts`).
   */
  sleepTag?: number;
}

/** Longest wait by default: the heartbeat period of an idle worker. */
const MAX_WAIT_MS = 1000;
/**
 * The longest wait of the lab's device, switch and router workers: a timed wake-up of an idle
 * worker costs about 0.2 ms of CPU (most of it `waitAsync`'s timeout machinery), so an idle lab's
 * cost is its number of wake-ups. A worker with timers says so through `nextTimerMs`, and the
 * supervisor's watchdog rings a device worker whose heartbeat has not moved for half its limit.
 */
export const IDLE_WAIT_MS = 5000;
/**
 * The longest wait of a guest worker, the default's one second: a guest whose used-buffer
 * interrupt was lost (`vlab fault lost-irq`) sees its receive queue again only at its next
 * wake-up, and the lab's tests and drills count on that within a second.
 */
export const GUEST_IDLE_WAIT_MS = MAX_WAIT_MS;
/** How early a worker that may not block wakes for a timer, ms; it polls the rest. */
const TIMER_SLACK_MS = 1;
/**
 * The last stretch before a timer that a worker with `blockForTimers` sleeps in a blocking wait,
 * ms: more than a timed `waitAsync` is late at the median here (1.3 ms), and short enough that
 * messages wait no longer than a busy pass would make them.
 */
export const TIMER_BLOCK_MS = 3;
/**
 * The final stretch before a timer that a worker with `blockForTimers` spins, ms: about what a
 * blocking wait is late on our VMs (in a probe worker, wake-ups for a timer then came 11–17 µs
 * late at the median instead of 190–210 µs), and at most this much CPU per release.
 */
export const TIMER_SPIN_MS = 0.3;
/**
 * How long a thread stays hot after its last work, ms, unless `VLAB_HOT_MS` says otherwise:
 * long enough to cover pings 10 ms apart. A flood's frames cross each hand-off in blocking
 * slices (docs/performance.md, "Hot waits that were never hot").
 */
export const HOT_MS = 50;
/**
 * How the host-side workers (device, switch, vsock router), whose event loops run only messages,
 * wait: up to {@linkcode IDLE_WAIT_MS} when nothing is due, blocking before a timer
 * (`blockForTimers`) so that impairment releases leave on time, and hot for
 * {@linkcode HOT_MS} after their last work: a ring then wakes them from a blocking wait, which
 * costs the woken thread a quarter of the CPU a `waitAsync` wake-up does when the ringer shares
 * its CPU, as a VM's guest and device workers do under load (CPU placement). A device worker whose
 * event loop also serves sockets (a VM's host `vsock.sock`) overrides `hotMs` with 0.
 */
export const HOST_WAIT: Pick<LoopOptions, "idleWaitMs" | "blockForTimers" | "hotMs"> = {
  idleWaitMs: IDLE_WAIT_MS,
  blockForTimers: true,
  hotMs: envHotMs(),
};
/**
 * {@linkcode HOST_WAIT} with the lab's `hotMs` (a worker's start message; absent: the default).
 *
 * @example
 * ```ts
 * import { hostWait } from "./loop.ts";
 * hostWait(0).hotMs; // 0: this worker never waits hot
 * ```
 */
export function hostWait(
  hotMs: number | undefined,
): Pick<LoopOptions, "idleWaitMs" | "blockForTimers" | "hotMs"> {
  return { ...HOST_WAIT, hotMs: hotMs ?? HOST_WAIT.hotMs };
}
export { CONTROL_WAIT_MS } from "./control_gate.ts";

/** Longest stretch of work before returning to the event loop. */
const MAX_BUSY_MS = 2;

/**
 * How long a lab's threads wait hot after work, ms: `VLAB_HOT_MS` from the environment (0 turns
 * hot waits off; at most 10 s), else {@linkcode HOT_MS}. A bad value is {@linkcode HOT_MS}, not an
 * error in every worker. Read by the main thread (the lab passes it on in each worker's start
 * message) and by host workers started without one.
 *
 * @example
 * ```ts
 * import { envHotMs } from "./loop.ts";
 * envHotMs(); // 50 unless VLAB_HOT_MS says otherwise
 * ```
 */
export function envHotMs(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("VLAB_HOT_MS");
  } catch {
    return HOT_MS; // no permission to read the environment
  }
  const n = Number(text ?? HOT_MS);
  return text !== undefined && text.trim() !== "" && Number.isFinite(n) && n >= 0
    ? Math.min(n, 10_000)
    : HOT_MS;
}
/** Longest blocking slice: about the most a message or a timer waits while a thread is hot, ms. */
export const BLOCK_SLICE_MS = 3;
/** The event loop's turn between two blocking slices (a `waitAsync` that a ring also ends), ms. */
export const YIELD_MS = 1;

const pendingTasks: Array<() => void> = [];
/**
 * The channel a macrotask goes through, made on first use: a port listening for messages keeps its
 * thread's event loop alive, so one made when this module loads kept every process that imports it
 * (the lab's main thread does, for `HOT_MS`) from ever exiting on its own.
 */
let channel: MessageChannel | null = null;

/** Yield to the event loop (a macrotask: messages, timers and every pending microtask run). */
export function macrotask(): Promise<void> {
  if (channel === null) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => pendingTasks.shift()?.();
  }
  const port = channel.port2;
  return new Promise((resolve) => {
    pendingTasks.push(resolve);
    port.postMessage(0);
  });
}

/** How often a busy thread publishes its CPU time, ms (the placement reads it every 500 ms). */
export const CPU_TIME_PERIOD_MS = 20;

/**
 * The thread's side of CPU placement (`lab/placement.ts`). It publishes the CPU time it has used
 * in its `CPU_TIME` doorbell word, at most every {@linkcode CPU_TIME_PERIOD_MS} (a system call
 * each, and a busy thread passes thousands of times a second: a vhost-pci peer's guest spent
 * 1.3 % of its samples in it when it published every fourth pass). And it follows its `CPU` word,
 * moving onto the CPU asked for, or back onto all of them, at the first pass that sees the word
 * change. A thread that cannot (see `affinity.ts`) publishes nothing and keeps running where the
 * scheduler puts it.
 */
class CpuFollower {
  #applied: number | null = null;
  #passes = 0;
  #publishedAt = -Infinity;
  readonly #affinity: ThreadAffinity | NoAffinity;
  constructor(readonly bells: Int32Array, readonly thread: number) {
    this.#affinity = threadAffinity();
  }
  /** Once per loop pass. */
  pass(): void {
    const affinity = this.#affinity;
    if (!("pin" in affinity)) return;
    if ((++this.#passes & 15) === 0) {
      const now = performance.now();
      if (now - this.#publishedAt >= CPU_TIME_PERIOD_MS) {
        this.#publishedAt = now;
        publishCpuTime(this.bells, this.thread, affinity.cpuTimeUs());
      }
    }
    const want = cpuOf(this.bells, this.thread);
    if (want === this.#applied) return;
    this.#applied = want;
    affinity.pin(want);
  }
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
  const tag = opts.sleepTag ?? 1;
  const hotMs = opts.hotMs ?? 0;
  const blockUntil = opts.blockUntil ?? (() => Infinity);
  const idleWaitMs = opts.idleWaitMs ?? MAX_WAIT_MS;
  const counters = opts.counters ?? loopCounters();
  const wake = opts.wake ?? { at: 0 };
  wake.at = 0;
  setThreadState(bells, thread, ThreadState.RUNNING);
  let lastYield = performance.now();
  let lastPeriodic = 0;
  let lastWork = -Infinity;
  let worked = false; // work since lastWork was stamped
  const cpu = new CpuFollower(bells, thread);
  const control = opts.control;
  // A pass whose producers held frames back for a control message not yet read counts as work:
  // the next pass reads it (at the top) and takes them, where a sleep would leave them waiting
  // for a ring. One load of the `CONTROL` word, only after a pass without work.
  const pump = control === undefined ? () => hooks.pump() : () => hooks.pump() || control.pending();
  const canYield = opts.pollUs > 0 ? cpuYield() : null;
  const yieldCpu = typeof canYield === "function" ? canYield : null;
  /**
   * One wait on the doorbell: blocking slices when hot, else one `waitAsync`. Returns
   * {@linkcode RUNG} and {@linkcode YIELDED} bits; the caller counts a timeout.
   */
  const sleep = async (
    hot: boolean,
    seen: number,
    timeoutMs: number,
    hotUntil: number,
  ): Promise<number> => {
    if (hot) {
      return await hotWait(bells, thread, seen, timeoutMs, hotUntil, blockUntil, counters, tag);
    }
    if (await waitDoorbell(bells, thread, seen, timeoutMs, tag)) {
      counters.wakeupsAsync++;
      return RUNG | YIELDED;
    }
    return YIELDED;
  };
  /**
   * After a wait that `sleep` says ended `end`: whether the event loop must now have its turn
   * (woken by rings in blocking slices without yielding for {@linkcode MAX_BUSY_MS}). Stamps
   * `lastYield` either way.
   */
  const turnDue = (end: number): boolean => {
    const now = performance.now();
    if (end & YIELDED || now - lastYield > MAX_BUSY_MS) {
      lastYield = now; // yielded already, or about to
      return !(end & YIELDED);
    }
    return false;
  };
  try {
    let busyPasses = 0;
    while (!stopRequested(bells, thread)) {
      if (hooks.fenced?.()) return;
      if (control !== undefined && control.pending()) {
        await control.read();
        lastYield = performance.now();
      }
      const seen = readBell(bells, thread);
      beat(bells, thread);
      cpu.pass();
      if (pump()) {
        worked = true; // lastWork is stamped at the next idle pass (no clock read per pass)
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
      if (worked) {
        worked = false;
        lastWork = now;
      }
      if (hooks.periodic && now - lastPeriodic >= 100) {
        lastPeriodic = now;
        hooks.periodic();
      }
      // Nothing to do: first let pending continuations run.
      await null;
      if (pump()) {
        worked = true;
        continue;
      }
      // Busy-poll a short budget, giving the CPU between polls to any thread that waits for it
      // (a peer woken on this CPU would otherwise wait for the poll's time slice to end).
      const pollEnd = performance.now() + opts.pollUs / 1000;
      let found = false;
      while (performance.now() < pollEnd) {
        if (readBell(bells, thread) !== seen || pump()) {
          found = true;
          break;
        }
        yieldCpu?.();
      }
      if (found) {
        counters.pollHits++;
        worked = true;
        continue;
      }
      // Sleep: announce, re-check every source, wait.
      announceSleep(bells, thread, tag);
      if (hooks.prepareSleep() || pump()) {
        cancelSleep(bells, thread, tag);
        worked = true;
        continue;
      }
      // A timed `waitAsync` ends one to a few milliseconds late here (the event loop's timers
      // have millisecond granularity and round up), which a 2 ms netem delay would feel. A
      // worker that may block (`blockForTimers`) sleeps the last stretch before a timer in a
      // blocking wait, which a ring also ends, and spins the final {@linkcode TIMER_SPIN_MS}
      // (a blocking wait still wakes 0.1–0.3 ms late on our VMs, as `nanosleep` does); one that
      // may not block wakes a millisecond early and polls the rest, yielding to the event loop
      // between passes.
      const next = hooks.nextTimerMs();
      if (opts.blockForTimers && next <= TIMER_BLOCK_MS) {
        if (next > TIMER_SPIN_MS) {
          if (waitDoorbellSync(bells, thread, seen, next - TIMER_SPIN_MS, tag)) {
            counters.wakeupsBlocking++;
          } else counters.timeouts++;
        } else {
          cancelSleep(bells, thread, tag);
          const due = performance.now() + next;
          while (performance.now() < due && readBell(bells, thread) === seen) {
            // the timer is due within TIMER_SPIN_MS: watch the clock and the doorbell
          }
        }
        if (performance.now() - lastYield > MAX_BUSY_MS) {
          await macrotask(); // the event loop's turn (messages)
          lastYield = performance.now();
        }
        continue;
      }
      if (next <= TIMER_SLACK_MS) {
        cancelSleep(bells, thread, tag);
        await macrotask();
        lastYield = performance.now();
        continue;
      }
      let timeout = Math.min(
        idleWaitMs,
        next - (opts.blockForTimers ? TIMER_BLOCK_MS : TIMER_SLACK_MS),
      );
      const publishIn = hooks.periodic && lastWork > lastPeriodic
        ? lastPeriodic + 100 - performance.now()
        : Infinity;
      // Hot (work within the last `hotMs`, no workload's macrotask waiting): blocking slices.
      // Decided once per sleep, for the publish's wait and the rest alike.
      const hot = pendingTasks.length === 0 && performance.now() - lastWork < hotMs &&
        blockUntil() > performance.now();
      if (publishIn < timeout) {
        // Work since the last publish: publish when it is due (statistics at most ~100 ms
        // stale), then sleep the rest on the same bell value. No pump in between: a wake-up to
        // publish must not find work that came without a ring (a lost kick stays lost).
        const t0 = performance.now();
        // Timers are not looked at again before the whole wait's end (the rest is slept below).
        wake.at = t0 + timeout;
        const end = await sleep(hot, seen, Math.max(1, publishIn), lastWork + hotMs);
        wake.at = 0;
        if (end & RUNG) {
          if (turnDue(end)) await macrotask();
          continue;
        }
        lastPeriodic = performance.now();
        hooks.periodic!();
        timeout -= lastPeriodic - t0;
        if (timeout <= 0) continue;
        announceSleep(bells, thread, tag); // a ring since `seen` ends the next wait at once
      }
      wake.at = performance.now() + timeout;
      const end = await sleep(hot, seen, timeout, lastWork + hotMs);
      wake.at = 0;
      if (!(end & RUNG)) counters.timeouts++;
      if (turnDue(end)) await macrotask();
    }
    setThreadState(bells, thread, ThreadState.STOPPED);
  } catch (e) {
    setThreadState(bells, thread, ThreadState.FAILED);
    throw e;
  }
}

/** A wait ended by a ring (not by its timeout). */
const RUNG = 1;
/** The event loop had a turn during the wait (a `waitAsync`). */
const YIELDED = 2;

/**
 * The hot wait: blocking slices of at most {@linkcode BLOCK_SLICE_MS} until the bell moves from
 * `seen` or `timeoutMs` passes; between two slices, a `waitAsync` of {@linkcode YIELD_MS} lets
 * the event loop run messages and timers (a `MessageChannel` macrotask does not: Deno runs timers
 * late while messages keep coming), and a ring ends it too, at `waitAsync`'s speed. Nothing is
 * pumped without a ring, as with one long `waitAsync`. Past `hotUntil`, or when a workload's own
 * macrotask waits (blocking would starve it), the rest of the wait is a `waitAsync`. Returns with
 * `SLEEPING` cleared: {@linkcode RUNG} if a ring ended it, {@linkcode YIELDED} if the event loop
 * ran meanwhile.
 */
async function hotWait(
  bells: Int32Array,
  thread: number,
  seen: number,
  timeoutMs: number,
  hotUntil: number,
  blockUntil: () => number,
  counters: LoopCounters,
  tag: number,
): Promise<number> {
  const end = performance.now() + timeoutMs;
  // Bounded: each pass waits a slice and a yield, or ends the wait (timeoutMs ≤ the idle wait).
  for (let yielded = 0;;) {
    let now = performance.now();
    if (now >= end) return yielded;
    // What waits on the event loop (a guest's workload timer) is due by `until`: the event loop
    // has its turn then, and blocking resumes once it is no longer due. What runs there now
    // (-Infinity), or a macrotask, gets the rest of the wait.
    const until = Math.min(hotUntil, blockUntil());
    if (now >= hotUntil || until === -Infinity || pendingTasks.length > 0) {
      announceSleep(bells, thread, tag);
      if (await waitDoorbell(bells, thread, seen, end - now, tag)) {
        counters.wakeupsAsync++;
        return RUNG | YIELDED;
      }
      return YIELDED;
    }
    if (now < until) {
      // Every slice says so: each wait clears SLEEPING when it ends, and a ringer notifies only a
      // thread that sleeps (a slice without it would sleep through a ring to its end).
      announceSleep(bells, thread, tag);
      const slice = Math.min(BLOCK_SLICE_MS, end - now, until - now);
      if (waitDoorbellSync(bells, thread, seen, slice, tag)) {
        counters.wakeupsBlocking++;
        return RUNG | yielded;
      }
      counters.idleSlices++;
      now = performance.now();
      if (now >= end) continue;
    }
    announceSleep(bells, thread, tag);
    yielded = YIELDED;
    if (await waitDoorbell(bells, thread, seen, Math.min(YIELD_MS, end - now), tag)) {
      counters.wakeupsAsync++;
      return RUNG | YIELDED;
    }
  }
}
