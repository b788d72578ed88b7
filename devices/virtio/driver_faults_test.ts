/**
 * The device is untrusted too (reliability.md section C): a mock plays the device and writes
 * the used ring (split) or used descriptors (packed) directly; the real driver halves must break
 * on ids that are not in flight (C1) and on used lengths over what was posted writable (C2).
 */
import assert from "node:assert/strict";
import type { DriverError } from "./errors.ts";
import { createDriverQueue } from "./pair.ts";
import type { ChainSpec, DriverQueue, Layout } from "./queue.ts";
import { createMock, type MockPackedRing, type MockSplitRing } from "./testing.ts";
import { CountingRingAccess, LAYOUTS } from "./testing_harness.ts";

/** A real driver half over a mock that plays the device. */
function setup(layout: Layout) {
  const mock = createMock(layout, { size: 8 });
  const ring = new CountingRingAccess(mock.mem);
  const r = createDriverQueue(mock.mem, ring, mock.config);
  if (!r.ok) throw new Error(r.error.kind);
  const driver = r.value;
  const data = mock.dataAddr;
  let deviceSlot = 0;
  let deviceWrap = 1;
  let availSlot = 0;
  const heads: number[] = []; // packed: head slot of each posted chain
  const counts = new Map<number, number>(); // packed: descriptors per buffer id
  return {
    mock,
    ring,
    driver,
    data,
    /** Add and publish a chain carrying `token`. */
    post(chain: ChainSpec, token: number): void {
      assert.ok(driver.add(chain, token).ok);
      driver.publish();
      if (layout === "packed") {
        const n = chain.readable.length + chain.writable.length;
        heads.push(availSlot);
        counts.set((mock as MockPackedRing).readDesc(availSlot).id, n);
        availSlot = (availSlot + n) % 8;
      }
    },
    /** The id the device would see for the `n`-th chain posted (n from 0). */
    idOf(n: number): number {
      if (layout === "split") return (mock as MockSplitRing).availEntry(n);
      return (mock as MockPackedRing).readDesc(heads[n]).id;
    },
    /** Play the device: return `id` with used length `len` (advancing one slot / used index). */
    complete(id: number, len: number, usedIdxStep = 1): void {
      if (layout === "split") {
        const m = mock as MockSplitRing;
        const pos = m.usedIdx();
        m.setUsedElem(pos, id, len);
        m.setUsedIdx(pos + usedIdxStep);
      } else {
        (mock as MockPackedRing).writeUsed(deviceSlot, id, len, deviceWrap);
        deviceSlot += counts.get(id) ?? 1;
        if (deviceSlot >= 8) {
          deviceSlot -= 8;
          deviceWrap ^= 1;
        }
      }
    },
  };
}

/** The broken path: exact error, `broken` set, and later calls answer the same without reading. */
function expectBroken(d: DriverQueue, ring: CountingRingAccess, expected: DriverError): void {
  assert.deepStrictEqual(d.getUsed(), { ok: false, error: expected });
  assert.deepStrictEqual(d.broken, expected);
  const before = ring.loads;
  assert.deepStrictEqual(d.getUsed(), { ok: false, error: expected });
  assert.equal(ring.loads, before, "a broken driver queue must not read the used ring again");
}

const R = (data: number, len = 64): ChainSpec => ({ readable: [[data, len]], writable: [] });
const W = (data: number, ...lens: number[]): ChainSpec => ({
  readable: [],
  writable: lens.map((len, i) => [data + 0x1000 * i, len] as const),
});

