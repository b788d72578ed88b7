/**
 * Guest bugs on demand (issue 13): pure functions that corrupt a live queue in guest memory the
 * way a buggy driver would, so the device's checks (reliability.md rows A and B) and the reset
 * that follows can be drilled. Each writes one bad chain (or index) after what the driver has
 * published, publishes it with the same ordering a driver uses, and returns a description of
 * every word it wrote.
 *
 * Who calls it: tests, and the lab's fault injector on the guest worker, which owns the guest's
 * memory. A buggy driver writes its bad request the way it posts one, into a descriptor (and,
 * split, an avail entry) not in use: the caller says which (`freeId` and `freeDescriptors` from a
 * `PackedDriverQueue`; `splitSlot` from `takeSplitSlot` for a `SplitDriverQueue`). A split ring
 * with no free descriptor (an idle receiveq has every buffer posted) takes back the driver's
 * newest avail entry and rewrites it in place, one store per field the device reads once, so
 * the device sees either the old buffer whole (the bug is not met, and the driver meets that
 * buffer as one it never posted) or the bug (see `splitRewrite`); the bug is met after the
 * buffers posted before it. A packed ring without the slots a bug needs takes back its newest
 * buffer the same way (`takePackedSlot`) for the bugs one store outside its flags word can arm
 * (its id, its address: see `packedRewrite`), and refuses the others (`queue-full`). Without that information (tests on a quiet ring) the split avail index is read
 * from memory and the packed next slot and wrap counter from the AVAIL bits (`packedNextAvail`).
 *
 * Whatever the kind, the driver must add nothing more to the queue afterwards until it resets
 * it: its next add would go to the slot (split: the avail entry) the bug took. If it did, it
 * could overwrite the bug before the device met it, or, in a packed ring, post into the slot
 * where the device then writes the bug's used descriptor, so that the device waits one slot
 * further while the driver waits for that slot to come back used: a transmitq stalls until its
 * watchdog. A packed ring's bad chain carries `freeId`, a buffer id the driver has not posted,
 * so no chain the device holds has that id (else `head-in-flight`) and the used buffer that
 * `address-outside-memory` gets back is one the driver never posted (`used-id-not-in-flight`:
 * the driver breaks the queue and resets).
 *
 * Expected device answers (`RingError` kinds, all fatal but the last):
 * | fault                     | split                 | packed                |
 * | ------------------------- | --------------------- | --------------------- |
 * | `index-jump`              | avail-index-jump (A1) | not applicable        |
 * | `head-out-of-range`       | head-out-of-range (A2)| id-out-of-range       |
 * | `next-out-of-range`       | next-out-of-range (A3)| not applicable        |
 * | `loop`                    | chain-too-long (A4)   | chain-too-long (B2)   |
 * | `indirect-length`         | indirect-length (A10) | indirect-length       |
 * | `indirect-nested`         | nested-indirect (A9)  | nested-indirect       |
 * | `indirect-outside-memory` | indirect-unreachable  | indirect-unreachable  |
 * | `wrap-flip`               | not applicable        | chain-not-available (B4) |
 * | `address-outside-memory`  | buffer-unreachable: a per-request drop, not a reset (A13) | same |
 * Without INDIRECT_DESC negotiated the indirect faults meet `indirect-not-negotiated` first.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import { PAGE_SIZE } from "../memory/memory.ts";
import { PackedDescFlag, SplitDescFlag } from "./constants.ts";
import type { DriverError } from "./errors.ts";
import { packedAreaSizes, PackedDesc } from "./packed_layout.ts";
import type { Layout, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import type { PackedDriverQueue } from "./packed_driver.ts";
import type { SplitDriverQueue } from "./split_driver.ts";
import { splitAreaSizes, SplitAvail, SplitDesc, SplitUsed } from "./split_layout.ts";

/** The kinds of guest bug these functions write. */
export type GuestFaultKind =
  | "index-jump"
  | "head-out-of-range"
  | "next-out-of-range"
  | "loop"
  | "indirect-length"
  | "indirect-nested"
  | "indirect-outside-memory"
  | "wrap-flip"
  | "address-outside-memory";

/** Every `GuestFaultKind`, in the order of the table above. */
export const GUEST_FAULT_KINDS: readonly GuestFaultKind[] = [
  "index-jump",
  "head-out-of-range",
  "next-out-of-range",
  "loop",
  "indirect-length",
  "indirect-nested",
  "indirect-outside-memory",
  "wrap-flip",
  "address-outside-memory",
];

/**
 * Whether a device that meets guest bug `kind` breaks the queue (DEVICE_NEEDS_RESET, then the
 * guest's reset): every kind but `address-outside-memory`, which costs one request (A13); the
 * driver resets when it meets that request's used buffer. (Either way the driver adds nothing
 * more to the queue until its reset: see the module's notes.)
 *
 * @example
 * ```ts
 * import { breaksQueue } from "./guest_faults.ts";
 * breaksQueue("loop"); // true
 * breaksQueue("address-outside-memory"); // false
 * ```
 */
export function breaksQueue(kind: GuestFaultKind): boolean {
  return kind !== "address-outside-memory";
}

