/**
 * The header layout of a link ring (see `link_ring.ts` for the protocol that runs over it): the
 * magic and version, the byte offsets of every header word, the geometry limits and checks, the
 * counters, and the errors of attaching to a buffer that does not hold a ring.
 *
 * Layout (all offsets in bytes, little-endian on every host we run on; each hot word on its own
 * 64-byte cache line so that the two threads do not share a line they write):
 * ```
 * struct linkRingHeader {
 *   le32 magic;            // 0   "VLRG"
 *   le32 version;          // 4
 *   le32 slots;            // 8   power of two
 *   le32 slotBytes;        // 12  largest frame a slot holds
 *   le32 slotStride;       // 16  align64(8 + framePhase + slotBytes)
 *   le32 framePhase;       // 20  0..7: where a frame starts past an 8-byte boundary
 *   le32 head;             // 64  free-running; written by the producer only
 *   le32 tail;             // 128 free-running; written by the consumer only
 *   le32 consumerWaiting;  // 192 1 = the consumer sleeps (or is about to) and wants a doorbell
 *   f64  producerCounters[6]; // 256 framesIn bytesIn framesDropped bytesDropped publishes wakeups
 *   f64  consumerCounters[4]; // 320 framesOut bytesOut badFrames linkDownDropped
 * };
 * struct slot { le32 len; le32 meta; u8 pad[framePhase]; u8 frame[slotBytes]; pad to 64 };
 *                                                      // from 384, `slots` of them
 * ```
 * Every slot starts on a cache line of its own: a frame that fills its slot would otherwise share
 * its last line with the next slot's words, which the producer writes while the consumer still
 * reads the frame (slots sized by the MTU are full at 1500 bytes; docs/performance.md, "Link rings
 * sized by the MTU").
 * A frame starts `framePhase` bytes past a multiple of 8, chosen by the link's kind to be where
 * its frames start in the guests' buffers (a virtio-net frame 4 bytes past one, after its 12-byte
 * header): V8 copies shared memory word by word only between offsets equal modulo 8, and byte by
 * byte otherwise, five times slower for a 1500-byte frame (docs/performance.md, "Copies at one
 * phase").
 * A slot's `meta` travels with its frame and means what the link's kind says: on Ethernet links, a
 * checksum the receiver still has to complete (`devices/net/checksum.ts`), carried as a tap with
 * IFF_VNET_HDR carries it in the virtio-net header; 0 for none.
 *
 * @module
 */

/** "VLRG" as a little-endian u32. */
export const LINK_RING_MAGIC = 0x4752_4c56;
/**
 * The header layout version (4: slots on cache lines of their own; 3: a frame phase per ring; 2: a
 * meta word per slot).
 */
export const LINK_RING_VERSION = 4;

/** Byte offsets of the header fields. */
export const LinkRingOffset = {
  magic: 0,
  version: 4,
  slots: 8,
  slotBytes: 12,
  slotStride: 16,
  framePhase: 20,
  head: 64,
  tail: 128,
  consumerWaiting: 192,
  producerWaiting: 224,
  producerCounters: 256,
  consumerCounters: 320,
  slotsStart: 384,
} as const;

/** Bytes before a slot's frame: the length word and the meta word. */
export const LINK_SLOT_HEADER = 8;

/** The largest slot count and slot size a ring accepts. */
export const LINK_RING_MAX_SLOTS = 1 << 16;
/** The largest frame a slot can hold (bytes). */
export const LINK_RING_MAX_SLOT_BYTES = 1 << 20;

/** Why a ring could not be created or attached. */
export type LinkRingError =
  /** Link ring buffer has the wrong magic */
  | { kind: "bad-magic"; magic: number }
  /** Link ring buffer has an unsupported layout version */
  | { kind: "bad-version"; version: number }
  /** Link ring geometry is invalid */
  | { kind: "bad-geometry"; slots: number; slotBytes: number; byteLength: number };

