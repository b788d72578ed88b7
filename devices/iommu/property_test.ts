/**
 * Property: random MAP/UNMAP/invalidate/sync/access sequences with two consumers, against a
 * reference model. No access ever succeeds through a mapping that a consumer may no longer
 * hold (unmapped and acknowledged), cached IOTLB entries included; an access wholly inside live
 * mappings with the permission, and with no stale entry in the way, always succeeds. Accesses go
 * through `resolve` or, as a device's data path does, through a chain walker (which serves what
 * it can from the view's shortcut, inline).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { GuestMemory } from "../memory/memory.ts";
import { ChainWalker, PooledChain } from "../virtio/chain.ts";
import { IommuDma } from "./dma.ts";
import { Iotlb } from "./iotlb.ts";
import { type Mapping, Viommu } from "./viommu.ts";

const P = 4096;
const PAGES = 12;

type Op =
  | { op: "map"; page: number; pages: number; gpaPage: number; perms: number }
  | { op: "unmap"; page: number; pages: number }
  | { op: "invalidate" }
  | { op: "sync"; who: number }
  | {
    op: "access";
    who: number;
    page: number;
    offset: number;
    len: number;
    write: boolean;
    walk?: boolean;
  };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant("map" as const),
      page: fc.nat(PAGES - 1),
      pages: fc.integer({ min: 1, max: 3 }),
      gpaPage: fc.nat(12),
      perms: fc.integer({ min: 1, max: 3 }),
    }),
    weight: 3,
  },
  fc.record({
    op: fc.constant("unmap" as const),
    page: fc.nat(PAGES - 1),
    pages: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ op: fc.constant("invalidate" as const) }),
  { arbitrary: fc.record({ op: fc.constant("sync" as const), who: fc.nat(1) }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant("access" as const),
      who: fc.nat(1),
      page: fc.nat(PAGES - 1),
      offset: fc.nat(P - 1),
      len: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 2 * P })),
      write: fc.boolean(),
      walk: fc.boolean(),
    }),
    weight: 5,
  },
);

interface Removed {
  m: Mapping;
  /** Generation whose acknowledgement drops it (null: not invalidated yet). */
  gen: number | null;
}

function covers(ms: readonly Mapping[], iova: number, need: number): Mapping[] {
  return ms.filter((m) => m.start <= iova && iova <= m.end && (m.perms & need) !== 0);
}

/** One descriptor through `w`, as a device pops it: its GPA, or -1 when the walk faulted. */
function walkOne(w: ChainWalker, iova: number, len: number, write: boolean): number {
  const chain = new PooledChain();
  w.begin(chain, 0);
  if (w.add(0, iova, len, write) !== null || w.fault !== null) return -1;
  w.end(0, 1);
  return (write ? chain.writable : chain.readable)[0].gpa;
}

function run(ops: Op[]): void {
  const v = Viommu.create({ mappings: 32, endpoints: 1, consumers: 2, faults: 4 });
  const mem = GuestMemory.create(16 * P);
  v.attach(1, 0);
  const dmas = [0, 1].map((i) =>
    new IommuDma(
      mem,
      new Iotlb(v.buffer, { slot: v.registerConsumer(`c${i}`), endpoint: 0, entries: 4 }),
    )
  );
  const walkers = dmas.map((d) => new ChainWalker(d));
  const acked = [v.generation, v.generation];
  let live: Mapping[] = [];
  let removed: Removed[] = [];
  for (const o of ops) {
    if (o.op === "map") {
      const m = {
        start: o.page * P,
        end: (o.page + o.pages) * P - 1,
        gpa: o.gpaPage * P,
        perms: o.perms,
      };
      const overlap = live.some((l) => l.start <= m.end && m.start <= l.end);
      const r = v.map(1, m);
      assert.equal(r.ok, !overlap, `map ${JSON.stringify(m)}`);
      if (r.ok) live.push(m);
    } else if (o.op === "unmap") {
      const s = o.page * P, e = (o.page + o.pages) * P - 1;
      const hit = live.filter((l) => l.end >= s && l.start <= e);
      const split = hit.some((l) => l.start < s || l.end > e);
      const r = v.unmap(1, s, e);
      assert.equal(r.ok, !split);
      if (r.ok) {
        live = live.filter((l) => !hit.includes(l));
        removed.push(...hit.map((m) => ({ m, gen: null })));
      }
    } else if (o.op === "invalidate") {
      const g = v.invalidate();
      for (const r of removed) if (r.gen === null) r.gen = g;
    } else if (o.op === "sync") {
      dmas[o.who].beginBatch();
      acked[o.who] = v.generation;
      // UNMAP completion: a removal is complete once every consumer acknowledged its generation.
      const done = (r: Removed) => r.gen !== null && acked.every((a) => ((a - r.gen!) | 0) >= 0);
      for (const r of removed) if (done(r)) assert.deepEqual(v.unacked(r.gen!), []);
      removed = removed.filter((r) => !done(r));
    } else {
      const need = o.write ? 2 : 1;
      const iova = o.page * P + o.offset;
      const stale = removed
        .filter((r) => r.gen === null || ((acked[o.who] - r.gen) | 0) < 0)
        .map((r) => r.m);
      const maybe = [...live, ...stale];
      const gpa = o.walk
        ? walkOne(walkers[o.who], iova, o.len, o.write)
        : dmas[o.who].resolve(iova, o.len, o.write ? "write" : "read");
      const pagesTouched: number[] = [];
      for (let a = iova; a < iova + o.len; a = (Math.floor(a / P) + 1) * P) pagesTouched.push(a);
      const ctx = `${JSON.stringify(o)} live=${JSON.stringify(live)} stale=${
        JSON.stringify(stale)
      }`;
      if (gpa >= 0) {
        // Never through a mapping the consumer can no longer hold.
        for (const a of pagesTouched) {
          assert.ok(covers(maybe, a, need).length > 0, `succeeded at ${a}: ${ctx}`);
        }
        const first = covers(maybe, iova, need);
        assert.ok(first.some((m) => m.gpa + iova - m.start === gpa), `wrong gpa ${gpa}: ${ctx}`);
      } else {
        const noStale = !stale.some((m) => m.start < iova + o.len && iova <= m.end);
        const one = covers(live, iova, need)[0];
        const inMemory = one && one.gpa + iova - one.start + o.len <= mem.size;
        if (noStale && one && iova + o.len - 1 <= one.end && inMemory) {
          assert.fail(`refused inside a live mapping: ${ctx}`);
        }
      }
    }
  }
}

