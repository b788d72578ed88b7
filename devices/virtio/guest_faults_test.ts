/**
 * Guest bugs on demand (`guest_faults.ts`): each fault is written into a live queue of a real
 * `MmioDeviceTransport` the driver initialised; the device half must report the expected kind,
 * and the model's posture (DEVICE_NEEDS_RESET through the transport) must leave the device's
 * other queue untouched until the driver resets.
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { DirectDma } from "../memory/dma.ts";
import { GuestMemory } from "../memory/memory.ts";
import { OK_VOID } from "../base/result.ts";
import { Feature, Status } from "./constants.ts";
import type { ActivateContext, VirtioDeviceModel } from "./device_model.ts";
import { featureSet } from "./features.ts";
import {
  breaksQueue,
  driverAreaScratch,
  formatGuestFaultRefusal,
  GUEST_FAULT_KINDS,
  guestBugMissed,
  type GuestFaultKind,
  injectGuestFault,
  takePackedSlot,
  takeSplitSlot,
} from "./guest_faults.ts";
import { InterruptBit, MmioReg, queueConfigOf, RegFileWord, regFileWords } from "./mmio.ts";
import { MmioDeviceTransport } from "./mmio_device.ts";
import { initDevice, type RegisterPort, resetDevice } from "./mmio_driver.ts";
import { PackedDriverQueue } from "./packed_driver.ts";
import type { DeviceQueue, DriverQueue, Layout } from "./queue.ts";
import { SharedRingAccess } from "./ring_access.ts";
import { SplitDriverQueue } from "./split_driver.ts";
import { createState } from "./state.ts";

const MEMORY = 1 << 20;
const SIZE = 4;

/** What the device must answer, per layout; null: the kind does not exist in that layout. */
const EXPECTED: Record<GuestFaultKind, Record<Layout, string | null>> = {
  "index-jump": { split: "avail-index-jump", packed: null },
  "head-out-of-range": { split: "head-out-of-range", packed: "id-out-of-range" },
  "next-out-of-range": { split: "next-out-of-range", packed: null },
  "loop": { split: "chain-too-long", packed: "chain-too-long" },
  "indirect-length": { split: "indirect-length", packed: "indirect-length" },
  "indirect-nested": { split: "nested-indirect", packed: "nested-indirect" },
  "indirect-outside-memory": { split: "indirect-unreachable", packed: "indirect-unreachable" },
  "wrap-flip": { split: null, packed: "chain-not-available" },
  "address-outside-memory": { split: "buffer-unreachable", packed: "buffer-unreachable" },
};

async function live(layout: Layout) {
  const mem = GuestMemory.create(MEMORY);
  const ring = new SharedRingAccess(mem);
  let ctx: ActivateContext | null = null;
  const bits: number[] = [Feature.VERSION_1, Feature.EVENT_IDX, Feature.INDIRECT_DESC];
  if (layout === "packed") bits.push(Feature.RING_PACKED);
  const model: VirtioDeviceModel = {
    deviceId: 1,
    queueCount: 2,
    queueMaxSize: SIZE,
    offered: featureSet(bits),
    configSize: 0,
    readConfig: () => 0,
    activate: (c) => {
      ctx = c;
      return OK_VOID;
    },
    reset: () => {
      ctx = null;
    },
  };
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const t = new MmioDeviceTransport({
    model,
    dma: new DirectDma(mem),
    ring,
    regs,
    queueState: (_q, l, size) => createState(l, size),
  });
  const port: RegisterPort = {
    read: (o, s) => Promise.resolve(t.read(o, s)),
    write: (o, v, s) => Promise.resolve(t.write(o, v, s)),
  };
  const alloc = new PageAllocator(0x10000, MEMORY / 2);
  const init = await initDevice(port, {
    deviceId: 1,
    supported: model.offered,
    queues: [{ size: SIZE }, { size: SIZE }],
    mem,
    alloc,
    ring,
  });
  assert.ok(init.ok);
  assert.ok(ctx);
  const device = (ctx as ActivateContext).queues as DeviceQueue[];
  const driver = init.value.queues;
  const data = MEMORY / 2 + 0x1000;
  return { mem, ring, regs, t, port, device, driver, negotiated: init.value.negotiated, data };
}

