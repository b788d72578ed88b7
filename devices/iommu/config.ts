/**
 * virtio-iommu wire formats (virtio 1.2 §5.13; Linux `include/uapi/linux/virtio_iommu.h`):
 * feature bits, config space, request and response layouts, status codes, PROBE properties
 * and fault reports. Every field is little-endian.
 *
 * ```
 * struct virtio_iommu_config {            // 40 bytes
 *   le64 page_size_mask;                  // @0
 *   struct { le64 start, end; } input_range;  // @8, @16 (end inclusive)
 *   struct { le32 start, end; } domain_range; // @24, @28
 *   le32 probe_size;                      // @32
 *   u8 bypass; u8 reserved[3];            // @36
 * };
 * head { u8 type; u8 reserved[3]; }  tail { u8 status; u8 reserved[3]; }
 * ATTACH  head, le32 domain @4, le32 endpoint @8, le32 flags @12, u8 reserved[4] @16, tail @20
 * DETACH  head, le32 domain @4, le32 endpoint @8, u8 reserved[8] @12, tail @20
 * MAP     head, le32 domain @4, le64 virt_start @8, le64 virt_end @16, le64 phys_start @24,
 *         le32 flags @32, tail @36
 * UNMAP   head, le32 domain @4, le64 virt_start @8, le64 virt_end @16, u8 reserved[4] @24, tail @28
 * PROBE   head, le32 endpoint @4, u8 reserved[64] @8, (device-writable) properties[probe_size],
 *         tail
 * fault   u8 reason @0, u8 reserved[3], le32 flags @4, le32 endpoint @8, u8 reserved[4],
 *         le64 address @16                 // 24 bytes
 * ```
 *
 * @module
 */

/** virtio-iommu feature bits (§5.13.3). */
export const IommuFeature = {
  INPUT_RANGE: 0,
  DOMAIN_RANGE: 1,
  MAP_UNMAP: 2,
  BYPASS: 3,
  PROBE: 4,
  MMIO: 5,
  BYPASS_CONFIG: 6,
} as const;

/** Request types (§5.13.6). */
export const ReqType = {
  ATTACH: 1,
  DETACH: 2,
  MAP: 3,
  UNMAP: 4,
  PROBE: 5,
} as const;

/** Status codes written to a request's tail (§5.13.6). */
export const IommuStatus = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
  DEVERR: 3,
  INVAL: 4,
  RANGE: 5,
  NOENT: 6,
  FAULT: 7,
  NOMEM: 8,
} as const;

/** MAP flags (§5.13.6.5). */
export const MapFlag = { READ: 1, WRITE: 2, MMIO: 4 } as const;

/** ATTACH flags (§5.13.6.3). */
export const ATTACH_F_BYPASS = 1;

/** Fault report flags (§5.13.6.9). */
export const FaultFlag = { READ: 1, WRITE: 2, ADDRESS: 0x100 } as const;

/** PROBE property types and RESV_MEM subtypes (§5.13.6.8). */
export const ProbeProp = { NONE: 0, RESV_MEM: 1, RESV_MEM_SIZE: 24 } as const;

/** RESV_MEM subtypes. */
export const ResvMem = { RESERVED: 0, MSI: 1 } as const;

/** Config space offsets. */
export const IommuConfigOffset = {
  PAGE_SIZE_MASK: 0,
  INPUT_START: 8,
  INPUT_END: 16,
  DOMAIN_START: 24,
  DOMAIN_END: 28,
  PROBE_SIZE: 32,
  BYPASS: 36,
} as const;

/** Size of the config space. */
export const IOMMU_CONFIG_SIZE = 40;
/** Size of a request head and of a tail. */
export const HEAD_SIZE = 4;
/** Size of a tail. */
export const TAIL_SIZE = 4;
/** Bytes of the device-readable part of each request type (head included). */
export const REQ_READABLE: ReadonlyMap<number, number> = new Map([
  [ReqType.ATTACH, 20],
  [ReqType.DETACH, 20],
  [ReqType.MAP, 36],
  [ReqType.UNMAP, 28],
  [ReqType.PROBE, 72],
]);
/** Size of a fault report on the event queue. */
export const FAULT_REPORT_SIZE = 24;

/** The values of the config space. */
export interface IommuConfig {
  /** Supported page sizes; the lowest set bit is the granule. */
  pageSizeMask: number;
  /** First IOVA. */
  inputStart: number;
  /** Last IOVA (inclusive). */
  inputEnd: number;
  /** First domain ID. */
  domainStart: number;
  /** Last domain ID (inclusive). */
  domainEnd: number;
  /** Bytes of PROBE properties. */
  probeSize: number;
  /** Unattached endpoints bypass the IOMMU (BYPASS_CONFIG). */
  bypass: boolean;
}

/**
 * Little-endian reader/writer over a byte array (numbers up to 2^53 for 64-bit fields).
 *
 * @example
 * ```ts
 * import { Le } from "./config.ts";
 * const b = new Uint8Array(8);
 * Le.set64(b, 0, 2 ** 40 + 1);
 * Le.get64(b, 0); // 1099511627777
 * ```
 */
export const Le = {
  /** Read a 16-bit value. */
  get16(b: Uint8Array, o: number): number {
    return b[o] | (b[o + 1] << 8);
  },
  /** Read a 32-bit value. */
  get32(b: Uint8Array, o: number): number {
    return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  },
  /** Read a 64-bit value; above 2^53 it is rounded (and out of every range the lab uses). */
  get64(b: Uint8Array, o: number): number {
    return Le.get32(b, o) + Le.get32(b, o + 4) * 2 ** 32;
  },
  /** Write a 16-bit value. */
  set16(b: Uint8Array, o: number, v: number): void {
    b[o] = v & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
  },
  /** Write a 32-bit value. */
  set32(b: Uint8Array, o: number, v: number): void {
    for (let i = 0; i < 4; i++) b[o + i] = (v >>> (8 * i)) & 0xff;
  },
  /** Write a 64-bit value (an integer up to 2^53). */
  set64(b: Uint8Array, o: number, v: number): void {
    Le.set32(b, o, v % 2 ** 32);
    Le.set32(b, o + 4, Math.floor(v / 2 ** 32));
  },
};

