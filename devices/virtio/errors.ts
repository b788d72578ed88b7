/**
 * Virtqueue errors as data: a union on `kind` carrying the values involved.
 *
 * A `RingError` makes the ring state untrustworthy: the queue goes into the broken state and
 * the device model sets `DEVICE_NEEDS_RESET` (reliability.md, posture "BROKEN"). A
 * `ChainError` concerns one request inside an otherwise valid ring: the chain is returned
 * with used length 0 and counted, and the queue keeps running. Errors in reliability.md
 * sections A and B are cited by their row (A1 … B4).
 *
 * @module
 */

import type { DmaError } from "../memory/dma.ts";
import { hex } from "../memory/errors.ts";

/** Ring-level faults of guest input: the queue is broken until the device is reset. */
export type RingError =
  /** A1: the avail index ran more than a queue size ahead of the device. */
  | { kind: "avail-index-jump"; availIdx: number; nextAvail: number; size: number }
  /** A2: a head index from the avail ring is not a descriptor. */
  | { kind: "head-out-of-range"; head: number; size: number }
  /** A3: a `next` field points outside the (indirect) table. */
  | { kind: "next-out-of-range"; head: number; next: number; tableSize: number }
  /** A4, B2: the chain is longer than the queue (or loops). */
  | { kind: "chain-too-long"; head: number; limit: number }
  /** A7: a device-readable descriptor follows a device-writable one. */
  | { kind: "readable-after-writable"; head: number; index: number }
  /** A9: an indirect descriptor inside an indirect table. */
  | { kind: "nested-indirect"; head: number; index: number }
  /** A10: indirect table length 0 or not a multiple of 16. */
  | { kind: "indirect-length"; head: number; length: number }
  /** A17 (packed): more descriptors in flight than the ring holds. */
  | { kind: "too-many-in-flight"; head: number; limit: number }
  /** A11: indirect table with more entries than the queue. */
  | { kind: "indirect-too-large"; head: number; entries: number; limit: number }
  /** A12, A13 for the table itself: the indirect table is not in reachable memory. */
  | { kind: "indirect-unreachable"; head: number; cause: DmaError }
  /** B3 (and its split analogue): INDIRECT together with NEXT, or inside a chain. */
  | { kind: "indirect-in-chain"; head: number; index: number }
  /** INDIRECT used although `VIRTIO_F_INDIRECT_DESC` was not negotiated. */
  | { kind: "indirect-not-negotiated"; head: number }
  /** A17: more chains in flight than the queue holds, or a head made available twice. */
  | { kind: "head-in-flight"; head: number }
  /** Packed: a buffer id that is not below the queue size. */
  | { kind: "id-out-of-range"; id: number; size: number }
  /** B4: a descriptor of a packed chain is not marked available with the head's wrap. */
  | { kind: "chain-not-available"; head: number; slot: number; flags: number };

/** Request-level faults: return the chain with used length 0, count it, keep the queue. */
export type ChainFault =
  /** A13, A14, A15: a data buffer outside reachable memory (or refused by the vIOMMU). */
  | { kind: "buffer-unreachable"; head: number; cause: DmaError }
  /** A16: the chain's total length exceeds 2^32 bytes. */
  | { kind: "chain-too-big"; head: number; bytes: number };

/** Faults of the queue's own configuration, found when the queue is enabled (A18–A20). */
export type QueueSetupError =
  /** The layout is neither `"split"` nor `"packed"` (a script's typo: nothing is defaulted). */
  | { kind: "bad-layout"; layout: unknown }
  | { kind: "bad-size"; size: number; layout: "split" | "packed" }
  | { kind: "misaligned"; area: "descriptor" | "driver" | "device"; addr: number; align: number }
  | { kind: "area-unreachable"; area: "descriptor" | "driver" | "device"; cause: DmaError };

