/**
 * A registered lab stops within seconds even when a client of its control socket stops reading
 * (`vlab capture a-b -w - | sleep 60`): the graceful shutdown waited for that client's bytes for
 * ever, so the lab kept its folder, `vlab down` waited 15 s and sent SIGKILL, and a script's
 * `stop()` never resolved.
 */

import assert from "node:assert/strict";
import { planLab } from "./plan.ts";
import { launchLab } from "./runner.ts";
import { labPaths } from "./state.ts";
import { inStateDir, LAB_TEST, pathExists } from "./testing.ts";
import { topologyFromObject } from "./topology/mod.ts";

const STALL = {
  name: "stall",
  seed: 7,
  vms: {
    a: { nics: { eth0: { ip: "10.9.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.9.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

Deno.test({
  name: "a lab whose capture client stopped reading still stops and releases its folder",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-stall-", async () => {
      const t = topologyFromObject(STALL);
      assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
      const running = await launchLab(planLab(t.value));
      // A capture whose client never reads its answer: once a flood fills the socket, nothing
      // more of the stream can go.
      const conn = await Deno.connect({ transport: "unix", path: running.socket });
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await conn.write(
          new TextEncoder().encode("GET /capture?link=a-b HTTP/1.1\r\nHost: vlab\r\n\r\n"),
        );
        const flood = await running.lab.exec("a", ["udp-flood", "10.9.0.2", "--max", "-t", "1"]);
        assert.ok(flood.ok, JSON.stringify(flood));
        const t0 = performance.now();
        const outcome = await Promise.race([
          running.stop().then(() => "stopped"),
          new Promise((r) => timer = setTimeout(() => r("still stopping after 10 s"), 10_000)),
        ]);
        assert.equal(outcome, "stopped");
        assert.ok(performance.now() - t0 < 8000, `stop took ${performance.now() - t0} ms`);
        assert.equal(pathExists(labPaths("stall").dir), false, "the lab's folder is gone");
      } finally {
        clearTimeout(timer);
        conn.close(); // lets a graceful shutdown still waiting for it end
        await running.stop();
      }
    }),
});
