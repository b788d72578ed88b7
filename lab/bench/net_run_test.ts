import assert from "node:assert/strict";
import { Lab } from "../lab.ts";
import { LAB_TEST } from "../testing.ts";
import { execOk, pairTopology, spawnOk, warmUp, warmUpPings } from "./net_run.ts";

Deno.test({
  name: "warm-ups: a flood frees its sink's port after (the measured sink counts its own), pings",
  ...LAB_TEST,
  async fn() {
    const lab = await Lab.start(pairTopology("warm", "split", 1, 0, 256, 0));
    try {
      await execOk(lab, "a0", ["ping", "10.0.0.2", "-c", "1"]);
      const path = [{ from: "a0", to: "b0", dst: "10.0.0.2" }];
      assert.equal(await warmUp(lab, path, 64, 0), 0, "no warm-up asked: nothing sent");
      assert.ok(await warmUp(lab, path, 64, 0.3) > 0, "0.3 s of flood");
      // Bound on the same port as the warm-up's sink: that one has ended.
      const sink = (await spawnOk(lab, "b0", ["sink", "-t", "1"])).result;
      await execOk(lab, "a0", ["udp-flood", "10.0.0.2", "-n", "500", "-s", "64"]);
      assert.equal((await sink).received, 500);
      assert.equal(await warmUpPings(lab, "a0", "10.0.0.2", 0), 0, "no warm-up asked: no ping");
      assert.equal(await warmUpPings(lab, "a0", "10.0.0.2", 0.1), 50, "500 pings a second");
    } finally {
      await lab.stop();
    }
  },
});
