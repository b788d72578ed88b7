/**
 * Rates and history for the dashboard, computed from snapshots only (no lab logic here).
 *
 * Snapshot counters are cumulative; `computeRates` turns two snapshots into per-second rates per
 * queue, link direction, switch counter and vhost-pci link. `OccupancyHistory` keeps a bounded ring of queue
 * occupancy samples (the last 60 s) that `sparkline` draws with block characters.
 *
 * @module
 */

import type { LabSnapshot, LinkDrops, LinkWaits, QueueSnapshot } from "../../lab/snapshot_types.ts";

/** Per-second rates of one queue. */
export interface QueueRates {
  /** Chains taken per second. */
  requests: number;
  /** Frame bytes per second. */
  bytes: number;
  /** Driver notifications per second. */
  kicks: number;
  /** Used-buffer interrupts per second. */
  interrupts: number;
  /** Interrupts per second that event suppression saved. */
  suppressed: number;
}

/** Per-second rates of one link direction. */
export interface DirectionRates {
  /** Frames delivered per second. */
  frames: number;
  /** Bytes delivered per second. */
  bytes: number;
  /** Drops per second, by cause. */
  drops: Record<keyof LinkDrops, number>;
  /** Waits per second, by cause (not drops). */
  waits: Record<keyof LinkWaits, number>;
  /** Corrupted frames delivered per second. */
  corrupted: number;
  /** Second copies the duplicate impairment sent per second. */
  duplicated: number;
  /** Frames the reorder impairment sent ahead per second. */
  reordered: number;
}

/** Per-second rates of one vhost-pci link (its peer's counters: frames, no bytes). */
export interface VhostPciRates {
  /** Frames per second the peer popped from the frontend's transmitq. */
  framesIn: number;
  /** Frames per second the peer put into the frontend's receiveq. */
  framesOut: number;
  /** Frames per second the peer's stack sent while no connection was served. */
  framesDropped: number;
  /** Times per second the peer's stack waited for a buffer in the frontend's receiveq. */
  rxWaits: number;
  /** Frames per second a partition cut, either direction. */
  partitionDropped: number;
  /** The frontend's frames per second dropped while the link was set down. */
  linkDownIn: number;
  /** The peer's frames per second dropped while the link was set down. */
  linkDownOut: number;
  /** Interrupts per second the peer raised in the frontend. */
  interrupts: number;
}

/** Rates between two snapshots. */
export interface Rates {
  /** The interval the rates cover, seconds. */
  dtSeconds: number;
  /** By `queueKey(vm, nic, index)`. */
  queues: ReadonlyMap<string, QueueRates>;
  /** By link name. */
  links: ReadonlyMap<string, { forward: DirectionRates; reverse: DirectionRates }>;
  /** By switch name, then counter name. */
  switches: ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** By vhost-pci link name. */
  vhostPci: ReadonlyMap<string, VhostPciRates>;
}

/**
 * The key of a queue in `Rates.queues` and `OccupancyHistory`: `vm/nic/index`.
 *
 * @example
 * ```ts
 * import { queueKey } from "./rates.ts";
 * queueKey("a", "eth0", 1); // "a/eth0/1"
 * ```
 */
export function queueKey(vm: string, nic: string, index: number): string {
  return `${vm}/${nic}/${index}`;
}

/**
 * The key of a link direction's `queued` (the frames its impairment holds) in `OccupancyHistory`:
 * `link:name:forward`. No queue's key begins with `link:` (a VM name holds no colon).
 *
 * @example
 * ```ts
 * import { linkQueuedKey } from "./rates.ts";
 * linkQueuedKey("a-b", "forward"); // "link:a-b:forward"
 * ```
 */
export function linkQueuedKey(link: string, direction: "forward" | "reverse"): string {
  return `link:${link}:${direction}`;
}

/**
 * The per-second rate of a cumulative counter: `(current - previous) / dt`. A counter that went
 * backwards (the VM restarted and its counters started again) gives 0 rather than a negative
 * rate, and so does an empty interval.
 *
 * @example
 * ```ts
 * import { rate } from "./rates.ts";
 * rate(12_000, 13_000, 0.1); // 10000
 * rate(500, 20, 0.1); // 0
 * ```
 */
