/**
 * Guest bugs in a packed ring (`guest_faults.ts` says what each does and how the device
 * answers): a bad chain in free slots, or written over the driver's newest buffer in place when
 * the ring has not the slots it needs.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import { PackedDescFlag } from "./constants.ts";
import {
  FaultWriter,
  type GuestFaultKind,
  guestFaultMissing,
  type GuestFaultRefusal,
  type GuestFaultReport,
  type GuestFaultTarget,
  type PackedSlot,
} from "./guest_fault_types.ts";
import { PackedDesc } from "./packed_layout.ts";
import type { PackedDriverQueue } from "./packed_driver.ts";
import type { RingAccess } from "./ring_access.ts";

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

/** Write guest bug `kind` into packed queue `t` (see `injectGuestFault`). */
export function packedFault(
  t: GuestFaultTarget,
  kind: GuestFaultKind,
): Result<GuestFaultReport, GuestFaultRefusal> {
  const { config, ring } = t;
  const size = config.size;
  const w = new FaultWriter(ring);
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
  w: FaultWriter,
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
