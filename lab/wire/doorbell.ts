/**
 * Doorbells: one `Int32` event counter per worker thread, in one lab-wide shared buffer, like an
 * eventfd per thread. Whoever has news for a thread (a guest kick, an interrupt, a frame on a
 * link, a register trap, a stop request) calls {@linkcode ringDoorbell}; the thread waits on its
 * own counter only, after a short busy-poll budget, and then scans all its sources.
 *
 * Each thread's words sit on their own 64-byte line:
 *
 * | word | meaning | written by |
 * | --- | --- | --- |
 * | `BELL` | event counter | anyone (`Atomics.add`) |
 * | `SLEEPING` | the owner's sleep tag (non-zero) while it waits, else 0 | the owner |
 * | `STOP` | non-zero when the owner must return ({@linkcode StopMode}) | the main thread |
 * | `HEARTBEAT` | loop passes, for the watchdog | the owner |
 * | `STATE` | {@linkcode ThreadState} | the owner |
 * | `WAKEUPS` | waits that ended because of a ring | the owner |
 * | `CONTROL` | control messages posted to the owner that must act before its next pass | the main thread |
 * | `CPU_TIME` | microseconds of CPU the owner has used, modulo 2³², as of a recent loop pass | the owner |
 * | `CPU` | the CPU the owner should run on, plus one; 0: any (`lab/placement.ts`) | the main thread |
 * | `SELF_RINGS` | rings the owner gave itself while it slept ({@linkcode ringSelf}), of `WAKEUPS` | the owner |
 * | `GENERATION` | a guest thread: the generation of the guest that may run there ({@linkcode endGeneration}) | the main thread |
 * | `INSIDE` | a guest thread: its guests' sections under way that may write guest memory (`lab/wire/fence.ts`) | the guests |
 *
 * Lost-wakeup freedom (Dekker, all accesses sequentially consistent Atomics): the sleeper stores
 * its tag in `SLEEPING`, re-checks its sources, then waits while `BELL` equals the value it read
 * before the re-check; the ringer adds to `BELL`, then loads `SLEEPING` and notifies if set.
 * Either the ringer sees `SLEEPING` set (and notifies), or the sleeper's wait sees the changed
 * `BELL`.
 *
 * The tag ({@linkcode announceSleep}) tells owners of one thread apart: a guest's generation, a
 * device worker's epoch, plus one, so a successor's tag is larger. A sleeper clears `SLEEPING`
 * only while it holds its own tag, and announces only over a tag no larger than its own, so that
 * an owner replaced while it slept or was about to (its last task runs on after `terminate()`:
 * see `fence.ts`) neither clears its successor's announcement when its wait ends nor overwrites
 * it with its own tag that it clears later: either would leave the successor asleep through
 * every ring until its wait's timeout. While a successor waits, `SLEEPING` so holds its tag.
 *
 * @module
 */

/** Int32 words per thread (one cache line). */
export const DOORBELL_STRIDE = 16;

/** Word offsets within a thread's doorbell line. */
export const DoorbellWord = {
  BELL: 0,
  SLEEPING: 1,
  STOP: 2,
  HEARTBEAT: 3,
  STATE: 4,
  WAKEUPS: 5,
  CONTROL: 6,
  CPU_TIME: 7,
  CPU: 8,
  SELF_RINGS: 9,
  GENERATION: 10,
  INSIDE: 11,
} as const;

/** What a worker thread reports in its `STATE` word. */
export const ThreadState = {
  STARTING: 0,
  RUNNING: 1,
  STOPPED: 2,
  FAILED: 3,
} as const;

/** A new doorbell buffer for `threads` threads. */
export function createDoorbells(threads: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, threads) * DOORBELL_STRIDE * 4));
}

/**
 * Ring a thread's doorbell.
 *
 * @example
 * ```ts
 * import { createDoorbells, ringDoorbell } from "./doorbell.ts";
 * const bells = createDoorbells(2);
 * ringDoorbell(bells, 1);
 * ```
 */
export function ringDoorbell(bells: Int32Array, thread: number): void {
  const base = thread * DOORBELL_STRIDE;
  // Publish the event: pairs with the sleeper's wait on BELL (seq-cst, see the module note).
  Atomics.add(bells, base + DoorbellWord.BELL, 1);
  if (Atomics.load(bells, base + DoorbellWord.SLEEPING) !== 0) {
    Atomics.notify(bells, base + DoorbellWord.BELL, 1);
  }
}

/**
 * A thread rings its own doorbell: code on its event loop (a workload's new timer, a message that
 * changes what the loop waits for) ends the loop's `waitAsync` so that the loop plans its wait
 * anew. Counted apart (`SELF_RINGS`) when it ends a wait, so that `WAKEUPS` less `SELF_RINGS` is
 * the wake-ups other threads caused: a self-ring ends only a wait on the thread's own event loop,
 * through V8, with no other thread and no system call in it.
 *
 * @example
 * ```ts
 * import { createDoorbells, ringSelf } from "./doorbell.ts";
 * const bells = createDoorbells(1);
 * ringSelf(bells, 0); // not sleeping: the bell moves, nothing is counted
 * ```
 */
