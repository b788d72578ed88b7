/**
 * The forwarding logic of a switch node: an IEEE 802.1D-style learning bridge. The switch
 * worker reads a frame from a port's link ring, asks `forward` where it goes, and pushes it to
 * those ports' link rings. Pure logic: no rings, no workers, no clock of its own.
 *
 * Learning: the source MAC of every frame (unless it is a group address) maps to its input
 * port, refreshed on each frame; an entry not refreshed for `agingMs` is forgotten; when the
 * table is full, the least recently seen entry is evicted. Forwarding: a unicast destination in
 * the table goes to its port (or is filtered when that is the input port); broadcast, multicast
 * and unknown destinations are flooded to every other port.
 *
 * @module
 */

/** The switch's counters. */
export interface SwitchCounters {
  /** Unicast frames sent to one known port. */
  forwarded: number;
  /** Frames flooded (broadcast, multicast or unknown destination). */
  flooded: number;
  /** New table entries. */
  learned: number;
  /** Entries whose port changed (a station moved). */
  moved: number;
  /** Frames dropped because the destination is on the input port. */
  filtered: number;
  /** Entries forgotten after `agingMs`. */
  aged: number;
  /** Entries evicted because the table was full. */
  evicted: number;
  /** Entries forgotten because their port's link went down (`flushPort`). */
  flushed: number;
  /** Frames shorter than an Ethernet header (dropped). */
  runts: number;
}

/** One MAC table row, for status output. */
export interface MacTableEntry {
  /** "aa:bb:cc:dd:ee:ff". */
  mac: string;
  /** The port the station was last seen on. */
  port: number;
  /** Time since the station was last seen (ms). */
  ageMs: number;
}

/** Options of a learning switch. */
export interface LearningSwitchOptions {
  /** Number of ports, numbered from 0; 0 for a switch no link joins yet. */
  ports: number;
  /** How long an entry lives without a sighting (ms). */
  agingMs: number;
  /** Table bound; default 4096. */
  maxEntries?: number;
}

const ETH_HEADER_BYTES = 14;

function macKey(f: Uint8Array, at: number): number {
  // 48 bits fit exactly in a float64
  return (f[at] * 0x10000 + f[at + 1] * 0x100 + f[at + 2]) * 0x1000000 +
    f[at + 3] * 0x10000 + f[at + 4] * 0x100 + f[at + 5];
}

/**
 * Format a MAC address held as a 48-bit number.
 *
 * @example
 * ```ts
 * import { formatMac } from "./switch.ts";
 * formatMac(0x020000000001); // "02:00:00:00:00:01"
 * ```
 */
