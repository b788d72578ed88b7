import assert from "node:assert/strict";
import { ownThreads, readProcText } from "./proc.ts";
import { V8_HELPER_COMM, v8Helpers } from "./v8_helpers.ts";
import { SCHED_IDLE, SCHED_OTHER } from "./wire/affinity.ts";

/** The scheduling policy of each of this process's threads named `comm`. */
function policiesOf(comm: string): number[] {
  const threads = ownThreads();
  assert.ok(Array.isArray(threads), `threads not listed: ${JSON.stringify(threads)}`);
  return threads.filter((t) => t.comm === comm).map((t) => policyOf(t.tid));
}

/** A thread's scheduling policy: its `stat`'s 41st field. */
function policyOf(tid: number): number {
  const stat = readProcText(`/proc/${Deno.pid}/task/${tid}/stat`) ?? "";
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
