import assert from "node:assert/strict";
import { bufferStride, bytesAtPhase, copyAtPhase, PageAllocator } from "./allocator.ts";
import { PAGE_SIZE } from "./memory.ts";

const BASE = 0x10000;

function unwrap<T, E>(r: { ok: true; value: T } | { ok: false; error: E }): T {
  if (!r.ok) throw new Error(`unexpected error ${JSON.stringify(r.error)}`);
  return r.value;
}

Deno.test("constructor rejects ranges that are not page aligned or empty", () => {
  for (
    const [base, bytes] of [
      [1, PAGE_SIZE],
      [BASE, PAGE_SIZE + 1],
      [BASE, 0],
      [BASE, -PAGE_SIZE],
      [-PAGE_SIZE, PAGE_SIZE],
      [0.5, PAGE_SIZE],
    ]
  ) {
    assert.throws(() => new PageAllocator(base, bytes), RangeError, `${base}+${bytes}`);
  }
  const a = new PageAllocator(BASE, 8 * PAGE_SIZE);
  assert.equal(a.base, BASE);
  assert.equal(a.pageCount, 8);
  assert.equal(a.freePages, 8);
});

Deno.test("alloc is first fit from the base", () => {
  const a = new PageAllocator(BASE, 8 * PAGE_SIZE);
  assert.deepEqual(a.alloc(1), { ok: true, value: BASE });
  assert.deepEqual(a.alloc(2), { ok: true, value: BASE + PAGE_SIZE });
  assert.deepEqual(a.alloc(1), { ok: true, value: BASE + 3 * PAGE_SIZE });
  assert.equal(a.freePages, 4);
  a.free(BASE); // hole of 1 page at 0
  a.free(BASE + PAGE_SIZE); // hole now 3 pages at 0..2
  assert.deepEqual(a.alloc(2), { ok: true, value: BASE }, "first hole that fits");
  assert.deepEqual(a.alloc(1), { ok: true, value: BASE + 2 * PAGE_SIZE });
  assert.deepEqual(a.alloc(1), { ok: true, value: BASE + 4 * PAGE_SIZE });
});

Deno.test("alloc skips a hole too small for the request", () => {
  const a = new PageAllocator(BASE, 8 * PAGE_SIZE);
  const p0 = unwrap(a.alloc(1));
  unwrap(a.alloc(1));
  a.free(p0);
  assert.deepEqual(a.alloc(2), { ok: true, value: BASE + 2 * PAGE_SIZE });
  assert.deepEqual(a.alloc(1), { ok: true, value: BASE }, "the small hole is still used later");
});

Deno.test("allocBytes rounds up to whole pages, at least one", () => {
  const cases: Array<[number, number]> = [
    [0, 1],
    [1, 1],
    [PAGE_SIZE, 1],
    [PAGE_SIZE + 1, 2],
    [5000, 2],
    [3 * PAGE_SIZE, 3],
  ];
  for (const [bytes, pages] of cases) {
    const a = new PageAllocator(BASE, 8 * PAGE_SIZE);
    const gpa = unwrap(a.allocBytes(bytes));
    assert.equal(gpa % PAGE_SIZE, 0, "page aligned, so 16-byte ring alignment holds");
    assert.equal(a.freePages, 8 - pages, `${bytes} bytes`);
  }
});

Deno.test("exhaustion returns out-of-memory with the pages asked and free", () => {
  const a = new PageAllocator(BASE, 4 * PAGE_SIZE);
  assert.deepEqual(a.alloc(5), {
    ok: false,
    error: { kind: "out-of-memory", pages: 5, freePages: 4 },
  });
  unwrap(a.alloc(4));
  assert.equal(a.freePages, 0);
  assert.deepEqual(a.alloc(1), {
    ok: false,
    error: { kind: "out-of-memory", pages: 1, freePages: 0 },
  });
  assert.deepEqual(a.allocBytes(1), {
    ok: false,
    error: { kind: "out-of-memory", pages: 1, freePages: 0 },
  });
});

