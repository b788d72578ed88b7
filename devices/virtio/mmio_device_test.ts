/**
 * Register-level tests of `MmioDeviceTransport`: every access is written by hand, the way a
 * driver (or a hostile guest) would, and the outcome is read back from registers, counters and
 * the fake model.
 */
import assert from "node:assert/strict";
import { DirectDma } from "../memory/dma.ts";
import { GuestMemory } from "../memory/memory.ts";
import { Prng } from "../base/prng.ts";
import { err, OK_VOID, type Result } from "../base/result.ts";
import { Feature, Status } from "./constants.ts";
import type { ActivateContext, ActivateError, VirtioDeviceModel } from "./device_model.ts";
import { type FeatureSet, featureSet, featureWord } from "./features.ts";
import {
  InterruptBit,
  kickQueue,
  MMIO_MAGIC,
  MmioReg,
  notifyCount,
  QueueWord,
  queueWord,
  RegFileWord,
  regFileWords,
  VLAB_VENDOR_ID,
} from "./mmio.ts";
import { MmioDeviceTransport } from "./mmio_device.ts";
import type { Layout } from "./queue.ts";
import { SharedRingAccess } from "./ring_access.ts";
import { stateBytes, StateWord } from "./state.ts";

const DEVICE_BIT = 5;
const OFFERED = featureSet([Feature.VERSION_1, Feature.EVENT_IDX, DEVICE_BIT]);
const ACK_DRIVER = Status.ACKNOWLEDGE | Status.DRIVER;

class FakeModel implements VirtioDeviceModel {
  readonly deviceId = 42;
  readonly queueCount = 2;
  readonly queueMaxSize = 64;
  readonly configSize = 8;
  readonly config = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  readonly activations: ActivateContext[] = [];
  resets = 0;
  constructor(readonly offered: FeatureSet = OFFERED, readonly needsQueue1 = false) {}
  readConfig(offset: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (this.config[offset + i] ?? 0);
    return v;
  }
  activate(ctx: ActivateContext): Result<void, ActivateError> {
    this.activations.push(ctx);
    if (this.needsQueue1 && !ctx.queues[1]) return err({ kind: "missing-queue", queue: 1 });
    return OK_VOID;
  }
  reset(): void {
    this.resets++;
  }
}

function world(model = new FakeModel()) {
  const mem = GuestMemory.create(1 << 20);
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(model.queueCount) * 4));
  const states = new Map<number, Uint32Array>();
  const opts = {
    model,
    dma: new DirectDma(mem),
    ring: new SharedRingAccess(mem),
    regs,
    queueState: (q: number, layout: Layout, size: number) => {
      const old = states.get(q);
      if (old && old.length === stateBytes(layout, size) / 4) return old;
      const st = new Uint32Array(new SharedArrayBuffer(stateBytes(layout, size)));
      states.set(q, st);
      return st;
    },
  };
  return { mem, regs, model, states, opts, t: new MmioDeviceTransport(opts) };
}

type T = MmioDeviceTransport;

/** Negotiate `OFFERED` (the driver accepts everything offered). */
function negotiate(t: T, accepted: FeatureSet = OFFERED): void {
  t.write(MmioReg.STATUS, Status.ACKNOWLEDGE);
  t.write(MmioReg.STATUS, ACK_DRIVER);
  for (const sel of [0, 1]) {
    t.write(MmioReg.DRIVER_FEATURES_SEL, sel);
    t.write(MmioReg.DRIVER_FEATURES, featureWord(accepted, sel));
  }
  t.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK);
}

/** Program queue `q` (split, size 8) at page `base` and write QueueReady=1; returns its read-back. */
function program(t: T, q: number, base: number, size = 8): number {
  t.write(MmioReg.QUEUE_SEL, q);
  t.write(MmioReg.QUEUE_SIZE, size);
  t.write(MmioReg.QUEUE_DESC_LOW, base);
  t.write(MmioReg.QUEUE_DESC_HIGH, 0);
  t.write(MmioReg.QUEUE_DRIVER_LOW, base + 0x1000);
  t.write(MmioReg.QUEUE_DEVICE_LOW, base + 0x2000);
  t.write(MmioReg.QUEUE_READY, 1);
  return t.read(MmioReg.QUEUE_READY);
}

