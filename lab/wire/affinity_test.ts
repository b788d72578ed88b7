import assert from "node:assert/strict";
import {
  cpusOfMask,
  maskOfCpus,
  ownThreads,
  SCHED_IDLE,
  SCHED_OTHER,
  V8_HELPER_COMM,
  v8Helpers,
} from "./affinity.ts";

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

/** The scheduling policy of each of this process's threads named `comm` (`stat`'s 41st field). */
function policiesOf(comm: string): number[] {
  const threads = ownThreads();
  assert.ok(Array.isArray(threads), `threads not listed: ${JSON.stringify(threads)}`);
  return threads.filter((t) => t.comm === comm).map((t) => policyOf(t.tid));
}

/** A thread's scheduling policy, read by `cat` (Deno reads `/proc` only with `--allow-all`). */
function policyOf(tid: number): number {
  const out = new Deno.Command("cat", { args: [`/proc/${Deno.pid}/task/${tid}/stat`] })
    .outputSync();
  const stat = new TextDecoder().decode(out.stdout);
  // Fields after the command name, which may hold spaces: state is field 3, policy 41.
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[41 - 3]);
}

Deno.test({
  name: "v8Helpers finds the process's V8 helper threads and switches their policy both ways",
  ignore: Deno.build.os !== "linux",
  fn: () => {
    const before = policiesOf(V8_HELPER_COMM);
    assert.ok(before.length >= 1, "this process has V8 helper threads");
    const h = v8Helpers();
    assert.ok("idle" in h, `not available: ${"reason" in h ? h.reason : ""}`);
    assert.equal(h.tids.length, before.length);
    try {
      assert.equal(h.idle(true), before.length);
      assert.deepEqual(policiesOf(V8_HELPER_COMM), before.map(() => SCHED_IDLE));
      // The main thread (whose thread ID is the process's) keeps the normal policy.
      assert.equal(policyOf(Deno.pid), SCHED_OTHER);
      assert.equal(h.idle(false), before.length);
      assert.deepEqual(policiesOf(V8_HELPER_COMM), before.map(() => SCHED_OTHER));
    } finally {
      h.idle(false);
    }
  },
});