/** A guest bug written into a queue, as its driver remembers it until the queue's reset. */
export interface PlantedGuestBug {
  /** The bug. */
  readonly kind: GuestFaultKind;
  /**
   * The posted buffer the driver took back for the bug to be written over in place (split: its
   * head, `takeSplitSlot`; packed: its id, `takePackedSlot`), or null when the bug took a slot
   * the driver had not posted, which the device cannot have read before.
   */
  readonly takenBack: number | null;
}

/**
 * Whether a driver error says that the device took the buffer `bug` was written over before the
 * bug landed (it read the old buffer whole, its one read of each field coming before the store):
 * the bug was not met, nothing went wrong in the ring, and the driver, which took that buffer
 * back, breaks its queue on meeting it used (`used-id-not-in-flight`), then resets. Only for
 * bugs that break the queue: the used buffer of an `address-outside-memory` the device met is
 * one the driver never posted as well.
 *
 * @example
 * ```ts
 * import { guestBugMissed } from "./guest_faults.ts";
 * guestBugMissed({ kind: "loop", takenBack: 3 }, { kind: "used-id-not-in-flight", id: 3 }); // true
 * guestBugMissed({ kind: "loop", takenBack: null }, { kind: "used-id-not-in-flight", id: 3 }); // false
 * ```
 */
export function guestBugMissed(bug: PlantedGuestBug, error: DriverError): boolean {
  if (bug.takenBack === null || !breaksQueue(bug.kind)) return false;
  // Packed head-out-of-range rewrites the buffer's id, a word the device also writes when it
  // returns the buffer: a store that lands on that used descriptor makes its id out of range.
  return (error.kind === "used-id-not-in-flight" && error.id === bug.takenBack) ||
    (error.kind === "used-id-out-of-range" && bug.kind === "head-out-of-range");
}

/** The queue to corrupt. */
export interface GuestFaultTarget {
  /** The queue's configuration (as the driver programmed it). */
  readonly config: QueueConfig;
  /** The guest's access to its memory. */
  readonly ring: RingAccess;
  /** Bytes of guest memory: an address at or past it is outside memory. */
  readonly memoryBytes: number;
  /** 16 free bytes of guest memory for the table of `indirect-nested` (16-aligned). */
  readonly scratch?: number;
  /**
   * Packed: the buffer id the bad chain carries, one the driver has not posted
   * (`PackedDriverQueue.unpostedId`), 0..size-1; 0 when not given (right for a ring with
   * nothing in flight). Split rings ignore it.
   */
  readonly freeId?: number;
  /**
   * Packed: descriptors (slots) the driver has not posted (`PackedDriverQueue.freeDescriptors`);
   * a bug that needs more (`loop` writes a list through every slot, `wrap-flip` two) is refused
   * (`queue-full`) rather than written over buffers the device has yet to take. Every slot when
   * not given (a quiet ring). Split rings ignore it.
   */
  readonly freeDescriptors?: number;
  /**
   * Split: where the bad chain goes (not needed by `index-jump`). `posted: false`: `head` is a
   * descriptor the driver has not posted (`SplitDriverQueue.unpostedHead`), and the bug is added
   * at avail entry `avail idx` and published, as a driver adds a chain. `posted: true` (a full
   * ring: no descriptor free): `head` is the driver's newest avail entry (at `avail idx − 1`),
   * which the driver took back (`SplitDriverQueue.retractLast`), and the bug is written over it
   * in place, each kind with one store (see `splitRewrite`), or refused (`queue-full`). Default:
   * `{ head: avail idx mod size, posted: false }`, right for a quiet ring whose descriptors are
   * all free. Packed rings ignore it.
   */
  readonly splitSlot?: { readonly head: number; readonly posted: boolean };
  /**
   * Packed, a ring without the free slots the bug needs (an idle receiveq has every buffer
   * posted): the driver's newest buffer (`PackedDriverQueue.newestBuffer`: its id, first slot and
   * descriptor count), which the driver took back (`takePackedSlot`), for the bug to be written
   * over in place with one store (see `packedRewrite`). Split rings ignore it.
   */
  readonly packedSlot?: PackedSlot;
}

/** A packed buffer the driver posted: its id, its first slot and its descriptor count. */
export interface PackedSlot {
  /** Its buffer id. */
  readonly id: number;
  /** Its first slot. */
  readonly slot: number;
  /** Its descriptors (consecutive slots, wrapping). */
  readonly count: number;
}

/**
 * Scratch memory for `indirect-nested` in a queue whose driver gave each ring area a page
 * allocation of its own (`initDevice` does): the first 16-aligned 16 bytes after the driver
 * area, in the area's last page; null if that page has no room left (never for a queue size
 * virtio allows: the split driver area is 6 + 2 × size bytes, the packed one 4). No ring uses
 * them, and they are in whatever the device can reach of the rings: behind the lab's vIOMMU a
 * NIC's ring window is mapped at IOVA = GPA (static, strict, lazy) or bypassed (passthrough), so
 * the device reads the table where the guest wrote it.
 *
 * @example
 * ```ts
 * import { driverAreaScratch } from "./guest_faults.ts";
 * driverAreaScratch({ layout: "split", size: 256, descAddr: 0x1000, driverAddr: 0x2000,
 *   deviceAddr: 0x3000, features: { eventIdx: true, indirect: true, inOrder: false } }); // 0x2210
 * ```
 */
