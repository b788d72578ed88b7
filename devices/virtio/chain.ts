/**
 * The descriptor chain (one type over both layouts) and the walker that fills it with
 * validated, translated segments.
 *
 * Chains are owned by their queue and reused: the device half keeps one chain object per id
 * (split head / packed buffer id), so popping allocates nothing on the data path. A chain is
 * valid from `pop` until it is pushed; after that the queue may refill it.
 *
 * @module
 */

import { DmaFastWindow, type DmaView } from "../memory/dma.ts";
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
 * It is a private snapshot (later guest writes to the ring do not change it), owned by the
 * queue and valid until it is pushed.
 */
export interface DescriptorChain {
  /** Split: the head descriptor index. Packed: the buffer id. Give it back to `push`. */
  readonly id: number;
  /** Ring slots the chain occupies (packed: how far the used index moves for it). */
  readonly descCount: number;
  /** Device-readable segments, in order. */
  readonly readable: readonly Segment[];
  /** Device-writable segments, in order. */
  readonly writable: readonly Segment[];
  /** Total bytes of the readable segments. */
  readonly readableBytes: number;
  /** Total bytes of the writable segments. */
  readonly writableBytes: number;
  /** Whether the driver described the chain through an indirect table (§2.7.5.3, §2.8.7). */
  readonly indirect: boolean;
}

/**
 * Anything `pop` can report. `fatal` errors break the queue; a chain whose data buffer could
 * not be translated comes with it (the device completes it and goes on).
 */
export type PopError =
  | (RingError & { fatal: true })
  | (ChainFault & { fatal: false; chain: DescriptorChain });

/** Chains may not exceed 2^32 bytes in total (virtio 1.2 §2.7.5). */
export const MAX_CHAIN_BYTES = 2 ** 32;

/**
 * A reusable chain: the queue refills its arrays and segments in place.
 *
 * @example
 * ```ts
 * import { PooledChain } from "./chain.ts";
 * const c = new PooledChain();
 * c.result.value === c; // true: popping it allocates nothing
 * ```
 */
export class PooledChain implements DescriptorChain {
  /** Head index or buffer id. */
  id = 0;
  /** Ring slots the chain occupies. */
  descCount = 0;
  /** Device-readable segments. */
  readonly readable: Segment[] = [];
  /** Device-writable segments. */
  readonly writable: Segment[] = [];
  /** Total readable bytes. */
  readableBytes = 0;
  /** Total writable bytes. */
  writableBytes = 0;
  /** Whether an indirect table described it. */
  indirect = false;
  /** This chain as a successful pop result (allocated once). */
  readonly result: { ok: true; value: DescriptorChain };

  constructor() {
    this.result = { ok: true, value: this };
  }
}

/**
 * Walks one chain at a time into a `PooledChain`: structural faults are returned by `add` (the
 * caller breaks the queue); a data buffer that cannot be translated, or a chain over 2^32
 * bytes, becomes `fault` (the request is dropped, the queue lives).
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { ChainWalker, PooledChain } from "./chain.ts";
 * const w = new ChainWalker(new DirectDma(GuestMemory.create(4096)));
 * const c = new PooledChain();
 * w.begin(c, 0);
 * w.add(0, 0x100, 64, false);
 * w.add(1, 0x200, 64, true);
 * w.end(0, 2); // c: 64 readable bytes, then 64 writable
 * ```
 */
export class ChainWalker {
  /** The first data-buffer fault of the current chain, if any. */
  fault: ChainFault | null = null;
  private readonly dma: DmaView;
  private readonly fast: DmaFastWindow;
  private readonly memSize: number;
  private chain: PooledChain = new PooledChain();
  private head = 0;
  private nr = 0;
  private nw = 0;
  private sawWritable = false;
  private sawIndirect = false;
  private rb = 0;
  private wb = 0;

  /** A walker translating through `dma`. */
  constructor(dma: DmaView) {
    this.dma = dma;
    // A view without an inline range gets an empty one: every access goes to `resolve`.
    this.fast = dma.fast ?? new DmaFastWindow();
    this.memSize = dma.memory.size;
  }

