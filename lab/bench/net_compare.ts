/**
 * The ratios `vlab bench net` prints under its throughput table, as data: checksum offload on
 * against off, CPU placement auto against off, packed against split. `formatNetReport` renders
 * each as one line and the CLI's `--json` carries them as `comparisons`, so that a script reads
 * the same figures as a person.
 *
 * Pure functions over a report's throughput rows; called on the CLI's main thread.
 *
 * @module
 */

import type { PlacementMode, WaitMode } from "../lab.ts";
import type { RingLayout } from "../topology/types.ts";
import { median } from "./net_run.ts";

/**
 * What a comparison reads of a throughput row (`ComparedRow` of `net.ts` has it all; named here
 * so that this module does not import the report that imports it).
 */
export interface ComparedRow {
  /** Ring layout of both NICs. */
  layout: RingLayout;
  /** Whether both NICs offered checksum offload. */
  csum: boolean;
  /** The lab's CPU placement (absent: `auto`). */
  placement?: PlacementMode;
  /** How its host workers slept after work (absent in older reports). */
  hostWait?: WaitMode;
  /** How its guests slept after work (absent in older reports). */
  guestWait?: WaitMode;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** Frames per second received (median of runs). */
  pps: number;
  /** Received pps of each run. */
  runsPps: number[];
  /** CPU time per received frame, µs. */
  cpuUsPerFrame: number;
}

/** One ratio line under the throughput table. */
export interface NetComparison {
  /**
   * What is divided by what: offload `on/off`, placement `auto/off`, host workers' waits
   * `hot/async` or `packed/split`.
   */
  kind:
    | "csum on/off"
    | "placement auto/off"
    | "host wait hot/async"
    | "guest wait hot/async"
    | "packed/split";
  /** The layout both rows share (`split` for `packed/split`). */
  layout: RingLayout;
  /** Ethernet frame bytes. */
  frameSize: number;
  /** The offload setting both rows share (for `csum on/off`: true). */
  csum: boolean;
  /** The placement both rows share (for `placement auto/off`: `auto`). */
  placement: PlacementMode;
  /** The way to wait both rows share (for `host wait hot/async`: `hot`; absent in older reports). */
  hostWait?: WaitMode;
  /** The guests' way to wait both rows share (for `guest wait hot/async`: `hot`). */
  guestWait?: WaitMode;
  /**
   * Frame rate over frame rate: for `csum on/off` the ratio of the two rows' medians (`pps`); for
   * the others the median of the paired runs' ratios (`pairedRuns` of them, from `ppsRatioMin`
   * to `ppsRatioMax`), which can differ from the ratio of the medians.
   */
  ppsRatio: number;
  /** Smallest paired ratio (null for `csum on/off`). */
  ppsRatioMin: number | null;
  /** Largest paired ratio (null for `csum on/off`). */
  ppsRatioMax: number | null;
  /** Pairs of runs (null for `csum on/off`). */
  pairedRuns: number | null;
  /** CPU per frame over CPU per frame (`cpuUsPerFrame`, the rows' medians). */
  cpuPerFrameRatio: number;
}

/**
 * Row `a`'s received rate over row `b`'s, run by run, for two rows of one frame size whose runs
 * were alternated (`runNetBench` runs the layouts, offload settings, placements and ways to wait
 * in turn): one ratio per pair of runs (packed over split, placement on over off, hot over async).
 *
 * @example
 * ```ts
 * import { pairedRatios } from "./net_compare.ts";
 * import type { ComparedRow } from "./net_compare.ts";
 * const row = (layout: "split" | "packed", runsPps: number[]) => ({ layout, runsPps }) as ComparedRow;
 * pairedRatios(row("packed", [110, 90]), row("split", [100, 100])); // [1.1, 0.9]
 * ```
 */
export function pairedRatios(a: ComparedRow, b: ComparedRow): number[] {
  const n = Math.min(a.runsPps.length, b.runsPps.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (b.runsPps[i] > 0) out.push(a.runsPps[i] / b.runsPps[i]);
  }
  return out;
}

