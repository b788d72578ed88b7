/**
 * A device reset over tables other consumers read (the driver's reset, or a device worker at
 * power-on over a rebooted VM's tables: `Viommu.adopt` then `IommuDevice.reset`, as
 * lab/host/kinds/iommu.ts does): no endpoint stays attached, no mapping stays, another
 * consumer's cached entry is dropped before the device takes a request again, and the consumer
 * slots and their counters stay.
 */
import assert from "node:assert/strict";
import { IommuStatus, MapFlag, ReqType } from "./config.ts";
import { IommuDevice } from "./device.ts";
import { IommuDma } from "./dma.ts";
import { readIotlbCounters } from "./faults.ts";
import { Iotlb } from "./iotlb.ts";
import { EndpointState, Hdr, MAPPING_WORDS } from "./layout.ts";
import { iommuRig } from "./testing.ts";
import { Viommu } from "./viommu.ts";

const IOVA = 0x4000_0000;

Deno.test("a power-on reset over used tables drops every domain and mapping, and another consumer's cached entry, keeping the slots", () => {
  const r = iommuRig("split");
  const { driver, device, dma, clock, mem, viommu } = r;
  // A peer (a vhost-pci b) translating for endpoint 0 from its own slot.
  const peerSlot = viommu.registerConsumer("peer");
  const peer = new IommuDma(mem, new Iotlb(viommu.buffer, { slot: peerSlot, endpoint: 0 }));
  driver.attach(1, 0);
  driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: MapFlag.READ });
  driver.publish();
  device.service(clock.now);
  peer.beginBatch();
  assert.equal(peer.resolve(IOVA, 4, "read"), 0x8000, "the peer cached the entry");
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), 0x8000);
  const peerBefore = readIotlbCounters(viommu.views, peerSlot);

  // The VM reboots: its old device is gone, a power-on one takes the same tables over.
  assert.equal(Viommu.initialized(viommu.buffer), true);
  const owner = Viommu.adopt(viommu.buffer);
  assert.equal(owner.domainOf(0), 1, "adopted as they were");
  const fresh = new IommuDevice({
    viommu: owner,
    memory: mem,
    queueMaxSize: 256,
    ring: { packed: false, eventIdx: true, indirect: false },
  });
  const gen = owner.generation;
  fresh.reset();

  // Nothing attached, nothing mapped, in the shared tables themselves.
  const { i32, f64, layout } = owner.views;
  assert.equal(owner.domainList().length, 0);
  assert.equal(owner.domainOf(0), undefined);
  for (let e = 0; e < layout.endpoints; e++) {
    assert.equal(i32[layout.endpointBase + 2 * e], EndpointState.DETACHED, `endpoint ${e}`);
  }
  for (let s = 0; s < layout.mappings; s++) {
    assert.equal(f64[layout.mappingBase + s * MAPPING_WORDS + 4], 0, `mapping slot ${s}`);
  }
  assert.equal(i32[Hdr.MAP_HIGH], 0);
  assert.notEqual(owner.generation, gen, "the reset's invalidation started");
  // Every slot stays registered and must acknowledge: the peer's too.
  assert.deepEqual(owner.unacked(owner.generation), [dma.iotlb.slot, peerSlot]);

  // Each consumer drops its cache at its next batch (and acknowledges).
  const peerAcks = readIotlbCounters(owner.views, peerSlot).invalidations;
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA, 4, "read"), -1, "the reset dropped nic0's entry");
  assert.deepEqual(owner.unacked(owner.generation), [peerSlot]);
  peer.beginBatch();
  assert.equal(peer.resolve(IOVA, 4, "read"), -1, "the peer's cached entry is gone");
  assert.equal(readIotlbCounters(owner.views, peerSlot).invalidations, peerAcks + 1);
  assert.deepEqual(owner.unacked(owner.generation), []);
  // Counters /metrics exports never go down.
  const peerAfter = readIotlbCounters(owner.views, peerSlot);
  for (const k of Object.keys(peerBefore) as (keyof typeof peerBefore)[]) {
    assert.ok(peerAfter[k] >= peerBefore[k], `${k}: ${peerAfter[k]} after ${peerBefore[k]}`);
  }
});

Deno.test("after a reset the device takes no request until every consumer acknowledged it (or times out)", () => {
  const r = iommuRig("split", { invalidateTimeoutMs: 50 });
  const { driver, device, dma, clock, viommu, requestq, eventq } = r;
  const peerSlot = viommu.registerConsumer("peer");
  const peer = new Iotlb(viommu.buffer, { slot: peerSlot, endpoint: 0 });
  driver.attach(1, 0);
  driver.publish();
  device.service(clock.now);
  assert.deepEqual(driver.collect().map((c) => c.status), [IommuStatus.OK]);
  device.reset();
  const activate = () =>
    device.activate({
      negotiated: device.offered,
      queues: [requestq.device, eventq.device],
    });
  assert.ok(activate().ok);
  driver.map(1, { start: IOVA, end: IOVA + 0xfff, gpa: 0x8000, flags: MapFlag.READ });
  driver.publish();
  dma.beginBatch();
  assert.equal(device.service(clock.now).waiting, true, "the peer has not acknowledged");
  assert.deepEqual(driver.collect(), [], "no request taken meanwhile");
  peer.sync();
  const o = device.service(clock.now);
  assert.equal(o.waiting, false);
  // The domain went with the reset: the MAP is refused (NOENT), but it was taken.
  assert.deepEqual(driver.collect().map((c) => [c.type, c.status]), [[
    ReqType.MAP,
    IommuStatus.NOENT,
  ]]);

  // A consumer that never acknowledges: reported after the timeout, then requests flow.
  driver.attach(2, 0);
  driver.publish();
  device.service(clock.now);
  assert.deepEqual(driver.collect().map((c) => c.status), [IommuStatus.OK]);
  device.reset();
  assert.ok(activate().ok);
  driver.attach(3, 0);
  driver.publish();
  clock.now = 1000;
  dma.beginBatch();
  assert.equal(device.service(clock.now).waiting, true);
  clock.now = 1100;
  device.service(clock.now);
  assert.equal(device.lastTimeout?.name, "peer");
  assert.deepEqual(driver.collect().map((c) => [c.type, c.status]), [[
    ReqType.ATTACH,
    IommuStatus.OK,
  ]]);
});

Deno.test("a reset of empty tables every consumer acknowledged waits for nobody (a first boot's, a peer not up yet)", () => {
  const r = iommuRig("split");
  const { driver, device, clock, viommu, requestq, eventq } = r;
  viommu.registerConsumer("peer"); // never syncs: its VM is not up
  device.reset();
  assert.ok(
    device.activate({ negotiated: device.offered, queues: [requestq.device, eventq.device] }).ok,
  );
  driver.attach(1, 0);
  driver.publish();
  assert.equal(device.service(clock.now).waiting, false);
  assert.deepEqual(driver.collect().map((c) => c.status), [IommuStatus.OK]);
  // Once something was attached, a reset waits for the peer.
  device.reset();
  assert.ok(
    device.activate({ negotiated: device.offered, queues: [requestq.device, eventq.device] }).ok,
  );
  driver.attach(1, 0);
  driver.publish();
  assert.equal(device.service(clock.now).waiting, true);
});
