/**
 * What a script calling the virtqueue library gets for a bad queue layout, an out-of-order
 * completion under VIRTIO_F_IN_ORDER, and bad buffer values given to `DriverQueue.add`: a
 * refusal naming the bad value, never a queue of the other layout, a wrong used ring, or a
 * silently truncated descriptor.
 */
import assert from "node:assert/strict";
import { GuestMemory } from "../memory/memory.ts";
import { DirectDma } from "../memory/dma.ts";
import { createDeviceQueue, createDriverQueue, createQueuePair, type QueuePair } from "./pair.ts";
import type { ChainSpec, Layout, QueueConfig, RingFeatures } from "./queue.ts";
import { checkQueueConfig, prepareDriverRing } from "./setup.ts";
import { SharedRingAccess } from "./ring_access.ts";
import { createState, stateBytes } from "./state.ts";
import { SplitDeviceQueue } from "./split_device.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import { formatQueueError } from "./errors.ts";
import type { DescriptorChain } from "./chain.ts";

const MEM = 1 << 20;
const DATA = 0x40000;
const LAYOUTS: Layout[] = ["split", "packed"];

function config(layout: Layout, size: number, features: Partial<RingFeatures> = {}): QueueConfig {
  return {
    layout,
    size,
    descAddr: 0x1000,
    driverAddr: 0x20000,
    deviceAddr: layout === "packed" ? 0x20004 : 0x30000,
    features: { eventIdx: false, indirect: false, inOrder: false, ...features },
  };
}

/** The error of a refused result, or the string "accepted" (never the whole queue, which is huge to diff). */
function refusal(r: { ok: true } | { ok: false; error: unknown }): unknown {
  return r.ok ? "accepted" : r.error;
}

function pair(cfg: QueueConfig, mem = GuestMemory.create(MEM)): QueuePair {
  const r = createQueuePair(mem, cfg, { indirect: { gpa: 0x80000, entries: 8 } });
  if (!r.ok) throw new Error(`setup failed: ${JSON.stringify(r.error)}`);
  return r.value;
}

// ---- bug 1: the layout is checked once, at every entry point, and never defaulted ----

/** Two 64-byte writable buffers added (tokens 100 and 101), published and popped, in order. */
function popTwo(
  driver: QueuePair["driver"],
  device: QueuePair["device"],
): [DescriptorChain, DescriptorChain] {
  assert.ok(driver.add({ readable: [], writable: [[DATA, 64]] }, 100).ok);
  assert.ok(driver.add({ readable: [], writable: [[DATA + 64, 64]] }, 101).ok);
  driver.publish();
  const a = device.pop();
  assert.ok(a.ok && a.value);
  const first = { ...a.value };
  const b = device.pop();
  assert.ok(b.ok && b.value);
  return [first, b.value];
}

const BAD_LAYOUTS = ["Split", "ring", "", "PACKED", undefined, null, 1] as unknown as Layout[];

for (const layout of BAD_LAYOUTS) {
  for (const size of [8, 3]) {
    Deno.test(`createQueuePair refuses layout ${JSON.stringify(layout)} (size ${size})`, () => {
      const mem = GuestMemory.create(MEM);
      const r = createQueuePair(mem, config(layout, size));
      assert.deepEqual(refusal(r), { kind: "bad-layout", layout });
      if (!r.ok) {
        assert.match(formatQueueError(r.error), /layout .* is neither "split" nor "packed"/);
      }
    });
  }

  Deno.test(`every queue entry point refuses layout ${JSON.stringify(layout)}`, () => {
    const mem = GuestMemory.create(MEM);
    const want = { kind: "bad-layout", layout };
    const cfg = config(layout, 8);
    assert.deepEqual(refusal(createDriverQueue(mem, new SharedRingAccess(mem), cfg)), want);
    const st = createState("split", 8);
    assert.deepEqual(
      refusal(createDeviceQueue(new DirectDma(mem), new SharedRingAccess(mem), cfg, st)),
      want,
    );
    assert.deepEqual(refusal(checkQueueConfig(new DirectDma(mem), cfg)), want);
    assert.deepEqual(refusal(prepareDriverRing(mem, cfg, null)), want);
    assert.throws(() => createState(layout, 8), (e: unknown) => {
      return e instanceof RangeError && /layout/.test(e.message) && /"split"/.test(e.message) &&
        /"packed"/.test(e.message);
    });
    assert.throws(() => stateBytes(layout, 8), RangeError);
  });
}

