/**
 * One conformance suite for both layouts (split; packed with a power-of-two and a
 * non-power-of-two size), driving the real driver and device halves from `pair.ts`: chain
 * shapes, indirect tables, IN_ORDER batching, out-of-order completion and index wrap-around.
 * Notification decisions are in `conformance_events_test.ts`.
 */
import assert from "node:assert/strict";
import { GuestMemory } from "../memory/memory.ts";
import { createQueuePair } from "./pair.ts";
import { tag, type Variant, variantConfig, VARIANTS } from "./testing_harness.ts";
import type {
  ChainSpec,
  DescriptorChain,
  DeviceQueue,
  DriverQueue,
  QueueConfig,
  RingFeatures,
} from "./queue.ts";

const MEM = 4 << 20;
const DESC = 0x1000;
const DRIVER = 0x10000;
const DEVICE = 0x20000;
const INDIRECT = 0x40000;
const BUF = 0x100000;

interface Rig {
  mem: GuestMemory;
  cfg: QueueConfig;
  driver: DriverQueue;
  device: DeviceQueue;
}

function rig(v: Variant, features: Partial<RingFeatures> = {}, indirectEntries = 0): Rig {
  const mem = GuestMemory.create(MEM);
  const cfg = variantConfig(v, features);
  const indirect = indirectEntries ? { gpa: INDIRECT, entries: indirectEntries } : undefined;
  const r = createQueuePair(mem, cfg, { indirect });
  if (!r.ok) throw new Error(`setup failed: ${r.error.kind}`);
  return { mem, cfg, driver: r.value.driver, device: r.value.device };
}

/** A chain of `nr` readable then `nw` writable buffers with distinct addresses and lengths. */
function spec(nr: number, nw: number, salt = 0): ChainSpec {
  const seg = (k: number): [number, number] => [BUF + 0x1000 * ((k + salt) % 512), 16 + k + salt];
  return {
    readable: Array.from({ length: nr }, (_, k) => seg(k)),
    writable: Array.from({ length: nw }, (_, k) => seg(nr + k)),
  };
}

/** A copy of what the device saw (chains are reused by the queue after push). */
function snap(c: DescriptorChain) {
  return {
    readable: c.readable.map((s) => [s.gpa, s.len]),
    writable: c.writable.map((s) => [s.gpa, s.len]),
    readableBytes: c.readableBytes,
    writableBytes: c.writableBytes,
  };
}

function expected(s: ChainSpec) {
  const sum = (l: ReadonlyArray<readonly [number, number]>) => l.reduce((a, [, n]) => a + n, 0);
  return {
    readable: s.readable.map(([g, n]) => [g, n]),
    writable: s.writable.map(([g, n]) => [g, n]),
    readableBytes: sum(s.readable),
    writableBytes: sum(s.writable),
  };
}

function pop(device: DeviceQueue): DescriptorChain {
  const r = device.pop();
  if (!r.ok) throw new Error(`pop failed: ${r.error.kind}`);
  if (r.value === null) throw new Error("pop: ring empty");
  return r.value;
}

function mustAdd(driver: DriverQueue, s: ChainSpec, token: number): void {
  const r = driver.add(s, token);
  if (!r.ok) throw new Error(`add failed: ${r.error.kind}`);
}

function used(driver: DriverQueue) {
  const r = driver.getUsed();
  if (!r.ok) throw new Error(`getUsed failed: ${r.error.kind}`);
  return r.value;
}

const le16 = (mem: GuestMemory, a: number) => mem.u8[a] | (mem.u8[a + 1] << 8);
const le32 = (mem: GuestMemory, a: number) => (le16(mem, a) + le16(mem, a + 2) * 0x10000);

/** Seeded PRNG (mulberry32); tests print the seed on failure. */
function prng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/** The token whose spec produced chain `c` (`spec` salts the first length with it). */
function findToken(want: Map<number, number>, c: DescriptorChain): number {
  const first = c.readable[0] ?? c.writable[0];
  const t = first.len - 16;
  assert.ok(want.has(t), `chain with first length ${first.len} was never posted`);
  return t;
}

