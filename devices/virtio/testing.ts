/**
 * Mock drivers that write rings byte by byte, for unit tests, fuzzers and benchmarks (in the
 * spirit of rust-vmm's `MockSplitQueue`).
 *
 * A mock owns a small guest memory laid out as: descriptor area, driver area, device area, then
 * a data region for buffers and indirect tables, each page-aligned. It writes every field through
 * `GuestMemory`'s checked accessors, so it can put any value anywhere (invalid flags, indices past
 * the table, addresses past 2^53) without sharing a line of code with the real driver halves.
 * The same mock also plays the device when a test needs to feed a real driver (section C).
 *
 * @module
 */

import { DirectDma } from "../memory/dma.ts";
import { formatMemoryError, type OutOfRangeError } from "../memory/errors.ts";
import { GuestMemory, PAGE_SIZE } from "../memory/memory.ts";
import type { Result } from "../base/result.ts";
import { PackedDescFlag, SplitDescFlag } from "./constants.ts";
import { formatQueueError } from "./errors.ts";
import { packedAreaSizes, PackedEvent } from "./packed_layout.ts";
import { createDeviceQueue } from "./pair.ts";
import type { DeviceQueue, Layout, QueueConfig, RingFeatures } from "./queue.ts";
import { type RingAccess, SharedRingAccess } from "./ring_access.ts";
import { splitAreaSizes, SplitAvail, SplitUsed } from "./split_layout.ts";
import { createState } from "./state.ts";

/**
 * Options of a mock ring.
 *
 * @example
 * ```ts
 * import { type MockOptions, MockSplitRing } from "./testing.ts";
 * const options: MockOptions = { size: 16, features: { indirect: true }, dataBytes: 8192 };
 * new MockSplitRing(options).dataBytes; // 8192
 * ```
 */
export interface MockOptions {
  /** Queue size. */
  size: number;
  /** Negotiated ring features (default: none). */
  features?: Partial<RingFeatures>;
  /** Bytes of the data region after the ring areas (default 64 KiB). */
  dataBytes?: number;
}

/**
 * A data buffer for the chain helpers: `write` marks it device-writable.
 *
 * @example
 * ```ts
 * import type { MockSegment } from "./testing.ts";
 * const tooFar: MockSegment = { addr: 0xfffffffffffffff8n, len: 16, write: true }; // wraps 2^64
 * ```
 */
export interface MockSegment {
  /** Guest-physical address (a bigint for values past 2^53). */
  addr: number | bigint;
  /** Length in bytes. */
  len: number;
  /** Device-writable. */
  write?: boolean;
  /** Extra flag bits OR-ed into the descriptor (e.g. INDIRECT). */
  flags?: number;
}

/**
 * A device half built over a mock.
 *
 * @example
 * ```ts
 * import { type MockDevice, MockPackedRing } from "./testing.ts";
 * const { queue, state }: MockDevice = new MockPackedRing({ size: 4 }).createDevice();
 * ```
 */
export interface MockDevice {
  /** The device half. */
  queue: DeviceQueue;
  /** Its state record. */
  state: Uint32Array;
}

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

function must(r: Result<unknown, OutOfRangeError>): void {
  if (!r.ok) throw new RangeError(formatMemoryError(r.error));
}

/** Shared part of both mocks: memory, configuration, data region, device builder. */
abstract class MockRing {
  /** Guest memory of the mock. */
  readonly mem: GuestMemory;
  /** The queue configuration describing where the areas are. */
  readonly config: QueueConfig;
  /** First byte of the data region (page-aligned). */
  readonly dataAddr: number;
  /** Bytes in the data region. */
  readonly dataBytes: number;

