/**
 * IommuDma: the permission matrix, segments over non-contiguous mappings, bypass endpoints,
 * and the fault log of refused accesses.
 */
import assert from "node:assert/strict";
import { GuestMemory, PAGE_SIZE } from "../memory/memory.ts";
import { IommuDma } from "./dma.ts";
import { FaultReason, readFaults, readIotlbCounters } from "./faults.ts";
import { Iotlb } from "./iotlb.ts";
import { Viommu } from "./viommu.ts";

const MEM = 16 * PAGE_SIZE;
const IOVA = 0x100000;

function rig(endpoints = 2) {
  const v = Viommu.create({ mappings: 32, endpoints, consumers: 2, faults: 8 });
  const mem = GuestMemory.create(MEM);
  const slot = v.registerConsumer("nic0");
  const dma = new IommuDma(mem, new Iotlb(v.buffer, { slot, endpoint: 0 }));
  return { v, mem, dma, slot };
}

Deno.test("permission matrix: read, write, unmapped, partly mapped, across a page, after unmap", () => {
  const { v, dma, slot } = rig();
  v.attach(1, 0);
  // page 0: read-only, page 1: write-only, page 2: read-write, all contiguous in GPA; page 4 unmapped.
  v.map(1, { start: IOVA, end: IOVA + PAGE_SIZE - 1, gpa: 0x4000, perms: 1 });
  v.map(1, { start: IOVA + PAGE_SIZE, end: IOVA + 2 * PAGE_SIZE - 1, gpa: 0x5000, perms: 2 });
  v.map(1, { start: IOVA + 2 * PAGE_SIZE, end: IOVA + 3 * PAGE_SIZE - 1, gpa: 0x6000, perms: 3 });
  dma.beginBatch();
  const P = PAGE_SIZE;
  const cases: Array<[string, number, number, "read" | "write", number | string]> = [
    ["read of a read-only page", IOVA + 8, 16, "read", 0x4008],
    ["write to a read-only page", IOVA + 8, 16, "write", "dma-denied"],
    ["read of a write-only page", IOVA + P, 16, "read", "dma-denied"],
    ["write to a write-only page", IOVA + P, 16, "write", 0x5000],
    ["read-write page, read", IOVA + 2 * P + 1, 4, "read", 0x6001],
    ["read-write page, write", IOVA + 2 * P + 1, 4, "write", 0x6001],
    ["unmapped", IOVA + 4 * P, 4, "read", "dma-unmapped"],
    ["partly mapped (runs off the last page)", IOVA + 3 * P - 8, 16, "read", "dma-unmapped"],
    ["across a page boundary, both writable", IOVA + 2 * P - 8, 16, "write", 0x5ff8],
    ["across a page boundary, second not readable", IOVA + P - 8, 16, "read", "dma-denied"],
    ["below the IOVA space", -1, 4, "read", "dma-out-of-range"],
  ];
  for (const [what, addr, len, access, want] of cases) {
    const t = dma.translate(addr, len, access);
    if (typeof want === "number") assert.deepEqual(t, { ok: true, value: want }, what);
    else assert.equal(t.ok ? "ok" : t.error.kind, want, what);
    assert.equal(dma.resolve(addr, len, access), typeof want === "number" ? want : -1, what);
  }
  const faultsBefore = readIotlbCounters(v.views, slot).faults;
  assert.equal(faultsBefore, 2 * 5, "each refusal is counted, by translate and by resolve");
  // After unmap + handshake, the cached translation is gone.
  assert.equal(v.unmap(1, IOVA + 2 * PAGE_SIZE, IOVA + 3 * PAGE_SIZE - 1).ok, true);
  v.invalidate();
  assert.equal(dma.beginBatch(), true);
  assert.equal(dma.resolve(IOVA + 2 * P + 1, 4, "read"), -1, "after unmap");
});

Deno.test("a refused access is logged once with IOVA, access kind, endpoint and reason", () => {
  const { v, dma, slot } = rig();
  dma.beginBatch();
  // Endpoint 0 is not attached: DOMAIN fault.
  assert.equal(dma.resolve(IOVA, 4, "read"), -1);
  const t = dma.translate(IOVA, 4, "read"); // the chain walker's "why" after resolve: not logged again
  assert.equal(t.ok, false);
  v.attach(1, 0);
  v.map(1, { start: IOVA, end: IOVA + PAGE_SIZE - 1, gpa: 0, perms: 1 });
  v.invalidate();
  dma.beginBatch();
  assert.equal(dma.resolve(IOVA + 0x10, 4, "write"), -1);
  const log = readFaults(v.views, slot, 0);
  assert.deepEqual(log.records.map((r) => [r.iova, r.access, r.endpoint, r.reason]), [
    [IOVA, "read", 0, FaultReason.DOMAIN],
    [IOVA + 0x10, "write", 0, FaultReason.MAPPING],
  ]);
  assert.equal(readIotlbCounters(v.views, slot).faults, 2);
});

Deno.test("the fault log keeps the newest entries and says how many were lost", () => {
  const { v, dma, slot } = rig();
  dma.beginBatch();
  for (let i = 0; i < 11; i++) dma.resolve(IOVA + i, 1, "read");
  const log = readFaults(v.views, slot, 0);
  assert.equal(log.records.length, 8);
  assert.equal(log.lost, 3);
  assert.equal(log.records[0].iova, IOVA + 3);
  assert.equal(log.next, 11);
  assert.deepEqual(readFaults(v.views, slot, log.next).records, []);
});

