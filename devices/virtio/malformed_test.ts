/**
 * Malformed rings, one test per row of reliability.md sections A and B that a device half can
 * see (A9–A16 and A18–A20 are in `malformed_buffers_test.ts`). A mock driver writes the bad input
 * byte by byte; split and packed run the same test wherever the row applies to both.
 */
import assert from "node:assert/strict";
import { PackedDescFlag, SplitDescFlag } from "./constants.ts";
import { validateState } from "./state.ts";
import { MockPackedRing, type MockSplitRing } from "./testing.ts";
import {
  expectFatal,
  LAYOUTS,
  popChain as popOk,
  setupMockDevice as setup,
  snapshotChain as snap,
} from "./testing_harness.ts";

const { NEXT, WRITE } = SplitDescFlag;

// ---- A1, A2: indices ----

Deno.test("breaks the queue when avail idx runs more than a queue size ahead (reliability A1) [split]", () => {
  const h = setup("split");
  const m = h.mock as MockSplitRing;
  m.setAvailIdx(9);
  expectFatal(h, h.queue.pop(), { kind: "avail-index-jump", availIdx: 9, nextAvail: 0, size: 8 });
});

Deno.test("accepts avail idx exactly a queue size ahead (reliability A1 boundary) [split]", () => {
  const h = setup("split");
  for (let i = 0; i < 8; i++) h.mock.addChain([{ addr: h.data + 16 * i, len: 16 }]);
  for (let i = 0; i < 8; i++) assert.equal(popOk(h).copy.id, i);
  assert.deepStrictEqual(h.queue.pop(), { ok: true, value: null });
  assert.equal(h.queue.inFlight, 8);
});

Deno.test("breaks the queue on a head index ≥ size (reliability A2) [split]", () => {
  const h = setup("split");
  (h.mock as MockSplitRing).makeAvailable(8);
  expectFatal(h, h.queue.pop(), { kind: "head-out-of-range", head: 8, size: 8 });
  const h2 = setup("split");
  (h2.mock as MockSplitRing).makeAvailable(0xffff);
  expectFatal(h2, h2.queue.pop(), { kind: "head-out-of-range", head: 0xffff, size: 8 });
});

Deno.test("breaks the queue on a buffer id ≥ size (reliability A2) [packed]", () => {
  const h = setup("packed");
  h.mock.addChain([{ addr: h.data, len: 16 }], 8);
  expectFatal(h, h.queue.pop(), { kind: "id-out-of-range", id: 8, size: 8 });
});

// ---- A3, A4, B2: walking ----

Deno.test("breaks the queue on a next index ≥ table size (reliability A3) [split]", () => {
  for (const next of [8, 0xffff]) {
    const h = setup("split");
    const m = h.mock as MockSplitRing;
    m.writeDesc(0, { addr: h.data, len: 16, flags: NEXT, next });
    m.makeAvailable(0);
    expectFatal(h, h.queue.pop(), { kind: "next-out-of-range", head: 0, next, tableSize: 8 });
  }
});

Deno.test("breaks the queue on a next index ≥ indirect table size (reliability A3) [split]", () => {
  const h = setup("split", { features: { indirect: true } });
  const m = h.mock as MockSplitRing;
  const t = h.data + 0x1000;
  m.writeDescAt(t, { addr: h.data, len: 16, flags: NEXT, next: 1 });
  m.writeDescAt(t + 16, { addr: h.data, len: 16, flags: NEXT, next: 2 });
  m.writeDesc(0, { addr: t, len: 32, flags: SplitDescFlag.INDIRECT });
  m.makeAvailable(0);
  expectFatal(h, h.queue.pop(), { kind: "next-out-of-range", head: 0, next: 2, tableSize: 2 });
});

Deno.test("stops a descriptor loop at the queue size with bounded work (reliability A4) [split]", () => {
  const h = setup("split");
  const m = h.mock as MockSplitRing;
  m.writeDesc(0, { addr: h.data, len: 16, flags: NEXT, next: 1 });
  m.writeDesc(1, { addr: h.data, len: 16, flags: NEXT, next: 0 });
  m.makeAvailable(0);
  h.ring.reset();
  const r = h.queue.pop();
  assert.ok(h.ring.loads <= 10 * 8 + 8, `pop made ${h.ring.loads} loads for a queue of 8`);
  expectFatal(h, r, { kind: "chain-too-long", head: 0, limit: 8 });
});

