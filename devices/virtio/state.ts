/**
 * The device half's private queue state, as a plain record of 32-bit words that can live in
 * shared memory (the inflight log of architecture.md, "Recovery").
 *
 * Everything the device needs to resume a queue after its worker died is here: where it is in
 * the ring (next avail, used index, wrap counters), the interrupt-suppression memory, and the
 * chains in flight in fetch order. The ring itself is guest memory and proves nothing: a new
 * device worker re-validates this record against the ring before trusting it (`validate`).
 *
 * A worker can die between any two statements, so the two multi-word updates are journaled:
 * `pop` writes where it started and which id it takes before it touches anything (a pop cut
 * short is rolled back: the device model never saw the chain), and `publish` writes the ids it
 * completes and the used position before and after, then publishes in the ring (a publish cut
 * short is finished or forgotten, depending on whether the ring shows it).
 *
 * Layout (u32 words):
 * ```
 * 0 magic   1 layout (0 split, 1 packed)   2 size   3 nextAvail   4 availWrap
 * 5 usedIdx 6 usedWrap   7 inFlight   8 fetchSeq   9 signalledUsed   10 signalledValid
 * 11 logFree (packed: head of the free list of descriptor records, NIL when empty)
 * 12 popId (id + 1 of a pop in progress, 0 when none)   13 popFrom (nextAvail | availWrap << 16)
 * 14 publishCount (used entries being published, 0 when none)
 * 15 publishFrom, 16 publishTo (usedIdx | usedWrap << 16 before and after)
 * 17..19 reserved
 * 20 + id            fetch sequence of chain `id` while in flight, 0 otherwise
 * 20 + N + i         the publish journal: id | descCount << 16 of the i-th chain published
 * 20 + 2N + id       packed: first descriptor record of buffer `id`
 * 20 + 3N + 5r …     packed: descriptor record r = addrLo, addrHi, len, flags | id << 16, next
 * ```
 * Split indices (`nextAvail`, `usedIdx`) are free-running 16-bit counters; packed ones are
 * slots in `[0, size)` with their wrap counters.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import type { Layout } from "./queue.ts";

/** Word indices of the header. */
export const StateWord = {
  MAGIC: 0,
  LAYOUT: 1,
  SIZE: 2,
  NEXT_AVAIL: 3,
  AVAIL_WRAP: 4,
  USED_IDX: 5,
  USED_WRAP: 6,
  IN_FLIGHT: 7,
  FETCH_SEQ: 8,
  SIGNALLED_USED: 9,
  SIGNALLED_VALID: 10,
  LOG_FREE: 11,
  POP_ID: 12,
  POP_FROM: 13,
  PUBLISH_COUNT: 14,
  PUBLISH_FROM: 15,
  PUBLISH_TO: 16,
} as const;

/** First word of the per-id fetch table. */
export const STATE_HEADER_WORDS = 20;
/** First word of the publish journal. */
export function journalBase(size: number): number {
  return STATE_HEADER_WORDS + size;
}
/** First word of the packed log's per-id heads. */
export function logHeadBase(size: number): number {
  return STATE_HEADER_WORDS + 2 * size;
}
/** First word of the packed log's descriptor records. */
export function logRecordBase(size: number): number {
  return STATE_HEADER_WORDS + 3 * size;
}
/** Words per packed descriptor record. */
export const LOG_RECORD_WORDS = 5;
/** "No record" in the packed log's links. */
export const LOG_NIL = 0xffffffff;
const MAGIC = 0x56515354; // "VQST"

/**
 * Bytes of a state record for a queue (a `RangeError` for a layout other than `"split"` or
 * `"packed"`).
 *
 * @example
 * ```ts
 * import { stateBytes } from "./state.ts";
 * stateBytes("split", 256); // 1088
 * ```
 */
export function stateBytes(layout: Layout, size: number): number {
  assertLayout(layout);
  const words = STATE_HEADER_WORDS + 2 * size +
    (layout === "packed" ? size + LOG_RECORD_WORDS * size : 0);
  return words * 4;
}

/**
 * Allocate a state record (in a fresh `SharedArrayBuffer`, or at `offset` of `buffer`) and
 * put it in the power-on state (a `RangeError` for a layout other than `"split"` or `"packed"`).
 *
 * @example
 * ```ts
 * import { createState } from "./state.ts";
 * const st = createState("packed", 64);
 * st[4]; // availWrap = 1
 * ```
 */
export function createState(
  layout: Layout,
  size: number,
  buffer: SharedArrayBuffer = new SharedArrayBuffer(stateBytes(layout, size)),
  offset = 0,
): Uint32Array {
  const st = new Uint32Array(buffer, offset, stateBytes(layout, size) / 4);
  resetState(st, layout, size);
  return st;
}

