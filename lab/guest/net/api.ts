/**
 * The data types of the stack's socket-level API (sends, UDP sockets, pings), shared by the
 * stack and the workloads.
 *
 * @module
 */

import type { ArpState } from "./arp.ts";

/**
 * What became of a send: `sent` means in the TX ring, or waiting in the interface's transmit
 * backlog for room (`tx_backlog.ts`). `arp-pending` means queued until the address resolves (then
 * sent, or dropped and counted after 3 unanswered requests). `ring-full`: the ring is full and the
 * sender's flow already holds its share of the backlog; nothing was sent, wait for
 * `whenWritable`. `too-big` (larger than the MTU) and `arp-queue-full` (past the pending bound)
 * are counted drops.
 *
 * @example
 * ```ts
 * import type { SendOutcome } from "./api.ts";
 * const o: SendOutcome = "sent";
 * ```
 */
export type SendOutcome =
  | "sent"
  | "arp-pending"
  | "no-route"
  | "ring-full"
  | "too-big"
  | "arp-queue-full";

/**
 * A UDP payload: bytes to copy, or a length and a function writing `len` bytes at
 * `buf[off, off+len)` (in place in the TX buffer: no copy, no allocation).
 *
 * @example
 * ```ts
 * import type { UdpPayload } from "./api.ts";
 * const p: UdpPayload = {
 *   len: 4,
 *   fill: (buf: Uint8Array, off: number) => buf.fill(7, off, off + 4),
 * };
 * ```
 */
export type UdpPayload = Uint8Array | { len: number; fill: (buf: Uint8Array, off: number) => void };

/**
 * Called for each datagram received on a bound port. `src` and `payload` are reused/views and
 * valid only during the call; copy what you keep.
 *
 * @example
 * ```ts
 * import type { UdpHandler } from "./api.ts";
 * const h: UdpHandler = (src, payload) => console.log(src.port, payload.length);
 * ```
 */
export type UdpHandler = (
  src: { ip: number; port: number },
  payload: Uint8Array,
  ifIndex: number,
) => void;

/**
 * A bound UDP port.
 *
 * @example
 * ```ts
 * import type { UdpSocket } from "./api.ts";
 * function stop(s: UdpSocket) { s.close(); }
 * ```
 */
export interface UdpSocket {
  readonly port: number;
  /** Unbind; later datagrams to the port count as `noListener`. */
  close(): void;
}

/**
 * Why `udpBind` failed.
 *
 * @example
 * ```ts
 * import type { UdpBindError } from "./api.ts";
 * const e: UdpBindError = { kind: "port-in-use", port: 7 };
 * ```
 */
export type UdpBindError =
  /** Not an integer in 1..65535. */
  | { kind: "bad-port"; port: number }
  /** Another socket holds the port. */
  | { kind: "port-in-use"; port: number };

/**
 * How one echo request ended.
 *
 * @example
 * ```ts
 * import type { PingOutcome } from "./api.ts";
 * const o: PingOutcome = { kind: "reply", seq: 1, rttMs: 0.1, ttl: 64, bytes: 64 };
 * ```
 */
export type PingOutcome =
  /** `bytes` is the ICMP message length (header plus payload), as iputils prints it. */
  | { kind: "reply"; seq: number; rttMs: number; ttl: number; bytes: number }
  | { kind: "timeout"; seq: number }
  | { kind: "send-failed"; seq: number; reason: SendOutcome };

/**
 * An open ping socket: echo requests sent through it carry its own ICMP identifier, and only
 * the replies carrying that identifier reach its handler.
 *
 * @example
 * ```ts
 * import type { PingSocket } from "./api.ts";
 * function once(s: PingSocket) { s.send(0x0a000002, { seq: 1 }); s.close(); }
 * ```
 */
export interface PingSocket {
  /** The ICMP identifier, unique among the open ping sockets. */
  readonly id: number;
  /** Send one echo request with `size` payload bytes (default 56). */
  send(dst: number, opts: { seq: number; size?: number }): SendOutcome;
  /** Release the identifier; later replies to it are counted as `unmatchedEchoReply`. */
  close(): void;
}

/**
 * One ARP table row as status output shows it: dotted IP, `aa:bb:…` MAC, interface name.
 *
 * @example
 * ```ts
 * import type { ArpRow } from "./api.ts";
 * const r: ArpRow = { ip: "10.0.0.2", mac: "02:00:00:00:00:02", interface: "eth0", state: "reachable", expiresInMs: 1000, pending: 0 };
 * ```
 */
export interface ArpRow {
  ip: string;
  /** Null while incomplete. */
  mac: string | null;
  interface: string;
  /** As `ip neigh` names it (see `ArpState`). */
  state: ArpState;
  expiresInMs: number;
  pending: number;
}

/**
 * One network interface as the stack sees it (implemented over the virtio-net driver).
 *
 * @example
 * ```ts
 * import type { NetInterface } from "./api.ts";
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
  /**
   * Whether the NIC takes frames whose layer-4 checksum is left partial (VIRTIO_NET_F_CSUM
   * negotiated): then `sendWith`'s `csum` may carry one. Absent: false.
   */
  readonly checksumOffload?: boolean;
  /**
   * Where the NIC's buffers put a frame past a multiple of 8 (0..7; absent: 0). Frames the stack
   * builds ahead of time (fragments, frames waiting for ARP) start there too, so that `fill`'s copy
   * into guest memory runs word by word.
   */
  readonly framePhase?: number;
  /**
   * Send one Ethernet frame; false if the TX ring is full (nothing sent). `len` bytes are written
   * by `fill` into a buffer in guest memory (zero copy). `csum` is 0, or the partial checksum the
   * frame leaves to the NIC (`partialChecksum`, only when `checksumOffload`).
   */
  sendWith(len: number, fill: (buf: Uint8Array) => void, csum?: number): boolean;
}

/**
 * The time source (ms, fractional).
 *
 * @example
 * ```ts
 * import type { Clock } from "./api.ts";
 * let t = 0;
 * const clock: Clock = { now: () => t };
 * ```
 */
export interface Clock {
  now(): number; /* ms, fractional */
}