export function driverAreaScratch(config: QueueConfig): number | null {
  const bytes = config.layout === "split"
    ? splitAreaSizes(config.size).driver
    : packedAreaSizes(config.size).driver;
  const end = config.driverAddr + bytes;
  const at = Math.ceil(end / 16) * 16;
  return at + 16 <= Math.ceil(end / PAGE_SIZE) * PAGE_SIZE ? at : null;
}

/** One word a fault wrote. */
export interface GuestFaultWrite {
  /** Guest-physical address. */
  readonly gpa: number;
  /** Width in bytes. */
  readonly bytes: 2 | 4;
  /** The value written. */
  readonly value: number;
}

/** What a fault wrote, for the event log and the drill report. */
export interface GuestFaultReport {
  /** The fault. */
  readonly kind: GuestFaultKind;
  /** The queue's layout. */
  readonly layout: Layout;
  /** One sentence: what the bad chain looks like. */
  readonly detail: string;
  /** Every word written, in write order (the publishing store last). */
  readonly writes: readonly GuestFaultWrite[];
}

/** Why a fault was not written. */
export type GuestFaultRefusal =
  /** The kind does not exist in this layout (an index jump in a packed ring, a wrap flip in a split one). */
  | { readonly kind: "not-applicable"; readonly fault: GuestFaultKind; readonly layout: Layout }
  /** `indirect-nested` needs `scratch` memory for its table. */
  | { readonly kind: "needs-scratch"; readonly fault: GuestFaultKind }
  /** The driver has no free descriptor for the bug, and rewriting a posted one is not safe. */
  | { readonly kind: "queue-full"; readonly fault: GuestFaultKind; readonly why: string }
  /**
   * `index-jump` on a ring so big that no avail index is more than `size` entries ahead of
   * every place the device may be at: it may not have taken the last `pending` entries (the
   * driver's avail index minus the used index), and the 16-bit index would wrap to look small.
   */
  | {
    readonly kind: "jump-invisible";
    readonly fault: GuestFaultKind;
    readonly size: number;
    readonly pending: number;
  };

/**
 * Render a refusal as one sentence-case line.
 *
 * @example
 * ```ts
 * import { formatGuestFaultRefusal } from "./guest_faults.ts";
 * formatGuestFaultRefusal({ kind: "not-applicable", fault: "wrap-flip", layout: "split" });
 * // "Cannot inject wrap-flip: a split ring has no such fault"
 * ```
 */
export function formatGuestFaultRefusal(e: GuestFaultRefusal): string {
  switch (e.kind) {
    case "not-applicable":
      return `Cannot inject ${e.fault}: a ${e.layout} ring has no such fault`;
    case "needs-scratch":
      return `Cannot inject ${e.fault}: it needs 16 bytes of scratch memory for its table`;
    case "queue-full":
      return `Cannot inject ${e.fault}: the queue has no free descriptor, and ${e.why}`;
    case "jump-invisible":
      return `Cannot inject ${e.fault}: the device may not have taken the last ${e.pending} of the ${e.size} entries, so no 16-bit avail index is more than ${e.size} ahead of every place it may be at`;
  }
}

/**
 * Whether guest bug `kind` is written into a descriptor (and, split, an avail entry): every kind
 * but `index-jump`, which only moves the avail index. The lab takes a descriptor back from a
 * full split ring (`SplitDriverQueue.retractLast`) only for those.
 *
 * @example
 * ```ts
 * import { guestFaultNeedsSlot } from "./guest_faults.ts";
 * guestFaultNeedsSlot("index-jump"); // false
 * guestFaultNeedsSlot("loop"); // true
 * ```
 */
export function guestFaultNeedsSlot(kind: GuestFaultKind): boolean {
  return kind !== "index-jump";
}

/**
 * Whether a ring of `layout` has guest bug `kind` at all: null when it has, else the refusal
 * `injectGuestFault` gives (a split ring has no wrap counter to flip; a packed ring has no
 * available index to jump and no NEXT field to point out of range). The lab checks it before it
 * asks a guest, so that a fault the ring cannot have is refused to the user, not logged later.
 *
 * @example
 * ```ts
 * import { guestFaultMissing } from "./guest_faults.ts";
 * guestFaultMissing("wrap-flip", "split"); // { kind: "not-applicable", fault: "wrap-flip", layout: "split" }
 * guestFaultMissing("loop", "packed"); // null
 * ```
 */
export function guestFaultMissing(kind: GuestFaultKind, layout: Layout): GuestFaultRefusal | null {
  const missing = layout === "split"
    ? kind === "wrap-flip"
    : kind === "index-jump" || kind === "next-out-of-range";
  return missing ? { kind: "not-applicable", fault: kind, layout } : null;
}

/**
 * Write guest bug `kind` into the queue `target` describes and publish it.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { injectGuestFault } from "./guest_faults.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * const mem = GuestMemory.create(65536);
 * const config = { layout: "split" as const, size: 8, descAddr: 0x1000, driverAddr: 0x2000,
 *   deviceAddr: 0x3000, features: { eventIdx: false, indirect: false, inOrder: false } };
 * const r = injectGuestFault({ config, ring: new SharedRingAccess(mem), memoryBytes: 65536 },
 *   "head-out-of-range");
 * if (r.ok) r.value.detail; // "avail entry 0 names head 8 of a queue of 8"
 * ```
 */
