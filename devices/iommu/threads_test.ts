/**
 * The vIOMMU across threads: a consumer in a worker translates in a loop while the owner maps
 * and unmaps on the main thread. Once `waitFlushed` resolved, no batch of the worker translates
 * through the removed mapping (the handshake holds with real concurrency, not only in tests that
 * interleave by hand).
 */
import assert from "node:assert/strict";
import { GuestMemory } from "../memory/memory.ts";
import type { ConsumerJob } from "./testdata/consumer_worker.ts";
import { Viommu } from "./viommu.ts";

const WORKER_URL = new URL("./testdata/consumer_worker.ts", import.meta.url);
const IOVA = 0x100000;

/** Wait (bounded) until `cond` holds; fail with `what` at the deadline. */
async function until(cond: () => boolean, what: string, deadlineMs = 5000): Promise<void> {
  const end = performance.now() + deadlineMs;
  while (!cond()) {
    if (performance.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

Deno.test("a consumer thread never translates through a mapping after its UNMAP completed", async () => {
  const v = Viommu.create({ mappings: 8, endpoints: 1, consumers: 1, faults: 4 });
  const mem = GuestMemory.create(65536);
  v.attach(1, 0);
  const ctl = new Int32Array(new SharedArrayBuffer(4 * 8));
  const worker = new Worker(WORKER_URL, { type: "module" });
  try {
    const job: ConsumerJob = {
      viommu: v.buffer,
      memory: mem.buffer,
      slot: v.registerConsumer("worker"),
      ctl: ctl.buffer as SharedArrayBuffer,
      iova: IOVA,
    };
    worker.postMessage(job);
    for (let k = 0; k < 6; k++) {
      Atomics.store(ctl, 1, 2 * k + 2);
      // The first wait includes the worker's start-up (type-checked at first start under deno
      // test, slow on a loaded machine); later ones are one batch away.
      await until(
        () => Atomics.load(ctl, 6) === 2 * k + 2,
        `the worker to see epoch ${2 * k + 2}`,
        k === 0 ? 30_000 : 5000,
      );
      const hits = Atomics.load(ctl, 3);
      assert.equal(
        v.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x1000 * (k + 1), perms: 1 }).ok,
        true,
      );
      await until(() => Atomics.load(ctl, 3) > hits, "the worker to translate through the mapping");
      assert.equal(v.unmap(1, IOVA, IOVA + 0xfff).ok, true);
      const flushed = await v.waitFlushed(v.invalidate(), { timeoutMs: 5000 });
      assert.deepEqual(flushed, { ok: true, value: undefined });
      Atomics.store(ctl, 1, 2 * k + 3);
      const batches = Atomics.load(ctl, 2);
      await until(
        () => Atomics.load(ctl, 2) > batches + 100,
        "the worker to run batches after the unmap",
      );
    }
    Atomics.store(ctl, 0, 1);
    await until(() => Atomics.load(ctl, 5) === 1, "the worker to stop");
    assert.equal(Atomics.load(ctl, 4), 0, "successes after the UNMAP completed");
  } finally {
    Atomics.store(ctl, 0, 1);
    worker.terminate();
  }
});