for (const v of VARIANTS) {
  Deno.test(`device sees every chain shape with exact segments in order (2.7.13, 2.8.21) ${tag(v)}`, () => {
    const { driver, device } = rig(v);
    const half = Math.floor(v.size / 2);
    const shapes: Array<[string, number, number]> = [
      ["1 readable", 1, 0],
      ["readable + writable", 1, 1],
      ["only writable", 0, 1],
      ["4 + 4", 4, 4],
      ["queue size", half, v.size - half],
    ];
    let token = 0;
    // Three rounds, so chains start at different slots and the packed ring wraps mid-chain.
    for (let round = 0; round < 3; round++) {
      for (const [name, nr, nw] of shapes) {
        const s = spec(nr, nw, token);
        mustAdd(driver, s, ++token);
        assert.equal(driver.freeDescriptors, v.size - nr - nw, name);
        assert.equal(driver.inFlight, 1);
        driver.publish();
        const c = pop(device);
        assert.deepEqual(snap(c), expected(s), `${name}, round ${round}`);
        assert.equal(c.descCount, nr + nw, name);
        assert.equal(device.inFlight, 1);
        assert.deepEqual(device.pop(), { ok: true, value: null }, "one chain, one pop");
        const written = Math.max(0, c.writableBytes - 3);
        assert.equal(device.push(c, written).ok, true);
        device.publish();
        assert.equal(device.inFlight, 0);
        assert.deepEqual(used(driver), { token, len: written }, name);
        assert.equal(used(driver), null);
        assert.equal(driver.freeDescriptors, v.size);
        assert.equal(driver.inFlight, 0);
      }
    }
  });

  Deno.test(`used length is clamped to the posted writable bytes (2.7.8.1, C2) ${tag(v)}`, () => {
    const { driver, device } = rig(v);
    mustAdd(driver, spec(1, 2), 7);
    mustAdd(driver, spec(1, 0), 8);
    driver.publish();
    const a = pop(device);
    const b = pop(device);
    device.push(a, a.writableBytes + 1000);
    device.push(b, 50);
    device.publish();
    assert.deepEqual(used(driver), { token: 7, len: a.writableBytes });
    assert.deepEqual(used(driver), { token: 8, len: 0 }, "a read-only chain has used length 0");
  });

  Deno.test(`driver refuses empty, oversized and unfitting chains ${tag(v)}`, () => {
    const { driver } = rig(v);
    assert.deepEqual(driver.add(spec(0, 0), 1), {
      ok: false,
      error: { kind: "bad-chain-length", length: 0, size: v.size },
    });
    assert.deepEqual(driver.add(spec(v.size, 1), 1), {
      ok: false,
      error: { kind: "bad-chain-length", length: v.size + 1, size: v.size },
    });
    mustAdd(driver, spec(v.size - 2, 0), 1);
    assert.deepEqual(driver.add(spec(1, 2), 2), {
      ok: false,
      error: { kind: "ring-full", needed: 3, free: 2 },
    });
    mustAdd(driver, spec(1, 1), 2);
    assert.deepEqual(driver.add(spec(1, 0), 3), {
      ok: false,
      error: { kind: "ring-full", needed: 1, free: 0 },
    });
    assert.equal(driver.inFlight, 2);
  });

  Deno.test(`push refuses a chain that is not in flight (A22) ${tag(v)}`, () => {
    const { driver, device } = rig(v);
    mustAdd(driver, spec(1, 1), 1);
    driver.publish();
    const c = pop(device);
    const id = c.id;
    assert.equal(device.push(c, 1).ok, true);
    device.publish();
    assert.deepEqual(device.push(c, 1), { ok: false, error: { kind: "not-in-flight", id } });
    device.publish();
    assert.deepEqual(used(driver), { token: 1, len: 1 });
    assert.equal(used(driver), null);
  });

  Deno.test(`push refuses the same chain twice before publish (A22) ${tag(v)}`, () => {
    const { driver, device } = rig(v);
    mustAdd(driver, spec(1, 1), 1);
    mustAdd(driver, spec(1, 1), 2);
    driver.publish();
    const c = pop(device);
    const id = c.id;
    assert.equal(device.push(c, 1).ok, true);
    const again = device.push(c, 1);
    device.publish();
    assert.deepEqual(again, { ok: false, error: { kind: "not-in-flight", id } });
    assert.equal(device.inFlight, 0, "the completed chain left the device's in-flight set once");
    assert.deepEqual(used(driver), { token: 1, len: 1 });
    assert.equal(driver.inFlight, 1, "the other chain is still posted");
    assert.equal(used(driver), null, "one used entry for one completion");
  });

  Deno.test(`indirect chains use one ring slot and show the same segments (2.7.5.3, 2.8.7) ${tag(v)}`, () => {
    const { mem, driver, device } = rig(v, { indirect: true }, 8);
    const specs = Array.from({ length: v.size }, (_, k) => spec(4, 4, k));
    specs.forEach((s, k) => {
      mustAdd(driver, s, 100 + k);
      assert.equal(driver.freeDescriptors, v.size - k - 1, "one slot per 8-segment chain");
    });
    driver.publish();
    // The first ring descriptor points at table 0: INDIRECT, 8 entries of 16 bytes.
    const flagsAt = v.layout === "split" ? DESC + 12 : DESC + 14;
    assert.equal(le16(mem, flagsAt) & 4, 4, "INDIRECT flag in the ring");
    assert.equal(le32(mem, DESC + 8), 8 * 16, "table length");
    const chains = specs.map((s) => {
      const c = pop(device);
      assert.equal(c.descCount, 1);
      assert.deepEqual(snap(c), expected(s));
      return c;
    });
    chains.forEach((c, k) => device.push(c, k));
    device.publish();
    for (let k = 0; k < v.size; k++) assert.deepEqual(used(driver), { token: 100 + k, len: k });
    assert.equal(driver.freeDescriptors, v.size);
  });

  Deno.test(`chains that do not fit an indirect table, or have one segment, go direct ${tag(v)}`, () => {
    const { driver, device } = rig(v, { indirect: true }, 8);
    const long = spec(5, 4);
    mustAdd(driver, long, 1);
    assert.equal(driver.freeDescriptors, v.size - 9);
    mustAdd(driver, spec(0, 1), 2);
    assert.equal(driver.freeDescriptors, v.size - 10);
    driver.publish();
    const a = pop(device);
    assert.equal(a.descCount, 9);
    assert.deepEqual(snap(a), expected(long));
    assert.equal(pop(device).descCount, 1);
  });

  Deno.test(`IN_ORDER: a run of fully used buffers is one used entry (2.7.9, 2.8.8) ${tag(v)}`, () => {
    const { mem, driver, device } = rig(v, { inOrder: true });
    // Buffers of 1, 2, 1 and 2 descriptors; the third is read-only (counts as fully used).
    const specs = [spec(0, 1), spec(1, 1), spec(1, 0), spec(1, 1)];
    specs.forEach((s, k) => mustAdd(driver, s, 10 + k));
    driver.publish();
    const chains = specs.map(() => pop(device));
    const lastId = chains[3].id;
    const lens = chains.map((c) => c.writableBytes);
    chains.forEach((c) => device.push(c, c.writableBytes));
    device.publish();
    if (v.layout === "split") {
      assert.equal(le16(mem, DEVICE + 2), 4, "used.idx moves by the whole batch");
      assert.deepEqual([le32(mem, DEVICE + 4), le32(mem, DEVICE + 8)], [lastId, lens[3]]);
      for (let i = 1; i < 4; i++) {
        const entry = [le32(mem, DEVICE + 4 + 8 * i), le32(mem, DEVICE + 8 + 8 * i)];
        assert.deepEqual(entry, [0, 0], `no used entry ${i}`);
      }
    } else {
      assert.equal(le16(mem, DESC + 14), 0x8082, "slot 0: used (AVAIL = USED = 1), WRITE");
      assert.deepEqual([le16(mem, DESC + 12), le32(mem, DESC + 8)], [lastId, lens[3]]);
      for (let s = 1; s < 6; s++) {
        assert.equal(le16(mem, DESC + 16 * s + 14) & 0x8080, 0x80, `slot ${s} still available`);
      }
    }
    for (let k = 0; k < 4; k++) assert.deepEqual(used(driver), { token: 10 + k, len: lens[k] });
    assert.equal(used(driver), null);
    assert.equal(driver.freeDescriptors, v.size);
    // The ring carries on after the batch.
    mustAdd(driver, spec(1, 1), 20);
    driver.publish();
    const c = pop(device);
    device.push(c, 5);
    device.publish();
    assert.deepEqual(used(driver), { token: 20, len: 5 });
  });

  Deno.test(`IN_ORDER: a partially written buffer ends a run (2.7.9, 2.8.8) ${tag(v)}`, () => {
    const { mem, driver, device } = rig(v, { inOrder: true });
    const written = [100, 50, 100, 100, 50, 100];
    written.forEach((_, k) => mustAdd(driver, { readable: [], writable: [[BUF, 100]] }, k));
    driver.publish();
    const chains = written.map(() => pop(device));
    const ids = chains.map((c) => c.id);
    chains.forEach((c, k) => device.push(c, written[k]));
    device.publish();
    // Runs: [0, 1] ends at the partial 1; [2, 3, 4] ends at the partial 4; [5] alone.
    const entries: Array<[number, number, number]> = [[0, ids[1], 50], [2, ids[4], 50], [
      5,
      ids[5],
      100,
    ]];
    if (v.layout === "split") {
      assert.equal(le16(mem, DEVICE + 2), 6);
      for (const [slot, id, len] of entries) {
        assert.deepEqual([le32(mem, DEVICE + 4 + 8 * slot), le32(mem, DEVICE + 8 + 8 * slot)], [
          id,
          len,
        ]);
      }
      for (const slot of [1, 3, 4]) assert.equal(le32(mem, DEVICE + 8 + 8 * slot), 0);
    } else {
      for (const [slot, id, len] of entries) {
        const at = DESC + 16 * slot;
        assert.deepEqual([le16(mem, at + 12), le32(mem, at + 8), le16(mem, at + 14)], [
          id,
          len,
          0x8082,
        ]);
      }
      for (const slot of [1, 3, 4]) assert.equal(le16(mem, DESC + 16 * slot + 14), 0x0082);
    }
    for (let k = 0; k < written.length; k++) {
      assert.deepEqual(used(driver), { token: k, len: written[k] });
    }
    assert.equal(used(driver), null);
  });

  Deno.test(`completes out of order without IN_ORDER; tokens follow ids (2.7.8, 2.8.6) ${tag(v)}`, () => {
    const { driver, device } = rig(v);
    const specs = [spec(1, 1), spec(0, 2), spec(2, 0), spec(1, 3)];
    specs.forEach((s, k) => mustAdd(driver, s, 40 + k));
    driver.publish();
    const chains = specs.map(() => pop(device));
    for (let k = 3; k >= 0; k--) device.push(chains[k], Math.min(chains[k].writableBytes, 9 + k));
    device.publish();
    for (let k = 3; k >= 0; k--) {
      const len = Math.min(expected(specs[k]).writableBytes, 9 + k);
      assert.deepEqual(used(driver), { token: 40 + k, len });
    }
    assert.equal(driver.freeDescriptors, v.size);
  });

  Deno.test(`random posting and completion orders keep tokens and free counts (seeded) ${tag(v)}`, () => {
    for (const seed of [1, 2, 3]) {
      const rand = prng(seed);
      const { driver, device } = rig(v);
      const want = new Map<number, number>(); // token → writable bytes posted
      const popped: DescriptorChain[] = [];
      const tokenOf = new Map<DescriptorChain, number>();
      const order: number[] = []; // tokens in the order the device will return them
      let nextToken = 0;
      let descs = 0;
      for (let step = 0; step < 3000; step++) {
        const at = `seed ${seed} step ${step}`;
        const action = rand(4);
        if (action === 0) {
          const n = 1 + rand(Math.min(3, v.size));
          if (driver.freeDescriptors >= n) {
            const nr = rand(n + 1);
            const s = spec(nr, n - nr, nextToken);
            mustAdd(driver, s, nextToken);
            want.set(nextToken++, expected(s).writableBytes);
            descs += n;
          }
          driver.publish();
        } else if (action === 1) {
          for (let r = device.pop(); r.ok && r.value; r = device.pop()) {
            popped.push(r.value);
            tokenOf.set(r.value, findToken(want, r.value));
          }
        } else if (action === 2 && popped.length > 0) {
          const k = 1 + rand(popped.length);
          for (let i = 0; i < k; i++) {
            const c = popped.splice(rand(popped.length), 1)[0];
            const t = tokenOf.get(c)!;
            order.push(t);
            device.push(c, rand(want.get(t)! + 1));
          }
          device.publish();
        } else {
          for (let u = used(driver); u; u = used(driver)) {
            assert.equal(u.token, order.shift(), at);
            assert.ok(u.len <= want.get(u.token)!, at);
            want.delete(u.token);
          }
          assert.equal(driver.inFlight, want.size, at);
        }
      }
      assert.ok(descs > 500);
    }
  });
}

