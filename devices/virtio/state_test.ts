/**
 * The device's state record (`state.ts`): sizes, power-on state, and `validateState` rejecting
 * each kind of corruption (reliability.md G6: an inconsistent restored state is refused).
 * Restore and the crash windows are in `state_restore_test.ts`.
 */
import assert from "node:assert/strict";
import type { Layout } from "./queue.ts";
import {
  createState,
  LOG_NIL,
  LOG_RECORD_WORDS,
  logHeadBase,
  logRecordBase,
  STATE_HEADER_WORDS,
  stateBytes,
  StateWord,
  validateState,
} from "./state.ts";
import { createMock } from "./testing.ts";
import { LAYOUTS } from "./testing_harness.ts";

const OK = { ok: true, value: undefined };
const SIZE = 8;
const FIRST = logHeadBase(SIZE); // packed: first log record of each id
const LOG = logRecordBase(SIZE); // packed: records
const link = (r: number) => LOG + r * LOG_RECORD_WORDS + 4;

/** A state record with chains in flight: ids 0 (3 descriptors) and 1 (1 descriptor). */
function busyState(layout: Layout): Uint32Array {
  const m = createMock(layout, { size: SIZE });
  const d = m.dataAddr;
  m.addChain([{ addr: d, len: 16 }, { addr: d + 16, len: 16 }, {
    addr: d + 32,
    len: 16,
    write: true,
  }]);
  m.addChain([{ addr: d + 48, len: 16 }]);
  const { queue, state } = m.createDevice();
  for (let i = 0; i < 2; i++) assert.ok(queue.pop().ok);
  assert.deepStrictEqual(validateState(state, layout, SIZE), OK);
  return state;
}

Deno.test("sizes a state record from the layout and queue size", () => {
  // Header, per-id fetch marks and the publish journal; packed adds log heads and records.
  const header = STATE_HEADER_WORDS;
  assert.equal(stateBytes("split", 256), (header + 2 * 256) * 4);
  assert.equal(stateBytes("split", 1), (header + 2) * 4);
  assert.equal(stateBytes("packed", 8), (header + 3 * 8 + 5 * 8) * 4);
  assert.equal(stateBytes("packed", 300), (header + 3 * 300 + 5 * 300) * 4);
  assert.equal(logRecordBase(8) - logHeadBase(8), 8);
});

for (const layout of LAYOUTS) {
  Deno.test(`creates a record in the power-on state [${layout}]`, () => {
    const st = createState(layout, SIZE);
    assert.ok(st.buffer instanceof SharedArrayBuffer);
    assert.equal(st.byteLength, stateBytes(layout, SIZE));
    assert.equal(st[StateWord.MAGIC], 0x56515354);
    assert.equal(st[StateWord.LAYOUT], layout === "packed" ? 1 : 0);
    assert.equal(st[StateWord.SIZE], SIZE);
    assert.deepStrictEqual(
      [StateWord.NEXT_AVAIL, StateWord.AVAIL_WRAP, StateWord.USED_IDX, StateWord.USED_WRAP].map((
        w,
      ) => st[w]),
      [0, 1, 0, 1],
    );
    assert.deepStrictEqual([st[StateWord.IN_FLIGHT], st[StateWord.FETCH_SEQ]], [0, 1]);
    assert.ok(st.subarray(STATE_HEADER_WORDS, STATE_HEADER_WORDS + SIZE).every((w) => w === 0));
    if (layout === "packed") {
      assert.ok(st.subarray(FIRST, LOG).every((w) => w === LOG_NIL));
      assert.equal(st[StateWord.LOG_FREE], 0);
      const links = Array.from({ length: SIZE }, (_, r) => st[link(r)]);
      assert.deepStrictEqual(links, [1, 2, 3, 4, 5, 6, 7, LOG_NIL]);
    }
    assert.deepStrictEqual(validateState(st, layout, SIZE), OK);
  });

  Deno.test(`creates a record at an offset of a shared buffer, leaving the rest alone [${layout}]`, () => {
    const buffer = new SharedArrayBuffer(stateBytes(layout, SIZE) + 128);
    new Uint8Array(buffer).fill(0xee);
    const st = createState(layout, SIZE, buffer, 64);
    assert.equal(st.byteOffset, 64);
    const bytes = new Uint8Array(buffer);
    assert.ok(bytes.subarray(0, 64).every((b) => b === 0xee));
    assert.ok(bytes.subarray(64 + st.byteLength).every((b) => b === 0xee));
    assert.deepStrictEqual(validateState(st, layout, SIZE), OK);
  });

  Deno.test(`rejects a corrupted header (reliability G6) [${layout}]`, () => {
    const limit = layout === "packed" ? SIZE : 0x10000;
    const cases: [string, (st: Uint32Array) => void, Layout, number, object][] = [
      ["magic", (st) => st[StateWord.MAGIC] = 0x12345678, layout, SIZE, {
        field: "magic",
        value: 0x12345678,
        expected: "VQST",
      }],
      ["layout", () => {}, layout === "split" ? "packed" : "split", SIZE, {
        field: "layout",
        value: layout === "packed" ? 1 : 0,
        expected: layout === "split" ? "packed" : "split",
      }],
      ["size", () => {}, layout, 4, { field: "size", value: SIZE, expected: "4" }],
      ["nextAvail", (st) => st[StateWord.NEXT_AVAIL] = limit, layout, SIZE, {
        field: "nextAvail",
        value: limit,
        expected: `below ${limit}`,
      }],
      ["usedIdx", (st) => st[StateWord.USED_IDX] = 0xffffffff, layout, SIZE, {
        field: "usedIdx",
        value: 0xffffffff,
        expected: `below ${limit}`,
      }],
      ["availWrap", (st) => st[StateWord.AVAIL_WRAP] = 2, layout, SIZE, {
        field: "availWrap",
        value: 2,
        expected: "0 or 1",
      }],
      ["popId", (st) => st[StateWord.POP_ID] = 2, layout, SIZE, {
        field: "popId",
        value: 2,
        expected: "0 (settled)",
      }],
      ["publishCount", (st) => st[StateWord.PUBLISH_COUNT] = 1, layout, SIZE, {
        field: "publishCount",
        value: 1,
        expected: "0 (settled)",
      }],
      ["usedWrap", (st) => st[StateWord.USED_WRAP] = 7, layout, SIZE, {
        field: "usedWrap",
        value: 7,
        expected: "0 or 1",
      }],
    ];
    for (const [name, corrupt, asLayout, asSize, error] of cases) {
      const st = busyState(layout);
      corrupt(st);
      if (asLayout !== layout && asLayout === "packed") continue; // a split record is too short
      assert.deepStrictEqual(
        validateState(st, asLayout, asSize),
        { ok: false, error: { kind: "state-header", ...error } },
        name,
      );
    }
    // The largest in-range values are accepted.
    const st = busyState(layout);
    st[StateWord.NEXT_AVAIL] = limit - 1;
    st[StateWord.USED_IDX] = limit - 1;
    st[StateWord.AVAIL_WRAP] = 0;
    assert.deepStrictEqual(validateState(st, layout, SIZE), OK);
  });

  Deno.test(`rejects a record shorter than its size needs (reliability G6) [${layout}]`, () => {
    const st = busyState(layout).subarray(0, 20);
    assert.deepStrictEqual(validateState(st, layout, SIZE), {
      ok: false,
      error: { kind: "state-header", field: "length", value: 20, expected: "the record size" },
    });
  });

  Deno.test(`rejects an in-flight count that does not match the marks (reliability G6) [${layout}]`, () => {
    for (const recorded of [0, 1, 3, 0xffffffff]) {
      const st = busyState(layout);
      st[StateWord.IN_FLIGHT] = recorded;
      assert.deepStrictEqual(validateState(st, layout, SIZE), {
        ok: false,
        error: { kind: "state-in-flight", counted: 2, recorded },
      });
    }
  });
}

