/**
 * The guest network stack: Ethernet II, ARP, IPv4 (with fragmentation and reassembly,
 * `fragment.ts`), ICMP echo and UDP over
 * one or more `NetInterface`s, plus loopback: a datagram to one of the VM's own addresses is
 * queued and received by the stack itself (on a microtask, never re-entrantly).
 *
 * Who calls it: the guest worker (one per VM) owns a `NetStack`. It feeds every received frame
 * to `input()`, calls `tick()` when the delay `tick()` last returned has passed, and calls
 * `onWritable()` when the driver gets TX buffers back. Workloads call `udpSend`, `udpBind`,
 * `pingOpen` (`pingOnce` in `ping_once.ts` for one answer). Received datagrams are demultiplexed as in Linux: UDP by destination
 * port (one socket per port), echo replies by ICMP identifier (one identifier per ping socket),
 * so concurrent workloads never see each other's traffic. Everything runs on the guest worker's thread; the stack has no timers, workers or
 * runtime APIs of its own and reads time only from the injected `Clock`.
 *
 * Received bytes are untrusted: every malformed frame is a counted drop, never an exception.
 * The UDP send and receive paths allocate nothing per packet: headers are built in place in the
 * driver's buffer by one `fill` function bound at construction (the output path,
 * `frame_writer.ts`), and parsers fill reused objects.
 *
 * @module
 */

import { ok, type Result } from "../../../devices/base/result.ts";
import { Prng } from "../../../devices/base/prng.ts";
import { bytesAtPhase } from "../../../devices/memory/allocator.ts";
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
  formatMac,
  macAt,
  readEtherType,
  writeEthernetHeader,
} from "./ethernet.ts";
import { FrameWriter, ZERO_MAC } from "./frame_writer.ts";
import { ICMP_ECHO_HEADER_LEN, IcmpType, parseIcmpEcho } from "./icmp.ts";
import {
  formatIpv4,
  inSubnet,
  IpProtocol,
  IPV4_HEADER_LEN,
  newIpv4Header,
  parseIpv4,
} from "./ipv4.ts";
import { parseUdp, UDP_HEADER_LEN } from "./udp.ts";
import { LoopbackQueue } from "./loopback.ts";
import { fragmentFrame, MAX_DATAGRAM, Reassembler } from "./fragment.ts";
import { UdpSockets } from "./udp_sockets.ts";
import { Flow, TxBacklog } from "./tx_backlog.ts";
import {
  type EchoOpenError,
  type EchoReply,
  type EchoReplyHandler,
  EchoSockets,
} from "./echo_sockets.ts";
import type {
  ArpRow,
  Clock,
  NetInterface,
  PingOutcome,
  PingSocket,
  SendOutcome,
  UdpBindError,
  UdpHandler,
  UdpPayload,
  UdpSocket,
} from "./api.ts";

export type {
  ArpRow,
  Clock,
  NetInterface,
  PingOutcome,
  PingSocket,
  SendOutcome,
  UdpBindError,
  UdpHandler,
  UdpPayload,
  UdpSocket,
};
export type { EchoOpenError, EchoReply, EchoReplyHandler };

