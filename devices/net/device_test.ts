/**
 * The virtio-net device against the real driver over real rings (`createQueuePair`), for split
 * and packed, with and without MRG_RXBUF, with EVENT_IDX (and an IN_ORDER variant).
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Prng } from "../base/prng.ts";
import { Feature } from "../virtio/constants.ts";
import { hasFeature } from "../virtio/features.ts";
import { createQueuePair, type QueuePair } from "../virtio/pair.ts";
import type { Layout } from "../virtio/queue.ts";
import { NET_HDR_SIZE, NetConfigOffset, NetFeature, parseNetConfig } from "./config.ts";
import { completeChecksum, partialChecksum } from "./checksum.ts";
import { type FrameSink, NetDevice } from "./device.ts";
import { NetDriver } from "./driver.ts";
import { NET_COUNTER_COUNT, NetCounter, readCounters } from "./metrics.ts";

interface Variant {
  layout: Layout;
  mrg: boolean;
  inOrder: boolean;
}

const VARIANTS: Variant[] = [];
for (const layout of ["split", "packed"] as const) {
  for (const mrg of [false, true]) VARIANTS.push({ layout, mrg, inOrder: false });
  VARIANTS.push({ layout, mrg: true, inOrder: true });
}

function tag(v: Variant): string {
  return `[${v.layout}${v.mrg ? "+mrg" : ""}${v.inOrder ? "+in-order" : ""}]`;
}

/** A sink that accepts up to `room` frames, keeping copies. */
class Sink implements FrameSink {
  frames: Uint8Array[] = [];
  metas: number[] = [];
  room = Infinity;
  private readonly buf = new Uint8Array(65536);
  reserve(maxLen: number): Uint8Array | null {
    return this.frames.length >= this.room ? null : this.buf.subarray(0, maxLen);
  }
  commit(len: number, meta = 0): void {
    this.frames.push(this.buf.slice(0, len));
    this.metas.push(meta);
  }
}

interface Rig {
  mem: GuestMemory;
  rx: QueuePair;
  tx: QueuePair;
  device: NetDevice;
  driver: NetDriver;
  counters: Float64Array;
  sink: Sink;
}

function rig(
  v: Variant,
  opts: {
    size?: number;
    rxBufferSize?: number;
    acceptMrg?: boolean;
    mtu?: number;
    csum?: boolean;
    accept?: (offered: bigint) => bigint;
  } = {},
): Rig {
  const size = opts.size ?? 8;
  const mem = GuestMemory.create(8 << 20);
  const features = { eventIdx: true, indirect: false, inOrder: v.inOrder };
  const q = (base: number) => {
    const r = createQueuePair(mem, {
      layout: v.layout,
      size,
      descAddr: base,
      driverAddr: base + 0x1000,
      deviceAddr: base + 0x2000,
      features,
    });
    if (!r.ok) throw new Error(`setup failed: ${r.error.kind}`);
    return r.value;
  };
  const rx = q(0x1000);
  const tx = q(0x4000);
  const counters = new Float64Array(NET_COUNTER_COUNT);
  const device = new NetDevice({
    memory: mem,
    mac: new Uint8Array([2, 0, 0, 0, 0, 1]),
    mtu: opts.mtu ?? 1500,
    queueMaxSize: 256,
    linkUp: true,
    ring: { packed: v.layout === "packed", eventIdx: true, indirect: false, inOrder: v.inOrder },
    mrgRxbuf: v.mrg,
    counters,
    csum: opts.csum,
  });
  let negotiated = device.offered;
  if (opts.acceptMrg === false) negotiated &= ~(1n << BigInt(NetFeature.MRG_RXBUF));
  if (opts.accept) negotiated = opts.accept(negotiated);
  const a = device.activate({ negotiated, queues: [rx.device, tx.device] });
  assert.ok(a.ok);
  const driver = new NetDriver({
    mem,
    alloc: new PageAllocator(0x10000, (8 << 20) - 0x10000),
    rx: rx.driver,
    tx: tx.driver,
    negotiated,
    rxBufferSize: opts.rxBufferSize,
    mtu: opts.mtu,
  });
  return { mem, rx, tx, device, driver, counters, sink: new Sink() };
}

function frameOf(len: number, seed: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return f;
}

function drain(d: NetDriver, budget = 64): Uint8Array[] {
  const got: Uint8Array[] = [];
  d.receive((f) => got.push(f.slice()), budget);
  return got;
}

const SIZES = [14, 60, 1000, 1514];

