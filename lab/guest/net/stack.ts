/**
 * The guest network stack: Ethernet II, ARP, IPv4 (no fragmentation), ICMP echo and UDP over
 * one or more `NetInterface`s.
 *
 * Who calls it: the guest worker (one per VM) owns a `NetStack`. It feeds every received frame
 * to `input()`, calls `tick()` when the delay `tick()` last returned has passed, and calls
 * `onWritable()` when the driver gets TX buffers back. Workloads call `udpSend`, `udpBind` and
 * `ping`. Everything runs on the guest worker's thread; the stack has no timers, workers or
 * runtime APIs of its own and reads time only from the injected `Clock`.
 *
 * Received bytes are untrusted: every malformed frame is a counted drop, never an exception.
 * The UDP send and receive paths allocate nothing per packet: headers are built in place in the
 * driver's buffer by one `fill` function bound at construction (the output path,
 * `frame_writer.ts`), and parsers fill reused objects.
 *
 * @module
 */

import { err, ok, type Result } from "../../../devices/result.ts";
import { Prng } from "../../../devices/prng.ts";
import {
  ARP_LEN,
  type ArpEntry,
  ArpOp,
  ArpTable,
  newArpPacket,
  parseArp,
  writeArp,
} from "./arp.ts";
import { type NetCounters, newNetCounters } from "./counters.ts";
import {
  BROADCAST_MAC,
  ETH_HEADER_LEN,
  EtherType,
  macAt,
  readEtherType,
  writeEthernetHeader,
} from "./ethernet.ts";
import { FrameWriter, ZERO_MAC } from "./frame_writer.ts";
import { ICMP_ECHO_HEADER_LEN, IcmpType, parseIcmpEcho } from "./icmp.ts";
import { inSubnet, IpProtocol, IPV4_HEADER_LEN, newIpv4Header, parseIpv4 } from "./ipv4.ts";
import { parseUdp, UDP_HEADER_LEN } from "./udp.ts";
import type {
  PingOutcome,
  SendOutcome,
  UdpBindError,
  UdpHandler,
  UdpPayload,
  UdpSocket,
} from "./api.ts";

export type { PingOutcome, SendOutcome, UdpBindError, UdpHandler, UdpPayload, UdpSocket };

/**
 * One network interface as the stack sees it (implemented over the virtio-net driver).
 *
 * @example
 * ```ts
 * import type { NetInterface } from "./stack.ts";
 * const lo: NetInterface = {
 *   name: "eth0", mac: new Uint8Array([2, 0, 0, 0, 0, 1]), ip: 0x0a000001, prefix: 24, mtu: 1500,
 *   linkUp: () => true, sendWith: () => false,
 * };
 * ```
 */
export interface NetInterface {
  readonly name: string; // "eth0"
  readonly mac: Uint8Array; // 6 bytes
  readonly ip: number | null; // IPv4 as u32 (big-endian numeric value, 10.0.0.1 = 0x0a000001)
  readonly prefix: number | null;
  readonly mtu: number;
  linkUp(): boolean;
  /** Send one Ethernet frame; false if the TX ring is full (nothing sent). `len` bytes are written by `fill` into a buffer in guest memory (zero copy). */
  sendWith(len: number, fill: (buf: Uint8Array) => void): boolean;
}

/**
 * The time source (ms, fractional).
 *
 * @example
 * ```ts
 * import type { Clock } from "./stack.ts";
 * let t = 0;
 * const clock: Clock = { now: () => t };
 * ```
 */
export interface Clock {
  now(): number; /* ms, fractional */
}

interface OutstandingPing {
  seq: number;
  sentAt: number;
  deadline: number;
  resolve: (o: PingOutcome) => void;
}

/**
 * The stack. See the module doc for who drives it.
 *
 * @example
 * ```ts
 * import { NetStack } from "./stack.ts";
 * let t = 0;
 * const stack = new NetStack({ interfaces: [], clock: { now: () => t }, seed: 1 });
 * stack.udpSend({ ip: 0x0a000002, port: 9 }, 9, new Uint8Array(4)); // "no-route"
 * ```
 */
export class NetStack {
  /** Live counters (copy with `snapshotCounters` before serialising). */
  readonly counters: NetCounters = newNetCounters();
  readonly #ifaces: NetInterface[];
  readonly #clock: Clock;
  readonly #prng: Prng;
  readonly #arp = new ArpTable();
  readonly #udp = new Map<number, UdpHandler>();
  readonly #pings = new Map<number, OutstandingPing>();
  readonly #writeWaiters: Array<Array<() => void>>;
  readonly #pingId: number;
  /** The output path: builds the next IPv4 frame in place. */
  readonly #out: FrameWriter;