/** One chain through a queue and back: moves the indices (and, packed, the wrap) along. */
function roundTrip(driver: DriverQueue, device: DeviceQueue, gpa: number): void {
  assert.ok(driver.add({ readable: [[gpa, 64]], writable: [] }, 1).ok);
  driver.publish();
  const c = device.pop();
  assert.ok(c.ok && c.value);
  assert.ok(device.push(c.value, 0).ok);
  device.publish();
  const u = driver.getUsed();
  assert.ok(u.ok && u.value);
}

for (const layout of ["split", "packed"] as const) {
  for (const kind of GUEST_FAULT_KINDS) {
    const expected = EXPECTED[kind][layout];
    if (expected === null) {
      Deno.test(`refuses ${kind}, which a ${layout} ring cannot have`, async () => {
        const w = await live(layout);
        const cfg = queueConfigOf(w.regs, 1, w.negotiated);
        const r = injectGuestFault({ config: cfg, ring: w.ring, memoryBytes: MEMORY }, kind);
        assert.deepEqual(r, { ok: false, error: { kind: "not-applicable", fault: kind, layout } });
        assert.ok(!r.ok);
        assert.equal(
          formatGuestFaultRefusal(r.error),
          `Cannot inject ${kind}: a ${layout} ring has no such fault`,
        );
      });
      continue;
    }
    const fatal = kind !== "address-outside-memory";
    Deno.test(`the device detects a guest ${kind} as ${expected}; the other queue lives until reset [${layout}]`, async () => {
      const w = await live(layout);
      // Move queue 1 on by 5 chains (past a wrap of the 4-slot ring), then quiet.
      for (let i = 0; i < 5; i++) roundTrip(w.driver[1], w.device[1], w.data);
      // Queue 0 has a valid chain waiting when the fault hits queue 1.
      assert.ok(w.driver[0].add({ readable: [[w.data + 0x100, 32]], writable: [] }, 9).ok);
      w.driver[0].publish();
      const cfg = queueConfigOf(w.regs, 1, w.negotiated);
      const r = injectGuestFault({
        config: cfg,
        ring: w.ring,
        memoryBytes: MEMORY,
        scratch: w.data + 0x2000,
      }, kind);
      assert.ok(r.ok, "the fault was written");
      assert.ok(r.value.writes.length > 0);
      assert.equal(r.value.kind, kind);
      assert.match(r.value.detail, /\S/);
      // The device model's posture, as the net device and the worker take it.
      const popped = w.device[1].pop();
      assert.equal(popped.ok, false, "the corrupt chain is refused");
      if (popped.ok) return;
      assert.equal(popped.error.kind, expected);
      assert.equal(popped.error.fatal, fatal);
      if (popped.error.fatal) {
        w.t.markNeedsReset(popped.error);
        assert.equal(w.device[1].broken?.kind, expected);
        assert.ok((w.t.read(MmioReg.STATUS) & Status.DEVICE_NEEDS_RESET) !== 0);
        assert.ok((Atomics.load(w.regs, RegFileWord.INTERRUPT_STATUS) & InterruptBit.CONFIG) !== 0);
        assert.equal(w.t.isLive(), false);
        assert.deepEqual(w.device[1].pop().ok, false, "a broken queue stays broken");
      } else {
        // A13: one bad data buffer is a per-request drop; the queue keeps going.
        assert.ok(w.device[1].push(popped.error.chain, 0).ok);
        w.device[1].publish();
        assert.equal(w.device[1].broken, null);
        assert.equal(w.t.isLive(), true);
      }
      // The other queue is not affected: not broken, and its chain comes out intact.
      assert.equal(w.device[0].broken, null);
      const other = w.device[0].pop();
      assert.ok(other.ok && other.value, "queue 0's chain pops");
      assert.deepEqual(other.value.readable.map((s) => [s.gpa, s.len]), [[w.data + 0x100, 32]]);
      // The driver resets the device: Status reads 0 again.
      assert.ok((await resetDevice(w.port)).ok);
      assert.equal(w.t.read(MmioReg.STATUS), 0);
    });
  }
}