for (const v of VARIANTS) {
  Deno.test(`frames round-trip byte-exact from driver to sink ${tag(v)}`, () => {
    const r = rig(v);
    const frames = SIZES.map((n, i) => frameOf(n, i));
    for (const f of frames) assert.equal(r.driver.send(f), true);
    assert.equal(r.driver.flush().kickTx, true);
    const out = r.device.transmit(r.sink, 64);
    assert.deepEqual({ ...out }, { sent: 4, dropped: 0, blocked: false });
    assert.equal(r.device.finish().interruptTx, true);
    assert.deepEqual(r.sink.frames, frames);
    assert.equal(r.driver.reclaimTx(), 4);
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.txFrames, 4);
    assert.equal(c.txBytes, 14 + 60 + 1000 + 1514);
    assert.equal(c.txChainsPopped, 4);
    assert.equal(c.txUsedPublished, 4);
    assert.equal(c.txInterrupts, 1);
  });

  Deno.test(`frames round-trip byte-exact from device to driver ${tag(v)}`, () => {
    const r = rig(v);
    assert.equal(r.driver.fillRx(), 8);
    r.driver.flush();
    const frames = SIZES.map((n, i) => frameOf(n, i + 10));
    for (const f of frames) assert.equal(r.device.receive(f), "delivered");
    assert.equal(r.device.finish().interruptRx, true);
    assert.deepEqual(drain(r.driver), frames);
    assert.equal(r.driver.fault, null);
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.rxFrames, 4);
    assert.equal(c.rxBytes, 14 + 60 + 1000 + 1514);
    assert.equal(c.rxUsedPublished, 4);
  });

  Deno.test(`RX header in guest memory is exactly virtio_net_hdr_v1 ${tag(v)}`, () => {
    const r = rig(v);
    const at = r.driver.rxBufferAddr(0);
    r.mem.u8.fill(0xff, at, at + 64);
    r.driver.fillRx();
    r.driver.flush();
    assert.equal(r.device.receive(frameOf(20, 1)), "delivered");
    r.device.finish();
    // flags, gso_type, hdr_len, gso_size, csum_start, csum_offset all 0; num_buffers = 1
    assert.deepEqual([...r.mem.u8.subarray(at, at + NET_HDR_SIZE)], [
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      1,
      0,
    ]);
    assert.deepEqual(r.mem.u8.slice(at + 12, at + 32), frameOf(20, 1));
    assert.equal(r.mem.u8[at + 32], 0xff); // nothing written past the frame
  });

  Deno.test(`link down drops TX, refuses RX and clears status bit 0 ${tag(v)}`, () => {
    const r = rig(v);
    r.driver.fillRx();
    assert.equal(r.device.setLinkUp(false), true);
    assert.equal(r.device.setLinkUp(false), false);
    assert.equal(r.device.readConfig(NetConfigOffset.STATUS, 2), 0);
    assert.equal(r.device.receive(frameOf(60, 0)), "link-down");
    r.driver.send(frameOf(60, 1));
    r.driver.flush();
    assert.deepEqual({ ...r.device.transmit(r.sink, 64) }, { sent: 0, dropped: 1, blocked: false });
    r.device.finish();
    assert.equal(r.sink.frames.length, 0);
    assert.equal(r.driver.reclaimTx(), 1);
    assert.equal(r.counters[NetCounter.txLinkDown], 1);
    assert.equal(r.counters[NetCounter.rxLinkDown], 1);
    assert.equal(r.device.setLinkUp(true), true);
    assert.equal(r.device.readConfig(NetConfigOffset.STATUS, 2), 1);
    assert.equal(r.device.receive(frameOf(60, 2)), "delivered");
    r.device.finish();
    assert.deepEqual(drain(r.driver), [frameOf(60, 2)]);
  });

  Deno.test(`transmit budget is respected (E6) ${tag(v)}`, () => {
    const r = rig(v);
    for (let i = 0; i < 6; i++) r.driver.send(frameOf(60, i));
    r.driver.flush();
    assert.equal(r.device.transmit(r.sink, 4).sent, 4);
    assert.equal(r.sink.frames.length, 4);
    assert.equal(r.tx.device.inFlight, 4); // nothing popped beyond the budget
    assert.equal(r.device.transmit(r.sink, 4).sent, 2);
    assert.equal(r.device.transmit(r.sink, 0).sent, 0);
    r.device.finish();
    assert.deepEqual(r.sink.frames, [0, 1, 2, 3, 4, 5].map((i) => frameOf(60, i)));
  });

  Deno.test(`a full sink keeps the chain and resends it first (back-pressure) ${tag(v)}`, () => {
    const r = rig(v);
    for (let i = 0; i < 5; i++) r.driver.send(frameOf(100, i));
    r.driver.flush();
    r.sink.room = 2;
    assert.deepEqual({ ...r.device.transmit(r.sink, 64) }, { sent: 2, dropped: 0, blocked: true });
    assert.equal(r.counters[NetCounter.txBackpressure], 1);
    r.device.finish();
    assert.equal(r.driver.reclaimTx(), 2);
    assert.equal(r.device.transmit(r.sink, 64).blocked, true);
    assert.equal(r.counters[NetCounter.txChainsPopped], 3); // the kept chain is not popped again
    r.sink.room = Infinity;
    assert.equal(r.device.transmit(r.sink, 64).sent, 3);
    r.device.finish();
    assert.deepEqual(r.sink.frames, [0, 1, 2, 3, 4].map((i) => frameOf(100, i)));
    assert.equal(r.counters[NetCounter.txFrames], 5);
  });

  for (const linkUp of [true, false]) {
    Deno.test(`a TX completion the queue refuses is neither sent nor counted (link ${linkUp ? "up" : "down"}) ${tag(v)}`, () => {
      const r = rig(v);
      for (let i = 0; i < 2; i++) r.driver.send(frameOf(100, i));
      r.driver.flush();
      r.sink.room = 0;
      assert.equal(r.device.transmit(r.sink, 64).blocked, true); // frame 0 popped and kept
      r.sink.room = Infinity;
      r.device.setLinkUp(linkUp);
      // The queue refuses frame 0's completion (as a broken queue refuses every push).
      const q = r.tx.device as unknown as { broken: unknown };
      q.broken = { kind: "head-in-flight", head: 0 };
      assert.deepEqual({ ...r.device.transmit(r.sink, 1) }, {
        sent: 0,
        dropped: 0,
        blocked: false,
      });
      q.broken = null;
      r.device.setLinkUp(true);
      // IN_ORDER: frame 1 may not be completed before frame 0, so it is refused too.
      const sent = v.inOrder ? 0 : 1;
      assert.equal(r.device.transmit(r.sink, 64).sent, sent);
      r.device.finish();
      assert.deepEqual(
        r.sink.frames,
        [frameOf(100, 1)].slice(0, sent),
        "frame 0 was not the device's to send",
      );
      const c = readCounters(r.counters, NetCounter);
      assert.equal(c.txUsedPublished, sent);
      assert.equal(c.txFrames, sent);
      assert.equal(c.txBytes, 100 * sent);
      assert.equal(c.txUsedPublished, c.txFrames + c.txLinkDown + c.txMalformed);
    });
  }

  Deno.test(`no RX buffers is reported and recovers when the driver refills (E4) ${tag(v)}`, () => {
    const r = rig(v);
    assert.equal(r.device.receive(frameOf(60, 0)), "no-buffers");
    assert.equal(r.counters[NetCounter.rxBufferWaits], 1);
    r.driver.fillRx();
    r.driver.flush();
    assert.equal(r.device.receive(frameOf(60, 0)), "delivered");
    r.device.finish();
    assert.deepEqual(drain(r.driver), [frameOf(60, 0)]);
  });

  Deno.test(`10,000 frames loop through queues of size 8 without loss ${tag(v)}`, () => {
    const r = rig(v, { rxBufferSize: v.mrg ? 512 : undefined });
    const prng = Prng.fromSeed(0x5eed);
    const total = 10_000;
    let sent = 0;
    let received = 0;
    const seqOf = (f: Uint8Array) => f[0] | (f[1] << 8) | (f[2] << 16);
    const make = (seq: number) => {
      const f = frameOf(14 + prng.below(1501), seq);
      f[0] = seq & 0xff;
      f[1] = (seq >>> 8) & 0xff;
      f[2] = seq >>> 16;
      return f;
    };
    const expected: Uint8Array[] = [];
    let sinkRead = 0;
    r.driver.fillRx();
    for (let round = 0; round < 100_000 && received < total; round++) {
      for (let k = prng.below(6); k > 0 && sent < total; k--) {
        const f = make(sent);
        if (!r.driver.send(f)) break;
        expected.push(f);
        sent++;
      }
      r.driver.fillRx();
      r.driver.flush();
      r.device.transmit(r.sink, 1 + prng.below(8));
      // loop the link back into the receiveq; a frame that found no buffers waits in the sink
      for (let k = 0; k < 8 && sinkRead < r.sink.frames.length; k++) {
        const o = r.device.receive(r.sink.frames[sinkRead]);
        if (o === "no-buffers") break;
        assert.equal(o, "delivered");
        sinkRead++;
      }
      r.device.finish();
      r.driver.reclaimTx();
      r.driver.receive((f) => {
        assert.equal(seqOf(f), received, `frame ${received} out of order`);
        assert.deepEqual(f, expected[received]);
        received++;
      }, 1 + prng.below(8));
    }
    assert.equal(received, total);
    assert.equal(r.driver.fault, null);
    assert.equal(r.device.fault, null);
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.txFrames, total);
    assert.equal(c.rxFrames, total);
    assert.equal(c.txBytes, c.rxBytes);
    assert.equal(c.txMalformed + c.rxTooBig + c.rxBadChain, 0);
    assert.equal(c.txChainsPopped, c.txUsedPublished);
    assert.equal(c.rxChainsPopped, c.rxUsedPublished + r.device.heldRxBuffers);
    assert.equal(c.rxInterrupts + c.rxInterruptsSuppressed > 0, true);
    assert.equal(c.rxBufferWaits > 0, true); // back-pressure happened and recovered (E4)
  });
}