function goLive(t: T): void {
  negotiate(t);
  assert.equal(program(t, 0, 0x10000), 1);
  assert.equal(program(t, 1, 0x20000), 1);
  t.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
}

Deno.test("identification registers read the spec values (virtio 4.2.2)", () => {
  const { t } = world();
  assert.equal(t.read(MmioReg.MAGIC_VALUE), MMIO_MAGIC);
  assert.equal(t.read(MmioReg.VERSION), 2);
  assert.equal(t.read(MmioReg.DEVICE_ID), 42);
  assert.equal(t.read(MmioReg.VENDOR_ID), VLAB_VENDOR_ID);
  t.write(MmioReg.DEVICE_FEATURES_SEL, 1);
  assert.equal(t.read(MmioReg.DEVICE_FEATURES), 1); // VERSION_1 is bit 32
  t.write(MmioReg.DEVICE_FEATURES_SEL, 0);
  assert.equal(t.read(MmioReg.DEVICE_FEATURES), (1 << Feature.EVENT_IDX) | (1 << DEVICE_BIT));
  t.write(MmioReg.DEVICE_FEATURES_SEL, 7);
  assert.equal(t.read(MmioReg.DEVICE_FEATURES), 0);
});

Deno.test("QueueSizeMax is the model's for existing queues and 0 past them", () => {
  const { t } = world();
  t.write(MmioReg.QUEUE_SEL, 1);
  assert.equal(t.read(MmioReg.QUEUE_SIZE_MAX), 64);
  t.write(MmioReg.QUEUE_SEL, 2);
  assert.equal(t.read(MmioReg.QUEUE_SIZE_MAX), 0);
  assert.equal(t.read(MmioReg.QUEUE_READY), 0);
});

Deno.test("write-only registers read 0; unknown offsets and sub-word control accesses are counted", () => {
  const { t } = world();
  t.write(MmioReg.QUEUE_SEL, 1);
  assert.equal(t.read(MmioReg.QUEUE_SEL), 0);
  assert.equal(t.counters.invalidAccesses, 0);
  assert.equal(t.read(0x018), 0);
  t.write(0x0f0, 5);
  assert.equal(t.read(MmioReg.MAGIC_VALUE, 2), 0);
  assert.equal(t.read(MmioReg.MAGIC_VALUE + 1, 1), 0);
  t.write(MmioReg.STATUS, 1, 1);
  assert.equal(t.read(MmioReg.STATUS), 0);
  assert.equal(t.counters.invalidAccesses, 5);
});

Deno.test("config space reads little-endian at 8, 16 and 32 bits; out of range reads 0", () => {
  const { t } = world();
  assert.equal(t.read(MmioReg.CONFIG + 1, 1), 2);
  assert.equal(t.read(MmioReg.CONFIG + 2, 2), 0x0403);
  assert.equal(t.read(MmioReg.CONFIG + 4, 4), 0x08070605);
  assert.equal(t.counters.invalidAccesses, 0);
  assert.equal(t.read(MmioReg.CONFIG + 8, 1), 0);
  assert.equal(t.read(MmioReg.CONFIG + 6, 4), 0);
  assert.equal(t.read(MmioReg.CONFIG + 1, 2), 0); // misaligned
  assert.equal(t.counters.invalidAccesses, 3);
  t.write(MmioReg.CONFIG, 9, 1);
  assert.equal(t.read(MmioReg.CONFIG, 1), 1);
  assert.equal(t.counters.ignoredWrites, 1);
});

Deno.test("status bits cleared without a reset are ignored (virtio 2.1.2)", () => {
  const { t } = world();
  t.write(MmioReg.STATUS, ACK_DRIVER);
  t.write(MmioReg.STATUS, Status.ACKNOWLEDGE);
  assert.equal(t.read(MmioReg.STATUS), ACK_DRIVER);
  assert.equal(t.counters.ignoredWrites, 1);
});