Deno.test("refuses a nested indirect table without scratch memory", async () => {
  const w = await live("split");
  const cfg = queueConfigOf(w.regs, 1, w.negotiated);
  const r = injectGuestFault({ config: cfg, ring: w.ring, memoryBytes: MEMORY }, "indirect-nested");
  assert.deepEqual(r, { ok: false, error: { kind: "needs-scratch", fault: "indirect-nested" } });
});

Deno.test("packed address-outside-memory while the device holds chains: dropped, and the driver meets a used buffer it never posted", async () => {
  const w = await live("packed");
  const driver = w.driver[1];
  const device = w.device[1];
  assert.ok(driver instanceof PackedDriverQueue);
  for (let i = 0; i < 5; i++) roundTrip(driver, device, w.data); // past a wrap of the 4 slots
  // Two frames in flight, popped by the device and not yet returned (a TX batch, or RX buffers
  // the device holds for frames to come): ids 0 and 1.
  for (const token of [1, 2]) {
    assert.ok(driver.add({ readable: [[w.data, 64]], writable: [] }, token).ok);
  }
  driver.publish();
  const held = [device.pop(), device.pop()].map((c) => {
    assert.ok(c.ok && c.value);
    return c.value;
  });
  const freeId = driver.unpostedId;
  assert.ok(freeId >= 0 && freeId < SIZE && !held.some((c) => c.id === freeId));
  const cfg = queueConfigOf(w.regs, 1, w.negotiated);
  const r = injectGuestFault(
    { config: cfg, ring: w.ring, memoryBytes: MEMORY, freeId },
    "address-outside-memory",
  );
  assert.ok(r.ok);
  // The device drops that one request (A13): not `head-in-flight`, which would break the queue.
  const bad = device.pop();
  assert.ok(!bad.ok);
  assert.equal(bad.error.kind, "buffer-unreachable");
  assert.equal(bad.error.fatal, false);
  if (bad.error.fatal) return;
  assert.equal(bad.error.chain.id, freeId);
  for (const c of [...held, bad.error.chain]) assert.ok(device.push(c, 0).ok);
  device.publish();
  assert.equal(device.broken, null);
  // The driver (adding nothing meanwhile) reclaims its two frames, then meets the bug's buffer.
  const tokens = [0, 1].map(() => {
    const u = driver.getUsed(); // its object is refilled by the next call: read it now
    return u.ok && u.value?.token;
  });
  assert.deepEqual(tokens, [1, 2]);
  const met = driver.getUsed();
  assert.deepEqual(met, { ok: false, error: { kind: "used-id-not-in-flight", id: freeId } });
  assert.deepEqual(driver.broken, { kind: "used-id-not-in-flight", id: freeId });
});

Deno.test("a packed fault's freeId must be a buffer id of the queue", async () => {
  const w = await live("packed");
  const cfg = queueConfigOf(w.regs, 1, w.negotiated);
  for (const freeId of [-1, SIZE, 1.5]) {
    assert.throws(
      () => injectGuestFault({ config: cfg, ring: w.ring, memoryBytes: MEMORY, freeId }, "loop"),
      new RegExp(`freeId must be a buffer id of the queue of ${SIZE}, got ${freeId}`),
    );
  }
});

for (const layout of ["split", "packed"] as const) {
  Deno.test(`indirect-nested with its table after the driver area, in that area's page: nested-indirect [${layout}]`, async () => {
    const w = await live(layout);
    const cfg = queueConfigOf(w.regs, 1, w.negotiated);
    const scratch = driverAreaScratch(cfg);
    assert.ok(scratch !== null);
    assert.equal(scratch % 16, 0);
    // Past the driver area, inside the page initDevice gave it, clear of the other areas.
    const driverBytes = layout === "split" ? 6 + 2 * SIZE : 4;
    assert.ok(scratch >= cfg.driverAddr + driverBytes);
    assert.ok(scratch + 16 <= cfg.driverAddr + 4096);
    for (const q of [0, 1]) {
      const other = queueConfigOf(w.regs, q, w.negotiated);
      for (const area of [other.descAddr, other.deviceAddr]) {
        assert.ok(
          scratch + 16 <= area || scratch >= area + 4096,
          `clear of 0x${area.toString(16)}`,
        );
      }
    }
    const r = injectGuestFault(
      { config: cfg, ring: w.ring, memoryBytes: MEMORY, scratch },
      "indirect-nested",
    );
    assert.ok(r.ok);
    const popped = w.device[1].pop();
    assert.ok(!popped.ok);
    assert.equal(popped.error.kind, "nested-indirect");
  });
}