/** Device-side programmer errors reported by `push` (A22): the used ring is left untouched. */
export type PushError =
  | { kind: "not-in-flight"; id: number }
  /**
   * `VIRTIO_F_IN_ORDER` was negotiated and `id` is not the oldest chain popped and not yet
   * pushed, `expected` (the device MUST use buffers in the order they were made available).
   */
  | { kind: "out-of-order"; id: number; expected: number };

/** Faults of device output seen by the driver (reliability.md section C). */
export type DriverError =
  /** C1: a used id outside the queue. */
  | { kind: "used-id-out-of-range"; id: number; size: number }
  /** C1: a used id that is not the head of a chain in flight. */
  | { kind: "used-id-not-in-flight"; id: number }
  /** The driver has no room for the chain now (not a fault: retry after reclaiming). */
  | { kind: "ring-full"; needed: number; free: number }
  /** The chain has no descriptor or more than the queue holds (a driver-side programmer bug). */
  | { kind: "bad-chain-length"; length: number; size: number }
  /**
   * Buffer `index` of the chain (readable ones first) has an address that is not a
   * non-negative safe integer, so the 64-bit `addr` field cannot hold it exactly (a
   * driver-side programmer bug: nothing is staged).
   */
  | { kind: "bad-buffer-address"; index: number; gpa: unknown }
  /**
   * Buffer `index` of the chain (readable ones first) has a length that is not an integer in
   * 0…2^32 − 1, what the 32-bit `len` field holds (a driver-side programmer bug).
   */
  | { kind: "bad-buffer-length"; index: number; len: unknown }
  /** The chain's lengths add up to more than 2^32 bytes, which a driver MUST NOT add
   * (virtio 1.2, the descriptor table's driver requirements). */
  | { kind: "bad-chain-bytes"; bytes: number }
  /** The used index ran more than a queue size ahead of the driver. */
  | { kind: "used-index-jump"; usedIdx: number; lastUsed: number; size: number }
  /** C2: a used length larger than the writable bytes posted in that chain. */
  | { kind: "used-length-too-large"; id: number; len: number; writable: number };

/**
 * Render a virtqueue error as one sentence-case line quoting the values. `queue` names the queue
 * where the caller knows it (`the receiveq`, `the vsock rx queue`): the line then says it once,
 * in place of "the queue" or after the chain (`Cannot walk chain 5 of the receiveq: …`), so a
 * device's fault is one sentence, never "Cannot use the receiveq: Cannot use the queue: …".
 *
 * @example
 * ```ts
 * import { formatQueueError } from "./errors.ts";
 * formatQueueError({ kind: "head-out-of-range", head: 300, size: 256 });
 * // "Cannot use the queue: head index 300 is not below the queue size 256"
 * formatQueueError({ kind: "head-out-of-range", head: 300, size: 256 }, "the receiveq");
 * // "Cannot use the receiveq: head index 300 is not below the queue size 256"
 * ```
 */
export function formatQueueError(
  e: RingError | ChainFault | QueueSetupError | PushError | DriverError,
  queue?: string,
): string {
  const { action, reason } = queueErrorParts(e, queue);
  return `Cannot ${action}: ${reason}`;
}

/**
 * A virtqueue error as what could not be done (`use the receiveq`, `walk chain 5 of the
 * receiveq`; "the queue" when `queue` is not given) and why (`head index 300 is not below the
 * queue size 256`), for a caller that words the sentence itself ({@linkcode formatQueueError}
 * puts them together).
 *
 * @example
 * ```ts
 * import { queueErrorParts } from "./errors.ts";
 * queueErrorParts({ kind: "bad-size", size: 300, layout: "split" }, "queue 0");
 * // { action: "enable queue 0", reason: "size 300 is not allowed for the split layout" }
 * ```
 */
