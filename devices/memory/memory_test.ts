import assert from "node:assert/strict";
import { GuestMemory, MAX_MEMORY_BYTES, PAGE_SIZE } from "./memory.ts";
import { formatMemoryError } from "./errors.ts";

const SIZE = 4 * PAGE_SIZE;

/** Addresses no accessor may accept, whatever the width. */
const BAD_ADDRESSES = [
  -1,
  -PAGE_SIZE,
  0.5,
  1.25,
  SIZE - 0.5,
  SIZE,
  SIZE + 1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 0x10, // would be 0x10 if truncated to 32 bits
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64 - PAGE_SIZE,
  2 ** 64,
  2 ** 64 + 0x10, // would be 0x10 if wrapped at 2^64
  Number.MAX_VALUE,
  Infinity,
  -Infinity,
  NaN,
];

const WIDTHS = [
  { name: "U8", width: 1 },
  { name: "U16", width: 2 },
  { name: "U32", width: 4 },
  { name: "U64", width: 8 },
] as const;

type Width = (typeof WIDTHS)[number]["name"];

function readAs(mem: GuestMemory, name: Width, gpa: number) {
  switch (name) {
    case "U8":
      return mem.readU8(gpa);
    case "U16":
      return mem.readU16(gpa);
    case "U32":
      return mem.readU32(gpa);
    case "U64":
      return mem.readU64(gpa);
  }
}

function writeAs(mem: GuestMemory, name: Width, gpa: number, value: number) {
  switch (name) {
    case "U8":
      return mem.writeU8(gpa, value);
    case "U16":
      return mem.writeU16(gpa, value);
    case "U32":
      return mem.writeU32(gpa, value);
    case "U64":
      return mem.writeU64(gpa, value);
  }
}

/** A memory whose every byte is `fill`, so stray writes are visible. */
function filled(fill: number): GuestMemory {
  const mem = GuestMemory.create(SIZE);
  mem.u8.fill(fill);
  return mem;
}

function assertUntouched(mem: GuestMemory, fill: number): void {
  const stray = mem.u8.findIndex((b) => b !== fill);
  assert.equal(stray, -1, `byte at ${stray} was written`);
}

Deno.test("create rejects sizes that are not a positive whole number of pages up to 2 GiB", () => {
  for (const bytes of [0, -PAGE_SIZE, 1, PAGE_SIZE + 1, PAGE_SIZE / 2, 1.5 * PAGE_SIZE, NaN]) {
    assert.throws(() => GuestMemory.create(bytes), RangeError, `size ${bytes}`);
  }
  assert.throws(() => GuestMemory.create(MAX_MEMORY_BYTES + PAGE_SIZE), RangeError);
});

Deno.test("create returns zeroed memory with views over the whole buffer", () => {
  const mem = GuestMemory.create(SIZE);
  assert.equal(mem.size, SIZE);
  assert.equal(mem.u8.length, SIZE);
  assert.equal(mem.u16.length, SIZE / 2);
  assert.equal(mem.u32.length, SIZE / 4);
  assert.equal(mem.i32.length, SIZE / 4);
  assert.ok(mem.u8.every((b) => b === 0));
});

Deno.test("fromBuffer shares the buffer and rejects buffers that are not whole pages", () => {
  const a = GuestMemory.create(SIZE);
  const b = GuestMemory.fromBuffer(a.buffer);
  a.writeU32(0x100, 0xcafef00d);
  assert.deepEqual(b.readU32(0x100), { ok: true, value: 0xcafef00d });
  assert.throws(() => GuestMemory.fromBuffer(new SharedArrayBuffer(PAGE_SIZE + 2)), RangeError);
});

Deno.test("contains accepts exactly the ranges inside memory", () => {
  const mem = GuestMemory.create(SIZE);
  assert.equal(mem.contains(0, 0), true);
  assert.equal(mem.contains(0, SIZE), true);
  assert.equal(mem.contains(SIZE - 1, 1), true);
  assert.equal(mem.contains(SIZE, 0), true, "an empty range at the end is inside");
  assert.equal(mem.contains(SIZE, 1), false);
  assert.equal(mem.contains(0, SIZE + 1), false);
  assert.equal(mem.contains(1, SIZE), false);
  assert.equal(mem.contains(0, -1), false);
  assert.equal(mem.contains(0, 0.5), false);
  assert.equal(mem.contains(0, NaN), false);
  assert.equal(mem.contains(0, Infinity), false);
  assert.equal(mem.contains(2 ** 64 - 8, 16), false, "a range wrapping 2^64 is outside (A15)");
  for (const gpa of BAD_ADDRESSES) assert.equal(mem.contains(gpa, 1), false, `gpa ${gpa}`);
});

