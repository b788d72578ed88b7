/**
 * ARP (RFC 826) for Ethernet and IPv4: the packet layout, an in-place writer, an allocation-free
 * reader, and `ArpTable`, the neighbour cache with its per-address pending-frame queue and retry
 * schedule. The table holds no timers: the stack asks it what is due on each `tick()`.
 *
 * A learned entry ages as Linux's neighbour states do (`ip neigh`; net/core/neighbour.c): it is
 * `reachable` for `ttlMs` after a confirmation, then `stale`. A frame sent to a stale entry still
 * goes to its MAC at once and puts it in `delay`; `delayMs` later, unless confirmed meanwhile, it is
 * in `probe`: unicast requests to that MAC every `retryMs`. After `maxTries` unanswered probes the
 * entry is removed, and the next frame resolves the address anew by broadcast (queued meanwhile).
 * So a flow never stops for an ARP round trip while its neighbour answers.
 *
 * Only a solicited reply confirms (`learn`): a reply unicast to us, to an entry we hold (our
 * request or probe asked for it). A request addressed to us, a broadcast reply, and the RFC 826
 * merge of any other ARP packet's sender fields (`heard`) leave a known MAC's entry in its state
 * and make a new or changed one `stale`, as Linux's `arp_process` does: hearing from a neighbour
 * does not prove that it hears us (a one-way cut).
 *
 * ```
 * struct arphdr { be16 htype; be16 ptype; u8 hlen; u8 plen; be16 op;
 *                 u8 sha[6]; be32 spa; u8 tha[6]; be32 tpa; }   // 28 bytes for Ethernet/IPv4
 * ```
 *
 * @module
 */

import { OK_VOID, type Result } from "../../../devices/base/result.ts";
import { readU16, readU32, writeU16, writeU32 } from "./ipv4.ts";

/**
 * Byte offsets of an Ethernet/IPv4 ARP packet (relative to its start).
 *
 * @example
 * ```ts
 * import { ArpOffset } from "./arp.ts";
 * ArpOffset.tpa; // 24
 * ```
 */
export const ArpOffset = {
  htype: 0,
  ptype: 2,
  hlen: 4,
  plen: 5,
  op: 6,
  sha: 8,
  spa: 14,
  tha: 18,
  tpa: 24,
} as const;

/**
 * Length of an Ethernet/IPv4 ARP packet.
 *
 * @example
 * ```ts
 * import { ARP_LEN } from "./arp.ts";
 * ARP_LEN; // 28
 * ```
 */
export const ARP_LEN = 28;

/**
 * ARP operation codes.
 *
 * @example
 * ```ts
 * import { ArpOp } from "./arp.ts";
 * ArpOp.reply; // 2
 * ```
 */
export const ArpOp = { request: 1, reply: 2 } as const;

/**
 * The fields of an ARP packet; `parseArp` fills a caller-owned one (the MACs are copied in).
 *
 * @example
 * ```ts
 * import { newArpPacket } from "./arp.ts";
 * newArpPacket().sha.length; // 6
 * ```
 */
export interface ArpPacket {
  op: number;
  sha: Uint8Array;
  spa: number;
  tha: Uint8Array;
  tpa: number;
}

/**
 * A fresh packet to pass to `parseArp`.
 *
 * @example
 * ```ts
 * import { newArpPacket } from "./arp.ts";
 * newArpPacket().op; // 0
 * ```
 */
export function newArpPacket(): ArpPacket {
  return { op: 0, sha: new Uint8Array(6), spa: 0, tha: new Uint8Array(6), tpa: 0 };
}

/**
 * Write an Ethernet/IPv4 ARP packet at `off`.
 *
 * @example
 * ```ts
 * import { ArpOp, writeArp } from "./arp.ts";
 * const b = new Uint8Array(28);
 * writeArp(b, 0, { op: ArpOp.request, sha: new Uint8Array(6), spa: 1, tha: new Uint8Array(6), tpa: 2 });
 * b[7]; // 1
 * ```
 */
export function writeArp(buf: Uint8Array, off: number, p: ArpPacket): void {
  writeU16(buf, off + ArpOffset.htype, 1);
  writeU16(buf, off + ArpOffset.ptype, 0x0800);
  buf[off + ArpOffset.hlen] = 6;
  buf[off + ArpOffset.plen] = 4;
  writeU16(buf, off + ArpOffset.op, p.op);
  buf.set(p.sha.subarray(0, 6), off + ArpOffset.sha);
  writeU32(buf, off + ArpOffset.spa, p.spa);
  buf.set(p.tha.subarray(0, 6), off + ArpOffset.tha);
  writeU32(buf, off + ArpOffset.tpa, p.tpa);
}

/**
 * Why an ARP packet was rejected.
 *
 * @example
 * ```ts
 * import type { ArpError } from "./arp.ts";
 * const e: ArpError = { kind: "truncated", have: 10 };
 * ```
 */
