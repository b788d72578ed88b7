/**
 * The `udp-flood` workload: send UDP datagrams of a given Ethernet frame size, each carrying a
 * sequence number and its send time (see `flood_payload.ts`), at a fixed rate or as fast as the
 * TX ring allows (`--max`: send until the stack says `ring-full`, the ring and the flow's share of
 * the interface's transmit backlog both taken, then await `whenWritable`, yielding
 * to the worker's event loop every 256 frames). Each flood sends from its own ephemeral source
 * port (bound for its duration), so a sink tells concurrent floods apart.
 *
 * @module
 */

import type { UdpFloodRequest } from "./args.ts";
import { formatIpv4 } from "../net/ipv4.ts";
import type { NetStack, SendOutcome } from "../net/stack.ts";
import { FloodPayload, writeFloodPayload } from "./flood_payload.ts";
import { zeroBytes } from "../../../devices/memory/zero.ts";
import {
  broadcastDestination,
  Changes,
  noInterface,
  rateText,
  waitFor,
  type WorkloadError,
  type WorkloadOptions,
} from "./options.ts";
import { count } from "../../../devices/base/plural.ts";

/** Ethernet + IPv4 + UDP header bytes in front of the payload. */
const OVERHEAD = 14 + 20 + 8;
const YIELD_EVERY = 256;

/**
 * The result of `udp-flood`. `ringFull` counts the times the TX ring was full, `stalls` the times
 * the sender then waited 10 ms for room without a reclaim announcing it (a lost wake-up, or a
 * device that did not run for 10 ms): a healthy lab has next to none. `arpWaits` counts the times
 * the stack's queue of datagrams awaiting the neighbour's ARP reply was full (its entry expired
 * mid-flood and the reply had not come yet: an impaired link can lose or hold the request), after
 * which the sender waited for the ARP table to change.
 *
 * @example
 * ```ts
 * import type { UdpFloodResult } from "./udp_flood.ts";
 * const r: UdpFloodResult = { kind: "udp-flood", dst: "10.0.0.2", port: 9, srcPort: 49152, frameSize: 64, sent: 10, ringFull: 0, stalls: 0, arpWaits: 0, seconds: 1, pps: 10, gbitPerSecond: 5.12e-6, text: "" };
 * ```
 */
export interface UdpFloodResult {
  /** The workload. */
  kind: "udp-flood";
  /** The destination address, dotted. */
  dst: string;
  /** The destination UDP port. */
  port: number;
  /** The ephemeral source port the flood was sent from. */
  srcPort: number;
  /** Bytes of each Ethernet frame (`-s`). */
  frameSize: number;
  /** Datagrams sent. */
  sent: number;
  /** Times the transmit ring was full and the flood waited for room. */
  ringFull: number;
  /** Of `ringFull`, the waits of 10 ms for room that no reclaim announced (next to none). */
  stalls: number;
  /** Times the queue of datagrams awaiting ARP was full and the flood waited for the reply. */
  arpWaits: number;
  /** From the flood's start to its end, s. */
  seconds: number;
  /** Datagrams a second. */
  pps: number;
  /** Frame bytes × 8 / seconds / 1e9. */
  gbitPerSecond: number;
  /** The summary people read (`--json` prints the whole object). */
  text: string;
}

/**
 * Run `udp-flood`.
 *
 * @example
 * ```ts
 * import { runUdpFlood } from "./udp_flood.ts";
 * // await runUdpFlood(stack, { kind: "udp-flood", dst: 0x0a000002, port: 9, frameSize: 64, ratePps: null, seconds: 1, count: null }, opts);
 * ```
 */
export async function runUdpFlood(
  stack: NetStack,
  args: UdpFloodRequest,
  opts: WorkloadOptions,
): Promise<UdpFloodResult | WorkloadError> {
  const dstText = formatIpv4(args.dst);
  const none = noInterface(stack, `flood ${dstText}`);
  if (none !== null) return none;
  const broadcast = broadcastDestination(stack, args.dst, `flood ${dstText}`);
  if (broadcast !== null) return broadcast;
  const ifIndex = stack.route(args.dst);
  if (ifIndex === null) {
    return {
      kind: "error",
      message: `Cannot flood ${dstText}: no interface's subnet holds it`,
      hint: "Check the VM's interface addresses and prefixes in the topology",
    };
  }
  const mtu = stack.interfaces[ifIndex].mtu;
  if (args.frameSize > mtu + 14) {
    return {
      kind: "error",
      message: `Cannot flood ${dstText}: frame size ${args.frameSize} exceeds MTU ${mtu} + 14`,
      hint: `Use -s between 60 and ${mtu + 14}`,
    };
  }
  const bound = stack.udpBindEphemeral(() => {});
  if (!bound.ok) {
    return {
      kind: "error",
      message: `Cannot flood ${dstText}: no free ephemeral UDP port`,
      hint: "Stop some of the VM's running workloads",
    };
  }
  try {
    return await flood(stack, args, opts, ifIndex, bound.value.port);
  } finally {
    bound.value.close();
  }
}

