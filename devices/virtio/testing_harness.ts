/**
 * Test harness around the mock drivers of `testing.ts`: a counting `RingAccess` (bounded work,
 * no access outside guest memory), plain copies of pooled chains, and assertions for the two
 * outcomes reliability.md allows for bad guest input (fatal: the queue breaks; per request: the
 * chain comes back with a fault and the queue keeps working). Used by the malformed-ring tests
 * and the fuzzers.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { GuestMemory } from "../memory/memory.ts";
import type { ChainFault, RingError } from "./errors.ts";
import type {
  DescriptorChain,
  DeviceQueue,
  Layout,
  PopResult,
  QueueConfig,
  RingFeatures,
  Segment,
} from "./queue.ts";
import { type RingAccess, SharedRingAccess } from "./ring_access.ts";
import { createMock, type MockOptions } from "./testing.ts";

/**
 * A plain copy of a chain, as returned by `snapshotChain`.
 *
 * @example
 * ```ts
 * import type { ChainSnapshot } from "./testing_harness.ts";
 * const c: ChainSnapshot = { id: 0, descCount: 1, readable: [{ gpa: 0x4000, len: 16 }],
 *   writable: [], readableBytes: 16, writableBytes: 0 };
 * ```
 */
export interface ChainSnapshot {
  /** Head index or buffer id. */
  id: number;
  /** Ring slots. */
  descCount: number;
  /** Readable segments. */
  readable: Segment[];
  /** Writable segments. */
  writable: Segment[];
  /** Readable bytes. */
  readableBytes: number;
  /** Writable bytes. */
  writableBytes: number;
}

/**
 * A plain copy of a chain: queues reuse chain objects after `push`, so keep a copy to compare
 * later (it also compares with `deepStrictEqual` against an object literal).
 *
 * @example
 * ```ts
 * import { createMock } from "./testing.ts";
 * import { snapshotChain } from "./testing_harness.ts";
 * const m = createMock("split", { size: 8 });
 * m.addChain([{ addr: m.dataAddr, len: 16 }]);
 * const r = m.createDevice().queue.pop();
 * if (r.ok && r.value) snapshotChain(r.value).readable; // [{ gpa: m.dataAddr, len: 16 }]
 * ```
 */
export function snapshotChain(c: DescriptorChain): ChainSnapshot {
  return {
    id: c.id,
    descCount: c.descCount,
    readable: c.readable.map((s) => ({ gpa: s.gpa, len: s.len })),
    writable: c.writable.map((s) => ({ gpa: s.gpa, len: s.len })),
    readableBytes: c.readableBytes,
    writableBytes: c.writableBytes,
  };
}

/**
 * A `RingAccess` that counts accesses, refuses (throws on) any access outside guest memory, and
 * throws once more than `limit` accesses were made (so a runaway walk fails fast instead of
 * hanging). Misaligned addresses are counted (`misaligned`), not refused.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { CountingRingAccess } from "./testing_harness.ts";
 * const ring = new CountingRingAccess(GuestMemory.create(4096));
 * ring.load16(0x10);
 * ring.loads; // 1
 * ```
 */
export class CountingRingAccess implements RingAccess {
  /** Plain and atomic loads so far. */
  loads = 0;
  /** Plain and atomic stores so far. */
  stores = 0;
  /** Accesses not aligned to their width. */
  misaligned = 0;
  /** Throw once `loads + stores` exceeds this. */
  limit: number;
  private readonly inner: SharedRingAccess;
  private readonly size: number;

  /** Count accesses to `mem`. */
  constructor(mem: GuestMemory, options: { limit?: number } = {}) {
    this.inner = new SharedRingAccess(mem);
    this.size = mem.size;
    this.limit = options.limit ?? Infinity;
  }

  /** Zero the counters. */
  reset(): void {
    this.loads = 0;
    this.stores = 0;
    this.misaligned = 0;
  }

  private check(gpa: number, width: number): void {
    if (!(Number.isInteger(gpa) && gpa >= 0 && gpa + width <= this.size)) {
      throw new RangeError(
        `ring access outside guest memory: ${gpa} (+${width}), memory ${this.size}`,
      );
    }
    if (gpa % width !== 0) this.misaligned++;
    if (this.loads + this.stores > this.limit) {
      throw new RangeError(`more than ${this.limit} ring accesses`);
    }
  }

