/**
 * Guest bugs on demand (`vlab fault guest-bug`), the part every kind's guest slice shares: a
 * driver corrupts one of its own queues the way a buggy driver would (`guest_faults.ts`), adds
 * nothing more to it until the device's reset (its `freeze`), and says what it wrote
 * (`guest-bug`, `guest-bug-refused`), or, once the reset came, that the device never met the bug
 * (`guest-bug-missed`). The kind supplies the queue, its driver's freeze and its kick; the net
 * slice (`net.ts`) and the vsock slice (`vsock.ts`) call it. Runs on the guest worker's thread.
 *
 * @module
 */

import { ok } from "../../../devices/base/result.ts";
import type { DriverError } from "../../../devices/virtio/errors.ts";
import {
  driverAreaScratch,
  formatGuestFaultRefusal,
  guestBugMissed,
  type GuestFaultKind,
  injectGuestFault,
  type PlantedGuestBug,
  takePackedSlot,
  takeSplitSlot,
} from "../../../devices/virtio/guest_faults.ts";
import { PackedDriverQueue } from "../../../devices/virtio/packed_driver.ts";
import type { DriverQueue, QueueConfig } from "../../../devices/virtio/queue.ts";
import { SplitDriverQueue } from "../../../devices/virtio/split_driver.ts";
import type { GuestContext } from "./types.ts";

/** One queue of a device, as a guest bug in it needs it. */
export interface GuestBugSite {
  /** The device as its events name it: `{ nic: "eth0" }`, `{ device: "vsock0" }`. */
  readonly subject: Readonly<Record<string, string>>;
  /** The queue's name (`transmitq`, `rx`, …). */
  readonly queueName: string;
  /** The queue's index. */
  readonly queue: number;
  /** Its driver half. */
  readonly driverQueue: DriverQueue;
  /** Its configuration, as the driver programmed it. */
  readonly config: QueueConfig;
  /**
   * Why the queue takes no bug now, or null: the device is being reset (the queue does not exist
   * until the reset is over), or the queue holds a bug already and waits for its reset (a second
   * bug would be written over the first).
   */
  readonly busy: string | null;
  /** The bugs written into the device's queues, by queue index, until its reset. */
  readonly planted: Map<number, PlantedGuestBug>;
  /** Add nothing more to the queue until the device's reset (the driver's `freeze`). */
  freeze(): void;
  /** Kick the queue and ring the device worker (a kick a lost-kick fault swallows rings none). */
  kick(): void;
}

/**
 * Write guest bug `bug` into `site`'s queue, as `GuestKindInstance.guestBug` answers: null when
 * written, the refusal (logged as `guest-bug-refused`) otherwise, or `{ busy }` when the queue has
 * no room now (not logged: the lab asks again, and logs the last). A written bug is logged
 * (`guest-bug`), the queue frozen and kicked.
 *
 * The bad chain takes what a driver's add would (`guest_faults.ts`): packed, an id and slots the
 * driver has not posted; split, a free descriptor and the avail entry at the avail index. When
 * there are none (an idle receive queue has every buffer posted), the driver's newest buffer
 * (split: its avail entry), which it takes back from its books and the bug rewrites in place.
 * Either way the driver adds nothing more to that queue before its reset: its next add would take
 * the bug's slot, overwriting the bug before a busy device met it, or, packed, post into the slot
 * where the device then returns the bug's buffer. A bug that costs only its request
 * (`address-outside-memory`) ends in the reset when the driver meets that request's used buffer,
 * one it never posted.
 *
 * @example
 * ```ts ignore
 * const refused = plantGuestBug(ctx, {
 *   subject: { device: "vsock0" }, queueName: "tx", queue: 1, driverQueue, config,
 *   busy: null, planted, freeze: () => driver.freeze("tx"), kick,
 * }, "loop");
 * ```
 */
