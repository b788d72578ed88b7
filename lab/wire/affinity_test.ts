import assert from "node:assert/strict";
import { cpusOfMask, maskOfCpus } from "./affinity.ts";

Deno.test("CPU masks: the CPUs set, both ways, as the kernel lays them out", () => {
  const mask = maskOfCpus([0, 3, 9, 1023]);
  assert.equal(mask.length, 128);
  assert.equal(mask[0], 0b1001);
  assert.equal(mask[1], 0b10);
  assert.equal(mask[127], 0x80);
  assert.deepEqual(cpusOfMask(mask), [0, 3, 9, 1023]);
  assert.deepEqual(cpusOfMask(maskOfCpus([-1, 1024])), [], "out of range CPUs are left out");
});

Deno.test({
  name:
    "a thread pins itself to one CPU, the kernel says so, it widens back, and its CPU clock runs",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const worker = new Worker(new URL("./testdata/affinity_worker.ts", import.meta.url), {
      type: "module",
    });
    try {
      const seen = await new Promise<Record<string, unknown>>((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => {
          e.preventDefault();
          reject(new Error(e.message));
        };
      });
      assert.equal(seen.reason, undefined, `affinity unavailable: ${seen.reason}`);
      const allowed = seen.allowed as number[];
      assert.ok(allowed.length >= 1);
      assert.equal(seen.pinned, true);
      assert.deepEqual(seen.narrowedTo, [allowed[0]], "the kernel's mask after the pin");
      assert.equal(seen.refused, false, "a CPU outside the allowed set is refused");
      assert.equal(seen.widened, true);
      assert.deepEqual(seen.widenedTo, allowed);
      // 30 ms of spinning: its own CPU clock moved by about that (less if the host stole time).
      const used = seen.cpuUsed as number;
      assert.ok(used >= 10_000 && used <= 200_000, `${used} µs of CPU for a 30 ms spin`);
    } finally {
      worker.terminate();
    }
  },
});