  /** Counted plain 16-bit load. */
  load16(gpa: number): number {
    this.loads++;
    this.check(gpa, 2);
    return this.inner.load16(gpa);
  }
  /** Counted plain 16-bit store. */
  store16(gpa: number, value: number): void {
    this.stores++;
    this.check(gpa, 2);
    this.inner.store16(gpa, value);
  }
  /** Counted plain 32-bit load. */
  load32(gpa: number): number {
    this.loads++;
    this.check(gpa, 4);
    return this.inner.load32(gpa);
  }
  /** Counted plain 32-bit store. */
  store32(gpa: number, value: number): void {
    this.stores++;
    this.check(gpa, 4);
    this.inner.store32(gpa, value);
  }
  /** Counted atomic 16-bit load. */
  observe16(gpa: number): number {
    this.loads++;
    this.check(gpa, 2);
    return this.inner.observe16(gpa);
  }
  /** Counted atomic 16-bit store. */
  publish16(gpa: number, value: number): void {
    this.stores++;
    this.check(gpa, 2);
    this.inner.publish16(gpa, value);
  }
}

/**
 * Both layouts, for parameterized tests.
 *
 * @example
 * ```ts
 * import { LAYOUTS } from "./testing_harness.ts";
 * for (const layout of LAYOUTS) console.log(`accepts an empty ring [${layout}]`);
 * ```
 */
export const LAYOUTS: readonly Layout[] = ["split", "packed"];

/**
 * A mock driver (size 8 unless given) and a device half over it through a counting ring access.
 *
 * @example
 * ```ts
 * import { setupMockDevice } from "./testing_harness.ts";
 * const h = setupMockDevice("packed", { size: 4 });
 * h.mock.addChain([{ addr: h.data, len: 16 }]);
 * h.queue.pop();
 * ```
 */
export function setupMockDevice(layout: Layout, options: Partial<MockOptions> = {}) {
  const mock = createMock(layout, { size: 8, ...options });
  const ring = new CountingRingAccess(mock.mem);
  const { queue, state } = mock.createDevice({ ring });
  return { mock, ring, queue, state, data: mock.dataAddr, memSize: mock.mem.size };
}

/**
 * What `setupMockDevice` returns.
 *
 * @example
 * ```ts
 * import { type MockHarness, setupMockDevice } from "./testing_harness.ts";
 * const h: MockHarness = setupMockDevice("split");
 * h.ring.loads; // 0: nothing popped yet
 * ```
 */
export type MockHarness = ReturnType<typeof setupMockDevice>;

/**
 * Pop, expecting a chain; returns it and a plain copy.
 *
 * @example
 * ```ts
 * import { popChain, setupMockDevice } from "./testing_harness.ts";
 * const h = setupMockDevice("split");
 * h.mock.addChain([{ addr: h.data, len: 16 }]);
 * popChain(h).copy.readableBytes; // 16
 * ```
 */
export function popChain(h: MockHarness) {
  const r = h.queue.pop();
  if (!r.ok) assert.fail(`expected a chain, got ${r.error.kind}`);
  if (!r.value) assert.fail("expected a chain, got an empty ring");
  return { chain: r.value, copy: snapshotChain(r.value) };
}

/**
 * The fatal path: exact error, `broken` set, in-flight count unchanged, and afterwards pop,
 * publish, needsInterrupt and enableNotifications answer the same without touching the ring.
 *
 * @example
 * ```ts
 * import { expectFatal, setupMockDevice } from "./testing_harness.ts";
 * import type { MockSplitRing } from "./testing.ts";
 * const h = setupMockDevice("split");
 * (h.mock as MockSplitRing).makeAvailable(9);
 * expectFatal(h, h.queue.pop(), { kind: "head-out-of-range", head: 9, size: 8 });
 * ```
 */
export function expectFatal(h: MockHarness, r: PopResult, expected: RingError, inFlight = 0): void {
  if (r.ok) {
    assert.fail(`expected ${expected.kind}, got ${r.value === null ? "an empty ring" : "a chain"}`);
  }
  assert.deepStrictEqual(r.error, { ...expected, fatal: true });
  assert.deepStrictEqual(h.queue.broken, expected);
  assert.equal(h.queue.inFlight, inFlight);
  const before = h.ring.loads + h.ring.stores;
  for (let i = 0; i < 3; i++) assert.deepStrictEqual(h.queue.pop(), r);
  h.queue.publish();
  assert.equal(h.queue.needsInterrupt(), false);
  assert.equal(h.queue.enableNotifications(), false);
  assert.equal(h.ring.loads + h.ring.stores, before, "a broken queue must not touch the ring");
}