export function rate(previous: number, current: number, dtSeconds: number): number {
  if (!(dtSeconds > 0)) return 0;
  const delta = current - previous;
  return delta > 0 ? delta / dtSeconds : 0;
}

/**
 * Rates between `previous` and `current`. The interval is `current.takenAt - previous.takenAt`
 * unless `dtMs` is given. Queues, links and counters present in only one snapshot get no entry
 * (a queue that appeared has no rate yet). The live dashboard takes its rates over a longer
 * window instead (`RateWindow`, `./rate_window.ts`).
 *
 * @example
 * ```ts ignore
 * import { computeRates, queueKey } from "./rates.ts";
 * const r = computeRates(snap0, snap1); // taken 100 ms apart
 * r.queues.get(queueKey("a", "eth0", 1))?.requests; // 10000 for 1000 chains
 * ```
 */
export function computeRates(
  previous: LabSnapshot,
  current: LabSnapshot,
  dtMs: number = current.takenAt - previous.takenAt,
): Rates {
  const dt = dtMs / 1000;
  const before = snapshotCounters(previous);
  const now = snapshotCounters(current);
  return ratesFrom(current, {
    // Something the older snapshot did not have has no rate yet.
    has: (object) => before.has(object),
    // A counter the older snapshot lacked (a lab of an older vlab) counts from 0.
    rate: (object, field) =>
      rate(before.get(object)?.get(field) ?? 0, now.get(object)?.get(field) ?? 0, dt),
  }, dt);
}

/**
 * The counters of a snapshot that the dashboard shows as rates, by object (`counterObject`: a
 * queue, a link direction, its drops or its waits, a switch, a vhost-pci link), then by field.
 */
export type SnapshotCounters = Map<string, Map<string, number>>;

/** The rates `ratesFrom` builds `Rates` from. */
export interface CounterRates {
  /** Whether `object` has an earlier reading to take a rate from (else it gets no entry). */
  has(object: string): boolean;
  /** The per-second rate of one counter of `object` (0 for one with no earlier reading). */
  rate(object: string, field: string): number;
}

/**
 * The keys of the objects in `SnapshotCounters`: one string per object, built once a snapshot;
 * the fields under it are the snapshot's own names.
 *
 * @example
 * ```ts
 * import { counterObject } from "./rates.ts";
 * counterObject.linkDrops("a-b", "forward"); // "l\u0000a-b\u0000forward\u0000drops"
 * ```
 */
export const counterObject = {
  /** A queue, by `queueKey`. */
  queue: (key: string): string => `q\u0000${key}`,
  /** A link direction's frames, bytes, corrupted, duplicated and reordered. */
  link: (link: string, dir: "forward" | "reverse"): string => `l\u0000${link}\u0000${dir}`,
  /** A link direction's drops by cause. */
  linkDrops: (link: string, dir: "forward" | "reverse"): string =>
    `l\u0000${link}\u0000${dir}\u0000drops`,
  /** A link direction's waits by cause. */
  linkWaits: (link: string, dir: "forward" | "reverse"): string =>
    `l\u0000${link}\u0000${dir}\u0000waits`,
  /** A switch's counters. */
  switch: (sw: string): string => `s\u0000${sw}`,
  /** A vhost-pci link's counters. */
  vhostPci: (link: string): string => `v\u0000${link}`,
} as const;

const QUEUE_FIELDS = ["requests", "bytes", "kicks", "interrupts", "suppressed"] as const;
const DIRECTION_FIELDS = ["frames", "bytes", "corrupted", "duplicated", "reordered"] as const;
const VHOST_PCI_FIELDS = [
  "framesIn",
  "framesOut",
  "framesDropped",
  "rxWaits",
  "partitionDropped",
  "linkDownIn",
  "linkDownOut",
  "interrupts",
] as const;

/**
 * Every cumulative counter of a snapshot that the dashboard shows as a rate, by object and field.
 * Optional counters that a lab of an older vlab lacks count as 0; a drop or wait record it lacks
 * is empty. `computeRates` and `RateWindow` take their rates from these.
 *
 * @example
 * ```ts ignore
 * import { counterObject, queueKey, snapshotCounters } from "./rates.ts";
 * snapshotCounters(snap).get(counterObject.queue(queueKey("a", "eth0", 1)))?.get("requests");
 * ```
 */