export function queueErrorParts(
  e: RingError | ChainFault | QueueSetupError | PushError | DriverError,
  queue?: string,
): { action: string; reason: string } {
  const the = queue ?? "the queue";
  // Where the action names a chain or a buffer, the queue goes after it.
  const on = (prep: string) => queue === undefined ? "" : ` ${prep} ${queue}`;
  const part = (action: string, reason: string) => ({ action, reason });
  switch (e.kind) {
    case "avail-index-jump":
      return part(
        `use ${the}`,
        `avail index ${e.availIdx} is more than ${e.size} ahead of ${e.nextAvail}`,
      );
    case "head-out-of-range":
      return part(`use ${the}`, `head index ${e.head} is not below the queue size ${e.size}`);
    case "next-out-of-range":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `next ${e.next} is not below the table size ${e.tableSize}`,
      );
    case "chain-too-long":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `longer than ${e.limit} descriptors (a loop?)`,
      );
    case "readable-after-writable":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `descriptor ${e.index} is readable after a writable one`,
      );
    case "nested-indirect":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `indirect descriptor ${e.index} inside an indirect table`,
      );
    case "indirect-length":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `indirect table length ${e.length} is not a positive multiple of 16`,
      );
    case "too-many-in-flight":
      return part(
        `use ${the}`,
        `more than ${e.limit} descriptors in flight (chain at ${e.head})`,
      );
    case "indirect-too-large":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `indirect table of ${e.entries} entries exceeds ${e.limit}`,
      );
    case "indirect-unreachable":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `indirect table at ${hex(e.cause.addr)} is not reachable`,
      );
    case "indirect-in-chain":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `descriptor ${e.index} combines INDIRECT with a chain`,
      );
    case "indirect-not-negotiated":
      return part(
        `walk chain ${e.head}${on("of")}`,
        "INDIRECT used but VIRTIO_F_INDIRECT_DESC was not negotiated",
      );
    case "head-in-flight":
      return part(`use ${the}`, `chain ${e.head} made available while still in flight`);
    case "id-out-of-range":
      return part(`use ${the}`, `buffer id ${e.id} is not below the queue size ${e.size}`);
    case "chain-not-available":
      return part(
        `walk chain ${e.head}${on("of")}`,
        `slot ${e.slot} (flags ${hex(e.flags)}) is not available`,
      );
    case "buffer-unreachable":
      return part(
        `use chain ${e.head}${on("of")}`,
        `buffer at ${hex(e.cause.addr)} (${e.cause.length} bytes) is not reachable`,
      );
    case "chain-too-big":
      return part(`use chain ${e.head}${on("of")}`, `${e.bytes} bytes exceed 2^32`);
    case "bad-layout":
      return part(`enable ${the}`, `layout ${describe(e.layout)} is neither "split" nor "packed"`);
    case "bad-size":
      return part(`enable ${the}`, `size ${e.size} is not allowed for the ${e.layout} layout`);
    case "misaligned":
      return part(`enable ${the}`, `${e.area} area ${hex(e.addr)} is not ${e.align}-byte aligned`);
    case "area-unreachable":
      return part(`enable ${the}`, `${e.area} area at ${hex(e.cause.addr)} is not reachable`);
    case "not-in-flight":
      return part(`complete chain ${e.id}${on("on")}`, "it is not in flight");
    case "out-of-order":
      return part(
        `complete chain ${e.id}${on("on")}`,
        `VIRTIO_F_IN_ORDER needs chain ${e.expected} first`,
      );
    case "used-id-out-of-range":
      return part(`reclaim${on("on")}`, `used id ${e.id} is not below the queue size ${e.size}`);
    case "used-id-not-in-flight":
      return part(`reclaim${on("on")}`, `used id ${e.id} is not the head of a chain in flight`);
    case "ring-full":
      return part(`add a chain of ${e.needed} descriptors${on("to")}`, `${e.free} free`);
    case "used-index-jump":
      return part(
        `reclaim${on("on")}`,
        `used index ${e.usedIdx} is more than ${e.size} ahead of ${e.lastUsed}`,
      );
    case "used-length-too-large":
      return part(
        `reclaim${on("on")}`,
        `used length ${e.len} of id ${e.id} exceeds its ${e.writable} writable bytes`,
      );
    case "bad-chain-length":
      return part(
        `add a chain of ${e.length} descriptors${on("to")}`,
        `the queue holds ${e.size}`,
      );
    case "bad-buffer-address":
      return part(
        `add buffer ${e.index} of the chain${on("to")}`,
        `address ${describe(e.gpa)} is not an integer in 0…2^53 − 1`,
      );
    case "bad-buffer-length":
      return part(
        `add buffer ${e.index} of the chain${on("to")}`,
        `length ${describe(e.len)} is not an integer in 0…2^32 − 1`,
      );
    case "bad-chain-bytes":
      return part(`add a chain of ${e.bytes} bytes${on("to")}`, "more than 2^32");
  }
}

