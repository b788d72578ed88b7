/**
 * Fuzz of the device half with random ring contents (reliability.md "How the anchors test":
 * rust-vmm's structure-aware queue fuzzer, QEMU's bounded-work oracle).
 *
 * Each case fills a queue's areas and a small data region (used as indirect tables and buffers)
 * with random or biased bytes, picks the ring features at random, and runs a random bounded
 * sequence of pop / push / publish / needsInterrupt / enable- and disableNotifications, sometimes
 * rewriting ring bytes in between. Oracles: nothing throws; every pop returns after reading at
 * most 2·size descriptors (measured as ring loads, ≤ 10 per descriptor); no ring access falls
 * outside guest memory; a broken queue stays broken with the same error; the in-flight count
 * stays within the queue size; and the device's own state record stays valid.
 *
 * `VLAB_FUZZ_RUNS` sets the number of cases (default 300; `deno task fuzz` runs 200000),
 * `VLAB_FUZZ_SEED` the first case's seed. A failure prints the seed of its case.
 */
import assert from "node:assert/strict";
import type { DescriptorChain, DeviceQueue, Layout } from "../devices/virtio/queue.ts";
import { validateState } from "../devices/virtio/state.ts";
import { createMock, type MockPackedRing, type MockSplitRing } from "../devices/virtio/testing.ts";
import { CountingRingAccess } from "../devices/virtio/testing_harness.ts";

const RUNS = Number(Deno.env.get("VLAB_FUZZ_RUNS") ?? "") || 300;
const SEED = (Number(Deno.env.get("VLAB_FUZZ_SEED") ?? "") || 0x9e3779b9) >>> 0;
/** A descriptor visit costs at most 10 ring loads (packed: walk plus the inflight-log copy). */
const LOADS_PER_DESC = 10;

/** xorshift32: small, fast, repeatable. */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  return {
    u32: next,
    below: (n: number) => next() % n,
    chance: (p: number) => next() / 2 ** 32 < p,
    pick: <T>(xs: readonly T[]): T => xs[next() % xs.length],
  };
}
type Rng = ReturnType<typeof prng>;

/** Random bytes, or descriptors whose fields are near the interesting values. */
function fillDescriptors(rng: Rng, u8: Uint8Array, from: number, count: number, ctx: Ctx): void {
  const view = new DataView(u8.buffer);
  for (let i = 0; i < count; i++) {
    const off = from + 16 * i;
    if (off + 16 > u8.length) return;
    if (rng.chance(0.2)) {
      for (let b = 0; b < 16; b++) u8[off + b] = rng.u32() & 0xff;
      continue;
    }
    const table = rng.chance(0.3);
    const addr = table ? ctx.data + 16 * rng.below(ctx.dataBytes / 16) : rng.pick([
      ctx.data + rng.below(ctx.dataBytes),
      ctx.memSize - rng.below(32),
      rng.u32() * 2 ** 21,
      0,
    ]);
    view.setUint32(off, addr >>> 0, true);
    view.setUint32(off + 4, Math.floor(addr / 2 ** 32), true);
    view.setUint32(
      off + 8,
      table ? 16 * rng.below(ctx.size + 3) : rng.pick([0, 1, 16, 64, 4096, rng.u32()]),
      true,
    );
    const wrap = rng.pick([0x80, 0x80, 0x8000, 0x8080, 0]);
    // Mostly plain NEXT/WRITE descriptors; sometimes INDIRECT or junk bits.
    const low = rng.below(4) | (rng.chance(0.15) ? 4 : 0) |
      (rng.chance(0.05) ? rng.u32() & 0x7f78 : 0);
    view.setUint16(off + 12, ctx.layout === "packed" ? rng.below(ctx.size + 2) : low, true);
    view.setUint16(off + 14, ctx.layout === "packed" ? low | wrap : rng.below(ctx.size + 2), true);
  }
}

interface Ctx {
  layout: Layout;
  size: number;
  data: number;
  dataBytes: number;
  memSize: number;
}

/** Fill every area of the mock (and the data region) with fresh random or biased content. */
function scramble(rng: Rng, m: MockSplitRing | MockPackedRing, ctx: Ctx, fraction = 1): void {
  const u8 = m.mem.u8;
  const { descAddr, driverAddr, deviceAddr } = m.config;
  const descs = Math.max(1, Math.floor(ctx.size * fraction));
  fillDescriptors(rng, u8, descAddr + 16 * rng.below(ctx.size), descs, ctx);
  fillDescriptors(rng, u8, ctx.data, Math.floor((ctx.dataBytes / 16) * fraction), ctx);
  if (ctx.layout === "split") {
    const split = m as MockSplitRing;
    for (let i = 0; i < ctx.size; i++) {
      if (rng.chance(fraction)) {
        split.setAvailEntry(i, rng.below(rng.chance(0.9) ? ctx.size : ctx.size + 2));
      }
    }
    split.setAvailFlags(rng.below(4));
    split.setUsedEvent(rng.u32());
    split.setAvailIdx(rng.chance(0.9) ? rng.below(ctx.size + 1) : rng.u32());
    for (let i = 0; i < 6 + 8 * ctx.size; i++) {
      if (rng.chance(0.1 * fraction)) u8[deviceAddr + i] = rng.u32() & 0xff;
    }
  } else {
    (m as MockPackedRing).setDriverEvent(rng.u32() & 0xffff, rng.below(4));
    for (let i = 0; i < 4; i++) if (rng.chance(fraction)) u8[deviceAddr + i] = rng.u32() & 0xff;
  }
  if (rng.chance(0.05)) {
    for (let i = 0; i < 16; i++) u8[driverAddr + rng.below(4)] = rng.u32() & 0xff;
  }
}