Deno.test("driverAreaScratch has room after every driver area virtio allows", () => {
  const config = (layout: Layout, size: number) => ({
    layout,
    size,
    descAddr: 0x10000,
    driverAddr: 0x40000,
    deviceAddr: 0x80000,
    features: { eventIdx: true, indirect: true, inOrder: false },
  });
  for (let size = 1; size <= 32768; size *= 2) {
    const at = driverAreaScratch(config("split", size));
    assert.equal(at, 0x40000 + Math.ceil((6 + 2 * size) / 16) * 16, `split ${size}`);
  }
  for (const size of [1, 7, 256, 1000, 32768]) {
    assert.equal(driverAreaScratch(config("packed", size)), 0x40010, `packed ${size}`);
  }
  // An area that fills its page to the last 16 bytes leaves no room (not a virtio size).
  assert.equal(driverAreaScratch(config("split", 2045)), null);
});

/** Fill split queue 1 to the brim with device-writable buffers, as an idle receiveq is. */
async function fullSplitRing() {
  const w = await live("split");
  const driver = w.driver[1];
  assert.ok(driver instanceof SplitDriverQueue);
  for (let i = 0; i < 5; i++) roundTrip(driver, w.device[1], w.data); // past a wrap
  for (let i = 0; i < SIZE; i++) {
    assert.ok(driver.add({ readable: [], writable: [[w.data + 0x1000 * i, 1526]] }, 10 + i).ok);
  }
  driver.publish();
  assert.equal(driver.freeDescriptors, 0);
  assert.equal(driver.unpostedHead, -1);
  const cfg = queueConfigOf(w.regs, 1, w.negotiated);
  const target = { config: cfg, ring: w.ring, memoryBytes: MEMORY, scratch: w.data + 0x8000 };
  return { ...w, driver, target };
}

/** Split kinds a full ring cannot take with one store per field the device reads once. */
const SPLIT_FULL_REFUSED: readonly GuestFaultKind[] = [
  "indirect-nested",
  "indirect-outside-memory",
];

for (const kind of GUEST_FAULT_KINDS) {
  const expected = EXPECTED[kind].split;
  if (expected === null) continue;
  if (SPLIT_FULL_REFUSED.includes(kind)) {
    Deno.test(`a full split ring refuses ${kind}, the driver's books untouched`, async () => {
      const w = await fullSplitRing();
      const slot = takeSplitSlot(w.driver, w.target, kind);
      assert.ok(!slot.ok);
      assert.equal(slot.error.kind, "queue-full");
      assert.match(formatGuestFaultRefusal(slot.error), /has no free descriptor, and .*two stores/);
      assert.equal(w.driver.inFlight, SIZE);
      assert.equal(w.driver.newestHead >= 0, true);
    });
    continue;
  }
  Deno.test(`a full split ring (an idle receiveq): the device meets ${kind} as ${expected}, after the buffers posted before it`, async () => {
    const w = await fullSplitRing();
    const slot = takeSplitSlot(w.driver, w.target, kind);
    assert.ok(slot.ok, JSON.stringify(slot));
    const r = injectGuestFault({ ...w.target, splitSlot: slot.value }, kind);
    assert.ok(r.ok, JSON.stringify(r));
    const device = w.device[1];
    // A rewrite in place keeps the avail index: the device first takes the buffers posted
    // before the bug, whole (an index jump is met at once).
    const good = kind === "index-jump" ? 0 : SIZE - 1;
    for (let i = 0; i < good; i++) {
      const c = device.pop();
      assert.ok(c.ok && c.value, `buffer ${i}: ${c.ok ? "none" : c.error.kind}`);
      assert.deepEqual(c.value.writable.map((s) => s.len), [1526]);
      assert.ok(device.push(c.value, 64).ok);
    }
    const popped = device.pop();
    assert.ok(!popped.ok, "the bug is met");
    assert.equal(popped.error.kind, expected);
    assert.equal(popped.error.fatal, breaksQueue(kind));
    if (popped.error.fatal) return;
    // address-outside-memory: dropped (A13); the driver reclaims its buffers, then meets the
    // bug's, which it took back: a buffer it never posted.
    assert.ok(device.push(popped.error.chain, 0).ok);
    device.publish();
    assert.equal(device.broken, null);
    for (let i = 0; i < good; i++) {
      const u = w.driver.getUsed();
      assert.ok(u.ok && u.value, JSON.stringify(u));
    }
    const met = w.driver.getUsed();
    assert.ok(!met.ok);
    assert.equal(met.error.kind, "used-id-not-in-flight");
  });
}

