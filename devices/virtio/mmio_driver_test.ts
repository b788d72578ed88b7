/**
 * End-to-end tests of the MMIO transport: `initDevice` drives an `MmioDeviceTransport` through
 * an in-thread `RegisterPort`, then requests travel through the queues it set up. Split and
 * packed run the same suite.
 */
import assert from "node:assert/strict";
import { PageAllocator } from "../memory/allocator.ts";
import { DirectDma } from "../memory/dma.ts";
import { GuestMemory } from "../memory/memory.ts";
import { OK_VOID, type Result } from "../base/result.ts";
import type { DescriptorChain } from "./chain.ts";
import { Feature, Status } from "./constants.ts";
import type { ActivateContext, ActivateError, VirtioDeviceModel } from "./device_model.ts";
import { type FeatureSet, featureSet } from "./features.ts";
import { InterruptBit, layoutOf, MmioReg, RegFileWord, regFileWords } from "./mmio.ts";
import { MmioDeviceTransport } from "./mmio_device.ts";
import {
  ackInterrupt,
  type DriverInitOptions,
  formatDriverInitError,
  initDevice,
  readConfigStable,
  readInterruptStatus,
  type RegisterPort,
} from "./mmio_driver.ts";
import { reinitDevice } from "./mmio_reinit.ts";
import type { DeviceQueue, DriverQueue, Layout } from "./queue.ts";
import { SharedRingAccess } from "./ring_access.ts";
import { stateBytes } from "./state.ts";

const DEVICE_BIT = 5;
const UNSUPPORTED_DEVICE_BIT = 3;
const BASE_OFFER = [Feature.VERSION_1, Feature.EVENT_IDX, DEVICE_BIT, UNSUPPORTED_DEVICE_BIT];
const SUPPORTED = featureSet([
  Feature.VERSION_1,
  Feature.EVENT_IDX,
  Feature.RING_PACKED,
  Feature.INDIRECT_DESC,
  DEVICE_BIT,
]);

class FakeModel implements VirtioDeviceModel {
  readonly deviceId = 42;
  readonly queueCount = 2;
  readonly queueMaxSize = 64;
  readonly configSize = 8;
  readonly config = new Uint8Array(8);
  readonly activations: ActivateContext[] = [];
  resets = 0;
  constructor(readonly offered: FeatureSet) {}
  readConfig(offset: number, size: 1 | 2 | 4): number {
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (this.config[offset + i] ?? 0);
    return v;
  }
  activate(ctx: ActivateContext): Result<void, ActivateError> {
    this.activations.push(ctx);
    return OK_VOID;
  }
  reset(): void {
    this.resets++;
  }
}

function world(layout: Layout, offer: readonly number[] = BASE_OFFER) {
  const bits = layout === "packed" ? [...offer, Feature.RING_PACKED] : [...offer];
  const model = new FakeModel(featureSet(bits));
  const mem = GuestMemory.create(1 << 20);
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(model.queueCount) * 4));
  const states = new Map<number, Uint32Array>();
  const opts = {
    model,
    dma: new DirectDma(mem),
    ring: new SharedRingAccess(mem),
    regs,
    queueState: (q: number, l: Layout, size: number) => {
      const old = states.get(q);
      if (old && old.length === stateBytes(l, size) / 4) return old;
      const st = new Uint32Array(new SharedArrayBuffer(stateBytes(l, size)));
      states.set(q, st);
      return st;
    },
  };
  const w = {
    model,
    mem,
    regs,
    opts,
    t: new MmioDeviceTransport(opts),
    alloc: new PageAllocator(0x10000, 0x80000),
    buffers: new PageAllocator(0x90000, 0x10000),
  };
  /** Calls the current transport directly (a restore swaps it). */
  const port: RegisterPort = {
    read: (offset, size) => Promise.resolve(w.t.read(offset, size)),
    write: (offset, value, size) => Promise.resolve(w.t.write(offset, value, size)),
  };
  const init = (over: Partial<DriverInitOptions> = {}) =>
    initDevice(port, {
      deviceId: 42,
      supported: SUPPORTED,
      queues: [{ size: 48 }, { size: 256 }],
      mem,
      alloc: w.alloc,
      ring: new SharedRingAccess(mem),
      ...over,
    });
  return Object.assign(w, { port, init });
}

