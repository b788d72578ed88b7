/**
 * The virtio-iommu device with its driver over real split and packed rings: the request
 * lifecycle, the invalidation handshake seen from the guest, fault reports, and malformed
 * requests (each gets the spec's status; nothing throws).
 */
import assert from "node:assert/strict";
import { LAYOUTS, refusePushes } from "../virtio/testing_harness.ts";
import { IommuStatus, MapFlag, ReqType, ResvMem } from "./config.ts";
import { readIotlbCounters } from "./faults.ts";
import { IommuCounter } from "./metrics.ts";
import { iommuRig } from "./testing.ts";
import { IommuDevice } from "./device.ts";
import { DirectDma } from "../memory/mod.ts";
import { SharedRingAccess } from "../virtio/ring_access.ts";
import { SplitDeviceQueue } from "../virtio/split_device.ts";
import { PackedDeviceQueue } from "../virtio/packed_device.ts";
import type { DescriptorChain } from "../virtio/queue.ts";
import { createQueuePair } from "../virtio/pair.ts";
import { PageAllocator } from "../memory/allocator.ts";
import { IommuDriver } from "./driver.ts";
import { parseIommuConfig } from "./config.ts";

const IOVA = 0x4000_0000;

for (const layout of LAYOUTS) {
  Deno.test(`[${layout}] device and driver: ATTACH, MAP, PROBE, access, UNMAP after the handshake, fault report`, () => {
    const reserved = [{ subtype: ResvMem.MSI, start: 0xfee0_0000, end: 0xfeef_ffff }];
    const r = iommuRig(layout, { reserved });
    const { driver, device, dma, clock } = r;
    assert.equal(driver.fillEvents(), true);
    driver.attach(1, 0);
    driver.map(1, {
      start: IOVA,
      end: IOVA + 0x1fff,
      gpa: 0x8000,
      flags: MapFlag.READ | MapFlag.WRITE,
    });
    driver.probe(0);
    driver.publish();
    const o = device.service(clock.now);
    assert.equal(o.completed, 3);
    assert.equal(o.waiting, false);
    assert.deepEqual(driver.collect(), [
      { token: 0, type: ReqType.ATTACH, status: IommuStatus.OK },
      { token: 1, type: ReqType.MAP, status: IommuStatus.OK },
      { token: 2, type: ReqType.PROBE, status: IommuStatus.OK, regions: reserved },
    ]);
    dma.beginBatch();
    assert.equal(dma.resolve(IOVA + 0x1010, 64, "write"), 0x9010);

    // UNMAP: held until the consumer dropped its IOTLB.
    driver.unmap(1, IOVA, IOVA + 0x1fff);
    driver.publish();
    assert.equal(device.service(clock.now).waiting, true);
    assert.deepEqual(driver.collect(), [], "not complete while nic0 may still hold the entry");
    assert.equal(
      dma.resolve(IOVA + 0x1010, 64, "write"),
      0x9010,
      "the batch in progress still may",
    );
    dma.beginBatch();
    const done = device.service(clock.now);
    assert.equal(done.waiting, false);
    assert.deepEqual(driver.collect(), [{ token: 2, type: ReqType.UNMAP, status: IommuStatus.OK }]);

    // The device now refuses the old IOVA; the fault reaches the guest on the eventq.
    assert.equal(dma.resolve(IOVA + 0x1010, 64, "write"), -1);
    const ev = device.service(clock.now);
    assert.equal(ev.interruptEvent, true);
    assert.deepEqual(driver.readEvents(), [
      { reason: 2, access: "write", endpoint: 0, address: IOVA + 0x1010 },
    ]);
    assert.equal(device.counters[IommuCounter.faultReports], 1);
    assert.equal(readIotlbCounters(r.viommu.views, dma.iotlb.slot).faults, 1);
  });

  Deno.test(`[${layout}] malformed requests get the spec's status codes and nothing throws`, () => {
    const r = iommuRig(layout, { size: 64 });
    const { driver, device, clock } = r;
    driver.attach(1, 0);
    driver.attach(2, 1, { bypass: true });
    driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: 1 });
    driver.publish();
    device.service(clock.now);
    driver.collect();
    const cases: Array<[string, () => void, number]> = [
      [
        "MAP overlapping a mapping",
        () => driver.map(1, { start: IOVA, end: IOVA + 0x1fff, gpa: 0, flags: 1 }),
        IommuStatus.INVAL,
      ],
      [
        "MAP in an unknown domain",
        () => driver.map(9, { start: 0, end: 0xfff, gpa: 0, flags: 1 }),
        IommuStatus.NOENT,
      ],
      [
        "MAP unaligned start",
        () => driver.map(1, { start: 0x10, end: 0x100f, gpa: 0, flags: 1 }),
        IommuStatus.RANGE,
      ],
      [
        "MAP unaligned end",
        () => driver.map(1, { start: 0x0, end: 0x17ff, gpa: 0, flags: 1 }),
        IommuStatus.RANGE,
      ],
      [
        "MAP unaligned phys",
        () => driver.map(1, { start: 0x0, end: 0xfff, gpa: 0x10, flags: 1 }),
        IommuStatus.RANGE,
      ],
      [
        "MAP outside input_range",
        () => driver.map(1, { start: 2 ** 48, end: 2 ** 48 + 0xfff, gpa: 0, flags: 1 }),
        IommuStatus.RANGE,
      ],
      [
        "MAP past guest memory",
        () => driver.map(1, { start: 0, end: 0x1fff, gpa: (1 << 20) - 0x1000, flags: 1 }),
        IommuStatus.RANGE,
      ],
      [
        "MAP end before start",
        () => driver.map(1, { start: 0x2000, end: 0xfff, gpa: 0, flags: 1 }),
        IommuStatus.INVAL,
      ],
      [
        "MAP unknown flag (MMIO not offered)",
        () => driver.map(1, { start: 0, end: 0xfff, gpa: 0, flags: MapFlag.MMIO }),
        IommuStatus.INVAL,
      ],
      [
        "MAP on a bypass domain",
        () => driver.map(2, { start: 0, end: 0xfff, gpa: 0, flags: 1 }),
        IommuStatus.INVAL,
      ],
      ["UNMAP in an unknown domain", () => driver.unmap(9, 0, 0xfff), IommuStatus.NOENT],
      ["UNMAP splitting a mapping", () => driver.unmap(1, IOVA, IOVA + 0x7ff), IommuStatus.RANGE],
      ["UNMAP on a bypass domain", () => driver.unmap(2, 0, 0xfff), IommuStatus.INVAL],
      ["ATTACH unknown endpoint", () => driver.attach(1, 99), IommuStatus.NOENT],
      ["ATTACH domain outside domain_range", () => driver.attach(0, 2), IommuStatus.RANGE],
      [
        "ATTACH with another bypass flag than the domain",
        () => driver.attach(2, 3),
        IommuStatus.INVAL,
      ],
      ["DETACH unknown endpoint", () => driver.detach(1, 99), IommuStatus.NOENT],
      ["DETACH from a domain it is not in", () => driver.detach(2, 0), IommuStatus.INVAL],
      ["PROBE unknown endpoint", () => driver.probe(99), IommuStatus.NOENT],
    ];
    for (const [, stage] of cases) stage();
    driver.publish();
    device.service(clock.now);
    const got = driver.collect().map((c) => c.status);
    assert.deepEqual(
      got,
      cases.map((c) => c[2]),
      cases.map((c, i) => `${c[0]}: ${got[i]}`).join("\n"),
    );
    assert.deepEqual(r.viommu.mappings(1), [{
      start: IOVA,
      end: IOVA + 0xfff,
      gpa: 0x8000,
      perms: 1,
    }], "state unchanged");
    assert.equal(device.counters[IommuCounter.refused], cases.length);
  });

  Deno.test(`[${layout}] a lazy batch of UNMAPs costs one invalidation`, () => {
    const r = iommuRig(layout, { size: 16 });
    const { driver, device, dma, clock } = r;
    driver.attach(1, 0);
    for (let i = 0; i < 4; i++) {
      driver.map(1, {
        start: IOVA + i * 0x1000,
        end: IOVA + i * 0x1000 + 0xfff,
        gpa: 0x8000,
        flags: 1,
      });
    }
    driver.publish();
    device.service(clock.now);
    driver.collect();
    dma.beginBatch();
    for (let i = 0; i < 4; i++) driver.unmap(1, IOVA + i * 0x1000, IOVA + i * 0x1000 + 0xfff);
    driver.map(1, { start: 0, end: 0xfff, gpa: 0, flags: 1 });
    driver.publish();
    assert.equal(device.service(clock.now).waiting, true);
    assert.deepEqual(driver.collect(), [], "the MAP after the UNMAPs waits with them: in order");
    dma.beginBatch();
    device.service(clock.now);
    assert.deepEqual(driver.collect().map((c) => [c.type, c.status]), [
      [ReqType.UNMAP, 0],
      [ReqType.UNMAP, 0],
      [ReqType.UNMAP, 0],
      [ReqType.UNMAP, 0],
      [ReqType.MAP, 0],
    ]);
    assert.equal(device.counters[IommuCounter.invalidations], 1);
    assert.equal(readIotlbCounters(r.viommu.views, dma.iotlb.slot).invalidations, 1);
  });

  Deno.test(`[${layout}] an UNMAP a consumer never acknowledges fails with S_IOERR naming it`, () => {
    const r = iommuRig(layout, { invalidateTimeoutMs: 100 });
    const { driver, device, clock } = r;
    driver.attach(1, 0);
    driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: 1 });
    driver.unmap(1, IOVA, IOVA + 0xfff);
    driver.publish();
    assert.equal(device.service(clock.now).waiting, true);
    clock.now += 99;
    assert.equal(device.service(clock.now).waiting, true);
    clock.now += 1;
    assert.equal(device.service(clock.now).waiting, false);
    assert.deepEqual(driver.collect().map((c) => c.status), [0, 0, IommuStatus.IOERR]);
    assert.equal(device.lastTimeout?.name, "nic0");
    assert.equal(device.counters[IommuCounter.invalidationTimeouts], 1);
  });
}