Deno.test("FEATURES_OK is refused when the driver leaves VERSION_1 out (virtio 3.1.1)", () => {
  const { t } = world();
  negotiate(t, featureSet([Feature.EVENT_IDX]));
  assert.equal(t.read(MmioReg.STATUS), ACK_DRIVER);
  assert.equal(t.statusMachine.counters.refusedNegotiations, 1);
});

Deno.test("QueueReady reads 0 for a misaligned, out-of-range, oversized or early queue", () => {
  const { t, regs } = world();
  t.write(MmioReg.STATUS, ACK_DRIVER);
  assert.equal(program(t, 0, 0x10000), 0, "before FEATURES_OK");
  assert.equal(t.lastQueueRefusal?.kind, "features-not-ok");
  t.write(MmioReg.STATUS, 0);
  negotiate(t);
  const cases: Array<[string, () => number, string]> = [
    ["misaligned", () => program(t, 0, 0x10008), "misaligned"],
    ["out of range", () => program(t, 0, 0xff000), "area-unreachable"],
    ["above QueueSizeMax", () => program(t, 0, 0x10000, 128), "above-queue-size-max"],
    ["not a power of 2", () => program(t, 0, 0x10000, 12), "bad-size"],
  ];
  for (const [i, [what, run, kind]] of cases.entries()) {
    assert.equal(run(), 0, what);
    assert.equal(t.counters.refusedQueueConfigs, i + 2, what);
    assert.equal(t.lastQueueRefusal?.kind, kind, what);
    assert.equal(regs[queueWord(0, QueueWord.READY)], 0, what);
  }
  assert.equal(program(t, 0, 0x10000), 1);
});

Deno.test("queue registers are ignored while the queue is ready or QueueSel is out of range", () => {
  const { t, regs } = world();
  negotiate(t);
  assert.equal(program(t, 0, 0x10000), 1);
  const before = t.counters.ignoredWrites;
  t.write(MmioReg.QUEUE_SIZE, 4);
  t.write(MmioReg.QUEUE_DESC_LOW, 0x30000);
  assert.equal(regs[queueWord(0, QueueWord.SIZE)], 8);
  assert.equal(regs[queueWord(0, QueueWord.DESC_LO)], 0x10000);
  t.write(MmioReg.QUEUE_SEL, 5);
  t.write(MmioReg.QUEUE_SIZE, 4);
  t.write(MmioReg.QUEUE_READY, 1);
  assert.equal(t.counters.ignoredWrites - before, 4);
  t.write(MmioReg.QUEUE_SEL, 0);
  t.write(MmioReg.QUEUE_READY, 0); // the driver may stop a queue before DRIVER_OK
  assert.equal(t.read(MmioReg.QUEUE_READY), 0);
});

Deno.test("DRIVER_OK builds the ready queues and activates the model once", () => {
  const { t, model } = world();
  negotiate(t);
  assert.equal(program(t, 0, 0x10000), 1);
  t.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  assert.ok(t.isLive());
  assert.equal(model.activations.length, 1);
  assert.equal(model.activations[0].negotiated, OFFERED);
  assert.equal(model.activations[0].queues[0]?.size, 8);
  assert.equal(model.activations[0].queues[1], null);
  assert.equal(t.queues.length, 2);
  assert.equal(t.counters.activations, 1);
  t.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  assert.equal(model.activations.length, 1, "a repeated DRIVER_OK does not activate again");
  t.write(MmioReg.QUEUE_SEL, 1);
  assert.equal(program(t, 1, 0x20000), 0, "no queue starts after DRIVER_OK");
});

Deno.test("a model that refuses activation leaves the device needing a reset with a config interrupt", () => {
  const { t, regs } = world(new FakeModel(OFFERED, true));
  negotiate(t);
  program(t, 0, 0x10000);
  t.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  assert.equal(t.counters.failedActivations, 1);
  assert.ok((t.read(MmioReg.STATUS) & Status.DEVICE_NEEDS_RESET) !== 0);
  assert.equal(regs[RegFileWord.STATUS] & Status.DEVICE_NEEDS_RESET, Status.DEVICE_NEEDS_RESET);
  assert.equal(t.read(MmioReg.INTERRUPT_STATUS), InterruptBit.CONFIG);
  assert.equal(t.queues.length, 0);
});

