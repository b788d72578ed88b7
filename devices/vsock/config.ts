/**
 * virtio-vsock config space and feature bits (virtio 1.2 §5.10.3, §5.10.4), reserved CIDs and
 * the event-queue element (§5.10.6.7).
 *
 * ```c
 * struct virtio_vsock_config { le64 guest_cid; }; // upper 32 bits reserved, zero
 * struct virtio_vsock_event  { le32 id; };        // 0 = TRANSPORT_RESET
 * ```
 *
 * @module
 */

/** Feature bits (virtio 1.2 §5.10.3). vlab offers none of them: STREAM is then implied. */
export const VsockFeature = {
  STREAM: 0,
  SEQPACKET: 1,
  NO_IMPLIED_STREAM: 2,
} as const;

/** Config-space offsets. */
export const VsockConfigOffset = {
  GUEST_CID: 0,
} as const;

/** Config-space size in bytes. */
export const VSOCK_CONFIG_SIZE = 8;

/** Well-known and reserved CIDs (Linux `VMADDR_CID_*`). */
export const VsockCid = {
  HYPERVISOR: 0,
  LOCAL: 1,
  HOST: 2,
  ANY: 0xffffffff,
} as const;

/**
 * The highest port a vsock socket may listen on or connect to: 0xffffffff is `VMADDR_PORT_ANY`
 * (a bind to it asks for any free port; the lab's own notices use it), never a port of its own.
 */
export const VSOCK_PORT_MAX = 0xffff_fffe;

/** Event ids on the event queue. */
export const VsockEventId = {
  TRANSPORT_RESET: 0,
} as const;

/** Size of one event element. */
export const VSOCK_EVENT_SIZE = 4;

/** Queue indexes. */
export const VsockQueue = {
  RX: 0,
  TX: 1,
  EVENT: 2,
} as const;

/**
 * Whether `cid` may be a guest's CID: 3 up to 0xfffffffe (0, 1, 2 and 0xffffffff are reserved).
 *
 * @example
 * ```ts
 * import { isGuestCid } from "./config.ts";
 * isGuestCid(3); // true
 * isGuestCid(2); // false: the host
 * ```
 */
export function isGuestCid(cid: number): boolean {
  return Number.isInteger(cid) && cid >= 3 && cid < VsockCid.ANY;
}

/**
 * The 8-byte config space for `guestCid`.
 *
 * @example
 * ```ts
 * import { encodeVsockConfig } from "./config.ts";
 * encodeVsockConfig(0x104)[1]; // 1
 * ```
 */
export function encodeVsockConfig(guestCid: number): Uint8Array {
  const b = new Uint8Array(VSOCK_CONFIG_SIZE);
  for (let i = 0; i < 4; i++) b[i] = (guestCid >>> (8 * i)) & 0xff;
  return b;
}

/**
 * Read `size` config bytes at `offset`, little-endian; out of range reads 0 (the transport's
 * rule for config reads).
 *
 * @example
 * ```ts
 * import { encodeVsockConfig, readVsockConfig } from "./config.ts";
 * readVsockConfig(encodeVsockConfig(0x0304), 0, 2); // 0x0304
 * ```
 */
export function readVsockConfig(bytes: Uint8Array, offset: number, size: 1 | 2 | 4): number {
  if (!Number.isInteger(offset) || offset < 0 || offset + size > bytes.length) return 0;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + bytes[offset + i];
  return v;
}

/**
 * The guest CID a driver reads from config bytes: the low 32 bits (the upper half is reserved).
 *
 * @example
 * ```ts
 * import { encodeVsockConfig, parseVsockConfig } from "./config.ts";
 * parseVsockConfig(encodeVsockConfig(42)); // 42
 * ```
 */
export function parseVsockConfig(bytes: Uint8Array): number {
  let v = 0;
  for (let i = 3; i >= 0; i--) v = v * 256 + (bytes[VsockConfigOffset.GUEST_CID + i] ?? 0);
  return v;
}

/**
 * The most connections a vsock device, and each guest's and the host's socket table, hold at
 * once, as Firecracker's muxer (`MAX_CONNECTIONS`): a connect beyond it is refused (RST).
 */
export const VSOCK_MAX_CONNECTIONS = 1023;
