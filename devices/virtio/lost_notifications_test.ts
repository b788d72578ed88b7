/**
 * Lost notifications (issue 13): the register file's per-queue "drop the next N kicks" and "drop
 * the next N used-buffer interrupts" words, consulted by both kick paths and by `signalUsed`.
 */
import assert from "node:assert/strict";
import { DirectDma } from "../memory/dma.ts";
import { GuestMemory } from "../memory/memory.ts";
import { OK_VOID } from "../base/result.ts";
import { Status } from "./constants.ts";
import type { VirtioDeviceModel } from "./device_model.ts";
import {
  armDrops,
  consumeDrop,
  dropNotifications,
  droppedNotifications,
  InterruptBit,
  kickQueue,
  MmioReg,
  notifyCount,
  RegFileWord,
  regFileWords,
} from "./mmio.ts";
import { MmioDeviceTransport } from "./mmio_device.ts";
import { createState } from "./state.ts";
import { SharedRingAccess } from "./ring_access.ts";

function liveTransport() {
  const mem = GuestMemory.create(1 << 16);
  const model: VirtioDeviceModel = {
    deviceId: 1,
    queueCount: 2,
    queueMaxSize: 8,
    offered: 1n << 32n,
    configSize: 0,
    readConfig: () => 0,
    activate: () => OK_VOID,
    reset: () => {},
  };
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  const t = new MmioDeviceTransport({
    model,
    dma: new DirectDma(mem),
    ring: new SharedRingAccess(mem),
    regs,
    queueState: (_q, layout, size) => createState(layout, size),
  });
  const ok = Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK;
  t.write(MmioReg.STATUS, Status.ACKNOWLEDGE | Status.DRIVER);
  t.write(MmioReg.DRIVER_FEATURES_SEL, 1);
  t.write(MmioReg.DRIVER_FEATURES, 1);
  t.write(MmioReg.STATUS, ok);
  t.write(MmioReg.STATUS, ok | Status.DRIVER_OK);
  assert.ok(t.isLive());
  return { t, regs };
}

Deno.test("drops the next N kicks of a queue on both kick paths and counts them", () => {
  const { t, regs } = liveTransport();
  dropNotifications(regs, 1, { kicks: 3, interrupts: 0 });
  kickQueue(regs, 1);
  t.write(MmioReg.QUEUE_NOTIFY, 1);
  kickQueue(regs, 0); // another queue: not affected
  assert.equal(notifyCount(regs, 1), 0, "two kicks lost");
  assert.equal(notifyCount(regs, 0), 1);
  assert.equal(kickQueue(regs, 1), -1, "the third kick is lost too");
  assert.equal(kickQueue(regs, 1), 1, "the fourth arrives");
  t.write(MmioReg.QUEUE_NOTIFY, 1);
  assert.equal(notifyCount(regs, 1), 2);
  assert.deepEqual(droppedNotifications(regs, 1), {
    kicks: 3,
    interrupts: 0,
    armedKicks: 0,
    armedInterrupts: 0,
  });
  assert.equal(droppedNotifications(regs, 0).kicks, 0);
  assert.equal(t.counters.kicks, 1, "a lost trapped kick is not a kick the device saw");
});

Deno.test("drops the next N used-buffer interrupts of a queue and counts them", () => {
  const raised: number[] = [];
  const { t, regs } = liveTransport();
  dropNotifications(regs, 0, { kicks: 0, interrupts: 2 });
  assert.equal(t.signalUsed(0), false);
  assert.equal(Atomics.load(regs, RegFileWord.INTERRUPT_STATUS), 0, "first interrupt lost");
  assert.equal(t.signalUsed(1), true, "another queue is not affected");
  raised.push(Atomics.load(regs, RegFileWord.INTERRUPT_STATUS));
  t.write(MmioReg.INTERRUPT_ACK, InterruptBit.USED);
  assert.equal(t.signalUsed(), true, "an interrupt for no queue consumes nothing");
  t.write(MmioReg.INTERRUPT_ACK, InterruptBit.USED);
  assert.equal(t.signalUsed(0), false);
  assert.equal(Atomics.load(regs, RegFileWord.INTERRUPT_STATUS), 0, "second interrupt lost");
  assert.equal(t.signalUsed(0), true, "the third arrives");
  raised.push(Atomics.load(regs, RegFileWord.INTERRUPT_STATUS));
  assert.deepEqual(raised, [InterruptBit.USED, InterruptBit.USED]);
  assert.deepEqual(droppedNotifications(regs, 0), {
    kicks: 0,
    interrupts: 2,
    armedKicks: 0,
    armedInterrupts: 0,
  });
  assert.equal(droppedNotifications(regs, 1).interrupts, 0);
});

Deno.test("a device reset keeps the armed lost-notification faults and their counts", () => {
  const { t, regs } = liveTransport();
  dropNotifications(regs, 1, { kicks: 2, interrupts: 5 });
  kickQueue(regs, 1);
  t.write(MmioReg.STATUS, 0);
  assert.deepEqual(droppedNotifications(regs, 1), {
    kicks: 1,
    interrupts: 0,
    armedKicks: 1,
    armedInterrupts: 5,
  });
  dropNotifications(regs, 1, { kicks: 0, interrupts: 0 });
  assert.equal(consumeDrop(regs, 1, "kick"), false, "0 disarms");
});

Deno.test("refuses a negative or fractional drop count", () => {
  const regs = new Int32Array(regFileWords(1));
  assert.throws(() => dropNotifications(regs, 0, { kicks: -1, interrupts: 0 }), RangeError);
  assert.throws(() => dropNotifications(regs, 0, { kicks: 0, interrupts: 1.5 }), RangeError);
});

Deno.test("armDrops adds to the armed drops of its kind only, up to 2^31 − 1", () => {
  const regs = new Int32Array(regFileWords(1));
  dropNotifications(regs, 0, { kicks: 3, interrupts: 0 });
  assert.equal(armDrops(regs, 0, "interrupt", 2), 2);
  assert.equal(armDrops(regs, 0, "kick", 1), 4);
  assert.deepEqual(droppedNotifications(regs, 0), {
    kicks: 0,
    interrupts: 0,
    armedKicks: 4,
    armedInterrupts: 2,
  });
  assert.throws(() => armDrops(regs, 0, "kick", 0), RangeError);
  assert.throws(() => armDrops(regs, 0, "kick", 0x7fff_ffff), RangeError);
  assert.equal(droppedNotifications(regs, 0).armedKicks, 4, "a refusal arms nothing");
});