Deno.test("a receiveq the device has used and the driver refilled: the next frame meets an index-jump, not the buffers of the device's old snapshot of the avail index", async () => {
  const w = await fullSplitRing();
  const device = w.device[1];
  // One frame: the device reads the avail index (all SIZE buffers) and takes one buffer.
  const c = device.pop();
  assert.ok(c.ok && c.value);
  assert.ok(device.push(c.value, 64).ok);
  device.publish();
  // The driver takes it back and posts it again: the ring is full again.
  const u = w.driver.getUsed();
  assert.ok(u.ok && u.value);
  assert.ok(w.driver.add({ readable: [], writable: [[w.data, 1526]] }, 20).ok);
  w.driver.publish();
  const slot = takeSplitSlot(w.driver, w.target, "index-jump");
  assert.ok(slot.ok, JSON.stringify(slot));
  assert.ok(injectGuestFault({ ...w.target, splitSlot: slot.value }, "index-jump").ok);
  // The next frame's pop meets the jump (it used to take the SIZE - 1 buffers it had seen).
  const popped = device.pop();
  assert.ok(!popped.ok, "the jump is met at the next frame");
  assert.equal(popped.error.kind, "avail-index-jump");
  assert.equal(popped.error.fatal, true);
});

Deno.test("a full split ring whose newest buffer the device took before the rewrite: the bug is not met, and the driver meets that buffer as one it never posted", async () => {
  const w = await fullSplitRing();
  const device = w.device[1];
  const held = [];
  for (let i = 0; i < SIZE; i++) {
    const c = device.pop();
    assert.ok(c.ok && c.value);
    held.push(c.value);
  }
  const slot = takeSplitSlot(w.driver, w.target, "loop");
  assert.ok(slot.ok && slot.value?.posted);
  assert.ok(injectGuestFault({ ...w.target, splitSlot: slot.value }, "loop").ok);
  // The device read the old chain whole: it writes a frame into the old buffer.
  assert.deepEqual(held[SIZE - 1].writable.map((s) => s.len), [1526]);
  assert.deepEqual(device.pop(), { ok: true, value: null });
  for (const c of held) assert.ok(device.push(c, 64).ok);
  device.publish();
  for (let i = 0; i < SIZE - 1; i++) assert.ok(w.driver.getUsed().ok);
  const met = w.driver.getUsed();
  assert.deepEqual(met, {
    ok: false,
    error: { kind: "used-id-not-in-flight", id: slot.value.head },
  });
});

Deno.test("a split ring with a free descriptor: the bug takes the driver's free head, not a posted one", async () => {
  const w = await live("split");
  const driver = w.driver[1];
  assert.ok(driver instanceof SplitDriverQueue);
  for (let i = 0; i < 5; i++) roundTrip(driver, w.device[1], w.data);
  for (let i = 0; i < SIZE - 1; i++) {
    assert.ok(driver.add({ readable: [], writable: [[w.data + 0x1000 * i, 1526]] }, 10 + i).ok);
  }
  driver.publish();
  const free = driver.unpostedHead;
  assert.ok(free >= 0);
  const cfg = queueConfigOf(w.regs, 1, w.negotiated);
  const target = { config: cfg, ring: w.ring, memoryBytes: MEMORY };
  const slot = takeSplitSlot(driver, target, "next-out-of-range");
  assert.deepEqual(slot, { ok: true, value: { head: free, posted: false } });
  assert.ok(injectGuestFault({ ...target, splitSlot: slot.value }, "next-out-of-range").ok);
  for (let i = 0; i < SIZE - 1; i++) {
    const c = w.device[1].pop();
    assert.ok(c.ok && c.value);
    assert.deepEqual(c.value.writable.map((s) => s.len), [1526], "posted buffers intact");
  }
  const bad = w.device[1].pop();
  assert.ok(!bad.ok);
  assert.equal(bad.error.kind, "next-out-of-range");
});

