/**
 * A virtio-mmio transport behind the vIOMMU: the DMA view is chosen when features are
 * negotiated (ACCESS_PLATFORM), ring areas are IOVAs then, and a live queue whose ring pages
 * are unmapped stops after the invalidation instead of using them.
 */
import assert from "node:assert/strict";
import { OK_VOID } from "../base/result.ts";
import { DirectDma } from "../memory/dma.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Feature, Status } from "../virtio/constants.ts";
import type { VirtioDeviceModel } from "../virtio/device_model.ts";
import { type FeatureSet, featureSet, featureWord } from "../virtio/features.ts";
import { MmioReg, regFileWords } from "../virtio/mmio.ts";
import { MmioDeviceTransport } from "../virtio/mmio_device.ts";
import type { Layout } from "../virtio/queue.ts";
import { SharedRingAccess } from "../virtio/ring_access.ts";
import { stateBytes } from "../virtio/state.ts";
import { IommuDma } from "./dma.ts";
import { readIotlbCounters } from "./faults.ts";
import { Iotlb } from "./iotlb.ts";
import { Perm } from "./layout.ts";
import { Viommu } from "./viommu.ts";

const OFFERED = featureSet([Feature.VERSION_1, Feature.ACCESS_PLATFORM]);
const ACK_DRIVER = Status.ACKNOWLEDGE | Status.DRIVER;
const IOVA = 0x40_0000; // the ring's IOVA (above the 1 MiB of guest memory)
const GPA = 0x8_0000; // the guest pages behind it

function world() {
  const mem = GuestMemory.create(1 << 20);
  const viommu = Viommu.create({ mappings: 16, endpoints: 2, consumers: 2, faults: 8 });
  const slot = viommu.registerConsumer("nic0");
  const platform = new IommuDma(mem, new Iotlb(viommu.buffer, { slot, endpoint: 0 }));
  const direct = new DirectDma(mem);
  const model: VirtioDeviceModel = {
    deviceId: 1,
    queueCount: 1,
    queueMaxSize: 64,
    offered: OFFERED,
    configSize: 0,
    readConfig: () => 0,
    activate: () => OK_VOID,
    reset: () => {},
  };
  const t = new MmioDeviceTransport({
    model,
    dma: direct,
    platformDma: platform,
    ring: new SharedRingAccess(mem),
    regs: new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4)),
    queueState: (_q: number, layout: Layout, size: number) =>
      new Uint32Array(new SharedArrayBuffer(stateBytes(layout, size))),
  });
  return { viommu, slot, platform, direct, t };
}

/** Map the ring's three pages (one mapping each, so one can be unmapped) at IOVA → `gpa`. */
function mapRing(viommu: Viommu, gpa: number): void {
  for (let p = 0; p < 3; p++) {
    const start = IOVA + p * 0x1000;
    const m = { start, end: start + 0xfff, gpa: gpa + p * 0x1000, perms: Perm.READ | Perm.WRITE };
    assert.ok(viommu.map(1, m).ok);
  }
}

function negotiate(t: MmioDeviceTransport, accepted: FeatureSet): void {
  t.write(MmioReg.STATUS, Status.ACKNOWLEDGE);
  t.write(MmioReg.STATUS, ACK_DRIVER);
  for (const sel of [0, 1]) {
    t.write(MmioReg.DRIVER_FEATURES_SEL, sel);
    t.write(MmioReg.DRIVER_FEATURES, featureWord(accepted, sel));
  }
  t.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK);
}

/** Program queue 0 (split, size 8) with its three areas in consecutive pages from `base`. */
function program(t: MmioDeviceTransport, base: number): number {
  t.write(MmioReg.QUEUE_SEL, 0);
  t.write(MmioReg.QUEUE_SIZE, 8);
  t.write(MmioReg.QUEUE_DESC_LOW, base % 2 ** 32);
  t.write(MmioReg.QUEUE_DESC_HIGH, 0);
  t.write(MmioReg.QUEUE_DRIVER_LOW, base + 0x1000);
  t.write(MmioReg.QUEUE_DEVICE_LOW, base + 0x2000);
  t.write(MmioReg.QUEUE_READY, 1);
  return t.read(MmioReg.QUEUE_READY);
}

