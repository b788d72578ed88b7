import assert from "node:assert/strict";
import {
  createDoorbells,
  nextControl,
  postedControl,
  publishControl,
  requestStop,
  StopMode,
} from "./doorbell.ts";
import type { ScopeStart } from "./testdata/scope_worker.ts";
import type { ControlReport, ControlStart } from "./testdata/control_worker.ts";

const WORKER_URL = new URL("./testdata/scope_worker.ts", import.meta.url).href;
const CONTROL_WORKER_URL = new URL("./testdata/control_worker.ts", import.meta.url).href;

/** Start the helper after a stop request of `mode`; true if it still answers once started. */
async function answersAfterStart(mode: number): Promise<boolean> {
  const bells = createDoorbells(1);
  requestStop(bells, 0, mode);
  const worker = new Worker(WORKER_URL, { type: "module" });
  try {
    const heard: string[] = [];
    let returned!: () => void;
    const started = new Promise<void>((r) => returned = r);
    worker.onmessage = (e: MessageEvent<string>) => {
      heard.push(e.data);
      if (e.data === "returned") returned();
    };
    const start: ScopeStart = {
      type: "start",
      doorbells: bells.buffer as SharedArrayBuffer,
      thread: 0,
    };
    worker.postMessage(start);
    await started;
    // Its close (if any) follows the start's promise: give it that turn, then ask.
    await new Promise((r) => setTimeout(r, 100));
    worker.postMessage("ping");
    await new Promise((r) => setTimeout(r, 500));
    return heard.includes("pong");
  } finally {
    worker.terminate();
  }
}

Deno.test("a worker whose loop returned closes itself, unless its process exits anyway", async () => {
  assert.equal(await answersAfterStart(StopMode.CLOSE), false, "a CLOSE stop left the worker open");
  assert.equal(await answersAfterStart(StopMode.EXIT), true, "an EXIT stop closed the worker");
});

Deno.test("control messages that come before a worker registers its handler are handled then, in order, and none counts as handled before", async () => {
  const bells = createDoorbells(1);
  publishControl(bells, 0, 5); // five messages went to a predecessor on this thread
  const worker = new Worker(CONTROL_WORKER_URL, { type: "module" });
  try {
    let answer!: (r: ControlReport) => void;
    const report = new Promise<ControlReport>((r) => answer = r);
    worker.onmessage = (e: MessageEvent<ControlReport>) => answer(e.data);
    const start: ControlStart = {
      type: "start",
      doorbells: bells.buffer as SharedArrayBuffer,
      thread: 0,
      controlSeq: postedControl(bells, 0),
      last: 8,
    };
    worker.postMessage(start);
    // While its start runs: two control messages, as `WorkerSet.postControl` posts them.
    for (let i = 0; i < 2; i++) {
      const seq = nextControl(bells, 0);
      worker.postMessage({ type: "partitions", cuts: [], seq });
      publishControl(bells, 0, seq);
    }
    // A third one's number is published, the message itself still on its way when the worker
    // registers its handler: it must not count as handled before it comes.
    publishControl(bells, 0, 8);
    worker.postMessage({ type: "go" });
    worker.postMessage({ type: "partitions", cuts: [], seq: 8 });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) =>
      timer = setTimeout(() => reject(new Error("the helper worker did not report")), 10_000)
    );
    const r = await Promise.race([report, late]).finally(() => clearTimeout(timer));
    assert.equal(r.appliedAtRegistration, 5, "messages not handled yet counted as handled");
    assert.deepEqual(r.handledAtRead.slice(0, 2), [6, 7], "the first pass's read missed them");
    assert.deepEqual(r.handled, [6, 7, 8], "dropped, or out of order");
    assert.equal(r.applied, 8);
  } finally {
    worker.terminate();
  }
});