type World = ReturnType<typeof world>;

/** Driver: post a 4-byte request with a 16-byte reply buffer carrying `token`. */
function post(w: World, q: DriverQueue, token: number): number {
  const page = w.buffers.alloc(1);
  assert.ok(page.ok);
  w.mem.u8.set([token, 2, 3, 4], page.value);
  const r = q.add({ readable: [[page.value, 4]], writable: [[page.value + 64, 16]] }, token);
  assert.ok(r.ok);
  q.publish();
  return page.value;
}

/** Device: pop one chain, check its request, answer 8 bytes. */
function serve(w: World, dq: DeviceQueue, token: number): void {
  const r = dq.pop();
  assert.ok(r.ok && r.value !== null, "the device sees the request");
  complete(w, dq, r.value, token);
}

function complete(
  w: World,
  dq: DeviceQueue,
  chain: DescriptorChain,
  token: number,
): void {
  assert.equal(w.mem.u8[chain.readable[0].gpa], token);
  w.mem.u8.fill(0xaa, chain.writable[0].gpa, chain.writable[0].gpa + 8);
  assert.ok(dq.push(chain, 8).ok);
  dq.publish();
  if (dq.needsInterrupt()) w.t.signalUsed();
}

for (const layout of ["split", "packed"] as const) {
  Deno.test(`initDevice negotiates the intersection and sets up both queues [${layout}]`, async () => {
    const w = world(layout);
    const r = await w.init();
    if (!r.ok) assert.fail(formatDriverInitError(r.error));
    const expected = featureSet([Feature.VERSION_1, Feature.EVENT_IDX, DEVICE_BIT]) |
      (layout === "packed" ? 1n << BigInt(Feature.RING_PACKED) : 0n);
    assert.equal(r.value.negotiated, expected);
    assert.equal(r.value.layout, layout);
    assert.equal(layoutOf(w.t.statusMachine.negotiated), layout);
    // Requested 48 and 256 against QueueSizeMax 64: split rounds 48 down to 32.
    assert.deepEqual(r.value.queues.map((q) => q.size), layout === "split" ? [32, 64] : [48, 64]);
    assert.equal(
      w.t.read(MmioReg.STATUS),
      Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK | Status.DRIVER_OK,
    );
    assert.equal(w.model.activations.length, 1);
    assert.equal(w.model.activations[0].negotiated, expected);
    assert.deepEqual(w.t.queues.map((q) => q?.size), r.value.queues.map((q) => q.size));
    assert.equal(r.value.pages.length, 6);
  });

  Deno.test(`one request travels through each queue and raises a used interrupt [${layout}]`, async () => {
    const w = world(layout);
    const r = await w.init();
    if (!r.ok) assert.fail(formatDriverInitError(r.error));
    for (const [q, token] of [[0, 11], [1, 22]] as const) {
      const dq = w.t.queues[q]!;
      post(w, r.value.queues[q], token);
      serve(w, dq, token);
      const bits = readInterruptStatus(w.regs);
      assert.equal(bits & InterruptBit.USED, InterruptBit.USED);
      ackInterrupt(w.regs, bits);
      assert.equal(readInterruptStatus(w.regs), 0);
      const used = r.value.queues[q].getUsed();
      assert.ok(used.ok && used.value !== null);
      assert.deepEqual({ ...used.value }, { token, len: 8 });
      const again = r.value.queues[q].getUsed();
      assert.ok(again.ok && again.value === null);
    }
  });

  Deno.test(`restore after a crash completes the in-flight request exactly once [${layout}]`, async () => {
    const w = world(layout);
    const r = await w.init();
    if (!r.ok) assert.fail(formatDriverInitError(r.error));
    const dq = r.value.queues[0];
    post(w, dq, 7);
    const popped = w.t.queues[0]!.pop();
    assert.ok(popped.ok && popped.value !== null);
    post(w, dq, 8); // available but not yet popped when the worker dies

    // "Crash": drop the transport; a new worker restores from the same shared memory.
    const restored = MmioDeviceTransport.restore(w.opts);
    if (!restored.ok) assert.fail(`restore refused: ${JSON.stringify(restored.error)}`);
    w.t = restored.value;
    assert.ok(w.t.isLive());
    assert.equal(w.model.activations.length, 2, "the model is activated again");
    assert.equal(w.t.restoredInFlight[0].length, 1);
    assert.equal(w.t.restoredInFlight[1].length, 0);
    const q0 = w.t.queues[0]!;
    complete(w, q0, w.t.restoredInFlight[0][0], 7);
    serve(w, q0, 8);
    const none = q0.pop();
    assert.ok(none.ok && none.value === null, "nothing is delivered twice");

    const tokens: number[] = [];
    for (let i = 0; i < 4; i++) {
      const used = dq.getUsed();
      assert.ok(used.ok);
      if (used.value === null) break;
      tokens.push(used.value.token);
    }
    assert.deepEqual(tokens, [7, 8]);
    // The driver keeps talking to the restored transport through the same port.
    assert.equal(await w.port.read(MmioReg.STATUS) & Status.DRIVER_OK, Status.DRIVER_OK);
  });

  Deno.test(`the driver re-initialises after DEVICE_NEEDS_RESET [${layout}]`, async () => {
    const w = world(layout);
    const first = await w.init();
    assert.ok(first.ok);
    w.t.markNeedsReset({ kind: "test" });
    assert.equal(readInterruptStatus(w.regs) & InterruptBit.CONFIG, InterruptBit.CONFIG);
    assert.ok((await w.port.read(MmioReg.STATUS) & Status.DEVICE_NEEDS_RESET) !== 0);
    for (const gpa of first.value.pages) w.alloc.free(gpa);
    const second = await w.init();
    if (!second.ok) assert.fail(formatDriverInitError(second.error));
    assert.equal(w.model.resets, 2, "initDevice resets before and after");
    assert.ok(w.t.isLive());
    post(w, second.value.queues[1], 5);
    serve(w, w.t.queues[1]!, 5);
  });
}