  // Reused parse targets (receive path allocates nothing).
  readonly #ip = newIpv4Header();
  readonly #arpIn = newArpPacket();
  readonly #arpOut = newArpPacket();
  readonly #icmp = { type: 0, id: 0, seq: 0 };
  readonly #udpIn = { srcPort: 0, dstPort: 0, length: 0 };
  readonly #udpSrc = { ip: 0, port: 0 };

  constructor(opts: { interfaces: NetInterface[]; clock: Clock; seed: number }) {
    this.#ifaces = opts.interfaces;
    this.#clock = opts.clock;
    this.#prng = Prng.fromSeed(opts.seed).fork("net stack");
    this.#out = new FrameWriter(this.#prng.nextU32() & 0xffff);
    this.#pingId = this.#prng.nextU32() & 0xffff;
    this.#writeWaiters = opts.interfaces.map(() => []);
  }

  /** The interfaces, in index order. */
  get interfaces(): readonly NetInterface[] {
    return this.#ifaces;
  }

  /**
   * The interface index whose subnet holds `dst`, or null. Like Linux, a NIC whose link is down
   * keeps its route: frames sent there are dropped by the device (and counted), not rerouted.
   */
  route(dst: number): number | null {
    for (let i = 0; i < this.#ifaces.length; i++) {
      const f = this.#ifaces[i];
      if (f.ip === null || f.prefix === null) continue;
      if (inSubnet(dst, f.ip, f.prefix)) return i;
    }
    return null;
  }

  /** Handle one received frame (the view is only valid during the call). Never throws. */
  input(ifIndex: number, frame: Uint8Array): void {
    const c = this.counters;
    const iface = this.#ifaces[ifIndex];
    if (iface === undefined) {
      c.drops.badInterface++;
      return;
    }
    c.framesIn++;
    c.bytesIn += frame.length;
    const etherType = readEtherType(frame);
    if (etherType < 0) {
      c.drops.truncated++;
    } else if (!macAt(frame, 0, iface.mac) && !macAt(frame, 0, BROADCAST_MAC)) {
      c.drops.notForUs++;
    } else if (etherType === EtherType.arp) {
      this.#inputArp(ifIndex, iface, frame);
    } else if (etherType === EtherType.ipv4) {
      this.#inputIpv4(ifIndex, iface, frame);
    } else {
      c.drops.unknownEthertype++;
    }
  }