function goLive(t: MmioDeviceTransport): void {
  t.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
}

Deno.test("without ACCESS_PLATFORM negotiated the transport uses the direct view (no IOMMU cost)", () => {
  const { t, direct, viommu, slot } = world();
  assert.equal(t.dma, direct, "before negotiation");
  negotiate(t, featureSet([Feature.VERSION_1]));
  assert.equal(t.dma, direct, "ACCESS_PLATFORM offered but not accepted");
  assert.equal(program(t, GPA), 1, "ring addresses are guest-physical");
  goLive(t);
  assert.ok(t.isLive());
  const c = readIotlbCounters(viommu.views, slot);
  assert.equal(c.hits + c.misses + c.faults, 0, "the vIOMMU was never consulted");
});

Deno.test("with ACCESS_PLATFORM negotiated ring addresses are IOVAs: unmapped ones are refused and counted", () => {
  const { t, platform, direct, viommu, slot } = world();
  negotiate(t, OFFERED);
  assert.equal(t.dma, platform, "the view is chosen at FEATURES_OK");
  viommu.attach(1, 0);
  assert.equal(program(t, GPA), 0, "a guest-physical address is not a mapped IOVA");
  assert.ok(readIotlbCounters(viommu.views, slot).faults >= 1, "the refusal is counted");
  assert.equal(t.lastQueueRefusal?.kind, "area-unreachable");
  mapRing(viommu, GPA);
  platform.beginBatch();
  assert.equal(program(t, IOVA), 1, "the mapped IOVA is accepted");
  goLive(t);
  assert.ok(t.isLive());
  assert.equal(t.queues[0]?.size, 8);
  t.write(MmioReg.STATUS, 0);
  assert.equal(t.dma, direct, "a reset forgets the negotiation");
});

Deno.test("an unmap of a live queue's ring pages stops the device at the next batch, not later", () => {
  const { t, platform, viommu } = world();
  negotiate(t, OFFERED);
  viommu.attach(1, 0);
  mapRing(viommu, GPA);
  platform.beginBatch();
  assert.equal(program(t, IOVA), 1);
  goLive(t);
  assert.ok(t.isLive());
  assert.equal(platform.beginBatch(), false, "nothing was invalidated yet");
  assert.ok(t.recheckQueues(), "the rings are still mapped");
  assert.ok(viommu.unmap(1, IOVA + 0x2000, IOVA + 0x2fff).ok); // the used ring's page
  viommu.invalidate();
  assert.equal(platform.beginBatch(), true, "the consumer sees the invalidation");
  assert.equal(t.recheckQueues(), false);
  assert.equal(t.isLive(), false, "the device stopped");
  assert.notEqual(t.read(MmioReg.STATUS) & Status.DEVICE_NEEDS_RESET, 0);
  assert.equal(t.queues.length, 0, "no queue is left to use the unmapped page");
});

Deno.test("a ring page remapped to other guest pages also stops the device", () => {
  const { t, platform, viommu } = world();
  negotiate(t, OFFERED);
  viommu.attach(1, 0);
  mapRing(viommu, GPA);
  platform.beginBatch();
  assert.equal(program(t, IOVA), 1);
  goLive(t);
  for (let p = 0; p < 3; p++) {
    assert.ok(viommu.unmap(1, IOVA + p * 0x1000, IOVA + p * 0x1000 + 0xfff).ok);
  }
  mapRing(viommu, GPA + 0x10000);
  viommu.invalidate();
  assert.equal(platform.beginBatch(), true);
  assert.equal(t.recheckQueues(), false);
  assert.equal(t.isLive(), false);
});