const RUNS = Number(Deno.env.get("VLAB_FUZZ_RUNS") ?? "") || 300;
/** Fixed by default so CI is repeatable; fast-check prints the seed of a failing run. */
const SEED = Number(Deno.env.get("VLAB_FUZZ_SEED") ?? "") || 0x10aa;

Deno.test("no access succeeds through a stale mapping, IOTLB included (property)", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 20, maxLength: 80, size: "max" }), (ops) => run(ops)),
    { numRuns: RUNS, seed: SEED },
  );
});

Deno.test("a stale IOTLB entry is dropped at the next batch after UNMAP (regression shape)", () => {
  run([
    { op: "map", page: 0, pages: 1, gpaPage: 2, perms: 3 },
    { op: "access", who: 0, page: 0, offset: 0, len: 8, write: false },
    { op: "unmap", page: 0, pages: 1 },
    { op: "invalidate" },
    { op: "sync", who: 0 },
    { op: "map", page: 0, pages: 1, gpaPage: 5, perms: 1 },
    { op: "access", who: 0, page: 0, offset: 0, len: 8, write: false },
    { op: "access", who: 1, page: 0, offset: 0, len: 8, write: true },
    { op: "sync", who: 1 },
  ]);
  // The same through a device's chain walker (the view's shortcut, then resolve).
  run([
    { op: "map", page: 0, pages: 1, gpaPage: 2, perms: 3 },
    { op: "access", who: 0, page: 0, offset: 0, len: 8, write: false, walk: true },
    { op: "unmap", page: 0, pages: 1 },
    { op: "invalidate" },
    { op: "sync", who: 0 },
    { op: "access", who: 0, page: 0, offset: 0, len: 8, write: false, walk: true },
    { op: "map", page: 0, pages: 1, gpaPage: 5, perms: 1 },
    { op: "access", who: 0, page: 0, offset: 0, len: 8, write: false, walk: true },
    { op: "access", who: 0, page: 0, offset: 0, len: 8, write: true, walk: true },
  ]);
});

Deno.test("a walk whose first ask meets a stale IOTLB entry and whose second finds the live mapping keeps the buffer", () => {
  // fast-check's counterexample at 20000 runs (seed 4266): consumer 1 still holds page 7's
  // removed mapping (gpa 0) when pages 7-8 are mapped again (gpa P). Walking 4097 bytes from
  // page 7, its IOTLB's state made `resolve` refuse; `translate`, asked why right after, allowed
  // it. The walker dropped the buffer without a fault: the chain had no segment for it (this
  // test read `undefined.gpa`).
  const ops = [
    { op: "map", page: 7, pages: 1, gpaPage: 0, perms: 1 },
    { op: "access", who: 1, page: 7, offset: 0, len: 1, write: false, walk: false },
    { op: "map", page: 3, pages: 1, gpaPage: 0, perms: 1 },
    { op: "unmap", page: 4, pages: 4 },
    { op: "map", page: 1, pages: 1, gpaPage: 0, perms: 1 },
    { op: "access", who: 1, page: 1, offset: 0, len: 1, write: false, walk: false },
    { op: "map", page: 7, pages: 2, gpaPage: 1, perms: 1 },
    { op: "access", who: 1, page: 3, offset: 0, len: 1, write: false, walk: false },
    { op: "map", page: 0, pages: 1, gpaPage: 0, perms: 1 },
    { op: "access", who: 1, page: 0, offset: 0, len: 1, write: false, walk: false },
    { op: "access", who: 1, page: 7, offset: 0, len: 4097, write: false, walk: true },
  ] as Op[];
  run(ops);
});