  /** Run due timers (ARP retries, ping timeouts); returns ms until the next one, or Infinity. */
  tick(): number {
    const now = this.#clock.now();
    this.#arp.due(
      now,
      (ip, ifIndex) => this.#sendArp(ifIndex, ArpOp.request, BROADCAST_MAC, ip),
      (_ip, dropped) => {
        this.counters.arpFailures++;
        this.counters.drops.arpTimeout += dropped;
      },
    );
    let next = this.#arp.nextDeadline();
    for (const [key, p] of this.#pings) {
      if (p.deadline <= now) {
        this.#pings.delete(key);
        p.resolve({ kind: "timeout", seq: p.seq });
      } else if (p.deadline < next) {
        next = p.deadline;
      }
    }
    return next === Infinity ? Infinity : Math.max(0, next - now);
  }

  /** Called by the integrator when TX space came back on `ifIndex`; wakes `whenWritable`. */
  onWritable(ifIndex: number): void {
    const waiters = this.#writeWaiters[ifIndex];
    if (waiters === undefined || waiters.length === 0) return;
    this.#writeWaiters[ifIndex] = [];
    for (const w of waiters) w();
  }

  /** Resolves at the next `onWritable(ifIndex)`. */
  whenWritable(ifIndex: number): Promise<void> {
    const waiters = this.#writeWaiters[ifIndex];
    if (waiters === undefined) return Promise.resolve();
    return new Promise((resolve) => waiters.push(resolve));
  }

  /** Bind a UDP port (1..65535). */
  udpBind(port: number, handler: UdpHandler): Result<UdpSocket, UdpBindError> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return err({ kind: "bad-port", port });
    if (this.#udp.has(port)) return err({ kind: "port-in-use", port });
    this.#udp.set(port, handler);
    const udp = this.#udp;
    return ok({
      port,
      close() {
        if (udp.get(port) === handler) udp.delete(port);
      },
    });
  }

  /** Send one UDP datagram; see `SendOutcome`. */
  udpSend(dst: { ip: number; port: number }, srcPort: number, payload: UdpPayload): SendOutcome {
    const len = payload instanceof Uint8Array ? payload.length : payload.len;
    this.#out.udp(srcPort, dst.port, payload);
    const r = this.#sendIp(dst.ip, IpProtocol.udp, UDP_HEADER_LEN + len);
    if (r === "sent" || r === "arp-pending") this.counters.udpOut++;
    return r;
  }

  /** Send one echo request of `size` payload bytes and resolve with its reply or timeout. */
  ping(
    dst: number,
    opts: { seq: number; size?: number; timeoutMs?: number },
  ): Promise<PingOutcome> {
    const seq = opts.seq & 0xffff;
    const size = Math.max(0, Math.min(opts.size ?? 56, 65507));
    const key = seq;
    this.#pings.get(key)?.resolve({ kind: "timeout", seq });
    this.#pings.delete(key);
    this.#out.icmpEcho({ type: IcmpType.echoRequest, id: this.#pingId, seq });
    const sentAt = this.#clock.now();
    const r = this.#sendIp(dst, IpProtocol.icmp, ICMP_ECHO_HEADER_LEN + size);
    if (r !== "sent" && r !== "arp-pending") {
      return Promise.resolve({ kind: "send-failed", seq, reason: r });
    }
    this.counters.icmpEchoRequestsOut++;
    return new Promise((resolve) => {
      this.#pings.set(key, { seq, sentAt, deadline: sentAt + (opts.timeoutMs ?? 1000), resolve });
    });
  }

  /** The ARP table rows, for status output. */
  arpCache(): ArpEntry[] {
    return this.#arp.entries(this.#clock.now());
  }

  // ---- output ----

  /** Route and send the frame whose L4 message `#out` was told (`udp` or `icmpEcho`). */
  #sendIp(dst: number, protocol: number, l4Len: number): SendOutcome {
    const c = this.counters;
    const ifIndex = this.route(dst);
    if (ifIndex === null) {
      c.drops.noRoute++;
      return "no-route";
    }
    const iface = this.#ifaces[ifIndex];
    if (IPV4_HEADER_LEN + l4Len > iface.mtu) {
      c.drops.oversize++;
      return "too-big";
    }
    const out = this.#out;
    const len = out.headers(iface.mac, iface.ip ?? 0, dst, protocol, l4Len);
    const now = this.#clock.now();
    const mac = this.#arp.lookup(dst, now);
    if (mac !== null) {
      c.arpCacheHits++;
      out.destination(mac);
      if (!iface.sendWith(len, out.fill)) {
        c.txRingFull++;
        return "ring-full";
      }
      c.framesOut++;
      c.bytesOut += len;
      return "sent";
    }
    // Slow path: build the frame into a queued copy; its destination MAC is written on resolve.
    c.arpCacheMisses++;
    out.destination(ZERO_MAC);
    const frame = new Uint8Array(len);
    out.fill(frame);
    const q = this.#arp.enqueue(dst, ifIndex, frame, now);
    if (q === "queued-send-request") this.#sendArp(ifIndex, ArpOp.request, BROADCAST_MAC, dst);
    if (q === "queue-full" || q === "table-full") {
      c.drops.arpQueueFull++;
      return "arp-queue-full";
    }
    return "arp-pending";
  }

  #sendArp(ifIndex: number, op: number, dstMac: Uint8Array, targetIp: number): void {
    const iface = this.#ifaces[ifIndex];
    const p = this.#arpOut;
    p.op = op;
    p.sha.set(iface.mac.subarray(0, 6));
    p.spa = iface.ip ?? 0;
    p.tha.set(op === ArpOp.request ? ZERO_MAC : dstMac);
    p.tpa = targetIp;
    const len = ETH_HEADER_LEN + ARP_LEN;
    const sent = iface.sendWith(len, (buf) => {
      writeEthernetHeader(buf, { dst: dstMac, src: iface.mac, etherType: EtherType.arp });
      writeArp(buf, ETH_HEADER_LEN, p);
    });
    if (!sent) {
      this.counters.txRingFull++;
      return;
    }
    this.counters.framesOut++;
    this.counters.bytesOut += len;
    if (op === ArpOp.request) this.counters.arpRequestsOut++;
    else this.counters.arpRepliesOut++;
  }

  // ---- input ----

  #inputArp(ifIndex: number, iface: NetInterface, frame: Uint8Array): void {
    const c = this.counters;
    const p = this.#arpIn;
    const r = parseArp(frame, ETH_HEADER_LEN, p);
    if (!r.ok) {
      if (r.error.kind === "truncated") c.drops.truncated++;
      else c.drops.malformed++;
      return;
    }
    if (p.op === ArpOp.request) c.arpRequestsIn++;
    else c.arpRepliesIn++;
    const usable = p.spa !== 0 && (p.sha[0] & 1) === 0; // not a probe, not a multicast sender
    const now = this.#clock.now();
    if (iface.ip === null || p.tpa !== iface.ip) {
      // RFC 826 merge: refresh an entry we already hold, learn nothing new.
      if (usable && this.#arp.lookup(p.spa, now) !== null) this.#learn(p.spa, p.sha, ifIndex);
      c.drops.notForUs++;
      return;
    }
    if (usable) this.#learn(p.spa, p.sha, ifIndex);
    if (p.op === ArpOp.request) {
      const requester = p.sha.slice();
      this.#sendArp(ifIndex, ArpOp.reply, requester, p.spa);
    }
  }

  #learn(ip: number, mac: Uint8Array, ifIndex: number): void {
    const waiting = this.#arp.learn(ip, mac, ifIndex, this.#clock.now());
    const iface = this.#ifaces[waiting.ifIndex];
    for (const frame of waiting.frames) {
      frame.set(mac.subarray(0, 6), 0);
      if (iface.sendWith(frame.length, (buf) => buf.set(frame))) {
        this.counters.framesOut++;
        this.counters.bytesOut += frame.length;
      } else {
        this.counters.drops.ringFullOnFlush++;
      }
    }
  }

  #inputIpv4(ifIndex: number, iface: NetInterface, frame: Uint8Array): void {
    const c = this.counters;
    const h = this.#ip;
    const r = parseIpv4(frame, ETH_HEADER_LEN, h);
    if (!r.ok) {
      const k = r.error.kind;
      if (k === "truncated") c.drops.truncated++;
      else if (k === "bad-checksum") c.drops.badChecksum++;
      else if (k === "fragment") c.drops.fragment++;
      else c.drops.malformed++;
      return;
    }
    if (h.totalLength > iface.mtu) {
      c.drops.oversize++;
      return;
    }
    if (iface.ip === null || h.dst !== iface.ip) {
      c.drops.notForUs++;
      return;
    }
    const l4 = ETH_HEADER_LEN + h.headerLength;
    const l4Len = h.totalLength - h.headerLength;
    if (h.protocol === IpProtocol.udp) this.#inputUdp(ifIndex, frame, l4, l4Len);
    else if (h.protocol === IpProtocol.icmp) this.#inputIcmp(frame, l4, l4Len);
    else c.drops.unknownProtocol++;
  }

  #inputIcmp(frame: Uint8Array, off: number, len: number): void {
    const c = this.counters;
    const m = this.#icmp;
    const r = parseIcmpEcho(frame, off, len, m);
    if (!r.ok) {
      const k = r.error.kind;
      if (k === "truncated") c.drops.truncated++;
      else if (k === "bad-checksum") c.drops.badChecksum++;
      else c.drops.unknownProtocol++;
      return;
    }
    if (m.type === IcmpType.echoRequest) {
      c.icmpEchoRequestsIn++;
      this.#out.icmpEcho({ type: IcmpType.echoReply, id: m.id, seq: m.seq }, frame, off);
      const s = this.#sendIp(this.#ip.src, IpProtocol.icmp, len);
      this.#out.clearEcho();
      if (s === "sent" || s === "arp-pending") c.icmpEchoRepliesOut++;
      return;
    }
    c.icmpEchoRepliesIn++;
    const p = this.#pings.get(m.seq);
    if (m.id !== this.#pingId || p === undefined) return;
    this.#pings.delete(m.seq);
    p.resolve({
      kind: "reply",
      seq: p.seq,
      rttMs: this.#clock.now() - p.sentAt,
      ttl: this.#ip.ttl,
      bytes: len,
    });
  }

  #inputUdp(ifIndex: number, frame: Uint8Array, off: number, len: number): void {
    const c = this.counters;
    const u = this.#udpIn;
    const r = parseUdp(frame, off, len, this.#ip, u);
    if (!r.ok) {
      const k = r.error.kind;
      if (k === "truncated") c.drops.truncated++;
      else if (k === "bad-checksum") c.drops.badChecksum++;
      else c.drops.malformed++;
      return;
    }
    const handler = this.#udp.get(u.dstPort);
    if (handler === undefined) {
      c.drops.noListener++;
      return;
    }
    c.udpIn++;
    this.#udpSrc.ip = this.#ip.src;
    this.#udpSrc.port = u.srcPort;
    handler(this.#udpSrc, frame.subarray(off + UDP_HEADER_LEN, off + u.length), ifIndex);
  }
}
