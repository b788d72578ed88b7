import assert from "node:assert/strict";
import { BackToBack } from "../net/testing.ts";
import { parseWorkload, runWorkload } from "./mod.ts";
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