// ---- wrap-around of free-running indices and wrap counters ----

const WRAP_FEATURES: Array<[string, Partial<RingFeatures>, number]> = [
  ["plain", {}, 0],
  ["EVENT_IDX", { eventIdx: true }, 0],
  ["IN_ORDER + EVENT_IDX", { inOrder: true, eventIdx: true }, 0],
  ["INDIRECT", { indirect: true }, 4],
];

for (const v of [{ layout: "split", size: 4 }, { layout: "packed", size: 3 }] as Variant[]) {
  for (const [name, features, entries] of WRAP_FEATURES) {
    Deno.test(`70,000 requests wrap indices and wrap counters (2.7.6, 2.8.1) ${name} ${tag(v)}`, () => {
      const { mem, driver, device } = rig(v, features, entries);
      device.enableNotifications();
      driver.enableInterrupts(1);
      const TOTAL = 70_000;
      let token = 0;
      let batch = 0;
      while (token < TOTAL) {
        const first = token;
        // Chains of 1…size descriptors, so packed chains start and end at every slot.
        for (;;) {
          const n = 1 + ((token + batch) % v.size);
          if (driver.freeDescriptors < n || token === TOTAL) break;
          const nr = token % (n + 1);
          mustAdd(driver, spec(nr, n - nr, token % 7), token++);
        }
        assert.equal(driver.publish(), true, `batch ${batch}: the device asked for a kick`);
        const chains: DescriptorChain[] = [];
        for (let r = device.pop(); r.ok && r.value; r = device.pop()) chains.push(r.value);
        assert.equal(chains.length, token - first, `batch ${batch}`);
        const lens = chains.map((c) => c.writableBytes);
        chains.forEach((c) => device.push(c, c.writableBytes));
        device.publish();
        assert.equal(device.needsInterrupt(), true, `batch ${batch}: interrupts were enabled`);
        assert.equal(device.enableNotifications(), false, `batch ${batch}: nothing pending`);
        for (let t = first; t < token; t++) {
          assert.deepEqual(used(driver), { token: t, len: lens[t - first] }, `batch ${batch}`);
        }
        assert.equal(used(driver), null);
        assert.equal(driver.enableInterrupts(1), false);
        batch++;
      }
      assert.equal(driver.freeDescriptors, v.size);
      if (v.layout === "split") {
        assert.equal(le16(mem, DRIVER + 2), TOTAL % 65536, "avail.idx wrapped at 2^16");
        assert.equal(le16(mem, DEVICE + 2), TOTAL % 65536, "used.idx wrapped at 2^16");
      }
    });
  }
}