Deno.test("a layout's own create takes its layout, whatever the config says", () => {
  const mem = GuestMemory.create(MEM);
  const st = createState("split", 8);
  const dma = new DirectDma(mem);
  const ring = new SharedRingAccess(mem);
  const q = SplitDeviceQueue.create(dma, ring, config("ring" as Layout, 8), st);
  assert.ok(q.ok && q.value.layout === "split");
  const p = PackedDeviceQueue.create(
    dma,
    ring,
    config("ring" as Layout, 8),
    createState("packed", 8),
  );
  assert.ok(p.ok && p.value.layout === "packed");
});

for (const features of [null, undefined, "eventIdx", 1]) {
  Deno.test(`features ${JSON.stringify(features)} is a TypeError naming features`, () => {
    for (const layout of LAYOUTS) {
      const cfg = { ...config(layout, 8), features } as unknown as QueueConfig;
      assert.throws(
        () => createQueuePair(GuestMemory.create(MEM), cfg),
        (e: unknown) => e instanceof TypeError && /\bfeatures\b/.test(e.message),
      );
    }
  });
}

Deno.test("a feature flag that is not a boolean is a TypeError naming it", () => {
  for (const layout of LAYOUTS) {
    const cfg = config(layout, 8);
    (cfg.features as unknown as Record<string, unknown>).inOrder = "yes";
    assert.throws(
      () => createQueuePair(GuestMemory.create(MEM), cfg),
      (e: unknown) => e instanceof TypeError && /features\.inOrder/.test(e.message),
    );
  }
});

// ---- bug 2: with IN_ORDER the device completes chains in the order they were made available ----

for (const layout of LAYOUTS) {
  Deno.test(`IN_ORDER: an out-of-order push is refused, naming the expected head [${layout}]`, () => {
    const { driver, device } = pair(config(layout, 8, { inOrder: true }));
    const [first, second] = popTwo(driver, device);
    const refused = device.push(second, 10);
    assert.deepEqual(refused, {
      ok: false,
      error: { kind: "out-of-order", id: second.id, expected: first.id },
    });
    if (!refused.ok) {
      assert.equal(
        formatQueueError(refused.error),
        `Cannot complete chain ${second.id}: VIRTIO_F_IN_ORDER needs chain ${first.id} first`,
      );
    }
    // Nothing was staged: the in-order pushes go through and the driver sees the right lengths.
    assert.ok(device.push(first, 10).ok);
    assert.ok(device.push(second, 10).ok);
    device.publish();
    const got: string[] = [];
    for (let u = driver.getUsed(); u.ok && u.value; u = driver.getUsed()) {
      got.push(`${u.value.token}:${u.value.len}`);
    }
    assert.deepEqual(got, ["100:10", "101:10"]);
    assert.equal(device.inFlight, 0);
  });

  Deno.test(`IN_ORDER: order holds across publishes and a wrapped ring [${layout}]`, () => {
    const { driver, device } = pair(config(layout, 4, { inOrder: true }));
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3; i++) {
        assert.ok(driver.add({ readable: [], writable: [[DATA + 64 * i, 64]] }, i).ok);
      }
      driver.publish();
      const chains = [];
      for (let i = 0; i < 3; i++) {
        const r = device.pop();
        assert.ok(r.ok && r.value);
        chains.push({ ...r.value });
      }
      assert.equal(device.push(chains[2], 1).ok, false);
      assert.ok(device.push(chains[0], 1).ok);
      device.publish(); // a publish between two pushes keeps the order
      const bad = device.push(chains[2], 1);
      assert.deepEqual(bad, {
        ok: false,
        error: { kind: "out-of-order", id: chains[2].id, expected: chains[1].id },
      });
      assert.ok(device.push(chains[1], 1).ok);
      assert.ok(device.push(chains[2], 1).ok);
      device.publish();
      for (let i = 0; i < 3; i++) {
        const u = driver.getUsed();
        assert.ok(u.ok && u.value);
        assert.deepEqual({ ...u.value }, { token: i, len: 1 }, `round ${round}`);
      }
    }
  });

  Deno.test(`IN_ORDER: a restored device keeps the fetch order [${layout}]`, () => {
    const mem = GuestMemory.create(MEM);
    const cfg = config(layout, 8, { inOrder: true });
    const { driver, device, state } = pair(cfg, mem);
    for (let i = 0; i < 3; i++) {
      assert.ok(driver.add({ readable: [], writable: [[DATA + 64 * i, 64]] }, 200 + i).ok);
    }
    driver.publish();
    const a = device.pop();
    assert.ok(a.ok && a.value);
    assert.ok(device.push(a.value, 5).ok);
    device.publish();
    assert.ok(device.pop().ok);
    assert.ok(device.pop().ok);
    const restore = layout === "split" ? SplitDeviceQueue.restore : PackedDeviceQueue.restore;
    const r = restore(new DirectDma(mem), new SharedRingAccess(mem), cfg, state);
    assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
    const { queue, inFlight } = r.value;
    assert.equal(inFlight.length, 2);
    const [b, c] = inFlight.map((x) => ({ ...x }));
    assert.deepEqual(queue.push(c, 5), {
      ok: false,
      error: { kind: "out-of-order", id: c.id, expected: b.id },
    });
    assert.ok(queue.push(b, 5).ok);
    assert.ok(queue.push(c, 5).ok);
    queue.publish();
    const got: string[] = [];
    for (let u = driver.getUsed(); u.ok && u.value; u = driver.getUsed()) {
      got.push(`${u.value.token}:${u.value.len}`);
    }
    assert.deepEqual(got, ["200:5", "201:5", "202:5"]);
  });

  Deno.test(`without IN_ORDER any completion order is accepted [${layout}]`, () => {
    const { driver, device } = pair(config(layout, 8));
    const [first, second] = popTwo(driver, device);
    assert.ok(device.push(second, 10).ok);
    assert.ok(device.push(first, 20).ok);
    device.publish();
    const got: string[] = [];
    for (let u = driver.getUsed(); u.ok && u.value; u = driver.getUsed()) {
      got.push(`${u.value.token}:${u.value.len}`);
    }
    assert.deepEqual(got, ["101:10", "100:20"]);
  });
}