Deno.test("a fault with no event buffer posted is dropped and counted, the data path goes on (D7)", () => {
  const r = iommuRig("split");
  const { device, dma, driver, clock } = r;
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), -1, "endpoint 0 is not attached: DOMAIN fault");
  const o = device.service(clock.now);
  assert.equal(o.interruptEvent, false);
  assert.equal(device.counters[IommuCounter.faultReportsDropped], 1);
  driver.fillEvents();
  dma.resolve(IOVA + 8, 4, "write");
  device.service(clock.now);
  assert.deepEqual(driver.readEvents(), [{
    reason: 1,
    access: "write",
    endpoint: 0,
    address: IOVA + 8,
  }]);
});

Deno.test("DETACH completes only after the consumers dropped the endpoint's translations", () => {
  const r = iommuRig("packed");
  const { driver, device, dma, clock } = r;
  driver.attach(1, 0);
  driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: 1 });
  driver.publish();
  device.service(clock.now);
  driver.collect();
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), 0x8000);
  driver.detach(1, 0);
  driver.publish();
  assert.equal(device.service(clock.now).waiting, true);
  assert.deepEqual(driver.collect(), []);
  dma.beginBatch();
  device.service(clock.now);
  assert.deepEqual(driver.collect().map((c) => [c.type, c.status]), [[ReqType.DETACH, 0]]);
  assert.equal(dma.resolve(IOVA, 4, "read"), -1);
  assert.equal(r.viommu.domain(1), undefined, "the domain ceased to exist with its mappings");
});