export type ArpError =
  /** Fewer than 28 bytes. */
  | { kind: "truncated"; have: number }
  /** Not Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4). */
  | { kind: "unsupported"; htype: number; ptype: number }
  /** Neither a request nor a reply. */
  | { kind: "bad-op"; op: number };

/**
 * Validate the ARP packet at `buf[off..]` and fill `out`. Never throws.
 *
 * @example
 * ```ts
 * import { newArpPacket, parseArp } from "./arp.ts";
 * parseArp(new Uint8Array(20), 0, newArpPacket()).ok; // false
 * ```
 */
export function parseArp(buf: Uint8Array, off: number, out: ArpPacket): Result<void, ArpError> {
  const have = buf.length - off;
  if (have < ARP_LEN) return { ok: false, error: { kind: "truncated", have } };
  const htype = readU16(buf, off + ArpOffset.htype);
  const ptype = readU16(buf, off + ArpOffset.ptype);
  if (htype !== 1 || ptype !== 0x0800 || buf[off + 4] !== 6 || buf[off + 5] !== 4) {
    return { ok: false, error: { kind: "unsupported", htype, ptype } };
  }
  const op = readU16(buf, off + ArpOffset.op);
  if (op !== ArpOp.request && op !== ArpOp.reply) {
    return { ok: false, error: { kind: "bad-op", op } };
  }
  out.op = op;
  out.sha.set(buf.subarray(off + ArpOffset.sha, off + ArpOffset.sha + 6));
  out.spa = readU32(buf, off + ArpOffset.spa);
  out.tha.set(buf.subarray(off + ArpOffset.tha, off + ArpOffset.tha + 6));
  out.tpa = readU32(buf, off + ArpOffset.tpa);
  return OK_VOID;
}

/**
 * Tunables of the ARP table.
 *
 * @example
 * ```ts
 * import { ARP_DEFAULTS } from "./arp.ts";
 * ARP_DEFAULTS.maxTries; // 3
 * ```
 */
export const ARP_DEFAULTS: ArpOptions = {
  /** How long a confirmed entry stays reachable; then it is stale (still used). */
  ttlMs: 60_000,
  /** How long a stale entry in use waits for a confirmation before its first probe (Linux's `delay_first_probe_time`). */
  delayMs: 5_000,
  /** Delay between requests for an unresolved address, and between probes of a stale one. */
  retryMs: 1_000,
  /** Requests (or probes) sent before giving up (the first one included). */
  maxTries: 3,
  /**
   * Bytes of frames queued per unresolved address; a frame past them is dropped. Linux's
   * `unres_qlen_bytes` default, so that a 64 KiB datagram's 45 fragments wait whole (Linux
   * counts each buffer's true size, so it holds fewer small frames than this does).
   */
  maxPendingBytes: 212_992,
  /** Addresses resolved or being resolved at once; more are refused. */
  maxEntries: 1024,
};

/**
 * The tunables of `ArpTable` (see `ARP_DEFAULTS`).
 *
 * @example
 * ```ts
 * import type { ArpOptions } from "./arp.ts";
 * const fast: Partial<ArpOptions> = { retryMs: 10 };
 * ```
 */
export interface ArpOptions {
  ttlMs: number;
  delayMs: number;
  retryMs: number;
  maxTries: number;
  maxPendingBytes: number;
  maxEntries: number;
}

/**
 * One row of the ARP table, for status output.
 *
 * @example
 * ```ts
 * import type { ArpEntry } from "./arp.ts";
 * const e: ArpEntry = { ip: 1, mac: null, ifIndex: 0, state: "incomplete", expiresInMs: 1000, pending: 1 };
 * ```
 */
export interface ArpEntry {
  ip: number;
  /** Null while incomplete; frames go to it in every other state. */
  mac: Uint8Array | null;
  ifIndex: number;
  state: ArpState;
  /** Until it goes stale (reachable), 0 (stale), until the first probe (delay), or until the next request or probe. */
  expiresInMs: number;
  /** Frames waiting for the address. */
  pending: number;
}

/**
 * A neighbour entry's state, as `ip neigh` names Linux's: `reachable` (confirmed by a solicited
 * reply within `ttlMs`), `stale` (not confirmed since, or only heard from; still used), `delay`
 * (used while stale: waiting `delayMs` for a confirmation), `probe` (being confirmed by unicast
 * requests) and `incomplete` (no MAC yet: broadcast requests, frames queued).
 *
 * @example
 * ```ts
 * import type { ArpState } from "./arp.ts";
 * const s: ArpState = "stale";
 * ```
 */
export type ArpState = "reachable" | "stale" | "delay" | "probe" | "incomplete";