// ---- bug 3: add() refuses buffer values the descriptor cannot hold, and changes nothing ----

const BAD_ADDRS = [NaN, -1, 1.5, 2 ** 53, Infinity, "4096", undefined];
const BAD_LENS = [NaN, -1, 1.5, 2 ** 32, Infinity, "64", undefined];

for (const layout of LAYOUTS) {
  for (const indirect of [false, true]) {
    const tag = `[${layout}${indirect ? "+indirect" : ""}]`;

    Deno.test(`add refuses a bad buffer address, naming it ${tag}`, () => {
      for (const gpa of BAD_ADDRS) {
        const { driver, device } = pair(config(layout, 8, { indirect }));
        const r = driver.add(
          { readable: [[DATA, 16]], writable: [[gpa as number, 64]] },
          1,
        );
        assert.deepEqual(r, {
          ok: false,
          error: { kind: "bad-buffer-address", index: 1, gpa },
        }, `gpa ${String(gpa)}`);
        if (!r.ok) assert.match(formatQueueError(r.error), /buffer 1 .*address/);
        assert.equal(driver.freeDescriptors, 8);
        assert.equal(driver.inFlight, 0);
        assert.equal(driver.publish(), false, "nothing staged");
        assert.deepEqual(device.pop(), { ok: true, value: null });
        // The queue still works.
        assert.ok(driver.add({ readable: [[DATA, 16]], writable: [[DATA + 16, 64]] }, 2).ok);
        driver.publish();
        const p = device.pop();
        assert.ok(p.ok && p.value);
        assert.equal(p.value.writable[0].gpa, DATA + 16);
        assert.equal(p.value.writable[0].len, 64);
      }
    });

    Deno.test(`add refuses a bad buffer length, naming it ${tag}`, () => {
      for (const len of BAD_LENS) {
        const { driver, device } = pair(config(layout, 8, { indirect }));
        const r = driver.add({ readable: [[DATA, len as number]], writable: [] }, 1);
        assert.deepEqual(r, {
          ok: false,
          error: { kind: "bad-buffer-length", index: 0, len },
        }, `len ${String(len)}`);
        if (!r.ok) assert.match(formatQueueError(r.error), /buffer 0 .*length/);
        assert.equal(driver.freeDescriptors, 8);
        assert.equal(driver.publish(), false, "nothing staged");
        assert.deepEqual(device.pop(), { ok: true, value: null });
      }
    });

    Deno.test(`add passes every value the descriptor fields hold unchanged ${tag}`, () => {
      const mem = GuestMemory.create(MEM);
      const { driver, device } = pair(config(layout, 8, { indirect }), mem);
      // Zero-length buffers: the spec does not forbid them, and the device accepts them.
      assert.ok(driver.add({ readable: [[DATA, 0]], writable: [[DATA, 2 ** 32 - 1]] }, 1).ok);
      assert.ok(driver.add({ readable: [[2 ** 53 - 1, 1]], writable: [] }, 2).ok);
      driver.publish();
      const a = device.pop();
      // The writable buffer runs past guest memory: the device drops the chain, reporting the
      // length it was given (not one truncated to 32 bits).
      assert.ok(!a.ok && !a.error.fatal && a.error.kind === "buffer-unreachable");
      if (!a.ok && a.error.kind === "buffer-unreachable") {
        assert.equal(a.error.cause.length, 2 ** 32 - 1);
      }
      const b = device.pop();
      assert.ok(!b.ok && !b.error.fatal && b.error.kind === "buffer-unreachable");
      if (!b.ok && b.error.kind === "buffer-unreachable") {
        assert.equal(b.error.cause.addr, 2 ** 53 - 1);
      }
    });

    Deno.test(`add refuses a chain of more than 2^32 bytes ${tag}`, () => {
      const { driver } = pair(config(layout, 8, { indirect }));
      const r = driver.add({ readable: [[DATA, 2 ** 31]], writable: [[DATA, 2 ** 31 + 1]] }, 1);
      assert.deepEqual(r, { ok: false, error: { kind: "bad-chain-bytes", bytes: 2 ** 32 + 1 } });
      assert.equal(driver.freeDescriptors, 8);
      assert.ok(driver.add({ readable: [[DATA, 2 ** 31]], writable: [[DATA, 2 ** 31]] }, 1).ok);
    });
  }
}