/** Put a state record in the power-on state (device reset); a `RangeError` for an unknown layout. */
export function resetState(st: Uint32Array, layout: Layout, size: number): void {
  assertLayout(layout);
  st.fill(0);
  st[StateWord.MAGIC] = MAGIC;
  st[StateWord.LAYOUT] = layout === "packed" ? 1 : 0;
  st[StateWord.SIZE] = size;
  st[StateWord.AVAIL_WRAP] = 1;
  st[StateWord.USED_WRAP] = 1;
  st[StateWord.FETCH_SEQ] = 1;
  if (layout === "packed") {
    const logBase = logRecordBase(size);
    st.fill(LOG_NIL, logHeadBase(size), logBase);
    for (let r = 0; r < size; r++) {
      st[logBase + r * LOG_RECORD_WORDS + 4] = r + 1 < size ? r + 1 : LOG_NIL;
    }
    st[StateWord.LOG_FREE] = 0;
  }
}

/** A layout that is neither split nor packed is a caller's bug: refuse it, never default it. */
function assertLayout(layout: Layout): void {
  if (layout !== "split" && layout !== "packed") {
    throw new RangeError(
      `State record layout must be "split" or "packed", not ${
        typeof layout === "string" ? JSON.stringify(layout) : String(layout)
      }`,
    );
  }
}

/** Why a state record cannot be trusted. */
export type StateError =
  | { kind: "state-header"; field: string; value: number; expected: string }
  | { kind: "state-in-flight"; counted: number; recorded: number }
  | { kind: "state-log"; id: number; reason: string };

/**
 * Validate a state record's own invariants (header, counters, packed log links). The queue
 * halves add the checks that need the ring (pending ≤ size, chains re-walked).
 *
 * @example
 * ```ts
 * import { createState, validateState } from "./state.ts";
 * validateState(createState("split", 8), "split", 8).ok; // true
 * ```
 */
export function validateState(
  st: Uint32Array,
  layout: Layout,
  size: number,
): Result<void, StateError> {
  const identity = checkIdentity(st, layout, size);
  if (!identity.ok) return identity;
  const header = (field: string, value: number, expected: string) =>
    err<StateError>({ kind: "state-header", field, value, expected });
  if (st[StateWord.POP_ID] !== 0) return header("popId", st[StateWord.POP_ID], "0 (settled)");
  if (st[StateWord.PUBLISH_COUNT] !== 0) {
    return header("publishCount", st[StateWord.PUBLISH_COUNT], "0 (settled)");
  }
  const limit = layout === "packed" ? size : 0x10000;
  for (
    const [name, word] of [["nextAvail", StateWord.NEXT_AVAIL], [
      "usedIdx",
      StateWord.USED_IDX,
    ]] as const
  ) {
    if (st[word] >= limit) return header(name, st[word], `below ${limit}`);
  }
  for (
    const [name, word] of [["availWrap", StateWord.AVAIL_WRAP], [
      "usedWrap",
      StateWord.USED_WRAP,
    ]] as const
  ) {
    if (st[word] > 1) return header(name, st[word], "0 or 1");
  }
  let counted = 0;
  for (let id = 0; id < size; id++) if (st[STATE_HEADER_WORDS + id] !== 0) counted++;
  if (counted !== st[StateWord.IN_FLIGHT] || counted > size) {
    return err({ kind: "state-in-flight", counted, recorded: st[StateWord.IN_FLIGHT] });
  }
  if (layout === "packed") return validateLog(st, size);
  return ok(undefined);
}

function validateLog(st: Uint32Array, size: number): Result<void, StateError> {
  const logBase = logRecordBase(size);
  const seen = new Uint8Array(size);
  const walk = (first: number, id: number): string | null => {
    for (let r = first, steps = 0; r !== LOG_NIL; steps++) {
      if (r >= size) return `record ${r} out of range`;
      if (seen[r] || steps >= size) return `record ${r} reached twice`;
      seen[r] = 1;
      r = st[logBase + r * LOG_RECORD_WORDS + 4];
    }
    return id >= 0 && first === LOG_NIL ? "in flight with no descriptor" : null;
  };
  for (let id = 0; id < size; id++) {
    const inFlight = st[STATE_HEADER_WORDS + id] !== 0;
    const first = st[logHeadBase(size) + id];
    if (!inFlight && first !== LOG_NIL) {
      return err({ kind: "state-log", id, reason: "records but not in flight" });
    }
    if (!inFlight) continue;
    const why = walk(first, id);
    if (why) return err({ kind: "state-log", id, reason: why });
  }
  const why = walk(st[StateWord.LOG_FREE], -1);
  if (why) return err({ kind: "state-log", id: -1, reason: `free list: ${why}` });
  for (let r = 0; r < size; r++) {
    if (!seen[r]) return err({ kind: "state-log", id: -1, reason: `record ${r} lost` });
  }
  return ok(undefined);
}

