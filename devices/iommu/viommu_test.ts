/**
 * The owner side: spec semantics of ATTACH/DETACH/MAP/UNMAP on the table, and the
 * invalidation handshake with two consumers.
 */
import assert from "node:assert/strict";
import { readIotlbCounters } from "./faults.ts";
import { Iotlb } from "./iotlb.ts";
import { parkConsumer, Viommu } from "./viommu.ts";

function fresh() {
  const v = Viommu.create({ mappings: 16, endpoints: 4, consumers: 3, faults: 4 });
  v.attach(1, 0);
  return v;
}
const m = (start: number, end: number) => ({ start, end, gpa: 0, perms: 3 });

Deno.test("UNMAP removes whole mappings inside the range and refuses to split one (virtio 5.13.6.6)", () => {
  // The spec's table of sequences, on a fresh domain each time.
  const cases: Array<[string, Array<[number, number]>, [number, number], string, number]> = [
    ["unmap(0,4) on nothing", [], [0, 4], "ok", 0],
    ["a=map(0,9); unmap(0,9)", [[0, 9]], [0, 9], "ok", 0],
    ["a=map(0,4); b=map(5,9); unmap(0,9)", [[0, 4], [5, 9]], [0, 9], "ok", 0],
    ["a=map(0,9); unmap(0,4)", [[0, 9]], [0, 4], "split", 1],
    ["a=map(0,4); b=map(5,9); unmap(0,4)", [[0, 4], [5, 9]], [0, 4], "ok", 1],
    ["a=map(0,4); unmap(0,9)", [[0, 4]], [0, 9], "ok", 0],
    ["a=map(0,4); b=map(10,14); unmap(0,14)", [[0, 4], [10, 14]], [0, 14], "ok", 0],
  ];
  for (const [what, maps, [s, e], want, left] of cases) {
    const v = fresh();
    for (const [a, b] of maps) assert.equal(v.map(1, m(a, b)).ok, true, what);
    const r = v.unmap(1, s, e);
    assert.equal(r.ok ? "ok" : r.error.kind, want, what);
    assert.equal(v.mappings(1).length, left, what);
  }
});

Deno.test("MAP refuses overlaps, unknown and bypass domains; a full table says so", () => {
  const v = fresh();
  assert.equal(v.map(1, m(0x1000, 0x1fff)).ok, true);
  const kinds = (r: { ok: boolean; error?: { kind: string } }) => r.ok ? "ok" : r.error!.kind;
  assert.equal(kinds(v.map(1, m(0x1fff, 0x2fff))), "overlap");
  assert.equal(kinds(v.map(2, m(0, 0xfff))), "unknown-domain");
  v.attach(3, 1, { bypass: true });
  assert.equal(kinds(v.map(3, m(0, 0xfff))), "bypass-domain");
  assert.equal(kinds(v.attach(3, 2)), "bypass-domain", "inconsistent bypass flag");
  for (let i = 1; i < 16; i++) assert.equal(v.map(1, m(0x10000 * i, 0x10000 * i + 0xfff)).ok, true);
  assert.equal(kinds(v.map(1, m(0x200000, 0x200fff))), "table-full");
});

Deno.test("ATTACH moves an endpoint; a domain left without endpoints ceases to exist", () => {
  const v = fresh();
  v.map(1, m(0, 0xfff));
  assert.equal(v.attach(2, 0).ok, true);
  assert.equal(v.domainOf(0), 2);
  assert.equal(v.domain(1), undefined, "domain 1 lost its only endpoint");
  assert.equal(v.dirty, true, "the implicit detach needs an invalidation");
  const d = v.detach(1, 0);
  assert.equal(d.ok ? "ok" : d.error.kind, "not-attached");
  assert.equal(v.attach(1, 99).ok ? "ok" : "unknown-endpoint", "unknown-endpoint");
});