interface Resolved {
  mac: Uint8Array;
  ifIndex: number;
  /** Reachable until then (`ttlMs` after its last confirmation); at or before `now` it is stale. */
  expiresAt: number;
  /** Idle (reachable or stale by `expiresAt`), or being confirmed: in delay, or probed. */
  phase: "idle" | "delay" | "probe";
  /** Probes sent in `probe`. */
  probes: number;
  /** When the delay ends, the next probe is due, or the entry is given up. */
  nextAt: number;
}

interface Pending {
  ifIndex: number;
  frames: Uint8Array[];
  /** Their bytes. */
  bytes: number;
  tries: number;
  nextAt: number;
}

/**
 * What `ArpTable.enqueue` did with a frame.
 *
 * @example
 * ```ts
 * import type { EnqueueOutcome } from "./arp.ts";
 * const o: EnqueueOutcome = "queued-send-request";
 * ```
 */
export type EnqueueOutcome = "queued-send-request" | "queued" | "queue-full" | "table-full";

/**
 * The neighbour cache and the pending-frame queues. Time comes from the caller (`now` in ms).
 * `probe` sends a unicast request to an entry's MAC (on `due`, once a used stale entry's delay
 * is over, and every `retryMs` then).
 *
 * @example
 * ```ts
 * import { ArpTable } from "./arp.ts";
 * const t = new ArpTable();
 * t.enqueue(0x0a000002, 0, new Uint8Array(60), 0); // "queued-send-request"
 * t.learn(0x0a000002, new Uint8Array([2, 0, 0, 0, 0, 2]), 0, 5).frames.length; // 1
 * ```
 */
export class ArpTable {
  readonly #resolved = new Map<number, Resolved>();
  readonly #pending = new Map<number, Pending>();
  /** The resolved entries in delay or probe. */
  readonly #probing = new Set<number>();
  readonly #opts: ArpOptions;
  readonly #probe: (ip: number, ifIndex: number, mac: Uint8Array) => void;

  constructor(
    opts: Partial<ArpOptions> = {},
    probe: (ip: number, ifIndex: number, mac: Uint8Array) => void = () => {},
  ) {
    this.#opts = { ...ARP_DEFAULTS, ...opts };
    this.#probe = probe;
  }

  /**
   * The MAC to send a frame for `ip` to, or null when it is unresolved. A stale entry's MAC is
   * returned too, and the first use of it puts it in delay (its first probe `delayMs` later).
   */
  lookup(ip: number, now: number): Uint8Array | null {
    const e = this.#resolved.get(ip);
    if (e === undefined) return null;
    if (e.phase === "idle" && e.expiresAt <= now) this.#delay(ip, e, now);
    return e.mac;
  }

  /** True if `ip` has a resolved entry (in any state) or a pending resolution. */
  knows(ip: number): boolean {
    return this.#resolved.has(ip) || this.#pending.has(ip);
  }

  /**
   * Confirm `ip` at `mac` (a solicited reply): it is reachable for `ttlMs`, any probe ends.
   * Returns the frames that were waiting for it (their destination MAC still to be written) and
   * the interface they were routed to.
   */
  learn(
    ip: number,
    mac: Uint8Array,
    ifIndex: number,
    now: number,
  ): { frames: Uint8Array[]; ifIndex: number } {
    this.#set(ip, mac, ifIndex, now + this.#opts.ttlMs);
    return this.#flush(ip, ifIndex);
  }

  /**
   * Record `ip` at `mac` from a packet that does not confirm it (a request, a broadcast reply, an
   * RFC 826 merge): as Linux's `neigh_update(…, NUD_STALE, OVERRIDE)`, an entry that has this MAC
   * keeps its state (a probe goes on), a new or changed one is stale. Frames that were waiting
   * are returned as `learn` does, and the entry, used by them, is in delay.
   */
  heard(
    ip: number,
    mac: Uint8Array,
    ifIndex: number,
    now: number,
  ): { frames: Uint8Array[]; ifIndex: number } {
    const e = this.#resolved.get(ip);
    if (e !== undefined && macEqual(e.mac, mac)) return { frames: [], ifIndex };
    this.#set(ip, mac, ifIndex, now);
    const waiting = this.#flush(ip, ifIndex);
    if (waiting.frames.length > 0) this.#delay(ip, this.#resolved.get(ip)!, now);
    return waiting;
  }