for (const layout of LAYOUTS) {
  Deno.test(`a chain refused part way leaves no slot that looks available [${layout}]`, () => {
    const { driver, device } = pair(config(layout, 8));
    const bad = driver.add({ readable: [[DATA, 16], [DATA + 16, 16]], writable: [[DATA, -1]] }, 1);
    assert.deepEqual(refusal(bad), { kind: "bad-buffer-length", index: 2, len: -1 });
    const big = driver.add({ readable: [[DATA, 2 ** 32 - 1], [DATA, 2]], writable: [] }, 1);
    assert.deepEqual(refusal(big), { kind: "bad-chain-bytes", bytes: 2 ** 32 + 1 });
    assert.ok(driver.add({ readable: [[DATA, 16]], writable: [] }, 2).ok);
    driver.publish();
    const p = device.pop();
    assert.ok(p.ok && p.value);
    assert.deepEqual(p.value.readable.map((s) => [s.gpa, s.len]), [[DATA, 16]]);
    // The slots the refused chains wrote after their head must not read as a new buffer.
    assert.deepEqual(device.pop(), { ok: true, value: null });
    assert.ok(device.push(p.value, 0).ok);
    device.publish();
    const u = driver.getUsed();
    assert.ok(u.ok && u.value && u.value.token === 2);
    assert.equal(driver.freeDescriptors, 8);
  });
}

