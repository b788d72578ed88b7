/**
 * The DMA modes end to end in one process: the guest maps through the mapper and driver, the
 * device programs the vIOMMU, a consumer translates.
 */
import assert from "node:assert/strict";
import { LAYOUTS } from "../virtio/testing_harness.ts";
import { IommuMapper, type IommuMapperOptions } from "./dma_modes.ts";
import { IommuCounter } from "./metrics.ts";
import { type IommuRig, iommuRig } from "./testing.ts";

const IOVA = 0x1000_0000;

function mapper(
  r: IommuRig,
  mode: IommuMapperOptions["mode"],
  extra: Partial<IommuMapperOptions> = {},
) {
  const m = new IommuMapper({
    driver: r.driver,
    mode,
    domain: 1,
    endpoint: 0,
    iovaBase: IOVA,
    iovaPages: 64,
    pool: { gpa: 0x80000, len: 0x10000 },
    ...extra,
  });
  assert.equal(m.setup().ok, true);
  settle(r, m);
  return m;
}

/** Flush, let the device and the consumer run until nothing is pending (bounded). */
function settle(r: IommuRig, m: IommuMapper, force = false): void {
  m.flush(force);
  for (let i = 0; i < 4; i++) {
    const o = r.device.service(r.clock.now);
    r.dma.beginBatch();
    m.complete(r.driver.collect());
    if (!o.waiting && r.driver.inFlight === 0) return;
  }
  assert.fail("requests did not settle");
}

for (const layout of LAYOUTS) {
  Deno.test(`[${layout}] strict: map before post, each unmap revokes at once`, () => {
    const r = iommuRig(layout, { size: 16 });
    const m = mapper(r, "strict");
    const iovas = [0x20010, 0x21000, 0x22ff0].map((gpa) => {
      const t = m.map(gpa, 64, 3);
      assert.ok(t.ok);
      return [t.value, gpa];
    });
    assert.equal(m.pendingMaps, 3, "not posted before the MAPs complete");
    settle(r, m);
    assert.equal(m.pendingMaps, 0);
    for (const [iova, gpa] of iovas) assert.equal(r.dma.resolve(iova, 64, "write"), gpa);
    assert.ok(
      r.dma.resolve(iovas[2][0], 64, "write") >= 0,
      "64 bytes across a page: two pages mapped",
    );
    for (const [iova] of iovas) {
      assert.equal(m.unmap(iova).ok, true);
      settle(r, m);
      assert.equal(r.dma.resolve(iova, 1, "read"), -1);
    }
    assert.equal(r.device.counters[IommuCounter.invalidations], 3);
    assert.equal(m.failed, 0);
  });

  Deno.test(`[${layout}] lazy: unmaps wait for the batch, then one invalidation`, () => {
    const r = iommuRig(layout, { size: 16 });
    const m = mapper(r, "lazy", { lazyBatch: 3 });
    const iovas = [0x20000, 0x30000, 0x40000].map((gpa) => {
      const t = m.map(gpa, 1500, 2);
      assert.ok(t.ok);
      return t.value;
    });
    settle(r, m);
    m.unmap(iovas[0]);
    m.unmap(iovas[1]);
    settle(r, m);
    assert.equal(m.queuedUnmaps, 2, "under the batch size nothing is sent");
    assert.ok(r.dma.resolve(iovas[0], 4, "write") >= 0, "still mapped (lazy)");
    m.unmap(iovas[2]);
    settle(r, m);
    assert.equal(m.queuedUnmaps, 0);
    for (const iova of iovas) assert.equal(r.dma.resolve(iova, 4, "write"), -1);
    assert.equal(r.device.counters[IommuCounter.invalidations], 1);
  });

  Deno.test(`[${layout}] static: one MAP of the pool, buffers map by arithmetic`, () => {
    const r = iommuRig(layout);
    const m = mapper(r, "static");
    assert.equal(r.device.counters[IommuCounter.maps], 1);
    const t = m.map(0x80000 + 0x1234, 100, 1);
    assert.deepEqual(t, { ok: true, value: IOVA + 0x1234 });
    assert.equal(r.dma.resolve(IOVA + 0x1234, 100, "read"), 0x81234);
    assert.equal(m.unmap(IOVA + 0x1234).ok, true);
    assert.equal(r.dma.resolve(IOVA + 0x1234, 100, "read"), 0x81234, "unmap is a no-op");
    const out = m.map(0x10000, 16, 1);
    assert.equal(out.ok ? "ok" : out.error.kind, "outside-pool");
    assert.equal(r.dma.resolve(IOVA + 0x10000, 1, "read"), -1, "nothing past the pool");
    // The data path's form: the same IOVAs, no result object, -1 outside the pool.
    assert.equal(m.immediate, true);
    assert.equal(m.mapNow(0x80000 + 0x1234, 100), IOVA + 0x1234);
    assert.equal(m.mapNow(0x10000, 16), -1);
    assert.equal(m.mapNow(0x7ffff, 2), -1, "a buffer that starts before the pool");
  });

  Deno.test(`[${layout}] lazy: unmapped IOVA ranges that follow on go as one UNMAP request`, () => {
    const r = iommuRig(layout, { size: 16 });
    const m = mapper(r, "lazy", { lazyBatch: 8 });
    const iovas = [0x20000, 0x30000, 0x40000, 0x50000].map((gpa) => {
      const t = m.map(gpa, 4096, 2);
      assert.ok(t.ok);
      return t.value;
    });
    settle(r, m);
    const requests = r.device.counters[IommuCounter.requests];
    for (const i of [3, 0, 1]) assert.equal(m.unmap(iovas[i]).ok, true);
    settle(r, m, true);
    assert.equal(r.device.counters[IommuCounter.requests] - requests, 2, "[0, 1] and [3]");
    assert.equal(r.device.counters[IommuCounter.unmapped], 3);
    for (const i of [0, 1, 3]) assert.equal(r.dma.resolve(iovas[i], 4, "write"), -1);
    assert.equal(r.dma.resolve(iovas[2], 4, "write"), 0x40000, "the buffer in use stays mapped");
    assert.equal(m.failed, 0);
    // Their IOVAs are free again: the next maps reuse them.
    const again = m.map(0x60000, 4096, 2);
    assert.ok(again.ok);
  });

  Deno.test(`[${layout}] passthrough: bypass attach, IOVA is the GPA`, () => {
    const r = iommuRig(layout);
    const m = mapper(r, "passthrough");
    assert.deepEqual(m.map(0x5000, 64, 3), { ok: true, value: 0x5000 });
    assert.equal(r.dma.resolve(0x5000, 64, "write"), 0x5000);
    assert.equal(r.device.counters[IommuCounter.maps], 0);
    assert.equal(m.immediate, true);
    assert.equal(m.mapNow(0x5000, 64), 0x5000);
    assert.equal(mapper(iommuRig(layout), "strict").immediate, false);
    assert.equal(mapper(iommuRig(layout), "lazy").mapNow(0x5000, 64), -1, "lazy needs a MAP");
  });
}