Deno.test("initDevice refuses a register block without the virtio magic", async () => {
  const w = world("split");
  const port: RegisterPort = {
    read: (o, s) => Promise.resolve(o === MmioReg.MAGIC_VALUE ? 0x12345678 : w.t.read(o, s)),
    write: (o, v, s) => Promise.resolve(w.t.write(o, v, s)),
  };
  const r = await initDevice(port, {
    deviceId: 42,
    supported: SUPPORTED,
    queues: [{ size: 8 }],
    mem: w.mem,
    alloc: w.alloc,
    ring: new SharedRingAccess(w.mem),
  });
  assert.ok(!r.ok && r.error.kind === "bad-magic" && r.error.value === 0x12345678);
  assert.equal(
    formatDriverInitError(r.error),
    "Cannot initialise the device: MagicValue is 0x12345678, not 0x74726976",
  );
});

Deno.test("initDevice refuses another device type without touching Status", async () => {
  const w = world("split");
  const r = await w.init({ deviceId: 1 });
  assert.ok(!r.ok);
  assert.deepEqual(r.error, { kind: "wrong-device", expected: 1, found: 42 });
  assert.equal(w.t.counters.resets, 0);
});

Deno.test("FEATURES_OK refused when the driver does not support VERSION_1: FAILED, no activation", async () => {
  const w = world("split");
  const free = w.alloc.freePages;
  const r = await w.init({ supported: featureSet([Feature.EVENT_IDX]) });
  assert.ok(!r.ok && r.error.kind === "features-refused");
  assert.equal(r.error.accepted, featureSet([Feature.EVENT_IDX]));
  assert.ok((w.t.read(MmioReg.STATUS) & Status.FAILED) !== 0);
  assert.equal(w.model.activations.length, 0);
  assert.equal(w.alloc.freePages, free);
  assert.match(formatDriverInitError(r.error), /^Cannot initialise the device: the device refused/);
});