export function ringSelf(bells: Int32Array, thread: number): void {
  const base = thread * DOORBELL_STRIDE;
  // Only the owner writes SLEEPING, and the owner runs this: the ring below ends a wait exactly
  // when it reads 1 here.
  if (Atomics.load(bells, base + DoorbellWord.SLEEPING) !== 0) {
    Atomics.add(bells, base + DoorbellWord.SELF_RINGS, 1);
  }
  ringDoorbell(bells, thread);
}

/** The current value of a thread's counter: read it *before* scanning sources. */
export function readBell(bells: Int32Array, thread: number): number {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.BELL);
}

/** Whether the main thread asked `thread` to stop. */
export function stopRequested(bells: Int32Array, thread: number): boolean {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.STOP) !== 0;
}

/**
 * How a stopped worker ends, the value of its `STOP` word. Tearing a lab worker down costs about
 * 0.1 s of CPU on our VMs (its memory returned page range by page range, each a TLB shootdown),
 * which a process that is about to exit need not pay.
 */
export const StopMode = {
  /** Return from the loop, then close the worker (its teardown runs before `Lab.stop` returns). */
  CLOSE: 1,
  /** Return from the loop and stay open: the process is exiting, and its exit ends the worker. */
  EXIT: 2,
} as const;

/** Ask a thread to stop (and wake it); `mode` says how it ends ({@linkcode StopMode}). */
export function requestStop(
  bells: Int32Array,
  thread: number,
  mode: number = StopMode.CLOSE,
): void {
  Atomics.store(bells, thread * DOORBELL_STRIDE + DoorbellWord.STOP, mode);
  ringDoorbell(bells, thread);
}

/** The {@linkcode StopMode} the main thread asked of `thread` (0: none yet). */
export function stopMode(bells: Int32Array, thread: number): number {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.STOP);
}

/** The generation of the guest that may run on guest thread `thread` (its start message says it). */
export function guestGeneration(bells: Int32Array, thread: number): number {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.GENERATION);
}

/**
 * The guest on guest thread `thread` is gone (a `vm-crash`): its generation ends, for good (the
 * next guest gets the next one, so nothing is ever cleared under an old guest still finishing a
 * task), and its doorbell rings (its waits end). From here on its sections do not start
 * (`lab/wire/fence.ts`); once {@linkcode guestsInside} reads 0, none is under way. Returns the
 * new generation.
 *
 * @example
 * ```ts
 * import { createDoorbells, endGeneration, guestGeneration } from "./doorbell.ts";
 * const bells = createDoorbells(1);
 * endGeneration(bells, 0); // 1
 * guestGeneration(bells, 0); // 1
 * ```
 */
export function endGeneration(bells: Int32Array, thread: number): number {
  // Publish the end: pairs with Fence.enter's Atomics.load of GENERATION after its add.
  const next = Atomics.add(bells, thread * DOORBELL_STRIDE + DoorbellWord.GENERATION, 1) + 1;
  ringDoorbell(bells, thread);
  return next;
}

/**
 * How many sections of guests on guest thread `thread` are under way (`Fence.enter` to
 * `exit`). Read after {@linkcode endGeneration}: 0 means the guests of the ended generations
 * write no guest memory any more (a section that starts later sees its generation ended).
 */
export function guestsInside(bells: Int32Array, thread: number): number {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.INSIDE);
}

/** Count one pass of the owner's loop (the watchdog reads it). */
export function beat(bells: Int32Array, thread: number): void {
  const i = thread * DOORBELL_STRIDE + DoorbellWord.HEARTBEAT;
  Atomics.store(bells, i, (Atomics.load(bells, i) + 1) | 0);
}

/**
 * The main thread has posted a control message numbered `seq` to `thread` (a link going down, an
 * impairment, the partitions): the owner takes no frame published after this store until it has
 * read it (its control gate, `control_gate.ts`, and its loop's next pass). Call it after
 * `postMessage`; `seq` is {@linkcode nextControl}'s. Publish `CONTROL`: pairs with observe
 * `CONTROL` in `ControlGate.pending`.
 *
 * @example
 * ```ts
 * import { createDoorbells, nextControl, postedControl, publishControl } from "./doorbell.ts";
 * const bells = createDoorbells(1);
 * const seq = nextControl(bells, 0); // 1: send it with the message, then
 * publishControl(bells, 0, seq);
 * postedControl(bells, 0); // 1
 * ```
 */
export function publishControl(bells: Int32Array, thread: number, seq: number): void {
  Atomics.store(bells, thread * DOORBELL_STRIDE + DoorbellWord.CONTROL, seq);
}

/** The number the next control message to `thread` carries (main thread). */
export function nextControl(bells: Int32Array, thread: number): number {
  return (Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.CONTROL) + 1) | 0;
}

/** The number of the last control message posted to `thread`. */
export function postedControl(bells: Int32Array, thread: number): number {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.CONTROL);
}

/** Set the owner's state word. */
export function setThreadState(bells: Int32Array, thread: number, state: number): void {
  Atomics.store(bells, thread * DOORBELL_STRIDE + DoorbellWord.STATE, state);
}

