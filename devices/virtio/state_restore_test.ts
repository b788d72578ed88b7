/**
 * Restore (reliability.md G6, G7; architecture.md "Recovery"): a new device half built with
 * `SplitDeviceQueue.restore` / `PackedDeviceQueue.restore` over the same state record and guest
 * memory resumes without losing or repeating a chain. The crash windows are produced by a ring
 * access that kills the worker (throws) right after its k-th access, for every k, plus the
 * windows between two state writes, built by hand.
 */
import assert from "node:assert/strict";
import { DirectDma } from "../memory/dma.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { PackedDeviceQueue } from "./packed_device.ts";
import { createDriverQueue } from "./pair.ts";
import type { ChainSpec, DeviceQueue, Layout, RingFeatures } from "./queue.ts";
import { type RingAccess, SharedRingAccess } from "./ring_access.ts";
import { SplitDeviceQueue } from "./split_device.ts";
import { STATE_HEADER_WORDS, StateWord, validateState } from "./state.ts";
import { createMock, type MockPackedRing } from "./testing.ts";
import { type ChainSnapshot, LAYOUTS, snapshotChain } from "./testing_harness.ts";

const OK = { ok: true, value: undefined };
const SIZE = 8;

/** A real driver and a device half over one mock memory. */
function world(
  layout: Layout,
  options: {
    size?: number;
    features?: Partial<RingFeatures>;
    ring?: (mem: GuestMemory) => RingAccess;
  } = {},
) {
  const mock = createMock(layout, { size: options.size ?? SIZE, features: options.features });
  const dr = createDriverQueue(mock.mem, new SharedRingAccess(mock.mem), mock.config);
  if (!dr.ok) throw new Error(dr.error.kind);
  const { queue, state } = mock.createDevice({ ring: options.ring?.(mock.mem) });
  return { mock, driver: dr.value, device: queue, state, d: mock.dataAddr };
}
type World = ReturnType<typeof world>;

/** A new device half over the same memory and state record (the old worker is gone). */
function restore(w: World) {
  const args = [
    new DirectDma(w.mock.mem),
    new SharedRingAccess(w.mock.mem),
    w.mock.config,
    w.state,
  ] as const;
  const r = w.mock.config.layout === "split"
    ? SplitDeviceQueue.restore(...args)
    : PackedDeviceQueue.restore(...args);
  if (!r.ok) assert.fail(`restore refused: ${JSON.stringify(r.error)}`);
  return r.value;
}

const segs = (list: ChainSpec["readable"]) => list.map(([gpa, len]) => ({ gpa, len }));
const expectChain = (c: ChainSnapshot, spec: ChainSpec) =>
  assert.deepStrictEqual([c.readable, c.writable], [segs(spec.readable), segs(spec.writable)]);

/** Add and publish `tokens`, taken from `specs`. */
function post(w: World, specs: Record<number, ChainSpec>, ...tokens: number[]): void {
  for (const t of tokens) assert.ok(w.driver.add(specs[t], t).ok);
  w.driver.publish();
}

/** Pop `n` chains from `q`, checking each against the next expected token. */
function popTokens(q: DeviceQueue, specs: Record<number, ChainSpec>, ...tokens: number[]) {
  return tokens.map((t) => {
    const r = q.pop();
    if (!r.ok || !r.value) assert.fail(`expected chain for token ${t}`);
    expectChain(snapshotChain(r.value), specs[t]);
    return r.value;
  });
}

/** Reclaim everything used; returns `token → len`, failing on any token seen twice. */
function reclaim(w: World, seen: Map<number, number>): void {
  for (let i = 0; i < 2 * SIZE; i++) {
    const r = w.driver.getUsed();
    if (!r.ok) assert.fail(`driver broke: ${JSON.stringify(r.error)}`);
    if (!r.value) return;
    assert.ok(!seen.has(r.value.token), `token ${r.value.token} reclaimed twice`);
    seen.set(r.value.token, r.value.len);
  }
}