Deno.test("stops a loop inside an indirect table at the table size (reliability A4) [split]", () => {
  const h = setup("split", { features: { indirect: true } });
  const m = h.mock as MockSplitRing;
  const t = h.data + 0x1000;
  for (let i = 0; i < 4; i++) {
    m.writeDescAt(t + 16 * i, { addr: h.data, len: 1, flags: NEXT, next: (i + 1) % 4 });
  }
  m.writeDesc(0, { addr: t, len: 64, flags: SplitDescFlag.INDIRECT });
  m.makeAvailable(0);
  h.ring.reset();
  const r = h.queue.pop();
  assert.ok(h.ring.loads <= 10 * 8 + 8, `pop made ${h.ring.loads} loads`);
  expectFatal(h, r, { kind: "chain-too-long", head: 0, limit: 4 });
});

Deno.test("breaks the queue on a list longer than the queue (reliability B2) [packed]", () => {
  const h = setup("packed");
  const segs = Array.from(
    { length: 8 },
    (_, i) => ({ addr: h.data + 16 * i, len: 16, flags: NEXT }),
  );
  h.mock.addChain(segs, 0); // every descriptor, the last included, says NEXT
  h.ring.reset();
  const r = h.queue.pop();
  assert.ok(h.ring.loads <= 10 * 8 + 8, `pop made ${h.ring.loads} loads`);
  expectFatal(h, r, { kind: "chain-too-long", head: 0, limit: 8 });
});

// ---- A6, A7 ----

for (const layout of LAYOUTS) {
  Deno.test(`accepts a zero-length descriptor as an empty segment, lab choice (reliability A6) [${layout}]`, () => {
    const h = setup(layout);
    const id = h.mock.addChain([
      { addr: h.data, len: 0 },
      { addr: h.data + 16, len: 32, write: true },
      { addr: h.data + 48, len: 0, write: true },
    ]);
    const { chain, copy } = popOk(h);
    assert.deepStrictEqual(copy, {
      id,
      descCount: 3,
      readable: [{ gpa: h.data, len: 0 }],
      writable: [{ gpa: h.data + 16, len: 32 }, { gpa: h.data + 48, len: 0 }],
      readableBytes: 0,
      writableBytes: 32,
    });
    h.queue.push(chain, 32);
    h.queue.publish();
    assert.deepStrictEqual(h.mock.takeUsed()?.len, 32);
    assert.equal(h.queue.broken, null);
  });

  Deno.test(`breaks the queue on a readable descriptor after a writable one (reliability A7) [${layout}]`, () => {
    const h = setup(layout);
    h.mock.addChain([
      { addr: h.data, len: 16 },
      { addr: h.data + 16, len: 16, write: true },
      { addr: h.data + 32, len: 16 },
    ]);
    expectFatal(h, h.queue.pop(), { kind: "readable-after-writable", head: 0, index: 2 });
  });

  Deno.test(
    `counts a writable descriptor it could not translate when checking order, as the vringh fix does (reliability A7) [${layout}]`,
    () => {
      // The check must look at descriptors seen, not segments kept: an unreachable writable
      // buffer followed by a readable one is still a readable-after-writable chain.
      const h = setup(layout);
      h.mock.addChain([{ addr: h.memSize, len: 16, write: true }, { addr: h.data, len: 16 }]);
      expectFatal(h, h.queue.pop(), { kind: "readable-after-writable", head: 0, index: 1 });
    },
  );
}

// ---- A17, A22: in flight ----

Deno.test("breaks the queue when a head in flight is made available again (reliability A17) [split]", () => {
  const h = setup("split");
  const m = h.mock as MockSplitRing;
  m.writeChain(0, [{ addr: h.data, len: 16 }]);
  m.makeAvailable(0);
  popOk(h);
  m.makeAvailable(0);
  expectFatal(h, h.queue.pop(), { kind: "head-in-flight", head: 0 }, 1);
});

