// The impairment stage's random stream across a backend restart: the stage dies with its worker,
// and its successor must not start the link's stream over (that would take the very decisions of
// the lab's first frames again, restart after restart), yet must stay a function of the seed.
import assert from "node:assert/strict";
import { startLab } from "../api.ts";
import { inStateDir, LAB_TEST } from "../testing.ts";
import { Prng } from "../../devices/base/prng.ts";
import { ImpairStage, NO_IMPAIRMENT, restartSeed } from "./impair.ts";

Deno.test("restartSeed: the first worker keeps the ring's seed; each restart gets its own", () => {
  const seed = Prng.fromSeed(7).fork("link a-b forward").nextU32();
  assert.equal(restartSeed(seed, 0), seed);
  const seeds = [0, 1, 2, 3].map((e) => restartSeed(seed, e));
  assert.equal(new Set(seeds).size, 4);
  // A function of the seed and the restart count only.
  assert.equal(restartSeed(seed, 2), restartSeed(seed, 2));
  for (const s of seeds) assert.ok(Number.isInteger(s) && s >= 0 && s <= 0xffff_ffff, `${s}`);
});

Deno.test("a frame the limit drops (timing) does not shift the fates of the frames after it", () => {
  // Two runs of one stage, the same seed and the same frames; in `slow` the ring drains late,
  // so the limit drops frame 1. Every frame after it must meet the same fate in both.
  const imp = {
    ...NO_IMPAIRMENT,
    delayUs: 100,
    jitterUs: 50,
    lossPct: 20,
    corruptPct: 40,
    reorderPct: 30,
    reorderGap: 2,
    limit: 1,
  };
  const go = (drainBetween: boolean) => {
    const s = new ImpairStage(imp, Prng.fromSeed(99).fork("link a-b forward"));
    const out = new Map<number, string>();
    const take = (t: number) =>
      s.drain(t, (f) => out.set(f[0], `${Array.from(f).join(".")}@${t}`).size > 0);
    s.offer(new Uint8Array(32).fill(0), 0);
    if (drainBetween) take(1000);
    s.offer(new Uint8Array(32).fill(1), 0); // held or dropped by the limit: timing
    take(1000);
    for (let i = 2; i < 80; i++) {
      s.offer(new Uint8Array(32).fill(i), i * 1000);
      take(i * 1000 + 500);
    }
    return { out, s };
  };
  const fast = go(true), slow = go(false);
  assert.equal(slow.s.counters.droppedLimit, 1);
  for (let i = 2; i < 80; i++) assert.equal(slow.out.get(i), fast.out.get(i), `frame ${i}`);
  assert.equal(slow.s.counters.lost, fast.s.counters.lost);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "after a backend restart a lossy link does not lose the same frames over again",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-impair-seed-", async () => {
      const lab = await startLab({
        name: "impair-restart-seed",
        seed: 7,
        vms: {
          a: { nics: { eth0: { ip: "10.8.2.1/24" } } },
          b: { nics: { eth0: { ip: "10.8.2.2/24" } } },
        },
        links: [{ endpoints: ["a:eth0", "b:eth0"] }],
      }, { stopOnSignals: false });
      try {
        const ping = async () => {
          const r = await lab.vm("a").exec([
            "ping",
            "10.8.2.2",
            "-c",
            "40",
            "-i",
            "0.002",
            "-W",
            "0.2",
          ]);
          return (r.replies as { seq: number }[]).map((x) => x.seq).join(",");
        };
        await ping(); // ARP resolved: from here on the stage sees echo requests only
        lab.setImpairment("a-b", { loss: "50%" }, { direction: "forward" });
        const first = await ping();
        const crash = await lab.lab.fault({ kind: "backend-crash", vm: "a", mode: "exit" });
        assert.ok(crash.ok, JSON.stringify(crash));
        for (let i = 0; i < 100 && lab.vm("a").state() !== "running"; i++) await sleep(20);
        await sleep(200);
        const second = await ping();
        // Before, the successor's stage started the stream over: same 40 frames, same fates.
        assert.notEqual(second, first, `the same replies after the restart: ${first}`);
      } finally {
        await lab.stop();
      }
    }),
});

Deno.test({
  name: "the lab-up event records the seed the lab ran with (the event log outlives the lab)",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-impair-seed-", async () => {
      const lab = await startLab({ name: "seed-in-log", seed: 4294967295, vms: {} }, {
        stopOnSignals: false,
      });
      try {
        const up = lab.lab.events.recent().filter((e) => e.kind === "lab-up");
        assert.equal(up.length, 1);
        assert.equal(up[0].detail?.seed, 4294967295);
      } finally {
        await lab.stop();
      }
    }),
});
