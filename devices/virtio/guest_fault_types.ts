/**
 * The vocabulary of guest bugs (`guest_faults.ts`): the kinds, what a caller says about the
 * queue to corrupt, what a fault wrote or why it was refused, and the writer that records each
 * word. Shared by the split and packed injectors (`guest_faults_split.ts`,
 * `guest_faults_packed.ts`).
 *
 * @module
 */

import type { DriverError } from "./errors.ts";
import { PAGE_SIZE } from "../memory/memory.ts";
import { packedAreaSizes } from "./packed_layout.ts";
import type { Layout, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { splitAreaSizes } from "./split_layout.ts";

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
 * import { breaksQueue } from "./guest_fault_types.ts";
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
 * import { guestBugMissed } from "./guest_fault_types.ts";
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
 * import { driverAreaScratch } from "./guest_fault_types.ts";
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
 * import { formatGuestFaultRefusal } from "./guest_fault_types.ts";
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
 * import { guestFaultNeedsSlot } from "./guest_fault_types.ts";
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
 * import { guestFaultMissing } from "./guest_fault_types.ts";
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

/** Records each write it makes (the report's `writes`). */
export class FaultWriter {
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
