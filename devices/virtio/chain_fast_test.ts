/**
 * The chain walker's inline translation (`DmaFastWindow`): what the view's range serves is the
 * same as what `resolve` would answer, counted as a hit, and anything outside it (or without the
 * permission) still goes to `resolve`, which refuses it.
 */

import assert from "node:assert/strict";
import { GuestMemory } from "../memory/memory.ts";
import { DirectDma } from "../memory/dma.ts";
import { IommuDma } from "../iommu/dma.ts";
import { Iotlb } from "../iommu/iotlb.ts";
import { readIotlbCounters } from "../iommu/faults.ts";
import { Viommu } from "../iommu/viommu.ts";
import { ChainWalker, PooledChain } from "./chain.ts";

function walk(w: ChainWalker, addr: number, len: number, writable: boolean) {
  const c = new PooledChain();
  w.begin(c, 0);
  assert.equal(w.add(0, addr, len, writable), null);
  w.end(0, 1);
  return { chain: c, fault: w.fault };
}

Deno.test("the walker translates inside the IOTLB's last hit inline, and asks resolve outside it", () => {
  const mem = GuestMemory.create(1 << 20);
  const v = Viommu.create({ mappings: 8, endpoints: 1, consumers: 1, faults: 4 });
  v.attach(1, 0);
  v.map(1, { start: 0x100000, end: 0x100fff, gpa: 0x4000, perms: 1 });
  v.map(1, { start: 0x101000, end: 0x101fff, gpa: 0x9000, perms: 3 });
  const slot = v.registerConsumer("nic");
  const dma = new IommuDma(mem, new Iotlb(v.buffer, { slot, endpoint: 0 }));
  dma.beginBatch();
  const w = new ChainWalker(dma);
  // A miss: resolve walks and fills the last hit.
  assert.deepEqual(walk(w, 0x100010, 16, false).chain.readable, [{ gpa: 0x4010, len: 16 }]);
  // Inside it: inline, counted in the window.
  assert.deepEqual(walk(w, 0x100800, 64, false).chain.readable, [{ gpa: 0x4800, len: 64 }]);
  assert.equal(dma.fast.hits, 1);
  // No write permission there: resolve refuses, the chain carries the fault.
  const denied = walk(w, 0x100800, 64, true);
  assert.equal(denied.fault?.kind, "buffer-unreachable");
  assert.deepEqual(denied.chain.writable, []);
  // Across into the next entry (GPAs do not follow on): not contiguous, refused.
  assert.equal(walk(w, 0x100ff8, 16, false).fault?.kind, "buffer-unreachable");
  // The other entry, writable.
  assert.deepEqual(walk(w, 0x101008, 8, true).chain.writable, [{ gpa: 0x9008, len: 8 }]);
  // Every translation counted: hits published at the batch's end.
  dma.endBatch();
  const c = readIotlbCounters(v.views, slot);
  assert.ok(c.hits >= 2, JSON.stringify(c));
  assert.equal(c.faults, 1, "the write refused (the fragmented range is no fault)");
  // After an UNMAP and the handshake, the inline range is gone: the old address is refused.
  assert.ok(v.unmap(1, 0x101000, 0x101fff).ok);
  v.invalidate();
  assert.equal(dma.beginBatch(), true);
  assert.equal(walk(w, 0x101008, 8, true).fault?.kind, "buffer-unreachable");
});

Deno.test("a direct view's inline range is all of memory: the walker decides as resolve does", () => {
  const mem = GuestMemory.create(65536);
  const dma = new DirectDma(mem);
  const w = new ChainWalker(dma);
  for (const [addr, len] of [[0xff00, 256], [0xff00, 257], [65536, 0], [65535, 1], [0, 0]]) {
    const r = walk(w, addr, len, true);
    const ok = dma.resolve(addr, len, "write") >= 0;
    assert.equal(r.fault === null, ok, `${addr}+${len}`);
    if (ok && len > 0) assert.deepEqual(r.chain.writable, [{ gpa: addr, len }]);
  }
  assert.ok(dma.fast.hits >= 2);
});