/** One case: returns normally or throws an assertion naming the step. */
function runCase(seed: number): void {
  const rng = prng(seed);
  const layout: Layout = rng.chance(0.5) ? "split" : "packed";
  const size = layout === "split"
    ? rng.pick([1, 2, 4, 8, 16, 32])
    : rng.pick([1, 2, 3, 5, 8, 13, 16, 32]);
  const features = {
    eventIdx: rng.chance(0.5),
    indirect: rng.chance(0.6),
    inOrder: rng.chance(0.3),
  };
  const m = createMock(layout, { size, features, dataBytes: 4096 });
  const ctx: Ctx = { layout, size, data: m.dataAddr, dataBytes: m.dataBytes, memSize: m.mem.size };
  const ring = new CountingRingAccess(m.mem, { limit: 1_000_000 });
  const { queue, state } = m.createDevice({ ring });
  scramble(rng, m, ctx);
  const held: DescriptorChain[] = [];
  const steps = 1 + rng.below(64);
  for (let step = 0; step < steps; step++) {
    const where = `step ${step}`;
    const op = rng.below(9);
    if (op <= 2) pop(queue, ring, held, size, where);
    else if (op === 3 && held.length > 0) {
      const pick = rng.below(held.length);
      const written = rng.pick([0, held[pick].writableBytes, rng.u32(), -1, rng.below(64)]);
      // Under IN_ORDER only the oldest chain may be used (virtio 1.2 §6.2): any other is refused.
      if (features.inOrder && pick !== 0) {
        assert.deepStrictEqual(
          queue.push(held[pick], written),
          { ok: false, error: { kind: "out-of-order", id: held[pick].id, expected: held[0].id } },
          `${where}: out-of-order push under IN_ORDER`,
        );
      }
      const [chain] = held.splice(features.inOrder ? 0 : pick, 1);
      const w = features.inOrder && pick !== 0 ? rng.pick([0, chain.writableBytes]) : written;
      assert.ok(queue.push(chain, w).ok, `${where}: push of a chain in flight failed`);
    } else if (op === 3) {
      const r = queue.push({
        id: size + rng.below(3),
        descCount: 1,
        readable: [],
        writable: [],
        readableBytes: 0,
        writableBytes: 0,
        indirect: false,
      }, 0);
      if (r.ok) assert.fail(`${where}: push of a chain not in flight was accepted`);
    } else if (op === 4) queue.publish();
    else if (op === 5) queue.needsInterrupt();
    else if (op === 6) queue.enableNotifications();
    else if (op === 7) queue.disableNotifications();
    else scramble(rng, m, ctx, 0.25);
    assert.ok(
      queue.inFlight <= size,
      `${where}: ${queue.inFlight} in flight in a queue of ${size}`,
    );
    const st = validateState(state, layout, size);
    if (!st.ok) assert.fail(`${where}: device state record corrupted: ${JSON.stringify(st.error)}`);
  }
}

function pop(
  queue: DeviceQueue,
  ring: CountingRingAccess,
  held: DescriptorChain[],
  size: number,
  where: string,
): void {
  const wasBroken = queue.broken;
  ring.reset();
  const r = queue.pop();
  const bound = LOADS_PER_DESC * 2 * size + 16;
  assert.ok(ring.loads <= bound, `${where}: pop made ${ring.loads} ring loads, bound ${bound}`);
  if (wasBroken) {
    assert.deepStrictEqual(
      r,
      { ok: false, error: { ...wasBroken, fatal: true } },
      `${where}: broken queue answered differently`,
    );
    assert.equal(ring.loads + ring.stores, 0, `${where}: broken queue touched the ring`);
    return;
  }
  if (r.ok) {
    if (r.value) held.push(r.value);
    return;
  }
  if (r.error.fatal) {
    assert.deepStrictEqual(
      queue.broken,
      (({ fatal: _, ...e }) => e)(r.error),
      `${where}: fatal error without broken`,
    );
    held.length = 0; // a broken queue completes nothing
  } else {
    held.push(r.error.chain);
  }
}

Deno.test(`device half survives random ring contents (${RUNS} cases, seed ${SEED})`, () => {
  for (let i = 0; i < RUNS; i++) {
    const seed = (SEED + i) >>> 0;
    try {
      runCase(seed);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(
        `fuzz case failed (reproduce: VLAB_FUZZ_SEED=${seed} VLAB_FUZZ_RUNS=1): ${msg}`,
        { cause: e },
      );
    }
  }
});