export function injectGuestFault(
  target: GuestFaultTarget,
  kind: GuestFaultKind,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const missing = guestFaultMissing(kind, target.config.layout);
  if (missing !== null) return err(missing);
  if (kind === "indirect-nested" && target.scratch === undefined) {
    return err({ kind: "needs-scratch", fault: kind });
  }
  return target.config.layout === "split" ? splitFault(target, kind) : packedFault(target, kind);
}

/** Records each write it makes. */
class Writer {
  readonly writes: GuestFaultWrite[] = [];
  constructor(private readonly ring: RingAccess) {}
  w16(gpa: number, value: number, publish = false): void {
    if (publish) this.ring.publish16(gpa, value);
    else this.ring.store16(gpa, value);
    this.writes.push({ gpa, bytes: 2, value });
  }
  w32(gpa: number, value: number): void {
    this.ring.store32(gpa, value);
    this.writes.push({ gpa, bytes: 4, value });
  }
  addr(gpa: number, addr: number): void {
    this.w32(gpa, addr >>> 0);
    this.w32(gpa + 4, Math.floor(addr / 2 ** 32));
  }
}

function splitFault(
  t: GuestFaultTarget,
  kind: GuestFaultKind,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const { config, ring } = t;
  const size = config.size;
  const w = new Writer(ring);
  const idxAt = config.driverAddr + SplitAvail.IDX;
  const availIdx = ring.observe16(idxAt);
  if (kind === "index-jump") {
    // The device is somewhere from the used index (it publishes only what it took) to the avail
    // index; it sees the jump when the new index is more than `size` past where it is, modulo
    // 2^16: `avail + size + 1` is, from every such place, unless that range of places is so wide
    // (a 32768-entry ring with 32767 entries or more not yet used) that the index wraps.
    // observe used idx: pairs with "publish used idx" in split_device.ts
    const usedIdx = ring.observe16(config.deviceAddr + SplitUsed.IDX);
    const pending = (availIdx - usedIdx) & 0xffff;
    if (size + 1 + pending > 0xffff) {
      return err({ kind: "jump-invisible", fault: kind, size, pending });
    }
    const to = (availIdx + size + 1) & 0xffff;
    // publish avail idx: pairs with "observe avail idx" in split_device.ts pop()
    w.w16(idxAt, to, true);
    const detail =
      `avail idx moved from ${availIdx} to ${to}, more than the ${size} entries of the ring`;
    return ok({ kind, layout: "split", detail, writes: w.writes });
  }
  const slot = t.splitSlot ?? { head: availIdx & (size - 1), posted: false };
  if (!Number.isInteger(slot.head) || slot.head < 0 || slot.head >= size) {
    throw new RangeError(
      `splitSlot.head must be a descriptor of the queue of ${size}, got ${slot.head}`,
    );
  }
  return slot.posted
    ? splitRewrite(t, kind, w, slot.head, (availIdx - 1) & 0xffff)
    : splitAdd(t, kind, w, slot.head, availIdx);
}

/** A free descriptor `d`: write the bad chain there, then add it at avail entry `availIdx`. */
function splitAdd(
  t: GuestFaultTarget,
  kind: Exclude<GuestFaultKind, "index-jump">,
  w: Writer,
  d: number,
  availIdx: number,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const { config } = t;
  const size = config.size;
  const desc = (i: number, addr: number, len: number, flags: number, next: number) => {
    const at = config.descAddr + SplitDesc.SIZE * i;
    w.addr(at + SplitDesc.ADDR, addr);
    w.w32(at + SplitDesc.LEN, len);
    w.w16(at + SplitDesc.FLAGS, flags);
    w.w16(at + SplitDesc.NEXT, next);
  };
  // Make `head` available at the driver's next avail entry and publish the index.
  const publish = (head: number) => {
    w.w16(config.driverAddr + SplitAvail.RING + SplitAvail.ENTRY * (availIdx & (size - 1)), head);
    // publish avail idx: pairs with "observe avail idx" in split_device.ts pop()
    w.w16(config.driverAddr + SplitAvail.IDX, (availIdx + 1) & 0xffff, true);
  };
  const inMemory = config.descAddr; // a readable 16 bytes that exist
  let detail: string;
  switch (kind) {
    case "head-out-of-range":
      publish(size);
      detail = `avail entry ${availIdx & (size - 1)} names head ${size} of a queue of ${size}`;
      break;
    case "next-out-of-range":
      desc(d, inMemory, 16, SplitDescFlag.NEXT, size);
      publish(d);
      detail = `descriptor ${d} chains to next ${size}, outside the table of ${size}`;
      break;
    case "loop":
      // One descriptor (the driver may have no second one free): it chains to itself.
      desc(d, inMemory, 16, SplitDescFlag.NEXT, d);
      publish(d);
      detail = `descriptor ${d} chains to itself`;
      break;
    case "indirect-length":
      desc(d, inMemory, 24, SplitDescFlag.INDIRECT, 0);
      publish(d);
      detail = `descriptor ${d} is an indirect table of 24 bytes, not a multiple of 16`;
      break;
    case "indirect-nested": {
      const table = t.scratch!;
      const at = table;
      w.addr(at + SplitDesc.ADDR, inMemory);
      w.w32(at + SplitDesc.LEN, 16);
      w.w16(at + SplitDesc.FLAGS, SplitDescFlag.INDIRECT);
      w.w16(at + SplitDesc.NEXT, 0);
      desc(d, table, 16, SplitDescFlag.INDIRECT, 0);
      publish(d);
      detail = `descriptor ${d} is an indirect table whose entry 0 is indirect again`;
      break;
    }
    case "indirect-outside-memory":
      desc(d, t.memoryBytes, 32, SplitDescFlag.INDIRECT, 0);
      publish(d);
      detail = `descriptor ${d} is an indirect table at ${t.memoryBytes}, past guest memory`;
      break;
    case "address-outside-memory":
      desc(d, t.memoryBytes, 64, 0, 0);
      publish(d);
      detail = `descriptor ${d} is a 64-byte buffer at ${t.memoryBytes}, past guest memory`;
      break;
    case "wrap-flip":
      return err(guestFaultMissing(kind, "split")!); // not reached: refused up front
  }
  return ok({ kind, layout: "split", detail, writes: w.writes });
}

