/**
 * A helper worker for `worker_scope_test.ts`: `runWorker` with a start that, as a worker entry
 * does while it loads its device kinds, registers its control handler only later (when the test
 * posts `go`), with a control gate made before, as the entries make theirs. It then does what its
 * loop's first pass does (read what is pending) and reports what it handled.
 *
 * @module
 */

import { ControlGate } from "../control_gate.ts";
import { controlApplied, onControl, runWorker } from "../worker_scope.ts";

/** The start message. */
export interface ControlStart {
  type: "start";
  doorbells: SharedArrayBuffer;
  thread: number;
  controlSeq?: number;
  /** The number of the last control message the test posts (the helper reports once it came). */
  last: number;
}

/** What the helper reports once its first pass would run. */
export interface ControlReport {
  /** `controlApplied()` right after the handler was registered. */
  appliedAtRegistration: number;
  /** The numbered messages handled when the first pass's read of them ended, in order. */
  handledAtRead: number[];
  /** Every numbered message handled, once the last one came (or 5 s passed), in order. */
  handled: number[];
  /** `controlApplied()` then. */
  applied: number;
}

const scope = self as unknown as {
  postMessage(m: unknown): void;
  addEventListener(type: "message", l: (e: MessageEvent) => void): void;
  removeEventListener(type: "message", l: (e: MessageEvent) => void): void;
};

runWorker<ControlStart>(async (msg) => {
  const bells = new Int32Array(msg.doorbells);
  const gate = new ControlGate(bells, msg.thread, controlApplied);
  // The start's long part: until `go` (a listener of its own: what runWorker hears meanwhile is
  // its business).
  await new Promise<void>((resolve) => {
    const listener = (e: MessageEvent) => {
      if ((e.data as { type?: unknown }).type !== "go") return;
      scope.removeEventListener("message", listener);
      resolve();
    };
    scope.addEventListener("message", listener);
  });
  const handled: number[] = [];
  onControl((m) => {
    const seq = (m as { seq?: unknown }).seq;
    if (typeof seq === "number") handled.push(seq);
  });
  const appliedAtRegistration = controlApplied();
  // The loop's first pass.
  if (gate.pending()) await gate.read();
  const handledAtRead = [...handled];
  const until = performance.now() + 5000;
  while (!handled.includes(msg.last) && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const report: ControlReport = {
    appliedAtRegistration,
    handledAtRead,
    handled,
    applied: controlApplied(),
  };
  scope.postMessage(report);
});