Deno.test("breaks the queue when a buffer id in flight is made available again (reliability A17) [packed]", () => {
  const h = setup("packed");
  h.mock.addChain([{ addr: h.data, len: 16 }], 3);
  popOk(h);
  h.mock.addChain([{ addr: h.data, len: 16 }], 3);
  expectFatal(h, h.queue.pop(), { kind: "head-in-flight", head: 3 }, 1);
});

Deno.test(
  "breaks the queue when reused slots would put more descriptors in flight than the ring holds (reliability A17) [packed]",
  () => {
    // Buffer 0 takes all 4 slots; a driver that ignores it and reuses slot 0 for buffer 1 would
    // need a fifth descriptor record in the inflight log.
    const h = setup("packed", { size: 4 });
    h.mock.addChain(Array.from({ length: 4 }, (_, i) => ({ addr: h.data + 16 * i, len: 16 })), 0);
    popOk(h);
    h.mock.addChain([{ addr: h.data, len: 16 }], 1);
    const r = h.queue.pop();
    assert.deepStrictEqual(validateState(h.state, "packed", 4), { ok: true, value: undefined });
    assert.equal(r.ok, false, "a fifth descriptor in flight must not be accepted");
    if (!r.ok) assert.equal(r.error.fatal, true);
  },
);

for (const layout of LAYOUTS) {
  Deno.test(`refuses to push an id that is not in flight, used ring untouched (reliability A22) [${layout}]`, () => {
    const h = setup(layout);
    h.mock.addChain([{ addr: h.data, len: 16, write: true }]);
    const { chain } = popOk(h);
    const bytes = h.mock.mem.u8.slice();
    for (const id of [3, 8, 0xffff]) {
      assert.deepStrictEqual(h.queue.push({ ...snap(chain), id, indirect: false }, 0), {
        ok: false,
        error: { kind: "not-in-flight", id },
      });
    }
    h.queue.publish();
    assert.deepStrictEqual(
      h.mock.mem.u8,
      bytes,
      "publish with nothing staged must not write the ring",
    );
    assert.equal(h.queue.inFlight, 1);
    assert.equal(h.queue.broken, null);
  });

  Deno.test(`refuses a second push of the same chain before publish (reliability A22) [${layout}]`, () => {
    const h = setup(layout);
    h.mock.addChain([{ addr: h.data, len: 16, write: true }]);
    h.mock.addChain([{ addr: h.data + 16, len: 16, write: true }]);
    const { chain } = popOk(h);
    popOk(h);
    assert.ok(h.queue.push(chain, 4).ok);
    assert.deepStrictEqual(h.queue.push(chain, 4), {
      ok: false,
      error: { kind: "not-in-flight", id: chain.id },
    });
    h.queue.publish();
    assert.equal(h.queue.inFlight, 1);
    assert.deepStrictEqual(validateState(h.state, layout, 8), { ok: true, value: undefined });
  });
}

// ---- B1, B3, B4: packed specifics ----

Deno.test("treats a descriptor with wrong AVAIL/USED bits as no buffer, not an error (reliability B1) [packed]", () => {
  for (const bits of ["used", "stale", "none"] as const) {
    const h = setup("packed");
    const m = h.mock as MockPackedRing;
    m.writeUnavailable({ addr: h.data, len: 16 }, 0, bits);
    assert.deepStrictEqual(h.queue.pop(), { ok: true, value: null }, bits);
    assert.equal(h.queue.broken, null);
    assert.equal(h.queue.enableNotifications(), false, bits);
    m.addChain([{ addr: h.data, len: 16 }], 0);
    assert.equal(popOk(h).copy.id, 0);
  }
});

Deno.test("treats the first lap's descriptors as not available after the wrap (reliability B1) [packed]", () => {
  const h = setup("packed", { size: 4 });
  for (let i = 0; i < 4; i++) h.mock.addChain([{ addr: h.data, len: 16, write: true }], i);
  for (let i = 0; i < 4; i++) h.queue.push(popOk(h).chain, 0);
  h.queue.publish();
  // The ring now holds used descriptors for wrap 1; the device expects wrap 0.
  assert.deepStrictEqual(h.queue.pop(), { ok: true, value: null });
  h.mock.addChain([{ addr: h.data, len: 16 }], 2);
  assert.equal(popOk(h).copy.id, 2);
});