export function formatMac(key: number): string {
  const parts: string[] = [];
  for (let i = 5; i >= 0; i--) {
    parts.push((Math.floor(key / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, "0"));
  }
  return parts.join(":");
}

interface Entry {
  /** The port the station was last seen on. */
  port: number;
  seenMs: number;
}

/**
 * An L2 learning bridge.
 *
 * @example
 * ```ts
 * import { LearningSwitch } from "./switch.ts";
 * const sw = new LearningSwitch({ ports: 3, agingMs: 300_000 });
 * const frame = new Uint8Array(60).fill(0xff, 0, 6); // broadcast from 00:00:00:00:00:00
 * frame[11] = 1; // source 00:00:00:00:00:01
 * const outs: number[] = [];
 * sw.forward(0, frame, 0, (port) => outs.push(port)); // outs = [1, 2]
 * ```
 */
export class LearningSwitch {
  /** Number of ports, numbered from 0. */
  readonly ports: number;
  /** How long an entry lives without a sighting (ms). */
  readonly agingMs: number;
  /** The MAC table bound. */
  readonly maxEntries: number;
  /** Counters (read-only for callers). */
  readonly counters: SwitchCounters = {
    forwarded: 0,
    flooded: 0,
    learned: 0,
    moved: 0,
    filtered: 0,
    aged: 0,
    evicted: 0,
    flushed: 0,
    runts: 0,
  };
  /** MAC → entry, in order of last sighting (oldest first). */
  readonly #table = new Map<number, Entry>();

  /** Throws on a bad option (a programmer error). */
  constructor(opts: LearningSwitchOptions) {
    const maxEntries = opts.maxEntries ?? 4096;
    // A switch no link joins is valid (the topology allows it): it has 0 ports and forwards nothing.
    if (!Number.isInteger(opts.ports) || opts.ports < 0) {
      throw new RangeError(
        `Cannot build switch: ports must be a whole number, got ${opts.ports}`,
      );
    }
    if (!(opts.agingMs > 0)) {
      throw new RangeError(`Cannot build switch: agingMs must be positive, got ${opts.agingMs}`);
    }
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(
        `Cannot build switch: maxEntries must be a positive integer, got ${maxEntries}`,
      );
    }
    this.ports = opts.ports;
    this.agingMs = opts.agingMs;
    this.maxEntries = maxEntries;
  }

  /**
   * Learn from `frame` (received on `inPort` at `nowMs`) and call `out` once for each port it
   * must be sent to. Frames shorter than an Ethernet header are dropped and counted.
   *
   * @example
   * ```ts
   * import { LearningSwitch } from "./switch.ts";
   * const sw = new LearningSwitch({ ports: 2, agingMs: 1000 });
   * sw.forward(0, new Uint8Array(10), 0, () => {}); // a runt: counters.runts = 1
   * ```
   */
  forward(inPort: number, frame: Uint8Array, nowMs: number, out: (port: number) => void): void {
    if (!(inPort >= 0 && inPort < this.ports && Number.isInteger(inPort))) {
      throw new RangeError(
        this.ports === 0
          ? `Cannot forward on port ${inPort}: the switch has no ports`
          : `Cannot forward: port ${inPort} is not one of 0..${this.ports - 1}`,
      );
    }
    if (frame.length < ETH_HEADER_BYTES) {
      this.counters.runts++;
      return;
    }
    if ((frame[6] & 1) === 0) this.#learn(macKey(frame, 6), inPort, nowMs);
    if ((frame[0] & 1) === 0) {
      const dst = this.#table.get(macKey(frame, 0));
      if (dst !== undefined && nowMs - dst.seenMs <= this.agingMs) {
        if (dst.port === inPort) {
          this.counters.filtered++;
        } else {
          this.counters.forwarded++;
          out(dst.port);
        }
        return;
      }
    }
    this.counters.flooded++;
    for (let p = 0; p < this.ports; p++) if (p !== inPort) out(p);
  }

  #learn(src: number, port: number, nowMs: number): void {
    const table = this.#table;
    const e = table.get(src);
    if (e !== undefined) {
      if (e.port !== port) {
        e.port = port;
        this.counters.moved++;
      }
      if (e.seenMs !== nowMs) {
        e.seenMs = nowMs;
        table.delete(src); // keep the map in order of last sighting
        table.set(src, e);
      }
      return;
    }
    this.age(nowMs);
    if (table.size >= this.maxEntries) {
      const oldest = table.keys().next();
      if (!oldest.done) table.delete(oldest.value);
      this.counters.evicted++;
    }
    table.set(src, { port, seenMs: nowMs });
    this.counters.learned++;
  }

  /**
   * Forget entries not seen for more than `agingMs` (the oldest first; stops at the first fresh
   * one); returns how many went (counted in `aged`). `forward` calls it when it learns a new
   * station, and the switch worker when {@linkcode nextExpiryMs} says one is due, so that an
   * idle switch's counters say what its table holds.
   *
   * @example
   * ```ts
   * import { LearningSwitch } from "./switch.ts";
   * const sw = new LearningSwitch({ ports: 2, agingMs: 1000 });
   * sw.age(5000); // 0: counters.aged counts what was forgotten
   * ```
   */
  age(nowMs: number): number {
    let n = 0;
    for (const [mac, e] of this.#table) {
      if (nowMs - e.seenMs <= this.agingMs) break;
      this.#table.delete(mac);
      this.counters.aged++;
      n++;
    }
    return n;
  }

  /**
   * Milliseconds from `nowMs` until the oldest entry is past its age (a millisecond after, so
   * that {@linkcode age} then finds it), or Infinity for an empty table.
   *
   * @example
   * ```ts
   * import { LearningSwitch } from "./switch.ts";
   * new LearningSwitch({ ports: 2, agingMs: 1000 }).nextExpiryMs(0); // Infinity
   * ```
   */
  nextExpiryMs(nowMs: number): number {
    for (const e of this.#table.values()) return Math.max(0, e.seenMs + this.agingMs + 1 - nowMs);
    return Infinity;
  }

  /**
   * Forget every station learned on `port`, as a Linux bridge flushes a port that goes down
   * (`br_fdb_delete_by_port`): frames for them are flooded again until they are seen anew, so
   * a station that moved behind another port is reached at once instead of after `agingMs`.
   * Returns how many entries went (counted in `flushed`).
   *
   * @example
   * ```ts
   * import { LearningSwitch } from "./switch.ts";
   * new LearningSwitch({ ports: 2, agingMs: 1000 }).flushPort(1); // 0
   * ```
   */
  flushPort(port: number): number {
    let n = 0;
    for (const [mac, e] of this.#table) {
      if (e.port !== port) continue;
      this.#table.delete(mac);
      n++;
    }
    this.counters.flushed += n;
    return n;
  }

  /**
   * The MAC table, oldest sighting first (entries past their age are left out).
   *
   * @example
   * ```ts
   * import { LearningSwitch } from "./switch.ts";
   * new LearningSwitch({ ports: 2, agingMs: 1000 }).macTable(0); // []
   * ```
   */
  macTable(nowMs: number): MacTableEntry[] {
    const rows: MacTableEntry[] = [];
    for (const [mac, e] of this.#table) {
      const ageMs = nowMs - e.seenMs;
      // Whole ms: a clock's fraction (5413.967653999999) is noise in `vlab fdb --json`.
      if (ageMs <= this.agingMs) {
        rows.push({ mac: formatMac(mac), port: e.port, ageMs: Math.round(ageMs) });
      }
    }
    return rows;
  }
}
