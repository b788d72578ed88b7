/**
 * virtio-net constants and byte layouts (virtio 1.2 §5.1; Linux `virtio_net.h`): feature bits,
 * the config space, and the 12-byte `virtio_net_hdr_v1` that precedes every frame.
 *
 * ```c
 * struct virtio_net_config {            // §5.1.4, read-only for the driver
 *   u8   mac[6];                        // 0
 *   le16 status;                        // 6   (STATUS)
 *   le16 max_virtqueue_pairs;           // 8   (MQ or RSS)
 *   le16 mtu;                           // 10  (MTU)
 * };
 * struct virtio_net_hdr_v1 {            // §5.1.6
 *   u8   flags;                         // 0
 *   u8   gso_type;                      // 1
 *   le16 hdr_len;                       // 2
 *   le16 gso_size;                      // 4
 *   le16 csum_start;                    // 6
 *   le16 csum_offset;                   // 8
 *   le16 num_buffers;                   // 10
 * };
 * ```
 *
 * @module
 */

/** virtio-net feature bit numbers (virtio 1.2 §5.1.3); the ring bits are in `Feature`. */
export const NetFeature = {
  CSUM: 0,
  GUEST_CSUM: 1,
  CTRL_GUEST_OFFLOADS: 2,
  MTU: 3,
  MAC: 5,
  GUEST_TSO4: 7,
  GUEST_TSO6: 8,
  GUEST_ECN: 9,
  GUEST_UFO: 10,
  HOST_TSO4: 11,
  HOST_TSO6: 12,
  HOST_ECN: 13,
  HOST_UFO: 14,
  MRG_RXBUF: 15,
  STATUS: 16,
  CTRL_VQ: 17,
  CTRL_RX: 18,
  CTRL_VLAN: 19,
  GUEST_ANNOUNCE: 21,
  MQ: 22,
  CTRL_MAC_ADDR: 23,
} as const;

/** Spec names of the virtio-net bits by bit number, for `featureNames`. */
export const NET_FEATURE_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(NetFeature).map(([name, bit]) => [bit, name])),
);

/** Queue indices of a single-pair virtio-net device (virtio 1.2 §5.1.2). */
export const NetQueue = {
  /** receiveq1: buffers the device fills with received frames. */
  RECEIVEQ: 0,
  /** transmitq1: frames the driver sends. */
  TRANSMITQ: 1,
} as const;

/**
 * The queues' names by index (`NetQueue`), as the lab spells them everywhere: topology, status,
 * `vlab fault`, events.
 */
export const NET_QUEUE_NAMES: readonly ["receiveq", "transmitq"] = ["receiveq", "transmitq"];

/**
 * The name of queue `q` of a virtio-net device, for a message or an event (`queue 7` for an index
 * that names none).
 *
 * @example
 * ```ts
 * import { netQueueName } from "./config.ts";
 * netQueueName(1); // "transmitq"
 * netQueueName(7); // "queue 7"
 * ```
 */
export function netQueueName(q: number): string {
  return q === NetQueue.RECEIVEQ || q === NetQueue.TRANSMITQ ? NET_QUEUE_NAMES[q] : `queue ${q}`;
}

/** Byte offsets of the config-space fields (virtio 1.2 §5.1.4). */
export const NetConfigOffset = {
  MAC: 0,
  STATUS: 6,
  MAX_VIRTQUEUE_PAIRS: 8,
  MTU: 10,
} as const;

/** Config-space bytes this device exposes (mac, status, max_virtqueue_pairs, mtu). */
export const NET_CONFIG_SIZE = 12;

/** `status` bits of the config space (virtio 1.2 §5.1.4). */
export const NetStatus = {
  LINK_UP: 1,
  ANNOUNCE: 2,
} as const;

/** Size of `virtio_net_hdr_v1` (VERSION_1, no HASH_REPORT). */
export const NET_HDR_SIZE = 12;

/** Byte offsets of the `virtio_net_hdr_v1` fields. */
export const NetHdr = {
  FLAGS: 0,
  GSO_TYPE: 1,
  HDR_LEN: 2,
  GSO_SIZE: 4,
  CSUM_START: 6,
  CSUM_OFFSET: 8,
  NUM_BUFFERS: 10,
} as const;

