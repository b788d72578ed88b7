/**
 * What every worker entry (guest, device, switch) does with its global scope: post messages to
 * the supervisor, take its start message once, run, and report a failure as a message (the
 * supervisor also sees uncaught errors through `onerror`).
 *
 * @module
 */

import type { FromWorker, ToWorker, WorkerPreload } from "./messages.ts";
import { StopMode, stopMode } from "./doorbell.ts";

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

/** The last numbered control message this worker has read (see `DoorbellWord.CONTROL`). */
let appliedControl = 0;

/**
 * The number of the last control message this worker has handled: what its control gate
 * (`control_gate.ts`) compares the doorbell's `CONTROL` word with.
 * Starts at what was posted before the worker started ({@linkcode onControl}'s `posted`).
 */
export function controlApplied(): number {
  return appliedControl;
}

/**
 * Handle the supervisor's messages after start (exec, link, inspect). A handler that throws
 * costs that message, not the worker: the error is reported as an event and the worker runs on.
 * `posted` is the doorbell's `CONTROL` word at start: messages numbered up to it were for a
 * predecessor (a replaced device worker gets its state with its start message).
 */
export function onControl(handler: (m: ToWorker) => void, posted = 0): void {
  appliedControl = posted;
  scope.onmessage = (e: MessageEvent<ToWorker>) => {
    try {
      handler(e.data);
    } catch (error) {
      post({ type: "event", kind: "worker-error", detail: { message: messageOf(error) } });
    } finally {
      const seq = (e.data as { seq?: unknown }).seq;
      if (typeof seq === "number" && seq > appliedControl) appliedControl = seq;
    }
  };
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
 *
 * @example
 * ```ts ignore
 * import { runWorker } from "./worker_scope.ts";
 * runWorker<{ type: "start"; doorbells: SharedArrayBuffer; thread: number }>(async () => {});
 * ```
 */
export function runWorker<
  S extends { type: "start"; doorbells: SharedArrayBuffer; thread: number },
>(
  start: (msg: S) => Promise<void>,
  preload?: (msg: WorkerPreload) => Promise<unknown>,
): void {
  let started = false;
  containUnhandledRejections();
  scope.onmessage = (e: MessageEvent<S | WorkerPreload>) => {
    if (e.data.type === "preload" && !started) {
      preload?.(e.data).catch(() => {});
      return;
    }
    if (e.data.type !== "start" || started) return;
    started = true;
    const msg = e.data;
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
