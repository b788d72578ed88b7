/**
 * Reading the shared mapping table from any thread: the seqlock-protected walk that an IOTLB
 * does on a miss.
 *
 * The owner (viommu.ts) writes the mapping and endpoint tables between two increments of `SEQ`
 * (odd while writing). A walk loads `SEQ`, reads what it needs with plain loads, then loads
 * `SEQ` again: if it was odd or changed, the walk saw a torn or stale table and retries. It
 * spins first, then sleeps a little between tries, for up to `WALK_DEADLINE_MS`: a busy table
 * means the owner is writing (many MAPs and UNMAPs in a row) or was descheduled mid-write, and
 * a walk that gave up there refused a valid access (one in a thousand floods of a loaded
 * machine lost frames that way: the vhost-pci peer saw a "fault" and its connection ended).
 * Only an owner stuck mid-write for the whole deadline makes it refuse (`"busy"`); a restarted
 * owner ends an odd `SEQ` when it reopens the table.
 *
 * @module
 */

import { EndpointState, Hdr, MAPPING_WORDS, PERM_MASK, type ViommuViews } from "./layout.ts";

/** Why a walk found no usable translation. */
export type WalkMiss =
  /** The endpoint is not attached and not in bypass (fault reason DOMAIN). */
  | "domain"
  /** No mapping of the endpoint's domain covers the address (fault reason MAPPING). */
  | "unmapped"
  /** The table kept changing for the whole retry budget. */
  | "busy";

/** What a walk found; the object is reused by its caller. */
export interface WalkResult {
  /** `null` on success. */
  miss: WalkMiss | null;
  /** Endpoint state at the walk (`EndpointState`). */
  endpointState: number;
  /** The endpoint's domain (when attached). */
  domain: number;
  /** The mapping: first IOVA. */
  start: number;
  /** The mapping: last IOVA (inclusive). */
  end: number;
  /** The mapping: GPA of `start`. */
  gpa: number;
  /** The mapping: `Perm` bits. */
  perms: number;
}

/** A fresh result object for `walk`. */
export function newWalkResult(): WalkResult {
  return { miss: null, endpointState: 0, domain: 0, start: 0, end: 0, gpa: 0, perms: 0 };
}

/** Tries of a walk that spins before it starts sleeping between tries. */
export const WALK_SPINS = 1_000;
/** How long a walk waits for a table the owner keeps writing before it refuses, ms. */
export const WALK_DEADLINE_MS = 2_000;
/** Each sleep between tries once spinning did not do, ms. */
const WALK_SLEEP_MS = 0.5;

/**
 * Find the mapping of `endpoint`'s domain that contains `iova` (bypass endpoints need none).
 * While the owner writes, it waits (spinning, then sleeping) for up to `deadlineMs`; only then
 * does it give up with `"busy"`. It blocks its thread meanwhile, as a walk on a real IOMMU
 * stalls its device.
 *
 * @example
 * ```ts
 * import { newWalkResult, walk } from "./table.ts";
 * import { Viommu } from "./viommu.ts";
 * const v = Viommu.create({ mappings: 8, endpoints: 2, consumers: 1, faults: 4 });
 * v.attach(1, 0);
 * v.map(1, { start: 0x1000, end: 0x1fff, gpa: 0x5000, perms: 3 });
 * const r = newWalkResult();
 * walk(v.views, 0, 0x1800, r); // r.miss === null, r.gpa === 0x5000
 * ```
 */
export function walk(
  views: ViommuViews,
  endpoint: number,
  iova: number,
  out: WalkResult,
  deadlineMs = WALK_DEADLINE_MS,
): void {
  const { i32, f64, layout } = views;
  let deadline = 0;
  // Bounded by the deadline (checked at every sleep, once the spins are spent).
  for (let attempt = 0;; attempt++) {
    if (attempt >= WALK_SPINS) {
      const now = performance.now();
      if (deadline === 0) deadline = now + deadlineMs;
      else if (now >= deadline) break;
      // A short sleep, so that a descheduled owner gets the core back (the owner notifies no
      // one: a notify per table write would cost every MAP and UNMAP).
      Atomics.wait(i32, Hdr.SEQ, Atomics.load(i32, Hdr.SEQ), WALK_SLEEP_MS);
    }
    // observe SEQ (pairs with the owner's publish in viommu.ts `beginWrite`/`endWrite`).
    const seq = Atomics.load(i32, Hdr.SEQ);
    if (seq & 1) continue;
    const e = layout.endpointBase + 2 * endpoint;
    const state = i32[e];
    const domain = i32[e + 1] >>> 0;
    let miss: WalkMiss | null = null;
    let found = -1;
    if (state === EndpointState.DETACHED) {
      miss = Atomics.load(i32, Hdr.BYPASS_UNATTACHED) === 1 ? null : "domain";
    } else if (state === EndpointState.ATTACHED) {
      const high = Math.min(i32[Hdr.MAP_HIGH], layout.mappings);
      for (let s = 0; s < high; s++) {
        const m = layout.mappingBase + s * MAPPING_WORDS;
        if (f64[m + 4] !== 0 && f64[m] === domain && f64[m + 1] <= iova && iova <= f64[m + 2]) {
          found = m;
          break;
        }
      }
      if (found < 0) miss = "unmapped";
    }
    if (found >= 0) {
      out.start = f64[found + 1];
      out.end = f64[found + 2];
      out.gpa = f64[found + 3];
      out.perms = f64[found + 4] & PERM_MASK;
    }
    // re-observe SEQ: an unchanged even value means the reads above saw one consistent table.
    if (Atomics.load(i32, Hdr.SEQ) !== seq) continue;
    out.miss = miss;
    out.endpointState = state === EndpointState.DETACHED && miss === null
      ? EndpointState.BYPASS
      : state;
    out.domain = domain;
    return;
  }
  out.miss = "busy";
}