Deno.test("a device without VERSION_1 is a legacy device the driver does not drive", async () => {
  const w = world("split", [Feature.EVENT_IDX]);
  const r = await w.init();
  assert.ok(!r.ok && r.error.kind === "legacy-device");
  assert.ok((w.t.read(MmioReg.STATUS) & Status.FAILED) !== 0);
});

Deno.test("QueueSizeMax 0 ends initialisation with FAILED and frees the pages taken", async () => {
  const w = world("split");
  const free = w.alloc.freePages;
  const r = await w.init({ queues: [{ size: 8 }, { size: 8 }, { size: 8 }] });
  assert.ok(!r.ok);
  assert.deepEqual(r.error, { kind: "queue-unavailable", queue: 2 });
  assert.ok((w.t.read(MmioReg.STATUS) & Status.FAILED) !== 0);
  assert.equal(w.t.read(MmioReg.STATUS) & Status.DRIVER_OK, 0);
  assert.equal(w.alloc.freePages, free);
  assert.equal(w.model.activations.length, 0);
});

Deno.test("a queue address the device refuses makes QueueReady read 0 and initDevice fail", async () => {
  for (const [what, shift] of [["misaligned", 8], ["out of range", 0x4000_0000]] as const) {
    const w = world("split");
    const port: RegisterPort = {
      read: (o, s) => Promise.resolve(w.t.read(o, s)),
      // A faulty bus that corrupts the descriptor address of queue 1.
      write: (o, v, s) => {
        const sel = w.regs[RegFileWord.QUEUE_SEL];
        return Promise.resolve(
          w.t.write(o, o === MmioReg.QUEUE_DESC_LOW && sel === 1 ? v + shift : v, s),
        );
      },
    };
    const r = await initDevice(port, {
      deviceId: 42,
      supported: SUPPORTED,
      queues: [{ size: 8 }, { size: 8 }],
      mem: w.mem,
      alloc: w.alloc,
      ring: new SharedRingAccess(w.mem),
    });
    assert.ok(!r.ok, what);
    assert.deepEqual(r.error, { kind: "queue-refused", queue: 1 }, what);
    assert.equal(w.t.counters.refusedQueueConfigs, 1, what);
  }
});

Deno.test("indirect tables are allocated when INDIRECT_DESC is negotiated", async () => {
  const w = world("split", [...BASE_OFFER, Feature.INDIRECT_DESC]);
  const r = await w.init({ indirectEntries: 4 });
  if (!r.ok) assert.fail(formatDriverInitError(r.error));
  assert.equal(r.value.pages.length, 8);
});

Deno.test("readConfigStable reads again when the generation changes during a read (virtio 2.5)", async () => {
  const w = world("split");
  assert.ok((await w.init()).ok);
  let reads = 0;
  const r = await readConfigStable(w.port, async () => {
    reads++;
    const v = await w.port.read(MmioReg.CONFIG, 4);
    if (reads === 1) {
      w.model.config[0] = 9;
      w.t.signalConfigChange();
    }
    return v;
  });
  assert.ok(r.ok);
  assert.equal(reads, 2);
  assert.equal(r.value, 9);
  assert.equal(readInterruptStatus(w.regs) & InterruptBit.CONFIG, InterruptBit.CONFIG);

  const never = await readConfigStable(w.port, () => {
    w.t.signalConfigChange();
    return Promise.resolve(0);
  }, 3);
  assert.deepEqual(never, { ok: false, error: { kind: "config-unstable", attempts: 3 } });
});

/**
 * A port with posted writes, as the lab's mailbox: every access is queued; the device performs
 * the queue in order one event-loop turn later (one round trip), answering the reads.
 */
