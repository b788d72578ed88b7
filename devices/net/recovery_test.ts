/**
 * Guest-side reset and re-initialisation, in process (issue 13): the real `MmioDeviceTransport`
 * and `NetDevice` on one side, `initDevice` and `NetDriver` on the other, and a pump that plays
 * the device worker. A corrupt ring, a device bug seen by the driver, or a lost kick caught by
 * the transmit watchdog each end in a reset after which traffic flows again; 100 cycles leave
 * the guest's page count where it was.
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { DirectDma } from "../memory/dma.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Status } from "../virtio/constants.ts";
import { injectGuestFault } from "../virtio/guest_faults.ts";
import {
  ackInterrupt,
  initDevice,
  type InitializedDevice,
  readInterruptStatus,
  type RegisterPort,
} from "../virtio/mmio_driver.ts";
import {
  dropNotifications,
  InterruptBit,
  kickQueue,
  MmioReg,
  notifyCount,
  queueConfigOf,
  regFileWords,
} from "../virtio/mmio.ts";
import { MmioDeviceTransport } from "../virtio/mmio_device.ts";
import { brokenQueue, readNeedsReset, reinitDevice } from "../virtio/mmio_reinit.ts";
import type { Layout } from "../virtio/queue.ts";
import { SharedRingAccess } from "../virtio/ring_access.ts";
import { createState } from "../virtio/state.ts";
import type { FrameSink } from "./device.ts";
import { NetDevice } from "./device.ts";
import { NetDriver } from "./driver.ts";
import { NET_COUNTER_COUNT, NET_DRIVER_COUNTER_COUNT, NetDriverCounter } from "./metrics.ts";
import { recoverNet } from "./recovery.ts";

const MEMORY = 4 << 20;

class Sink implements FrameSink {
  seqs: number[] = [];
  private readonly buf = new Uint8Array(2048);
  reserve(maxLen: number): Uint8Array {
    return this.buf.subarray(0, maxLen);
  }
  commit(len: number): void {
    if (len >= 18) this.seqs.push(new DataView(this.buf.buffer).getUint32(14, true));
  }
}

async function nic(layout: Layout) {
  const mem = GuestMemory.create(MEMORY);
  const ring = new SharedRingAccess(mem);
  const device = new NetDevice({
    memory: mem,
    mac: new Uint8Array([2, 0, 0, 0, 0, 1]),
    mtu: 1500,
    queueMaxSize: 8,
    linkUp: true,
    ring: { packed: layout === "packed", eventIdx: true, indirect: false, inOrder: false },
    mrgRxbuf: false,
    counters: new Float64Array(NET_COUNTER_COUNT),
  });
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const t = new MmioDeviceTransport({
    model: device,
    dma: new DirectDma(mem),
    ring,
    regs,
    queueState: (_q, l, size) => createState(l, size),
  });
  const port: RegisterPort = {
    read: (o, s) => Promise.resolve(t.read(o, s)),
    write: (o, v, s) => Promise.resolve(t.write(o, v, s)),
  };
  const alloc = new PageAllocator(0x10000, MEMORY - 0x10000);
  const opts = {
    deviceId: 1,
    supported: device.offered,
    queues: [{ size: 8 }, { size: 8 }],
    mem,
    alloc,
    ring,
  };
  const init = await initDevice(port, opts);
  assert.ok(init.ok);
  const clock = { now: 0 };
  const counters = new Float64Array(NET_DRIVER_COUNTER_COUNT);
  const driver = new NetDriver({
    mem,
    alloc,
    rx: init.value.queues[0],
    tx: init.value.queues[1],
    negotiated: init.value.negotiated,
    counters,
    txTimeoutMs: 1000,
    now: () => clock.now,
  });
  driver.fillRx();
  driver.flush();
  const sink = new Sink();
  let seq = 0;
  let served = 0;
  const w = {
    mem,
    regs,
    t,
    port,
    alloc,
    opts,
    device,
    driver,
    counters,
    clock,
    sink,
    dev: init.value as InitializedDevice,
    /** The device worker: transmit, deliver `inbound`, publish, raise; a fault → NEEDS_RESET. */
    pump(inbound: Uint8Array[] = []): void {
      if (!t.isLive() || device.fault !== null) return;
      // Serve the transmitq after a kick only, then re-enable kicks before sleeping (bounded).
      if (notifyCount(regs, 1) !== served) {
        served = notifyCount(regs, 1);
        for (let i = 0; i < 4 && device.fault === null; i++) {
          device.transmit(sink, 64);
          device.finish();
          const txq = t.queues[1];
          if (!txq || !txq.enableNotifications()) break;
        }
      }
      for (const f of inbound) device.receive(f);
      const irq = device.finish();
      if (irq.interruptRx) t.signalUsed(0);
      if (irq.interruptTx) t.signalUsed(1);
      if (device.fault !== null) t.markNeedsReset(device.fault);
    },
    /** One frame each way; returns what arrived (sequence numbers). */
    exchange(): { out: number | null; in: number | null } {
      const s = ++seq;
      const frame = new Uint8Array(60);
      new DataView(frame.buffer).setUint32(14, s, true);
      const before = sink.seqs.length;
      assert.ok(driver.send(frame), "a TX buffer is free");
      const k = driver.flush();
      if (k.kickTx) kickQueue(regs, 1);
      w.pump([frame]);
      driver.reclaimTx();
      let got: number | null = null;
      driver.receive((f) => {
        got = new DataView(f.buffer, f.byteOffset).getUint32(14, true);
      }, 8);
      driver.fillRx();
      driver.flush();
      return { out: sink.seqs.length > before ? sink.seqs[sink.seqs.length - 1] : null, in: got };
    },
    /** The guest's reset path. */
    async recover(): Promise<void> {
      const r = await recoverNet(port, { opts, previous: w.dev, driver });
      assert.ok(r.ok, r.ok ? "" : JSON.stringify(r.error));
      w.dev = r.value.device;
      ackInterrupt(regs, readInterruptStatus(regs));
    },
  };
  return w;
}