Deno.test("check reports out-of-range with the values involved", () => {
  const mem = GuestMemory.create(SIZE);
  assert.equal(mem.check(0x10, 16).ok, true);
  assert.deepEqual(mem.check(SIZE - 8, 16), {
    ok: false,
    error: { kind: "out-of-range", gpa: SIZE - 8, length: 16, size: SIZE },
  });
});

for (const { name, width } of WIDTHS) {
  Deno.test(`read${name} and write${name} refuse negative, fractional and huge addresses`, () => {
    const mem = filled(0x5a);
    for (const gpa of BAD_ADDRESSES) {
      const r = readAs(mem, name, gpa);
      assert.equal(r.ok, false, `read at ${gpa}`);
      if (!r.ok) {
        assert.deepEqual(r.error, { kind: "out-of-range", gpa, length: width, size: SIZE });
      }
      const w = writeAs(mem, name, gpa, 1);
      assert.equal(w.ok, false, `write at ${gpa}`);
      if (!w.ok) {
        assert.deepEqual(w.error, { kind: "out-of-range", gpa, length: width, size: SIZE });
      }
    }
    assertUntouched(mem, 0x5a);
  });

  Deno.test(`read${name} and write${name} refuse an access crossing the end of memory`, () => {
    const mem = filled(0x5a);
    for (let gpa = SIZE - width + 1; gpa < SIZE; gpa++) {
      assert.equal(readAs(mem, name, gpa).ok, false, `read at ${gpa}`);
      const w = writeAs(mem, name, gpa, 0);
      assert.deepEqual(w, {
        ok: false,
        error: { kind: "out-of-range", gpa, length: width, size: SIZE },
      });
    }
    assertUntouched(mem, 0x5a);
  });

  Deno.test(`read${name} and write${name} reach the last ${width} bytes and address 0`, () => {
    const mem = filled(0);
    for (const gpa of [0, SIZE - width]) {
      assert.equal(writeAs(mem, name, gpa, 0x7f).ok, true);
      assert.deepEqual(readAs(mem, name, gpa), { ok: true, value: 0x7f });
      assert.equal(mem.u8[gpa], 0x7f);
    }
  });

  Deno.test(`read${name} and write${name} work at every alignment`, () => {
    const mem = filled(0);
    const value = 0xa5;
    for (let gpa = 0x101; gpa < 0x101 + 8; gpa++) {
      assert.equal(writeAs(mem, name, gpa, value).ok, true);
      assert.deepEqual(readAs(mem, name, gpa), { ok: true, value });
    }
  });
}

Deno.test("writeU16 stores little-endian bytes and readU16 decodes them (virtio 1.2 §1.4)", () => {
  const mem = filled(0xee);
  mem.writeU16(0x201, 0x1234);
  assert.deepEqual([...mem.u8.subarray(0x200, 0x204)], [0xee, 0x34, 0x12, 0xee]);
  mem.u8.set([0xcd, 0xab], 0x300);
  assert.deepEqual(mem.readU16(0x300), { ok: true, value: 0xabcd });
  mem.writeU16(0x302, 0xffff);
  assert.deepEqual(mem.readU16(0x302), { ok: true, value: 0xffff });
});

Deno.test("writeU32 stores little-endian bytes and readU32 decodes them", () => {
  const mem = filled(0xee);
  mem.writeU32(0x203, 0x12345678);
  assert.deepEqual([...mem.u8.subarray(0x202, 0x208)], [0xee, 0x78, 0x56, 0x34, 0x12, 0xee]);
  mem.u8.set([0x0d, 0xf0, 0xfe, 0xca], 0x300);
  assert.deepEqual(mem.readU32(0x300), { ok: true, value: 0xcafef00d });
  mem.writeU32(0x304, 0xffffffff);
  assert.deepEqual(mem.readU32(0x304), { ok: true, value: 0xffffffff }, "unsigned, not -1");
});