/**
 * Render a ring error as a sentence.
 *
 * @example
 * ```ts
 * import { formatLinkRingError } from "./link_ring_layout.ts";
 * formatLinkRingError({ kind: "bad-magic", magic: 0 }); // "Cannot attach link ring: bad magic 0x0"
 * ```
 */
export function formatLinkRingError(e: LinkRingError): string {
  switch (e.kind) {
    case "bad-magic":
      return `Cannot attach link ring: bad magic 0x${e.magic.toString(16)}`;
    case "bad-version":
      return `Cannot attach link ring: unsupported version ${e.version}`;
    case "bad-geometry":
      return `Cannot attach link ring: invalid geometry (${e.slots} slots of ${e.slotBytes} B in ${e.byteLength} B)`;
  }
}

/** Slots start on multiples of this (a cache line), so that no two slots share a line. */
export const LINK_SLOT_ALIGN = 64;

/**
 * The byte stride of one slot: its length and meta words, `framePhase` bytes of padding and
 * `slotBytes` of frame, padded to a cache line ({@linkcode LINK_SLOT_ALIGN}).
 *
 * @example
 * ```ts
 * import { linkRingSlotStride } from "./link_ring_layout.ts";
 * linkRingSlotStride(2048); // 2112
 * linkRingSlotStride(1514, 4); // 1536
 * ```
 */
export function linkRingSlotStride(slotBytes: number, framePhase = 0): number {
  const bytes = LINK_SLOT_HEADER + framePhase + slotBytes;
  return Math.ceil(bytes / LINK_SLOT_ALIGN) * LINK_SLOT_ALIGN;
}

/**
 * Whether `slots` is a power of two up to `LINK_RING_MAX_SLOTS`, `slotBytes` is in
 * 1..`LINK_RING_MAX_SLOT_BYTES` and `framePhase` in 0..7.
 *
 * @example
 * ```ts
 * import { isLinkRingGeometry } from "./link_ring_layout.ts";
 * isLinkRingGeometry(2048, 2048); // true
 * isLinkRingGeometry(300, 2048); // false: not a power of two
 * ```
 */
export function isLinkRingGeometry(slots: number, slotBytes: number, framePhase = 0): boolean {
  return Number.isInteger(slots) && slots >= 1 && slots <= LINK_RING_MAX_SLOTS &&
    (slots & (slots - 1)) === 0 && Number.isInteger(slotBytes) && slotBytes >= 1 &&
    slotBytes <= LINK_RING_MAX_SLOT_BYTES && Number.isInteger(framePhase) && framePhase >= 0 &&
    framePhase < 8;
}

/**
 * The size of the shared buffer of a ring of `slots` slots of `slotBytes` bytes each.
 *
 * @example
 * ```ts
 * import { linkRingBytes } from "./link_ring_layout.ts";
 * linkRingBytes(2048, 2048); // 384 + 2048 * 2056
 * ```
 */
export function linkRingBytes(slots: number, slotBytes: number, framePhase = 0): number {
  return LinkRingOffset.slotsStart + slots * linkRingSlotStride(slotBytes, framePhase);
}

/** The ring's counters, as read from shared memory. */
export interface LinkRingCounters {
  /** Frames committed by the producer. */
  framesIn: number;
  /** Bytes committed by the producer. */
  bytesIn: number;
  /** Frames the producer gave up on (ring full). */
  framesDropped: number;
  /** Bytes of those frames. */
  bytesDropped: number;
  /** Calls to `publish`. */
  publishes: number;
  /** Publishes that found the consumer waiting (the integrator rang its doorbell). */
  wakeups: number;
  /** Frames released by the consumer. */
  framesOut: number;
  /** Bytes released by the consumer. */
  bytesOut: number;
  /** Slots whose length exceeded the slot size (skipped by the consumer). */
  badFrames: number;
  /**
   * Frames the consumer released and discarded because its link was down (a switch port; a NIC
   * counts its own in `rxLinkDown`).
   */
  linkDownDropped: number;
}