type Nic = Awaited<ReturnType<typeof nic>>;

function flows(w: Nic): void {
  for (let i = 0; i < 3; i++) {
    const r = w.exchange();
    assert.notEqual(r.out, null, "a frame went out");
    assert.equal(r.in, r.out, "the same frame came back in");
  }
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a corrupt ring ends in NEEDS_RESET, the driver resets and re-initialises, traffic flows again, 100 cycles hold no more pages [${layout}]`, async () => {
    const w = await nic(layout);
    flows(w);
    const pagesAfterInit = w.alloc.freePages;
    for (let cycle = 0; cycle < 100; cycle++) {
      const cfg = queueConfigOf(w.regs, 1, w.dev.negotiated);
      const f = injectGuestFault({
        config: cfg,
        ring: new SharedRingAccess(w.mem),
        memoryBytes: MEMORY,
      }, "head-out-of-range");
      assert.ok(f.ok);
      kickQueue(w.regs, 1); // the buggy driver kicks after publishing its bad chain
      w.pump();
      assert.equal(w.device.fault?.kind, "queue-broken", `cycle ${cycle}`);
      assert.ok((readInterruptStatus(w.regs) & InterruptBit.CONFIG) !== 0, "config interrupt");
      const cause = await readNeedsReset(w.port);
      assert.equal(cause?.kind, "needs-reset");
      await w.recover();
      assert.equal(await readNeedsReset(w.port), null);
      assert.equal(w.alloc.freePages, pagesAfterInit, `pages held after cycle ${cycle}`);
      flows(w);
    }
    assert.equal(w.t.counters.resets, 101, "one reset per cycle, plus the one at init");
  });

  Deno.test(`a device bug breaks a driver queue; the reset brings traffic back [${layout}]`, async () => {
    const w = await nic(layout);
    flows(w);
    // The device returns a TX id it never got: write a used entry by hand, as a buggy device.
    assert.ok(w.driver.send(new Uint8Array(60)));
    w.driver.flush(); // no kick: the device does not take it
    const cfg = queueConfigOf(w.regs, 1, w.dev.negotiated);
    const ring = new SharedRingAccess(w.mem);
    if (layout === "split") {
      const idx = ring.observe16(cfg.deviceAddr + 2);
      ring.store32(cfg.deviceAddr + 4 + 8 * (idx & 7), 7);
      ring.publish16(cfg.deviceAddr + 2, idx + 1);
    } else {
      // The next slot the device would use: where the driver's oldest buffer is.
      let slot = 0;
      while (slot < 8 && ((ring.load16(cfg.descAddr + 16 * slot + 14) >>> 7) & 1) === 1) slot++;
      slot = (slot + 7) % 8;
      ring.store16(cfg.descAddr + 16 * slot + 12, 7);
      ring.publish16(cfg.descAddr + 16 * slot + 14, 0x8080);
    }
    w.driver.reclaimTx();
    assert.equal(w.driver.fault?.kind, "queue-broken");
    assert.equal(w.counters[NetDriverCounter.deviceFaults], 1);
    assert.deepEqual(brokenQueue(w.dev), { kind: "queue-broken", queue: 1 });
    await w.recover();
    assert.equal(w.driver.fault, null);
    flows(w);
  });

  Deno.test(`a lost kick trips the transmit watchdog; the reset brings traffic back [${layout}]`, async () => {
    const w = await nic(layout);
    flows(w);
    dropNotifications(w.regs, 1, { kicks: 1, interrupts: 0 });
    w.clock.now = 10_000;
    const r = w.exchange();
    assert.equal(r.out, null, "the frame stays in the ring");
    w.clock.now = 10_999;
    assert.equal(w.driver.checkTxTimeout(), null);
    w.clock.now = 11_000;
    assert.equal(w.driver.checkTxTimeout()?.kind, "tx-timeout");
    assert.equal(w.counters[NetDriverCounter.txTimeouts], 1);
    await w.recover();
    flows(w);
    assert.equal(w.driver.checkTxTimeout(), null);
    assert.equal(w.t.read(MmioReg.STATUS) & Status.DRIVER_OK, Status.DRIVER_OK);
  });
}

Deno.test("reinitDevice keeps the old pages when the device never reads back 0", async () => {
  const w = await nic("split");
  const free = w.alloc.freePages;
  const stuck: RegisterPort = {
    read: () => Promise.resolve(Status.DRIVER_OK),
    write: w.port.write,
  };
  const r = await reinitDevice(stuck, w.opts, w.dev, 4);
  assert.deepEqual(r, { ok: false, error: { kind: "reset-timeout", status: Status.DRIVER_OK } });
  assert.equal(w.alloc.freePages, free, "pages the device may still write are not freed");
});

Deno.test("the net driver refuses to reattach to queues of another size", async () => {
  const w = await nic("split");
  const small = await initDevice(w.port, { ...w.opts, queues: [{ size: 4 }, { size: 4 }] });
  assert.ok(small.ok);
  const [rx, tx] = small.value.queues;
  assert.deepEqual(w.driver.reattach(rx, tx), {
    ok: false,
    error: { kind: "queue-size-changed", rx: 4, tx: 4, expectedRx: 8, expectedTx: 8 },
  });
});

for (const layout of ["split", "packed"] as const) {
  Deno.test(`frames received in the pass that meets a receiveq bug reach the driver, not only the device's count [${layout}]`, async () => {
    const w = await nic(layout);
    const frame = (s: number) => {
      const f = new Uint8Array(60);
      new DataView(f.buffer).setUint32(14, s, true);
      return f;
    };
    // Three frames in and received, their buffers not posted again: three descriptors free.
    w.pump([frame(1), frame(2), frame(3)]);
    assert.equal(w.driver.receive(() => {}, 8), 3);
    const cfg = queueConfigOf(w.regs, 0, w.dev.negotiated);
    const f = injectGuestFault(
      { config: cfg, ring: new SharedRingAccess(w.mem), memoryBytes: MEMORY },
      "head-out-of-range",
    );
    assert.ok(f.ok, f.ok ? "" : JSON.stringify(f.error));
    // One pass: the five buffers posted before the bug take five frames, then the bug.
    w.pump([4, 5, 6, 7, 8, 9, 10].map(frame));
    assert.equal(w.device.fault?.kind, "queue-broken");
    const seqs: number[] = [];
    w.driver.receive((b) => seqs.push(new DataView(b.buffer, b.byteOffset).getUint32(14, true)), 8);
    assert.deepEqual(seqs, [4, 5, 6, 7, 8], "the frames the device counted as received");
    await w.recover();
    flows(w);
  });
}