Deno.test("UNMAP waits for every consumer to drop its IOTLB; one that does not is reported", async () => {
  const v = fresh();
  v.map(1, { start: 0x1000, end: 0x1fff, gpa: 0x8000, perms: 3 });
  const a = new Iotlb(v.buffer, { slot: v.registerConsumer("dev-a"), endpoint: 0 });
  const b = new Iotlb(v.buffer, { slot: v.registerConsumer("peer-b"), endpoint: 0 });
  for (const t of [a, b]) {
    t.sync();
    assert.ok(t.lookup(0x1800, "read") >= 0, "both cache the entry");
  }
  assert.equal(v.unmap(1, 0x1000, 0x1fff).ok, true);
  const gen = v.invalidate();
  assert.deepEqual(v.unacked(gen), [a.slot, b.slot]);
  let done = false;
  const waiting = v.waitFlushed(gen, { timeoutMs: 5000 }).then((r) => {
    done = true;
    return r;
  });
  a.sync();
  await Promise.resolve();
  assert.deepEqual(v.unacked(gen), [b.slot]);
  assert.equal(done, false, "b has not acknowledged: UNMAP is not complete");
  assert.ok(b.lookup(0x1800, "read") >= 0, "b's stale entry is still usable until it syncs");
  b.sync();
  assert.deepEqual(await waiting, { ok: true, value: undefined });
  assert.ok(b.lookup(0x1800, "read") < 0, "after the handshake b walks and misses");
  assert.equal(readIotlbCounters(v.views, b.slot).invalidations, 1);

  // A consumer that never syncs: the wait ends with a report naming it.
  v.map(1, { start: 0x1000, end: 0x1fff, gpa: 0x8000, perms: 3 });
  v.unmap(1, 0x1000, 0x1fff);
  const gen2 = v.invalidate();
  a.sync();
  let clock = 0;
  const r = await v.waitFlushed(gen2, { timeoutMs: 30, now: () => (clock += 10) });
  assert.deepEqual(r, {
    ok: false,
    error: {
      kind: "invalidation-timeout",
      consumer: b.slot,
      name: "peer-b",
      acked: gen,
      wanted: gen2,
      waitedMs: 30,
    },
  });
  v.unregisterConsumer(b.slot);
  assert.deepEqual(await v.waitFlushed(gen2, { timeoutMs: 30 }), { ok: true, value: undefined });
});

Deno.test("a parked consumer (its thread died) is not waited for; the next IOTLB on its slot is", async () => {
  const v = fresh();
  v.map(1, { start: 0x1000, end: 0x1fff, gpa: 0x8000, perms: 3 });
  const a = new Iotlb(v.buffer, { slot: v.registerConsumer("dev-a"), endpoint: 0 });
  const slot = v.registerConsumer("peer-b");
  const dead = new Iotlb(v.buffer, { slot, endpoint: 0 });
  dead.sync();
  assert.ok(dead.lookup(0x1800, "read") >= 0);
  // b's VM crashes with an UNMAP under way: the wait ends as soon as b is parked.
  v.unmap(1, 0x1000, 0x1fff);
  const gen = v.invalidate();
  a.sync();
  const waiting = v.waitFlushed(gen, { timeoutMs: 5000 });
  assert.deepEqual(v.unacked(gen), [slot]);
  assert.equal(parkConsumer(v.buffer, slot), true);
  assert.deepEqual(await waiting, { ok: true, value: undefined });
  assert.equal(parkConsumer(v.buffer, slot), false, "parked once");
  assert.equal(parkConsumer(v.buffer, 99), false, "no such slot");
  // While b is down, later invalidations do not wait for it either.
  v.map(1, { start: 0x1000, end: 0x1fff, gpa: 0x9000, perms: 3 });
  const gen2 = v.invalidate();
  a.sync();
  assert.deepEqual(v.unacked(gen2), []);
  // b's next guest builds an IOTLB on the slot: active again, and waited for from now on.
  const next = new Iotlb(v.buffer, { slot, endpoint: 0 });
  v.unmap(1, 0x1000, 0x1fff);
  const gen3 = v.invalidate();
  a.sync();
  assert.deepEqual(v.unacked(gen3), [slot], "the new IOTLB acknowledges like any other");
  next.sync();
  assert.deepEqual(v.unacked(gen3), []);
  assert.ok(next.lookup(0x1800, "read") < 0, "it starts empty and walks the tables as they are");
});
