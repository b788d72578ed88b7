import assert from "node:assert/strict";
import { Lab } from "../lab.ts";
import { LAB_TEST } from "../testing.ts";
import {
  execOk,
  pairTopology,
  roundOrder,
  spawnOk,
  warmUp,
  WARMUP_PORT,
  warmUpIdlePings,
  warmUpPings,
} from "./net_run.ts";

Deno.test({
  name:
    "warm-ups: a flood's frames never reach the measured sink (it counts exactly its own), pings",
  ...LAB_TEST,
  async fn() {
    // A 200 ms link delay: the warm-up's last frames are still on the link when it ends.
    const lab = await Lab.start(pairTopology("warm", "split", 1, 0, 256, 200));
    try {
      await execOk(lab, "a0", ["ping", "10.0.0.2", "-c", "1"]);
      const path = [{ from: "a0", to: "b0", dst: "10.0.0.2" }];
      assert.equal(await warmUp(lab, path, 64, 0), 0, "no warm-up asked: nothing sent");
      assert.ok(await warmUp(lab, path, 64, 0.3) > 0, "0.3 s of flood");
      // Bound right after, on the measured port: the warm-up's frames still on the link go to
      // the warm-up's port, where nobody listens any more.
      const sink = (await spawnOk(lab, "b0", ["sink", "-t", "1.5"])).result;
      // They land meanwhile; then the delay stage (netem's limit of 1000) has room again.
      await new Promise((resolve) => setTimeout(resolve, 300));
      await execOk(lab, "a0", ["udp-flood", "10.0.0.2", "-n", "500", "-s", "64"]);
      assert.equal((await sink).received, 500);
      // The warm-up's own port is free again.
      const again = (await spawnOk(lab, "b0", ["sink", "-p", String(WARMUP_PORT), "-t", "0.2"]))
        .result;
      assert.equal((await again).received, 0);
      assert.equal(await warmUpPings(lab, "a0", "10.0.0.2", 0), 0, "no warm-up asked: no ping");
      assert.equal(await warmUpPings(lab, "a0", "10.0.0.2", 0.1), 50, "500 pings a second");
      assert.equal(await warmUpIdlePings(lab, "a0", "10.0.0.2", 0), 0, "none asked: no ping");
      const t0 = performance.now();
      assert.equal(await warmUpIdlePings(lab, "a0", "10.0.0.2", 5), 5);
      assert.ok(performance.now() - t0 >= 40, "five pings 10 ms apart take 40 ms at least");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test("roundOrder rotates the cases so that each leads a round in turn", () => {
  const m = ["none", "strict", "static"];
  assert.deepEqual([0, 1, 2, 3].map((r) => roundOrder(m, r).join(",")), [
    "none,strict,static",
    "strict,static,none",
    "static,none,strict",
    "none,strict,static",
  ]);
});
