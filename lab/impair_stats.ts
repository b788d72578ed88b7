/**
 * The names of the statistics a link's producer publishes beside its impairment stage, and what
 * a stage holds and what a crashed
 * worker's stages still held. Pure functions of names and numbers, so that the worker
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
 * The frames an impairment stage holds now, from the statistics its worker published under
 * `prefix` (`eth0_impair_`): offered + duplicated - lost - dropped_limit - delivered - purged,
 * never below 0 (a read between two of the worker's writes). netem's backlog (`tc -s qdisc`).
 *
 * @example
 * ```ts
 * import { impairQueued } from "./impair_stats.ts";
 * impairQueued({ eth0_impair_offered: 10, eth0_impair_delivered: 7 }, "eth0_impair_"); // 3
 * ```
 */
export function impairQueued(stats: Readonly<Record<string, number>>, prefix: string): number {
  const get = (k: string) => Object.hasOwn(stats, prefix + k) ? stats[prefix + k] : 0;
  const held = get("offered") + get("duplicated") - get("lost") - get("dropped_limit") -
    get("delivered") - get("purged");
  return Math.max(0, held);
}

/**
 * What to add to a crashed device worker's last statistics for the frames its impairment stages
 * still held then, by stat name: each stage's held frames as its `NAME_link_down_dropped` (a
 * worker that crashed takes them with it, as Linux drops what a device's qdisc holds when it
 * resets the device) and as purged from the stage, which then holds nothing (`impairQueued`).
 *
 * @example
 * ```ts
 * import { strandedImpairCounts } from "./impair_stats.ts";
 * strandedImpairCounts({ eth0_impair_offered: 10, eth0_impair_delivered: 7 });
 * // { eth0_link_down_dropped: 3, eth0_impair_purged: 3 }
 * ```
 */
export function strandedImpairCounts(
  stats: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  const OFFERED = "offered";
  for (const name of Object.keys(stats)) {
    if (!name.endsWith(`_impair_${OFFERED}`)) continue;
    const prefix = name.slice(0, -OFFERED.length);
    const held = impairQueued(stats, prefix);
    if (held === 0) continue;
    out[besideImpairStats(prefix).linkDown] = held;
    out[`${prefix}purged`] = held;
  }
  return out;
}