/** A value a script passed, quoted the way it would write it (`"Split"`, `NaN`, `undefined`). */
function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * A caller's argument of the wrong type, for a script's `TypeError`: `call: name must be what,
 * got KIND`, where KIND is `null`, `undefined`, `an array`, a class's name or a `typeof`.
 *
 * @example
 * ```ts
 * import { argumentError } from "./errors.ts";
 * argumentError("createQueuePair", "mem", "a GuestMemory", null).message;
 * // "createQueuePair: mem must be a GuestMemory, got null"
 * ```
 */
export function argumentError(call: string, name: string, what: string, got: unknown): TypeError {
  const kind = got === null
    ? "null"
    : Array.isArray(got)
    ? "an array"
    : typeof got === "object"
    ? (got.constructor?.name ?? "an object")
    : typeof got;
  return new TypeError(`${call}: ${name} must be ${what}, got ${kind}`);
}

/**
 * A caller's number argument that is wrong, for a script's error naming the call and the
 * argument: no number at all (`driver.add(chain, "x")`) is a `TypeError` (as `argumentError`),
 * a number outside what the argument takes (`NaN`, `Infinity`, a fraction where a count goes) a
 * `RangeError` that shows it. The queues took such values silently: a token "x" came back from
 * `getUsed` as `NaN`, a used length "x" was published as 0, `enableInterrupts("x")` asked for an
 * interrupt at used index 0.
 *
 * @example
 * ```ts
 * import { numberArgumentError } from "./errors.ts";
 * numberArgumentError("DriverQueue.add", "token", "a finite number", "x").message;
 * // "DriverQueue.add: token must be a finite number, got string"
 * numberArgumentError("DriverQueue.add", "token", "a finite number", NaN).message;
 * // "DriverQueue.add: token must be a finite number, got NaN"
 * ```
 */
export function numberArgumentError(
  call: string,
  name: string,
  what: string,
  got: unknown,
): TypeError | RangeError {
  return typeof got === "number"
    ? new RangeError(`${call}: ${name} must be ${what}, got ${got}`)
    : argumentError(call, name, what, got);
}

/**
 * The error of a driver queue's `add` given a `token` that is no finite number (see
 * {@linkcode numberArgumentError}).
 *
 * @example
 * ```ts
 * import { tokenError } from "./errors.ts";
 * tokenError("x").message;
 * // "DriverQueue.add: token must be a finite number (the caller's id for the chain, which getUsed returns), got string"
 * ```
 */
export function tokenError(token: unknown): TypeError | RangeError {
  return numberArgumentError(
    "DriverQueue.add",
    "token",
    "a finite number (the caller's id for the chain, which getUsed returns)",
    token,
  );
}

/**
 * The error of a driver queue's `enableInterrupts` given a `count` that is no whole number (see
 * {@linkcode numberArgumentError}).
 *
 * @example
 * ```ts
 * import { interruptCountError } from "./errors.ts";
 * interruptCountError(1.5).message;
 * // "DriverQueue.enableInterrupts: count must be a whole number of used buffers (1 or less: the next one), got 1.5"
 * ```
 */