Deno.test("exhaustion by fragmentation reports the free but scattered pages", () => {
  const a = new PageAllocator(BASE, 4 * PAGE_SIZE);
  const pages = [0, 1, 2, 3].map(() => unwrap(a.alloc(1)));
  a.free(pages[0]);
  a.free(pages[2]);
  assert.deepEqual(a.alloc(2), {
    ok: false,
    error: { kind: "out-of-memory", pages: 2, freePages: 2 },
  });
  assert.equal(a.freePages, 2, "a failed alloc changes nothing");
  a.free(pages[1]);
  assert.deepEqual(a.alloc(3), { ok: true, value: BASE });
});

Deno.test("free returns the whole run for reuse", () => {
  const a = new PageAllocator(BASE, 4 * PAGE_SIZE);
  const gpa = unwrap(a.alloc(3));
  assert.equal(a.freePages, 1);
  a.free(gpa);
  assert.equal(a.freePages, 4);
  assert.deepEqual(a.alloc(4), { ok: true, value: BASE });
});

Deno.test("alloc rejects page counts that are not positive integers (programmer error)", () => {
  const a = new PageAllocator(BASE, 4 * PAGE_SIZE);
  for (const pages of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => a.alloc(pages), RangeError, `pages ${pages}`);
  }
  assert.equal(a.freePages, 4);
});

Deno.test("double free throws (programmer error) and leaves the count alone", () => {
  const a = new PageAllocator(BASE, 4 * PAGE_SIZE);
  const gpa = unwrap(a.alloc(2));
  a.free(gpa);
  assert.throws(() => a.free(gpa), RangeError);
  assert.equal(a.freePages, 4);
});

Deno.test("free of anything but the start of an allocation throws", () => {
  const a = new PageAllocator(BASE, 4 * PAGE_SIZE);
  const gpa = unwrap(a.alloc(2));
  for (
    const bad of [
      gpa + PAGE_SIZE, // second page of the run
      gpa + 1,
      gpa + 2 * PAGE_SIZE, // never allocated
      BASE - PAGE_SIZE,
      BASE + 4 * PAGE_SIZE,
      -1,
      NaN,
      2 ** 64,
    ]
  ) {
    assert.throws(() => a.free(bad), RangeError, `free(${bad})`);
  }
  assert.equal(a.freePages, 2);
  a.free(gpa);
  assert.equal(a.freePages, 4);
});

Deno.test("many alloc/free rounds keep the free count exact (seeded)", () => {
  let seed = 0x1234567;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const a = new PageAllocator(BASE, 32 * PAGE_SIZE);
  const live = new Map<number, number>();
  for (let i = 0; i < 2000; i++) {
    if (live.size > 0 && rand(2) === 0) {
      const keys = [...live.keys()];
      const gpa = keys[rand(keys.length)];
      a.free(gpa);
      live.delete(gpa);
    } else {
      const pages = 1 + rand(4);
      const r = a.alloc(pages);
      if (r.ok) {
        for (const [g, p] of live) {
          const overlap: boolean = r.value < g + p * PAGE_SIZE && g < r.value + pages * PAGE_SIZE;
          assert.equal(overlap, false, `seed step ${i}: overlap with 0x${g.toString(16)}`);
        }
        live.set(r.value, pages);
      }
    }
    const used = [...live.values()].reduce((s, p) => s + p, 0);
    assert.equal(a.freePages, 32 - used, `step ${i}`);
  }
});

Deno.test("bufferStride puts buffers a cache line apart; bytesAtPhase and copyAtPhase keep a phase", () => {
  assert.deepEqual([1, 64, 65, 1526, 1536, 4140].map(bufferStride), [
    64,
    64,
    128,
    1536,
    1536,
    4160,
  ]);
  for (const phase of [0, 3, 4, 7]) {
    const b = bytesAtPhase(100, phase);
    assert.deepEqual([b.length, b.byteOffset % 8, b.every((x) => x === 0)], [100, phase, true]);
  }
  const shared = new Uint8Array(new SharedArrayBuffer(64)).map((_, i) => i);
  for (const at of [0, 4, 13]) {
    const src = shared.subarray(at, at + 20);
    const copy = copyAtPhase(src);
    assert.equal(copy.byteOffset % 8, at % 8);
    assert.deepEqual([...copy], [...src]);
    assert.ok(!(copy.buffer instanceof SharedArrayBuffer)); // a private copy
    src[0] ^= 0xff;
    assert.notEqual(copy[0], src[0]);
  }
});