Deno.test("writeU64 stores two little-endian words and readU64 decodes them", () => {
  const mem = filled(0xee);
  const value = 0x1f_2345_6789_abcd; // below 2^53
  mem.writeU64(0x205, value);
  assert.deepEqual(
    [...mem.u8.subarray(0x204, 0x20e)],
    [0xee, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x1f, 0x00, 0xee],
  );
  assert.deepEqual(mem.readU64(0x205), { ok: true, value });
  mem.u8.set([8, 7, 6, 5, 4, 3, 2, 1], 0x300);
  assert.deepEqual(mem.readU64(0x300), { ok: true, value: 0x0102030405060708 });
  mem.writeU64(0x310, 2 ** 32);
  assert.deepEqual([...mem.u8.subarray(0x310, 0x318)], [0, 0, 0, 0, 1, 0, 0, 0]);
  mem.writeU64(0x318, 2 ** 53 - 1);
  assert.deepEqual([...mem.u8.subarray(0x318, 0x320)], [
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0x1f,
    0,
  ]);
  assert.deepEqual(mem.readU64(0x318), { ok: true, value: 2 ** 53 - 1 });
});

Deno.test("readU64 above 2^53 yields an address that is out of range, not a wrapped one", () => {
  const mem = GuestMemory.create(SIZE);
  const cases: Array<[number[], string]> = [
    [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "2^64 - 1"],
    [[0x10, 0, 0, 0, 0, 0, 0, 0x80], "2^63 + 0x10"],
    [[0x01, 0, 0, 0, 0, 0, 0x20, 0], "2^53 + 1"],
    [[0x10, 0, 0, 0, 1, 0, 0, 0], "2^32 + 0x10"],
  ];
  for (const [bytes, label] of cases) {
    mem.u8.set(bytes, 0x400);
    const r = mem.readU64(0x400);
    assert.ok(r.ok);
    assert.ok(r.value >= 2 ** 32, `${label} read as ${r.value}`);
    assert.equal(mem.contains(r.value, 1), false, label);
    assert.equal(mem.readU8(r.value).ok, false, label);
    assert.equal(mem.check(r.value, 0).ok, false, label);
  }
});

Deno.test("read copies bytes and refuses ranges outside memory", () => {
  const mem = filled(0);
  mem.write(0x10, new Uint8Array([1, 2, 3, 4]));
  const r = mem.read(0x10, 4);
  assert.ok(r.ok);
  assert.deepEqual([...r.value], [1, 2, 3, 4]);
  r.value[0] = 99;
  assert.equal(mem.u8[0x10], 1, "read returns a copy");
  mem.u8[0x11] = 42;
  assert.equal(r.value[1], 2, "a copy does not follow guest writes");
  assert.deepEqual(mem.read(SIZE - 2, 4), {
    ok: false,
    error: { kind: "out-of-range", gpa: SIZE - 2, length: 4, size: SIZE },
  });
  for (const gpa of BAD_ADDRESSES) assert.equal(mem.read(gpa, 1).ok, false, `gpa ${gpa}`);
  for (const length of [-1, 0.5, SIZE + 1, 2 ** 64, NaN]) {
    assert.equal(mem.read(0, length).ok, false, `length ${length}`);
  }
  const empty = mem.read(SIZE, 0);
  assert.ok(empty.ok);
  assert.equal(empty.value.length, 0);
});

Deno.test("bytes is a live view of guest memory", () => {
  const mem = filled(0);
  const r = mem.bytes(0x20, 4);
  assert.ok(r.ok);
  mem.u8[0x21] = 7;
  assert.equal(r.value[1], 7);
  r.value[2] = 9;
  assert.equal(mem.u8[0x22], 9);
  assert.equal(mem.bytes(SIZE - 3, 4).ok, false);
  for (const gpa of BAD_ADDRESSES) assert.equal(mem.bytes(gpa, 1).ok, false, `gpa ${gpa}`);
});

Deno.test("write copies all bytes or none", () => {
  const mem = filled(0x5a);
  const data = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(mem.write(SIZE - 7, data), {
    ok: false,
    error: { kind: "out-of-range", gpa: SIZE - 7, length: 8, size: SIZE },
  });
  for (const gpa of BAD_ADDRESSES) assert.equal(mem.write(gpa, data).ok, false, `gpa ${gpa}`);
  assertUntouched(mem, 0x5a);
  assert.equal(mem.write(SIZE - 8, data).ok, true);
  assert.deepEqual([...mem.u8.subarray(SIZE - 8)], [...data]);
});

Deno.test("formatMemoryError renders the address, length and memory size", () => {
  assert.equal(
    formatMemoryError({ kind: "out-of-range", gpa: 0x2000, length: 16, size: 0x1000 }),
    "Cannot access guest memory at 0x2000 (16 bytes): memory is 0x1000 bytes",
  );
  assert.equal(
    formatMemoryError({ kind: "out-of-memory", pages: 3, freePages: 2 }),
    "Cannot allocate 3 guest pages: 2 pages free",
  );
});
