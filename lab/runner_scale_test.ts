/**
 * A large lab on a machine that refuses it a thread: the error says so and names the limits, not
 * "Resource temporarily unavailable (os error 11)" with a hint that debug output tells more (it
 * did not).
 */

import assert from "node:assert/strict";
import { startFailed } from "./runner.ts";

const plan = { name: "star64", threads: new Array(129).fill(null) };

Deno.test("a lab refused a thread says how many it needs and which limit to raise", () => {
  const e = startFailed(plan, new Error("Resource temporarily unavailable (os error 11)"), "/l");
  assert.equal(e.code, "lab-failed");
  assert.equal(
    e.message,
    'Cannot start lab "star64": Resource temporarily unavailable (os error 11)',
  );
  assert.equal(
    e.hint,
    "The system refused a thread: the lab needs one per worker, 129; raise the limit on threads " +
      "(`ulimit -u`, the cgroup's pids.max) or use fewer VMs",
  );
});

Deno.test("a lab that fails to start for another reason points to its event log", () => {
  const e = startFailed(plan, new Error("guest of a failed"), "/tmp/s/logs/star64.jsonl");
  assert.equal(
    e.hint,
    "Run again with VLAB_DEBUG=1 for details; the event log is /tmp/s/logs/star64.jsonl",
  );
});