Deno.test("without a buffer taken back (packedSlot), a full packed ring refuses a guest bug rather than write over a buffer the device has yet to take", async () => {
  const w = await live("packed");
  const driver = w.driver[1];
  assert.ok(driver instanceof PackedDriverQueue);
  for (let i = 0; i < SIZE; i++) {
    assert.ok(driver.add({ readable: [], writable: [[w.data + 0x1000 * i, 1526]] }, i).ok);
  }
  driver.publish();
  const cfg = queueConfigOf(w.regs, 1, w.negotiated);
  for (const kind of ["loop", "head-out-of-range", "address-outside-memory"] as const) {
    const r = injectGuestFault({
      config: cfg,
      ring: w.ring,
      memoryBytes: MEMORY,
      freeDescriptors: driver.freeDescriptors,
    }, kind);
    assert.ok(!r.ok);
    assert.equal(r.error.kind, "queue-full");
  }
  for (let i = 0; i < SIZE; i++) {
    const c = w.device[1].pop();
    assert.ok(c.ok && c.value, "every buffer intact");
  }
});

Deno.test("index-jump on a 32768-entry ring is seen from every place the device may be, or refused", () => {
  const size = 32768;
  const mem = GuestMemory.create(MEMORY);
  const ring = new SharedRingAccess(mem);
  const driverAddr = 0x1000 + 16 * size; // the avail ring: 6 + 2 × size bytes
  const config = {
    layout: "split" as const,
    size,
    descAddr: 0x1000,
    driverAddr,
    deviceAddr: driverAddr + 6 + 2 * size + 2, // 4-aligned
    features: { eventIdx: false, indirect: false, inOrder: false },
  };
  for (const avail of [0, 5, 32768, 40000, 65535]) {
    for (const pending of [0, 1, 1000, 32765, 32766, 32767, 32768]) {
      const used = (avail - pending) & 0xffff;
      ring.store16(config.driverAddr + 2, avail);
      ring.store16(config.deviceAddr + 2, used);
      const r = injectGuestFault({ config, ring, memoryBytes: MEMORY }, "index-jump");
      const at = `avail ${avail}, ${pending} not used`;
      if (pending >= 32767) {
        assert.ok(!r.ok, `${at}: written, though no index can be seen from every place`);
        assert.deepEqual(r.error, { kind: "jump-invisible", fault: "index-jump", size, pending });
        assert.match(formatGuestFaultRefusal(r.error), /may not have taken the last 3276\d of/);
        assert.equal(ring.load16(config.driverAddr + 2), avail, "nothing written");
        continue;
      }
      assert.ok(r.ok, at);
      const to = ring.load16(config.driverAddr + 2);
      // The device's check (split_device.ts): more than `size` entries past its next avail.
      for (let i = 0; i <= pending; i++) {
        const next = (used + i) & 0xffff;
        assert.ok(((to - next) & 0xffff) > size, `${at}: a device at ${next} sees no jump`);
      }
    }
  }
});

