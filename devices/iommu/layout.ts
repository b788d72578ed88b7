/**
 * The vIOMMU's shared-memory layout: one `SharedArrayBuffer` holds the mapping table, the
 * endpoint table, the consumer slots (acknowledged generations), each consumer's counters and
 * its bounded fault log. Every capacity is fixed at construction, so a reader on another thread
 * can compute the same offsets from the header alone.
 *
 * ```
 * i32 header   [SEQ, GEN, MAP_HIGH, BYPASS_UNATTACHED, CAP_MAPPINGS, CAP_ENDPOINTS,
 *               CAP_CONSUMERS, CAP_FAULTS]
 * i32 endpoint [state, domain]                       × CAP_ENDPOINTS
 * i32 consumer [state, ackGen, faultHead, endpoint]  × CAP_CONSUMERS
 * f64 mapping  [domain, start, end (inclusive), gpa, perms]   × CAP_MAPPINGS
 * f64 counters [hits, misses, invalidations, faults]         × CAP_CONSUMERS
 * f64 faults   [iova, access, endpoint, reason] × CAP_FAULTS × CAP_CONSUMERS
 * ```
 *
 * Who writes what: the mapping and endpoint tables, `SEQ`, `GEN` and `MAP_HIGH` are written by
 * the vIOMMU's owner only (the virtio-iommu device model); a consumer slot's `ackGen`, its
 * counters, its fault log and `faultHead` are written by that consumer only. Addresses are kept
 * below 2^53 (the input range is 48 bits), so a `Float64Array` word holds them exactly.
 *
 * @module
 */

/** Header word indexes (Int32). */
export const Hdr = {
  /** Seqlock word of the mapping and endpoint tables: odd while the owner writes. */
  SEQ: 0,
  /** Invalidation generation: bumped by every UNMAP/DETACH batch. */
  GEN: 1,
  /** One past the highest mapping slot ever used (bounds a table walk). */
  MAP_HIGH: 2,
  /** 1: an unattached endpoint is in bypass (config `bypass`, BYPASS_CONFIG). */
  BYPASS_UNATTACHED: 3,
  /** Mapping capacity. */
  CAP_MAPPINGS: 4,
  /** Endpoint capacity (endpoint IDs are 0…CAP_ENDPOINTS−1). */
  CAP_ENDPOINTS: 5,
  /** Consumer capacity. */
  CAP_CONSUMERS: 6,
  /** Fault-log entries per consumer. */
  CAP_FAULTS: 7,
} as const;

/** Header words. */
export const HEADER_WORDS = 8;
/** Int32 words per endpoint. */
export const ENDPOINT_WORDS = 2;
/** Int32 words per consumer slot. */
export const CONSUMER_WORDS = 4;
/** Float64 words per mapping. */
export const MAPPING_WORDS = 5;
/** Float64 words per consumer's counters. */
export const COUNTER_WORDS = 4;
/** Float64 words per fault-log entry. */
export const FAULT_WORDS = 4;

/** Endpoint `state` values. */
export const EndpointState = {
  /** Not attached to any domain. */
  DETACHED: 0,
  /** Attached to a translating domain. */
  ATTACHED: 1,
  /** Attached to a bypass domain (identity, every access allowed). */
  BYPASS: 2,
} as const;

/** Consumer slot `state` values. */
export const ConsumerState = {
  /** Free slot. */
  FREE: 0,
  /** A registered consumer: UNMAP waits for its acknowledgement. */
  ACTIVE: 1,
  /**
   * A registered consumer whose thread is gone (its VM crashed or its worker failed): it holds
   * nothing, so UNMAP does not wait for it. The next IOTLB built on the slot, with an empty
   * cache, makes it ACTIVE again (`Iotlb`'s constructor).
   */
  PARKED: 2,
} as const;

/** Permission bits of a mapping (numerically the virtio-iommu MAP flags). */
export const Perm = {
  READ: 1,
  WRITE: 2,
} as const;

