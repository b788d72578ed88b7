/**
 * The transmit watchdog (Linux's ndo_tx_timeout, issue 13): a real NetDevice serves the
 * transmitq only when kicked through the register file, as the device worker does, and a lost
 * kick (`dropNotifications`) stalls it. The clock is injected.
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { GuestMemory } from "../memory/memory.ts";
import { dropNotifications, kickQueue, notifyCount, regFileWords } from "../virtio/mmio.ts";
import { createQueuePair } from "../virtio/pair.ts";
import type { Layout } from "../virtio/queue.ts";
import type { FrameSink } from "./device.ts";
import { NetDevice } from "./device.ts";
import { NetDriver } from "./driver.ts";
import { formatNetFault } from "./errors.ts";
import { NET_COUNTER_COUNT, NET_DRIVER_COUNTER_COUNT, NetDriverCounter } from "./metrics.ts";
import { DEFAULT_TX_TIMEOUT_MS, TxWatchdog } from "./tx_watchdog.ts";

class Sink implements FrameSink {
  frames = 0;
  private readonly buf = new Uint8Array(2048);
  reserve(maxLen: number): Uint8Array {
    return this.buf.subarray(0, maxLen);
  }
  commit(): void {
    this.frames++;
  }
}

function rig(layout: Layout, txTimeoutMs?: number, onTxRoom?: () => void) {
  const mem = GuestMemory.create(4 << 20);
  const q = (base: number) => {
    const r = createQueuePair(mem, {
      layout,
      size: 8,
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
  assert.ok(device.activate({ negotiated: device.offered, queues: [rx.device, tx.device] }).ok);
  const clock = { now: 0 };
  const counters = new Float64Array(NET_DRIVER_COUNTER_COUNT);
  const driver = new NetDriver({
    mem,
    alloc: new PageAllocator(0x10000, (4 << 20) - 0x10000),
    rx: rx.driver,
    tx: tx.driver,
    negotiated: device.offered,
    counters,
    txTimeoutMs,
    now: () => clock.now,
    onTxRoom,
  });
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const sink = new Sink();
  let served = 0;
  return {
    regs,
    driver,
    counters,
    clock,
    sink,
    /** Guest: queue one frame and kick the transmitq if the device asks for it. */
    send(): void {
      assert.ok(this.trySend());
    },
    /** Guest: like `send`, false when no TX buffer is free. */
    trySend(): boolean {
      const sent = driver.send(new Uint8Array(60).fill(7));
      if (driver.flush().kickTx) kickQueue(regs, 1);
      return sent;
    },
    /** Device worker: serve the transmitq only after a kick it has not served yet. */
    serve(): void {
      const kicks = notifyCount(regs, 1);
      if (kicks === served) return;
      served = kicks;
      // Run, then re-enable kicks before sleeping (the worker's prepareSleep), bounded.
      for (let i = 0; i < 4; i++) {
        device.transmit(sink, 64);
        device.finish();
        if (!tx.device.enableNotifications()) break;
      }
    },
  };
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`the transmit watchdog fires after a lost kick, at the timeout and not before [${layout}]`, () => {
    const r = rig(layout, 1000);
    r.clock.now = 50_000; // the timer starts when the queue becomes busy, not at creation
    dropNotifications(r.regs, 1, { kicks: 1, interrupts: 0 });
    r.send();
    r.serve();
    assert.equal(r.sink.frames, 0, "the lost kick left the frame in the ring");
    r.clock.now = 50_999;
    assert.equal(r.driver.checkTxTimeout(), null);
    assert.equal(r.counters[NetDriverCounter.txTimeouts], 0);
    r.clock.now = 51_000;
    const fault = r.driver.checkTxTimeout();
    assert.deepEqual(fault, { kind: "tx-timeout", inFlight: 1, idleMs: 1000 });
    assert.equal(
      formatNetFault(fault!),
      "Cannot transmit: 1 buffers outstanding and none returned for 1000 ms",
    );
    assert.equal(r.counters[NetDriverCounter.txTimeouts], 1);
    assert.equal(r.counters[NetDriverCounter.deviceFaults], 0);
    r.clock.now = 60_000;
    r.driver.checkTxTimeout();
    assert.equal(r.counters[NetDriverCounter.txTimeouts], 1, "counted once");
  });

  Deno.test(`restartTxWatchdog starts the wait over, as a carrier coming back does [${layout}]`, () => {
    const r = rig(layout, 1000);
    r.clock.now = 10_000;
    dropNotifications(r.regs, 1, { kicks: 1, interrupts: 0 });
    r.send();
    r.serve();
    // Outstanding for 5 s while the link was down (the guest checks only while it is up).
    r.clock.now = 15_000;
    r.driver.restartTxWatchdog();
    assert.equal(r.driver.txTimeoutDueMs(), 1000, "a whole timeout from the restart");
    r.clock.now = 15_999;
    assert.equal(r.driver.checkTxTimeout(), null, "not at once for the time spent down");
    r.clock.now = 16_000;
    assert.deepEqual(r.driver.checkTxTimeout(), { kind: "tx-timeout", inFlight: 1, idleMs: 1000 });
  });

  Deno.test(`the transmit watchdog never fires while traffic flows or the queue is idle [${layout}]`, () => {
    const r = rig(layout); // default 5 s
    for (let i = 0; i < 200; i++) {
      r.clock.now += 4_000;
      r.send();
      r.serve();
      assert.equal(r.driver.checkTxTimeout(), null, `round ${i}`);
    }
    assert.equal(r.sink.frames, 200);
    r.clock.now += 3_600_000; // an hour with nothing outstanding
    assert.equal(r.driver.checkTxTimeout(), null);
    r.send(); // busy again after the long idle: a fresh timer
    r.clock.now += DEFAULT_TX_TIMEOUT_MS - 1;
    assert.equal(r.driver.checkTxTimeout(), null);
    assert.equal(r.counters[NetDriverCounter.txTimeouts], 0);
  });
}

