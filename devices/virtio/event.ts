/**
 * Notification decisions shared by both layouts (virtio 1.2 §2.7.7, §2.7.10, §2.8.10).
 *
 * Each function is pure: the queue halves call them with values they snapshotted from the ring,
 * and tests check every outcome, exhaustively around the 16-bit wrap.
 *
 * @module
 */

import { PackedEventFlag } from "./constants.ts";

/**
 * `vring_need_event`: whether moving an index from `old` to `newIdx` crossed `event`, i.e.
 * `event` lies in the circular window `[old, newIdx)` (all values 16-bit).
 *
 * @example
 * ```ts
 * import { needEvent } from "./event.ts";
 * needEvent(5, 7, 3); // true
 * needEvent(65535, 2, 65534); // true, across the wrap
 * needEvent(10, 7, 3); // false
 * ```
 */
export function needEvent(event: number, newIdx: number, old: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - old) & 0xffff);
}

/**
 * The packed-ring notification decision for one direction (§2.8.10, Linux
 * `virtqueue_kick_prepare_packed` and `virtqueue_poll`-side logic; QEMU
 * `virtio_packed_should_notify`).
 *
 * @param flags the other side's `desc_event_flags` (ENABLE, DISABLE or DESC)
 * @param offWrap the other side's `desc_event_off | desc_event_wrap << 15`
 * @param old ring position (slot) before the batch, `newIdx` after it, both as free-running
 *   16-bit positions in the notifier's own count of slots
 * @param wrap the notifier's current wrap counter (after the batch)
 * @param size queue size
 * @param eventIdx whether `VIRTIO_F_EVENT_IDX` was negotiated (DESC is ignored otherwise)
 *
 * @example
 * ```ts
 * import { packedNeedNotify } from "./event.ts";
 * packedNeedNotify(0, 0, 0, 1, 1, 256, true); // true: ENABLE
 * packedNeedNotify(1, 0, 0, 1, 1, 256, true); // false: DISABLE
 * ```
 */
export function packedNeedNotify(
  flags: number,
  offWrap: number,
  old: number,
  newIdx: number,
  wrap: number,
  size: number,
  eventIdx: boolean,
): boolean {
  if (flags === PackedEventFlag.DISABLE) return false;
  if (flags !== PackedEventFlag.DESC || !eventIdx) return true;
  let event = offWrap & 0x7fff;
  if (offWrap >>> 15 !== wrap) event -= size;
  return needEvent(event & 0xffff, newIdx & 0xffff, old & 0xffff);
}