Deno.test("rejects a split record naming a short layout as packed (reliability G6)", () => {
  const st = busyState("split");
  assert.deepStrictEqual(validateState(st, "packed", SIZE), {
    ok: false,
    error: { kind: "state-header", field: "length", value: st.length, expected: "the record size" },
  });
});

// ---- the packed inflight log ----

/** Ids 0 and 1 own records 0→1→2 and 3; the free list is 4→5→6→7. */
function logState(): Uint32Array {
  const st = busyState("packed");
  assert.deepStrictEqual([st[FIRST], st[link(0)], st[link(1)], st[link(2)]], [0, 1, 2, LOG_NIL]);
  assert.deepStrictEqual([st[FIRST + 1], st[link(3)], st[StateWord.LOG_FREE]], [3, LOG_NIL, 4]);
  return st;
}

const logError = (id: number, reason: string) => ({
  ok: false,
  error: { kind: "state-log", id, reason },
});

Deno.test("rejects a packed log whose record is reached twice (reliability G6)", () => {
  let st = logState();
  st[link(3)] = 1; // id 1's list runs into id 0's
  assert.deepStrictEqual(validateState(st, "packed", SIZE), logError(1, "record 1 reached twice"));
  st = logState();
  st[link(2)] = 0; // a cycle inside id 0's list
  assert.deepStrictEqual(validateState(st, "packed", SIZE), logError(0, "record 0 reached twice"));
  st = logState();
  st[StateWord.LOG_FREE] = 2; // the free list starts inside id 0's list
  assert.deepStrictEqual(
    validateState(st, "packed", SIZE),
    logError(-1, "free list: record 2 reached twice"),
  );
  st = logState();
  st[link(7)] = 4; // the free list loops
  assert.deepStrictEqual(
    validateState(st, "packed", SIZE),
    logError(-1, "free list: record 4 reached twice"),
  );
});

Deno.test("rejects a packed log that lost a record (reliability G6)", () => {
  let st = logState();
  st[link(5)] = LOG_NIL; // free list cut after record 5: 6 and 7 are lost
  assert.deepStrictEqual(validateState(st, "packed", SIZE), logError(-1, "record 6 lost"));
  st = logState();
  st[link(0)] = 2; // record 1 dropped out of id 0's list
  assert.deepStrictEqual(validateState(st, "packed", SIZE), logError(-1, "record 1 lost"));
});

Deno.test("rejects a packed buffer in flight without records, or records without the buffer (reliability G6)", () => {
  let st = logState();
  st[FIRST + 1] = LOG_NIL;
  assert.deepStrictEqual(
    validateState(st, "packed", SIZE),
    logError(1, "in flight with no descriptor"),
  );
  st = logState();
  st[STATE_HEADER_WORDS + 1] = 0;
  st[StateWord.IN_FLIGHT] = 1;
  assert.deepStrictEqual(
    validateState(st, "packed", SIZE),
    logError(1, "records but not in flight"),
  );
  st = logState();
  st[FIRST + 1] = SIZE + 3;
  assert.deepStrictEqual(
    validateState(st, "packed", SIZE),
    logError(1, `record ${SIZE + 3} out of range`),
  );
});