export function interruptCountError(count: unknown): TypeError | RangeError {
  return numberArgumentError(
    "DriverQueue.enableInterrupts",
    "count",
    "a whole number of used buffers (1 or less: the next one)",
    count,
  );
}

/**
 * The error of a device queue's `push` given a `written` that is no number, or `NaN` (see
 * {@linkcode numberArgumentError}); any other number is clamped to the chain's writable bytes.
 *
 * @example
 * ```ts
 * import { writtenError } from "./errors.ts";
 * writtenError("64").message;
 * // "DeviceQueue.push: written must be a number of bytes (clamped to the chain's writable length), got string"
 * ```
 */
export function writtenError(written: unknown): TypeError | RangeError {
  return numberArgumentError(
    "DeviceQueue.push",
    "written",
    "a number of bytes (clamped to the chain's writable length)",
    written,
  );
}

/**
 * The `TypeError` of a driver queue's `add` given no `ChainSpec` (null, or an object without
 * `readable` and `writable` lists).
 *
 * @example
 * ```ts
 * import { chainSpecError } from "./errors.ts";
 * chainSpecError(null).message;
 * // "DriverQueue.add: chain must be a ChainSpec ({ readable, writable } lists of [gpa, len]), got null"
 * ```
 */
export function chainSpecError(chain: unknown): TypeError {
  return argumentError(
    "DriverQueue.add",
    "chain",
    "a ChainSpec ({ readable, writable } lists of [gpa, len])",
    chain,
  );
}

/**
 * The `TypeError` of a device queue's `push` given no chain (null, or an object without the
 * `id` of a chain `pop` returned).
 *
 * @example
 * ```ts
 * import { pushChainError } from "./errors.ts";
 * pushChainError(null).message;
 * // "DeviceQueue.push: chain must be a DescriptorChain that pop() returned, got null"
 * ```
 */
export function pushChainError(chain: unknown): TypeError {
  return argumentError("DeviceQueue.push", "chain", "a DescriptorChain that pop() returned", chain);
}

/**
 * What a driver queue's `add` throws when reading segment `i` of `chain` (readable ones first,
 * `nr` of them) failed with `e`: a segment that is no `[gpa, len]` pair (null, undefined), or
 * whose length is a BigInt or a Symbol, is a `TypeError` naming the call and the segment; any
 * other `e` is returned as it was. Called only
 * once reading a segment threw, so that `add` checks no segment on its normal path.
 *
 * @example
 * ```ts
 * import { chainSegmentError } from "./errors.ts";
 * const e = chainSegmentError({ readable: [null], writable: [] }, 1, 0, new TypeError());
 * (e as TypeError).message;
 * // "DriverQueue.add: chain.readable[0] must be a [gpa, len] pair, got null"
 * ```
 */
export function chainSegmentError(
  chain: { readonly readable: ArrayLike<unknown>; readonly writable: ArrayLike<unknown> },
  nr: number,
  i: number,
  e: unknown,
): unknown {
  const seg = i < nr ? chain.readable[i] : chain.writable[i - nr];
  const name = i < nr ? `chain.readable[${i}]` : `chain.writable[${i - nr}]`;
  if (seg === null || seg === undefined) {
    return argumentError("DriverQueue.add", name, "a [gpa, len] pair", seg);
  }
  // A length `bufferFits` cannot compare (`16n`, a Symbol) threw "BigInts have no unsigned right
  // shift", naming neither the call nor the segment.
  const len = (seg as ArrayLike<unknown>)[1];
  if (typeof len === "bigint" || typeof len === "symbol") {
    return argumentError("DriverQueue.add", `${name}[1]`, "a length in 0…2^32 − 1 (a number)", len);
  }
  return e;
}
