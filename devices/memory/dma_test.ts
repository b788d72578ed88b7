import assert from "node:assert/strict";
import {
  DirectDma,
  type DmaAccess,
  type DmaError,
  dmaRead,
  type DmaView,
  dmaWrite,
} from "./dma.ts";
import { GuestMemory, PAGE_SIZE } from "./memory.ts";
import { err, ok, type Result } from "../base/result.ts";

const SIZE = 2 * PAGE_SIZE;

Deno.test("DirectDma translates in-range accesses to the same address", () => {
  const dma = new DirectDma(GuestMemory.create(SIZE));
  for (const access of ["read", "write"] as const) {
    assert.deepEqual(dma.translate(0, SIZE, access), { ok: true, value: 0 });
    assert.deepEqual(dma.translate(0x1234, 16, access), { ok: true, value: 0x1234 });
    assert.deepEqual(dma.translate(SIZE - 1, 1, access), { ok: true, value: SIZE - 1 });
    assert.deepEqual(dma.translate(SIZE, 0, access), { ok: true, value: SIZE });
  }
});

Deno.test("DirectDma.resolve agrees with translate on integers: the GPA, or -1 when refused", () => {
  // resolve's contract: `addr` and `length` are integers (ring code assembles them from u32s).
  const dma = new DirectDma(GuestMemory.create(SIZE));
  const ranges: Array<[number, number]> = [
    [0, SIZE],
    [0x1234, 16],
    [SIZE, 0],
    [SIZE - 1, 1],
    [SIZE - 8, 16],
    [SIZE, 1],
    [0, SIZE + 1],
    [-1, 1],
    [0, -1],
    [2 ** 32 + 0x10, 1],
    [2 ** 53, 1],
    [2 ** 64 - PAGE_SIZE, 2 * PAGE_SIZE],
    [2 ** 64, 0],
  ];
  for (const access of ["read", "write"] as const) {
    for (const [addr, length] of ranges) {
      const t = dma.translate(addr, length, access);
      assert.equal(dma.resolve(addr, length, access), t.ok ? t.value : -1, `${addr}+${length}`);
    }
  }
});

Deno.test("DirectDma refuses out-of-range accesses with the address, length and direction", () => {
  const dma = new DirectDma(GuestMemory.create(SIZE));
  const bad: Array<[number, number]> = [
    [-1, 1],
    [0.5, 1],
    [0, 1.5],
    [0, -1],
    [SIZE, 1],
    [SIZE - 8, 16], // crosses the end
    [0, SIZE + 1],
    [2 ** 32, 1],
    [2 ** 32 + 0x10, 1], // not truncated to 0x10
    [2 ** 53, 1],
    [2 ** 64 - PAGE_SIZE, 2 * PAGE_SIZE], // wraps 2^64 in u64 arithmetic (A15)
    [2 ** 64, 0],
    [NaN, 1],
    [Infinity, 0],
  ];
  for (const access of ["read", "write"] as const) {
    for (const [addr, length] of bad) {
      assert.deepEqual(
        dma.translate(addr, length, access),
        { ok: false, error: { kind: "dma-out-of-range", addr, length, access } },
        `${access} ${addr}+${length}`,
      );
    }
  }
});

Deno.test("dmaRead copies guest bytes and dmaWrite stores them", () => {
  const mem = GuestMemory.create(SIZE);
  const dma = new DirectDma(mem);
  assert.deepEqual(dmaWrite(dma, 0x100, new Uint8Array([1, 2, 3])), { ok: true, value: undefined });
  assert.deepEqual([...mem.u8.subarray(0xff, 0x104)], [0, 1, 2, 3, 0]);
  const into = new Uint8Array(5);
  assert.deepEqual(dmaRead(dma, 0xff, into), { ok: true, value: undefined });
  assert.deepEqual([...into], [0, 1, 2, 3, 0]);
  mem.u8[0x100] = 77;
  assert.equal(into[1], 1, "dmaRead copies; later guest writes do not show");
});

