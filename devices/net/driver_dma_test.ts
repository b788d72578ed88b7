/**
 * The net driver behind a vIOMMU in strict or lazy mode (a `NetDma`): each buffer is mapped
 * before it is posted, posted only after `sync`, carries its IOVA in the descriptor, and is
 * unmapped when the device returned it; a refused MAP posts nothing.
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Feature } from "../virtio/constants.ts";
import { featureSet } from "../virtio/features.ts";
import { createQueuePair, type QueuePair } from "../virtio/pair.ts";
import type { Layout } from "../virtio/queue.ts";
import { NET_HDR_SIZE, NetFeature, writeRxHeader } from "./config.ts";
import { DmaPerm, type DmaSyncOutcome, type NetDma } from "./dma.ts";
import { NetDriver } from "./driver.ts";

/** IOVAs are GPAs moved by this much (still inside the rig's memory, so the device can pop). */
const SHIFT = 0x200000;

class FakeDma implements NetDma {
  readonly log: string[] = [];
  readonly live = new Map<number, number>();
  refuse = false;
  /** Syncs that answer "later" (the device is slow) before one answers. */
  slowSyncs = 0;
  map(gpa: number, len: number, perms: number): number {
    this.log.push(`map ${perms === DmaPerm.WRITE ? "w" : "r"}`);
    if (this.refuse) return gpa + SHIFT; // staged, but its MAP will fail at sync
    this.live.set(gpa + SHIFT, len);
    return gpa + SHIFT;
  }
  unmap(iova: number): void {
    this.log.push("unmap");
    this.live.delete(iova);
  }
  sync(): DmaSyncOutcome {
    this.log.push("sync");
    if (this.slowSyncs > 0) {
      this.slowSyncs--;
      return "later";
    }
    return this.refuse ? "refused" : "done";
  }
}

