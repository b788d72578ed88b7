/**
 * The output path of the guest network stack: builds one Ethernet + IPv4 + UDP or ICMP echo
 * frame in place, in the buffer the driver hands to `NetInterface.sendWith`.
 *
 * Who calls it: `NetStack` (in `stack.ts`) owns one `FrameWriter`. For each packet it chooses
 * the L4 message (`udp` or `icmpEcho`), sets the addresses (`headers`, `destination`) once the
 * route and ARP are known, and passes the bound `fill` to `sendWith` (or calls it on a queued
 * copy while ARP resolves). It runs on the guest worker's thread and allocates nothing per
 * frame: every header is written from reused objects.
 *
 * @module
 */

import { ETH_HEADER_LEN, EtherType, writeEthernetHeader } from "./ethernet.ts";
import { ICMP_ECHO_HEADER_LEN, writeIcmpEcho } from "./icmp.ts";
import { IPV4_HEADER_LEN, writeIpv4Header } from "./ipv4.ts";
import { UDP_HEADER_LEN, UdpOffset, writeUdp } from "./udp.ts";
import { partialChecksum } from "../../../devices/net/checksum.ts";
import type { UdpPayload } from "./api.ts";

/**
 * The all-zero MAC address (an unresolved destination, or an ARP request's target).
 *
 * @example
 * ```ts
 * import { ZERO_MAC } from "./frame_writer.ts";
 * ZERO_MAC.length; // 6
 * ```
 */
export const ZERO_MAC: Uint8Array = new Uint8Array(6);

/**
 * The bytes before the L4 message: Ethernet and IPv4 headers.
 *
 * @example
 * ```ts
 * import { FRAME_HEADERS } from "./frame_writer.ts";
 * FRAME_HEADERS; // 34
 * ```
 */
export const FRAME_HEADERS: number = ETH_HEADER_LEN + IPV4_HEADER_LEN;

/**
 * Builds the next outgoing IPv4 frame. Set the L4 message and the addresses, then call `fill`.
 *
 * @example
 * ```ts
 * import { FRAME_HEADERS, FrameWriter } from "./frame_writer.ts";
 * const w = new FrameWriter(1);
 * const payload = new Uint8Array([1, 2, 3]);
 * w.udp(9, 9, payload);
 * const len = w.headers(new Uint8Array([2, 0, 0, 0, 0, 1]), 0x0a000001, 0x0a000002, 17, 8 + 3);
 * w.destination(new Uint8Array([2, 0, 0, 0, 0, 2]));
 * const frame = new Uint8Array(len);
 * w.fill(frame); // frame.length === FRAME_HEADERS + 11
 * ```
 */
export class FrameWriter {
  // The frame being built: set by `headers` and `destination`, read by `fill` and the L4 writers.
  readonly #tx = { dstMac: ZERO_MAC, srcMac: ZERO_MAC, src: 0, dst: 0, protocol: 0, l4Len: 0 };
  readonly #ethOut = { dst: ZERO_MAC, src: ZERO_MAC, etherType: EtherType.ipv4 as number };
  readonly #ipOut = { src: 0, dst: 0, protocol: 0, totalLength: 0, id: 0 };
  readonly #udpOut = { srcPort: 0, dstPort: 0, length: 0, src: 0, dst: 0 };
  readonly #icmpOut = { type: 0, id: 0, seq: 0, length: 0 };
  #udpPayload: UdpPayload = ZERO_MAC;
  #echoFrom: Uint8Array = ZERO_MAC;
  #echoFromOff = 0;
  #l4Writer: (buf: Uint8Array, off: number) => void = () => {};
  #ipId: number;
  /** The next `fill` leaves a UDP checksum partial (`offloadChecksum`). */
  #partial = false;

  /** A writer whose first IPv4 identification is `ipId` (16 bits). */
  constructor(ipId: number) {
    this.#ipId = ipId;
  }

  /**
   * The next frame carries a UDP datagram with `payload`.
   *
   * @example
   * ```ts
   * import { FrameWriter } from "./frame_writer.ts";
   * new FrameWriter(0).udp(5000, 9, new Uint8Array(4));
   * ```
   */
  udp(srcPort: number, dstPort: number, payload: UdpPayload): void {
    this.#udpOut.srcPort = srcPort;
    this.#udpOut.dstPort = dstPort;
    this.#udpPayload = payload;
    this.#l4Writer = this.#writeUdp;
  }

  /**
   * The next frame carries an ICMP echo message. Its data is a 0, 1, 2… pattern, or when `from`
   * is given the data of the echo message at `fromOff` in `from` (a reply); call `clearEcho`
   * once the frame is built.
   *
   * @example
   * ```ts
   * import { FrameWriter } from "./frame_writer.ts";
   * new FrameWriter(0).icmpEcho({ type: 8, id: 1, seq: 1 });
   * ```
   */
  icmpEcho(
    m: { type: number; id: number; seq: number },
    from: Uint8Array = ZERO_MAC,
    fromOff = 0,
  ): void {
    this.#icmpOut.type = m.type;
    this.#icmpOut.id = m.id;
    this.#icmpOut.seq = m.seq;
    this.#echoFrom = from;
    this.#echoFromOff = fromOff;
    this.#l4Writer = this.#writeIcmp;
  }