/**
 * A full ring: `h`, the head of the newest avail entry (`entry`, at avail idx − 1), taken back
 * by the driver, is rewritten in place, the avail index unchanged. The device may pop that entry
 * at any moment (it must first have popped every entry before it), reading the slot with one
 * load and each descriptor field with one load: so each bug is armed by ONE aligned store (an
 * ECMAScript integer element access never tears) and every field the device reads once changes
 * at most there. The device reads either the old word, and takes the driver's old buffer whole
 * (the bug is not met: when that buffer comes back used, the driver, which took it back, meets
 * a buffer it never posted and resets), or the new one, and meets the bug. flags and next are
 * one aligned 32-bit word (offset 12): the device loads flags first, so with the new flags it
 * sees the new next; with old flags without NEXT it ignores next, and with old flags with NEXT
 * the new next is the same bug. A bug that needs two fields the device reads apart (an address
 * and the INDIRECT flag; a length and the flag, unless the old length already fails the check)
 * is refused (`queue-full`) rather than risk the device reading half of it.
 */
function splitRewrite(
  t: GuestFaultTarget,
  kind: Exclude<GuestFaultKind, "index-jump">,
  w: Writer,
  h: number,
  entry: number,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const { config, ring } = t;
  const size = config.size;
  const at = config.descAddr + SplitDesc.SIZE * h;
  const len = ring.load32(at + SplitDesc.LEN);
  const flags = ring.load16(at + SplitDesc.FLAGS);
  const refused = rewriteRefusal(t, kind, h);
  if (refused !== null) return err(refused);
  // flags and next in one store: little-endian, flags is the low half of the word at 12.
  const flagsNext = (f: number, next: number) =>
    w.w32(at + SplitDesc.FLAGS, (f | (next << 16)) >>> 0);
  const chained = (flags & ~SplitDescFlag.INDIRECT) | SplitDescFlag.NEXT;
  const e = entry & (size - 1);
  let detail: string;
  switch (kind) {
    case "head-out-of-range":
      // publish avail entry: the device loads it once, after observing the avail idx
      w.w16(config.driverAddr + SplitAvail.RING + SplitAvail.ENTRY * e, size, true);
      detail =
        `avail entry ${e} (the driver's last, taken back) names head ${size} of a queue of ${size}`;
      break;
    case "next-out-of-range":
      flagsNext(chained, size);
      detail =
        `descriptor ${h} (the driver's last buffer, taken back) chains to next ${size}, outside the table of ${size}`;
      break;
    case "loop":
      flagsNext(chained, h);
      detail = `descriptor ${h} (the driver's last buffer, taken back) chains to itself`;
      break;
    case "indirect-length":
      flagsNext(SplitDescFlag.INDIRECT, 0);
      detail =
        `descriptor ${h} (the driver's last buffer, taken back) is an indirect table of ${len} bytes, not a multiple of 16`;
      break;
    case "indirect-nested":
    case "indirect-outside-memory":
      return err(refused!); // not reached: refused above
    case "address-outside-memory":
      w.w32(at + SplitDesc.ADDR, t.memoryBytes);
      detail =
        `descriptor ${h} (the driver's last buffer, taken back) is a ${len}-byte buffer at ${t.memoryBytes}, past guest memory`;
      break;
    case "wrap-flip":
      return err(guestFaultMissing(kind, "split")!); // not reached: refused up front
  }
  return ok({ kind, layout: "split", detail, writes: w.writes });
}