export function snapshotCounters(s: LabSnapshot): SnapshotCounters {
  const out: SnapshotCounters = new Map();
  const record = (object: string, fields: object | undefined) => {
    const m = new Map<string, number>();
    const values = (fields ?? {}) as Readonly<Record<string, number>>;
    for (const k in values) if (Object.hasOwn(values, k)) m.set(k, values[k]);
    out.set(object, m);
  };
  for (const vm of s.vms) {
    for (const dev of vm.devices) {
      for (const q of dev.queues) {
        const m = new Map<string, number>();
        for (const f of QUEUE_FIELDS) m.set(f, q[f]);
        out.set(counterObject.queue(queueKey(vm.name, dev.nic, q.index)), m);
      }
    }
  }
  for (const link of s.links) {
    for (const dir of ["forward", "reverse"] as const) {
      const d = link[dir];
      const m = new Map<string, number>();
      for (const f of DIRECTION_FIELDS) m.set(f, d[f] ?? 0);
      out.set(counterObject.link(link.name, dir), m);
      record(counterObject.linkDrops(link.name, dir), d.drops);
      record(counterObject.linkWaits(link.name, dir), d.waits);
    }
  }
  for (const sw of s.switches) record(counterObject.switch(sw.name), sw.counters);
  for (const l of s.vhostPciLinks ?? []) {
    const m = new Map<string, number>();
    for (const f of VHOST_PCI_FIELDS) m.set(f, l[f] ?? 0);
    out.set(counterObject.vhostPci(l.name), m);
  }
  return out;
}

/**
 * The `Rates` of `current`, each counter's rate from `rates` (by its `counterObject` and field);
 * a queue, link, switch or vhost-pci link that `rates` has no earlier reading of gets no entry.
 *
 * @example
 * ```ts ignore
 * import { ratesFrom } from "./rates.ts";
 * ratesFrom(snap, { has: () => true, rate: () => 0 }, 1).queues.size; // every queue, at 0/s
 * ```
 */
export function ratesFrom(current: LabSnapshot, rates: CounterRates, dtSeconds = 0): Rates {
  const queues = new Map<string, QueueRates>();
  for (const vm of current.vms) {
    for (const dev of vm.devices) {
      for (const q of dev.queues) {
        const key = queueKey(vm.name, dev.nic, q.index);
        const object = counterObject.queue(key);
        if (!rates.has(object)) continue;
        queues.set(key, {
          requests: rates.rate(object, "requests"),
          bytes: rates.rate(object, "bytes"),
          kicks: rates.rate(object, "kicks"),
          interrupts: rates.rate(object, "interrupts"),
          suppressed: rates.rate(object, "suppressed"),
        });
      }
    }
  }
  const links = new Map<string, { forward: DirectionRates; reverse: DirectionRates }>();
  for (const link of current.links) {
    if (!rates.has(counterObject.link(link.name, "forward"))) continue;
    const direction = (dir: "forward" | "reverse"): DirectionRates => {
      const d = link[dir];
      const object = counterObject.link(link.name, dir);
      const drops = counterObject.linkDrops(link.name, dir);
      const waits = counterObject.linkWaits(link.name, dir);
      return {
        frames: rates.rate(object, "frames"),
        bytes: rates.rate(object, "bytes"),
        drops: perCause(d.drops, (k) => rates.rate(drops, k)),
        waits: perCause(d.waits, (k) => rates.rate(waits, k)),
        corrupted: rates.rate(object, "corrupted"),
        duplicated: rates.rate(object, "duplicated"),
        reordered: rates.rate(object, "reordered"),
      };
    };
    links.set(link.name, { forward: direction("forward"), reverse: direction("reverse") });
  }
  const switches = new Map<string, Record<string, number>>();
  for (const sw of current.switches) {
    const object = counterObject.switch(sw.name);
    if (!rates.has(object)) continue;
    const out: Record<string, number> = {};
    for (const name of Object.keys(sw.counters)) out[name] = rates.rate(object, name);
    switches.set(sw.name, out);
  }
  const vhostPci = new Map<string, VhostPciRates>();
  for (const l of current.vhostPciLinks ?? []) {
    const object = counterObject.vhostPci(l.name);
    if (!rates.has(object)) continue;
    const r = (f: typeof VHOST_PCI_FIELDS[number]) => rates.rate(object, f);
    vhostPci.set(l.name, {
      framesIn: r("framesIn"),
      framesOut: r("framesOut"),
      framesDropped: r("framesDropped"),
      rxWaits: r("rxWaits"),
      partitionDropped: r("partitionDropped"),
      linkDownIn: r("linkDownIn"),
      linkDownOut: r("linkDownOut"),
      interrupts: r("interrupts"),
    });
  }
  return { dtSeconds, queues, links, switches, vhostPci };
}

