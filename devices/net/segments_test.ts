/**
 * How the driver shapes its chains, against the real device over real rings: RX buffers sized
 * from the MTU (jumbo frames without MRG_RXBUF), multi-segment chains, and indirect tables used
 * for them when INDIRECT_DESC is negotiated (counted by the device), for split and packed.
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Feature } from "../virtio/constants.ts";
import { featureSet } from "../virtio/features.ts";
import { packedAreaSizes } from "../virtio/packed_layout.ts";
import { createQueuePair } from "../virtio/pair.ts";
import type { Layout } from "../virtio/queue.ts";
import { splitAreaSizes } from "../virtio/split_layout.ts";
import { NET_HDR_SIZE, NetFeature } from "./config.ts";
import { type FrameSink, NetDevice } from "./device.ts";
import { indirectEntriesFor, NetDriver, netDriverMemoryBytes, rxBufferBytes } from "./driver.ts";
import { NET_COUNTER_COUNT, NetCounter, readCounters } from "./metrics.ts";

const MEM = 16 << 20;

class Sink implements FrameSink {
  frames: Uint8Array[] = [];
  private readonly buf = new Uint8Array(65536);
  reserve(maxLen: number): Uint8Array | null {
    return this.buf.subarray(0, maxLen);
  }
  commit(len: number): void {
    this.frames.push(this.buf.slice(0, len));
  }
}

function rig(
  layout: Layout,
  o: { mtu: number; mrg: boolean; indirect: boolean; size?: number },
) {
  const size = o.size ?? 8;
  const mem = GuestMemory.create(MEM);
  const entries = indirectEntriesFor(o.mtu);
  const q = (base: number) => {
    const r = createQueuePair(mem, {
      layout,
      size,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features: { eventIdx: true, indirect: o.indirect, inOrder: false },
    }, { indirect: o.indirect ? { gpa: base + 0x3000, entries } : undefined });
    if (!r.ok) throw new Error(`setup failed: ${r.error.kind}`);
    return r.value;
  };
  const rx = q(0x10000);
  const tx = q(0x20000);
  const counters = new Float64Array(NET_COUNTER_COUNT);
  const device = new NetDevice({
    memory: mem,
    mac: new Uint8Array([2, 0, 0, 0, 0, 1]),
    mtu: o.mtu,
    queueMaxSize: 256,
    linkUp: true,
    ring: { packed: layout === "packed", eventIdx: true, indirect: o.indirect, inOrder: false },
    mrgRxbuf: o.mrg,
    counters,
  });
  const a = device.activate({ negotiated: device.offered, queues: [rx.device, tx.device] });
  assert.ok(a.ok);
  const driver = new NetDriver({
    mem,
    alloc: new PageAllocator(0x100000, MEM - 0x100000),
    rx: rx.driver,
    tx: tx.driver,
    negotiated: device.offered,
    mtu: o.mtu,
  });
  return { mem, rx, tx, device, driver, counters, sink: new Sink() };
}

function frameOf(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return f;
}

/** Frames of the sizes given, sent both ways; what arrived at each end. */
function roundTrip(r: ReturnType<typeof rig>, sizes: number[]) {
  const frames = sizes.map((n, i) => frameOf(n, i));
  for (const f of frames) assert.equal(r.driver.send(f), true, `send of ${f.length} bytes`);
  r.driver.flush();
  r.device.transmit(r.sink, 64);
  r.device.finish();
  assert.equal(r.driver.reclaimTx(), frames.length);
  const received: Uint8Array[] = [];
  for (const f of frames) {
    r.driver.fillRx();
    r.driver.flush();
    const out = r.device.receive(f);
    assert.equal(out, "delivered", `a ${f.length}-byte frame: ${out}`);
    r.device.finish();
    r.driver.receive((got) => received.push(got.slice()), 64);
  }
  assert.equal(r.driver.fault, null);
  return { frames, sent: r.sink.frames, received };
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`without MRG_RXBUF a 9000-MTU driver receives a 9014-byte frame: RX buffers hold header + MTU + 14 [${layout}]`, () => {
    const r = rig(layout, { mtu: 9000, mrg: false, indirect: false });
    assert.equal(r.driver.rxBufferSize, NET_HDR_SIZE + 9000 + 14);
    const { frames, sent, received } = roundTrip(r, [9014, 8042, 60]);
    assert.deepEqual(sent, frames);
    assert.deepEqual(received, frames);
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.rxTooBig, 0);
    assert.equal(c.rxFrames, 3);
  });

  Deno.test(`with MRG_RXBUF a 9000-MTU frame is received across merged buffers [${layout}]`, () => {
    const r = rig(layout, { mtu: 9000, mrg: true, indirect: false });
    assert.equal(r.driver.rxBufferSize, 1536);
    const { frames, received } = roundTrip(r, [9014]);
    assert.deepEqual(received, frames);
  });

  Deno.test(`with INDIRECT_DESC, chains of several segments go through indirect tables and are counted [${layout}]`, () => {
    const r = rig(layout, { mtu: 9000, mrg: false, indirect: true });
    // Big RX buffers: the header, then page-sized segments (Linux's add_recvbuf_big).
    assert.equal(r.driver.rxSegments, 1 + Math.ceil(9014 / 4096));
    const { frames, sent, received } = roundTrip(r, [9014, 60]);
    assert.deepEqual(sent, frames);
    assert.deepEqual(received, frames);
    const c = readCounters(r.counters, NetCounter);
    // The 9014-byte frame takes three pages; the 60-byte one is a single segment, sent direct.
    assert.equal(c.txIndirectChains, 1);
    assert.equal(c.txChainsPopped, 2);
    assert.ok(c.rxChainsPopped >= 2);
    assert.equal(c.rxIndirectChains, c.rxChainsPopped, "every big RX buffer is indirect");
  });

  Deno.test(`with INDIRECT_DESC and MRG_RXBUF, a jumbo TX frame is indirect and single-segment RX buffers are not [${layout}]`, () => {
    const r = rig(layout, { mtu: 9000, mrg: true, indirect: true });
    const { frames, sent, received } = roundTrip(r, [9014]);
    assert.deepEqual(sent, frames);
    assert.deepEqual(received, frames);
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.txIndirectChains, 1);
    assert.equal(c.rxIndirectChains, 0);
  });

  Deno.test(`without INDIRECT_DESC no chain is indirect; big buffers take a descriptor per segment [${layout}]`, () => {
    const r = rig(layout, { mtu: 9000, mrg: false, indirect: false });
    // 8 descriptors, 4 segments per big RX buffer: two buffers fit the ring.
    assert.equal(r.driver.fillRx(), 2);
    const { frames, sent, received } = roundTrip(r, [9014, 60]);
    assert.deepEqual(sent, frames);
    assert.deepEqual(received, frames);
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.txIndirectChains + c.rxIndirectChains, 0);
  });

  Deno.test(`a queue smaller than a chain's pages still works: segments grow instead [${layout}]`, () => {
    const r = rig(layout, { mtu: 9000, mrg: false, indirect: false, size: 2 });
    const { frames, received } = roundTrip(r, [9014]);
    assert.deepEqual(received, frames);
  });

  Deno.test(`netDriverMemoryBytes covers the driver's rings, indirect tables and MTU-sized buffers [${layout}]`, () => {
    for (const mtu of [1500, 9000, 65535]) {
      for (const mrg of [false, true]) {
        for (const indirect of [false, true]) {
          const size = 64;
          const need = netDriverMemoryBytes({
            layout,
            queueSize: size,
            mtu,
            mrgRxbuf: mrg,
            indirect,
          });
          const tag = `mtu ${mtu}${mrg ? " mrg" : ""}${indirect ? " indirect" : ""}`;
          // What the guest takes at start: per queue, the three areas and the tables (as
          // mmio_driver.ts initDevice allocates them), then the driver's buffers.
          const fits = (bytes: number) => {
            const alloc = new PageAllocator(0x1000, bytes);
            const sizes = layout === "split" ? splitAreaSizes(size) : packedAreaSizes(size);
            const tables = indirect ? 16 * indirectEntriesFor(mtu) * size : 0;
            for (let q = 0; q < 2; q++) {
              for (const b of [sizes.descriptor, sizes.driver, sizes.device, tables]) {
                if (b > 0 && !alloc.allocBytes(b).ok) return false;
              }
            }
            const bits = [Feature.VERSION_1, ...(mrg ? [NetFeature.MRG_RXBUF] : [])];
            const mem = GuestMemory.create(0x1000 + bytes);
            const pair = createQueuePair(mem, {
              layout,
              size,
              descAddr: 0,
              driverAddr: 0,
              deviceAddr: 0,
              features: { eventIdx: false, indirect: false, inOrder: false },
            });
            assert.ok(pair.ok);
            try {
              new NetDriver({
                mem,
                alloc,
                rx: pair.value.driver,
                tx: pair.value.driver,
                negotiated: featureSet(bits),
                mtu,
              });
              return true;
            } catch {
              return false;
            }
          };
          assert.ok(fits(need), `${tag}: ${need} bytes are not enough`);
          assert.ok(!fits(need - 4096), `${tag}: ${need} bytes is more than needed`);
        }
      }
    }
  });
}

Deno.test("rxBufferBytes: 1536 with MRG_RXBUF, else header + MTU + Ethernet header, at least 1526", () => {
  assert.equal(rxBufferBytes(1500, true), 1536);
  assert.equal(rxBufferBytes(9000, true), 1536);
  assert.equal(rxBufferBytes(1500, false), 1526);
  assert.equal(rxBufferBytes(576, false), 1526);
  assert.equal(rxBufferBytes(1501, false), 1527);
  assert.equal(rxBufferBytes(9000, false), 9026);
});