  /** Queue a frame for an unresolved `ip`; the caller sends a request on `queued-send-request`. */
  enqueue(ip: number, ifIndex: number, frame: Uint8Array, now: number): EnqueueOutcome {
    const p = this.#pending.get(ip);
    if (p !== undefined) {
      if (p.bytes + frame.length > this.#opts.maxPendingBytes) return "queue-full";
      p.frames.push(frame);
      p.bytes += frame.length;
      return "queued";
    }
    if (this.#pending.size >= this.#opts.maxEntries) return "table-full";
    if (frame.length > this.#opts.maxPendingBytes) return "queue-full";
    this.#pending.set(ip, {
      ifIndex,
      frames: [frame],
      bytes: frame.length,
      tries: 1,
      nextAt: now + this.#opts.retryMs,
    });
    return "queued-send-request";
  }

  /**
   * Advance the retry schedule to `now`: calls `retry` for each address due another request and
   * `giveUp` (with the frames dropped) for each that ran out of tries; moves entries whose delay
   * is over to probe, sends the due probes (`probe`) and removes the entries whose probes all
   * went unanswered (`giveUp` with 0 frames: none waited).
   */
  due(
    now: number,
    retry: (ip: number, ifIndex: number) => void,
    giveUp: (ip: number, dropped: number) => void,
  ): void {
    for (const ip of this.#probing) {
      const e = this.#resolved.get(ip);
      if (e === undefined || e.phase === "idle") {
        this.#probing.delete(ip);
        continue;
      }
      if (e.nextAt > now) continue;
      if (e.phase === "probe" && e.probes >= this.#opts.maxTries) {
        this.#probing.delete(ip);
        this.#resolved.delete(ip);
        giveUp(ip, 0);
        continue;
      }
      e.phase = "probe";
      e.probes++;
      e.nextAt = now + this.#opts.retryMs;
      this.#probe(ip, e.ifIndex, e.mac);
    }
    for (const [ip, p] of this.#pending) {
      if (p.nextAt > now) continue;
      if (p.tries >= this.#opts.maxTries) {
        this.#pending.delete(ip);
        giveUp(ip, p.frames.length);
        continue;
      }
      p.tries++;
      p.nextAt = now + this.#opts.retryMs;
      retry(ip, p.ifIndex);
    }
  }

  /** The earliest delay's end, retry or probe deadline, or Infinity. */
  nextDeadline(): number {
    let next = Infinity;
    for (const p of this.#pending.values()) if (p.nextAt < next) next = p.nextAt;
    for (const ip of this.#probing) {
      const e = this.#resolved.get(ip);
      if (e !== undefined && e.phase !== "idle" && e.nextAt < next) next = e.nextAt;
    }
    return next;
  }

  /** All rows, resolved first, for status output. */
  entries(now: number): ArpEntry[] {
    const rows: ArpEntry[] = [];
    for (const [ip, e] of this.#resolved) {
      const state: ArpState = e.phase !== "idle"
        ? e.phase
        : e.expiresAt <= now
        ? "stale"
        : "reachable";
      rows.push({
        ip,
        mac: e.mac.slice(),
        ifIndex: e.ifIndex,
        state,
        expiresInMs: state === "reachable"
          ? e.expiresAt - now
          : state === "stale"
          ? 0
          : Math.max(0, e.nextAt - now),
        pending: 0,
      });
    }
    for (const [ip, p] of this.#pending) {
      rows.push({
        ip,
        mac: null,
        ifIndex: p.ifIndex,
        state: "incomplete",
        expiresInMs: Math.max(0, p.nextAt - now),
        pending: p.frames.length,
      });
    }
    return rows;
  }

  /** Make `ip` an idle entry at `mac`, reachable until `expiresAt` (stale if that is now). */
  #set(ip: number, mac: Uint8Array, ifIndex: number, expiresAt: number): void {
    const known = this.#resolved.get(ip);
    if (known === undefined && this.#resolved.size >= this.#opts.maxEntries) this.#evictOldest();
    this.#resolved.set(ip, {
      mac: mac.slice(0, 6),
      ifIndex,
      expiresAt,
      phase: "idle",
      probes: 0,
      nextAt: 0,
    });
    this.#probing.delete(ip);
  }

  /** The frames that waited for `ip` (now resolved), and their interface. */
  #flush(ip: number, ifIndex: number): { frames: Uint8Array[]; ifIndex: number } {
    const p = this.#pending.get(ip);
    if (p === undefined) return { frames: [], ifIndex };
    this.#pending.delete(ip);
    return { frames: p.frames, ifIndex: p.ifIndex };
  }

  /** A stale entry is used: its first probe is due `delayMs` from `now`. */
  #delay(ip: number, e: Resolved, now: number): void {
    e.phase = "delay";
    e.probes = 0;
    e.nextAt = now + this.#opts.delayMs;
    this.#probing.add(ip);
  }

  #evictOldest(): void {
    let oldestIp = -1;
    let oldestAt = Infinity;
    for (const [ip, e] of this.#resolved) {
      if (e.expiresAt < oldestAt) {
        oldestAt = e.expiresAt;
        oldestIp = ip;
      }
    }
    if (oldestIp >= 0) {
      this.#resolved.delete(oldestIp);
      this.#probing.delete(oldestIp);
    }
  }
}

function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}