function rig(layout: Layout, opts: { size?: number; jumbo?: boolean } = {}) {
  const mem = GuestMemory.create(4 << 20);
  const q = (base: number): QueuePair => {
    const r = createQueuePair(mem, {
      layout,
      size: opts.size ?? 4,
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
  const dma = new FakeDma();
  const driver = new NetDriver({
    mem,
    alloc: new PageAllocator(0x10000, 0x100000),
    rx: rx.driver,
    tx: tx.driver,
    // Jumbo: no MRG_RXBUF, so each RX buffer is a chain of 4 segments (header, then pages).
    negotiated: opts.jumbo
      ? featureSet([Feature.VERSION_1, Feature.EVENT_IDX])
      : featureSet([Feature.VERSION_1, Feature.EVENT_IDX, NetFeature.MRG_RXBUF]),
    mtu: opts.jumbo ? 9000 : undefined,
    dma,
  });
  return { mem, rx, tx, driver, dma };
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`strict/lazy: RX buffers are mapped, posted after sync, with their IOVA [${layout}]`, () => {
    const r = rig(layout);
    assert.equal(r.driver.fillRx(), 4);
    assert.deepEqual(r.dma.log, ["map w", "map w", "map w", "map w"]);
    const early = r.rx.device.pop();
    assert.ok(early.ok && early.value === null, "nothing posted before flush");
    r.driver.flush();
    assert.equal(r.dma.log[4], "sync");
    const p = r.rx.device.pop();
    assert.ok(p.ok && p.value);
    assert.deepEqual(p.value.writable.map((s) => s.gpa), [r.driver.rxBufferAddr(0) + SHIFT]);
    // The device returns it: the driver unmaps it when it takes the frame.
    writeRxHeader(r.mem.u8, r.driver.rxBufferAddr(0), 1);
    assert.ok(r.rx.device.push(p.value, NET_HDR_SIZE + 60).ok);
    r.rx.device.publish();
    assert.equal(r.driver.receive(() => {}, 8), 1);
    assert.equal(r.dma.live.has(r.driver.rxBufferAddr(0) + SHIFT), false, "unmapped");
    assert.equal(r.dma.live.size, 3);
  });

  Deno.test(`strict/lazy: a TX frame is mapped read-only and unmapped when reclaimed [${layout}]`, () => {
    const r = rig(layout);
    assert.equal(r.driver.send(new Uint8Array(60)), true);
    assert.deepEqual(r.dma.log, ["map r"]);
    r.driver.flush();
    const p = r.tx.device.pop();
    assert.ok(p.ok && p.value);
    const at = r.driver.txBufferAddr(0);
    assert.deepEqual(p.value.readable.map((s) => [s.gpa, s.len]), [[
      at + SHIFT,
      NET_HDR_SIZE + 60,
    ]]);
    assert.equal(r.dma.live.get(at + SHIFT), NET_HDR_SIZE + 60);
    assert.ok(r.tx.device.push(p.value, 0).ok);
    r.tx.device.publish();
    assert.equal(r.driver.reclaimTx(), 1);
    assert.equal(r.dma.live.size, 0);
  });

  Deno.test(`strict/lazy: a refused MAP posts nothing and stops the driver [${layout}]`, () => {
    const r = rig(layout);
    r.dma.refuse = true;
    r.driver.fillRx();
    r.driver.send(new Uint8Array(60));
    r.driver.flush();
    const p = r.rx.device.pop();
    assert.ok(p.ok && p.value === null, "no RX buffer reached the ring");
    const t = r.tx.device.pop();
    assert.ok(t.ok && t.value === null, "no TX buffer reached the ring");
    assert.equal(r.driver.fault?.kind, "dma-map-failed");
    assert.equal(r.dma.log.filter((l) => l === "unmap").length, 5, "every held buffer unmapped");
  });

  Deno.test(`strict/lazy: MAPs not answered in time keep their buffers for a later flush [${layout}]`, () => {
    const r = rig(layout);
    r.dma.slowSyncs = 1;
    r.driver.fillRx();
    r.driver.send(new Uint8Array(60));
    r.driver.flush();
    const none = r.rx.device.pop();
    assert.ok(none.ok && none.value === null, "nothing posted while the device is slow");
    assert.equal(r.driver.fault, null, "a slow device is no fault");
    assert.equal(r.dma.log.filter((l) => l === "unmap").length, 0, "nothing unmapped");
    r.driver.flush();
    const p = r.rx.device.pop();
    assert.ok(p.ok && p.value, "posted at the next flush");
    assert.equal(p.value.writable[0].gpa, r.driver.rxBufferAddr(0) + SHIFT);
    const t = r.tx.device.pop();
    assert.ok(t.ok && t.value, "the frame too");
    assert.equal(r.dma.log.filter((l) => l.startsWith("map")).length, 5, "mapped once each");
  });

  Deno.test(`strict/lazy: only the RX buffers the ring has room for are mapped, each once [${layout}]`, () => {
    // 16 descriptors hold 4 chains of 4 segments: the other 12 buffers were mapped and unmapped
    // again on every pass (a MAP and an UNMAP each, for nothing).
    const r = rig(layout, { size: 16, jumbo: true });
    assert.equal(r.driver.rxSegments, 4);
    for (let pass = 0; pass < 3; pass++) {
      r.driver.fillRx();
      r.driver.flush();
    }
    assert.equal(r.dma.log.filter((l) => l === "map w").length, 4, "one MAP per buffer posted");
    assert.equal(r.dma.log.filter((l) => l === "unmap").length, 0, "none unmapped");
    assert.equal(r.dma.live.size, 4);
    for (let i = 0; i < 4; i++) {
      const p = r.rx.device.pop();
      assert.ok(p.ok && p.value, `chain ${i} posted`);
    }
  });

  Deno.test(`strict/lazy: a frame the transmitq has no room for is refused at send, not lost [${layout}]`, () => {
    // 16 descriptors hold 5 jumbo frames of 3 segments each, though 16 TX buffers are free: a
    // frame taken (and mapped) beyond them was unmapped at flush and lost, its sender told sent.
    const r = rig(layout, { size: 16, jumbo: true });
    let taken = 0;
    for (let i = 0; i < 8; i++) if (r.driver.send(new Uint8Array(9014).fill(i))) taken++;
    r.driver.flush();
    let posted = 0;
    for (let p = r.tx.device.pop(); p.ok && p.value; p = r.tx.device.pop()) posted++;
    assert.equal(taken, posted, "every frame the driver took reached the ring");
    assert.equal(r.dma.log.filter((l) => l === "unmap").length, 0, "none unmapped unsent");
  });
  Deno.test(`strict/lazy: a frozen receiveq (a guest bug waiting for its frames) still lets frames out, and a frozen transmitq lets RX buffers in [${layout}]`, () => {
    // A receiveq bug is met only after the frames that fill the buffers before it: a driver that
    // posted no frame meanwhile (its held TX buffers waited for the receiveq's reset) never
    // replied to those frames, and a ping's peer never sent the rest.
    const r = rig(layout);
    r.driver.fillRx();
    r.driver.flush();
    r.driver.freeze("receiveq");
    assert.equal(r.driver.send(new Uint8Array(60)), true);
    r.driver.flush();
    const t = r.tx.device.pop();
    assert.ok(t.ok && t.value, "the frame reached the transmitq");
    assert.equal(t.value.readable[0].gpa, r.driver.txBufferAddr(0) + SHIFT);

    const q = rig(layout);
    q.driver.fillRx(); // held for their MAPs
    q.driver.send(new Uint8Array(60));
    q.driver.freeze("transmitq");
    q.driver.flush();
    const p = q.rx.device.pop();
    assert.ok(p.ok && p.value, "the RX buffers reached the receiveq");
    const none = q.tx.device.pop();
    assert.ok(none.ok && none.value === null, "nothing is added to the frozen transmitq");
    assert.equal(q.dma.log.filter((l) => l === "unmap").length, 0, "its held frame stays held");
  });
  Deno.test(`strict/lazy: frames the device returned before a refused MAP stopped the driver are still received, not dropped uncounted [${layout}]`, () => {
    // iommu-unmap on the receiving VM under a flood: the driver's next MAP was refused (its
    // window revoked), and the frames already in the receiveq's used ring went with the reset.
    const r = rig(layout);
    r.driver.fillRx();
    r.driver.flush();
    for (let n = 0; n < 2; n++) {
      const p = r.rx.device.pop();
      assert.ok(p.ok && p.value);
      writeRxHeader(r.mem.u8, p.value.writable[0].gpa - SHIFT, 1);
      assert.ok(r.rx.device.push(p.value, NET_HDR_SIZE + 60).ok);
    }
    r.rx.device.publish();
    assert.equal(r.driver.receive(() => {}, 1), 1);
    r.dma.refuse = true;
    r.driver.fillRx();
    r.driver.flush();
    assert.equal(r.driver.fault?.kind, "dma-map-failed");
    assert.equal(r.driver.receive(() => {}, 8), 1, "the second frame is received");
  });
}
