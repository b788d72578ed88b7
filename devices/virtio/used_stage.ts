/**
 * Completions a device half has pushed but not yet published: the same bookkeeping for both
 * layouts, so `push` validates one way and `publish` reads one list.
 *
 * @module
 */

import { err, OK_VOID, type Result } from "../base/result.ts";
import type { DescriptorChain } from "./chain.ts";
import { type PushError, writtenError } from "./errors.ts";

/**
 * The staged used entries of one queue, in push order.
 *
 * @example
 * ```ts
 * import { UsedStage } from "./used_stage.ts";
 * const stage = new UsedStage(8);
 * const chain = { id: 3, descCount: 1, readable: [], writable: [{ gpa: 0, len: 64 }],
 *   readableBytes: 0, writableBytes: 64, indirect: false };
 * stage.add(chain, 100, true); // staged with len 64 (clamped), full
 * stage.add(chain, 10, true); // { ok: false, error: { kind: "not-in-flight", id: 3 } }
 * ```
 */
export class UsedStage {
  /** Ids (split head / packed buffer id), in push order. */
  readonly id: Uint32Array;
  /** Bytes written, clamped to each chain's writable length. */
  readonly len: Uint32Array;
  /** Ring slots of each chain (packed: how far the used index moves). */
  readonly descs: Uint32Array;
  /** 1 when the chain's writable part was written in full (IN_ORDER may skip its entry). */
  readonly full: Uint8Array;
  /** Entries staged. */
  count = 0;
  private readonly marked: Uint8Array;
  /**
   * IN_ORDER only: ids popped and not yet pushed, in fetch order (a ring of `size`; at most
   * `size` chains are in flight). Null when the order is free.
   */
  private readonly order: Uint16Array | null;
  private orderHead = 0;
  private orderTail = 0;

  /**
   * A stage for a queue of `size`. With `inOrder` (`VIRTIO_F_IN_ORDER` negotiated), `add`
   * takes the chains in the order `popped` recorded them.
   */
  constructor(size: number, inOrder = false) {
    this.id = new Uint32Array(size);
    this.len = new Uint32Array(size);
    this.descs = new Uint32Array(size);
    this.full = new Uint8Array(size);
    this.marked = new Uint8Array(size);
    this.order = inOrder ? new Uint16Array(size) : null;
  }

  /**
   * Record that chain `id` was popped (or restored in flight), after every chain popped
   * before it. Only IN_ORDER keeps the record; the queue half calls it once per chain.
   */
  popped(id: number): void {
    const order = this.order;
    if (order === null) return;
    order[this.orderTail] = id;
    if (++this.orderTail === order.length) this.orderTail = 0;
  }

  /**
   * Stage `chain` with `written` bytes. `inFlight` is the queue's word that the chain was popped
   * and not completed; a chain not in flight, or already staged, is refused (reliability A22),
   * and so, with IN_ORDER, is one that is not the oldest chain popped and not yet pushed
   * (`out-of-order`, naming that one); nothing changes then.
   */
  add(chain: DescriptorChain, written: number, inFlight: boolean): Result<void, PushError> {
    // A `written` that is no number was published as 0 ("x") or as its coercion ("64"), NaN as
    // 0: a caller's bug, named (both layouts' `push` come here).
    if (typeof written !== "number" || written !== written) throw writtenError(written);
    const id = chain.id;
    if (!inFlight || id >= this.marked.length || this.marked[id]) {
      return err({ kind: "not-in-flight", id });
    }
    const order = this.order;
    if (order !== null) {
      // IN_ORDER: the device MUST use buffers in the order they were made available (virtio
      // 1.2 §6.2), which is the order they were popped; a later one first is refused, else
      // the used ring would tell the driver the earlier ones were used in full (§2.7.9, §2.8.8).
      const head = this.orderHead;
      if (id !== order[head]) return outOfOrder(id, order[head]);
      this.orderHead = head + 1 === order.length ? 0 : head + 1;
    }
    const max = chain.writableBytes;
    const len = written < 0 ? 0 : written > max ? max : written;
    const i = this.count++;
    this.marked[id] = 1;
    this.id[i] = id;
    this.len[i] = len;
    this.descs[i] = chain.descCount;
    this.full[i] = len === max ? 1 : 0;
    return OK_VOID;
  }

  /** Forget every staged entry (after they were published). */
  clear(): void {
    for (let i = 0; i < this.count; i++) this.marked[this.id[i]] = 0;
    this.count = 0;
  }
}

/** The refusal of an out-of-order push (kept out of `add`, which runs once per completion). */
function outOfOrder(id: number, expected: number): Result<void, PushError> {
  return err({ kind: "out-of-order", id, expected });
}
