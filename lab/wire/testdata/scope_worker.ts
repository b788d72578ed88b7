/**
 * A helper worker for `worker_scope_test.ts`: `runWorker` with a start that answers `ping` with
 * `pong` from then on (as a worker's control handler does) and returns at once, as a worker's
 * loop returns once the main thread set its stop word. Whether it then still answers tells
 * whether `runWorker` closed it.
 *
 * @module
 */

import { runWorker } from "../worker_scope.ts";

/** The start message. */
export interface ScopeStart {
  type: "start";
  doorbells: SharedArrayBuffer;
  thread: number;
}

const scope = self as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
};

runWorker<ScopeStart>(() => {
  scope.onmessage = (e) => {
    if (e.data === "ping") scope.postMessage("pong");
  };
  scope.postMessage("returned");
  return Promise.resolve();
});