for (const layout of ["split", "packed"] as const) {
  for (const inOrder of [false, true]) {
    const v = { layout, mrg: true, inOrder };
    Deno.test(`a 1514-byte frame spans 6 buffers of 256 with num_buffers 6 ${tag(v)}`, () => {
      const r = rig(v, { rxBufferSize: 256 });
      r.driver.fillRx();
      r.driver.flush();
      const f = frameOf(1514, 3);
      assert.equal(r.device.receive(f), "delivered");
      r.device.finish();
      // 12 + 1514 = 1526 = 5 × 256 + 246
      const first = r.driver.rxBufferAddr(0);
      assert.equal(r.mem.u8[first + 10] | (r.mem.u8[first + 11] << 8), 6);
      assert.equal(r.counters[NetCounter.rxUsedPublished], 6);
      const got = drain(r.driver);
      assert.deepEqual(got, [f]);
      assert.equal(r.driver.fault, null);
    });

    Deno.test(`held RX buffers are used first once the driver refills ${tag(v)}`, () => {
      const r = rig(v, { rxBufferSize: 256 });
      r.driver.fillRx();
      r.driver.flush();
      const a = frameOf(1514, 1);
      const b = frameOf(1514, 2);
      assert.equal(r.device.receive(a), "delivered");
      assert.equal(r.device.receive(b), "no-buffers"); // 2 buffers left: popped and held
      assert.equal(r.device.heldRxBuffers, 2);
      r.device.finish();
      assert.deepEqual(drain(r.driver), [a]);
      r.driver.fillRx();
      r.driver.flush();
      assert.equal(r.device.receive(b), "delivered");
      r.device.finish();
      assert.deepEqual(drain(r.driver), [b]);
      const c = readCounters(r.counters, NetCounter);
      assert.equal(c.rxChainsPopped, 12);
      assert.equal(c.rxUsedPublished, 12);
      assert.equal(c.rxBufferWaits, 1);
    });
  }

  Deno.test(`a driver without MRG_RXBUF gets single-buffer RX (E5) [${layout}]`, () => {
    const r = rig({ layout, mrg: true, inOrder: false }, { acceptMrg: false });
    assert.equal(r.device.mergeable, false);
    assert.equal(r.driver.mergeable, false);
    assert.equal(r.driver.rxBufferSize, 1526);
    r.driver.fillRx();
    r.driver.flush();
    const f = frameOf(1514, 9);
    assert.equal(r.device.receive(f), "delivered");
    r.device.finish();
    assert.equal(r.counters[NetCounter.rxUsedPublished], 1);
    const at = r.driver.rxBufferAddr(0);
    assert.equal(r.mem.u8[at + 10], 1);
    assert.deepEqual(drain(r.driver), [f]);
  });

  Deno.test(`without MRG_RXBUF a frame larger than one buffer is dropped, the buffer kept [${layout}]`, () => {
    const r = rig({ layout, mrg: false, inOrder: false }, { rxBufferSize: 256 });
    r.driver.fillRx();
    r.driver.flush();
    assert.equal(r.device.receive(frameOf(1514, 0)), "too-big");
    assert.equal(r.device.receive(frameOf(200, 1)), "delivered");
    r.device.finish();
    assert.equal(r.counters[NetCounter.rxTooBig], 1);
    assert.deepEqual(drain(r.driver), [frameOf(200, 1)]);
    assert.equal(r.counters[NetCounter.rxUsedPublished], 1);
  });

  for (const mrg of [false, true]) {
    Deno.test(`an RX buffer the queue refuses is not written, the frame counted not live [${layout}${mrg ? "+mrg" : ""}]`, () => {
      const r = rig({ layout, mrg, inOrder: false }, { rxBufferSize: mrg ? 1526 : 256 });
      r.driver.fillRx();
      r.driver.flush();
      if (!mrg) assert.equal(r.device.receive(frameOf(1514, 0)), "too-big"); // a buffer held
      // The queue refuses the completion of every buffer (as a broken queue does); with
      // MRG_RXBUF the buffer comes from a pop made before the refusal.
      const q = r.rx.device as unknown as { broken: unknown; pop: () => unknown };
      const pop = q.pop.bind(q);
      const refuse = () => q.broken = { kind: "head-in-flight", head: 0 };
      if (mrg) {
        q.pop = () => {
          const got = pop();
          refuse();
          return got;
        };
      } else refuse();
      const before = r.mem.u8.slice();
      assert.equal(r.device.receive(frameOf(200, 1)), "not-live");
      assert.deepEqual(r.mem.u8, before, "no buffer written");
      q.pop = pop;
      q.broken = null;
      assert.equal(r.device.receive(frameOf(200, 2)), "delivered");
      r.device.finish();
      const c = readCounters(r.counters, NetCounter);
      assert.equal(c.rxFrames, 1);
      assert.equal(c.rxNotLive, 1);
      assert.equal(c.rxUsedPublished, 1);
      assert.deepEqual(drain(r.driver), [frameOf(200, 2)]);
    });
  }

  Deno.test(`malformed TX chains are dropped and counted, the next frame passes (E1, E2) [${layout}]`, () => {
    const r = rig({ layout, mrg: false, inOrder: false });
    const q = r.tx.driver;
    const buf = 0x700000;
    const good = frameOf(60, 5);
    r.mem.u8.fill(0xff, buf, buf + 12); // unknown flags and csum fields: ignored (E3)
    r.mem.u8.set(good, buf + 12);
    const chains: [number, number][][] = [
      [[buf, 8]], // shorter than the header
      [[buf, 12 + 1515]], // frame over mtu + 14
      [[buf, 12]], // zero-length frame
      [[buf, 12 + 13]], // shorter than an Ethernet header
      [[buf, 6], [buf + 6, 6 + 60]], // good: header split over two descriptors
    ];
    chains.forEach((readable, i) => assert.ok(q.add({ readable, writable: [] }, i).ok));
    // a chain with only writable space (no readable part)
    assert.ok(q.add({ readable: [], writable: [[buf, 64]] }, 5).ok);
    q.publish();
    const out = r.device.transmit(r.sink, 64);
    assert.deepEqual({ ...out }, { sent: 1, dropped: 5, blocked: false });
    r.device.finish();
    assert.deepEqual(r.sink.frames, [good]);
    assert.equal(r.counters[NetCounter.txMalformed], 5);
    const used: number[] = [];
    for (let u = q.getUsed(); u.ok && u.value; u = q.getUsed()) {
      assert.equal(u.value.len, 0);
      used.push(u.value.token);
    }
    assert.deepEqual(used.sort(), [0, 1, 2, 3, 4, 5]);
  });
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`an RX header split over descriptors is written whole, NEEDS_CSUM included [${layout}]`, () => {
    // The header is written where it lies when the first buffer holds all 12 bytes; a driver
    // that splits it (5 + 7 bytes, then the frame) gets the same bytes through the scratch copy.
    for (const mrg of [false, true]) {
      const r = rig({ layout, mrg, inOrder: false }, { csum: true });
      const buf = 0x700000;
      r.mem.u8.fill(0xee, buf, buf + 2048);
      const writable: [number, number][] = [[buf, 5], [buf + 5, 7], [buf + 12, 1514]];
      assert.ok(r.rx.driver.add({ readable: [], writable }, 3).ok);
      r.rx.driver.publish();
      const frame = frameOf(200, 4);
      assert.equal(r.device.receive(frame.slice(), partialChecksum(34, 6)), "delivered");
      r.device.finish();
      const used = r.rx.driver.getUsed();
      assert.ok(used.ok && used.value);
      assert.deepEqual({ ...used.value }, { token: 3, len: 12 + 200 });
      const hdr = r.mem.u8.slice(buf, buf + 12);
      // flags NEEDS_CSUM, no GSO (type, hdr_len, gso_size 0), csum_start 34, csum_offset 6,
      // num_buffers 1 (virtio 1.x has the field with or without MRG_RXBUF)
      assert.deepEqual([...hdr], [1, 0, 0, 0, 0, 0, 34, 0, 6, 0, 1, 0], `mrg ${mrg}`);
      assert.deepEqual(r.mem.u8.slice(buf + 12, buf + 212), frame);
      assert.equal(r.mem.u8[buf + 212], 0xee, "nothing past the frame");
    }
  });

  Deno.test(`an unusable RX chain the queue refuses to take back is not counted rxBadChain [${layout}]`, () => {
    // Before, rxBadChain was counted before the push, whatever the queue answered.
    const r = rig({ layout, mrg: false, inOrder: false });
    const buf = 0x700000;
    assert.ok(r.rx.driver.add({ readable: [[buf, 16]], writable: [[buf + 16, 1526]] }, 7).ok);
    r.rx.driver.publish();
    r.driver.fillRx();
    r.driver.flush();
    const q = r.rx.device as { push: typeof r.rx.device.push };
    const push = q.push;
    q.push = (
      chain,
    ) => (q.push = push, { ok: false, error: { kind: "not-in-flight", id: chain.id } });
    assert.equal(r.device.receive(frameOf(60, 0)), "delivered");
    r.device.finish();
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.rxBadChain, 0);
    assert.equal(c.rxUsedPublished, c.rxFrames + c.rxBadChain);
  });

  Deno.test(`chains in the wrong direction are returned unused and counted (reliability A8) [${layout}]`, () => {
    const r = rig({ layout, mrg: false, inOrder: false });
    const buf = 0x700000;
    // RX: a chain with a device-readable part (vhost-net: "unexpected descriptor format for RX").
    assert.ok(r.rx.driver.add({ readable: [[buf, 16]], writable: [[buf + 16, 1526]] }, 7).ok);
    r.rx.driver.publish();
    r.driver.fillRx();
    r.driver.flush();
    assert.equal(r.device.receive(frameOf(60, 0)), "delivered");
    r.device.finish();
    const first = r.rx.driver.getUsed();
    assert.ok(first.ok && first.value);
    assert.deepEqual({ ...first.value }, { token: 7, len: 0 });
    assert.equal(r.counters[NetCounter.rxBadChain], 1);
    // TX: a chain with a device-writable part is not sent.
    const frame = frameOf(60, 1);
    r.mem.u8.fill(0, buf, buf + NET_HDR_SIZE);
    r.mem.u8.set(frame, buf + NET_HDR_SIZE);
    const spec = { readable: [[buf, NET_HDR_SIZE + 60]], writable: [[buf + 0x1000, 16]] } as const;
    assert.ok(r.tx.driver.add(spec, 3).ok);
    r.tx.driver.publish();
    assert.deepEqual({ ...r.device.transmit(r.sink, 64) }, { sent: 0, dropped: 1, blocked: false });
    assert.equal(r.sink.frames.length, 0);
    assert.equal(r.counters[NetCounter.txMalformed], 0, "counted when its used entry publishes");
    r.device.finish();
    assert.equal(r.counters[NetCounter.txMalformed], 1);
  });
}

