/**
 * Partitions where frames are produced: every producer of a link ring (a device worker's TX
 * path, a switch port) and every vhost-pci peer (whose guest worker moves the frames of a
 * vhost-pci link itself) asks its worker's {@linkcode PartitionFilter} whether a frame crosses a
 * cut before it sends it. The main thread computes the cut pairs of MAC addresses from the
 * partitions in force (`lab/partition.ts`) and sends the whole set to every such worker.
 *
 * A frame is cut when its source and destination MACs are a cut pair, or when its source and
 * the NIC that consumes the ring are (so a broadcast, such as an ARP request, is cut on the last
 * hop before a VM of the other side, even across switches).
 *
 * Runs on the producer's thread; one lookup per frame while a partition is in force, none
 * otherwise; no allocation per frame.
 *
 * @module
 */

/** A MAC address ("02:00:00:00:00:01") as a number below 2^48, or -1 when it is not one. */
export function macNumber(mac: string | null | undefined): number {
  if (!mac || !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(mac)) return -1;
  return parseInt(mac.replaceAll(":", ""), 16);
}

function macAt(frame: Uint8Array, at: number): number {
  return frame[at] * 0x100_0000_0000 + frame[at + 1] * 0x1_0000_0000 +
    ((frame[at + 2] << 24) >>> 0) + (frame[at + 3] << 16) + (frame[at + 4] << 8) + frame[at + 5];
}

/**
 * A MAC's six bytes (as specs carry them) as the number {@linkcode PartitionFilter} compares.
 *
 * @example
 * ```ts
 * import { macNumber, macNumberOf } from "./partition.ts";
 * macNumberOf([2, 0, 0, 0, 0, 1]) === macNumber("02:00:00:00:00:01"); // true
 * ```
 */
export function macNumberOf(bytes: readonly number[]): number {
  return macAt(Uint8Array.from(bytes), 0);
}

/**
 * The cut (source MAC → destination MAC) pairs of a worker.
 *
 * @example
 * ```ts
 * import { macNumber, PartitionFilter } from "./partition.ts";
 * const f = new PartitionFilter();
 * f.set([["02:00:00:00:00:01", "02:00:00:00:00:02"]]);
 * const frame = new Uint8Array(60);
 * frame.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]); // dst, src
 * f.cuts(frame, -1); // true
 * f.cuts(frame.fill(0xff, 0, 6), macNumber("02:00:00:00:00:02")); // true: broadcast, last hop
 * ```
 */
export class PartitionFilter {
  #cut = new Map<number, Set<number>>();
  /** True while some pair is cut. */
  active = false;

  /** Replace the cut pairs (source MAC, destination MAC). */
  set(pairs: readonly (readonly [string, string])[]): void {
    this.#cut.clear();
    for (const [src, dst] of pairs) {
      const s = macNumber(src), d = macNumber(dst);
      if (s < 0 || d < 0) continue;
      let set = this.#cut.get(s);
      if (!set) this.#cut.set(s, set = new Set());
      set.add(d);
    }
    this.active = this.#cut.size > 0;
  }

  /**
   * Whether `frame` (an Ethernet frame) must not be sent into a ring consumed by the NIC with
   * MAC `consumerMac` (-1 when a switch consumes it).
   */
  cuts(frame: Uint8Array, consumerMac: number): boolean {
    if (!this.active || frame.length < 12) return false;
    const dsts = this.#cut.get(macAt(frame, 6));
    if (dsts === undefined) return false;
    return dsts.has(macAt(frame, 0)) || (consumerMac >= 0 && dsts.has(consumerMac));
  }
}