/** Whether `st` is a state record of this layout and size at all (length, magic, layout, size). */
function checkIdentity(st: Uint32Array, layout: Layout, size: number): Result<void, StateError> {
  const header = (field: string, value: number, expected: string) =>
    err<StateError>({ kind: "state-header", field, value, expected });
  if (st.length < stateBytes(layout, size) / 4) {
    return header("length", st.length, "the record size");
  }
  if (st[StateWord.MAGIC] !== MAGIC) return header("magic", st[StateWord.MAGIC], "VQST");
  if (st[StateWord.LAYOUT] !== (layout === "packed" ? 1 : 0)) {
    return header("layout", st[StateWord.LAYOUT], layout);
  }
  if (st[StateWord.SIZE] !== size) return header("size", st[StateWord.SIZE], String(size));
  return ok(undefined);
}

/** What the ring shows about a publish that was cut short. */
export type PublishSeen = "published" | "not-published" | "inconsistent";

/**
 * Settle the journals of a worker that died inside `pop` or `publish`, so that the record says
 * exactly which chains are in flight: a pop in progress is rolled back (its chain will be
 * popped again), a publish the ring shows is finished, one it does not show is forgotten.
 * `seen` asks the ring (through the queue half, which knows the layout) about the publish.
 *
 * @example
 * ```ts
 * import { createState, settleState } from "./state.ts";
 * const st = createState("split", 8);
 * settleState(st, "split", 8, () => "not-published").ok; // true: nothing to settle
 * ```
 */
export function settleState(
  st: Uint32Array,
  layout: Layout,
  size: number,
  seen: (from: number, to: number) => PublishSeen,
): Result<void, StateError> {
  const identity = checkIdentity(st, layout, size);
  if (!identity.ok) return identity;
  const header = (field: string, value: number, expected: string) =>
    err<StateError>({ kind: "state-header", field, value, expected });
  const pop = st[StateWord.POP_ID];
  if (pop !== 0) {
    const id = pop - 1;
    if (id >= size) return header("popId", pop, `at most ${size}`);
    if (layout === "packed") freeLog(st, size, id);
    st[STATE_HEADER_WORDS + id] = 0;
    st[StateWord.NEXT_AVAIL] = st[StateWord.POP_FROM] & 0xffff;
    st[StateWord.AVAIL_WRAP] = st[StateWord.POP_FROM] >>> 16;
    st[StateWord.POP_ID] = 0;
  }
  const n = st[StateWord.PUBLISH_COUNT];
  if (n !== 0) {
    if (n > size) return header("publishCount", n, `at most ${size}`);
    const verdict = seen(st[StateWord.PUBLISH_FROM], st[StateWord.PUBLISH_TO]);
    if (verdict === "inconsistent") {
      return err({ kind: "state-log", id: -1, reason: "the ring shows neither side of a publish" });
    }
    if (verdict === "published") {
      const journal = journalBase(size);
      for (let i = 0; i < n; i++) {
        const id = st[journal + i] & 0xffff;
        if (id >= size) return err({ kind: "state-log", id, reason: "journal id out of range" });
        if (layout === "packed") freeLog(st, size, id);
        st[STATE_HEADER_WORDS + id] = 0;
      }
      st[StateWord.USED_IDX] = st[StateWord.PUBLISH_TO] & 0xffff;
      st[StateWord.USED_WRAP] = st[StateWord.PUBLISH_TO] >>> 16;
    }
    st[StateWord.PUBLISH_COUNT] = 0;
  }
  let inFlight = 0;
  for (let id = 0; id < size; id++) if (st[STATE_HEADER_WORDS + id] !== 0) inFlight++;
  st[StateWord.IN_FLIGHT] = inFlight;
  if (layout === "packed") rebuildFreeList(st, size);
  return ok(undefined);
}

/**
 * Packed: every record not reachable from a buffer in flight goes back on the free list (a
 * worker that died inside a walk leaves records that belong to nobody).
 */
function rebuildFreeList(st: Uint32Array, size: number): void {
  const heads = logHeadBase(size);
  const records = logRecordBase(size);
  const used = new Uint8Array(size);
  for (let id = 0; id < size; id++) {
    if (st[STATE_HEADER_WORDS + id] === 0) continue;
    for (let r = st[heads + id], steps = 0; r !== LOG_NIL && r < size && steps < size; steps++) {
      if (used[r]) break; // a loop: validateState reports it
      used[r] = 1;
      r = st[records + r * LOG_RECORD_WORDS + 4];
    }
  }
  let free = LOG_NIL;
  for (let r = size - 1; r >= 0; r--) {
    if (used[r]) continue;
    st[records + r * LOG_RECORD_WORDS + 4] = free;
    free = r;
  }
  st[StateWord.LOG_FREE] = free;
}

/** Return buffer `id`'s log records to the free list (idempotent: a freed id has none). */
function freeLog(st: Uint32Array, size: number, id: number): void {
  const heads = logHeadBase(size);
  const records = logRecordBase(size);
  let r = st[heads + id];
  for (let steps = 0; r !== LOG_NIL && r < size && steps < size; steps++) {
    const link = records + r * LOG_RECORD_WORDS + 4;
    const next = st[link];
    st[link] = st[StateWord.LOG_FREE];
    st[StateWord.LOG_FREE] = r;
    r = next;
  }
  st[heads + id] = LOG_NIL;
}
