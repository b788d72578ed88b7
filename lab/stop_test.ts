/**
 * Stopping a registered lab while clients wait on it: every workload in flight gets its stop
 * signal and its client gets what it measured so far; a live capture ends; the stop is prompt.
 *
 * The lab's workers and control socket outlive a single tick of the event loop, so the resource
 * and op sanitizers are off; the lab is stopped in `finally`.
 */

import assert from "node:assert/strict";
import { inStateDir, waitForValue, within } from "./testing.ts";
import { planLab } from "./plan.ts";
import { launchLab } from "./runner.ts";
import { topologyFromObject } from "./topology/mod.ts";

const PAIR = {
  name: "stop-test",
  seed: 3,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

Deno.test({
  name: "stopping a lab answers a running sink with its counts and ends a capture, promptly",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-stop-test-", async () => {
      const t = topologyFromObject(PAIR);
      if (!t.ok) assert.fail(JSON.stringify(t.error));
      const running = await launchLab(planLab(t.value));
      const client = Deno.createHttpClient({ proxy: { transport: "unix", path: running.socket } });
      const exec = (vm: string, argv: string[]) =>
        fetch("http://vlab/exec", {
          method: "POST",
          body: JSON.stringify({ vm, argv }),
          client,
        }).then(async (r) => ({ status: r.status, body: await r.json() }));
      try {
        // A sink that runs until stopped; a message to b after it proves it is bound.
        const sink = exec("b", ["sink", "-t", "0"]);
        assert.notEqual(await running.lab.inspect("b"), null);
        const flood = await exec("a", ["udp-flood", "10.0.0.2", "-n", "100", "-r", "20000"]);
        assert.equal(flood.status, 200, JSON.stringify(flood.body));
        // The flood answers once its datagrams are in a's TX ring, not at b: on a loaded machine a
        // stop right then cut them off in flight (the sink had 0 of 100). Wait for b's stack to
        // have them (its guest publishes its statistics a few times a second).
        await waitForValue("b's stack to take the 100 datagrams", () => {
          const b = running.lab.workerStats().find((w) => w.kind === "guest" && w.owner === "b");
          return (b?.stats.stack_udp_in ?? 0) >= 100 ? true : null;
        });
        const capture = await fetch("http://vlab/capture?link=a-b", { client });
        const drained = capture.body!.pipeTo(new WritableStream());

        const t0 = performance.now();
        await within(8000, "stopping the lab", running.stop());
        const stopMs = performance.now() - t0;
        const answer = await within(2000, "the sink's answer", sink);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.result.kind, "sink");
        assert.equal(answer.body.result.received, 100, "the sink's counts so far");
        await within(2000, "the end of the capture", drained); // it ended with the lab
        assert.ok(stopMs < 5000, `stop took ${Math.round(stopMs)} ms`);
        await running.stopped;
      } finally {
        client.close();
        await within(8000, "stopping the lab", running.stop()).catch(() => {});
      }
    }),
});
