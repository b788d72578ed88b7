import assert from "node:assert/strict";
import { createDoorbells, requestStop, StopMode } from "./doorbell.ts";
import type { ScopeStart } from "./testdata/scope_worker.ts";

const WORKER_URL = new URL("./testdata/scope_worker.ts", import.meta.url).href;

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