export function plantGuestBug(
  ctx: Pick<GuestContext, "ring" | "mem" | "post">,
  site: GuestBugSite,
  bug: GuestFaultKind,
): string | { busy: string } | null {
  const { subject, queueName } = site;
  const refused = (message: string): string => {
    ctx.post({
      type: "event",
      kind: "guest-bug-refused",
      detail: { ...subject, queue: queueName, bug, message },
    });
    return message;
  };
  if (site.busy !== null) return refused(`Cannot inject ${bug}: ${site.busy}`);
  const queue = site.driverQueue;
  const unposted = queue instanceof PackedDriverQueue ? queue.unpostedId : -1;
  // indirect-nested's table goes after the queue's driver area, in that area's page: the
  // driver's own memory, in the ring window a vIOMMU maps at IOVA = GPA (guest_faults.ts).
  const target = {
    config: site.config,
    ring: ctx.ring,
    memoryBytes: ctx.mem.size,
    freeId: unposted >= 0 ? unposted : undefined,
    freeDescriptors: queue instanceof PackedDriverQueue ? queue.freeDescriptors : undefined,
    scratch: driverAreaScratch(site.config) ?? undefined,
  };
  // Nothing is staged here: every pump pass ends with the driver's `flush`.
  const slot = queue instanceof SplitDriverQueue
    ? takeSplitSlot(queue, target, bug)
    : ok(undefined);
  const packedSlot = queue instanceof PackedDriverQueue
    ? takePackedSlot(queue, target, bug)
    : ok(undefined);
  const r = !slot.ok
    ? slot
    : !packedSlot.ok
    ? packedSlot
    : injectGuestFault({ ...target, splitSlot: slot.value, packedSlot: packedSlot.value }, bug);
  // No room now (every descriptor is the device's, under a flood): the lab asks again, and
  // logs the refusal only if there is still none after its wait.
  if (!r.ok && r.error.kind === "queue-full") return { busy: formatGuestFaultRefusal(r.error) };
  if (!r.ok) return refused(formatGuestFaultRefusal(r.error));
  ctx.post({
    type: "event",
    kind: "guest-bug",
    detail: { ...subject, queue: queueName, bug, detail: r.value.detail },
  });
  site.freeze();
  site.planted.set(site.queue, {
    kind: bug,
    takenBack: slot.ok && slot.value?.posted
      ? slot.value.head
      : packedSlot.ok && packedSlot.value !== undefined
      ? packedSlot.value.id
      : null,
  });
  site.kick();
  return null;
}

/**
 * The planted bug of queue `queue` that the device never met, given the error that broke the
 * driver's queue (`DriverQueue.broken`): the device took the buffer the bug was written over
 * before the bug landed, and the driver met that buffer, taken back for the bug (`guestBugMissed`);
 * or null.
 *
 * @example
 * ```ts ignore
 * missedInBrokenQueue(planted, 0, queues[0].broken); // { kind: "loop", takenBack: 7 } or null
 * ```
 */
export function missedInBrokenQueue(
  planted: ReadonlyMap<number, PlantedGuestBug>,
  queue: number,
  error: DriverError | null | undefined,
): PlantedGuestBug | null {
  const bug = planted.get(queue);
  return bug !== undefined && error && guestBugMissed(bug, error) ? bug : null;
}

/** Why {@linkcode missedInBrokenQueue}'s bug was not met, for `guest-bug-missed`'s message. */
export const MISSED_TAKEN_BEFORE =
  "the device took buffer {buffer} whole before the bug was written over it; the driver met that buffer, taken back for the bug, and resets";

/**
 * Log `guest-bug-missed`: a reset came from guest bug `bug` the device never met, said so that a
 * drill can tell a bug the device met (`device-error`) from one it never saw.
 *
 * @example
 * ```ts ignore
 * postMissedBug(ctx.post, { device: "vsock0" }, "rx", bug, "the device …");
 * ```
 */
export function postMissedBug(
  post: GuestContext["post"],
  subject: Readonly<Record<string, string>>,
  queueName: string,
  bug: PlantedGuestBug,
  why: string,
): void {
  post({
    type: "event",
    kind: "guest-bug-missed",
    detail: {
      ...subject,
      queue: queueName,
      bug: bug.kind,
      buffer: bug.takenBack,
      message: `${bug.kind} was not met: ${why.replace("{buffer}", String(bug.takenBack))}`,
    },
  });
}