Deno.test("the transmit watchdog refuses a timeout that is not positive", () => {
  for (const timeoutMs of [0, -1, NaN, Infinity]) {
    assert.throws(() => new TxWatchdog({ timeoutMs }), RangeError, String(timeoutMs));
  }
});

for (const layout of ["split", "packed"] as const) {
  Deno.test(`a frozen transmitq whose bug the device never meets is reset by the watchdog [${layout}]`, () => {
    const r = rig(layout, 1000);
    r.clock.now = 50_000;
    r.driver.freeze("transmitq"); // a guest bug whose kick was lost: nothing else is in flight
    assert.equal(r.driver.txTimeoutDueMs(), 1000, "the bug counts as a buffer in flight");
    r.clock.now = 50_999;
    assert.equal(r.driver.checkTxTimeout(), null);
    r.clock.now = 51_000;
    assert.deepEqual(r.driver.checkTxTimeout(), { kind: "tx-timeout", inFlight: 1, idleMs: 1000 });
  });

  Deno.test(`every reclaim announces room, the watchdog's too [${layout}]`, () => {
    // A sender that found the ring full waits for room. Once buffers are back the driver stops
    // asking for transmitq interrupts, so a reclaim the sender does not hear of (the watchdog's,
    // between two passes) would leave it waiting for nothing.
    let announced = 0;
    const r = rig(layout, undefined, () => announced++);
    let sent = 0;
    while (r.trySend()) sent++;
    assert.equal(sent, 8, "the ring holds eight frames");
    r.serve();
    assert.equal(r.sink.frames, 8);
    assert.equal(announced, 0, "nothing reclaimed yet");
    assert.equal(r.driver.checkTxTimeout(), null);
    assert.equal(announced, 1, "the watchdog's reclaim announced room");
    assert.equal(r.counters[NetDriverCounter.txReclaimed], 8);
    assert.equal(r.driver.checkTxTimeout(), null);
    assert.equal(announced, 1, "nothing came back the second time: nothing announced");
    assert.ok(r.trySend());
    r.serve();
    assert.ok(r.driver.reclaimTx() === 1);
    assert.equal(announced, 2, "the guest's own pass announces too");
  });
}