Deno.test("reset detaches every endpoint, drops every mapping and starts an invalidation", () => {
  const r = iommuRig("split");
  const { driver, device, dma, clock } = r;
  driver.attach(1, 0);
  driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: 1 });
  driver.publish();
  device.service(clock.now);
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), 0x8000);
  const gen = r.viommu.generation;
  device.reset();
  assert.notEqual(r.viommu.generation, gen);
  assert.deepEqual(r.viommu.unacked(r.viommu.generation), [dma.iotlb.slot]);
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), -1);
  assert.equal(r.viommu.domainOf(0), undefined);
});

/** The rig's split rings: requestq's avail ring at 0x2000, eventq's at 0x5000 (flags, idx, ring). */
const AVAIL = { requestq: 0x2000, eventq: 0x5000 } as const;

/** Make one more avail entry visible on a split queue of the rig, holding `head` (a guest bug). */
function publishHead(mem: DataView, avail: number, size: number, head: number): void {
  const idx = mem.getUint16(avail + 2, true);
  mem.setUint16(avail + 4 + 2 * (idx % size), head, true);
  mem.setUint16(avail + 2, (idx + 1) & 0xffff, true);
}

Deno.test("a broken requestq stops the device until its reset: nothing served, no fault reported, counted (G13)", () => {
  const r = iommuRig("split");
  const { driver, device, dma, clock } = r;
  const mem = new DataView(r.mem.u8.buffer);
  driver.fillEvents();
  driver.attach(1, 0);
  driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: MapFlag.READ });
  driver.publish();
  assert.equal(device.service(clock.now).completed, 2);
  driver.collect();
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), 0x8000, "cached in nic0's IOTLB");
  // An UNMAP, then a head past the queue size (a guest bug): the UNMAP is applied and held for
  // its invalidation, then the ring breaks.
  driver.unmap(1, IOVA, IOVA + 0xfff);
  driver.publish();
  publishHead(mem, AVAIL.requestq, 8, 300);
  const requests = device.counters[IommuCounter.requests];
  const o = device.service(clock.now);
  assert.deepEqual(device.fault, {
    kind: "queue-broken",
    queue: "requestq",
    cause: { kind: "head-out-of-range", head: 300, size: 8 },
  });
  assert.equal(o.completed, 0, "the held UNMAP is not completed on a broken queue");
  assert.equal(o.waiting, false, "nothing waits on a stopped device");
  assert.equal(device.counters[IommuCounter.queueErrors], 1);
  // The UNMAP stands, and its invalidation went out: nic0 drops what it cached.
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), -1);

  // Inert: a request published over a mended ring is not served, a fault is not reported.
  driver.attach(2, 1);
  driver.publish();
  assert.equal(dma.resolve(IOVA, 4, "read"), -1, "a fault nic0 logs");
  assert.equal(device.service(clock.now).completed, 0);
  assert.equal(device.counters[IommuCounter.requests], requests + 1, "only the UNMAP was popped");
  assert.equal(device.faultsPending(), false);
  assert.equal(device.counters[IommuCounter.faultReports], 0);
  assert.equal(device.counters[IommuCounter.queueErrors], 1, "counted once");

  // The reset returns it to power-on: new queues are served.
  device.reset();
  assert.equal(device.fault, null);
  const fresh = (base: number) => {
    const q = createQueuePair(r.mem, {
      layout: "split",
      size: 8,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    });
    if (!q.ok) throw new Error(q.error.kind);
    return q.value;
  };
  const rq = fresh(0x9000), eq = fresh(0xc000);
  assert.ok(device.activate({ negotiated: device.offered, queues: [rq.device, eq.device] }).ok);
  const config = new Uint8Array(device.configSize);
  for (let i = 0; i < config.length; i++) config[i] = device.readConfig(i, 1);
  const again = new IommuDriver({
    mem: r.mem,
    alloc: new PageAllocator(0x80000, 0x40000),
    requestq: rq.driver,
    eventq: eq.driver,
    config: parseIommuConfig(config),
  });
  again.attach(1, 0);
  again.publish();
  dma.beginBatch(); // acknowledge the reset's invalidation
  device.service(clock.now);
  assert.deepEqual(again.collect().map((c) => [c.type, c.status]), [[ReqType.ATTACH, 0]]);
});

