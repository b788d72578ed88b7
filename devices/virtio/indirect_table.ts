/**
 * A private copy of an indirect descriptor table (virtio 1.2 §2.7.5.3, §2.8.7), shared by the
 * split and packed device halves.
 *
 * The spec sets an alignment for the descriptor table (16 bytes) but none for an indirect
 * table, so a table may start at any byte. The ring's typed views need aligned addresses, so the
 * table is copied byte by byte into an aligned private buffer first (reliability A12: snapshot
 * the table before parsing it; later guest writes cannot change a walk in progress), and its
 * entries are read from the copy.
 *
 * @module
 */

/** Bytes per descriptor (the same 16 bytes in both layouts). */
const DESC_SIZE = 16;

/**
 * A reusable, aligned snapshot of one indirect table at a time.
 *
 * @example
 * ```ts
 * import { IndirectTable } from "./indirect_table.ts";
 * const mem = new Uint8Array(64);
 * mem[3 + 8] = 32; // entry 0 of a table at byte 3: len = 32
 * const t = new IndirectTable(4);
 * t.load(mem, 3, 16);
 * t.len(0); // 32
 * ```
 */
export class IndirectTable {
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;

  /** Room for tables of up to `maxEntries` descriptors. */
  constructor(maxEntries: number) {
    const buf = new ArrayBuffer(DESC_SIZE * maxEntries);
    this.u8 = new Uint8Array(buf);
    this.u16 = new Uint16Array(buf);
    this.u32 = new Uint32Array(buf);
  }

  /**
   * Copy `bytes` bytes at `gpa` of `mem` (already translated and bounds-checked by the caller,
   * at most `16 · maxEntries`). Any alignment is fine.
   */
  load(mem: Uint8Array, gpa: number, bytes: number): void {
    this.u8.set(mem.subarray(gpa, gpa + bytes));
  }

  /** Entry `i`'s 64-bit address (as a number; the high word scaled by 2^32). */
  addr(i: number): number {
    const lo = this.u32[i * 4];
    const hi = this.u32[i * 4 + 1];
    return hi === 0 ? lo : lo + hi * 2 ** 32;
  }

  /** Entry `i`'s length. */
  len(i: number): number {
    return this.u32[i * 4 + 2];
  }

  /** Entry `i`'s 16-bit field at byte 12 (split: flags; packed: id). */
  word12(i: number): number {
    return this.u16[i * 8 + 6];
  }

  /** Entry `i`'s 16-bit field at byte 14 (split: next; packed: flags). */
  word14(i: number): number {
    return this.u16[i * 8 + 7];
  }
}