/** `virtio_net_hdr.flags` bits. */
export const NetHdrFlag = {
  NEEDS_CSUM: 1,
  DATA_VALID: 2,
  RSC_INFO: 4,
} as const;

/** `virtio_net_hdr.gso_type` values (`ECN` is or-ed in). */
export const NetGsoType = {
  NONE: 0,
  TCPV4: 1,
  UDP: 3,
  TCPV6: 4,
  UDP_L4: 5,
  ECN: 0x80,
} as const;

/** Ethernet header bytes: the shortest frame the device forwards. */
export const ETH_HEADER_SIZE = 14;

/** Default MTU (a frame is then at most 1514 bytes without the virtio-net header). */
export const DEFAULT_MTU = 1500;

/** Largest frame for `mtu`: the MTU plus the Ethernet header (virtio 1.2 §5.1.6.2). */
export function maxFrameLen(mtu: number): number {
  return mtu + ETH_HEADER_SIZE;
}

/**
 * The MTU a driver uses: the config `mtu` field when VIRTIO_NET_F_MTU was negotiated (virtio 1.2
 * §5.1.4.2), 1500 otherwise. A field below 68 is not a usable MTU: the driver ignores it, as Linux
 * clears the feature for it.
 *
 * @example
 * ```ts
 * import { driverMtu } from "./config.ts";
 * driverMtu(true, 9000); // 9000
 * driverMtu(false, 9000); // 1500
 * ```
 */
export function driverMtu(mtuNegotiated: boolean, configMtu: number): number {
  return mtuNegotiated && configMtu >= 68 && configMtu <= 65535 ? configMtu : DEFAULT_MTU;
}

/**
 * The link state a driver sees: config `status` bit 0 when VIRTIO_NET_F_STATUS was negotiated;
 * without it the link is assumed up (virtio 1.2 §5.1.4.2) and the field is not read.
 *
 * @example
 * ```ts
 * import { driverLinkUp } from "./config.ts";
 * driverLinkUp(true, 0); // false
 * driverLinkUp(false, 0); // true
 * ```
 */
export function driverLinkUp(statusNegotiated: boolean, status: number): boolean {
  return !statusNegotiated || (status & NetStatus.LINK_UP) !== 0;
}

/** The device's config values, as `encodeNetConfig` lays them out. */
export interface NetConfigValues {
  /** Six MAC bytes. */
  mac: Uint8Array;
  /** Link state (status bit 0). */
  linkUp: boolean;
  /** `max_virtqueue_pairs` (1 for a single pair). */
  maxVirtqueuePairs: number;
  /** `mtu`. */
  mtu: number;
}

/**
 * The config space as bytes. Throws a `RangeError` for a MAC that is not 6 bytes or an MTU
 * outside 68…65535 (programmer errors: these come from the topology, not the guest).
 *
 * @example
 * ```ts
 * import { encodeNetConfig } from "./config.ts";
 * const bytes = encodeNetConfig({ mac: new Uint8Array([2, 0, 0, 0, 0, 1]), linkUp: true,
 *   maxVirtqueuePairs: 1, mtu: 1500 });
 * bytes[6]; // 1 (LINK_UP)
 * ```
 */
export function encodeNetConfig(values: NetConfigValues): Uint8Array {
  if (values.mac.length !== 6) {
    throw new RangeError(
      `Cannot build the net config: mac must be 6 bytes, got ${values.mac.length}`,
    );
  }
  if (!Number.isInteger(values.mtu) || values.mtu < 68 || values.mtu > 65535) {
    throw new RangeError(`Cannot build the net config: mtu must be 68 to 65535, got ${values.mtu}`);
  }
  const bytes = new Uint8Array(NET_CONFIG_SIZE);
  bytes.set(values.mac, NetConfigOffset.MAC);
  writeLe16(bytes, NetConfigOffset.STATUS, values.linkUp ? NetStatus.LINK_UP : 0);
  writeLe16(bytes, NetConfigOffset.MAX_VIRTQUEUE_PAIRS, values.maxVirtqueuePairs);
  writeLe16(bytes, NetConfigOffset.MTU, values.mtu);
  return bytes;
}