for (const layout of LAYOUTS) {
  Deno.test(`breaks the driver queue on a used id ≥ queue size (reliability C1) [${layout}]`, () => {
    for (const id of layout === "split" ? [8, 0xffffffff] : [8, 0xffff]) {
      const h = setup(layout);
      h.post(W(h.data, 64), 1);
      h.complete(id, 0);
      expectBroken(h.driver, h.ring, { kind: "used-id-out-of-range", id, size: 8 });
      assert.equal(h.driver.inFlight, 1);
    }
  });

  Deno.test(`breaks the driver queue on a used id that was never posted (reliability C1) [${layout}]`, () => {
    const h = setup(layout);
    h.post(W(h.data, 64), 1);
    h.complete(5, 0);
    expectBroken(h.driver, h.ring, { kind: "used-id-not-in-flight", id: 5 });
  });

  Deno.test(`breaks the driver queue on a used id returned twice (reliability C1) [${layout}]`, () => {
    const h = setup(layout);
    h.post(W(h.data, 64), 1);
    h.post(W(h.data, 64), 2);
    const id = h.idOf(0);
    h.complete(id, 10);
    assert.deepStrictEqual(h.driver.getUsed(), { ok: true, value: { token: 1, len: 10 } });
    h.complete(id, 10);
    expectBroken(h.driver, h.ring, { kind: "used-id-not-in-flight", id });
    assert.equal(h.driver.inFlight, 1);
  });

  Deno.test(`breaks the driver queue on a used length larger than the posted writable bytes (reliability C2) [${layout}]`, () => {
    for (const len of [101, 5000, 0xffffffff]) {
      const h = setup(layout);
      h.post(W(h.data, 60, 40), 1);
      h.post(W(h.data, 100), 2);
      h.complete(h.idOf(0), 100);
      assert.deepStrictEqual(h.driver.getUsed(), { ok: true, value: { token: 1, len: 100 } });
      const id = h.idOf(1);
      h.complete(id, len);
      expectBroken(h.driver, h.ring, { kind: "used-length-too-large", id, len, writable: 100 });
      assert.equal(h.driver.inFlight, 1, "the faulty entry reclaims nothing");
    }
  });

  Deno.test(`reports used length 0 for a chain with nothing writable (reliability C2) [${layout}]`, () => {
    const h = setup(layout);
    h.post(R(h.data), 7);
    h.complete(h.idOf(0), 64);
    assert.deepStrictEqual(h.driver.getUsed(), { ok: true, value: { token: 7, len: 0 } });
  });
}

Deno.test("breaks the driver queue on a used id that is not the head of its chain (reliability C1) [split]", () => {
  const h = setup("split");
  h.post({ readable: [[h.data, 16]], writable: [[h.data + 16, 16]] }, 1);
  const head = h.idOf(0);
  const second = (h.mock as MockSplitRing).readDesc(head).next;
  assert.notEqual(second, head);
  h.complete(second, 0);
  expectBroken(h.driver, h.ring, { kind: "used-id-not-in-flight", id: second });
});

Deno.test("breaks the driver queue when used idx runs more than a queue size ahead (reliability C1) [split]", () => {
  const h = setup("split");
  h.post(W(h.data, 64), 1);
  h.complete(h.idOf(0), 0, 9);
  expectBroken(h.driver, h.ring, { kind: "used-index-jump", usedIdx: 9, lastUsed: 0, size: 8 });
});

Deno.test("breaks the driver queue when used idx covers more entries than were completed (reliability C1) [split]", () => {
  // used idx moves by 3 for one valid entry: the other two entries are stale (zero), and id 0
  // is no longer in flight once reclaimed.
  const h = setup("split");
  h.post(W(h.data, 64), 1);
  h.complete(h.idOf(0), 8, 3);
  assert.deepStrictEqual(h.driver.getUsed(), { ok: true, value: { token: 1, len: 8 } });
  expectBroken(h.driver, h.ring, { kind: "used-id-not-in-flight", id: 0 });
});

Deno.test("ignores the length of a used descriptor without WRITE (reliability C2) [packed]", () => {
  const h = setup("packed");
  h.post(W(h.data, 100), 1);
  (h.mock as MockPackedRing).writeDesc(0, { id: h.idOf(0), len: 50, flags: 0x8080 });
  assert.deepStrictEqual(h.driver.getUsed(), { ok: true, value: { token: 1, len: 0 } });
});

Deno.test("does not take a used descriptor whose wrap bits do not match (virtio 2.8.6) [packed]", () => {
  const h = setup("packed");
  h.post(W(h.data, 100), 1);
  const m = h.mock as MockPackedRing;
  for (const flags of [0x0080 | 2, 0x8000 | 2, 0 | 2]) {
    m.writeDesc(0, { id: h.idOf(0), len: 50, flags });
    assert.deepStrictEqual(h.driver.getUsed(), { ok: true, value: null }, `flags ${flags}`);
  }
  assert.equal(h.driver.broken, null);
  h.complete(h.idOf(0), 50);
  assert.deepStrictEqual(h.driver.getUsed(), { ok: true, value: { token: 1, len: 50 } });
});