/** Why bug `kind` cannot be written over posted descriptor `h` with one store, or null. */
function rewriteRefusal(
  t: GuestFaultTarget,
  kind: GuestFaultKind,
  h: number,
): GuestFaultRefusal | null {
  const at = t.config.descAddr + SplitDesc.SIZE * h;
  const why = (w: string): GuestFaultRefusal => ({ kind: "queue-full", fault: kind, why: w });
  switch (kind) {
    case "indirect-length": {
      // The device checks the length first: the old one must already fail, as it is not rewritten.
      const len = t.ring.load32(at + SplitDesc.LEN);
      return len % SplitDesc.SIZE === 0
        ? why(`its last buffer's length ${len} is a multiple of 16, so the bug takes two stores`)
        : null;
    }
    case "indirect-nested":
    case "indirect-outside-memory":
      return why("writing its last buffer as that table takes two stores (address and flags)");
    case "address-outside-memory":
      return t.ring.load32(at + SplitDesc.ADDR + 4) !== 0 || t.memoryBytes >= 2 ** 32
        ? why("its last buffer's address would take two stores")
        : null;
    default:
      return null;
  }
}

/**
 * Where a split guest bug goes in `queue`, the way a buggy driver would get a descriptor: the
 * driver's free head (`unpostedHead`) if it has one; else (a full ring, as an idle receiveq
 * is) its newest avail entry, which it takes back (`retractLast`) only once the rewrite is known
 * to be possible, so that a refusal leaves the driver's books as they were. A refusal when the
 * ring is full and the bug cannot be written over its newest entry with one store, or that entry
 * is already back used. `index-jump` needs no slot (undefined). Call it right before
 * `injectGuestFault`, on the driver's thread, with nothing staged; after a slot is taken the
 * driver must add nothing more to the queue until it is reset.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { injectGuestFault, takeSplitSlot } from "./guest_faults.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { SplitDriverQueue } from "./split_driver.ts";
 * const mem = GuestMemory.create(65536);
 * const ring = new SharedRingAccess(mem);
 * const config = { layout: "split" as const, size: 8, descAddr: 0x1000, driverAddr: 0x2000,
 *   deviceAddr: 0x3000, features: { eventIdx: false, indirect: false, inOrder: false } };
 * const q = SplitDriverQueue.create(mem, ring, config);
 * const target = { config, ring, memoryBytes: 65536 };
 * const slot = q.ok ? takeSplitSlot(q.value, target, "loop") : undefined;
 * if (slot?.ok) injectGuestFault({ ...target, splitSlot: slot.value }, "loop");
 * ```
 */
export function takeSplitSlot(
  queue: SplitDriverQueue,
  target: GuestFaultTarget,
  kind: GuestFaultKind,
): Result<{ head: number; posted: boolean } | undefined, GuestFaultRefusal> {
  if (!guestFaultNeedsSlot(kind)) return ok(undefined);
  const free = queue.unpostedHead;
  if (free >= 0) return ok({ head: free, posted: false });
  const newest = queue.newestHead;
  if (newest < 0) {
    return err({ kind: "queue-full", fault: kind, why: "nothing it posted is still waiting" });
  }
  const refused = rewriteRefusal(target, kind, newest);
  if (refused !== null) return err(refused);
  const head = queue.retractLast();
  if (head !== newest) {
    return err({ kind: "queue-full", fault: kind, why: "nothing it posted is still waiting" });
  }
  return ok({ head, posted: true });
}

/**
 * The driver's next available slot and wrap counter of a packed ring, read back from memory:
 * every slot the driver filled in its current lap carries AVAIL = its wrap counter, every other
 * slot the inverse (virtio 1.2 §2.8.1). O(size) loads; meant for a quiet ring.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { packedNextAvail } from "./guest_faults.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * const mem = GuestMemory.create(65536);
 * packedNextAvail(new SharedRingAccess(mem), 0x1000, 8); // { slot: 0, wrap: 1 }: a fresh ring
 * ```
 */
export function packedNextAvail(
  ring: RingAccess,
  descAddr: number,
  size: number,
): { slot: number; wrap: number } {
  const availBit = (i: number) =>
    (ring.observe16(descAddr + PackedDesc.SIZE * i + PackedDesc.FLAGS) >>> 7) & 1;
  const first = availBit(0);
  for (let i = 1; i < size; i++) {
    if (availBit(i) !== first) return { slot: i, wrap: first };
  }
  return { slot: 0, wrap: first ^ 1 };
}