Deno.test("createQueuePair and the queue entry points name a null argument in a TypeError", () => {
  // Each was "Cannot read properties of null (reading …)" from inside the set-up.
  const mem = GuestMemory.create(MEM);
  const call = (f: () => unknown, message: string) =>
    assert.throws(f, (e: unknown) => e instanceof TypeError && e.message === message);
  call(
    () => createQueuePair(null as unknown as GuestMemory, null as unknown as QueueConfig),
    "createQueuePair: mem must be a GuestMemory, got null",
  );
  call(
    () => createQueuePair(mem, null as unknown as QueueConfig),
    "createQueuePair: config must be a QueueConfig object, got null",
  );
  call(
    () => createQueuePair(mem, config("split", 8), null as unknown as undefined),
    "createQueuePair: options must be an object (or left out), got null",
  );
  call(
    () => createDriverQueue(mem, new SharedRingAccess(mem), null as unknown as QueueConfig),
    "createDriverQueue: config must be a QueueConfig object, got null",
  );
  call(
    () =>
      createDeviceQueue(
        new DirectDma(mem),
        new SharedRingAccess(mem),
        undefined as unknown as QueueConfig,
        createState("split", 8),
      ),
    "createDeviceQueue: config must be a QueueConfig object, got undefined",
  );
  const cfg = config("split", 8);
  call(
    () => createDriverQueue(null as unknown as GuestMemory, new SharedRingAccess(mem), cfg),
    "createDriverQueue: mem must be a GuestMemory, got null",
  );
  call(
    () => createDriverQueue(mem, null as unknown as SharedRingAccess, cfg),
    "createDriverQueue: ring must be a RingAccess, got null",
  );
  call(
    () =>
      createDeviceQueue(
        null as unknown as DirectDma,
        new SharedRingAccess(mem),
        cfg,
        createState("split", 8),
      ),
    "createDeviceQueue: dma must be a DmaView, got null",
  );
  call(
    () =>
      createDeviceQueue(
        new DirectDma(mem),
        new SharedRingAccess(mem),
        cfg,
        null as unknown as Uint32Array,
      ),
    "createDeviceQueue: state must be a Uint32Array (createState), got null",
  );
});

for (const layout of LAYOUTS) {
  Deno.test(`a token, a written length or an interrupt count that is no number is refused by name [${layout}]`, () => {
    // add(chain, "x") staged the chain with token NaN; push(chain, "x") published length 0;
    // enableInterrupts("x") asked for an interrupt at used index 0. Nothing is staged now.
    const { driver, device } = pair(config(layout, 8, { eventIdx: true }));
    const chain: ChainSpec = { readable: [], writable: [[DATA, 64]] };
    const token = "DriverQueue.add: token must be a finite number (the caller's id for the " +
      "chain, which getUsed returns), got ";
    const cases: [unknown, ErrorConstructor, string][] = [
      ["x", TypeError, "string"],
      ["5", TypeError, "string"],
      [undefined, TypeError, "undefined"],
      [{ token: 1 }, TypeError, "Object"],
      [NaN, RangeError, "NaN"],
      [Infinity, RangeError, "Infinity"],
    ];
    for (const [bad, kind, got] of cases) {
      assert.throws(
        () => driver.add(chain, bad as number),
        (e: unknown) => e instanceof kind && e.message === token + got,
        String(bad),
      );
    }
    assert.equal(driver.inFlight, 0, "nothing staged");
    assert.equal(driver.publish(), false, "nothing to publish");
    const count = "DriverQueue.enableInterrupts: count must be a whole number of used buffers " +
      "(1 or less: the next one), got ";
    for (
      const [bad, kind, got] of [["x", TypeError, "string"], [NaN, RangeError, "NaN"], [
        1.5,
        RangeError,
        "1.5",
      ]] as const
    ) {
      assert.throws(
        () => driver.enableInterrupts(bad as number),
        (e: unknown) => e instanceof kind && e.message === count + got,
        String(bad),
      );
    }
    assert.equal(driver.enableInterrupts(), false, "the default still works");
    assert.ok(driver.add(chain, 7).ok);
    driver.publish();
    const popped = device.pop();
    assert.ok(popped.ok && popped.value);
    const written = "DeviceQueue.push: written must be a number of bytes (clamped to the chain's " +
      "writable length), got ";
    for (
      const [bad, kind, got] of [["64", TypeError, "string"], [NaN, RangeError, "NaN"]] as const
    ) {
      assert.throws(
        () => device.push(popped.value!, bad as number),
        (e: unknown) => e instanceof kind && e.message === written + got,
        String(bad),
      );
    }
    // Still in flight, and pushed once with a number.
    assert.ok(device.push(popped.value, 64).ok);
    device.publish();
    const used = driver.getUsed();
    assert.ok(used.ok && used.value);
    assert.deepEqual([used.value.token, used.value.len], [7, 64]);
  });
}