Deno.test("a range over non-contiguous mappings is refused as fragmented and served by segments", () => {
  const { v, mem, dma } = rig();
  v.attach(1, 0);
  v.map(1, { start: IOVA, end: IOVA + PAGE_SIZE - 1, gpa: 0x8000, perms: 3 });
  v.map(1, { start: IOVA + PAGE_SIZE, end: IOVA + 2 * PAGE_SIZE - 1, gpa: 0x3000, perms: 3 });
  v.map(1, { start: IOVA + 2 * PAGE_SIZE, end: IOVA + 3 * PAGE_SIZE - 1, gpa: 0x4000, perms: 1 });
  dma.beginBatch();
  const addr = IOVA + PAGE_SIZE - 16;
  const t = dma.translate(addr, 32, "read");
  assert.equal(t.ok ? "ok" : t.error.kind, "dma-fragmented");
  const out: { gpa: number; len: number }[] = [];
  // Pages 1 and 2 follow on in GPA (0x3000, 0x4000): merged into one piece.
  assert.deepEqual(dma.segments(addr, 16 + PAGE_SIZE + 16, "read", out), { ok: true, value: 2 });
  assert.deepEqual(out, [{ gpa: 0x8ff0, len: 16 }, { gpa: 0x3000, len: PAGE_SIZE + 16 }]);
  // The third page is read-only: a write over it is refused as a whole and nothing is returned.
  const w = dma.segments(addr, 16 + PAGE_SIZE + 16, "write", out);
  assert.equal(w.ok ? "ok" : w.error.kind, "dma-denied");
  mem.u8[0x8ff0] = 7;
  assert.equal(mem.u8[out[0].gpa], 7);
});

Deno.test("a bypass endpoint translates by identity, an unattached one faults", () => {
  const { v, dma } = rig();
  dma.beginBatch();
  assert.equal(dma.resolve(0x2000, 16, "write"), -1);
  v.attach(9, 0, { bypass: true });
  assert.equal(dma.resolve(0x2000, 16, "write"), 0x2000, "attach needs no invalidation");
  assert.equal(dma.resolve(MEM - 8, 16, "read"), -1, "still bounded by memory");
  assert.equal(v.map(9, { start: 0, end: 0xfff, gpa: 0, perms: 3 }).ok, false);
  v.detach(9, 0);
  v.invalidate();
  dma.beginBatch();
  assert.equal(dma.resolve(0x2000, 16, "write"), -1);
  v.setBypassUnattached(true);
  assert.equal(
    dma.resolve(0x2000, 16, "write"),
    0x2000,
    "config bypass covers unattached endpoints",
  );
});

Deno.test("the last-hit fast path serves only ranges inside one entry with the permission", () => {
  const { v, dma, slot } = rig();
  v.attach(1, 0);
  const P = PAGE_SIZE;
  v.map(1, { start: IOVA, end: IOVA + P - 1, gpa: 0x4000, perms: 1 });
  v.map(1, { start: IOVA + P, end: IOVA + 2 * P - 1, gpa: 0x8000, perms: 3 });
  dma.beginBatch();
  const tlb = dma.iotlb;
  assert.equal(tlb.hit(IOVA, IOVA + 15, 1), -1, "nothing looked up yet: no last hit");
  assert.equal(dma.resolve(IOVA + 16, 16, "read"), 0x4010, "a miss walks and fills");
  const before = readIotlbCounters(v.views, slot).hits;
  assert.equal(tlb.hit(IOVA + 32, IOVA + 47, 1), 0x4020, "inside the last hit");
  assert.equal(dma.fast.hits, 1, "a fast hit is counted in the window");
  dma.endBatch();
  assert.equal(
    readIotlbCounters(v.views, slot).hits,
    before + 1,
    "and published at the batch's end",
  );
  assert.equal(dma.fast.hits, 0);
  assert.equal(tlb.hit(IOVA + 32, IOVA + 47, 2), -1, "no write permission: not served");
  assert.equal(dma.resolve(IOVA + 32, 16, "write"), -1, "and refused by the slow path");
  assert.equal(tlb.hit(IOVA + P - 8, IOVA + P + 7, 1), -1, "runs into the next entry");
  assert.equal(dma.resolve(IOVA + P - 8, 16, "read"), -1, "GPAs do not follow on");
  assert.equal(dma.translate(IOVA + P - 8, 16, "read").ok, false);
  assert.equal(dma.resolve(IOVA + P + 8, 8, "write"), 0x8008, "the other entry");
  assert.equal(tlb.hit(IOVA + 8, IOVA + 15, 1), -1, "the last hit moved to the other entry");
  assert.equal(dma.resolve(IOVA + 2 * P - 4, 8, "read"), -1, "runs off the mapping");
  assert.equal(dma.resolve(IOVA + P, 0, "read"), 0x8000, "zero length, mapped address");
  assert.equal(dma.resolve(IOVA + 2 * P, 0, "read"), -1, "zero length, unmapped address");
  // UNMAP + handshake drops the last hit with the cache.
  assert.ok(v.unmap(1, IOVA + P, IOVA + 2 * P - 1).ok);
  v.invalidate();
  assert.equal(dma.beginBatch(), true);
  assert.equal(tlb.hit(IOVA + P + 8, IOVA + P + 15, 2), -1, "dropped at the next batch");
  assert.equal(dma.resolve(IOVA + P + 8, 8, "write"), -1, "unmapped now");
});
