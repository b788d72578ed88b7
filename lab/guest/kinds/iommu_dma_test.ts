/**
 * `GuestDma` over the in-process virtio-iommu rig: strict sends one UNMAP per buffer on the
 * next tick; lazy holds unmaps in a flush queue bounded in size and age and sends them as one
 * batch (one invalidation); `map` waits for room instead of failing when the requestq is full.
 */
import assert from "node:assert/strict";
import { IommuCounter, IommuMapper } from "../../../devices/iommu/mod.ts";
import { type IommuRig, iommuRig } from "../../../devices/iommu/testing.ts";
import { DMA_REFUSED } from "../../../devices/net/dma.ts";
import { GuestDma, LAZY_BATCH, LAZY_MAX_AGE_MS } from "./iommu_dma.ts";

const IOVA = 0x1000_0000;

/**
 * The rig: a guest `GuestDma` over an in-process vIOMMU device. With `lostKicks`, the device
 * looks at the requestq only once kicked, the first `lostKicks` kicks are lost, and each poll of
 * the guest's wait takes 1 ms of its clock (`kicks` counts the kicks).
 */
function rig(
  mode: "strict" | "lazy" | "static",
  size = 64,
  opts: { lostKicks?: number; timeoutMs?: number } = {},
): { r: IommuRig; g: GuestDma; t: { now: number }; kicks: () => number } {
  const r = iommuRig("split", { size });
  assert.ok(r.driver.attach(1, 0).ok);
  r.driver.publish();
  r.device.service(r.clock.now);
  r.driver.collect();
  const mapper = new IommuMapper({
    driver: r.driver,
    mode,
    domain: 1,
    endpoint: 0,
    iovaBase: IOVA,
    iovaPages: 256,
    lazyBatch: LAZY_BATCH,
    pool: { gpa: 0x20000, len: 0x10000 },
  });
  const t = { now: 0 };
  const kicking = opts.lostKicks !== undefined;
  let lost = opts.lostKicks ?? 0, kicked = !kicking, kicks = 0;
  const g: GuestDma = new GuestDma({
    mapper,
    publish: () => {
      r.driver.publish();
      kicks++;
      if (lost > 0) lost--;
      else kicked = true;
    },
    // The device and its consumer run when the guest polls (they are another thread in the lab).
    collect: () => {
      if (kicking) t.now += 1;
      if (!kicked) return;
      r.device.service(r.clock.now);
      r.dma.beginBatch();
      r.device.service(r.clock.now);
      g.complete(r.driver.collect());
    },
    inFlight: () => r.driver.inFlight,
    now: () => t.now,
    timeoutMs: opts.timeoutMs ?? 1000,
  });
  return { r, g, t, kicks: () => kicks };
}

/** Map `n` RX-sized buffers and sync; their IOVAs. */
function mapBuffers(g: GuestDma, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const iova = g.map(0x20000 + i * 0x800, 1536, 2);
    assert.ok(iova >= IOVA, `buffer ${i} mapped`);
    out.push(iova);
  }
  assert.equal(g.sync(), "done");
  return out;
}

/** Run the device and the consumer until the requestq is idle (bounded). */
function settle(r: IommuRig, g: GuestDma): void {
  for (let i = 0; i < 8 && r.driver.inFlight > 0; i++) {
    r.device.service(r.clock.now);
    r.dma.beginBatch();
    r.device.service(r.clock.now);
    g.complete(r.driver.collect());
  }
  assert.equal(r.driver.inFlight, 0, "requests settled");
}

Deno.test("strict: each returned buffer is one UNMAP, sent on the next tick and revoked", () => {
  const { r, g } = rig("strict");
  const iovas = mapBuffers(g, 3);
  for (const iova of iovas) assert.ok(r.dma.resolve(iova, 64, "write") >= 0);
  const requests = r.device.counters[IommuCounter.requests];
  for (const iova of iovas) g.unmap(iova);
  assert.equal(g.dueMs(), 0, "strict unmaps are due at once");
  assert.equal(g.tick(), true);
  settle(r, g);
  assert.equal(r.device.counters[IommuCounter.requests] - requests, 3, "one UNMAP per buffer");
  for (const iova of iovas) assert.equal(r.dma.resolve(iova, 1, "write"), -1);
});

Deno.test("static: a buffer maps by arithmetic, with no request sent or awaited; outside the pool, refused", () => {
  const { r, g } = rig("static");
  const requests = r.device.counters[IommuCounter.requests];
  assert.equal(g.map(0x20000 + 0x800, 1536, 2), IOVA + 0x800);
  assert.equal(g.map(0x10000, 64, 1), DMA_REFUSED);
  assert.equal(g.map(0x20000 + 0xffc0, 0x80, 1), DMA_REFUSED, "a buffer over the pool's end");
  g.unmap(IOVA + 0x800);
  assert.equal(g.sync(), "done");
  assert.equal(g.tick(), false, "nothing to send");
  assert.equal(r.device.counters[IommuCounter.requests], requests, "no request");
});

