/**
 * What every worker entry (guest, device, switch) does with its global scope: post messages to
 * the supervisor, take its start message once, run, and report a failure as a message (the
 * supervisor also sees uncaught errors through `onerror`).
 *
 * @module
 */

import type { FromWorker, ToWorker, WorkerPreload } from "./messages.ts";
import { postedControl, StopMode, stopMode } from "./doorbell.ts";

/** The parts of a worker's global scope the entries use. */
interface WorkerScope {
  postMessage(m: FromWorker): void;
  onmessage: ((e: MessageEvent) => void) | null;
  close(): void;
}

const scope = self as unknown as WorkerScope;

/** Send a message to the supervisor. */
export function post(m: FromWorker): void {
  scope.postMessage(m);
}

/**
 * End this worker now, the way a crashed process ends: `failed` tells the supervisor why, and
 * the worker closes (no further task runs). For `vlab fault backend-crash --mode exit`.
 */
export function exitWorker(message: string): void {
  post({ type: "failed", message });
  scope.close();
}

/**
 * The last numbered control message this worker has handled (see `DoorbellWord.CONTROL`): the
 * start message's `controlSeq` at first (messages numbered up to it were posted to a predecessor
 * on this thread), then the `seq` of each control message handled.
 */
let appliedControl = 0;

/**
 * Messages that came after the start message and before the entry registered its handler
 * ({@linkcode onControl}), in their order; null once they have been handed to it. The start runs
 * for a while before it registers (it loads its device kinds, restores its devices, brings up its
 * stack), and what is posted meanwhile counts: a link change, an impairment or the partitions, the
 * state a supervisor sends a replacement (their numbers have moved the `CONTROL` word already, and
 * the worker's control gate waits for them), an exec whose caller waits for its answer.
 */
let early: ToWorker[] | null = [];
let handler: ((m: ToWorker) => void) | null = null;

/**
 * The number of the last control message this worker has handled: what its control gate
 * (`control_gate.ts`) compares the doorbell's `CONTROL` word with.
 * Starts at the start message's `controlSeq`, the word when the worker was started.
 */
export function controlApplied(): number {
  return appliedControl;
}

/**
 * Handle the supervisor's messages after start (exec, link, inspect). A handler that throws
 * costs that message, not the worker: the error is reported as an event and the worker runs on.
 * Messages that came before this call (after the start message) are handed to it first, in
 * their order, in a microtask: before the worker's loop takes its first frame (a control message
 * among them is pending in its control gate until then), and after what the entry does
 * synchronously after this call (its `ready`).
 */
export function onControl(h: (m: ToWorker) => void): void {
  handler = h;
  scope.onmessage = (e: MessageEvent<ToWorker>) => {
    if (early !== null) early.push(e.data); // behind what came first
    else deliver(e.data);
  };
  queueMicrotask(() => {
    const queued = early ?? [];
    // Bounded: what came before the handler, and what came in until this task (none: a message
    // is a task of its own, and a microtask runs before the next task).
    for (let i = 0; i < queued.length; i++) deliver(queued[i]);
    early = null;
  });
}

/** Hand one message to the entry's handler; count its number as handled either way. */
function deliver(m: ToWorker): void {
  try {
    handler!(m);
  } catch (error) {
    post({ type: "event", kind: "worker-error", detail: { message: messageOf(error) } });
  } finally {
    const seq = (m as { seq?: unknown }).seq;
    // Numbers wrap at 2³¹ (`nextControl`): compared as a difference.
    if (typeof seq === "number" && ((seq - appliedControl) | 0) > 0) appliedControl = seq;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Contain rejections nobody awaited: report each as a `worker-error` event instead of letting it
 * end the worker (an unhandled rejection is fatal to a Deno worker). The causes are fixed where
 * they are found; this keeps one missed promise from taking a VM down.
 */
function containUnhandledRejections(): void {
  globalThis.addEventListener("unhandledrejection", (e: PromiseRejectionEvent) => {
    e.preventDefault();
    post({ type: "event", kind: "worker-error", detail: { message: messageOf(e.reason) } });
  });
}

/**
 * Run `start` on the first start message; close the worker when it returns (unless the main
 * thread asked it to stop with {@linkcode StopMode.EXIT}: the process is exiting, and its exit
 * ends the worker without the teardown a close costs), post `failed` when it throws (with the
 * error's `hint` when it has one, as a guest slice's `GuestStartError`). A `preload` message before it goes to `preload` (a warm standby loading the
 * device kinds it will need); a failed preload is left for `start` to meet again and report.
 * Messages after the start message wait for the handler `start` registers ({@linkcode onControl}).
 * The start message's `controlSeq` (the thread's `CONTROL` word when it was posted; absent: the
 * word now) is the number of the last control message this worker counts as handled before any.
 *
 * @example
 * ```ts ignore
 * import { runWorker } from "./worker_scope.ts";
 * runWorker<{ type: "start"; doorbells: SharedArrayBuffer; thread: number }>(async () => {});
 * ```
 */
export function runWorker<
  S extends { type: "start"; doorbells: SharedArrayBuffer; thread: number; controlSeq?: number },
>(
  start: (msg: S) => Promise<void>,
  preload?: (msg: WorkerPreload) => Promise<unknown>,
): void {
  let started = false;
  containUnhandledRejections();
  scope.onmessage = (e: MessageEvent<S | WorkerPreload | ToWorker>) => {
    const m = e.data;
    if (m.type === "preload") {
      if (!started) preload?.(m).catch(() => {});
      return;
    }
    if (m.type !== "start") {
      // Before the handler: kept for it (before the start message nothing is posted).
      if (started) early?.push(m);
      return;
    }
    if (started) return;
    started = true;
    const msg = m as S;
    appliedControl = typeof msg.controlSeq === "number"
      ? msg.controlSeq
      : postedControl(new Int32Array(msg.doorbells), msg.thread);
    start(msg).then(() => {
      if (stopMode(new Int32Array(msg.doorbells), msg.thread) !== StopMode.EXIT) scope.close();
    }, (error) => {
      const hint = (error as { hint?: unknown } | null)?.hint;
      post({
        type: "failed",
        message: messageOf(error),
        ...(typeof hint === "string" ? { hint } : {}),
      });
    });
  };
}