function specsAt(d: number): Record<number, ChainSpec> {
  return {
    1: { readable: [[d, 16]], writable: [] },
    2: { readable: [[d + 0x100, 32]], writable: [[d + 0x200, 64]] },
    3: { readable: [], writable: [[d + 0x300, 128]] },
    4: { readable: [[d + 0x400, 8], [d + 0x408, 8]], writable: [[d + 0x500, 8]] },
    5: { readable: [[d + 0x600, 16]], writable: [] },
    6: { readable: [], writable: [[d + 0x700, 32]] },
    7: { readable: [[d + 0x800, 4]], writable: [[d + 0x900, 4]] },
  };
}

for (const layout of LAYOUTS) {
  Deno.test(`restores the unfinished chains in fetch order, each completed once (reliability G6, G7) [${layout}]`, () => {
    const w = world(layout);
    const specs = specsAt(w.d);
    const seen = new Map<number, number>();
    post(w, specs, 1, 2, 3, 4);
    const [c1, c2, c3, c4] = popTokens(w.device, specs, 1, 2, 3, 4);
    const kept = [snapshotChain(c2), snapshotChain(c4)];
    w.device.push(c1, 0);
    w.device.push(c3, 100);
    w.device.publish();
    reclaim(w, seen);
    post(w, specs, 5, 6); // reuses the freed heads / ids: fetch order is no longer id order
    const [c5] = popTokens(w.device, specs, 5);
    kept.push(snapshotChain(c5));
    w.device.push(c4, 4); // staged, never published: lost with the worker
    assert.notDeepStrictEqual(kept.map((c) => c.id), kept.map((c) => c.id).sort((a, b) => a - b));

    const { queue, inFlight } = restore(w);
    assert.deepStrictEqual(inFlight.map(snapshotChain), kept);
    assert.equal(queue.inFlight, 3);
    for (const [chain, len] of inFlight.map((c, i) => [c, [64, 8, 0][i]] as const)) {
      assert.ok(queue.push(chain, len).ok);
    }
    queue.publish();
    const [c6] = popTokens(queue, specs, 6);
    reclaim(w, seen);
    post(w, specs, 7);
    const [c7] = popTokens(queue, specs, 7);
    queue.push(c6, 1000);
    queue.push(c7, 4);
    queue.publish();
    reclaim(w, seen);
    assert.deepStrictEqual(
      [...seen].sort((a, b) => a[0] - b[0]),
      [[1, 0], [2, 64], [3, 100], [4, 8], [5, 0], [6, 32], [7, 4]],
    );
    assert.equal(w.driver.inFlight, 0);
    assert.equal(queue.inFlight, 0);
    assert.deepStrictEqual(validateState(w.state, layout, SIZE), OK);
  });

  Deno.test(`refuses to restore from a corrupted record (reliability G6) [${layout}]`, () => {
    const w = world(layout);
    w.state[StateWord.AVAIL_WRAP] = 3;
    const args = [
      new DirectDma(w.mock.mem),
      new SharedRingAccess(w.mock.mem),
      w.mock.config,
      w.state,
    ] as const;
    const r = layout === "split"
      ? SplitDeviceQueue.restore(...args)
      : PackedDeviceQueue.restore(...args);
    assert.deepStrictEqual(r, {
      ok: false,
      error: { kind: "state-header", field: "availWrap", value: 3, expected: "0 or 1" },
    });
  });
}