Deno.test("a refused dmaRead leaves the destination and a refused dmaWrite leaves memory", () => {
  const mem = GuestMemory.create(SIZE);
  mem.u8.fill(0x5a);
  const dma = new DirectDma(mem);
  const into = new Uint8Array(8).fill(0xee);
  assert.deepEqual(dmaRead(dma, SIZE - 4, into), {
    ok: false,
    error: { kind: "dma-out-of-range", addr: SIZE - 4, length: 8, access: "read" },
  });
  assert.ok(into.every((b) => b === 0xee));
  assert.deepEqual(dmaWrite(dma, SIZE - 4, new Uint8Array(8)), {
    ok: false,
    error: { kind: "dma-out-of-range", addr: SIZE - 4, length: 8, access: "write" },
  });
  assert.ok(mem.u8.every((b) => b === 0x5a));
});

/** A view that maps device addresses [0x10000, 0x11000) to GPA 0x1000 and only allows reads. */
class OffsetView implements DmaView {
  readonly memory: GuestMemory;
  readonly calls: Array<[number, number, DmaAccess]> = [];
  constructor(memory: GuestMemory) {
    this.memory = memory;
  }
  translate(addr: number, length: number, access: DmaAccess): Result<number, DmaError> {
    this.calls.push([addr, length, access]);
    if (addr < 0x10000 || addr + length > 0x11000) {
      return err({ kind: "dma-unmapped", addr, length, access });
    }
    if (access === "write") return err({ kind: "dma-denied", addr, length, access });
    return ok(addr - 0x10000 + 0x1000);
  }
  resolve(addr: number, length: number, access: DmaAccess): number {
    const t = this.translate(addr, length, access);
    return t.ok ? t.value : -1;
  }
}

Deno.test("dmaRead and dmaWrite go through the view's translation and its refusals", () => {
  const mem = GuestMemory.create(SIZE);
  mem.u8.set([9, 8, 7], 0x1010);
  const view = new OffsetView(mem);
  const into = new Uint8Array(3);
  assert.equal(dmaRead(view, 0x10010, into).ok, true);
  assert.deepEqual([...into], [9, 8, 7]);
  assert.deepEqual(dmaRead(view, 0x20000, into), {
    ok: false,
    error: { kind: "dma-unmapped", addr: 0x20000, length: 3, access: "read" },
  });
  assert.deepEqual(dmaWrite(view, 0x10010, new Uint8Array([1])), {
    ok: false,
    error: { kind: "dma-denied", addr: 0x10010, length: 1, access: "write" },
  });
  assert.equal(mem.u8[0x1010], 9);
  assert.deepEqual(view.calls, [
    [0x10010, 3, "read"],
    [0x20000, 3, "read"],
    [0x10010, 1, "write"],
  ]);
});

Deno.test("DirectDma.segments returns one piece for a range and refuses as translate does", () => {
  const dma = new DirectDma(GuestMemory.create(SIZE));
  const out = [{ gpa: -1, len: -1 }, { gpa: -2, len: -2 }];
  assert.deepEqual(dma.segments(0x100, 64, "read", out), { ok: true, value: 1 });
  assert.deepEqual(out[0], { gpa: 0x100, len: 64 });
  assert.deepEqual(out[1], { gpa: -2, len: -2 }, "only the returned count is written");
  const fresh: { gpa: number; len: number }[] = [];
  assert.deepEqual(dma.segments(SIZE - 1, 1, "write", fresh), { ok: true, value: 1 });
  assert.deepEqual(fresh, [{ gpa: SIZE - 1, len: 1 }]);
  assert.deepEqual(dma.segments(SIZE, 0, "read", fresh), { ok: true, value: 0 });
  for (const [addr, length] of [[SIZE - 8, 16], [-1, 1], [2 ** 53, 1]] as const) {
    assert.deepEqual(
      dma.segments(addr, length, "read", fresh),
      dma.translate(addr, length, "read"),
    );
  }
});