Deno.test("a broken eventq stops the device too: its fault is dropped, requests are not served", () => {
  const r = iommuRig("split");
  const { driver, device, dma, clock } = r;
  const mem = new DataView(r.mem.u8.buffer);
  publishHead(mem, AVAIL.eventq, 8, 9); // the eventq's only entry: a head past its size
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), -1, "endpoint 0 is not attached: DOMAIN fault");
  const o = device.service(clock.now);
  assert.equal(o.interruptEvent, false);
  assert.deepEqual(device.fault, {
    kind: "queue-broken",
    queue: "eventq",
    cause: { kind: "head-out-of-range", head: 9, size: 8 },
  });
  assert.equal(device.counters[IommuCounter.faultReportsDropped], 1);
  assert.equal(device.counters[IommuCounter.queueErrors], 1);
  driver.attach(1, 0);
  driver.publish();
  assert.equal(device.service(clock.now).completed, 0);
  assert.deepEqual(driver.collect(), []);
});

for (const layout of LAYOUTS) {
  Deno.test(`[${layout}] a restarted device completes the UNMAP its predecessor held, once, with its status`, () => {
    const r = iommuRig(layout, { size: 16 });
    const { driver, device, dma, clock } = r;
    driver.attach(1, 0);
    driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: MapFlag.READ });
    driver.publish();
    device.service(clock.now);
    driver.collect();
    dma.beginBatch();
    driver.unmap(1, IOVA, IOVA + 0xfff);
    driver.unmap(1, IOVA + 0x10_0000, IOVA + 0x10_0fff); // nothing mapped there: still OK
    driver.publish();
    assert.equal(device.service(clock.now).waiting, true);
    // The worker dies here. Its successor restores the requestq from the state record.
    const config = {
      layout,
      size: 16,
      descAddr: 0x1000,
      driverAddr: 0x2000,
      deviceAddr: 0x3000,
      features: { eventIdx: true, indirect: false, inOrder: false },
    };
    const args = [
      new DirectDma(r.mem),
      new SharedRingAccess(r.mem),
      config,
      r.requestq.state,
    ] as const;
    const restored = layout === "split"
      ? SplitDeviceQueue.restore(...args)
      : PackedDeviceQueue.restore(...args);
    assert.ok(restored.ok, restored.ok ? "" : restored.error.kind);
    assert.equal(restored.value.inFlight.length, 2);
    const next = new IommuDevice({
      viommu: r.viommu,
      memory: r.mem,
      queueMaxSize: 256,
      ring: { packed: layout === "packed", eventIdx: true, indirect: false },
    });
    assert.ok(
      next.activate({
        negotiated: next.offered,
        queues: [restored.value.queue, r.eventq.device],
      }).ok,
    );
    const mapsBefore = next.counters[IommuCounter.unmapped];
    next.adoptInFlight(restored.value.inFlight);
    assert.equal(next.counters[IommuCounter.adopted], 2);
    assert.equal(next.service(clock.now).waiting, true, "a fresh invalidation first");
    assert.deepEqual(driver.collect(), []);
    dma.beginBatch();
    next.service(clock.now);
    assert.deepEqual(driver.collect().map((c) => [c.type, c.status]), [
      [ReqType.UNMAP, IommuStatus.OK],
      [ReqType.UNMAP, IommuStatus.OK],
    ]);
    assert.equal(next.counters[IommuCounter.unmapped], mapsBefore, "not applied a second time");
    assert.equal(dma.resolve(IOVA, 4, "read"), -1);
  });
}