Deno.test("a broken receiveq sets the fault and stops the device", () => {
  const r = rig({ layout: "split", mrg: false, inOrder: false });
  r.mem.writeU16(0x2000 + 2, 100); // avail idx jumps past the queue size (A1)
  assert.equal(r.device.receive(frameOf(60, 0)), "not-live");
  assert.equal(r.device.fault?.kind, "queue-broken");
  assert.equal(r.device.fault?.queue, "receiveq");
  assert.equal(r.device.fault?.cause.kind, "avail-index-jump");
  assert.equal(r.device.transmit(r.sink, 64).sent, 0);
  r.device.reset();
  assert.equal(r.device.fault, null);
  assert.equal(r.device.receive(frameOf(60, 0)), "not-live");
  r.device.finish();
  // Every frame the device turned away is a drop with its cause: nothing vanishes uncounted.
  assert.equal(r.counters[NetCounter.rxNotLive], 2);
  assert.equal(r.counters[NetCounter.rxBufferWaits], 0, "not a wait: the frame is dropped");
  r.device.dropNotLive(5); // frames the worker dropped while the NIC was not live
  assert.equal(r.counters[NetCounter.rxNotLive], 7);
});

Deno.test("frames from the link the device drops count when the pass ends, once across a mid-pass crash", () => {
  // A worker that dies mid-pass (backend-crash --mode mid-pass) never publishes the link ring's
  // tail: its successor meets the same frames again. Counted at once, they were counted twice.
  const frames = () => [frameOf(10, 0), frameOf(1600, 1)]; // a runt, one over the MTU
  const dying = rig({ layout: "split", mrg: true, inOrder: false });
  dying.driver.fillRx();
  dying.driver.flush();
  assert.deepEqual(frames().map((f) => dying.device.receive(f)), ["runt", "too-big"]);
  dying.device.setLinkUp(false);
  assert.equal(dying.device.receive(frameOf(60, 2)), "link-down");
  const none = { rxRunt: 0, rxTooBig: 0, rxLinkDown: 0, rxNotLive: 0 };
  const drops = (c: Float64Array) => {
    const all = readCounters(c, NetCounter);
    return {
      rxRunt: all.rxRunt,
      rxTooBig: all.rxTooBig,
      rxLinkDown: all.rxLinkDown,
      rxNotLive: all.rxNotLive,
    };
  };
  assert.deepEqual(drops(dying.counters), none, "nothing counted before the pass ends");
  // Its successor (same counters) meets the frames again, and ends its pass.
  const next = rig({ layout: "split", mrg: true, inOrder: false });
  next.counters.set(dying.counters);
  next.driver.fillRx();
  next.driver.flush();
  assert.deepEqual(frames().map((f) => next.device.receive(f)), ["runt", "too-big"]);
  next.device.setLinkUp(false);
  assert.equal(next.device.receive(frameOf(60, 2)), "link-down");
  next.device.finish();
  assert.deepEqual(drops(next.counters), { ...none, rxRunt: 1, rxTooBig: 1, rxLinkDown: 1 });
  // A device reset counts what the pass dropped before it (a drop is a drop).
  next.device.setLinkUp(true);
  next.device.reset();
  assert.equal(next.device.receive(frameOf(60, 3)), "not-live");
  next.device.reset();
  assert.equal(drops(next.counters).rxNotLive, 1);
});