function packedFault(
  t: GuestFaultTarget,
  kind: GuestFaultKind,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const { config, ring } = t;
  const size = config.size;
  const w = new Writer(ring);
  const { slot, wrap } = packedNextAvail(ring, config.descAddr, size);
  const bits = (wr: number) => wr ? PackedDescFlag.AVAIL : PackedDescFlag.USED;
  const id = t.freeId ?? 0;
  if (!Number.isInteger(id) || id < 0 || id >= size) {
    throw new RangeError(`freeId must be a buffer id of the queue of ${size}, got ${id}`);
  }
  if (t.packedSlot !== undefined) return packedRewrite(t, kind, w, t.packedSlot);
  const needed = packedSlotsNeeded(kind, size);
  const free = t.freeDescriptors ?? size;
  if (free < needed) {
    return err({
      kind: "queue-full",
      fault: kind,
      why: `it needs ${needed === 1 ? "one slot" : `${needed} slots`}, ${free} free`,
    });
  }
  let headFlags = 0;
  // Every descriptor but the head's flags; `publishHead` stores those last.
  const body = (s: number, addr: number, len: number, descId: number) => {
    const at = config.descAddr + PackedDesc.SIZE * s;
    w.addr(at + PackedDesc.ADDR, addr);
    w.w32(at + PackedDesc.LEN, len);
    w.w16(at + PackedDesc.ID, descId);
  };
  const flagsAt = (s: number) => config.descAddr + PackedDesc.SIZE * s + PackedDesc.FLAGS;
  const inMemory = config.descAddr;
  let detail: string;
  switch (kind) {
    case "head-out-of-range":
      body(slot, inMemory, 16, size);
      headFlags = bits(wrap);
      detail = `slot ${slot} carries buffer id ${size} of a queue of ${size}`;
      break;
    case "loop": {
      // A list through every slot of the ring, still going (B2).
      let s = slot;
      let wr = wrap;
      for (let i = 0; i < size; i++) {
        body(s, inMemory, 16, id);
        if (i > 0) w.w16(flagsAt(s), PackedDescFlag.NEXT | bits(wr));
        if (++s === size) {
          s = 0;
          wr ^= 1;
        }
      }
      headFlags = PackedDescFlag.NEXT | bits(wrap);
      detail = `slots ${slot} onwards form a list of ${size} descriptors that never ends`;
      break;
    }
    case "wrap-flip": {
      const next = slot + 1 === size ? 0 : slot + 1;
      const rightWrap = slot + 1 === size ? wrap ^ 1 : wrap;
      body(slot, inMemory, 16, id);
      body(next, inMemory, 16, id);
      w.w16(flagsAt(next), bits(rightWrap ^ 1));
      headFlags = PackedDescFlag.NEXT | bits(wrap);
      detail = `slot ${next} continues the list at slot ${slot} with a flipped wrap counter`;
      break;
    }
    case "indirect-length":
      body(slot, inMemory, 24, id);
      headFlags = PackedDescFlag.INDIRECT | bits(wrap);
      detail = `slot ${slot} is an indirect table of 24 bytes, not a multiple of 16`;
      break;
    case "indirect-nested": {
      const table = t.scratch!;
      w.addr(table + PackedDesc.ADDR, inMemory);
      w.w32(table + PackedDesc.LEN, 16);
      w.w16(table + PackedDesc.ID, 0);
      w.w16(table + PackedDesc.FLAGS, PackedDescFlag.INDIRECT);
      body(slot, table, 16, id);
      headFlags = PackedDescFlag.INDIRECT | bits(wrap);
      detail = `slot ${slot} is an indirect table whose entry 0 is indirect again`;
      break;
    }
    case "indirect-outside-memory":
      body(slot, t.memoryBytes, 32, id);
      headFlags = PackedDescFlag.INDIRECT | bits(wrap);
      detail = `slot ${slot} is an indirect table at ${t.memoryBytes}, past guest memory`;
      break;
    case "address-outside-memory":
      body(slot, t.memoryBytes, 64, id);
      headFlags = bits(wrap);
      detail = `slot ${slot} is a 64-byte buffer at ${t.memoryBytes}, past guest memory`;
      break;
    case "index-jump":
    case "next-out-of-range":
      return err(guestFaultMissing(kind, "packed")!); // not reached: refused up front
  }
  // publish head flags: pairs with "observe head flags" in packed_device.ts pop()
  w.w16(flagsAt(slot), headFlags, true);
  return ok({ kind, layout: "packed", detail, writes: w.writes });
}

/** Slots a packed bug writes when it does not rewrite a posted buffer. */
function packedSlotsNeeded(kind: GuestFaultKind, size: number): number {
  return kind === "loop" ? size : kind === "wrap-flip" ? 2 : 1;
}

/**
 * A packed ring without the free slots the bug needs: buffer `b`, the driver's newest, taken back
 * by the driver, is rewritten in place. As in `splitRewrite`, the device may take that buffer at
 * any moment (after every buffer posted before it), and it reads each field of each descriptor
 * once, the head's flags first: so the bug is armed by ONE aligned store to one field, and the
 * device reads either the old value, taking the old buffer whole (the bug is not met: the driver
 * meets that id as one it never posted, and resets), or the new one, and meets the bug.
 *
 * Unlike a split ring, a packed ring is also where the device returns buffers: once it has used
 * every buffer before `b`, it writes a used descriptor (id, length, then flags) into `b`'s first
 * slot. A store racing that write must never hide a used buffer from the driver, which would
 * wait for that slot forever: so the flags word, which tells the driver a slot is used, is never
 * rewritten (`indirect-length` and `wrap-flip` are refused); the id and the address may be.
 * An address store that lands on a used descriptor changes a field the driver does not read; an
 * id store makes the used id out of range, or the device's own id store comes after it: either
 * way the driver breaks the queue and resets.
 */
