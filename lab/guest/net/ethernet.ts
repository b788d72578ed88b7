/**
 * Ethernet II framing for the guest network stack: the header layout, in-place writers and
 * allocation-free readers. Every reader works on untrusted bytes and checks lengths first.
 *
 * ```
 * struct ethhdr { u8 dst[6]; u8 src[6]; be16 etherType; }   // 14 bytes, then the payload
 * ```
 *
 * @module
 */

/**
 * Byte offsets of the Ethernet II header.
 *
 * @example
 * ```ts
 * import { EthOffset } from "./ethernet.ts";
 * EthOffset.etherType; // 12
 * ```
 */
export const EthOffset = { dst: 0, src: 6, etherType: 12 } as const;

/**
 * Length of the Ethernet II header (no VLAN tag, no FCS).
 *
 * @example
 * ```ts
 * import { ETH_HEADER_LEN } from "./ethernet.ts";
 * ETH_HEADER_LEN; // 14
 * ```
 */
export const ETH_HEADER_LEN = 14;

/**
 * The smallest Ethernet frame without FCS; shorter frames are padded with zeros.
 *
 * @example
 * ```ts
 * import { ETH_MIN_FRAME } from "./ethernet.ts";
 * ETH_MIN_FRAME; // 60
 * ```
 */
export const ETH_MIN_FRAME = 60;

/**
 * The EtherTypes the stack understands.
 *
 * @example
 * ```ts
 * import { EtherType } from "./ethernet.ts";
 * EtherType.arp; // 0x0806
 * ```
 */
export const EtherType = { ipv4: 0x0800, arp: 0x0806 } as const;

/**
 * The broadcast MAC address ff:ff:ff:ff:ff:ff.
 *
 * @example
 * ```ts
 * import { BROADCAST_MAC } from "./ethernet.ts";
 * BROADCAST_MAC.length; // 6
 * ```
 */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * Write the 14-byte Ethernet header at the start of `buf`.
 *
 * @example
 * ```ts
 * import { BROADCAST_MAC, EtherType, writeEthernetHeader } from "./ethernet.ts";
 * const buf = new Uint8Array(60);
 * writeEthernetHeader(buf, { dst: BROADCAST_MAC, src: new Uint8Array(6), etherType: EtherType.arp });
 * buf[12]; // 0x08
 * ```
 */
export function writeEthernetHeader(
  buf: Uint8Array,
  h: { dst: Uint8Array; src: Uint8Array; etherType: number },
): void {
  // Byte loops: two views and two set() calls per frame cost more than twelve stores.
  const dst = h.dst, src = h.src;
  for (let i = 0; i < 6; i++) buf[EthOffset.dst + i] = dst[i];
  for (let i = 0; i < 6; i++) buf[EthOffset.src + i] = src[i];
  buf[EthOffset.etherType] = (h.etherType >>> 8) & 0xff;
  buf[EthOffset.etherType + 1] = h.etherType & 0xff;
}

/**
 * Read the EtherType of a frame, or -1 if the frame is shorter than the header.
 *
 * @example
 * ```ts
 * import { readEtherType } from "./ethernet.ts";
 * readEtherType(new Uint8Array(10)); // -1
 * ```
 */
export function readEtherType(frame: Uint8Array): number {
  if (frame.length < ETH_HEADER_LEN) return -1;
  return (frame[EthOffset.etherType] << 8) | frame[EthOffset.etherType + 1];
}

/**
 * True if the 6 bytes of `buf` at `off` equal `mac` (false if `buf` is too short).
 *
 * @example
 * ```ts
 * import { BROADCAST_MAC, macAt } from "./ethernet.ts";
 * macAt(new Uint8Array(6).fill(0xff), 0, BROADCAST_MAC); // true
 * ```
 */
export function macAt(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
  if (off < 0 || off + 6 > buf.length) return false;
  for (let i = 0; i < 6; i++) if (buf[off + i] !== mac[i]) return false;
  return true;
}

/**
 * Render a MAC address as `aa:bb:cc:dd:ee:ff`.
 *
 * @example
 * ```ts
 * import { formatMac } from "./ethernet.ts";
 * formatMac(new Uint8Array([2, 0, 0, 0, 0, 1])); // "02:00:00:00:00:01"
 * ```
 */
export function formatMac(mac: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((mac[i] ?? 0).toString(16).padStart(2, "0"));
  return parts.join(":");
}