/** The rate of each field of a record of counters (none for a record a lab of an older vlab lacks). */
function perCause<K extends string>(
  c: Readonly<Record<K, number>> | undefined,
  rateOf: (k: K) => number,
): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of Object.keys(c ?? {}) as K[]) out[k] = rateOf(k);
  return out;
}

/**
 * How full a queue is, 0..1: descriptors made available and not yet returned (waiting in the avail
 * ring plus in flight at the device) over the queue size; packed queues count their pending
 * chains from the descriptors' AVAIL/USED bits (`lab/ring_view.ts` `packedPending`). A queue
 * whose pending count is unknown (null) counts its in-flight chains only. 0 for a queue that is
 * not set up.
 *
 * @example
 * ```ts ignore
 * import { occupancy } from "./rates.ts";
 * occupancy({ ...q, size: 256, pending: 60, inFlight: 4 }); // 0.25
 * ```
 */
export function occupancy(q: QueueSnapshot): number {
  if (q.size <= 0) return 0;
  const used = q.inFlight + (q.pending ?? 0);
  return Math.min(1, Math.max(0, used / q.size));
}

/** One sample of a history ring. */
interface Sample {
  /** `takenAt` of the snapshot, ms. */
  t: number;
  /** Value. */
  v: number;
}

/** Options of `OccupancyHistory`. */
export interface HistoryOptions {
  /** How far back samples are kept, ms (default 60 000). */
  spanMs?: number;
  /** Most samples kept per queue (default 1200: 60 s at 20 Hz). */
  capacity?: number;
}

/**
 * A bounded history of queue occupancy (0..1) per queue, fed one snapshot at a time, for the
 * occupancy sparklines. Each queue keeps a ring of at most `capacity` samples; samples older than
 * `spanMs` before the newest snapshot are not returned. Timestamps come from the snapshots, so the
 * history is deterministic for recorded snapshots.
 *
 * @example
 * ```ts ignore
 * import { OccupancyHistory, queueKey } from "./rates.ts";
 * const h = new OccupancyHistory();
 * h.add(snapshot);
 * h.buckets(queueKey("a", "eth0", 0), snapshot.takenAt, 20); // 20 values or null
 * ```
 */
export class OccupancyHistory {
  readonly #spanMs: number;
  readonly #capacity: number;
  readonly #rings = new Map<string, { samples: Sample[]; next: number }>();
  #lastT = -Infinity;

  /** A history keeping `spanMs` (default 60 s) of at most `capacity` samples per queue. */
  constructor(options: HistoryOptions = {}) {
    this.#spanMs = options.spanMs ?? 60_000;
    this.#capacity = Math.max(1, options.capacity ?? 1200);
  }

  /** How far back the history reaches, ms. */
  get spanMs(): number {
    return this.#spanMs;
  }