Deno.test("rebuilds a chain from the log after the driver reused its ring slots (reliability B5) [packed]", () => {
  const w = world("packed", { size: 4 });
  const d = w.d;
  const specs: Record<number, ChainSpec> = {
    1: { readable: [[d, 16]], writable: [[d + 0x100, 16]] }, // slots 0–1, stays in flight
    2: { readable: [[d + 0x200, 8]], writable: [] }, // slot 2
    3: { readable: [], writable: [[d + 0x300, 8]] }, // slot 3
    4: { readable: [[d + 0x400, 4]], writable: [[d + 0x500, 4]] }, // reuses slots 0–1
  };
  const seen = new Map<number, number>();
  post(w, specs, 1, 2, 3);
  const [c1, c2, c3] = popTokens(w.device, specs, 1, 2, 3);
  const kept = snapshotChain(c1);
  w.device.push(c2, 0);
  w.device.push(c3, 8);
  w.device.publish(); // used descriptors land in slots 0 and 1, over chain 1's descriptors
  reclaim(w, seen);
  post(w, specs, 4);
  popTokens(w.device, specs, 4);
  assert.equal((w.mock as MockPackedRing).readDesc(0).addr, d + 0x400, "slot 0 now holds chain 4");

  const { queue, inFlight } = restore(w);
  assert.deepStrictEqual(inFlight.map(snapshotChain)[0], kept);
  expectChain(snapshotChain(inFlight[1]), specs[4]);
  queue.push(inFlight[1], 4);
  queue.push(inFlight[0], 16);
  queue.publish();
  reclaim(w, seen);
  assert.deepStrictEqual([...seen].sort((a, b) => a[0] - b[0]), [[1, 16], [2, 0], [3, 8], [4, 4]]);
});

// ---- crash windows ----

/** The worker died here. */
class Crash extends Error {}

/** A ring access that throws `Crash` right after its k-th access of one kind, once armed. */
class DyingRing implements RingAccess {
  private readonly inner: SharedRingAccess;
  private kind: "load" | "store" | null = null;
  private left = 0;
  constructor(mem: GuestMemory) {
    this.inner = new SharedRingAccess(mem);
  }
  /** Die after `k` more accesses of `kind` (k = 0: before the first one). */
  arm(kind: "load" | "store", k: number): void {
    this.kind = kind;
    this.left = k;
  }
  private before(kind: "load" | "store"): void {
    if (this.kind === kind && this.left === 0) throw new Crash(`died before a ${kind}`);
  }
  private after(kind: "load" | "store"): void {
    if (this.kind === kind && --this.left === 0) throw new Crash(`died after a ${kind}`);
  }
  load16(gpa: number): number {
    this.before("load");
    const v = this.inner.load16(gpa);
    this.after("load");
    return v;
  }
  load32(gpa: number): number {
    this.before("load");
    const v = this.inner.load32(gpa);
    this.after("load");
    return v;
  }
  observe16(gpa: number): number {
    this.before("load");
    const v = this.inner.observe16(gpa);
    this.after("load");
    return v;
  }
  store16(gpa: number, value: number): void {
    this.before("store");
    this.inner.store16(gpa, value);
    this.after("store");
  }
  store32(gpa: number, value: number): void {
    this.before("store");
    this.inner.store32(gpa, value);
    this.after("store");
  }
  publish16(gpa: number, value: number): void {
    this.before("store");
    this.inner.publish16(gpa, value);
    this.after("store");
  }
}

/** Run `fn`; true if the worker died in it. */
function dies(fn: () => void): boolean {
  try {
    fn();
    return false;
  } catch (e) {
    if (e instanceof Crash) return true;
    throw e;
  }
}

/**
 * After a restore: the driver reclaims what it was shown, the restored device completes what it
 * was handed (writing every writable byte) and pops what is still available; every token comes
 * back exactly once with the right length.
 */
