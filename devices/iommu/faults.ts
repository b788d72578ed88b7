/**
 * Per-consumer fault logs and counters in the vIOMMU buffer: written by the consumer that
 * refused an access (single writer), read by anyone (the virtio-iommu device turns them into
 * fault reports; the dashboard shows them).
 *
 * A log is a ring of `CAP_FAULTS` entries and a free-running `faultHead`. The writer fills the
 * entry, then `Atomics.store`s the head (publish faultHead: pairs with observe faultHead in
 * `readFaults`). The reader loads the head, copies entries, then loads the head again and
 * discards any entry the writer may have overwritten meanwhile (counted as lost).
 *
 * @module
 */

import { CONSUMER_WORDS, COUNTER_WORDS, FAULT_WORDS, type ViommuViews } from "./layout.ts";

/** Counter words of a consumer (Float64, one writer). */
export const IotlbCounter = {
  /** Translations served from the IOTLB. */
  hits: 0,
  /** Translations that walked the table. */
  misses: 1,
  /** Times the IOTLB was dropped because the generation moved (UNMAP, DETACH, reset). */
  invalidations: 2,
  /** Accesses refused (never performed). */
  faults: 3,
} as const;

/** Fault reasons, numerically the virtio-iommu fault report reasons (§5.13.6.9). */
export const FaultReason = {
  /** Unknown (the table was busy for the whole retry budget). */
  UNKNOWN: 0,
  /** The endpoint is not attached to a domain. */
  DOMAIN: 1,
  /** Not mapped, or mapped without the permission. */
  MAPPING: 2,
} as const;

/** One refused access. */
export interface FaultRecord {
  /** Position in the consumer's log (free-running). */
  seq: number;
  /** The consumer slot that refused it. */
  consumer: number;
  /** The first IOVA that could not be accessed. */
  iova: number;
  /** Read or write. */
  access: "read" | "write";
  /** The endpoint (device) that tried. */
  endpoint: number;
  /** `FaultReason`. */
  reason: number;
}

/** Append a fault to consumer `slot`'s log (called by that consumer only). */
export function recordFault(
  views: ViommuViews,
  slot: number,
  f: { iova: number; access: "read" | "write"; endpoint: number; reason: number },
): void {
  const { i32, f64, layout } = views;
  const headWord = layout.consumerBase + slot * CONSUMER_WORDS + 2;
  const head = i32[headWord];
  const w = layout.faultBase + (slot * layout.faults + (head >>> 0) % layout.faults) * FAULT_WORDS;
  f64[w] = f.iova;
  f64[w + 1] = f.access === "read" ? 1 : 2;
  f64[w + 2] = f.endpoint;
  f64[w + 3] = f.reason;
  // publish faultHead: pairs with observe faultHead in readFaults.
  Atomics.store(i32, headWord, (head + 1) | 0);
  f64[layout.counterBase + slot * COUNTER_WORDS + IotlbCounter.faults]++;
}

/**
 * Read consumer `slot`'s faults from position `from` (free-running): the records still in the
 * log, the position to continue from, and how many were overwritten before they were read.
 *
 * @example
 * ```ts
 * import { readFaults } from "./faults.ts";
 * import { Viommu } from "./viommu.ts";
 * const v = Viommu.create({ mappings: 8, endpoints: 2, consumers: 1, faults: 4 });
 * readFaults(v.views, 0, 0); // { records: [], next: 0, lost: 0 }
 * ```
 */
export function readFaults(
  views: ViommuViews,
  slot: number,
  from: number,
): { records: FaultRecord[]; next: number; lost: number } {
  const { i32, f64, layout } = views;
  const headWord = layout.consumerBase + slot * CONSUMER_WORDS + 2;
  // observe faultHead: pairs with publish faultHead in recordFault.
  const head = Atomics.load(i32, headWord);
  let start = from;
  let lost = 0;
  if (((head - start) | 0) > layout.faults) {
    lost = ((head - start) | 0) - layout.faults;
    start = (head - layout.faults) | 0;
  }
  const records: FaultRecord[] = [];
  for (let s = start; s !== head; s = (s + 1) | 0) {
    const w = layout.faultBase + (slot * layout.faults + (s >>> 0) % layout.faults) * FAULT_WORDS;
    records.push({
      seq: s,
      consumer: slot,
      iova: f64[w],
      access: f64[w + 1] === 1 ? "read" : "write",
      endpoint: f64[w + 2],
      reason: f64[w + 3],
    });
  }
  // Entries the writer may have overwritten while we copied are not trustworthy.
  const after = Atomics.load(i32, headWord);
  const overwritten = ((after - start) | 0) - layout.faults;
  if (overwritten > 0) {
    const drop = Math.min(overwritten, records.length);
    records.splice(0, drop);
    lost += drop;
  }
  return { records, next: head, lost };
}

/** Consumer `slot`'s counters as a record (tests, metrics). */
export function readIotlbCounters(
  views: ViommuViews,
  slot: number,
): Record<keyof typeof IotlbCounter, number> {
  const base = views.layout.counterBase + slot * COUNTER_WORDS;
  const f = views.f64;
  return {
    hits: f[base + IotlbCounter.hits],
    misses: f[base + IotlbCounter.misses],
    invalidations: f[base + IotlbCounter.invalidations],
    faults: f[base + IotlbCounter.faults],
  };
}