Deno.test("interrupts follow the driver's suppression and are counted", () => {
  const r = rig({ layout: "packed", mrg: false, inOrder: false });
  r.driver.fillRx();
  r.driver.disableInterrupts();
  r.driver.flush();
  r.device.receive(frameOf(60, 0));
  assert.equal(r.device.finish().interruptRx, false);
  assert.equal(r.counters[NetCounter.rxInterruptsSuppressed], 1);
  assert.equal(r.driver.enableInterrupts(), true); // a used buffer is already waiting
  drain(r.driver);
  assert.equal(r.driver.enableInterrupts(), false);
  r.device.receive(frameOf(60, 1));
  assert.equal(r.device.finish().interruptRx, true);
  assert.equal(r.counters[NetCounter.rxInterrupts], 1);
  assert.deepEqual({ ...r.device.finish() }, { interruptRx: false, interruptTx: false });
});

Deno.test("the device offers net and ring bits per its options and exposes its config", () => {
  const r = rig({ layout: "packed", mrg: true, inOrder: true });
  const d = r.device;
  assert.equal(d.deviceId, 1);
  assert.equal(d.queueCount, 2);
  for (
    const bit of [
      Feature.VERSION_1,
      Feature.RING_PACKED,
      Feature.EVENT_IDX,
      Feature.IN_ORDER,
      NetFeature.MAC,
      NetFeature.MTU,
      NetFeature.STATUS,
      NetFeature.MRG_RXBUF,
    ]
  ) assert.equal(hasFeature(d.offered, bit), true, `bit ${bit}`);
  assert.equal(hasFeature(d.offered, Feature.INDIRECT_DESC), false);
  assert.equal(hasFeature(d.offered, NetFeature.CSUM), false);
  const bytes = new Uint8Array(d.configSize);
  for (let i = 0; i < bytes.length; i++) bytes[i] = d.readConfig(i, 1);
  assert.deepEqual(parseNetConfig(bytes), { mac: "02:00:00:00:00:01", linkUp: true, mtu: 1500 });
  assert.equal(d.readConfig(NetConfigOffset.MTU, 2), 1500);
  assert.equal(d.readConfig(11, 2), 0); // crosses the end
  assert.deepEqual(d.activate({ negotiated: d.offered, queues: [r.rx.device, null] }), {
    ok: false,
    error: { kind: "missing-queue", queue: 1 },
  });
});

