/**
 * Which impairments a vsock link takes. vsock is a reliable, ordered stream transport (the
 * devices and the guests assume every packet arrives, once, in order, intact): a lost,
 * duplicated, corrupted or reordered packet is not "impairment" but a broken connection (both
 * ends reset it, or a byte stream silently shifts). What is meaningful: `delay` (a longer round
 * trip, so credit binds sooner), `rate` with its per-packet `overhead` (a slower link), and
 * `limit` (how many packets the link holds: beyond it the sender waits; back-pressure, never a
 * drop), and `jitter` (with `delay_correlation` and `distribution`), which here spreads the
 * delay without reordering (a packet is never due before the one sent before it, see
 * `lab/host/impair.ts`). Used by the topology builder (file keys)
 * and by live changes (`vlab link NAME set`, `POST /links/NAME`, `lab.setImpairment`).
 *
 * @module
 */

import { NO_IMPAIRMENT } from "../host/impair.ts";
import type { Impairment } from "./types.ts";

/** The impairment keys a vsock link between two VMs takes. */
export const VSOCK_IMPAIRMENT_KEYS: readonly string[] = [
  "delay",
  "jitter",
  "delay_correlation",
  "distribution",
  "rate",
  "overhead",
  "limit",
];

/**
 * The smallest `limit` a vsock link takes: the stage must be able to hold a whole packet (it
 * drops beyond its limit), and a packet crosses as several pieces on a ring of slots smaller
 * than a header and 64 KiB (8 on a NIC ring's 9216-byte slots; one on the vsock rings the plan
 * gives, `VSOCK_SLOT_BYTES`), so 16 keeps that margin whatever the ring.
 */
export const VSOCK_MIN_LIMIT = 16;

/** A refused impairment: a one-line message and a hint. */
export interface VsockImpairmentProblem {
  /** Sentence case, no final period. */
  message: string;
  /** What to use instead. */
  hint: string;
}

const HINT = "On a vsock link use delay (with jitter), rate (with overhead) or limit (a bound: " +
  "the sender waits, nothing is dropped)";

/**
 * The knobs of `imp` a vsock link cannot take, by key name (empty: it is fine).
 *
 * @example
 * ```ts
 * import { refusedVsockKnobs } from "./vsock_impairment.ts";
 * import { NO_IMPAIRMENT } from "../host/impair.ts";
 * refusedVsockKnobs({ ...NO_IMPAIRMENT, lossPct: 1 }); // ["loss"]
 * ```
 */
export function refusedVsockKnobs(imp: Readonly<Impairment>): string[] {
  const out: string[] = [];
  if (imp.lossPct > 0 || imp.lossModel !== null) out.push("loss");
  if (imp.lossCorrPct > 0) out.push("loss_correlation");
  if (imp.corruptPct > 0) out.push("corrupt");
  if (imp.corruptCorrPct > 0) out.push("corrupt_correlation");
  if (imp.duplicatePct > 0) out.push("duplicate");
  if (imp.duplicateCorrPct > 0) out.push("duplicate_correlation");
  if (imp.reorderPct > 0) out.push("reorder");
  // The knobs of those models alone are refused too, as a topology file refuses their keys on a
  // vsock link: live, `set gap=5` was taken and did nothing.
  if (imp.reorderCorrPct > 0) out.push("reorder_correlation");
  if (imp.reorderGap !== NO_IMPAIRMENT.reorderGap) out.push("gap");
  return out;
}

/**
 * Why link `link` (a vsock link) cannot take `imp`, or null when it can.
 *
 * @example
 * ```ts
 * import { vsockImpairmentProblem } from "./vsock_impairment.ts";
 * import { NO_IMPAIRMENT } from "../host/impair.ts";
 * vsockImpairmentProblem("a-b-vsock", { ...NO_IMPAIRMENT, delayUs: 1000 }); // null
 * ```
 */
export function vsockImpairmentProblem(
  link: string,
  imp: Readonly<Impairment>,
): VsockImpairmentProblem | null {
  const bad = refusedVsockKnobs(imp);
  if (bad.length > 0) {
    return {
      message: `Cannot set ${bad.join(", ")} on vsock link "${link}": vsock is a reliable ` +
        "stream, and a lost, duplicated, corrupted or reordered packet breaks the connection",
      hint: HINT,
    };
  }
  if (imp.limit < VSOCK_MIN_LIMIT) return limitProblem(link, imp.limit);
  return null;
}

/** The hint for a key a vsock link refuses (shared with the topology's problems). */
export const VSOCK_IMPAIRMENT_HINT: string = HINT;

/**
 * The problem of a `limit` too small for a vsock link.
 *
 * @example
 * ```ts
 * import { limitProblem } from "./vsock_impairment.ts";
 * limitProblem("a-b-vsock", 4).hint; // "Use limit 16 or more"
 * ```
 */
export function limitProblem(link: string, limit: number): VsockImpairmentProblem {
  return {
    message: `Cannot set limit ${limit} on vsock link "${link}": the link must hold a whole ` +
      `64 KiB packet (8 slots), so at least ${VSOCK_MIN_LIMIT}`,
    hint: `Use limit ${VSOCK_MIN_LIMIT} or more`,
  };
}
