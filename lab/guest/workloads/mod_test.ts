import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { parseWorkload, runWorkload, type WorkloadResult } from "./mod.ts";
import { simOptions } from "./testing_opts.ts";

Deno.test("runWorkload dispatches a parsed request to its workload", async () => {
  const net = new BackToBack();
  for (
    const argv of [["sink", "-t", "0.05"], ["udp-echo", "-t", "0.05"], [
      "ping",
      "10.0.0.2",
      "-c",
      "1",
    ]]
  ) {
    const req = parseWorkload(argv);
    assert.ok(req.ok);
    const r = await net.run(runWorkload(net.a.stack, req.value, simOptions(net)));
    assert.equal(r.kind, argv[0]);
  }
});

Deno.test("every workload's result carries the text vlab exec prints (a compile-time check)", () => {
  // A result kind without `text` makes this file fail to type-check: vlab exec would print JSON.
  type Results = Exclude<WorkloadResult, { kind: "error" }>;
  type Texts = Results extends { text: string } ? true : false;
  const allHaveText: Texts = true;
  assert.equal(allHaveText, true);
});