for (const layout of LAYOUTS) {
  Deno.test(`driver.add(null) and device.push(null) are TypeErrors naming the call and its chain [${layout}]`, () => {
    const { driver } = pair(config(layout, 8));
    const chain = "DriverQueue.add: chain must be a ChainSpec ({ readable, writable } lists of " +
      "[gpa, len])";
    assert.throws(
      () => driver.add(null as unknown as ChainSpec, 1),
      (e: unknown) => e instanceof TypeError && e.message === `${chain}, got null`,
    );
    assert.throws(
      () => driver.add({ readable: [] } as unknown as ChainSpec, 1),
      (e: unknown) => e instanceof TypeError && e.message === `${chain}, got Object`,
    );
    const { device } = pair(config(layout, 8));
    assert.throws(
      () => device.push(null as unknown as DescriptorChain, 0),
      (e: unknown) =>
        e instanceof TypeError &&
        e.message ===
          "DeviceQueue.push: chain must be a DescriptorChain that pop() returned, got null",
    );
    // An empty chain is still the refusal it was.
    assert.equal(
      (driver.add({ readable: [], writable: [] }, 1) as { ok: false; error: { kind: string } })
        .error.kind,
      "bad-chain-length",
    );
  });
}

for (const layout of LAYOUTS) {
  for (const indirect of [false, true]) {
    Deno.test(`driver.add with a null or missing segment is a TypeError naming it, and stages nothing [${layout}${indirect ? ", indirect" : ""}]`, () => {
      // It was "Cannot read properties of null (reading '0')", naming neither call nor segment.
      const { driver, device } = pair(config(layout, 8, { indirect }));
      const bad = (chain: unknown, message: string) =>
        assert.throws(
          () => driver.add(chain as ChainSpec, 1),
          (e: unknown) => e instanceof TypeError && e.message === message,
        );
      bad(
        { readable: [null], writable: [] },
        "DriverQueue.add: chain.readable[0] must be a [gpa, len] pair, got null",
      );
      // Two segments written (a packed ring's slots made available) before the missing third.
      bad(
        { readable: [[DATA, 16]], writable: [[DATA + 64, 16], undefined] },
        "DriverQueue.add: chain.writable[1] must be a [gpa, len] pair, got undefined",
      );
      bad(
        { readable: [[DATA, 16], null], writable: [[DATA + 64, 16]] },
        "DriverQueue.add: chain.readable[1] must be a [gpa, len] pair, got null",
      );
      // Nothing of them reached the device: the next chain is the first it pops, whole.
      assert.ok(driver.add({ readable: [[DATA, 8]], writable: [[DATA + 64, 32]] }, 7).ok);
      driver.publish();
      const popped = device.pop();
      assert.ok(popped.ok && popped.value);
      assert.equal(popped.value.readable.length, 1);
      assert.equal(popped.value.writableBytes, 32);
      assert.equal(popped.value.indirect, indirect);
      const none = device.pop();
      assert.ok(none.ok && none.value === null, JSON.stringify(none));
    });
  }
}

for (const indirect of [false, true]) {
  Deno.test(`driver.add whose segment throws otherwise (a BigInt length) takes back the packed ring's slots${indirect ? " [indirect]" : ""}`, () => {
    // `len >>> 0` throws for 16n: the slots written before it were left available and the head
    // staged, so the next publish gave the device the refused chain's buffers under an id the
    // next chain took again.
    const { driver, device } = pair(config("packed", 8, { indirect }));
    // Two slots in: the refused chain crosses the ring's wrap (slots 6, 7, then 0).
    for (let k = 0; k < 3; k++) {
      assert.ok(driver.add({ readable: [[DATA, 8]], writable: [[DATA + 64, 8]] }, k).ok);
      driver.publish();
      const p = device.pop();
      assert.ok(p.ok && p.value);
      assert.ok(device.push(p.value, 8).ok);
      device.publish();
      const u = driver.getUsed();
      assert.ok(u.ok && u.value);
    }
    const chain = {
      readable: [[DATA, 16], [DATA + 16, 16], [DATA + 32, 16]],
      writable: [[DATA + 64, 16n]],
    } as unknown as ChainSpec;
    assert.throws(() => driver.add(chain, 1), {
      name: "TypeError",
      message:
        "DriverQueue.add: chain.writable[0][1] must be a length in 0…2^32 − 1 (a number), got bigint",
    });
    assert.ok(driver.add({ readable: [[DATA, 8]], writable: [[DATA + 64, 32]] }, 7).ok);
    driver.publish();
    const popped = device.pop();
    assert.ok(popped.ok && popped.value);
    assert.equal(popped.value.readable.length, 1);
    assert.equal(popped.value.writableBytes, 32);
    const none = device.pop();
    assert.ok(none.ok && none.value === null, "a second chain popped");
  });
}