  /**
   * Drop the reference to the frame an echo reply copies its data from.
   *
   * @example
   * ```ts
   * import { FrameWriter } from "./frame_writer.ts";
   * new FrameWriter(0).clearEcho();
   * ```
   */
  clearEcho(): void {
    this.#echoFrom = ZERO_MAC;
  }

  /**
   * Set the source MAC and the IPv4 addresses, protocol and L4 length of the next frame;
   * returns the frame's length.
   *
   * @example
   * ```ts
   * import { FrameWriter } from "./frame_writer.ts";
   * new FrameWriter(0).headers(new Uint8Array(6), 0x0a000001, 0x0a000002, 17, 8); // 42
   * ```
   */
  headers(srcMac: Uint8Array, src: number, dst: number, protocol: number, l4Len: number): number {
    const tx = this.#tx;
    tx.srcMac = srcMac;
    tx.src = src;
    tx.dst = dst;
    tx.protocol = protocol;
    tx.l4Len = l4Len;
    this.#partial = false;
    return FRAME_HEADERS + l4Len;
  }

  /**
   * Set the destination MAC of the next frame (`ZERO_MAC` while ARP resolves it).
   *
   * @example
   * ```ts
   * import { FrameWriter, ZERO_MAC } from "./frame_writer.ts";
   * new FrameWriter(0).destination(ZERO_MAC);
   * ```
   */
  destination(mac: Uint8Array): void {
    this.#tx.dstMac = mac;
  }

  /**
   * Leave the next frame's checksum to the NIC (VIRTIO_NET_F_CSUM) if it is a UDP datagram: the
   * `meta` word to send it with (`partialChecksum`), or 0 when the frame gets a full checksum.
   * Call after `udp`/`icmpEcho` and `headers`; `headers` clears it for the next frame.
   *
   * @example
   * ```ts
   * import { FrameWriter } from "./frame_writer.ts";
   * const w = new FrameWriter(0);
   * w.udp(9, 9, new Uint8Array(0));
   * w.headers(new Uint8Array(6), 1, 2, 17, 8);
   * w.offloadChecksum() !== 0; // true: sum from byte 34, result at 34 + 6
   * ```
   */
  offloadChecksum(): number {
    if (this.#l4Writer !== this.#writeUdp) return 0;
    this.#partial = true;
    return partialChecksum(FRAME_HEADERS, UdpOffset.checksum);
  }

  /**
   * Builds Ethernet + IPv4 headers, then the L4 message, into `buf`. Bound once: no allocation.
   *
   * @example
   * ```ts
   * import { FrameWriter } from "./frame_writer.ts";
   * const w = new FrameWriter(0);
   * w.udp(9, 9, new Uint8Array(0));
   * w.fill(new Uint8Array(w.headers(new Uint8Array(6), 1, 2, 17, 8)));
   * ```
   */
  readonly fill = (buf: Uint8Array): void => {
    const tx = this.#tx;
    const eth = this.#ethOut;
    eth.dst = tx.dstMac;
    eth.src = tx.srcMac;
    writeEthernetHeader(buf, eth);
    const h = this.#ipOut;
    h.src = tx.src;
    h.dst = tx.dst;
    h.protocol = tx.protocol;
    h.totalLength = IPV4_HEADER_LEN + tx.l4Len;
    h.id = this.#ipId;
    this.#ipId = (this.#ipId + 1) & 0xffff;
    writeIpv4Header(buf, ETH_HEADER_LEN, h);
    this.#l4Writer(buf, FRAME_HEADERS);
  };

  readonly #writeUdp = (buf: Uint8Array, off: number): void => {
    const p = this.#udpPayload;
    if (p instanceof Uint8Array) buf.set(p, off + UDP_HEADER_LEN);
    else p.fill(buf, off + UDP_HEADER_LEN);
    const u = this.#udpOut;
    u.length = this.#tx.l4Len;
    u.src = this.#tx.src;
    u.dst = this.#tx.dst;
    writeUdp(buf, off, u, this.#partial);
  };

  readonly #writeIcmp = (buf: Uint8Array, off: number): void => {
    const m = this.#icmpOut;
    m.length = this.#tx.l4Len;
    const data = off + ICMP_ECHO_HEADER_LEN;
    const dataLen = m.length - ICMP_ECHO_HEADER_LEN;
    if (this.#echoFrom === ZERO_MAC) {
      for (let i = 0; i < dataLen; i++) buf[data + i] = i & 0xff;
    } else {
      const from = this.#echoFromOff + ICMP_ECHO_HEADER_LEN;
      buf.set(this.#echoFrom.subarray(from, from + dataLen), data);
    }
    writeIcmpEcho(buf, off, m);
  };
}