/**
 * The per-request path: the chain comes back with exactly `fault`, is pushed back with length 0
 * (the driver sees its id with len 0), and the next valid chain pops normally.
 *
 * @example
 * ```ts
 * import { expectDropped, setupMockDevice } from "./testing_harness.ts";
 * const h = setupMockDevice("packed");
 * h.mock.addChain([{ addr: h.memSize, len: 16 }]);
 * expectDropped(h, h.queue.pop(), { kind: "buffer-unreachable", head: 0,
 *   cause: { kind: "dma-out-of-range", addr: h.memSize, length: 16, access: "read" } });
 * ```
 */
export function expectDropped(h: MockHarness, r: PopResult, fault: ChainFault): void {
  if (r.ok) {
    assert.fail(`expected ${fault.kind}, got ${r.value === null ? "an empty ring" : "a chain"}`);
  }
  if (r.error.fatal) assert.fail(`expected a per-request ${fault.kind}, got fatal ${r.error.kind}`);
  const { chain, fatal: _, ...rest } = r.error;
  assert.deepStrictEqual(rest, fault);
  assert.equal(h.queue.broken, null);
  assert.equal(h.queue.inFlight, 1);
  const id = chain.id;
  assert.deepStrictEqual(h.queue.push(chain, 0), { ok: true, value: undefined });
  h.queue.publish();
  assert.deepStrictEqual(
    h.mock.takeUsed(),
    h.mock.config.layout === "split" ? { id, len: 0 } : { id, len: 0, flags: usedFlags(h) },
  );
  assert.equal(h.queue.inFlight, 0);
  const next = h.mock.addChain([{ addr: h.data, len: 16 }, {
    addr: h.data + 16,
    len: 16,
    write: true,
  }]);
  const { copy } = popChain(h);
  assert.equal(copy.id, next);
  assert.deepStrictEqual(copy.readable, [{ gpa: h.data, len: 16 }]);
  assert.deepStrictEqual(copy.writable, [{ gpa: h.data + 16, len: 16 }]);
}

function usedFlags(h: MockHarness): number {
  // First lap: the device marks used descriptors with AVAIL | USED (wrap 1), no WRITE for len 0.
  return h.mock.config.layout === "packed" ? 0x8080 : 0;
}

/** A layout and size the conformance suites run over. */
export interface Variant {
  /** Ring layout. */
  layout: Layout;
  /** Queue size. */
  size: number;
}

/** Split, packed with a power-of-two size, and packed with a size that is not one. */
export const VARIANTS: readonly Variant[] = [
  { layout: "split", size: 16 },
  { layout: "packed", size: 16 },
  { layout: "packed", size: 100 },
];

/** The test-name suffix of a variant, e.g. `[packed/100]`. */
export function tag(v: Variant): string {
  return `[${v.layout}/${v.size}]`;
}

/**
 * A queue configuration at the suites' fixed addresses (descriptor area 0x1000, driver area
 * 0x10000, device area 0x20000), all ring features off unless given.
 *
 * @example
 * ```ts
 * import { variantConfig } from "./testing_harness.ts";
 * variantConfig({ layout: "packed", size: 100 }, { eventIdx: true }).driverAddr; // 0x10000
 * ```
 */
export function variantConfig(v: Variant, features: Partial<RingFeatures> = {}): QueueConfig {
  return {
    layout: v.layout,
    size: v.size,
    descAddr: 0x1000,
    driverAddr: 0x10000,
    deviceAddr: 0x20000,
    features: { eventIdx: false, indirect: false, inOrder: false, ...features },
  };
}

/**
 * Make `q` refuse the next `n` completions pushed to it, staging nothing, as a queue refuses a
 * chain it no longer has in flight; `refused` lists the chains. Undone by `restore`.
 *
 * @example
 * ```ts
 * import { refusePushes } from "./testing_harness.ts";
 * // const q = refusePushes(rig.tx.device, 1); … q.refused.length; q.restore();
 * ```
 */
export function refusePushes(
  q: DeviceQueue,
  n: number,
): { refused: DescriptorChain[]; restore: () => void } {
  const dq = q as { push: DeviceQueue["push"] };
  const push = dq.push;
  const refused: DescriptorChain[] = [];
  dq.push = (chain, written) => {
    if (refused.length >= n) return push.call(q, chain, written);
    refused.push(chain);
    return { ok: false, error: { kind: "not-in-flight", id: chain.id } };
  };
  return { refused, restore: () => void (dq.push = push) };
}
