/**
 * Guest bugs in a split ring (`guest_faults.ts` says what each does and how the device answers):
 * a bad chain added at a free descriptor, or written over the driver's newest avail entry in
 * place when the ring is full, and the avail index jump.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import { SplitDescFlag } from "./constants.ts";
import {
  FaultWriter,
  type GuestFaultKind,
  guestFaultMissing,
  guestFaultNeedsSlot,
  type GuestFaultRefusal,
  type GuestFaultReport,
  type GuestFaultTarget,
} from "./guest_fault_types.ts";
import type { SplitDriverQueue } from "./split_driver.ts";
import { SplitAvail, SplitDesc, SplitUsed } from "./split_layout.ts";

/** Write guest bug `kind` into split queue `t` (see `injectGuestFault`). */
export function splitFault(
  t: GuestFaultTarget,
  kind: GuestFaultKind,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const { config, ring } = t;
  const size = config.size;
  const w = new FaultWriter(ring);
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
  w: FaultWriter,
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
  w: FaultWriter,
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