/** Read a thread's doorbell word. */
export function readDoorbellWord(bells: Int32Array, thread: number, word: number): number {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + word);
}

/**
 * Wait until the thread's counter moves away from `seen`, or `timeoutMs` passes. Call it only
 * after re-checking every source with `SLEEPING` set: use {@linkcode announceSleep} first, with
 * the same `tag`. Returns true if a ring ended the wait.
 */
export async function waitDoorbell(
  bells: Int32Array,
  thread: number,
  seen: number,
  timeoutMs: number,
  tag = 1,
): Promise<boolean> {
  const base = thread * DOORBELL_STRIDE;
  const w = Atomics.waitAsync(bells, base + DoorbellWord.BELL, seen, Math.max(0, timeoutMs));
  const outcome = w.async ? await w.value : w.value;
  Atomics.compareExchange(bells, base + DoorbellWord.SLEEPING, tag, 0);
  if (outcome !== "timed-out") {
    Atomics.add(bells, base + DoorbellWord.WAKEUPS, 1);
    return true;
  }
  return false;
}

/**
 * Like {@linkcode waitDoorbell}, but a blocking `Atomics.wait`: the thread's event loop does not
 * run until it returns, so keep `timeoutMs` to a short slice (`lab/wire/loop.ts` uses 3 ms). A
 * ring wakes it 1.5 to 4.5 times sooner than `Atomics.waitAsync` does (`vlab bench wakeup`).
 * Same protocol: call it only after {@linkcode announceSleep} (the same `tag`) and a re-check.
 * Returns true if a ring ended the wait.
 *
 * @example
 * ```ts
 * import { announceSleep, createDoorbells, readBell, waitDoorbellSync } from "./doorbell.ts";
 * const bells = createDoorbells(1);
 * const seen = readBell(bells, 0);
 * announceSleep(bells, 0);
 * waitDoorbellSync(bells, 0, seen, 1); // false: nobody rang within 1 ms
 * ```
 */
export function waitDoorbellSync(
  bells: Int32Array,
  thread: number,
  seen: number,
  timeoutMs: number,
  tag = 1,
): boolean {
  const base = thread * DOORBELL_STRIDE;
  const outcome = Atomics.wait(bells, base + DoorbellWord.BELL, seen, Math.max(0, timeoutMs));
  Atomics.compareExchange(bells, base + DoorbellWord.SLEEPING, tag, 0);
  if (outcome !== "timed-out") {
    Atomics.add(bells, base + DoorbellWord.WAKEUPS, 1);
    return true;
  }
  return false;
}

/** Publish the owner's CPU time, µs (the owner's loop, `wire/loop.ts`). */
export function publishCpuTime(bells: Int32Array, thread: number, us: number): void {
  Atomics.store(bells, thread * DOORBELL_STRIDE + DoorbellWord.CPU_TIME, us | 0);
}

/**
 * Microseconds of CPU `thread` has used, modulo 2³², as it last published: the signed difference
 * of two readings, `(b - a) | 0`, is what it used between them (while under 35 minutes apart); a
 * step back means its worker was replaced (a new thread's clock starts near 0).
 */
export function cpuTimeUs(bells: Int32Array, thread: number): number {
  return Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.CPU_TIME) >>> 0;
}

/** Ask `thread` to run on `cpu` only, or anywhere (`null`); it moves at its next loop pass. */
export function setCpu(bells: Int32Array, thread: number, cpu: number | null): void {
  Atomics.store(bells, thread * DOORBELL_STRIDE + DoorbellWord.CPU, cpu === null ? 0 : cpu + 1);
}

/** The CPU `thread` was asked to run on (`setCpu`), or `null` for any. */
export function cpuOf(bells: Int32Array, thread: number): number | null {
  const v = Atomics.load(bells, thread * DOORBELL_STRIDE + DoorbellWord.CPU);
  return v === 0 ? null : v - 1;
}

/**
 * Set `SLEEPING` to the owner's `tag` (positive; default 1: see the module note): from here on,
 * ringers notify. Re-check the sources after this. A larger tag there is a successor's, which
 * stays: a replaced owner (a smaller tag) announces nothing.
 */
export function announceSleep(bells: Int32Array, thread: number, tag = 1): void {
  const at = thread * DOORBELL_STRIDE + DoorbellWord.SLEEPING;
  // Bounded: each retry follows another owner's change of the word, and the owners of a thread
  // are few (a replaced one and its successor).
  for (let cur = Atomics.load(bells, at); cur <= tag;) {
    const was = Atomics.compareExchange(bells, at, cur, tag);
    if (was === cur) return;
    cur = was;
  }
}

/**
 * Clear `SLEEPING` when the re-check found work and the thread will not wait: only if it still
 * holds the owner's `tag` (a successor's announcement stays).
 */
export function cancelSleep(bells: Int32Array, thread: number, tag = 1): void {
  Atomics.compareExchange(bells, thread * DOORBELL_STRIDE + DoorbellWord.SLEEPING, tag, 0);
}