Deno.test("guestBugMissed tells a bug the device never met (it took the buffer first) from one it met", async () => {
  // Lost the race: the device popped every buffer, the newest too, before the rewrite.
  const lost = await fullSplitRing();
  const held = [];
  for (let i = 0; i < SIZE; i++) {
    const c = lost.device[1].pop();
    assert.ok(c.ok && c.value);
    held.push(c.value);
  }
  const slot = takeSplitSlot(lost.driver, lost.target, "loop");
  assert.ok(slot.ok && slot.value?.posted);
  assert.ok(injectGuestFault({ ...lost.target, splitSlot: slot.value }, "loop").ok);
  for (const c of held) assert.ok(lost.device[1].push(c, 64).ok);
  lost.device[1].publish();
  for (let i = 0; i < SIZE - 1; i++) assert.ok(lost.driver.getUsed().ok);
  const met = lost.driver.getUsed();
  assert.ok(!met.ok);
  const planted = { kind: "loop" as const, takenBack: slot.value.head };
  assert.equal(guestBugMissed(planted, met.error), true);
  // The same error about another buffer, a bug on a free slot, or one that costs only its
  // request (its own used buffer is one the driver never posted too) is no miss.
  const other = { kind: "used-id-not-in-flight" as const, id: (slot.value.head + 1) % SIZE };
  assert.equal(guestBugMissed(planted, other), false);
  assert.equal(guestBugMissed({ kind: "loop", takenBack: null }, met.error), false);
  assert.equal(
    guestBugMissed({ kind: "address-outside-memory", takenBack: slot.value.head }, met.error),
    false,
  );

  // Met: the device reads the bug and breaks the queue; the driver never meets the buffer.
  const won = await fullSplitRing();
  const s2 = takeSplitSlot(won.driver, won.target, "loop");
  assert.ok(s2.ok && s2.value?.posted);
  assert.ok(injectGuestFault({ ...won.target, splitSlot: s2.value }, "loop").ok);
  for (let i = 0; i < SIZE - 1; i++) {
    const c = won.device[1].pop();
    assert.ok(c.ok && c.value);
    assert.ok(won.device[1].push(c.value, 64).ok);
  }
  const bad = won.device[1].pop();
  assert.ok(!bad.ok && bad.error.kind === "chain-too-long");
  won.device[1].publish();
  for (let i = 0; i < SIZE - 1; i++) assert.ok(won.driver.getUsed().ok);
  assert.deepEqual(won.driver.getUsed(), { ok: true, value: null }, "nothing more comes back");
});

/** Fill packed queue 1 to the brim with device-writable buffers, as an idle receiveq is. */
async function fullPackedRing() {
  const w = await live("packed");
  const driver = w.driver[1];
  assert.ok(driver instanceof PackedDriverQueue);
  for (let i = 0; i < 5; i++) roundTrip(driver, w.device[1], w.data); // past a wrap
  for (let i = 0; i < SIZE; i++) {
    assert.ok(driver.add({ readable: [], writable: [[w.data + 0x1000 * i, 1526]] }, 10 + i).ok);
  }
  driver.publish();
  assert.equal(driver.freeDescriptors, 0);
  const cfg = queueConfigOf(w.regs, 1, w.negotiated);
  const target = {
    config: cfg,
    ring: w.ring,
    memoryBytes: MEMORY,
    scratch: w.data + 0x8000,
    freeDescriptors: 0,
  };
  return { ...w, driver, target };
}

for (const kind of ["head-out-of-range", "address-outside-memory"] as const) {
  const expected = EXPECTED[kind].packed!;
  Deno.test(`a full packed ring (an idle receiveq): the device meets ${kind} as ${expected}, after the buffers posted before it`, async () => {
    const w = await fullPackedRing();
    const slot = takePackedSlot(w.driver, w.target, kind);
    assert.ok(slot.ok && slot.value !== undefined, JSON.stringify(slot));
    assert.equal(w.driver.inFlight, SIZE - 1, "the newest buffer is taken back");
    const r = injectGuestFault({ ...w.target, packedSlot: slot.value }, kind);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.value.writes.length, 1, "one store arms it");
    const device = w.device[1];
    for (let i = 0; i < SIZE - 1; i++) {
      const c = device.pop();
      assert.ok(c.ok && c.value, `buffer ${i}: ${c.ok ? "none" : c.error.kind}`);
      assert.deepEqual(c.value.writable.map((s) => s.len), [1526]);
      assert.ok(device.push(c.value, 64).ok);
    }
    const popped = device.pop();
    assert.ok(!popped.ok, "the bug is met");
    assert.equal(popped.error.kind, expected);
    assert.equal(popped.error.fatal, breaksQueue(kind));
    if (popped.error.fatal) return;
    // address-outside-memory: dropped; the driver meets the bug's buffer, which it took back.
    assert.ok(device.push(popped.error.chain, 0).ok);
    device.publish();
    for (let i = 0; i < SIZE - 1; i++) assert.ok(w.driver.getUsed().ok);
    const met = w.driver.getUsed();
    assert.ok(!met.ok);
    assert.deepEqual(met.error, { kind: "used-id-not-in-flight", id: slot.value.id });
    assert.equal(guestBugMissed({ kind, takenBack: slot.value.id }, met.error), false);
  });
}