  /** Start filling `chain` for the chain whose head (split) or first slot (packed) is `head`. */
  begin(chain: PooledChain, head: number): void {
    this.chain = chain;
    this.head = head;
    this.fault = null;
    this.nr = 0;
    this.nw = 0;
    this.sawWritable = false;
    this.sawIndirect = false;
    this.rb = 0;
    this.wb = 0;
  }

  /**
   * Add descriptor `index` (for messages) covering `[addr, addr + len)`; a ring error for a
   * readable descriptor after a writable one (reliability A7).
   */
  add(index: number, addr: number, len: number, writable: boolean): RingError | null {
    // Descriptors seen, not segments kept: a writable one that failed translation still counts
    // (the check the 2021 vringh fix corrected).
    if (!writable && this.sawWritable) {
      return { kind: "readable-after-writable", head: this.head, index };
    }
    if (writable) this.sawWritable = true;
    const total = this.rb + this.wb + len;
    if (total > MAX_CHAIN_BYTES) {
      this.fault ??= { kind: "chain-too-big", head: this.head, bytes: total };
    }
    // The view's inline range first (the IOTLB's last hit, or all of memory for a direct view):
    // the decision `resolve` makes there, without a call (DmaFastWindow).
    const f = this.fast;
    const last = addr + (len > 0 ? len : 1) - 1;
    let gpa = f.gpa + (addr - f.start);
    if (
      addr >= f.start && last <= f.end && (f.perms & (writable ? 2 : 1)) !== 0 &&
      gpa + len <= this.memSize
    ) {
      f.hits++;
    } else gpa = this.dma.resolve(addr, len, writable ? "write" : "read");
    if (gpa < 0) {
      const t = this.dma.translate(addr, len, writable ? "write" : "read");
      if (!t.ok) {
        this.fault ??= { kind: "buffer-unreachable", head: this.head, cause: t.error };
        return null;
      }
      // The view said yes when asked why: an IOMMU view's IOTLB changed between the two asks
      // (a stale entry met first, the live mapping then). The buffer is reachable: it was
      // dropped from the chain without a fault, the device seeing the chain short of it.
      gpa = t.value;
    }
    // Kept an int32: a GPA computed from an IOMMU view's entries (which live in Float64Arrays)
    // may be a double to V8, and the device then copies through a segment holding a double
    // (`vlab bench iommu`, static at 64 B: 95-97 % of none with this, 89-93 % without; the
    // mechanism is inferred, not shown). Guest memory is at most 2 GiB: a GPA below 2^31 fits.
    if (gpa < 0x80000000) gpa |= 0;
    if (writable) {
      setSegment(this.chain.writable, this.nw++, gpa, len);
      this.wb += len;
    } else {
      setSegment(this.chain.readable, this.nr++, gpa, len);
      this.rb += len;
    }
    return null;
  }

  /** Note that the chain being walked goes through an indirect table. */
  markIndirect(): void {
    this.sawIndirect = true;
  }

  /** Finish the chain with its id and the ring slots it occupied. */
  end(id: number, descCount: number): PooledChain {
    const c = this.chain;
    if (c.readable.length !== this.nr) c.readable.length = this.nr;
    if (c.writable.length !== this.nw) c.writable.length = this.nw;
    c.id = id;
    c.descCount = descCount;
    c.readableBytes = this.rb;
    c.writableBytes = this.wb;
    c.indirect = this.sawIndirect;
    return c;
  }
}

function setSegment(list: Segment[], i: number, gpa: number, len: number): void {
  if (i < list.length) {
    const s = list[i];
    s.gpa = gpa;
    s.len = len;
  } else {
    list.push({ gpa, len });
  }
}

/** A pool of chains by id, for a queue of `size` (one chain object per possible id). */
export function chainPool(size: number): PooledChain[] {
  const pool: PooledChain[] = [];
  for (let i = 0; i < size; i++) pool.push(new PooledChain());
  return pool;
}