  protected constructor(layout: Layout, options: MockOptions) {
    const size = options.size;
    const sizes = layout === "split" ? splitAreaSizes(size) : packedAreaSizes(size);
    const descAddr = PAGE_SIZE;
    const driverAddr = roundUp(descAddr + sizes.descriptor, PAGE_SIZE);
    const deviceAddr = roundUp(driverAddr + sizes.driver, PAGE_SIZE);
    this.dataAddr = roundUp(deviceAddr + sizes.device, PAGE_SIZE);
    this.dataBytes = roundUp(options.dataBytes ?? 65536, PAGE_SIZE);
    this.mem = GuestMemory.create(this.dataAddr + this.dataBytes);
    const features = { eventIdx: false, indirect: false, inOrder: false, ...options.features };
    this.config = { layout, size, descAddr, driverAddr, deviceAddr, features };
  }

  /** Queue size. */
  get size(): number {
    return this.config.size;
  }

  /**
   * Build a device half over the mock's areas (`DirectDma`, and `SharedRingAccess` unless
   * `ring` is given), at power-on state. Throws if the mock's own configuration is refused.
   */
  createDevice(options: { ring?: RingAccess; state?: Uint32Array } = {}): MockDevice {
    const { layout, size } = this.config;
    const state = options.state ?? createState(layout, size);
    const ring = options.ring ?? new SharedRingAccess(this.mem);
    const q = createDeviceQueue(new DirectDma(this.mem), ring, this.config, state);
    if (!q.ok) throw new Error(formatQueueError(q.error));
    return { queue: q.value, state };
  }

  /** Write a 64-bit address that may exceed 2^53 (as two 32-bit halves). */
  protected writeAddr(gpa: number, addr: number | bigint): void {
    if (typeof addr === "number") return must(this.mem.writeU64(gpa, addr));
    must(this.mem.writeU32(gpa, Number(addr & 0xffffffffn)));
    must(this.mem.writeU32(gpa + 4, Number((addr >> 32n) & 0xffffffffn)));
  }

  /** Read a checked value (the mock's own areas are always in range). */
  protected read(r: Result<number, OutOfRangeError>): number {
    if (!r.ok) throw new RangeError(formatMemoryError(r.error));
    return r.value;
  }
}

/**
 * Fields of a split descriptor; missing ones are written as 0.
 *
 * @example
 * ```ts
 * import { MockSplitRing, type SplitDescFields } from "./testing.ts";
 * const loop: SplitDescFields = { addr: 0x4000, len: 16, flags: 1, next: 0 }; // NEXT to itself
 * new MockSplitRing({ size: 8 }).writeDesc(0, loop);
 * ```
 */
export interface SplitDescFields {
  /** Buffer address (a bigint for values past 2^53). */
  addr?: number | bigint;
  /** Length. */
  len?: number;
  /** Flags (NEXT 1, WRITE 2, INDIRECT 4; any 16-bit value). */
  flags?: number;
  /** Next index (any 16-bit value). */
  next?: number;
}

/**
 * A mock split-ring driver: writes descriptors, avail entries and indices byte by byte, and
 * reads what the device wrote to the used ring.
 *
 * @example
 * ```ts
 * import { MockSplitRing } from "./testing.ts";
 * const m = new MockSplitRing({ size: 8 });
 * m.writeChain(0, [{ addr: m.dataAddr, len: 64 }, { addr: m.dataAddr + 64, len: 64, write: true }]);
 * m.makeAvailable(0);
 * const { queue } = m.createDevice();
 * const r = queue.pop(); // a chain with one readable and one writable segment
 * if (r.ok && r.value) queue.push(r.value, 10);
 * queue.publish();
 * m.usedElem(0); // { id: 0, len: 10 }
 * ```
 */
export class MockSplitRing extends MockRing {
  /** The driver's free-running avail index (what `makeAvailable` publishes). */
  availIdx = 0;
  /** Next table index `addChain` writes (wraps at the queue size). */
  nextDesc = 0;
  /** Free-running used position `takeUsed` reads next. */
  usedCursor = 0;

