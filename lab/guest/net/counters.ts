/**
 * The counters of the guest network stack: plain numbers the stack bumps and status output
 * reads (copy with `snapshotCounters` before serialising).
 *
 * @module
 */

/**
 * Why the stack dropped a frame or a datagram.
 *
 * @example
 * ```ts
 * import { newNetCounters } from "./counters.ts";
 * newNetCounters().drops.badChecksum; // 0
 * ```
 */
export interface NetDrops {
  /** Shorter than a header or than a declared length. */
  truncated: number;
  /** An IPv4, ICMP or UDP checksum that does not verify. */
  badChecksum: number;
  /** Another host's MAC or IP address (including ARP for other hosts). */
  notForUs: number;
  /** An EtherType other than IPv4 and ARP. */
  unknownEthertype: number;
  /** An IP protocol other than ICMP and UDP, or an ICMP type other than echo. */
  unknownProtocol: number;
  /** Well-formed length but invalid fields (IP version, ARP hardware type, UDP length). */
  malformed: number;
  /**
   * An IPv4 fragment that cannot belong to a valid datagram: data not a multiple of 8 (but the
   * last), past 65535 bytes, overlapping another, disagreeing on the end, or a duplicate (an
   * overlap or a disagreement drops the datagram's other fragments too, counted here).
   */
  fragment: number;
  /** Fragments of datagrams evicted to keep reassembly within its bounds (64, 4 MiB). */
  reassemblyLimit: number;
  /** Fragments of datagrams still incomplete 30 s after their first fragment. */
  reassemblyTimeout: number;
  /** Fragments never sent because the TX ring filled in the middle of a datagram. */
  fragmentsUnsent: number;
  /** A received frame larger than the MTU, or a datagram over 65535 bytes asked to be sent. */
  oversize: number;
  /** A UDP datagram to a port nobody bound. */
  noListener: number;
  /** A frame past the pending-queue bound of an unresolved address. */
  arpQueueFull: number;
  /** Frames dropped because their address did not resolve after every retry. */
  arpTimeout: number;
  /** A send to an address outside every interface's subnet. */
  noRoute: number;
  /**
   * Frames resolved by ARP that found the TX ring full when flushed and no room to wait in the
   * interface's transmit backlog (`tx_backlog.ts`; they wait there as the stack's own flow).
   */
  ringFullOnFlush: number;
  /** Input on an interface index the stack does not have. */
  badInterface: number;
  /** An echo reply whose ICMP identifier no open ping socket holds (late, or not ours). */
  unmatchedEchoReply: number;
  /** A datagram to one of our own addresses past the loopback queue's bound. */
  loopbackQueueFull: number;
}

/**
 * Every counter of the stack.
 *
 * @example
 * ```ts
 * import { newNetCounters } from "./counters.ts";
 * const c = newNetCounters();
 * c.framesIn++;
 * ```
 */
export interface NetCounters {
  framesIn: number;
  framesOut: number;
  bytesIn: number;
  bytesOut: number;
  arpRequestsIn: number;
  arpRepliesIn: number;
  arpRequestsOut: number;
  arpRepliesOut: number;
  arpCacheHits: number;
  arpCacheMisses: number;
  /**
   * Addresses given up on: unresolved after every request, or stale and every probe unanswered
   * (the entry is removed).
   */
  arpFailures: number;
  icmpEchoRequestsIn: number;
  icmpEchoRepliesIn: number;
  icmpEchoRequestsOut: number;
  icmpEchoRepliesOut: number;
  udpIn: number;
  udpOut: number;
  /**
   * Sends refused because the TX ring was full and the sender's flow already held its share of
   * the interface's backlog (nothing sent, the caller decides).
   */
  txRingFull: number;
  /** Frames that found the TX ring full and waited in the interface's backlog (`tx_backlog.ts`). */
  txHeld: number;
  /** Of those, frames since sent (`txHeld − txHeldSent` wait now). */
  txHeldSent: number;
  /** Datagrams to one of the VM's own addresses, received through the loopback queue. */
  loopbackFrames: number;
  /** Fragments sent (datagrams larger than the MTU). */
  fragmentsOut: number;
  /** Fragments received for us. */
  fragmentsIn: number;
  /** Datagrams put back together from their fragments. */
  reassembled: number;
  drops: NetDrops;
}

/**
 * Zeroed counters.
 *
 * @example
 * ```ts
 * import { newNetCounters } from "./counters.ts";
 * newNetCounters().framesOut; // 0
 * ```
 */
export function newNetCounters(): NetCounters {
  return {
    framesIn: 0,
    framesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    arpRequestsIn: 0,
    arpRepliesIn: 0,
    arpRequestsOut: 0,
    arpRepliesOut: 0,
    arpCacheHits: 0,
    arpCacheMisses: 0,
    arpFailures: 0,
    icmpEchoRequestsIn: 0,
    icmpEchoRepliesIn: 0,
    icmpEchoRequestsOut: 0,
    icmpEchoRepliesOut: 0,
    udpIn: 0,
    udpOut: 0,
    txRingFull: 0,
    txHeld: 0,
    txHeldSent: 0,
    loopbackFrames: 0,
    fragmentsOut: 0,
    fragmentsIn: 0,
    reassembled: 0,
    drops: {
      truncated: 0,
      badChecksum: 0,
      notForUs: 0,
      unknownEthertype: 0,
      unknownProtocol: 0,
      malformed: 0,
      fragment: 0,
      reassemblyLimit: 0,
      reassemblyTimeout: 0,
      fragmentsUnsent: 0,
      oversize: 0,
      noListener: 0,
      arpQueueFull: 0,
      arpTimeout: 0,
      noRoute: 0,
      ringFullOnFlush: 0,
      badInterface: 0,
      unmatchedEchoReply: 0,
      loopbackQueueFull: 0,
    },
  };
}

/**
 * A deep copy, safe to serialise or compare while the stack keeps counting.
 *
 * @example
 * ```ts
 * import { newNetCounters, snapshotCounters } from "./counters.ts";
 * const c = newNetCounters();
 * const before = snapshotCounters(c);
 * c.drops.truncated++;
 * before.drops.truncated; // 0
 * ```
 */
export function snapshotCounters(c: NetCounters): NetCounters {
  return { ...c, drops: { ...c.drops } };
}

/**
 * Every counter as one flat record, the drops prefixed with `drops` (`dropsBadChecksum`): what
 * the guest worker publishes to its statistics region, so that each drop reaches `/metrics`
 * (as `vlab_guest_stack_drops_bad_checksum`) and the status snapshot.
 *
 * @example
 * ```ts
 * import { flatCounters, newNetCounters } from "./counters.ts";
 * flatCounters(newNetCounters()).dropsBadChecksum; // 0
 * ```
 */
export function flatCounters(c: NetCounters): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(c)) if (typeof v === "number") out[k] = v;
  for (const [k, v] of Object.entries(c.drops)) {
    out[`drops${k[0].toUpperCase()}${k.slice(1)}`] = v;
  }
  return out;
}
