/**
 * The descriptor chain (one type over both layouts) and the helper that turns descriptors into
 * validated, translated segments.
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import type { ChainFault, RingError } from "./errors.ts";

/** One buffer segment of a chain, with its guest-physical address after translation. */
export interface Segment {
  /** Guest-physical address (translated through the device's DMA view). */
  gpa: number;
  /** Length in bytes. */
  len: number;
}

/**
 * A descriptor chain the device popped: device-readable segments, then device-writable ones.
 * It is a private snapshot: later guest writes to the ring do not change it.
 */
export interface DescriptorChain {
  /** Split: the head descriptor index. Packed: the buffer id. Give it back to `push`. */
  readonly id: number;
  /** Ring slots the chain occupies (packed: how far the used index moves for it). */
  readonly descCount: number;
  /** Device-readable segments, in order. */
  readonly readable: Segment[];
  /** Device-writable segments, in order. */
  readonly writable: Segment[];
  /** Total bytes of the readable segments. */
  readonly readableBytes: number;
  /** Total bytes of the writable segments. */
  readonly writableBytes: number;
}

/** Chains may not exceed 2^32 bytes in total (virtio 1.2 §2.7.5). */
export const MAX_CHAIN_BYTES = 2 ** 32;

/**
 * Accumulates the segments of one chain while a layout walks its descriptors. Structural
 * faults are returned by `add` (the caller breaks the queue); a data buffer that cannot be
 * translated is remembered as the chain's `fault` (the request is dropped, the queue lives).
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { ChainBuilder } from "./chain.ts";
 * const b = new ChainBuilder(new DirectDma(GuestMemory.create(4096)), 0);
 * b.add(0, 0x100, 64, false);
 * b.add(1, 0x200, 64, true);
 * const chain = b.finish(2); // 64 readable bytes, 64 writable
 * ```
 */
export class ChainBuilder {
  /** Readable segments so far. */
  readonly readable: Segment[] = [];
  /** Writable segments so far. */
  readonly writable: Segment[] = [];
  /** The first data-buffer fault, if any. */
  fault: ChainFault | null = null;
  private readableBytes = 0;
  private writableBytes = 0;
  private readonly dma: DmaView;
  private readonly head: number;

  /** Start a chain whose head (split) or first slot (packed) is `head`. */
  constructor(dma: DmaView, head: number) {
    this.dma = dma;
    this.head = head;
  }

  /**
   * Add descriptor `index` (for messages) covering `[addr, addr + len)`. Returns a ring error
   * for a readable descriptor after a writable one (A7); translation failures and the 2^32
   * limit become the chain's fault.
   */
  add(index: number, addr: number, len: number, writable: boolean): RingError | null {
    if (!writable && this.writable.length > 0) {
      return { kind: "readable-after-writable", head: this.head, index };
    }
    if (this.readableBytes + this.writableBytes + len > MAX_CHAIN_BYTES) {
      this.fault ??= {
        kind: "chain-too-big",
        head: this.head,
        bytes: this.readableBytes + this.writableBytes + len,
      };
    }
    const t = this.dma.translate(addr, len, writable ? "write" : "read");
    if (!t.ok) {
      this.fault ??= { kind: "buffer-unreachable", head: this.head, cause: t.error };
      return null;
    }
    if (writable) {
      this.writable.push({ gpa: t.value, len });
      this.writableBytes += len;
    } else {
      this.readable.push({ gpa: t.value, len });
      this.readableBytes += len;
    }
    return null;
  }

  /** The finished chain, carrying `id` and the ring slots it occupied. */
  finish(id: number, descCount: number): DescriptorChain {
    return {
      id,
      descCount,
      readable: this.readable,
      writable: this.writable,
      readableBytes: this.readableBytes,
      writableBytes: this.writableBytes,
    };
  }
}
