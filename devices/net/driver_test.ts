/**
 * The guest driver on its own: buffer layout, TX ring-full handling, zero-copy send, and its
 * checks of an untrusted device (reliability section C) driven through raw device queues.
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Feature } from "../virtio/constants.ts";
import { featureSet } from "../virtio/features.ts";
import { injectGuestFault } from "../virtio/guest_faults.ts";
import { createQueuePair, type QueuePair } from "../virtio/pair.ts";
import { SharedRingAccess } from "../virtio/ring_access.ts";
import type { Layout } from "../virtio/queue.ts";
import { NET_HDR_SIZE, NetFeature, writeRxHeader } from "./config.ts";
import { NetDriver, parseNetConfig } from "./driver.ts";
import { NET_DRIVER_COUNTER_COUNT, NetDriverCounter } from "./metrics.ts";

interface Rig {
  mem: GuestMemory;
  rx: QueuePair;
  tx: QueuePair;
  driver: NetDriver;
  counters: Float64Array;
}

function rig(layout: Layout, mrg: boolean, rxBufferSize?: number): Rig {
  const mem = GuestMemory.create(4 << 20);
  const q = (base: number) => {
    const r = createQueuePair(mem, {
      layout,
      size: 4,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    });
    if (!r.ok) throw new Error(`setup failed: ${r.error.kind}`);
    return r.value;
  };
  const rx = q(0x1000);
  const tx = q(0x4000);
  const counters = new Float64Array(NET_DRIVER_COUNTER_COUNT);
  const bits = [Feature.VERSION_1, Feature.EVENT_IDX, ...(mrg ? [NetFeature.MRG_RXBUF] : [])];
  const driver = new NetDriver({
    mem,
    alloc: new PageAllocator(0x10000, (4 << 20) - 0x10000),
    rx: rx.driver,
    tx: tx.driver,
    negotiated: featureSet(bits),
    rxBufferSize,
    counters,
  });
  return { mem, rx, tx, driver, counters };
}

/** Play a device that returns the next RX chain with `written` bytes and `numBuffers`. */
function deviceReturns(r: Rig, written: number, numBuffers: number): void {
  const p = r.rx.device.pop();
  assert.ok(p.ok && p.value);
  writeRxHeader(r.mem.u8, p.value.writable[0].gpa, numBuffers);
  assert.ok(r.rx.device.push(p.value, written).ok);
  r.rx.device.publish();
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`buffers are allocated once, one per descriptor, default sizes [${layout}]`, () => {
    const plain = rig(layout, false);
    assert.equal(plain.driver.rxBufferSize, 1526);
    assert.equal(plain.driver.txBufferSize, 12 + 1514);
    // Buffers lie a cache line apart (1526 rounded up to 1536), so every frame starts 4 bytes
    // past a multiple of 8, as the link rings' frames do (copies between them run word by word).
    assert.equal(plain.driver.rxBufferAddr(1) - plain.driver.rxBufferAddr(0), 1536);
    assert.equal(plain.driver.txBufferAddr(1) - plain.driver.txBufferAddr(0), 1536);
    for (let t = 0; t < 4; t++) {
      assert.equal((plain.driver.rxBufferAddr(t) + NET_HDR_SIZE) % 8, 4);
      assert.equal((plain.driver.txBufferAddr(t) + NET_HDR_SIZE) % 8, 4);
    }
    assert.equal(rig(layout, true).driver.rxBufferSize, 1536);
    assert.equal(plain.driver.fillRx(), 4);
    assert.equal(plain.driver.fillRx(), 0); // every buffer is posted
    assert.equal(plain.counters[NetDriverCounter.rxPosted], 4);
    plain.driver.flush();
    const p = plain.rx.device.pop();
    assert.ok(p.ok && p.value);
    assert.deepEqual(p.value.writable.map((s) => [s.gpa, s.len]), [[
      plain.driver.rxBufferAddr(0),
      1526,
    ]]);
    assert.equal(p.value.readableBytes, 0);
  });

  Deno.test(`send writes a zero header then the frame in one readable descriptor [${layout}]`, () => {
    const r = rig(layout, false);
    const at = r.driver.txBufferAddr(0);
    r.mem.u8.fill(0xff, at, at + 64);
    assert.equal(r.driver.sendWith(20, (buf) => buf.fill(7)), true);
    r.driver.flush();
    const p = r.tx.device.pop();
    assert.ok(p.ok && p.value);
    assert.deepEqual(p.value.readable.map((s) => [s.gpa, s.len]), [[at, NET_HDR_SIZE + 20]]);
    assert.equal(p.value.writableBytes, 0);
    assert.deepEqual([...r.mem.u8.subarray(at, at + 12)], new Array(12).fill(0));
    assert.deepEqual([...r.mem.u8.subarray(at + 12, at + 33)], [...new Array(20).fill(7), 0xff]);
  });

  Deno.test(`send returns false when every TX buffer is in flight, true after reclaim [${layout}]`, () => {
    const r = rig(layout, false);
    for (let i = 0; i < 4; i++) assert.equal(r.driver.send(new Uint8Array(60)), true);
    assert.equal(r.driver.send(new Uint8Array(60)), false);
    assert.equal(r.counters[NetDriverCounter.txRingFull], 1);
    r.driver.flush();
    const p = r.tx.device.pop();
    assert.ok(p.ok && p.value);
    r.tx.device.push(p.value, 0);
    r.tx.device.publish();
    assert.equal(r.driver.send(new Uint8Array(60)), true); // reclaims by itself
    assert.equal(r.counters[NetDriverCounter.txReclaimed], 1);
    assert.equal(r.counters[NetDriverCounter.txFrames], 5);
    assert.throws(() => r.driver.send(new Uint8Array(1515)), RangeError);
  });

  Deno.test(`sent buffers interrupt only a driver that waits for room [${layout}]`, () => {
    const r = rig(layout, false);
    /** The device returns the next TX chain; true if the driver asked to be interrupted. */
    const complete = (): boolean => {
      const p = r.tx.device.pop();
      assert.ok(p.ok && p.value);
      assert.ok(r.tx.device.push(p.value, 0).ok);
      r.tx.device.publish();
      return r.tx.device.needsInterrupt();
    };
    // A device's first used-buffer check always notifies (it has none signalled yet): past it.
    assert.equal(r.driver.send(new Uint8Array(60)), true);
    r.driver.flush();
    complete();
    assert.equal(r.driver.reclaimTx(), 1);
    // A ping's frame: the guest sleeps, and its completion wakes no one (lazy reclaim).
    assert.equal(r.driver.send(new Uint8Array(60)), true);
    r.driver.flush();
    assert.equal(r.driver.enableInterrupts(), false);
    assert.equal(complete(), false);
    assert.equal(r.driver.enableInterrupts(), false); // waiting TX used buffers are no reason to stay up
    // A flood that filled the ring: the next completion must wake the sender.
    for (let i = 0; i < 3; i++) assert.equal(r.driver.send(new Uint8Array(60)), true);
    r.driver.flush();
    assert.equal(r.driver.send(new Uint8Array(60)), true); // reclaims the ping's frame itself
    r.driver.flush();
    assert.equal(r.driver.send(new Uint8Array(60)), false);
    assert.equal(r.driver.enableInterrupts(), false);
    assert.equal(complete(), true);
    assert.equal(r.driver.reclaimTx(), 1);
    // Room again: back to lazy.
    assert.equal(r.driver.enableInterrupts(), false);
    assert.equal(complete(), false);
  });

  Deno.test(`num_buffers beyond what the device returned is a device fault [${layout}]`, () => {
    const r = rig(layout, true);
    r.driver.fillRx();
    r.driver.flush();
    deviceReturns(r, 100, 3); // claims 3 buffers, returns 1
    assert.equal(r.driver.receive(() => assert.fail("no frame expected"), 8), 0);
    assert.deepEqual(r.driver.fault, { kind: "bad-num-buffers", numBuffers: 3, available: 1 });
    assert.equal(r.driver.fillRx(), 0);
  });

  Deno.test(`a device fault that stops the driver is counted once [${layout}]`, () => {
    const r = rig(layout, true);
    r.driver.fillRx();
    r.driver.flush();
    deviceReturns(r, 100, 3);
    deviceReturns(r, 100, 0);
    for (let i = 0; i < 3; i++) r.driver.receive(() => {}, 8);
    assert.equal(r.counters[NetDriverCounter.deviceFaults], 1);
    assert.equal(r.counters[NetDriverCounter.txTimeouts], 0);
  });

  Deno.test(`num_buffers 0 is a device fault [${layout}]`, () => {
    const r = rig(layout, true);
    r.driver.fillRx();
    r.driver.flush();
    deviceReturns(r, 100, 0);
    assert.equal(r.driver.receive(() => {}, 8), 0);
    assert.equal(r.driver.fault?.kind, "bad-num-buffers");
  });

  Deno.test(`without MRG_RXBUF num_buffers is ignored (E5) [${layout}]`, () => {
    const r = rig(layout, false);
    r.driver.fillRx();
    r.driver.flush();
    deviceReturns(r, 12 + 60, 9);
    const lens: number[] = [];
    assert.equal(r.driver.receive((f) => lens.push(f.length), 8), 1);
    assert.deepEqual(lens, [60]);
    assert.equal(r.driver.fault, null);
  });

  Deno.test(`a used length below the header is dropped and counted [${layout}]`, () => {
    const r = rig(layout, true);
    r.driver.fillRx();
    r.driver.flush();
    deviceReturns(r, 5, 1);
    deviceReturns(r, 12 + 14, 1);
    const lens: number[] = [];
    assert.equal(r.driver.receive((f) => lens.push(f.length), 8), 1);
    assert.deepEqual(lens, [14]);
    assert.equal(r.counters[NetDriverCounter.rxLengthErrors], 1);
    assert.equal(r.driver.fillRx(), 2);
  });

  Deno.test(`a frame longer than the MTU allows is a device error, in one buffer or merged [${layout}]`, () => {
    // One 1536-byte mergeable buffer holds 1524 frame bytes, 10 more than a 1500 MTU allows.
    const one = rig(layout, true);
    one.driver.fillRx();
    one.driver.flush();
    deviceReturns(one, 12 + 1515, 1);
    deviceReturns(one, 12 + 1514, 1);
    const lens: number[] = [];
    assert.equal(one.driver.receive((f) => lens.push(f.length), 8), 1);
    assert.deepEqual(lens, [1514]);
    assert.equal(one.counters[NetDriverCounter.rxLengthErrors], 1);
    // Two merged buffers: the first alone carries 1524 bytes, more than 1514.
    const two = rig(layout, true);
    two.driver.fillRx();
    two.driver.flush();
    deviceReturns(two, 1536, 2);
    deviceReturns(two, 1536, 0);
    assert.equal(two.driver.receive(() => assert.fail("no frame expected"), 8), 0);
    assert.deepEqual(two.driver.fault, { kind: "frame-too-big", len: 1524, limit: 1514 });
  });

  Deno.test(`receive stops at its budget and resumes [${layout}]`, () => {
    const r = rig(layout, false);
    r.driver.fillRx();
    r.driver.flush();
    for (let i = 0; i < 3; i++) deviceReturns(r, 12 + 20 + i, 1);
    const lens: number[] = [];
    assert.equal(r.driver.receive((f) => lens.push(f.length), 2), 2);
    assert.equal(r.driver.receive((f) => lens.push(f.length), 2), 1);
    assert.deepEqual(lens, [20, 21, 22]);
    assert.equal(r.counters[NetDriverCounter.rxBytes], 63);
  });
}