  /** A mock over fresh zeroed memory. */
  constructor(options: MockOptions) {
    super("split", options);
  }

  /** Write descriptor `index` of the table (any index whose bytes are in memory). */
  writeDesc(index: number, d: SplitDescFields): void {
    this.writeDescAt(this.config.descAddr + 16 * index, d);
  }

  /** Write a descriptor at any address (an indirect table entry). */
  writeDescAt(gpa: number, d: SplitDescFields): void {
    this.writeAddr(gpa, d.addr ?? 0);
    must(this.mem.writeU32(gpa + 8, d.len ?? 0));
    must(this.mem.writeU16(gpa + 12, d.flags ?? 0));
    must(this.mem.writeU16(gpa + 14, d.next ?? 0));
  }

  /** Read descriptor `index` back (what a real driver wrote). */
  readDesc(index: number): { addr: number; len: number; flags: number; next: number } {
    const gpa = this.config.descAddr + 16 * index;
    return {
      addr: this.read(this.mem.readU64(gpa)),
      len: this.read(this.mem.readU32(gpa + 8)),
      flags: this.read(this.mem.readU16(gpa + 12)),
      next: this.read(this.mem.readU16(gpa + 14)),
    };
  }

  /**
   * Write `segs` as a chain at table indices `first`, `first + 1`, … (mod size), linked with
   * NEXT; returns `first` (the head).
   */
  writeChain(first: number, segs: readonly MockSegment[]): number {
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const last = i + 1 === segs.length;
      const flags = (s.write ? SplitDescFlag.WRITE : 0) | (last ? 0 : SplitDescFlag.NEXT) |
        (s.flags ?? 0);
      const next = last ? 0 : (first + i + 1) % this.size;
      this.writeDesc((first + i) % this.size, { addr: s.addr, len: s.len, flags, next });
    }
    return first;
  }

  /** Write a table of `segs` at `gpa` (entry k links to k + 1), for an INDIRECT descriptor. */
  writeTable(gpa: number, segs: readonly MockSegment[]): void {
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const last = i + 1 === segs.length;
      const flags = (s.write ? SplitDescFlag.WRITE : 0) | (last ? 0 : SplitDescFlag.NEXT) |
        (s.flags ?? 0);
      this.writeDescAt(gpa + 16 * i, { addr: s.addr, len: s.len, flags, next: last ? 0 : i + 1 });
    }
  }

  /**
   * Write `segs` as a chain at the descriptor cursor and make it available; returns its head
   * (the id the device reports). Same shape as `MockPackedRing.addChain`.
   */
  addChain(segs: readonly MockSegment[]): number {
    const head = this.writeChain(this.nextDesc, segs);
    this.nextDesc = (this.nextDesc + segs.length) % this.size;
    this.makeAvailable(head);
    return head;
  }

  /** The next used element if `used.idx` moved past the reader cursor, else null. */
  takeUsed(): { id: number; len: number } | null {
    if (this.usedCursor === this.usedIdx()) return null;
    const e = this.usedElem(this.usedCursor);
    this.usedCursor = (this.usedCursor + 1) & 0xffff;
    return e;
  }

  /** Append `heads` to the avail ring at the mock's cursor, then publish the new avail index. */
  makeAvailable(...heads: number[]): void {
    for (const head of heads) this.setAvailEntry(this.availIdx++, head);
    this.setAvailIdx(this.availIdx);
  }

  /** Write avail ring entry for free-running position `pos` (slot `pos mod size`). */
  setAvailEntry(pos: number, head: number): void {
    const slot = pos % this.size;
    must(
      this.mem.writeU16(this.config.driverAddr + SplitAvail.RING + SplitAvail.ENTRY * slot, head),
    );
  }

  /** Write `avail.idx` (any value) and move the mock's cursor there. */
  setAvailIdx(idx: number): void {
    this.availIdx = idx & 0xffff;
    must(this.mem.writeU16(this.config.driverAddr + SplitAvail.IDX, this.availIdx));
  }

  /** Write `avail.flags`. */
  setAvailFlags(flags: number): void {
    must(this.mem.writeU16(this.config.driverAddr + SplitAvail.FLAGS, flags));
  }

  /** Write `used_event` (the last field of the avail ring). */
  setUsedEvent(value: number): void {
    must(
      this.mem.writeU16(
        this.config.driverAddr + SplitAvail.RING + SplitAvail.ENTRY * this.size,
        value,
      ),
    );
  }

  /** Read the avail ring entry at free-running position `pos`. */
  availEntry(pos: number): number {
    return this.read(
      this.mem.readU16(
        this.config.driverAddr + SplitAvail.RING + SplitAvail.ENTRY * (pos % this.size),
      ),
    );
  }

  /** Read `used.idx`. */
  usedIdx(): number {
    return this.read(this.mem.readU16(this.config.deviceAddr + SplitUsed.IDX));
  }

  /** Read `used.flags`. */
  usedFlags(): number {
    return this.read(this.mem.readU16(this.config.deviceAddr + SplitUsed.FLAGS));
  }

  /** Read the used element at free-running position `pos`. */
  usedElem(pos: number): { id: number; len: number } {
    const gpa = this.config.deviceAddr + SplitUsed.RING + SplitUsed.ENTRY * (pos % this.size);
    return { id: this.read(this.mem.readU32(gpa)), len: this.read(this.mem.readU32(gpa + 4)) };
  }

  /** Read `avail_event` (the last field of the used ring). */
  availEvent(): number {
    return this.read(
      this.mem.readU16(this.config.deviceAddr + SplitUsed.RING + SplitUsed.ENTRY * this.size),
    );
  }

  /** Play the device: write the used element at position `pos` (any id and length). */
  setUsedElem(pos: number, id: number, len: number): void {
    const gpa = this.config.deviceAddr + SplitUsed.RING + SplitUsed.ENTRY * (pos % this.size);
    must(this.mem.writeU32(gpa, id));
    must(this.mem.writeU32(gpa + 4, len));
  }

  /** Play the device: write `used.idx`. */
  setUsedIdx(idx: number): void {
    must(this.mem.writeU16(this.config.deviceAddr + SplitUsed.IDX, idx & 0xffff));
  }
}