function packedRewrite(
  t: GuestFaultTarget,
  kind: GuestFaultKind,
  w: Writer,
  b: PackedSlot,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const { config, ring } = t;
  const size = config.size;
  if (
    !Number.isInteger(b.slot) || b.slot < 0 || b.slot >= size || !Number.isInteger(b.count) ||
    b.count < 1 || b.count > size
  ) {
    throw new RangeError(`packedSlot must be a buffer of the queue of ${size}, got ${b.slot}`);
  }
  const refused = packedRewriteRefusal(t, kind, b);
  if (refused !== null) return err(refused);
  const head = config.descAddr + PackedDesc.SIZE * b.slot;
  const last = (b.slot + b.count - 1) % size;
  const whose = `the driver's newest buffer, id ${b.id}, taken back`;
  let detail: string;
  if (kind === "head-out-of-range") {
    // The buffer's id is its last descriptor's; the device loads it once, after observing the
    // head's flags (pairs with "observe head flags" in packed_device.ts pop()).
    w.w16(config.descAddr + PackedDesc.SIZE * last + PackedDesc.ID, size, true);
    detail = `slot ${last} (${whose}) carries buffer id ${size} of a queue of ${size}`;
  } else {
    // address-outside-memory (every other kind is refused above): the head's address, low word.
    const len = ring.load32(head + PackedDesc.LEN);
    w.w32(head + PackedDesc.ADDR, t.memoryBytes);
    detail =
      `slot ${b.slot} (${whose}) is a ${len}-byte buffer at ${t.memoryBytes}, past guest memory`;
  }
  return ok({ kind, layout: "packed", detail, writes: w.writes });
}

/**
 * Why bug `kind` cannot be written over posted packed buffer `b` (or, with `b` null, over any)
 * with one store outside its flags word (see `packedRewrite`), or null.
 */
function packedRewriteRefusal(
  t: GuestFaultTarget,
  kind: GuestFaultKind,
  b: PackedSlot | null,
): GuestFaultRefusal | null {
  const why = (w: string): GuestFaultRefusal => ({ kind: "queue-full", fault: kind, why: w });
  switch (kind) {
    case "head-out-of-range":
      return null;
    case "address-outside-memory": {
      if (b === null) return null;
      const head = t.config.descAddr + PackedDesc.SIZE * b.slot;
      if (t.ring.load16(head + PackedDesc.FLAGS) & PackedDescFlag.INDIRECT) {
        return why("its newest buffer is an indirect table, whose address is no buffer's");
      }
      return t.ring.load32(head + PackedDesc.ADDR + 4) !== 0 || t.memoryBytes >= 2 ** 32
        ? why("its newest buffer's address would take two stores")
        : null;
    }
    case "loop":
      return why(
        `a list through every slot needs all ${t.config.size} of them, ${
          t.freeDescriptors ?? "not all"
        } free`,
      );
    case "indirect-length":
    case "wrap-flip":
      return why(
        "the bug goes in the flags of its newest buffer, a word the device also writes when it returns that buffer (the driver could miss the used buffer)",
      );
    default:
      return why("writing its newest buffer as that table takes two stores (address and flags)");
  }
}

/**
 * Where a packed guest bug goes in `queue`, the way a buggy driver would get a slot: the slots
 * the driver has not posted (undefined: `injectGuestFault` writes there, with `freeId`) if there
 * are enough for `kind`; else (a full ring, as an idle receiveq is) its newest buffer, which it
 * takes back (`retractLast`) only once the rewrite is known to be possible, so that a refusal
 * leaves the driver's books as they were. A refusal when the bug cannot be written over that
 * buffer with one store (see `packedRewrite`), or the device has already returned it. Call it
 * right before `injectGuestFault`, on the driver's thread, with nothing staged; after a buffer
 * is taken back the driver must add nothing more to the queue until it is reset.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { injectGuestFault, takePackedSlot } from "./guest_faults.ts";
 * import { PackedDriverQueue } from "./packed_driver.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * const mem = GuestMemory.create(65536);
 * const ring = new SharedRingAccess(mem);
 * const config = { layout: "packed" as const, size: 8, descAddr: 0x1000, driverAddr: 0x2000,
 *   deviceAddr: 0x2010, features: { eventIdx: false, indirect: false, inOrder: false } };
 * const q = PackedDriverQueue.create(mem, ring, config);
 * const target = { config, ring, memoryBytes: 65536 };
 * const slot = q.ok ? takePackedSlot(q.value, target, "head-out-of-range") : undefined;
 * if (slot?.ok) injectGuestFault({ ...target, packedSlot: slot.value }, "head-out-of-range");
 * ```
 */
export function takePackedSlot(
  queue: PackedDriverQueue,
  target: GuestFaultTarget,
  kind: GuestFaultKind,
): Result<PackedSlot | undefined, GuestFaultRefusal> {
  if (guestFaultMissing(kind, "packed") !== null) return ok(undefined); // refused when injected
  if (queue.freeDescriptors >= packedSlotsNeeded(kind, queue.size)) return ok(undefined);
  const never = packedRewriteRefusal(target, kind, null);
  if (never !== null) return err(never);
  const newest = queue.newestBuffer;
  if (newest === null) {
    return err({ kind: "queue-full", fault: kind, why: "nothing it posted is still waiting" });
  }
  const refused = packedRewriteRefusal(target, kind, newest);
  if (refused !== null) return err(refused);
  if (queue.retractLast() !== newest.id) {
    return err({ kind: "queue-full", fault: kind, why: "nothing it posted is still waiting" });
  }
  return ok(newest);
}
