import assert from "node:assert/strict";
import { Lab } from "../lab.ts";
import { LAB_TEST } from "../testing.ts";
import {
  execOk,
  IDLE_WARMUP_PINGS,
  idleWarmupPings,
  pairTopology,
  roundOrder,
  spawnOk,
  throughputRun,
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
      const t1 = performance.now();
      assert.equal(await warmUpIdlePings(lab, "a0", "10.0.0.2", 3, 150), 3);
      assert.ok(performance.now() - t1 >= 300, "three pings 150 ms apart take 300 ms at least");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "a throughput run that fails still detaches its dashboard, once, and stops its lab",
  ...LAB_TEST,
  async fn() {
    const calls: string[] = [];
    // Stands in for a `vlab dashboard` process whose window cannot open: the run fails there.
    const attach = (name: string) => {
      calls.push(`attach ${name}`);
      return Promise.resolve({
        startWindow: () => {
          calls.push("window");
          throw new Error("the window would not open");
        },
        detach: () => {
          calls.push("detach");
          const used = { cpuPct: 0, updatesPerSecond: 0, terminal: "none", priority: "idle" };
          return Promise.resolve({ ...used, groupPct: 0 });
        },
      });
    };
    const run = {
      layout: "split",
      frameSize: 64,
      seconds: 0.2,
      pollUs: 0,
      queueSize: 256,
    } as const;
    await assert.rejects(
      throughputRun({ ...run, warmupSeconds: 0 }, attach),
      /the window would not open/,
    );
    assert.deepEqual(calls, ["attach bench-split", "window", "detach"]);
    // The registered lab is gone: a lab of the same name starts again.
    calls.length = 0;
    await assert.rejects(throughputRun({ ...run, warmupSeconds: 0 }, attach), /would not open/);
    assert.deepEqual(calls, ["attach bench-split", "window", "detach"]);
  },
});

Deno.test("the idle warm-up sends its 200 pings, or fewer where they would take over 2 s", () => {
  assert.equal(idleWarmupPings(10), IDLE_WARMUP_PINGS);
  assert.equal(idleWarmupPings(1), IDLE_WARMUP_PINGS, "never more than 200");
  assert.equal(idleWarmupPings(100), 20);
  assert.equal(idleWarmupPings(1000), 2);
  assert.equal(idleWarmupPings(3000), 1, "at least one");
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