/**
 * Fields of a packed descriptor; missing ones are written as 0.
 *
 * @example
 * ```ts
 * import { MockPackedRing, type PackedDescFields } from "./testing.ts";
 * const d: PackedDescFields = { addr: 0x4000, len: 16, id: 9, flags: MockPackedRing.availBits(1) };
 * new MockPackedRing({ size: 8 }).writeDesc(0, d); // id 9 is out of range
 * ```
 */
export interface PackedDescFields {
  /** Buffer address (a bigint for values past 2^53). */
  addr?: number | bigint;
  /** Length. */
  len?: number;
  /** Buffer id (any 16-bit value). */
  id?: number;
  /** Flags, including the AVAIL (0x80) and USED (0x8000) bits, written as given. */
  flags?: number;
}

/**
 * How `writeUnavailable` gets the AVAIL/USED bits wrong.
 *
 * @example
 * ```ts
 * import { MockPackedRing, type WrongBits } from "./testing.ts";
 * const m = new MockPackedRing({ size: 8 });
 * for (const bits of ["used", "stale", "none"] as WrongBits[]) {
 *   m.writeUnavailable({ addr: m.dataAddr, len: 16 }, 0, bits);
 * }
 * ```
 */
export type WrongBits = "used" | "stale" | "none";

/**
 * A mock packed-ring driver: writes descriptors with explicit flags, makes chains available
 * with the right wrap bits at its cursor (head flags last), and reads used descriptors.
 *
 * @example
 * ```ts
 * import { MockPackedRing } from "./testing.ts";
 * const m = new MockPackedRing({ size: 8 });
 * m.makeAvailable([{ addr: m.dataAddr, len: 64, write: true }], 5);
 * const { queue } = m.createDevice();
 * const r = queue.pop(); // buffer id 5
 * if (r.ok && r.value) queue.push(r.value, 64);
 * queue.publish();
 * m.takeUsed(); // { id: 5, len: 64, flags: 0x8082 }
 * ```
 */