const CSUM_BITS = (1n << BigInt(NetFeature.CSUM)) | (1n << BigInt(NetFeature.GUEST_CSUM));

for (const v of [VARIANTS[0], VARIANTS[4]]) {
  Deno.test(`CSUM: a partial checksum goes to the link as is; one that does not fit is E1 ${tag(v)}`, () => {
    const r = rig(v, { csum: true });
    assert.equal(hasFeature(r.device.offered, NetFeature.CSUM), true);
    assert.equal(hasFeature(r.device.offered, NetFeature.GUEST_CSUM), true);
    assert.equal(r.driver.checksumOffload, true);
    const frame = frameOf(100, 1);
    const fill = (b: Uint8Array) => b.set(frame);
    assert.ok(r.driver.sendWith(100, fill, partialChecksum(34, 6)));
    assert.ok(r.driver.sendWith(100, fill, 0));
    assert.ok(r.driver.sendWith(100, fill, partialChecksum(90, 9))); // field at 99..100: past the end
    r.driver.flush();
    const out = r.device.transmit(r.sink, 64);
    assert.deepEqual({ sent: out.sent, dropped: out.dropped }, { sent: 2, dropped: 1 });
    assert.deepEqual(r.sink.metas, [partialChecksum(34, 6), 0]);
    assert.deepEqual(r.sink.frames[0], frame); // the bytes are not touched on the way out
    r.device.finish(); // what the device did is counted as its used entries publish
    const c = readCounters(r.counters, NetCounter);
    assert.equal(c.txCsumPartial, 1);
    assert.equal(c.txMalformed, 1);
  });

  Deno.test(`CSUM not negotiated: the header's checksum request is not read ${tag(v)}`, () => {
    const r = rig(v, { csum: true, accept: (f) => f & ~CSUM_BITS });
    assert.equal(r.driver.checksumOffload, false);
    // A driver without CSUM never sets NEEDS_CSUM (sendWith ignores the request): write it
    // behind its back, as a buggy guest would.
    assert.ok(r.driver.sendWith(60, (b) => b.set(frameOf(60, 2)), partialChecksum(34, 6)));
    r.mem.u8[r.driver.txBufferAddr(0)] = 1; // NEEDS_CSUM
    r.mem.u8[r.driver.txBufferAddr(0) + 6] = 0xff; // csum_start 255: would not fit
    r.driver.flush();
    assert.equal(r.device.transmit(r.sink, 64).sent, 1);
    assert.deepEqual(r.sink.metas, [0]);
  });

  Deno.test(`GUEST_CSUM: NEEDS_CSUM reaches the driver; without it the device completes the sum ${tag(v)}`, () => {
    const frame = frameOf(200, 3);
    frame[40] = frame[41] = 0; // the checksum field, seedless
    const meta = partialChecksum(34, 6);
    // With GUEST_CSUM: the header says NEEDS_CSUM, the bytes are as sent, the driver trusts it.
    const r = rig(v, { csum: true });
    r.driver.fillRx();
    r.driver.flush();
    assert.equal(r.device.receive(frame.slice(), meta), "delivered");
    assert.equal(r.device.receive(frame.slice(), 0), "delivered");
    r.device.finish();
    const got: { f: Uint8Array; trusted: boolean }[] = [];
    r.driver.receive((f, trusted) => got.push({ f: f.slice(), trusted }), 8);
    assert.deepEqual(got.map((g) => g.trusted), [true, false]);
    assert.deepEqual(got[0].f, frame);
    assert.equal(readCounters(r.counters, NetCounter).rxCsumPartial, 1);
    // Without GUEST_CSUM: delivered complete, the header's flags 0.
    const s = rig(v, { csum: true, accept: (f) => f & ~(1n << BigInt(NetFeature.GUEST_CSUM)) });
    s.driver.fillRx();
    s.driver.flush();
    const copy = frame.slice();
    assert.equal(s.device.receive(copy, meta), "delivered");
    s.device.finish();
    const plain: { f: Uint8Array; trusted: boolean }[] = [];
    s.driver.receive((f, trusted) => plain.push({ f: f.slice(), trusted }), 8);
    assert.equal(plain.length, 1);
    assert.equal(plain[0].trusted, false);
    const expected = frame.slice();
    completeChecksum(expected, meta);
    assert.deepEqual(plain[0].f, expected);
    assert.notDeepEqual(plain[0].f.subarray(40, 42), frame.subarray(40, 42));
    const c = readCounters(s.counters, NetCounter);
    assert.deepEqual([c.rxCsumCompleted, c.rxCsumPartial], [1, 0]);
  });
}