Deno.test("breaks the queue on INDIRECT together with NEXT (reliability B3) [split]", () => {
  const h = setup("split", { features: { indirect: true } });
  const m = h.mock as MockSplitRing;
  m.writeDesc(0, { addr: h.data, len: 16, flags: SplitDescFlag.INDIRECT | NEXT, next: 1 });
  m.makeAvailable(0);
  expectFatal(h, h.queue.pop(), { kind: "indirect-in-chain", head: 0, index: 0 });
});

Deno.test("accepts direct descriptors followed by one INDIRECT descriptor (virtio 2.7.5.3.2) [split]", () => {
  const h = setup("split", { features: { indirect: true } });
  const m = h.mock as MockSplitRing;
  const t = h.data + 0x1000;
  m.writeTable(t, [{ addr: h.data + 16, len: 16, write: true }]);
  m.writeChain(0, [{ addr: h.data, len: 16 }, { addr: t, len: 16, flags: SplitDescFlag.INDIRECT }]);
  m.makeAvailable(0);
  const { copy } = popOk(h);
  assert.deepStrictEqual([copy.readable, copy.writable], [[{ gpa: h.data, len: 16 }], [{
    gpa: h.data + 16,
    len: 16,
  }]]);
});

Deno.test("breaks the queue on an indirect descriptor in a NEXT list (reliability B3) [packed]", () => {
  const IND = PackedDescFlag.INDIRECT;
  const h = setup("packed", { features: { indirect: true } });
  h.mock.addChain([{ addr: h.data, len: 16, flags: IND | NEXT }, { addr: h.data, len: 16 }]);
  expectFatal(h, h.queue.pop(), { kind: "indirect-in-chain", head: 0, index: 0 });
  const h2 = setup("packed", { features: { indirect: true } });
  h2.mock.addChain([{ addr: h2.data, len: 16 }, { addr: h2.data + 0x1000, len: 16, flags: IND }]);
  expectFatal(h2, h2.queue.pop(), { kind: "indirect-in-chain", head: 0, index: 1 });
});

Deno.test("ignores flags other than WRITE inside an indirect table, lab choice (reliability B3) [packed]", () => {
  const h = setup("packed", { features: { indirect: true } });
  const m = h.mock as MockPackedRing;
  const t = h.data + 0x1000;
  m.writeTable(t, [{ addr: h.data, len: 16, flags: NEXT }, {
    addr: h.data + 16,
    len: 8,
    write: true,
    flags: 0x80,
  }]);
  m.addChain([{ addr: t, len: 32, flags: PackedDescFlag.INDIRECT }], 1);
  const { copy } = popOk(h);
  assert.deepStrictEqual(copy, {
    id: 1,
    descCount: 1,
    readable: [{ gpa: h.data, len: 16 }],
    writable: [{ gpa: h.data + 16, len: 8 }],
    readableBytes: 16,
    writableBytes: 8,
  });
});

Deno.test("breaks the queue when a list's later descriptor is not yet available (reliability B4) [packed]", () => {
  const h = setup("packed");
  const m = h.mock as MockPackedRing;
  // The head is published, the second descriptor still carries no AVAIL/USED bits.
  m.writeDesc(1, { addr: h.data + 16, len: 16, id: 0, flags: WRITE });
  m.writeDesc(0, { addr: h.data, len: 16, id: 0, flags: NEXT | MockPackedRing.availBits(1) });
  expectFatal(h, h.queue.pop(), { kind: "chain-not-available", head: 0, slot: 1, flags: WRITE });
});

for (const layout of LAYOUTS) {
  Deno.test(`keeps a popped chain as a snapshot when the ring changes later (reliability B4) [${layout}]`, () => {
    const h = setup(layout);
    h.mock.addChain([{ addr: h.data, len: 16 }, { addr: h.data + 16, len: 32, write: true }]);
    const { chain, copy } = popOk(h);
    h.mock.mem.u8.fill(0xff, h.mock.config.descAddr, h.mock.config.descAddr + 16 * 8);
    assert.deepStrictEqual(snap(chain), copy);
  });
}