export class MockPackedRing extends MockRing {
  /** Driver cursor: next slot `makeAvailable` writes. */
  nextAvail = 0;
  /** Driver wrap counter for `nextAvail` (starts at 1). */
  availWrap = 1;
  /** Reader cursor for `takeUsed`. */
  nextUsed = 0;
  /** Wrap counter expected at `nextUsed`. */
  usedWrap = 1;
  /** Slots each buffer id occupied when last made available. */
  private readonly counts = new Map<number, number>();
  private autoId = 0;

  /** A mock over fresh zeroed memory. */
  constructor(options: MockOptions) {
    super("packed", options);
  }

  /** AVAIL/USED bits that mark a descriptor available for driver wrap `wrap`. */
  static availBits(wrap: number): number {
    return wrap ? PackedDescFlag.AVAIL : PackedDescFlag.USED;
  }

  /** AVAIL/USED bits that mark a descriptor used for device wrap `wrap`. */
  static usedBits(wrap: number): number {
    return wrap ? PackedDescFlag.AVAIL | PackedDescFlag.USED : 0;
  }

  /** Write the descriptor at ring `slot` exactly as given (flags included). */
  writeDesc(slot: number, d: PackedDescFields): void {
    this.writeDescAt(this.config.descAddr + 16 * slot, d);
  }

  /** Write a packed descriptor at any address (an indirect table entry). */
  writeDescAt(gpa: number, d: PackedDescFields): void {
    this.writeAddr(gpa, d.addr ?? 0);
    must(this.mem.writeU32(gpa + 8, d.len ?? 0));
    must(this.mem.writeU16(gpa + 12, d.id ?? 0));
    must(this.mem.writeU16(gpa + 14, d.flags ?? 0));
  }

  /** Read the descriptor at ring `slot`. */
  readDesc(slot: number): { addr: number; len: number; id: number; flags: number } {
    const gpa = this.config.descAddr + 16 * slot;
    return {
      addr: this.read(this.mem.readU64(gpa)),
      len: this.read(this.mem.readU32(gpa + 8)),
      id: this.read(this.mem.readU16(gpa + 12)),
      flags: this.read(this.mem.readU16(gpa + 14)),
    };
  }

