/**
 * The names of the statistics a link's producer publishes beside its impairment stage, and what
 * a crashed worker's stages still held. Pure functions of names and numbers, so that the worker
 * set (which adds a crashed worker's stranded frames to its last statistics) and the link counts
 * read them the same way without importing each other.
 *
 * @module
 */

/**
 * The statistics a ring's producer publishes beside its impairment stage's, which `link_counts.ts`
 * reads as drops of the direction: `NAME_partition_dropped` and `NAME_link_down_dropped` (a
 * switch port, a NIC, a vsock device), for the prefix `impairPrefix` in `link_counts.ts` gives.
 *
 * @example
 * ```ts
 * import { besideImpairStats } from "./impair_stats.ts";
 * besideImpairStats("eth0_impair_"); // { partitioned: "eth0_partition_dropped", linkDown: "eth0_link_down_dropped" }
 * ```
 */
export function besideImpairStats(prefix: string): { partitioned: string; linkDown: string } {
  const base = prefix.replace(/_impair_$/, "");
  return { partitioned: `${base}_partition_dropped`, linkDown: `${base}_link_down_dropped` };
}

/**
 * The frames a device worker's impairment stages still held when it last published its
 * statistics, as drops to add to its `NAME_link_down_dropped` (by that stat's name): a worker that
 * crashed takes them with it, as Linux drops what a device's qdisc holds when it resets the
 * device. Held = offered + duplicated - lost - dropped_limit - delivered - purged.
 *
 * @example
 * ```ts
 * import { strandedImpairDrops } from "./impair_stats.ts";
 * strandedImpairDrops({ eth0_impair_offered: 10, eth0_impair_delivered: 7 }); // { eth0_link_down_dropped: 3 }
 * ```
 */
export function strandedImpairDrops(
  stats: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  const OFFERED = "offered";
  for (const name of Object.keys(stats)) {
    if (!name.endsWith(`_impair_${OFFERED}`)) continue;
    const prefix = name.slice(0, -OFFERED.length);
    const get = (k: string) => Object.hasOwn(stats, prefix + k) ? stats[prefix + k] : 0;
    const held = get("offered") + get("duplicated") - get("lost") - get("dropped_limit") -
      get("delivered") - get("purged");
    if (held > 0) out[besideImpairStats(prefix).linkDown] = held;
  }
  return out;
}