Deno.test("service reads its clock only when an invalidation starts or waits, not on an idle pass", () => {
  const r = iommuRig("split");
  const { driver, device, dma } = r;
  let reads = 0;
  let t = 0;
  const clock = () => {
    reads++;
    return t;
  };
  driver.attach(1, 0);
  driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: MapFlag.READ });
  driver.publish();
  device.service(clock);
  for (let i = 0; i < 100; i++) device.service(clock);
  assert.equal(reads, 0, "ATTACH, MAP and 100 idle passes read no clock");
  driver.collect();
  driver.unmap(1, IOVA, IOVA + 0xfff);
  driver.publish();
  assert.equal(device.service(clock).waiting, true);
  assert.equal(reads, 1, "the UNMAP's invalidation reads it once for its deadline");
  t = 5;
  assert.equal(device.service(clock).waiting, true);
  assert.equal(reads, 2, "a waiting invalidation reads it each pass");
  dma.beginBatch();
  assert.equal(device.service(clock).waiting, false);
  device.service(clock);
  assert.equal(reads, 3, "and no more once it completed");
});

/** The writable bytes of `chains` in `mem` (to compare before and after). */
function writableBytes(mem: Uint8Array, chains: DescriptorChain[]): number[][] {
  return chains.map((c) => c.writable.flatMap((s) => [...mem.subarray(s.gpa, s.gpa + s.len)]));
}