Deno.test("markNeedsReset sets the bit, drops the queues and raises CONFIG only after DRIVER_OK", () => {
  const early = world().t;
  early.markNeedsReset({ kind: "test" });
  assert.equal(early.read(MmioReg.STATUS), Status.DEVICE_NEEDS_RESET);
  assert.equal(early.read(MmioReg.INTERRUPT_STATUS), 0);

  const raised: number[] = [];
  const w = world();
  const t = new MmioDeviceTransport({ ...w.opts, onInterrupt: (bits) => raised.push(bits) });
  goLive(t);
  assert.equal(t.queues.length, 2);
  t.markNeedsReset({ kind: "head-out-of-range" });
  assert.ok((t.read(MmioReg.STATUS) & Status.DEVICE_NEEDS_RESET) !== 0);
  assert.equal(t.read(MmioReg.INTERRUPT_STATUS), InterruptBit.CONFIG);
  assert.deepEqual(raised, [InterruptBit.CONFIG]);
  assert.equal(t.isLive(), false);
  assert.equal(t.queues.length, 0);
  assert.equal(t.statusMachine.needsResetReason?.kind, "head-out-of-range");
});

Deno.test("signalUsed and signalConfigChange raise nothing before DRIVER_OK", () => {
  const { t } = world();
  t.signalUsed();
  t.signalConfigChange();
  assert.equal(t.read(MmioReg.INTERRUPT_STATUS), 0);
  assert.equal(t.read(MmioReg.CONFIG_GENERATION), 1);
  goLive(t);
  t.signalUsed();
  assert.equal(t.read(MmioReg.INTERRUPT_STATUS), InterruptBit.USED);
  t.signalConfigChange();
  assert.equal(t.read(MmioReg.CONFIG_GENERATION), 2);
  assert.equal(t.read(MmioReg.INTERRUPT_STATUS), InterruptBit.USED | InterruptBit.CONFIG);
  t.write(MmioReg.INTERRUPT_ACK, InterruptBit.USED);
  assert.equal(t.read(MmioReg.INTERRUPT_STATUS), InterruptBit.CONFIG);
});

Deno.test("QueueNotify counts a kick per existing queue; the fast path adds to the same count", () => {
  const { t, regs } = world();
  goLive(t);
  t.write(MmioReg.QUEUE_NOTIFY, 1);
  t.write(MmioReg.QUEUE_NOTIFY, 1);
  kickQueue(regs, 1);
  t.write(MmioReg.QUEUE_NOTIFY, 9);
  assert.equal(notifyCount(regs, 1), 3);
  assert.equal(notifyCount(regs, 0), 0);
  assert.equal(t.counters.kicks, 2);
  assert.equal(t.counters.ignoredWrites, 1);
});

Deno.test("Status 0 resets queues, features and interrupts and calls model.reset", () => {
  const { t, regs, model } = world();
  goLive(t);
  t.write(MmioReg.QUEUE_NOTIFY, 0);
  t.signalUsed();
  t.write(MmioReg.STATUS, 0);
  assert.equal(t.read(MmioReg.STATUS), 0);
  assert.equal(model.resets, 1);
  assert.equal(t.counters.resets, 1);
  assert.equal(t.queues.length, 0);
  assert.equal(t.read(MmioReg.INTERRUPT_STATUS), 0);
  for (const q of [0, 1]) {
    t.write(MmioReg.QUEUE_SEL, q);
    assert.equal(t.read(MmioReg.QUEUE_READY), 0);
    assert.equal(regs[queueWord(q, QueueWord.SIZE)], 0);
    assert.equal(regs[queueWord(q, QueueWord.DESC_LO)], 0);
  }
  assert.equal(regs[RegFileWord.DRIVER_FEATURES_HI], 0);
  assert.equal(notifyCount(regs, 0), 1, "the kick counter keeps counting");
  goLive(t);
  assert.equal(model.activations.length, 2);
});

