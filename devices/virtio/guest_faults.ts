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

import { err, type Result } from "../base/result.ts";
import {
  type GuestFaultKind,
  guestFaultMissing,
  type GuestFaultRefusal,
  type GuestFaultReport,
  type GuestFaultTarget,
} from "./guest_fault_types.ts";
import { packedFault } from "./guest_faults_packed.ts";
import { splitFault } from "./guest_faults_split.ts";

export {
  breaksQueue,
  driverAreaScratch,
  formatGuestFaultRefusal,
  GUEST_FAULT_KINDS,
  guestBugMissed,
  guestFaultMissing,
  guestFaultNeedsSlot,
} from "./guest_fault_types.ts";
export type {
  GuestFaultKind,
  GuestFaultRefusal,
  GuestFaultReport,
  GuestFaultTarget,
  GuestFaultWrite,
  PackedSlot,
  PlantedGuestBug,
} from "./guest_fault_types.ts";
export { packedNextAvail, takePackedSlot } from "./guest_faults_packed.ts";
export { takeSplitSlot } from "./guest_faults_split.ts";

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