function postedPort(w: World) {
  const queue: {
    read: boolean;
    offset: number;
    value: number;
    size?: 1 | 2 | 4;
    done: (v: number) => void;
  }[] = [];
  const stats = { roundTrips: 0, reads: 0, writes: 0, servedAfterLastRead: 0 };
  let scheduled = false;
  const serve = () => {
    scheduled = false;
    const batch = queue.splice(0);
    let reads = 0;
    let sinceRead = 0;
    for (const a of batch) {
      if (a.read) {
        reads++;
        sinceRead = 0;
        a.done(w.t.read(a.offset, a.size));
      } else {
        sinceRead++;
        w.t.write(a.offset, a.value, a.size);
      }
    }
    if (reads > 0) stats.roundTrips++;
    stats.servedAfterLastRead = sinceRead;
  };
  const enqueue = (read: boolean, offset: number, value: number, size?: 1 | 2 | 4) =>
    new Promise<number>((resolve) => {
      queue.push({ read, offset, value, size, done: resolve });
      if (!scheduled) {
        scheduled = true;
        setTimeout(serve, 0);
      }
    });
  const port: RegisterPort = {
    read: (offset, size) => {
      stats.reads++;
      return enqueue(true, offset, 0, size);
    },
    write: (offset, value, size) => {
      stats.writes++;
      // Posted: it resolves at once, the device performs it later.
      void enqueue(false, offset, value, size);
      return Promise.resolve();
    },
  };
  return { port, stats, unserved: () => queue.length };
}

Deno.test("over posted writes, a bring-up pays one round trip per batch of reads and ends flushed", async () => {
  for (const layout of ["split", "packed"] as const) {
    const w = world(layout);
    const { port, stats, unserved } = postedPort(w);
    const opts: DriverInitOptions = {
      deviceId: 42,
      supported: SUPPORTED,
      queues: [{ size: 48 }, { size: 256 }],
      mem: w.mem,
      alloc: w.alloc,
      ring: new SharedRingAccess(w.mem),
    };
    const r = await initDevice(port, opts);
    if (!r.ok) assert.fail(formatDriverInitError(r.error));
    assert.equal(w.model.activations.length, 1, `${layout}: the device went live`);
    assert.ok(w.t.isLive());
    // Identity, reset read-back, features, FEATURES_OK with the queues' probe, QueueReady
    // read-back, DRIVER_OK read-back: the last access was a read, so every write took effect.
    assert.equal(stats.roundTrips, 6, layout);
    assert.equal(unserved(), 0);
    assert.equal(stats.servedAfterLastRead, 0, "nothing posted after the final read");
    assert.ok(stats.writes > 3 * stats.reads / 2, `${stats.writes} writes, ${stats.reads} reads`);

    const before = stats.roundTrips;
    const again = await reinitDevice(port, opts, r.value);
    if (!again.ok) assert.fail(formatDriverInitError(again.error));
    assert.equal(stats.roundTrips - before, 5, `${layout}: a reset's bring-up`);
    assert.equal(w.model.activations.length, 2);
    assert.equal(stats.servedAfterLastRead, 0);
  }
});

Deno.test("initDevice whose driver's CPU is gone (its section refused) sets up no queue and never settles", async () => {
  // Before, a crashed VM's guest went on with a bring-up or reset under way at the crash: its
  // rings written into memory its successor had taken.
  const w = world("split");
  let asked = 0;
  const free = w.alloc.freePages;
  let settled = false;
  void w.init({
    section: <T>(_fn: () => T, otherwise: T) => (asked++, otherwise),
  }).then(() => settled = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(settled, false);
  assert.equal(asked, 1);
  assert.equal(w.t.read(MmioReg.QUEUE_READY), 0);
  assert.equal(w.model.activations.length, 0);
  // Its pages were taken (the allocator is the dead guest's own), nothing was written in them.
  assert.ok(w.alloc.freePages < free);
  assert.ok(w.mem.u8.every((b) => b === 0));
});