/**
 * Encode the config space.
 *
 * @example
 * ```ts
 * import { encodeIommuConfig } from "./config.ts";
 * const bytes = encodeIommuConfig({ pageSizeMask: 0x1000, inputStart: 0, inputEnd: 2 ** 48 - 1,
 *   domainStart: 1, domainEnd: 1023, probeSize: 512, bypass: false });
 * bytes.length; // 40
 * ```
 */
export function encodeIommuConfig(c: IommuConfig): Uint8Array {
  const b = new Uint8Array(IOMMU_CONFIG_SIZE);
  Le.set64(b, IommuConfigOffset.PAGE_SIZE_MASK, c.pageSizeMask);
  Le.set64(b, IommuConfigOffset.INPUT_START, c.inputStart);
  Le.set64(b, IommuConfigOffset.INPUT_END, c.inputEnd);
  Le.set32(b, IommuConfigOffset.DOMAIN_START, c.domainStart);
  Le.set32(b, IommuConfigOffset.DOMAIN_END, c.domainEnd);
  Le.set32(b, IommuConfigOffset.PROBE_SIZE, c.probeSize);
  b[IommuConfigOffset.BYPASS] = c.bypass ? 1 : 0;
  return b;
}

/**
 * Decode the config space as a driver reads it.
 *
 * @example
 * ```ts
 * import { encodeIommuConfig, parseIommuConfig } from "./config.ts";
 * const c = { pageSizeMask: 0x1000, inputStart: 0, inputEnd: 0xffff_ffff, domainStart: 1,
 *   domainEnd: 7, probeSize: 512, bypass: true };
 * parseIommuConfig(encodeIommuConfig(c)).domainEnd; // 7
 * ```
 */
export function parseIommuConfig(b: Uint8Array): IommuConfig {
  return {
    pageSizeMask: Le.get64(b, IommuConfigOffset.PAGE_SIZE_MASK),
    inputStart: Le.get64(b, IommuConfigOffset.INPUT_START),
    inputEnd: Le.get64(b, IommuConfigOffset.INPUT_END),
    domainStart: Le.get32(b, IommuConfigOffset.DOMAIN_START),
    domainEnd: Le.get32(b, IommuConfigOffset.DOMAIN_END),
    probeSize: Le.get32(b, IommuConfigOffset.PROBE_SIZE),
    bypass: b[IommuConfigOffset.BYPASS] === 1,
  };
}

/** The granule (smallest page size) of a page-size mask: its lowest set bit. */
export function granuleOf(pageSizeMask: number): number {
  if (pageSizeMask <= 0) return 1;
  let g = 1;
  while (g < 2 ** 52 && pageSizeMask % (g * 2) === 0) g *= 2;
  return g;
}

/** A reserved region a PROBE reports (RESV_MEM). */
export interface ReservedRegion {
  /** `ResvMem` subtype. */
  subtype: number;
  /** First IOVA. */
  start: number;
  /** Last IOVA (inclusive). */
  end: number;
}

/**
 * Write PROBE properties into `out` (exactly its length; unused bytes zero). Regions that do not
 * fit are left out.
 */
export function encodeProbe(out: Uint8Array, regions: readonly ReservedRegion[]): void {
  out.fill(0);
  let o = 0;
  for (const r of regions) {
    if (o + ProbeProp.RESV_MEM_SIZE > out.length) break;
    Le.set16(out, o, ProbeProp.RESV_MEM);
    Le.set16(out, o + 2, ProbeProp.RESV_MEM_SIZE - 4);
    out[o + 4] = r.subtype;
    Le.set64(out, o + 8, r.start);
    Le.set64(out, o + 16, r.end);
    o += ProbeProp.RESV_MEM_SIZE;
  }
}

/**
 * Parse PROBE properties as a driver does: stop at NONE or the end, skip unknown types, ignore
 * properties with reserved type bits set, never read past the buffer.
 *
 * @example
 * ```ts
 * import { encodeProbe, parseProbe, ResvMem } from "./config.ts";
 * const b = new Uint8Array(64);
 * encodeProbe(b, [{ subtype: ResvMem.MSI, start: 0x8000000, end: 0x80fffff }]);
 * parseProbe(b); // [{ subtype: 1, start: 0x8000000, end: 0x80fffff }]
 * ```
 */
export function parseProbe(b: Uint8Array): ReservedRegion[] {
  const out: ReservedRegion[] = [];
  let o = 0;
  for (let guard = 0; guard < b.length && o + 4 <= b.length; guard++) {
    const word = Le.get16(b, o);
    const type = word & 0xfff;
    const len = Le.get16(b, o + 2);
    if (type === ProbeProp.NONE) break;
    if (o + 4 + len > b.length) break;
    if (type === ProbeProp.RESV_MEM && (word & 0xf000) === 0 && len >= 20) {
      out.push({ subtype: b[o + 4], start: Le.get64(b, o + 8), end: Le.get64(b, o + 16) });
    }
    o += 4 + len;
  }
  return out;
}

/** Queue indexes of a virtio-iommu device (virtio 1.2 §5.13.2). */
export const IommuQueue = {
  /** Requests from the driver (ATTACH, MAP, UNMAP, …). */
  REQUESTQ: 0,
  /** Fault reports to the driver. */
  EVENTQ: 1,
} as const;