const placementOf = (r: ComparedRow): PlacementMode => r.placement ?? "auto";
/** Whether two rows' host workers waited the same way (`hostWait`). */
const sameHostWait = (a: ComparedRow, b: ComparedRow) => a.hostWait === b.hostWait;
/** Whether two rows' guests waited the same way (`guestWait`). */
const sameGuestWait = (a: ComparedRow, b: ComparedRow) => a.guestWait === b.guestWait;
/** Whether two rows' threads all waited the same way. */
const sameWait = (a: ComparedRow, b: ComparedRow) => sameHostWait(a, b) && sameGuestWait(a, b);

/**
 * Every comparison the rows allow, in the order the table prints them: offload, placement, the
 * host workers' waits, the guests' waits, then layouts. Each pairs two rows of one frame size that differ in one setting only.
 *
 * @example
 * ```ts ignore
 * import { netComparisons } from "./net_compare.ts";
 * netComparisons(rows).find((c) => c.kind === "packed/split")?.ppsRatio;
 * ```
 */
export function netComparisons(rows: readonly ComparedRow[]): NetComparison[] {
  const out: NetComparison[] = [];
  const paired = (
    kind: NetComparison["kind"],
    a: ComparedRow,
    b: ComparedRow,
    base: ComparedRow,
  ) => {
    const ratios = pairedRatios(a, b);
    if (ratios.length === 0) return;
    out.push({
      kind,
      layout: base.layout,
      frameSize: base.frameSize,
      csum: base.csum !== false,
      placement: placementOf(base),
      ...(base.hostWait ? { hostWait: base.hostWait } : {}),
      ...(base.guestWait ? { guestWait: base.guestWait } : {}),
      ppsRatio: median(ratios),
      ppsRatioMin: Math.min(...ratios),
      ppsRatioMax: Math.max(...ratios),
      pairedRuns: ratios.length,
      cpuPerFrameRatio: a.cpuUsPerFrame / b.cpuUsPerFrame,
    });
  };
  for (const on of rows.filter((r) => r.csum !== false)) {
    // The same layout, size and placement with offload off.
    const off = rows.find((r) =>
      r.csum === false && r.layout === on.layout && r.frameSize === on.frameSize &&
      placementOf(r) === placementOf(on) && sameWait(r, on)
    );
    if (!off) continue;
    out.push({
      kind: "csum on/off",
      layout: on.layout,
      frameSize: on.frameSize,
      csum: true,
      placement: placementOf(on),
      ...(on.hostWait ? { hostWait: on.hostWait } : {}),
      ...(on.guestWait ? { guestWait: on.guestWait } : {}),
      ppsRatio: on.pps / off.pps,
      ppsRatioMin: null,
      ppsRatioMax: null,
      pairedRuns: null,
      cpuPerFrameRatio: on.cpuUsPerFrame / off.cpuUsPerFrame,
    });
  }
  for (const auto of rows.filter((r) => placementOf(r) === "auto")) {
    const off = rows.find((r) =>
      r.placement === "off" && r.layout === auto.layout && r.frameSize === auto.frameSize &&
      r.csum === auto.csum && sameWait(r, auto)
    );
    if (off) paired("placement auto/off", auto, off, auto);
  }
  for (const hot of rows.filter((r) => r.hostWait === "hot")) {
    const async = rows.find((r) =>
      r.hostWait === "async" && r.layout === hot.layout && r.frameSize === hot.frameSize &&
      r.csum === hot.csum && placementOf(r) === placementOf(hot) && sameGuestWait(r, hot)
    );
    if (async) paired("host wait hot/async", hot, async, hot);
  }
  for (const hot of rows.filter((r) => r.guestWait === "hot")) {
    const async = rows.find((r) =>
      r.guestWait === "async" && r.layout === hot.layout && r.frameSize === hot.frameSize &&
      r.csum === hot.csum && placementOf(r) === placementOf(hot) && sameHostWait(r, hot)
    );
    if (async) paired("guest wait hot/async", hot, async, hot);
  }
  for (const split of rows.filter((r) => r.layout === "split")) {
    const packed = rows.find((r) =>
      r.layout === "packed" && r.frameSize === split.frameSize && r.csum === split.csum &&
      placementOf(r) === placementOf(split) && sameWait(r, split)
    );
    if (packed) paired("packed/split", packed, split, split);
  }
  return out;
}
