/**
 * Malformed indirect tables, data buffers and queue configurations (reliability.md A9–A16,
 * A18–A20), for split and packed alike. The ring rows are in `malformed_test.ts`.
 */
import assert from "node:assert/strict";
import { DirectDma } from "../memory/dma.ts";
import { createDeviceQueue } from "./pair.ts";
import type { QueueConfig } from "./queue.ts";
import { createState } from "./state.ts";
import { createMock, type MockSegment } from "./testing.ts";
import {
  CountingRingAccess,
  expectDropped,
  expectFatal,
  LAYOUTS,
  type MockHarness,
  popChain,
  setupMockDevice as setup,
} from "./testing_harness.ts";

const INDIRECT = 4; // the same bit in both layouts

/** Make a table of `segs` at `table` available through one INDIRECT descriptor. */
function postIndirect(
  h: MockHarness,
  table: number,
  segs: readonly MockSegment[],
  len = 16 * segs.length,
) {
  h.mock.writeTable(table, segs);
  return h.mock.addChain([{ addr: table, len, flags: INDIRECT }]);
}

for (const layout of LAYOUTS) {
  const withIndirect = (size = 8) => setup(layout, { size, features: { indirect: true } });

  // ---- A9–A12: indirect tables ----

  Deno.test(`breaks the queue on an indirect descriptor inside an indirect table (reliability A9) [${layout}]`, () => {
    const h = withIndirect();
    postIndirect(h, h.data + 0x1000, [{ addr: h.data, len: 16 }, {
      addr: h.data + 0x2000,
      len: 16,
      flags: INDIRECT,
    }]);
    expectFatal(h, h.queue.pop(), { kind: "nested-indirect", head: 0, index: 1 });
  });

  Deno.test(`breaks the queue on an indirect table of length 0 or not a multiple of 16 (reliability A10) [${layout}]`, () => {
    for (const length of [0, 24, 15]) {
      const h = withIndirect();
      postIndirect(
        h,
        h.data + 0x1000,
        [{ addr: h.data, len: 16 }, { addr: h.data, len: 16 }],
        length,
      );
      expectFatal(h, h.queue.pop(), { kind: "indirect-length", head: 0, length });
    }
  });

  Deno.test(`breaks the queue on an indirect table with more entries than the queue (reliability A11) [${layout}]`, () => {
    const h = withIndirect();
    const segs = Array.from({ length: 9 }, (_, i) => ({ addr: h.data + 16 * i, len: 16 }));
    postIndirect(h, h.data + 0x1000, segs);
    expectFatal(h, h.queue.pop(), { kind: "indirect-too-large", head: 0, entries: 9, limit: 8 });
  });

  Deno.test(`accepts an indirect table of exactly the queue size (reliability A11 boundary) [${layout}]`, () => {
    const h = withIndirect();
    const segs = Array.from(
      { length: 8 },
      (_, i) => ({ addr: h.data + 16 * i, len: 16, write: i >= 6 }),
    );
    const id = postIndirect(h, h.data + 0x1000, segs);
    const { copy } = popChain(h);
    assert.equal(copy.id, id);
    assert.equal(copy.descCount, 1);
    assert.equal(copy.readable.length, 6);
    assert.deepStrictEqual(copy.writable, [{ gpa: h.data + 96, len: 16 }, {
      gpa: h.data + 112,
      len: 16,
    }]);
  });

  Deno.test(`breaks the queue on an indirect table outside guest memory (reliability A12, A13) [${layout}]`, () => {
    for (
      const [addr, cause] of [
        [-1, { addr: setup(layout).memSize - 16, length: 32 }],
        [-2, { addr: setup(layout).memSize, length: 32 }],
        [-3, { addr: 0xfffffff0 + 0xffffffff * 2 ** 32, length: 32 }],
      ] as const
    ) {
      const h = withIndirect();
      const table: number | bigint = addr === -3 ? 0xfffffffffffffff0n : cause.addr;
      h.mock.addChain([{ addr: table, len: 32, flags: INDIRECT }]);
      expectFatal(h, h.queue.pop(), {
        kind: "indirect-unreachable",
        head: 0,
        cause: { kind: "dma-out-of-range", ...cause, access: "read" },
      });
    }
  });

  Deno.test(`accepts an indirect table at any byte alignment: the spec sets none (virtio 2.7.5.3, 2.8.7) [${layout}]`, () => {
    for (const shift of [1, 2, 4, 8, 12, 15]) {
      const h = withIndirect();
      const segs = [{ addr: h.data + 0x800, len: 32 }, {
        addr: h.data + 0x900,
        len: 64,
        write: true,
      }];
      postIndirect(h, h.data + 0x1000 + shift, segs);
      const r = h.queue.pop();
      assert.ok(
        r.ok && r.value,
        `table at +${shift}: expected the chain, got ${r.ok ? "an empty ring" : r.error.kind}`,
      );
      assert.equal(r.value.indirect, true);
      assert.deepStrictEqual([r.value.readable, r.value.writable], [[{
        gpa: h.data + 0x800,
        len: 32,
      }], [{
        gpa: h.data + 0x900,
        len: 64,
      }]], `table at +${shift}`);
    }
  });

  Deno.test(`breaks the queue on INDIRECT when the feature was not negotiated [${layout}]`, () => {
    const h = setup(layout);
    postIndirect(h, h.data + 0x1000, [{ addr: h.data, len: 16 }]);
    expectFatal(h, h.queue.pop(), { kind: "indirect-not-negotiated", head: 0 });
  });

  // ---- A13–A16: data buffers (per request) ----

  Deno.test(`drops a chain whose buffer lies outside guest memory, queue keeps working (reliability A13) [${layout}]`, () => {
    for (const write of [false, true]) {
      const h = setup(layout);
      h.mock.addChain([{ addr: h.data, len: 16 }, { addr: h.memSize + 0x1000, len: 16, write }]);
      expectDropped(h, h.queue.pop(), {
        kind: "buffer-unreachable",
        head: 0,
        cause: {
          kind: "dma-out-of-range",
          addr: h.memSize + 0x1000,
          length: 16,
          access: write ? "write" : "read",
        },
      });
    }
  });

  Deno.test(`drops a chain whose buffer inside an indirect table is unreachable (reliability A13) [${layout}]`, () => {
    const h = withIndirect();
    postIndirect(h, h.data + 0x1000, [{ addr: h.data, len: 16 }, {
      addr: h.memSize,
      len: 8,
      write: true,
    }]);
    expectDropped(h, h.queue.pop(), {
      kind: "buffer-unreachable",
      head: 0,
      cause: { kind: "dma-out-of-range", addr: h.memSize, length: 8, access: "write" },
    });
  });

  Deno.test(`drops a chain whose buffer starts inside memory and ends outside (reliability A14) [${layout}]`, () => {
    const h = setup(layout);
    h.mock.addChain([{ addr: h.memSize - 8, len: 16, write: true }]);
    expectDropped(h, h.queue.pop(), {
      kind: "buffer-unreachable",
      head: 0,
      cause: { kind: "dma-out-of-range", addr: h.memSize - 8, length: 16, access: "write" },
    });
  });

  Deno.test(`drops a chain whose addr + len wraps around 2^64 (reliability A15) [${layout}]`, () => {
    const h = setup(layout);
    h.mock.addChain([{ addr: 0xfffffffffffffff8n, len: 16 }]);
    expectDropped(h, h.queue.pop(), {
      kind: "buffer-unreachable",
      head: 0,
      cause: {
        kind: "dma-out-of-range",
        addr: 0xfffffff8 + 0xffffffff * 2 ** 32,
        length: 16,
        access: "read",
      },
    });
  });

  Deno.test(`drops a chain whose lengths add up to more than 2^32 bytes (reliability A16) [${layout}]`, () => {
    // 257 readable descriptors of 16 MiB each: the 257th crosses 2^32.
    const h = setup(layout, { size: 512, dataBytes: 2 ** 24 });
    h.mock.addChain(Array.from({ length: 257 }, () => ({ addr: h.data, len: 2 ** 24 })));
    expectDropped(h, h.queue.pop(), { kind: "chain-too-big", head: 0, bytes: 2 ** 32 + 2 ** 24 });
  });

  // ---- A18–A20: queue configuration ----

  const base = (size = 8) => createMock(layout, { size }).config;
  const refuse = (config: QueueConfig) => {
    const mem = createMock(layout, { size: 8 }).mem;
    const ring = new CountingRingAccess(mem);
    const state = createState(layout, 8).fill(0xaaaaaaaa);
    const r = createDeviceQueue(new DirectDma(mem), ring, config, state);
    assert.equal(ring.loads + ring.stores, 0, "a refused queue must not touch guest memory");
    assert.ok(
      state.every((w) => w === 0xaaaaaaaa),
      "a refused queue must not reset the state record",
    );
    return r.ok ? { ok: true } : r;
  };

  Deno.test(`refuses to enable a queue with a misaligned area (reliability A18) [${layout}]`, () => {
    const align = layout === "split"
      ? { descriptor: 16, driver: 2, device: 4 }
      : { descriptor: 16, driver: 4, device: 4 };
    const c = base();
    for (
      const [area, key] of [["descriptor", "descAddr"], ["driver", "driverAddr"], [
        "device",
        "deviceAddr",
      ]] as const
    ) {
      for (const delta of [align[area] / 2, 0.5]) {
        const addr = c[key] + delta;
        assert.deepStrictEqual(refuse({ ...c, [key]: addr }), {
          ok: false,
          error: { kind: "misaligned", area, addr, align: align[area] },
        }, `${area} + ${delta}`);
      }
    }
  });

  Deno.test(`refuses to enable a queue whose area is not inside guest memory (reliability A19) [${layout}]`, () => {
    const c = base();
    const memSize = createMock(layout, { size: 8 }).mem.size;
    const sizes = layout === "split"
      ? { descriptor: 128, driver: 22, device: 70 }
      : { descriptor: 128, driver: 4, device: 4 };
    const access = {
      descriptor: layout === "split" ? "read" : "write",
      driver: "read",
      device: "write",
    } as const;
    for (
      const [area, key] of [["descriptor", "descAddr"], ["driver", "driverAddr"], [
        "device",
        "deviceAddr",
      ]] as const
    ) {
      // Straddling the end of memory where the area is bigger than 16 bytes, else just past it.
      const addr = sizes[area] > 16 ? memSize - 16 : memSize;
      const r = refuse({ ...c, [key]: addr });
      assert.deepStrictEqual(r, {
        ok: false,
        error: {
          kind: "area-unreachable",
          area,
          cause: { kind: "dma-out-of-range", addr, length: sizes[area], access: access[area] },
        },
      }, area);
    }
  });

  Deno.test(`refuses to enable a queue of size 0, above 32768 or invalid for the layout (reliability A20) [${layout}]`, () => {
    const bad = layout === "split" ? [0, 300, 65536, 32769, 7.5] : [0, 65536, 32769, 7.5];
    for (const size of bad) {
      assert.deepStrictEqual(refuse({ ...base(), size }), {
        ok: false,
        error: { kind: "bad-size", size, layout },
      }, `size ${size}`);
    }
  });
}

Deno.test("accepts a queue size that is not a power of two (reliability A20, virtio 2.8) [packed]", () => {
  const h = setup("packed", { size: 300 });
  for (let i = 0; i < 301; i++) {
    h.mock.addChain([{ addr: h.data, len: 16, write: true }], i % 300);
    const { chain } = popChain(h);
    h.queue.push(chain, 1);
    h.queue.publish();
    assert.equal(h.mock.takeUsed()?.id, i % 300);
  }
});