Deno.test("a too small RX buffer size is refused at construction", () => {
  const mem = GuestMemory.create(1 << 20);
  const q = createQueuePair(mem, {
    layout: "split",
    size: 4,
    descAddr: 0x1000,
    driverAddr: 0x2000,
    deviceAddr: 0x3000,
    features: { eventIdx: false, indirect: false, inOrder: false },
  });
  assert.ok(q.ok);
  assert.throws(
    () =>
      new NetDriver({
        mem,
        alloc: new PageAllocator(0x10000, 0x10000),
        rx: q.value.driver,
        tx: q.value.driver,
        negotiated: 0n,
        rxBufferSize: 8,
      }),
    /rxBufferSize must be at least 12, got 8/,
  );
});

Deno.test("parseNetConfig is exported beside the driver", () => {
  const bytes = new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0, 1, 0, 0xdc, 0x05]);
  assert.deepEqual(parseNetConfig(bytes), { mac: "52:54:00:12:34:56", linkUp: true, mtu: 1500 });
});

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a frozen queue keeps the guest bug written into it until reattach [${layout}]`, () => {
    const r = rig(layout, false);
    const config = {
      layout,
      size: 4,
      descAddr: 0x4000,
      driverAddr: 0x5000,
      deviceAddr: 0x6000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    };
    const bug = injectGuestFault(
      { config, ring: new SharedRingAccess(r.mem), memoryBytes: r.mem.size },
      "head-out-of-range",
    );
    assert.ok(bug.ok);
    r.driver.freeze("transmitq");
    // Not sent, not published: the driver's add would have taken the bug's slot.
    assert.equal(r.driver.send(new Uint8Array(60)), false);
    assert.equal(r.counters[NetDriverCounter.txRingFull], 1);
    assert.equal(r.driver.flush().kickTx, false);
    const p = r.tx.device.pop();
    assert.ok(!p.ok, "the device meets the bug, not a frame written over it");
    // A packed ring has no heads: its bug is a buffer id out of range.
    assert.equal(p.error.kind, layout === "split" ? "head-out-of-range" : "id-out-of-range");
    // The guest's reset gives the driver fresh queues: it sends again.
    const fresh = createQueuePair(r.mem, config);
    const rx = createQueuePair(r.mem, {
      ...config,
      descAddr: 0x1000,
      driverAddr: 0x2000,
      deviceAddr: 0x3000,
    });
    assert.ok(fresh.ok && rx.ok);
    assert.ok(r.driver.reattach(rx.value.driver, fresh.value.driver).ok);
    assert.equal(r.driver.send(new Uint8Array(60)), true);
    assert.equal(r.driver.flush().kickTx, true);
  });
}