for (const layout of LAYOUTS) {
  Deno.test(`[${layout}] a request whose completion the queue refuses gets nothing written and is not counted`, () => {
    const reserved = [{ subtype: ResvMem.MSI, start: 0xfee0_0000, end: 0xfeef_ffff }];
    const r = iommuRig(layout, { reserved });
    const { driver, device, clock } = r;
    driver.probe(0); // properties and S_OK
    driver.detach(9, 3); // S_NOENT
    driver.attach(1, 0);
    driver.publish();
    const q = refusePushes(r.requestq.device, 2);
    const before = r.mem.u8.slice();
    const o = device.service(clock.now);
    q.restore();
    assert.equal(o.completed, 1);
    assert.deepEqual(writableBytes(r.mem.u8, q.refused), writableBytes(before, q.refused));
    assert.deepEqual(driver.collect(), [{
      token: 2,
      type: ReqType.ATTACH,
      status: IommuStatus.OK,
    }]);
    assert.equal(device.counters[IommuCounter.ok], 1);
    assert.equal(device.counters[IommuCounter.refused], 0);
  });

  Deno.test(`[${layout}] a held request whose completion the queue refuses keeps its tail at the timeout`, () => {
    const r = iommuRig(layout, { invalidateTimeoutMs: 100 });
    const { driver, device, clock } = r;
    driver.attach(1, 0);
    driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: 1 });
    driver.unmap(1, IOVA, IOVA + 0xfff);
    driver.publish();
    assert.equal(device.service(clock.now).waiting, true);
    const q = refusePushes(r.requestq.device, 1);
    clock.now += 100; // nic0 never acknowledges
    const before = r.mem.u8.slice();
    assert.equal(device.service(clock.now).waiting, false);
    q.restore();
    assert.equal(q.refused.length, 1);
    assert.deepEqual(writableBytes(r.mem.u8, q.refused), writableBytes(before, q.refused));
    assert.deepEqual(driver.collect().map((c) => c.type), [ReqType.ATTACH, ReqType.MAP]);
    assert.equal(device.counters[IommuCounter.invalidationTimeouts], 1);
    assert.equal(device.counters[IommuCounter.refused], 0, "the UNMAP was not completed");
  });

  Deno.test(`[${layout}] an event buffer the queue refuses gets no fault report; it is counted dropped`, () => {
    const r = iommuRig(layout);
    const { device, dma, driver, clock } = r;
    assert.equal(driver.fillEvents(), true);
    const q = refusePushes(r.eventq.device, 1);
    const before = r.mem.u8.slice();
    dma.beginBatch();
    assert.equal(dma.resolve(IOVA, 4, "read"), -1, "endpoint 0 is not attached: DOMAIN fault");
    device.service(clock.now);
    q.restore();
    assert.deepEqual(writableBytes(r.mem.u8, q.refused), writableBytes(before, q.refused));
    assert.equal(device.counters[IommuCounter.faultReports], 0);
    assert.equal(device.counters[IommuCounter.faultReportsDropped], 1);
    dma.resolve(IOVA + 8, 4, "write");
    device.service(clock.now);
    assert.deepEqual(driver.readEvents(), [{
      reason: 1,
      access: "write",
      endpoint: 0,
      address: IOVA + 8,
    }]);
  });
}

for (const layout of LAYOUTS) {
  Deno.test(`[${layout}] a request or event chain whose buffer is out of reach is returned unused, not kept`, () => {
    // A chain the queue refuses per request (a buffer outside guest memory, A13) was popped and
    // never completed: the request loop stopped at it and the eventq counted the fault dropped,
    // so the driver's buffer stayed in flight for good (G6).
    const r = iommuRig(layout);
    const { driver, device, clock } = r;
    const outside = r.mem.size + 0x1000;
    const raw = r.requestq.driver;
    assert.ok(raw.add({ readable: [[0x2000, 64]], writable: [[outside, 4]] }, 900).ok);
    raw.publish();
    driver.attach(1, 0); // after it in the ring
    driver.publish();
    const o = device.service(clock.now);
    assert.equal(o.completed, 2);
    assert.deepEqual(raw.getUsed(), { ok: true, value: { token: 900, len: 0 } });
    assert.deepEqual(driver.collect(), [{
      token: 0,
      type: ReqType.ATTACH,
      status: IommuStatus.OK,
    }]);
    assert.equal(device.counters[IommuCounter.unparsable], 1);
    assert.equal(device.counters[IommuCounter.requests], 2);

    // The eventq: a buffer out of reach is returned, its fault dropped; the next fault gets the
    // next buffer.
    const ev = r.eventq.driver;
    assert.ok(ev.add({ readable: [], writable: [[outside, 64]] }, 901).ok);
    ev.publish();
    driver.fillEvents();
    driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: MapFlag.READ });
    driver.publish();
    device.service(clock.now);
    driver.collect();
    for (let i = 0; i < 2; i++) {
      r.dma.beginBatch();
      assert.equal(r.dma.resolve(IOVA + 0x2000 + i * 8, 8, "read"), -1); // unmapped: a fault
      device.service(clock.now);
    }
    assert.deepEqual(ev.getUsed(), { ok: true, value: { token: 901, len: 0 } });
    assert.equal(device.counters[IommuCounter.faultReportsDropped], 1);
    assert.equal(device.counters[IommuCounter.faultReports], 1);
  });
}