function finish(w: World, specs: Record<number, ChainSpec>, tokens: number[], where: string): void {
  const { queue, inFlight } = restore(w);
  const seen = new Map<number, number>();
  reclaim(w, seen);
  for (const c of inFlight) assert.ok(queue.push(c, c.writableBytes).ok, where);
  queue.publish();
  for (let i = 0; i < SIZE; i++) {
    const r = queue.pop();
    if (!r.ok) assert.fail(`${where}: pop after restore failed: ${r.error.kind}`);
    if (!r.value) break;
    queue.push(r.value, r.value.writableBytes);
  }
  queue.publish();
  reclaim(w, seen);
  const expected = tokens.map((t) => [t, specs[t].writable.reduce((a, [, l]) => a + l, 0)]);
  assert.deepStrictEqual([...seen].sort((a, b) => a[0] - b[0]), expected, where);
  assert.equal(w.driver.inFlight, 0, where);
  assert.equal(queue.inFlight, 0, where);
  assert.deepStrictEqual(validateState(w.state, w.mock.config.layout, SIZE), OK, where);
}

for (const layout of LAYOUTS) {
  for (const inOrder of [false, true]) {
    const tag = `${layout}${inOrder ? ", IN_ORDER" : ""}`;

    Deno.test(`restores after a crash at every ring access of publish (crash window) [${tag}]`, () => {
      for (let k = 0;; k++) {
        let ring!: DyingRing;
        const w = world(layout, {
          ring: (mem) => (ring = new DyingRing(mem)),
          features: { inOrder },
        });
        const specs = specsAt(w.d);
        post(w, specs, 1, 2, 3);
        const [c1, c2] = popTokens(w.device, specs, 1, 2, 3);
        w.device.push(c1, 0);
        w.device.push(c2, 64);
        ring.arm("store", k);
        const died = dies(() => w.device.publish());
        finish(w, specs, [1, 2, 3], `died after ${k} stores`);
        if (!died) break;
        assert.ok(k < 32, "publish never finished");
      }
    });
  }

  Deno.test(`restores after a crash at every ring access of pop (crash window) [${layout}]`, () => {
    for (let k = 0;; k++) {
      let ring!: DyingRing;
      const w = world(layout, {
        ring: (mem) => (ring = new DyingRing(mem)),
        features: { indirect: true },
      });
      const specs = specsAt(w.d);
      post(w, specs, 1, 4);
      popTokens(w.device, specs, 1);
      ring.arm("load", k);
      const died = dies(() => w.device.pop());
      finish(w, specs, [1, 4], `died after ${k} loads`);
      if (!died) break;
      assert.ok(k < 64, "pop never finished");
    }
  });

  Deno.test(`restores after a crash between the state writes of publish (crash window) [${layout}]`, () => {
    // publish clears the chains one by one, then the counters, then the journal: die after the
    // first chain was cleared.
    const w = world(layout);
    const specs = specsAt(w.d);
    post(w, specs, 1, 2, 3);
    const [c1, c2] = popTokens(w.device, specs, 1, 2, 3);
    w.device.push(c1, 0);
    w.device.push(c2, 64);
    const before = w.state.slice();
    w.device.publish();
    for (
      const word of [
        StateWord.USED_IDX,
        StateWord.USED_WRAP,
        StateWord.IN_FLIGHT,
        StateWord.SIGNALLED_USED,
      ]
    ) {
      w.state[word] = before[word];
    }
    w.state[STATE_HEADER_WORDS + c2.id] = before[STATE_HEADER_WORDS + c2.id];
    w.state[StateWord.PUBLISH_COUNT] = 2;
    finish(w, specs, [1, 2, 3], "died inside the clearing loop");
  });

  Deno.test(`rolls back a pop that died before clearing its journal (crash window) [${layout}]`, () => {
    const w = world(layout);
    const specs = specsAt(w.d);
    post(w, specs, 1, 2);
    popTokens(w.device, specs, 1);
    const from = w.state[StateWord.NEXT_AVAIL] | (w.state[StateWord.AVAIL_WRAP] << 16);
    const [c2] = popTokens(w.device, specs, 2);
    w.state[StateWord.POP_FROM] = from;
    w.state[StateWord.POP_ID] = c2.id + 1;
    finish(w, specs, [1, 2], "died before POP_ID = 0");
  });
}