/** Payload views a stack keeps for reuse (a prime, so that RX buffers a stride apart spread out). */
const PAYLOAD_VIEWS = 1021;

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
  /** Neighbours; a stale one is probed with a unicast request to the MAC it had. */
  readonly #arp = new ArpTable(
    {},
    (ip, ifIndex, mac) => this.#sendArp(ifIndex, ArpOp.request, mac, ip),
  );
  readonly #udp = new UdpSockets();
  readonly #echo: EchoSockets;
  readonly #writeWaiters: Array<Array<() => void>>;
  /** Per interface: frames accepted while its TX ring was full (`tx_backlog.ts`). */
  readonly #backlogs: TxBacklog[];
  /** Called when the ARP table learns an address or gives one up (`onNeighbourChange`). */
  readonly #neighbourListeners = new Set<() => void>();
  readonly #loopback = new LoopbackQueue((i, frame) =>
    this.#inputIpv4(i, this.#ifaces[i], frame, MAX_DATAGRAM)
  );
  readonly #reassembly = new Reassembler((reason, n) => this.counters.drops[reason] += n);
  /** The output path: builds the next IPv4 frame in place. */
  readonly #out: FrameWriter;

  // Reused parse targets (receive path allocates nothing).
  readonly #ip = newIpv4Header();
  readonly #arpIn = newArpPacket();
  readonly #arpOut = newArpPacket();
  readonly #icmp = { type: 0, id: 0, seq: 0 };
  readonly #reply: EchoReply = { seq: 0, ttl: 0, bytes: 0, src: 0 };
  readonly #udpIn = { srcPort: 0, dstPort: 0, length: 0 };
  /** Payload views handed to UDP handlers, reused per place in memory (`#payloadView`). */
  readonly #payloadViews: (Uint8Array | undefined)[] = new Array(PAYLOAD_VIEWS);
  /** The guest memory those views lie in (the first shared buffer a datagram came in). */
  #viewsBuffer: ArrayBufferLike | null = null;
  readonly #udpSrc = { ip: 0, port: 0 };

  constructor(opts: { interfaces: NetInterface[]; clock: Clock; seed: number }) {
    this.#ifaces = [...opts.interfaces];
    this.#clock = opts.clock;
    this.#prng = Prng.fromSeed(opts.seed).fork("net stack");
    this.#out = new FrameWriter(this.#prng.nextU32() & 0xffff);
    this.#echo = new EchoSockets(this.#prng.nextU32() & 0xffff);
    this.#writeWaiters = opts.interfaces.map(() => []);
    this.#backlogs = opts.interfaces.map((i) => new TxBacklog(i.framePhase ?? 0));
  }

  /**
   * Add an interface that a device kind started after the stack brings (a vhost-pci-net
   * device); returns its index.
   */
  addInterface(iface: NetInterface): number {
    this.#ifaces.push(iface);
    this.#writeWaiters.push([]);
    this.#backlogs.push(new TxBacklog(iface.framePhase ?? 0));
    return this.#ifaces.length - 1;
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

  /**
   * Handle one received frame (the view is only valid during the call). Never throws.
   * `checksumTrusted`: the NIC vouches for the frame's layer-4 checksum (a partial one from a
   * peer with checksum offload, NEEDS_CSUM), which is then not verified, as Linux does.
   */
  input(ifIndex: number, frame: Uint8Array, checksumTrusted = false): void {
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
      this.#inputIpv4(ifIndex, iface, frame, iface.mtu, checksumTrusted);
    } else {
      c.drops.unknownEthertype++;
    }
  }

  /** Run due timers (ARP retries, reassembly timeouts); returns ms until the next, or Infinity. */
  tick(): number {
    const now = this.#clock.now();
    this.#arp.due(
      now,
      (ip, ifIndex) => this.#sendArp(ifIndex, ArpOp.request, BROADCAST_MAC, ip),
      (_ip, dropped) => {
        this.counters.arpFailures++;
        this.counters.drops.arpTimeout += dropped;
        this.#neighbourChanged();
      },
    );
    this.#reassembly.expire(now);
    const next = Math.min(this.#arp.nextDeadline(), this.#reassembly.nextDeadline());
    return next === Infinity ? Infinity : Math.max(0, next - now);
  }

  /**
   * Called by the integrator when TX space came back on `ifIndex`: sends what waits in the
   * interface's backlog, then wakes `whenWritable`.
   */
  onWritable(ifIndex: number): void {
    if (this.#backlogs[ifIndex]?.length > 0) this.#drain(ifIndex);
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

  /**
   * Call `listener` at each change of the ARP table: an address learned (its queued frames
   * already sent) or given up after its last retry. A workload waiting for a neighbour sleeps
   * until then. Returns the call that removes the listener.
   */
  onNeighbourChange(listener: () => void): () => void {
    this.#neighbourListeners.add(listener);
    return () => this.#neighbourListeners.delete(listener);
  }

  #neighbourChanged(): void {
    for (const listener of this.#neighbourListeners) listener();
  }

  /** Bind a UDP port (1..65535) that no other socket holds. */
  udpBind(port: number, handler: UdpHandler): Result<UdpSocket, UdpBindError> {
    return this.#udp.bind(port, handler);
  }

  /**
   * Bind a free port of the ephemeral range (49152..65535), as Linux does for a socket that
   * sends before it binds: every sender gets its own source port.
   */
  udpBindEphemeral(handler: UdpHandler): Result<UdpSocket, UdpBindError> {
    return this.#udp.bindEphemeral(handler);
  }

  /** Send one UDP datagram; see `SendOutcome`. */
  udpSend(dst: { ip: number; port: number }, srcPort: number, payload: UdpPayload): SendOutcome {
    const len = payload instanceof Uint8Array ? payload.length : payload.len;
    this.#out.udp(srcPort, dst.port, payload);
    const r = this.#sendIp(dst.ip, IpProtocol.udp, UDP_HEADER_LEN + len, Flow.udp(srcPort));
    if (r === "sent" || r === "arp-pending") this.counters.udpOut++;
    return r;
  }

  /**
   * Open a ping socket: a fresh ICMP identifier whose echo replies go to `onReply` only.
   * Fails when all 65536 identifiers are open.
   */
  pingOpen(onReply: EchoReplyHandler): Result<PingSocket, EchoOpenError> {
    const opened = this.#echo.open(onReply);
    if (!opened.ok) return opened;
    const id = opened.value;
    const echo = this.#echo;
    return ok({
      id,
      send: (dst, opts) => this.#sendEcho(dst, id, opts.seq, opts.size ?? 56),
      close: () => echo.close(id, onReply),
    });
  }

  /** The ARP table rendered for people and JSON (`/vms/NAME`): see `ArpRow`. */
  arpRows(): ArpRow[] {
    return this.arpCache().map((e) => ({
      ip: formatIpv4(e.ip),
      mac: e.mac === null ? null : formatMac(e.mac),
      interface: this.#ifaces[e.ifIndex]?.name ?? String(e.ifIndex),
      state: e.state,
      expiresInMs: Math.round(e.expiresInMs),
      pending: e.pending,
    }));
  }

  /** The ARP table rows (numeric addresses), for workloads and tests. */
  arpCache(): ArpEntry[] {
    return this.#arp.entries(this.#clock.now());
  }

  // ---- output ----

  #sendEcho(dst: number, id: number, seq16: number, size: number): SendOutcome {
    const seq = seq16 & 0xffff;
    const payload = Math.max(0, Math.min(Math.trunc(size), 65507));
    this.#out.icmpEcho({ type: IcmpType.echoRequest, id, seq });
    const r = this.#sendIp(dst, IpProtocol.icmp, ICMP_ECHO_HEADER_LEN + payload, Flow.echo(id));
    if (r === "sent" || r === "arp-pending") this.counters.icmpEchoRequestsOut++;
    return r;
  }

  /** The index of the interface that owns `ip`, or null. */
  #ownerOf(ip: number): number | null {
    for (let i = 0; i < this.#ifaces.length; i++) if (this.#ifaces[i].ip === ip) return i;
    return null;
  }

  /** Queue a datagram to one of our own addresses; it is received on the next microtask. */
  #sendLoopback(ifIndex: number, dst: number, protocol: number, l4Len: number): SendOutcome {
    const c = this.counters;
    const iface = this.#ifaces[ifIndex];
    if (IPV4_HEADER_LEN + l4Len > MAX_DATAGRAM) { // loopback's MTU, as Linux's lo: 64 KiB
      c.drops.oversize++;
      return "too-big";
    }
    const out = this.#out;
    const frame = new Uint8Array(out.headers(iface.mac, dst, dst, protocol, l4Len));
    out.destination(iface.mac);
    out.fill(frame);
    if (!this.#loopback.push(ifIndex, frame)) {
      c.drops.loopbackQueueFull++;
      return "ring-full";
    }
    c.loopbackFrames++;
    return "sent";
  }

  /**
   * Route and send the frame whose L4 message `#out` was told (`udp` or `icmpEcho`), as part of
   * `flow` (`tx_backlog.ts`'s `Flow`).
   */
  #sendIp(dst: number, protocol: number, l4Len: number, flow: number): SendOutcome {
    const c = this.counters;
    const own = this.#ownerOf(dst);
    if (own !== null) return this.#sendLoopback(own, dst, protocol, l4Len);
    const ifIndex = this.route(dst);
    if (ifIndex === null) {
      c.drops.noRoute++;
      return "no-route";
    }
    const iface = this.#ifaces[ifIndex];
    if (IPV4_HEADER_LEN + l4Len > MAX_DATAGRAM) {
      c.drops.oversize++;
      return "too-big";
    }
    if (IPV4_HEADER_LEN + l4Len > iface.mtu) {
      return this.#sendFragments(ifIndex, dst, protocol, l4Len, flow);
    }
    const out = this.#out;
    const len = out.headers(iface.mac, iface.ip ?? 0, dst, protocol, l4Len);
    const now = this.#clock.now();
    const mac = this.#arp.lookup(dst, now);
    if (mac !== null) {
      c.arpCacheHits++;
      out.destination(mac);
      const csum = iface.checksumOffload === true ? out.offloadChecksum() : 0;
      if (!this.#transmit(ifIndex, len, out.fill, csum, flow)) {
        c.txRingFull++;
        return "ring-full";
      }
      return "sent";
    }
    // Slow path: build the frame into a queued copy; its destination MAC is written on resolve.
    c.arpCacheMisses++;
    out.destination(ZERO_MAC);
    const frame = bytesAtPhase(len, iface.framePhase ?? 0);
    out.fill(frame);
    const q = this.#arp.enqueue(dst, ifIndex, frame, now);
    if (q === "queued-send-request") this.#sendArp(ifIndex, ArpOp.request, BROADCAST_MAC, dst);
    if (q === "queue-full" || q === "table-full") {
      c.drops.arpQueueFull++;
      return "arp-queue-full";
    }
    return "arp-pending";
  }

  /** Send the datagram `#out` was told in fragments that fit the interface's MTU. */
  #sendFragments(
    ifIndex: number,
    dst: number,
    protocol: number,
    l4Len: number,
    flow: number,
  ): SendOutcome {
    const c = this.counters;
    const iface = this.#ifaces[ifIndex];
    const out = this.#out;
    const whole = new Uint8Array(out.headers(iface.mac, iface.ip ?? 0, dst, protocol, l4Len));
    out.destination(ZERO_MAC);
    out.fill(whole);
    const frames = fragmentFrame(whole, iface.mtu, iface.framePhase ?? 0);
    const now = this.#clock.now();
    const mac = this.#arp.lookup(dst, now);
    if (mac === null) {
      c.arpCacheMisses++;
      for (let i = 0; i < frames.length; i++) {
        const q = this.#arp.enqueue(dst, ifIndex, frames[i], now);
        if (q === "queued-send-request") this.#sendArp(ifIndex, ArpOp.request, BROADCAST_MAC, dst);
        if (q === "queue-full" || q === "table-full") {
          c.drops.arpQueueFull += frames.length - i;
          return "arp-queue-full";
        }
        c.fragmentsOut++;
      }
      return "arp-pending";
    }
    c.arpCacheHits++;
    for (const f of frames) f.set(mac.subarray(0, 6), 0);
    const sent = this.#sendFrames(ifIndex, frames, flow);
    c.fragmentsOut += sent;
    if (sent === frames.length) return "sent";
    // The datagram is lost: what was sent times out in the peer's reassembly.
    if (sent === 0) c.txRingFull++;
    else c.drops.fragmentsUnsent += frames.length - sent;
    return "ring-full";
  }

  /**
   * Hand interface `ifIndex` a frame of `len` bytes that `fill` writes: straight into the TX ring
   * when nothing waits in the backlog and the ring has room, else into the backlog if `flow` may
   * hold one more. False: refused (the ring is full and the flow holds its share), nothing sent.
   */
  #transmit(
    ifIndex: number,
    len: number,
    fill: (buf: Uint8Array) => void,
    csum: number,
    flow: number,
  ): boolean {
    if (this.#sendNow(ifIndex, len, fill, csum)) return true;
    const q = this.#backlogs[ifIndex];
    if (!q.admits(flow, 1)) return false;
    q.holdWith(flow, len, fill, csum);
    this.counters.txHeld++;
    return true;
  }

  /**
   * Hand interface `ifIndex` whole frames built ahead (fragments of one datagram, frames that
   * waited for ARP), in order: those the ring takes go at once, and the rest wait in the backlog
   * together if `flow` may hold them all. Returns how many were sent or held; the others are not
   * sent (the caller counts them).
   */
  #sendFrames(ifIndex: number, frames: readonly Uint8Array[], flow: number): number {
    const q = this.#backlogs[ifIndex];
    for (let i = 0; i < frames.length; i++) {
      const f = frames[i];
      if (this.#sendNow(ifIndex, f.length, (b) => b.set(f), 0)) continue;
      if (!q.admits(flow, frames.length - i)) return i;
      for (let j = i; j < frames.length; j++) q.hold(flow, frames[j], 0);
      this.counters.txHeld += frames.length - i;
      return frames.length;
    }
    return frames.length;
  }

  /**
   * Put a frame into interface `ifIndex`'s TX ring if nothing waits in its backlog (after sending
   * what the ring takes of it) and the ring has room; counted as sent. False: not sent.
   */
  #sendNow(ifIndex: number, len: number, fill: (buf: Uint8Array) => void, csum: number): boolean {
    return (this.#backlogs[ifIndex].length === 0 || this.#drain(ifIndex)) &&
      this.#ringSend(this.#ifaces[ifIndex], len, fill, csum);
  }

  /** Put a frame into the interface's TX ring, counting it; false if the ring has no room. */
  #ringSend(
    iface: NetInterface,
    len: number,
    fill: (buf: Uint8Array) => void,
    csum: number,
  ): boolean {
    if (!iface.sendWith(len, fill, csum)) return false;
    this.counters.framesOut++;
    this.counters.bytesOut += len;
    return true;
  }

  /** Send what waits in interface `ifIndex`'s backlog while its ring takes it; true if none is left. */
  #drain(ifIndex: number): boolean {
    const iface = this.#ifaces[ifIndex];
    const q = this.#backlogs[ifIndex];
    const sent = q.drain((frame, csum) =>
      this.#ringSend(iface, frame.length, (b) => b.set(frame), csum)
    );
    this.counters.txHeldSent += sent;
    return q.length === 0;
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
    const sent = this.#transmit(
      ifIndex,
      len,
      (buf) => {
        writeEthernetHeader(buf, { dst: dstMac, src: iface.mac, etherType: EtherType.arp });
        writeArp(buf, ETH_HEADER_LEN, p);
      },
      0,
      Flow.stack,
    );
    if (!sent) {
      this.counters.txRingFull++;
      return;
    }
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
    const forUs = iface.ip !== null && p.tpa === iface.ip;
    if (p.op === ArpOp.request && forUs) {
      // Linux's neigh_event_ns: the requester is learned, stale (a request proves nothing of
      // whether it hears us), or left as it is if its MAC is the one we hold.
      if (usable) this.#learn(p.spa, p.sha, ifIndex, false);
      const requester = p.sha.slice();
      this.#sendArp(ifIndex, ArpOp.reply, requester, p.spa);
      return;
    }
    // Any other packet updates an entry we hold or are resolving (RFC 826 merge), and learns
    // nothing new. Only a reply unicast to us answers our request or probe: it alone confirms
    // (arp_process: "broadcast replies and request packets do not assert neighbour reachability").
    if (usable && this.#arp.knows(p.spa)) {
      this.#learn(p.spa, p.sha, ifIndex, p.op === ArpOp.reply && macAt(frame, 0, iface.mac));
    }
    if (!forUs) c.drops.notForUs++;
  }

  /** `confirmed`: a solicited reply (reachable); otherwise only heard (see `ArpTable.heard`). */
  #learn(ip: number, mac: Uint8Array, ifIndex: number, confirmed: boolean): void {
    const now = this.#clock.now();
    const waiting = confirmed
      ? this.#arp.learn(ip, mac, ifIndex, now)
      : this.#arp.heard(ip, mac, ifIndex, now);
    for (const frame of waiting.frames) frame.set(mac.subarray(0, 6), 0);
    const sent = this.#sendFrames(waiting.ifIndex, waiting.frames, Flow.neighbour(ip));
    this.counters.drops.ringFullOnFlush += waiting.frames.length - sent;
    this.#neighbourChanged();
  }

  /** `mtu`: the interface's, or the loopback's (64 KiB) for looped-back datagrams. */
  #inputIpv4(
    ifIndex: number,
    iface: NetInterface,
    frame: Uint8Array,
    mtu = iface.mtu,
    checksumTrusted = false,
  ): void {
    const c = this.counters;
    const h = this.#ip;
    const r = parseIpv4(frame, ETH_HEADER_LEN, h);
    if (!r.ok) {
      const k = r.error.kind;
      if (k === "truncated") c.drops.truncated++;
      else if (k === "bad-checksum") c.drops.badChecksum++;
      else c.drops.malformed++;
      return;
    }
    if (h.totalLength > mtu) {
      c.drops.oversize++;
      return;
    }
    if (iface.ip === null || h.dst !== iface.ip) {
      c.drops.notForUs++;
      return;
    }
    let l4 = ETH_HEADER_LEN + h.headerLength;
    let l4Len = h.totalLength - h.headerLength;
    if (h.moreFragments || h.fragmentOffset !== 0) {
      c.fragmentsIn++;
      const whole = this.#reassembly.add(h, frame, l4, this.#clock.now());
      if (whole.kind !== "complete") return;
      c.reassembled++;
      checksumTrusted = false;
      frame = whole.frame;
      l4 = ETH_HEADER_LEN + IPV4_HEADER_LEN;
      l4Len = whole.length;
      h.headerLength = IPV4_HEADER_LEN;
      h.totalLength = IPV4_HEADER_LEN + whole.length;
      h.ttl = whole.ttl;
    }
    if (h.protocol === IpProtocol.udp) this.#inputUdp(ifIndex, frame, l4, l4Len, checksumTrusted);
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
      const s = this.#sendIp(this.#ip.src, IpProtocol.icmp, len, Flow.stack);
      this.#out.clearEcho();
      if (s === "sent" || s === "arp-pending") c.icmpEchoRepliesOut++;
      return;
    }
    c.icmpEchoRepliesIn++;
    const reply = this.#reply;
    reply.seq = m.seq;
    reply.ttl = this.#ip.ttl;
    reply.bytes = len;
    reply.src = this.#ip.src;
    if (!this.#echo.deliver(m.id, reply)) c.drops.unmatchedEchoReply++;
  }

  #inputUdp(
    ifIndex: number,
    frame: Uint8Array,
    off: number,
    len: number,
    checksumTrusted: boolean,
  ): void {
    const c = this.counters;
    const u = this.#udpIn;
    const r = parseUdp(frame, off, len, this.#ip, u, !checksumTrusted);
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
    handler(
      this.#udpSrc,
      this.#payloadView(frame, off + UDP_HEADER_LEN, u.length - UDP_HEADER_LEN),
      ifIndex,
    );
  }

  /**
   * A view of `len` bytes at `at` in `frame`. For a frame in guest memory (the RX buffers, where
   * received frames come back to the same places), the view made last time for that place is
   * reused: a handler's payload is valid only during its call (`UdpHandler`). Frames elsewhere
   * (loopback, reassembled datagrams) get a new view, kept by nobody.
   */
  #payloadView(frame: Uint8Array, at: number, len: number): Uint8Array {
    const buffer = frame.buffer;
    if (buffer !== this.#viewsBuffer) {
      if (this.#viewsBuffer !== null || !(buffer instanceof SharedArrayBuffer)) {
        return frame.subarray(at, at + len);
      }
      this.#viewsBuffer = buffer;
    }
    const offset = frame.byteOffset + at;
    const slot = (offset >>> 3) % PAYLOAD_VIEWS;
    const v = this.#payloadViews[slot];
    if (v !== undefined && v.byteOffset === offset && v.length === len) return v;
    const made = frame.subarray(at, at + len);
    this.#payloadViews[slot] = made;
    return made;
  }
}