Deno.test("a full packed ring refuses the bugs that take its flags word or two stores, the driver's books untouched", async () => {
  const w = await fullPackedRing();
  const kinds = [
    "loop",
    "wrap-flip",
    "indirect-length",
    "indirect-nested",
    "indirect-outside-memory",
  ];
  for (const kind of kinds as GuestFaultKind[]) {
    const slot = takePackedSlot(w.driver, w.target, kind);
    assert.ok(!slot.ok, kind);
    assert.equal(slot.error.kind, "queue-full");
    assert.match(formatGuestFaultRefusal(slot.error), /flags|two stores|every slot/, kind);
    assert.equal(w.driver.inFlight, SIZE, kind);
  }
  for (let i = 0; i < SIZE; i++) {
    const c = w.device[1].pop();
    assert.ok(c.ok && c.value, "every buffer intact");
  }
});

Deno.test("a full packed ring whose newest buffer the device took before the rewrite: the bug is not met, and the driver says so", async () => {
  const w = await fullPackedRing();
  const device = w.device[1];
  const held = [];
  for (let i = 0; i < SIZE; i++) {
    const c = device.pop();
    assert.ok(c.ok && c.value);
    held.push(c.value);
  }
  const slot = takePackedSlot(w.driver, w.target, "head-out-of-range");
  assert.ok(slot.ok && slot.value !== undefined);
  assert.ok(injectGuestFault({ ...w.target, packedSlot: slot.value }, "head-out-of-range").ok);
  assert.deepEqual(held[SIZE - 1].writable.map((s) => s.len), [1526], "the old buffer, whole");
  for (const c of held) assert.ok(device.push(c, 64).ok);
  device.publish();
  for (let i = 0; i < SIZE - 1; i++) assert.ok(w.driver.getUsed().ok);
  const met = w.driver.getUsed();
  assert.ok(!met.ok, "the driver meets the buffer it took back");
  assert.equal(met.error.kind, "used-id-not-in-flight");
  assert.equal(
    guestBugMissed({ kind: "head-out-of-range", takenBack: slot.value.id }, met.error),
    true,
  );
});

Deno.test("a packed id rewrite that lands on the used descriptor the device wrote there breaks the queue, never hides the buffer", async () => {
  const w = await fullPackedRing();
  const device = w.device[1];
  const slot = takePackedSlot(w.driver, w.target, "head-out-of-range");
  assert.ok(slot.ok && slot.value !== undefined);
  // In the same instant the device takes and returns every buffer, the newest last: its used
  // descriptor lands in the newest buffer's slot, and the bug's id store comes after it.
  for (let i = 0; i < SIZE; i++) {
    const c = device.pop();
    assert.ok(c.ok && c.value);
    assert.ok(device.push(c.value, 64).ok);
  }
  device.publish();
  assert.ok(injectGuestFault({ ...w.target, packedSlot: slot.value }, "head-out-of-range").ok);
  for (let i = 0; i < SIZE - 1; i++) assert.ok(w.driver.getUsed().ok);
  const met = w.driver.getUsed();
  assert.ok(!met.ok, `the driver sees the slot used: ${JSON.stringify(met)}`);
  assert.deepEqual(met.error, { kind: "used-id-out-of-range", id: SIZE, size: SIZE });
  assert.equal(
    guestBugMissed({ kind: "head-out-of-range", takenBack: slot.value.id }, met.error),
    true,
  );
  // A buffer the device has already returned is not taken back at all.
  const again = await fullPackedRing();
  for (let i = 0; i < SIZE; i++) {
    const c = again.device[1].pop();
    assert.ok(c.ok && c.value && again.device[1].push(c.value, 64).ok);
  }
  again.device[1].publish();
  const late = takePackedSlot(again.driver, again.target, "head-out-of-range");
  assert.ok(!late.ok);
  assert.match(formatGuestFaultRefusal(late.error), /nothing it posted is still waiting/);
  assert.equal(again.driver.inFlight, SIZE);
});
