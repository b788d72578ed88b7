/**
 * What happened on one direction of a link, gathered from everywhere it is counted: the link
 * ring (frames in and out, a switch port's full-ring drops, oversized slots), the impairment
 * stage of the producer (loss, the rate limit's queue, corruption) and its partition filter, the producing NIC (frames
 * sent while the link was down, malformed TX chains, back-pressure), the receiving NIC (frames
 * too big, runts, link down, waits for an RX buffer) and the receiving guest driver (length
 * errors). `vlab status`, the snapshot the dashboard draws and `/metrics` all read it from here,
 * so a drop cause shown in one is shown in all.
 *
 * A *drop* is a frame that was discarded; a *wait* is a frame that was held back (a full link
 * ring, no free RX buffer) and delivered later: back-pressure, nothing lost.
 *
 * @module
 */

import { NetCounter, NetDriverCounter } from "../devices/net/metrics.ts";
import type { Lab } from "./lab.ts";
import type { RingPort } from "./plan.ts";
import { deviceControl } from "./wire/control.ts";
import { type LinkDrops, type LinkWaits, totalDrops } from "./snapshot_types.ts";

import { besideImpairStats, impairQueued } from "./impair_stats.ts";

export { DROP_LABELS, totalDrops, WAIT_LABELS } from "./snapshot_types.ts";
export { besideImpairStats } from "./impair_stats.ts";

/** The counts of one link direction. */
export interface DirectionCounts {
  /** Frames delivered by the link ring (cumulative). */
  frames: number;
  /** Bytes delivered by the link ring (cumulative). */
  bytes: number;
  /** Frames discarded, by cause (cumulative). */
  drops: LinkDrops;
  /** Sum of `drops`. */
  dropped: number;
  /** Times frames waited, by cause (cumulative; nothing lost). */
  waits: LinkWaits;
  /** Frames delivered with a flipped bit (the corrupt impairment; cumulative, not a drop). */
  corrupted: number;
  /** Second copies the duplicate impairment queued (cumulative). */
  duplicated: number;
  /** Frames the reorder impairment sent ahead of delayed ones (cumulative). */
  reordered: number;
  /** Frames the impairment stage holds now, for their delay or the rate (netem's backlog). */
  queued: number;
}

type StatsOf = (kind: string, owner: string) => Readonly<Record<string, number>>;

/**
 * A reader of link-direction counts for one lab: call it once per read (it reads the workers'
 * statistics once) and then per ring index.
 *
 * @example
 * ```ts ignore
 * import { directionCounter } from "./link_counts.ts";
 * const count = directionCounter(lab);
 * count(lab.plan.links[0].forwardRing).drops.queueLimit;
 * ```
 */
export function directionCounter(lab: Lab): (ring: number) => DirectionCounts {
  const workers = lab.workerStats();
  const statsOf: StatsOf = (kind, owner) => {
    for (const w of workers) if (w.kind === kind && w.owner === owner) return w.stats;
    return {};
  };
  const nicControlOf = (p: RingPort) => {
    if (p.kind !== "nic") return null;
    const vm = lab.plan.vms.find((v) => v.name === p.vm);
    const nic = vm?.nics.find((n) => n.name === p.nic);
    if (!vm || !nic) return null;
    return deviceControl(lab.controlOf(vm.index), vm.control.devices[nic.index]);
  };
  const nicCounters = (p: RingPort) => nicControlOf(p)?.deviceCounters ?? null;
  return (index) => {
    const r = lab.plan.rings[index];
    const c = lab.ring(index).counters();
    const stage = impairStats(r.producer, r.link, statsOf);
    const tx = nicCounters(r.producer);
    const rx = nicCounters(r.consumer);
    const at = (w: Float64Array | null, i: number) => w?.[i] ?? 0;
    const drops: LinkDrops = {
      loss: stage.lost,
      queueLimit: stage.droppedLimit,
      partition: stage.partitioned,
      fullRing: c.framesDropped,
      // The producer's, the NICs' and what a switch discarded arriving on a down port.
      linkDown: stage.linkDown + at(tx, NetCounter.txLinkDown) + at(rx, NetCounter.rxLinkDown) +
        c.linkDownDropped,
      tooBig: at(rx, NetCounter.rxTooBig),
      runt: at(rx, NetCounter.rxRunt),
      malformed: at(tx, NetCounter.txMalformed),
      badSlot: c.badFrames,
      lengthError: at(
        nicControlOf(r.consumer)?.driverCounters ?? null,
        NetDriverCounter.rxLengthErrors,
      ),
      notLive: at(rx, NetCounter.rxNotLive),
    };
    return {
      frames: c.framesOut,
      bytes: c.bytesOut,
      drops,
      dropped: totalDrops(drops),
      waits: {
        rxBuffer: at(rx, NetCounter.rxBufferWaits),
        linkFull: at(tx, NetCounter.txBackpressure),
      },
      corrupted: stage.corrupted,
      duplicated: stage.duplicated,
      reordered: stage.reordered,
      queued: stage.queued,
    };
  };
}

/** The impairment-stage statistics prefix of a ring's producer: `[worker kind, owner, prefix]`. */
export function impairPrefix(producer: RingPort, link: string): [string, string, string] {
  if (producer.kind === "nic") return ["device", producer.vm, `${producer.nic}_impair_`];
  if (producer.kind === "vsock") return ["device", producer.vm, "vsock_impair_"];
  return ["switch", producer.switch, `${link}_impair_`];
}

function impairStats(producer: RingPort, link: string, statsOf: StatsOf) {
  const [kind, owner, prefix] = impairPrefix(producer, link);
  const stats = statsOf(kind, owner);
  const get = (k: string) => Object.hasOwn(stats, prefix + k) ? stats[prefix + k] : 0;
  // The producer's partition and link-down drops sit beside its impairment statistics.
  const keys = besideImpairStats(prefix);
  const beside = (name: keyof typeof keys) =>
    Object.hasOwn(stats, keys[name]) ? stats[keys[name]] : 0;
  return {
    lost: get("lost"),
    droppedLimit: get("dropped_limit"),
    corrupted: get("corrupted"),
    duplicated: get("duplicated"),
    reordered: get("reordered"),
    queued: impairQueued(stats, prefix),
    partitioned: beside("partitioned"),
    linkDown: beside("linkDown"),
  };
}

/**
 * The guest stack's drops by cause, from the guest worker's `stack_drops_CAUSE` statistics (any
 * cause the stack counts, with no list to keep in step), causes in camelCase.
 *
 * @example
 * ```ts
 * import { guestStackDrops } from "./link_counts.ts";
 * guestStackDrops({ stack_frames_in: 9, stack_drops_bad_checksum: 4 }); // { badChecksum: 4 }
 * ```
 */
export function guestStackDrops(stats: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) {
    if (!k.startsWith("stack_drops_")) continue;
    out[k.slice(12).replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return out;
}

/**
 * A switch's own counters (its `switch_NAME` statistics, without the prefix; its ports'
 * impairment statistics are read per link instead).
 *
 * @example
 * ```ts
 * import { switchCounters } from "./link_counts.ts";
 * switchCounters({ switch_flooded: 3, "h1-sw1_impair_lost": 1 }); // { flooded: 3 }
 * ```
 */
export function switchCounters(stats: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stats)) if (k.startsWith("switch_")) out[k.slice(7)] = v;
  return out;
}