/**
 * Read `size` bytes at `offset` little-endian; 0 when the access is not inside `bytes` (the
 * transport's rule for config reads out of range).
 *
 * @example
 * ```ts
 * import { readConfigValue } from "./config.ts";
 * readConfigValue(new Uint8Array([1, 2, 3, 4]), 1, 2); // 0x0302
 * readConfigValue(new Uint8Array(4), 3, 2); // 0 (out of range)
 * ```
 */
export function readConfigValue(bytes: Uint8Array, offset: number, size: 1 | 2 | 4): number {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > bytes.length) return 0;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + bytes[offset + i];
  return v;
}

/** What a driver learns from the config space. */
export interface ParsedNetConfig {
  /** MAC as `aa:bb:cc:dd:ee:ff`. */
  mac: string;
  /** Status bit 0 (assume up when STATUS was not negotiated). */
  linkUp: boolean;
  /** The `mtu` field. */
  mtu: number;
}

/**
 * Decode the config space a driver read (at least `NET_CONFIG_SIZE` bytes; missing bytes read
 * as 0).
 *
 * @example
 * ```ts
 * import { encodeNetConfig, parseNetConfig } from "./config.ts";
 * parseNetConfig(encodeNetConfig({ mac: new Uint8Array([2, 0, 0, 0, 0, 0xa]), linkUp: false,
 *   maxVirtqueuePairs: 1, mtu: 9000 }));
 * // { mac: "02:00:00:00:00:0a", linkUp: false, mtu: 9000 }
 * ```
 */
export function parseNetConfig(bytes: Uint8Array): ParsedNetConfig {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) {
    parts.push(readConfigValue(bytes, NetConfigOffset.MAC + i, 1).toString(16).padStart(2, "0"));
  }
  return {
    mac: parts.join(":"),
    linkUp: (readConfigValue(bytes, NetConfigOffset.STATUS, 2) & NetStatus.LINK_UP) !== 0,
    mtu: readConfigValue(bytes, NetConfigOffset.MTU, 2),
  };
}

/**
 * Write the 12-byte receive header at `at`: every field 0 except `num_buffers` (virtio 1.2
 * §5.1.6.4: flags 0 without GUEST_CSUM, gso_type NONE without GUEST_* offloads).
 *
 * @example
 * ```ts
 * import { NET_HDR_SIZE, writeRxHeader } from "./config.ts";
 * const hdr = new Uint8Array(NET_HDR_SIZE);
 * writeRxHeader(hdr, 0, 3); // hdr[10] === 3
 * ```
 */
export function writeRxHeader(into: Uint8Array, at: number, numBuffers: number): void {
  // Stores, not fill(): a call into the runtime costs more than ten bytes written here.
  for (let i = 0; i < NetHdr.NUM_BUFFERS; i++) into[at + i] = 0;
  writeLe16(into, at + NetHdr.NUM_BUFFERS, numBuffers);
}

/**
 * Write the 12-byte transmit header at `at`: all zero (no CSUM, no GSO; `num_buffers` is 0 on
 * transmit, virtio 1.2 §5.1.6.2).
 *
 * @example
 * ```ts
 * import { writeTxHeader } from "./config.ts";
 * const buf = new Uint8Array(12).fill(7);
 * writeTxHeader(buf, 0); // buf is all zero
 * ```
 */
export function writeTxHeader(into: Uint8Array, at: number): void {
  for (let i = 0; i < NET_HDR_SIZE; i++) into[at + i] = 0; // as in writeRxHeader
}

/**
 * Read a little-endian u16 at `at` (callers bound `at` first).
 *
 * @example
 * ```ts
 * import { readLe16 } from "./config.ts";
 * readLe16(new Uint8Array([0x34, 0x12]), 0); // 0x1234
 * ```
 */
export function readLe16(from: Uint8Array, at: number): number {
  return from[at] | (from[at + 1] << 8);
}

/**
 * Write a little-endian u16 at `at` (callers bound `at` first).
 *
 * @example
 * ```ts
 * import { writeLe16 } from "./config.ts";
 * const b = new Uint8Array(2);
 * writeLe16(b, 0, 0x1234); // b = [0x34, 0x12]
 * ```
 */
export function writeLe16(into: Uint8Array, at: number, value: number): void {
  into[at] = value & 0xff;
  into[at + 1] = (value >>> 8) & 0xff;
}