async function flood(
  stack: NetStack,
  args: UdpFloodRequest,
  opts: WorkloadOptions,
  ifIndex: number,
  srcPort: number,
): Promise<UdpFloodResult | WorkloadError> {
  const dstText = formatIpv4(args.dst);
  const clock = opts.clock;
  let seq = 0;
  const payload = {
    len: args.frameSize - OVERHEAD,
    fill: (buf: Uint8Array, off: number) => {
      const from = off + FloodPayload.size, to = off + payload.len;
      zeroBytes(buf, from, to);
      writeFloodPayload(buf, off, seq, clock);
    },
  };
  const dst = { ip: args.dst, port: args.port };
  const r: UdpFloodResult = {
    kind: "udp-flood",
    dst: dstText,
    port: args.port,
    srcPort,
    frameSize: args.frameSize,
    sent: 0,
    ringFull: 0,
    stalls: 0,
    arpWaits: 0,
    seconds: 0,
    pps: 0,
    gbitPerSecond: 0,
    text: "",
  };
  const start = clock.now();
  const end = args.seconds === null ? Infinity : start + args.seconds * 1000;
  const limit = args.count ?? Infinity;
  const sendOne = (): SendOutcome => {
    const s = stack.udpSend(dst, srcPort, payload);
    if (s === "sent" || s === "arp-pending") {
      seq = (seq + 1) >>> 0;
      r.sent++;
    } else if (s === "ring-full") {
      r.ringFull++;
    }
    return s;
  };

  // The first datagram resolves the neighbour; wait for ARP before flooding the pending queue.
  let failure: SendOutcome | null = null;
  if (sendOne() === "arp-pending") {
    await waitResolved(stack, args.dst, opts);
    if (!stack.arpCache().some((e) => e.ip === args.dst && e.mac !== null)) {
      failure = "arp-pending";
    }
  }
  let sinceYield = 0;
  // Bounded by the deadline, the count or the abort signal.
  while (failure === null && !opts.signal.aborted && r.sent < limit && clock.now() < end) {
    if (args.ratePps !== null) {
      const due = Math.floor(((clock.now() - start) * args.ratePps) / 1000) + 1;
      if (r.sent >= due) {
        const wait = (r.sent * 1000) / args.ratePps - (clock.now() - start);
        await opts.sleep(Math.max(1, Math.min(wait, end - clock.now())));
        continue;
      }
    }
    const s = sendOne();
    if (s === "sent" || s === "arp-pending") {
      if (++sinceYield >= YIELD_EVERY) {
        sinceYield = 0;
        await opts.yield();
      }
    } else if (s === "arp-queue-full") {
      // The neighbour's entry was removed (it went stale and its probes went unanswered) and the
      // new request's reply has not come yet: no reclaim will announce room (the TX ring is
      // idle), so wait for the ARP table, not the ring.
      sinceYield = 0;
      r.arpWaits++;
      const pending = stack.arpCache().some((e) => e.ip === args.dst && e.mac === null);
      // (Not pending: the ARP table itself is full, and nothing will announce room in it.)
      if (pending) await waitResolved(stack, args.dst, opts, end);
      else await opts.sleep(10);
    } else if (s === "ring-full") {
      sinceYield = 0;
      // Poll as a fallback in case TX space never gets signalled (counted: it should not be).
      // The fallback's timer is cleared once the signal wins: a flood fills its ring hundreds of
      // times a second, and each left-over timer would fire 10 ms later for nothing.
      if (!await opts.waitAtMost(10, stack.whenWritable(ifIndex))) r.stalls++;
    } else {
      failure = s;
    }
  }
  if (failure !== null) {
    return {
      kind: "error",
      message: failure === "arp-pending"
        ? `Cannot flood ${dstText}: ARP got no reply`
        : `Cannot flood ${dstText}: send failed (${failure})`,
      hint: "Check that the peer is up and on the same link",
    };
  }
  r.seconds = (clock.now() - start) / 1000;
  if (r.seconds > 0) {
    r.pps = r.sent / r.seconds;
    r.gbitPerSecond = (r.sent * args.frameSize * 8) / r.seconds / 1e9;
  }
  r.text = `udp-flood ${dstText}:${r.port} from port ${srcPort}: ${count(r.sent, "datagram")} of ${
    count(r.frameSize, "byte")
  } in ${r.seconds.toFixed(3)} s, ${
    rateText(r.seconds, r.pps, r.gbitPerSecond)
  }; TX ring full ${r.ringFull} times${
    r.stalls > 0 ? `, ${r.stalls} of them not announced within 10 ms` : ""
  }${r.arpWaits > 0 ? `; waited ${count(r.arpWaits, "time")} for an ARP reply` : ""}`;
  return r;
}

/**
 * Wait (at most 3.5 s: 3 ARP tries 1 s apart, and not past `until`) for `ip` to resolve, waking
 * only when the ARP table changes: the flood's first datagram leaves as the reply comes in, not up
 * to a 10 ms step later.
 */
async function waitResolved(
  stack: NetStack,
  ip: number,
  opts: WorkloadOptions,
  until = Infinity,
): Promise<void> {
  const changes = new Changes();
  const off = stack.onNeighbourChange(changes.ring);
  const settled = () => {
    const e = stack.arpCache().find((x) => x.ip === ip);
    return e === undefined || e.mac !== null;
  };
  try {
    await waitFor(opts, settled, Math.min(until, opts.clock.now() + 3500), changes);
  } finally {
    off();
  }
}
