/**
 * The exec step marks its workload cut short by the drill (`cutByDrill`, whose answer the runner
 * then judges as no whole run when the drill was interrupted) only when the drill's stop met it
 * running: not a server the drill had itself stopped at its end, whose answer is on its way.
 */

import assert from "node:assert/strict";
import type { LabHandle } from "../api.ts";
import { Prng } from "../../devices/base/prng.ts";
import { type StepContext, stepKinds, type WorkloadRun } from "./steps.ts";

/** A context whose lab's `spawn` resolves at once, its result when the test says. */
function fakeContext(signal: AbortSignal) {
  let answer!: (r: Record<string, unknown>) => void;
  const result = new Promise<Record<string, unknown>>((r) => answer = r);
  const lab = {
    vm: () => ({ spawn: () => Promise.resolve({ result }) }),
  } as unknown as LabHandle;
  const ctx: StepContext = {
    lab,
    elapsedMs: () => 0,
    sleep: () => Promise.resolve(),
    workloads: new Map<string, WorkloadRun>(),
    watchRecovery: () => {},
    watchEvents: () => () => {},
    prng: Prng.fromSeed(1),
    label: "#0",
    signal,
  };
  return { ctx, answer };
}

const ECHO = { vm: "a", argv: ["vsock-echo", "-p", "7"], background: true, as: "echo" };

Deno.test("a server the drill stopped at its end is not cut short by an interrupt that comes while it answers", async () => {
  const drill = new AbortController();
  const { ctx, answer } = fakeContext(drill.signal);
  await stepKinds().get("exec")!.run(ECHO, ctx);
  const w = ctx.workloads.get("echo")!;
  assert.equal(w.endless, true);
  w.stop!(); // the timeline's end: the drill stops its endless servers
  drill.abort(); // Ctrl-C before the server's answer came
  answer({ kind: "vsock-echo", connections: 1 });
  await w.done;
  assert.notEqual(w.cutByDrill, true, "stopped as asked, it was marked cut short");
});

Deno.test("a workload still running when the drill is interrupted is cut short", async () => {
  const drill = new AbortController();
  const { ctx, answer } = fakeContext(drill.signal);
  await stepKinds().get("exec")!.run(ECHO, ctx);
  const w = ctx.workloads.get("echo")!;
  drill.abort();
  answer({ kind: "vsock-echo", connections: 1 });
  await w.done;
  assert.equal(w.cutByDrill, true);
});