  /** Record every queue's occupancy in `snapshot`. A snapshot not newer than the last is ignored. */
  add(snapshot: LabSnapshot): void {
    const t = snapshot.takenAt;
    if (!(t > this.#lastT)) return;
    this.#lastT = t;
    for (const vm of snapshot.vms) {
      for (const dev of vm.devices) {
        for (const q of dev.queues) this.push(queueKey(vm.name, dev.nic, q.index), t, occupancy(q));
      }
    }
    // What each link direction's impairment holds: the Links panel keeps a "queued" line that
    // was there a moment ago (`heldWithin`), so a queue that comes and goes does not move the
    // lines below it.
    for (const link of snapshot.links) {
      this.push(linkQueuedKey(link.name, "forward"), t, link.forward.queued ?? 0);
      this.push(linkQueuedKey(link.name, "reverse"), t, link.reverse.queued ?? 0);
    }
  }

  /** Whether a sample of `key` within `ms` before `now` (and up to it) was above 0. */
  heldWithin(key: string, now: number, ms: number): boolean {
    return this.samples(key, now).some((s) => s.t > now - ms && s.v > 0);
  }

  /** Record one sample for `key`. */
  push(key: string, t: number, value: number): void {
    let ring = this.#rings.get(key);
    if (ring === undefined) {
      ring = { samples: [], next: 0 };
      this.#rings.set(key, ring);
    }
    if (ring.samples.length < this.#capacity) {
      ring.samples.push({ t, v: value });
    } else {
      ring.samples[ring.next] = { t, v: value };
      ring.next = (ring.next + 1) % this.#capacity;
    }
  }

  /** The samples of `key` within `spanMs` before `now`, oldest first. */
  samples(key: string, now: number): { t: number; v: number }[] {
    const ring = this.#rings.get(key);
    if (ring === undefined) return [];
    const ordered = ring.samples.length < this.#capacity
      ? ring.samples
      : [...ring.samples.slice(ring.next), ...ring.samples.slice(0, ring.next)];
    return ordered.filter((s) => s.t > now - this.#spanMs && s.t <= now);
  }

  /**
   * The last `spanMs` before `now` cut into `count` equal time buckets, oldest first: each
   * bucket's highest sample (so short peaks stay visible), or null where there was no sample
   * (before the dashboard started, or while it was paused).
   */
  buckets(key: string, now: number, count: number): (number | null)[] {
    const out: (number | null)[] = new Array(Math.max(0, count)).fill(null);
    if (count <= 0) return out;
    const start = now - this.#spanMs;
    for (const s of this.samples(key, now)) {
      const i = Math.min(count - 1, Math.floor(((s.t - start) / this.#spanMs) * count));
      const was = out[i];
      out[i] = was === null || s.v > was ? s.v : was;
    }
    return out;
  }
}

const BLOCKS = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"] as const;

/**
 * Draw `values` as a sparkline exactly `width` characters wide with the blocks ▁▂▃▄▅▆▇█, scaled
 * from 0 to `max` (default: the largest value, or 1 if all are 0). Null values (no data) are
 * drawn as spaces. More values than `width` are grouped into `width` buckets, each drawn as its
 * highest value; fewer are right-aligned (the newest value is always the last character).
 *
 * @example
 * ```ts
 * import { sparkline } from "./rates.ts";
 * sparkline([0, 0.5, 1], 3, { max: 1 }); // "▁▅█"
 * sparkline([1, 2], 4); // "  ▅█"
 * ```
 */
export function sparkline(
  values: readonly (number | null)[],
  width: number,
  options: { max?: number } = {},
): string {
  if (width <= 0) return "";
  let cols: (number | null)[];
  if (values.length <= width) {
    cols = [...new Array(width - values.length).fill(null), ...values];
  } else {
    cols = [];
    for (let i = 0; i < width; i++) {
      const from = Math.floor((i * values.length) / width);
      const to = Math.floor(((i + 1) * values.length) / width);
      let best: number | null = null;
      for (let j = from; j < to; j++) {
        const v = values[j];
        if (v !== null && v !== undefined && (best === null || v > best)) best = v;
      }
      cols.push(best);
    }
  }
  let max = options.max ?? 0;
  if (options.max === undefined) {
    for (const v of cols) if (v !== null && v > max) max = v;
  }
  if (!(max > 0)) max = 1;
  return cols.map((v) => {
    if (v === null || !Number.isFinite(v)) return " ";
    const level = Math.round((Math.min(max, Math.max(0, v)) / max) * (BLOCKS.length - 1));
    return BLOCKS[level];
  }).join("");
}
