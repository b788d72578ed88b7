/**
 * The packed device acquires once per run of available heads (packed_device.ts acquireAhead):
 * one `Atomics.load` covers every head a plain scan found, a covered head is still checked
 * before it is consumed (B1), and chains of several descriptors count as one head each.
 */
import assert from "node:assert/strict";
import type { GuestMemory } from "../memory/memory.ts";
import { SharedRingAccess } from "./ring_access.ts";
import { MockPackedRing } from "./testing.ts";

/** Ring access that counts its atomic loads. */
class ObserveCounter extends SharedRingAccess {
  observes = 0;
  constructor(mem: GuestMemory) {
    super(mem);
  }
  override observe16(gpa: number): number {
    this.observes++;
    return super.observe16(gpa);
  }
}

function setup() {
  const mock = new MockPackedRing({ size: 8 });
  const ring = new ObserveCounter(mock.mem);
  const { queue } = mock.createDevice({ ring });
  return { mock, ring, queue, data: mock.dataAddr };
}

function popId(queue: ReturnType<typeof setup>["queue"]): number | null {
  const r = queue.pop();
  if (!r.ok) assert.fail(`unexpected error ${r.error.kind}`);
  return r.value === null ? null : r.value.id;
}

Deno.test("one atomic load covers every head already available", () => {
  const { mock, ring, queue, data } = setup();
  for (let i = 0; i < 3; i++) mock.makeAvailable([{ addr: data + 64 * i, len: 16 }], i);
  assert.deepEqual([popId(queue), popId(queue), popId(queue)], [0, 1, 2]);
  assert.equal(ring.observes, 1);
  // Nothing left: the next pop acquires again and finds the ring empty.
  assert.equal(popId(queue), null);
  assert.equal(ring.observes, 2);
});

Deno.test("heads made available after the acquire need a new one", () => {
  const { mock, ring, queue, data } = setup();
  mock.makeAvailable([{ addr: data, len: 16 }], 0);
  assert.equal(popId(queue), 0);
  mock.makeAvailable([{ addr: data + 64, len: 16 }], 1);
  mock.makeAvailable([{ addr: data + 128, len: 16 }], 2);
  assert.deepEqual([popId(queue), popId(queue)], [1, 2]);
  assert.equal(ring.observes, 2);
});

Deno.test("chains of several descriptors count as one head each", () => {
  const { mock, ring, queue, data } = setup();
  mock.makeAvailable([{ addr: data, len: 16 }, { addr: data + 16, len: 16, write: true }], 4);
  mock.makeAvailable([{ addr: data + 64, len: 8 }], 5);
  mock.makeAvailable([
    { addr: data + 128, len: 8 },
    { addr: data + 136, len: 8 },
    { addr: data + 144, len: 8, write: true },
  ], 6);
  const counts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const r = queue.pop();
    if (!r.ok || r.value === null) assert.fail("expected a chain");
    counts.push(r.value.descCount);
  }
  assert.deepEqual(counts, [2, 1, 3]);
  assert.equal(ring.observes, 1);
  assert.equal(popId(queue), null);
});

Deno.test("a covered head the driver took back is not consumed (B1)", () => {
  const { mock, queue, data } = setup();
  for (let i = 0; i < 3; i++) mock.makeAvailable([{ addr: data + 64 * i, len: 16 }], i);
  assert.equal(popId(queue), 0);
  // A hostile driver rewrites slot 1's head as used-looking after the device's scan.
  mock.writeDesc(1, {
    addr: data + 64,
    len: 16,
    id: 1,
    flags: MockPackedRing.usedBits(1),
  });
  assert.equal(popId(queue), null);
  assert.equal(queue.inFlight, 1);
  // Made available again, it is consumed (and so is the one after it).
  mock.writeDesc(1, { addr: data + 64, len: 16, id: 1, flags: MockPackedRing.availBits(1) });
  assert.deepEqual([popId(queue), popId(queue)], [1, 2]);
});

Deno.test("a run of heads that wraps the ring is acquired with the right wrap bits", () => {
  const { mock, ring, queue, data } = setup();
  // Move both cursors to slot 6 of the first lap.
  for (let i = 0; i < 6; i++) {
    mock.makeAvailable([{ addr: data, len: 16 }], i);
    const r = queue.pop();
    if (!r.ok || r.value === null) assert.fail("expected a chain");
    queue.push(r.value, 0);
  }
  queue.publish();
  ring.observes = 0;
  // Slots 6, 7 (wrap 1) and 0, 1 (wrap 0) hold four buffers.
  for (let i = 0; i < 4; i++) mock.makeAvailable([{ addr: data + 64 * i, len: 16 }], i);
  assert.deepEqual([popId(queue), popId(queue), popId(queue), popId(queue)], [0, 1, 2, 3]);
  assert.equal(ring.observes, 1);
  assert.equal(popId(queue), null);
});