/** Bits of a mapping's `perms` word that are permissions; `LIVE` marks a used slot. */
export const PERM_MASK = 3;
/** Set in the `perms` word of every live mapping (a MAP may carry no permission at all). */
export const LIVE = 0x100;

/** Capacities of a vIOMMU, chosen at construction. */
export interface ViommuCapacity {
  /** Mappings across every domain. */
  mappings: number;
  /** Endpoints (IDs 0…endpoints−1). */
  endpoints: number;
  /** Consumers (device workers, vhost-pci peers). */
  consumers: number;
  /** Fault-log entries kept per consumer (the newest win). */
  faults: number;
}

/** Offsets (in words of the view's element size) of each region. */
export interface ViommuLayout extends ViommuCapacity {
  /** Int32 index of the first endpoint word. */
  endpointBase: number;
  /** Int32 index of the first consumer word. */
  consumerBase: number;
  /** Float64 index of the first mapping word. */
  mappingBase: number;
  /** Float64 index of the first counter word. */
  counterBase: number;
  /** Float64 index of the first fault-log word. */
  faultBase: number;
  /** Total bytes. */
  bytes: number;
}

/**
 * Compute the layout for `cap`.
 *
 * @example
 * ```ts
 * import { viommuLayout } from "./layout.ts";
 * viommuLayout({ mappings: 64, endpoints: 4, consumers: 2, faults: 8 }).bytes; // 3760
 * ```
 */
export function viommuLayout(cap: ViommuCapacity): ViommuLayout {
  const endpointBase = HEADER_WORDS;
  const consumerBase = endpointBase + cap.endpoints * ENDPOINT_WORDS;
  const i32Words = consumerBase + cap.consumers * CONSUMER_WORDS;
  const mappingBase = Math.ceil(i32Words / 2);
  const counterBase = mappingBase + cap.mappings * MAPPING_WORDS;
  const faultBase = counterBase + cap.consumers * COUNTER_WORDS;
  const f64Words = faultBase + cap.consumers * cap.faults * FAULT_WORDS;
  return {
    ...cap,
    endpointBase,
    consumerBase,
    mappingBase,
    counterBase,
    faultBase,
    bytes: f64Words * 8,
  };
}

/** Both views over a vIOMMU buffer, and its layout read back from the header. */
export interface ViommuViews {
  /** Int32 view (header, endpoints, consumers). */
  readonly i32: Int32Array;
  /** Float64 view (mappings, counters, fault logs). */
  readonly f64: Float64Array;
  /** The layout. */
  readonly layout: ViommuLayout;
}

/**
 * Views over an existing vIOMMU buffer (another thread's); the capacities come from its header.
 *
 * @example
 * ```ts
 * import { openViews } from "./layout.ts";
 * import { Viommu } from "./viommu.ts";
 * const v = Viommu.create({ mappings: 8, endpoints: 2, consumers: 1, faults: 4 });
 * openViews(v.buffer).layout.mappings; // 8
 * ```
 */
export function openViews(buffer: SharedArrayBuffer): ViommuViews {
  const i32 = new Int32Array(buffer);
  const layout = viommuLayout({
    mappings: i32[Hdr.CAP_MAPPINGS],
    endpoints: i32[Hdr.CAP_ENDPOINTS],
    consumers: i32[Hdr.CAP_CONSUMERS],
    faults: i32[Hdr.CAP_FAULTS],
  });
  if (layout.bytes !== buffer.byteLength) {
    throw new RangeError(`not a vIOMMU buffer: ${buffer.byteLength} bytes`);
  }
  return { i32, f64: new Float64Array(buffer), layout };
}

/** Whether generation `acked` has reached `wanted` (free-running 32-bit counters). */
export function reached(acked: number, wanted: number): boolean {
  return ((acked - wanted) | 0) >= 0;
}