  /** Write a table of `segs` at `gpa` (consecutive entries; only WRITE and `flags` set). */
  writeTable(gpa: number, segs: readonly MockSegment[]): void {
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      this.writeDescAt(gpa + 16 * i, {
        addr: s.addr,
        len: s.len,
        flags: (s.write ? PackedDescFlag.WRITE : 0) | (s.flags ?? 0),
      });
    }
  }

  /**
   * Make `segs` available as buffer `id` at the cursor: every descriptor gets NEXT (except the
   * last), the wrap bits of its own slot, and `id`; the head's flags are stored last. Returns the
   * head slot and the number of slots.
   */
  makeAvailable(segs: readonly MockSegment[], id: number): { slot: number; count: number } {
    const first = this.nextAvail;
    let headFlags = 0;
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const flags = (s.write ? PackedDescFlag.WRITE : 0) |
        (i + 1 < segs.length ? PackedDescFlag.NEXT : 0) |
        (s.flags ?? 0) | MockPackedRing.availBits(this.availWrap);
      if (i === 0) headFlags = flags;
      this.writeDesc(this.nextAvail, { addr: s.addr, len: s.len, id, flags: i === 0 ? 0 : flags });
      if (++this.nextAvail === this.size) {
        this.nextAvail = 0;
        this.availWrap ^= 1;
      }
    }
    must(this.mem.writeU16(this.config.descAddr + 16 * first + 14, headFlags));
    this.counts.set(id, segs.length);
    return { slot: first, count: segs.length };
  }

  /**
   * Make `segs` available at the cursor as buffer `id` (default: the next id, counting up mod
   * size); returns the id. Same shape as `MockSplitRing.addChain`.
   */
  addChain(segs: readonly MockSegment[], id?: number): number {
    const use = id ?? this.autoId;
    this.autoId = (use + 1) % this.size;
    this.makeAvailable(segs, use);
    return use;
  }

  /**
   * Write one descriptor at the cursor whose AVAIL/USED bits are wrong for the cursor's wrap:
   * `used` (AVAIL = USED = wrap: looks used), `stale` (available for the other wrap), `none`
   * (both bits clear). The cursor does not move.
   */
  writeUnavailable(seg: MockSegment, id: number, bits: WrongBits): void {
    const w = this.availWrap;
    const wrong = bits === "used"
      ? MockPackedRing.usedBits(w)
      : bits === "stale"
      ? MockPackedRing.availBits(w ^ 1)
      : 0;
    const flags = (seg.write ? PackedDescFlag.WRITE : 0) | (seg.flags ?? 0) | wrong;
    this.writeDesc(this.nextAvail, { addr: seg.addr, len: seg.len, id, flags });
  }

  /**
   * Read the next used descriptor at the reader cursor, or null if the slot is not used for the
   * expected wrap; moves the cursor by the slots its id occupied when made available.
   */
  takeUsed(): { id: number; len: number; flags: number } | null {
    const d = this.readDesc(this.nextUsed);
    const a = (d.flags >>> 7) & 1;
    const u = (d.flags >>> 15) & 1;
    if (a !== this.usedWrap || u !== this.usedWrap) return null;
    this.nextUsed += this.counts.get(d.id) ?? 1;
    while (this.nextUsed >= this.size) {
      this.nextUsed -= this.size;
      this.usedWrap ^= 1;
    }
    return { id: d.id, len: d.len, flags: d.flags };
  }

  /** Write the driver event suppression structure (`off_wrap`, then `flags`). */
  setDriverEvent(offWrap: number, flags: number): void {
    must(this.mem.writeU16(this.config.driverAddr + PackedEvent.OFF_WRAP, offWrap));
    must(this.mem.writeU16(this.config.driverAddr + PackedEvent.FLAGS, flags));
  }

  /** Read the device event suppression structure. */
  deviceEvent(): { offWrap: number; flags: number } {
    return {
      offWrap: this.read(this.mem.readU16(this.config.deviceAddr + PackedEvent.OFF_WRAP)),
      flags: this.read(this.mem.readU16(this.config.deviceAddr + PackedEvent.FLAGS)),
    };
  }

  /** Play the device: write a used descriptor at `slot` for device wrap `wrap`. */
  writeUsed(slot: number, id: number, len: number, wrap: number): void {
    const flags = MockPackedRing.usedBits(wrap) | (len > 0 ? PackedDescFlag.WRITE : 0);
    this.writeDesc(slot, { id, len, flags });
  }
}

/**
 * A mock of either layout.
 *
 * @example
 * ```ts
 * import { createMock } from "./testing.ts";
 * for (const layout of ["split", "packed"] as const) {
 *   const m = createMock(layout, { size: 8 });
 *   const id = m.addChain([{ addr: m.dataAddr, len: 16 }]);
 *   const { queue } = m.createDevice();
 *   queue.pop(); // the chain `id`
 * }
 * ```
 */
export function createMock(layout: Layout, options: MockOptions): MockSplitRing | MockPackedRing {
  return layout === "split" ? new MockSplitRing(options) : new MockPackedRing(options);
}
