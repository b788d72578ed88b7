/**
 * Completions a device half has pushed but not yet published: the same bookkeeping for both
 * layouts, so `push` validates one way and `publish` reads one list.
 *
 * @module
 */

import { err, OK_VOID, type Result } from "../base/result.ts";
import type { DescriptorChain } from "./chain.ts";
import type { PushError } from "./errors.ts";

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

  /** A stage for a queue of `size`. */
  constructor(size: number) {
    this.id = new Uint32Array(size);
    this.len = new Uint32Array(size);
    this.descs = new Uint32Array(size);
    this.full = new Uint8Array(size);
    this.marked = new Uint8Array(size);
  }

  /**
   * Stage `chain` with `written` bytes. `inFlight` is the queue's word that the chain was popped
   * and not completed; a chain not in flight, or already staged, is refused (reliability A22)
   * and nothing changes.
   */
  add(chain: DescriptorChain, written: number, inFlight: boolean): Result<void, PushError> {
    const id = chain.id;
    if (!inFlight || id >= this.marked.length || this.marked[id]) {
      return err({ kind: "not-in-flight", id });
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