Deno.test("lazy: unmaps wait in the flush queue until it is old enough, then go as one batch", () => {
  const { r, g, t } = rig("lazy");
  const iovas = mapBuffers(g, 3);
  const inv = r.device.counters[IommuCounter.invalidations];
  for (const iova of iovas) g.unmap(iova);
  g.tick();
  settle(r, g);
  assert.equal(g.unsent, 3, "under the batch size and age nothing is sent");
  assert.ok(r.dma.resolve(iovas[0], 4, "write") >= 0, "still reachable (lazy)");
  assert.equal(g.dueMs(), LAZY_MAX_AGE_MS);
  t.now += LAZY_MAX_AGE_MS;
  assert.equal(g.dueMs(), 0);
  assert.equal(g.tick(), true);
  settle(r, g);
  assert.equal(g.unsent, 0);
  for (const iova of iovas) assert.equal(r.dma.resolve(iova, 4, "write"), -1);
  assert.equal(r.device.counters[IommuCounter.invalidations] - inv, 1, "one invalidation");
});

Deno.test("lazy: a full flush queue is sent at once, before its age bound", () => {
  const { r, g } = rig("lazy");
  const iovas = mapBuffers(g, LAZY_BATCH);
  for (const iova of iovas) g.unmap(iova);
  assert.equal(g.tick(), true);
  settle(r, g);
  assert.equal(g.unsent, 0);
  for (const iova of iovas) assert.equal(r.dma.resolve(iova, 4, "write"), -1);
});

Deno.test("map waits for room when the requestq is full instead of failing", () => {
  // 8 descriptors: four requests at a time.
  const { r, g } = rig("strict", 8);
  const iovas = mapBuffers(g, 12);
  assert.equal(new Set(iovas).size, 12);
  for (const iova of iovas) assert.ok(r.dma.resolve(iova, 1536, "write") >= 0);
  for (const iova of iovas) g.unmap(iova);
  // The UNMAPs that found no room wait; the next map sends them first.
  assert.ok(g.map(0x80000, 64, 1) >= IOVA);
  assert.equal(g.sync(), "done");
  for (let i = 0; i < 8 && g.unsent > 0; i++) g.tick();
  settle(r, g);
  for (const iova of iovas) assert.equal(r.dma.resolve(iova, 1, "write"), -1);
});

Deno.test("a device that does not answer makes sync say later (no refusal), and done once it does", () => {
  const { r, t } = rig("strict");
  let serve = false;
  const slow: GuestDma = new GuestDma({
    mapper: new IommuMapper({
      driver: r.driver,
      mode: "strict",
      domain: 1,
      endpoint: 0,
      iovaBase: IOVA + 0x100_0000,
      iovaPages: 16,
    }),
    publish: () => r.driver.publish(),
    collect: () => {
      if (serve) r.device.service(r.clock.now);
      slow.complete(r.driver.collect());
    },
    inFlight: () => r.driver.inFlight,
    // Each look at the clock moves it 1 ms: the deadline comes without real waiting.
    now: () => (t.now += 1),
    timeoutMs: 20,
  });
  const iova = slow.map(0x30000, 64, 1);
  assert.ok(iova >= IOVA);
  assert.equal(slow.sync(), "later");
  serve = true;
  assert.equal(slow.sync(), "done");
  assert.ok(r.dma.resolve(iova, 64, "read") >= 0);
});

Deno.test("a refused UNMAP (its domain revoked meanwhile) does not refuse the buffers being synced", () => {
  const { r, g } = rig("strict");
  const [old] = mapBuffers(g, 1);
  // The window is revoked and made whole again (DETACH, ATTACH) while the buffer is out.
  assert.ok(r.driver.detach(1, 0).ok);
  r.driver.publish();
  settle(r, g);
  g.unmap(old); // its UNMAP will find no domain
  g.tick();
  assert.ok(r.driver.attach(1, 0).ok);
  const iova = g.map(0x60000, 64, 1);
  // The UNMAP (refused: no domain) completes during this sync, before the ATTACH and the MAP.
  assert.ok(iova >= IOVA);
  assert.equal(g.sync(), "done");
  assert.ok(r.dma.resolve(iova, 64, "read") >= 0);
});

Deno.test("a lost kick of the requestq costs a sync 10 ms (it kicks again), not the whole wait", () => {
  // The device looks at the requestq only when kicked; the first kick is lost.
  const { g, t, kicks } = rig("strict", 64, { lostKicks: 1, timeoutMs: 500 });
  assert.ok(g.map(0x20000, 1536, 2) >= IOVA);
  assert.equal(g.sync(), "done", "answered once kicked again");
  assert.ok(t.now <= 20, `waited ${t.now} ms`);
  assert.equal(kicks(), 2, "the lost kick, then one more");
});
