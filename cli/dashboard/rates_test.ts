import assert from "node:assert/strict";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { computeRates, occupancy, OccupancyHistory, queueKey, rate, sparkline } from "./rates.ts";
import { loadFixture } from "./testing.tsx";

Deno.test("sparkline scales 0..max onto the eight blocks", () => {
  assert.equal(
    sparkline([0, 1 / 7, 2 / 7, 3 / 7, 4 / 7, 5 / 7, 6 / 7, 1], 8, { max: 1 }),
    "▁▂▃▄▅▆▇█",
  );
  assert.equal(sparkline([0, 0.5, 1], 3, { max: 1 }), "▁▅█");
});

Deno.test("sparkline scales to the largest value when no max is given", () => {
  assert.equal(sparkline([5, 10], 2), "▅█");
  assert.equal(sparkline([0, 0, 0], 3), "▁▁▁");
});

Deno.test("sparkline right-aligns fewer values than its width and draws no data as spaces", () => {
  assert.equal(sparkline([1, 2], 4), "  ▅█");
  assert.equal(sparkline([null, 1, null], 3, { max: 1 }), " █ ");
  assert.equal(sparkline([], 3), "   ");
  assert.equal(sparkline([1], 0), "");
});

Deno.test("sparkline groups more values than its width, keeping each group's peak", () => {
  const values = [0, 0, 0, 1, 0, 0, 0, 0];
  assert.equal(sparkline(values, 4, { max: 1 }), "▁█▁▁");
  assert.equal(sparkline(values, 4, { max: 1 }).length, 4);
});

Deno.test("sparkline clamps values outside 0..max", () => {
  assert.equal(sparkline([-1, 2], 2, { max: 1 }), "▁█");
});

Deno.test("rate divides the counter delta by the interval", () => {
  assert.equal(rate(12_000, 13_000, 0.1), 10_000);
  assert.equal(rate(0, 5, 2), 2.5);
});

Deno.test("rate is 0 for a counter that went backwards or an empty interval", () => {
  assert.equal(rate(500, 20, 0.1), 0);
  assert.equal(rate(0, 100, 0), 0);
  assert.equal(rate(0, 100, -1), 0);
});

Deno.test("computeRates turns the pair fixtures' deltas over 100 ms into rates per second", () => {
  const s0 = loadFixture<LabSnapshot>("pair_0");
  const s1 = loadFixture<LabSnapshot>("pair_1");
  const r = computeRates(s0, s1);
  assert.equal(r.dtSeconds, 0.1);
  // a's transmitq: 1000 chains, 1 514 000 bytes, 250 kicks, 100 interrupts, 900 saved.
  assert.deepEqual(r.queues.get(queueKey("a", "eth0", 1)), {
    requests: 10_000,
    bytes: 15_140_000,
    kicks: 2_500,
    interrupts: 1_000,
    suppressed: 9_000,
  });
  const ab = r.links.get("a-b");
  assert.ok(ab !== undefined);
  assert.equal(Math.round(ab.forward.frames), 9_900);
  assert.equal(Math.round(ab.forward.drops.loss), 100);
  assert.equal(ab.forward.drops.queueLimit, 0);
  assert.equal(ab.forward.waits.rxBuffer, 0);
  assert.equal(Math.round(ab.reverse.frames), 1_000);
});

Deno.test("computeRates covers switch counters and uses an explicit interval when given", () => {
  const s0 = loadFixture<LabSnapshot>("star_0");
  const s1 = loadFixture<LabSnapshot>("star_1");
  const r = computeRates(s0, s1, 1000);
  assert.equal(r.switches.get("sw1")?.forwarded, 550);
  assert.equal(r.switches.get("sw1")?.learned, 0);
  // h3 needs a reset: its counters stand still.
  assert.equal(r.queues.get(queueKey("h3", "eth0", 0))?.requests, 0);
});

Deno.test("computeRates gives no rate to a queue that only the newer snapshot has", () => {
  const s0 = loadFixture<LabSnapshot>("pair_0");
  const s1 = loadFixture<LabSnapshot>("pair_1");
  const r = computeRates({ ...s0, vms: s0.vms.slice(0, 1) }, s1);
  assert.ok(r.queues.has(queueKey("a", "eth0", 0)));
  assert.ok(!r.queues.has(queueKey("b", "eth0", 0)));
});

Deno.test("occupancy counts waiting and in-flight chains over the size", () => {
  const q = loadFixture<LabSnapshot>("pair_1").vms[0].devices[0].queues[1];
  assert.equal(occupancy(q), 26 / 256);
  assert.equal(occupancy({ ...q, pending: null, inFlight: 64 }), 0.25);
  assert.equal(occupancy({ ...q, size: 0 }), 0);
});

Deno.test("the history keeps 60 s and buckets samples by time, keeping peaks", () => {
  const h = new OccupancyHistory({ spanMs: 60_000, capacity: 1000 });
  for (let t = 0; t <= 120_000; t += 1000) h.push("q", t, t === 90_000 ? 1 : 0.25);
  const samples = h.samples("q", 120_000);
  assert.equal(samples.length, 60); // (60 s, 120 s]
  assert.equal(samples[0].t, 61_000);
  const buckets = h.buckets("q", 120_000, 6);
  assert.deepEqual(buckets, [0.25, 0.25, 0.25, 1, 0.25, 0.25]);
});

Deno.test("the history is bounded by its capacity", () => {
  const h = new OccupancyHistory({ spanMs: 1e9, capacity: 5 });
  for (let t = 1; t <= 12; t++) h.push("q", t, t);
  assert.deepEqual(h.samples("q", 12).map((s) => s.v), [8, 9, 10, 11, 12]);
});

Deno.test("the history leaves buckets without samples empty", () => {
  const h = new OccupancyHistory();
  h.add(loadFixture<LabSnapshot>("pair_0"));
  const s1 = loadFixture<LabSnapshot>("pair_1");
  h.add(s1);
  h.add(s1); // not newer: ignored
  const key = queueKey("a", "eth0", 1);
  assert.equal(h.samples(key, s1.takenAt).length, 2);
  const b = h.buckets(key, s1.takenAt, 10);
  assert.deepEqual(b.slice(0, 9), new Array(9).fill(null));
  assert.equal(b[9], 26 / 256);
});

Deno.test("computeRates accepts link directions without waits or corrupted (a lab of an older vlab)", () => {
  const old = (name: "pair_0" | "pair_1") => {
    const s = loadFixture<LabSnapshot>(name);
    for (const l of s.links) {
      for (const d of [l.forward, l.reverse] as unknown as Record<string, unknown>[]) {
        delete d.waits;
        delete d.corrupted;
      }
    }
    return s;
  };
  const r = computeRates(old("pair_0"), old("pair_1"));
  const ab = r.links.get("a-b")!;
  assert.equal(Math.round(ab.forward.drops.loss), 100);
  assert.deepEqual(ab.forward.waits, {});
  assert.equal(ab.forward.corrupted, 0);
});