Deno.test("restore refuses a register file this transport could not have written", () => {
  const cases: Array<[string, (regs: Int32Array) => void, string]> = [
    ["magic", (r) => r[RegFileWord.MAGIC] = 0, "magic"],
    ["queue count", (r) => r[RegFileWord.QUEUE_COUNT] = 3, "queueCount"],
    ["status", (r) => r[RegFileWord.STATUS] = 0x100, "status"],
    ["DRIVER_OK alone", (r) => r[RegFileWord.STATUS] = Status.DRIVER_OK, "status"],
  ];
  for (const [what, corrupt, field] of cases) {
    const w = world();
    corrupt(w.regs);
    const r = MmioDeviceTransport.restore(w.opts);
    assert.ok(!r.ok && r.error.kind === "reg-file-header" && r.error.field === field, what);
  }
  const w = world();
  negotiate(w.t);
  w.regs[RegFileWord.DRIVER_FEATURES_HI] = 0; // VERSION_1 lost
  const r = MmioDeviceTransport.restore(w.opts);
  assert.ok(!r.ok && r.error.kind === "reg-file-features");
});

Deno.test("restore rebuilds status and features mid-negotiation without touching the model", () => {
  const { t, opts, model } = world();
  negotiate(t);
  program(t, 0, 0x10000);
  const r = MmioDeviceTransport.restore(opts);
  assert.ok(r.ok);
  const t2 = r.value;
  assert.equal(t2.read(MmioReg.STATUS), ACK_DRIVER | Status.FEATURES_OK);
  assert.equal(t2.statusMachine.negotiated, OFFERED);
  t2.write(MmioReg.QUEUE_SEL, 0);
  assert.equal(t2.read(MmioReg.QUEUE_READY), 1);
  assert.equal(program(t2, 1, 0x20000), 1);
  t2.write(MmioReg.STATUS, ACK_DRIVER | Status.FEATURES_OK | Status.DRIVER_OK);
  assert.equal(model.activations.length, 1);
  assert.equal(model.activations[0].queues.filter((q) => q !== null).length, 2);
});

Deno.test("restore finishes a reset cut short: no queue stays ready without FEATURES_OK", () => {
  const { t, opts, regs } = world();
  negotiate(t);
  program(t, 0, 0x10000);
  regs[RegFileWord.STATUS] = 0; // the worker died right after the first store of #reset
  const r = MmioDeviceTransport.restore(opts);
  assert.ok(r.ok);
  assert.equal(regs[queueWord(0, QueueWord.READY)], 0);
  assert.equal(r.value.read(MmioReg.STATUS), 0);
});

Deno.test("restore of a live device whose state record is corrupt sets DEVICE_NEEDS_RESET", () => {
  const { t, opts, states, model } = world();
  goLive(t);
  states.get(1)![StateWord.MAGIC] = 0;
  const r = MmioDeviceTransport.restore(opts);
  assert.ok(r.ok);
  assert.ok((r.value.read(MmioReg.STATUS) & Status.DEVICE_NEEDS_RESET) !== 0);
  assert.equal(r.value.statusMachine.needsResetReason?.kind, "queue-restore-failed");
  assert.ok((r.value.read(MmioReg.INTERRUPT_STATUS) & InterruptBit.CONFIG) !== 0);
  assert.equal(model.activations.length, 1, "the model is not activated over a broken queue");
});

Deno.test("random register traffic never throws and keeps the status a u8", () => {
  const seed = 20240611;
  const rng = Prng.fromSeed(seed);
  const { t, regs } = world();
  const sizes = [1, 2, 4, 3, 8] as const;
  for (let i = 0; i < 5000; i++) {
    const offset = rng.chance(0.8) ? 4 * rng.below(0x48) : rng.below(0x200) - 8;
    const size = sizes[rng.below(sizes.length)] as 1 | 2 | 4;
    const value = rng.chance(0.1) ? rng.float() * 2 ** 40 - 2 ** 33 : rng.below(0x100000);
    try {
      if (rng.chance(0.5)) t.read(offset, size);
      else t.write(offset, rng.chance(0.3) ? rng.below(0x100) : value, size);
    } catch (e) {
      assert.fail(`seed ${seed}, step ${i}: access at ${offset} threw ${e}`);
    }
    const status = regs[RegFileWord.STATUS];
    assert.ok(status >= 0 && status <= 0xff, `seed ${seed}, step ${i}: status ${status}`);
  }
  assert.ok(t.counters.invalidAccesses > 0);
});
