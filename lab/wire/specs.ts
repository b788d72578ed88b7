/**
 * The plain-data specs the plan hands to workers: what a NIC is and what a link direction's
 * impairment is, as resolved values. The topology (layer 7) builds them, the workers (layer 6)
 * read them; they live here, below both, so that neither imports the other.
 *
 * @module
 */

import type { Layout } from "../../devices/virtio/queue.ts";

/** Negotiable virtio-net / ring features a NIC offers. */
export interface NicFeatures {
  /** `VIRTIO_F_EVENT_IDX`: notification suppression by event index. */
  eventIdx: boolean;
  /** `VIRTIO_F_INDIRECT_DESC`: indirect descriptor tables. */
  indirect: boolean;
  /** `VIRTIO_NET_F_MRG_RXBUF`: merge receive buffers. */
  mrgRxbuf: boolean;
  /** `VIRTIO_F_IN_ORDER`: buffers used in the order they were made available. */
  inOrder: boolean;
}

/** One virtio-net NIC of a VM. */
export interface NicSpec {
  /** NIC name, unique within its VM (e.g. `eth0`). */
  name: string;
  /** Lower-case unicast MAC, e.g. `"02:00:00:00:01:00"`. */
  mac: string;
  /** Host address without prefix (e.g. `"10.0.0.1"`), or null for an L2-only NIC. */
  ip: string | null;
  /** Prefix length of `ip`, or null when there is no `ip`. */
  prefix: number | null;
  /** Queue size of each of the NIC's queues. */
  queueSize: number;
  /** Ring layout of the NIC's queues. */
  layout: Layout;
  /** Features the device offers. */
  features: NicFeatures;
  /** MTU in bytes (68..9000). */
  mtu: number;
}

/** netem's delay distributions (the jitter's shape). */
export type DelayDistribution = "uniform" | "normal" | "pareto" | "paretonormal";

/**
 * A Markov loss model, percentages 0..100 (netem's `loss state` and `loss gemodel`; see
 * `lab/host/impair_models.ts`).
 */
export type LossModel =
  | { kind: "state"; p13: number; p31: number; p32: number; p23: number; p14: number }
  | { kind: "gemodel"; p: number; r: number; oneMinusH: number; oneMinusK: number };

/** netem knobs for one direction of a link. Percentages are 0..100. */
export interface Impairment {
  /** Added delay (µs). */
  delayUs: number;
  /** Jitter around the delay (µs): ± this for `uniform`, one standard deviation otherwise. */
  jitterUs: number;
  /** Correlation of successive jitter values, %. */
  delayCorrPct: number;
  /** Shape of the jitter (netem's `distribution`; netem's default is uniform). */
  distribution: DelayDistribution;
  /** Percentage of frames dropped at random (ignored when `lossModel` is set). */
  lossPct: number;
  /** Correlation of successive random loss decisions, %. */
  lossCorrPct: number;
  /** A Markov loss model instead of random loss, or null. */
  lossModel: LossModel | null;
  /** Percentage of frames with one bit flipped. */
  corruptPct: number;
  /** Correlation of corruption decisions, %. */
  corruptCorrPct: number;
  /** Percentage of frames sent twice. */
  duplicatePct: number;
  /** Correlation of duplication decisions, %. */
  duplicateCorrPct: number;
  /** Percentage of frames sent at once, ahead of delayed ones (needs delay or jitter). */
  reorderPct: number;
  /** Correlation of reorder decisions, %. */
  reorderCorrPct: number;
  /** Only every `reorderGap`-th frame may be reordered (netem `gap`; 1 = any frame). */
  reorderGap: number;
  /** Link rate in bits per second; 0 = unlimited. */
  rateBps: number;
  /** Bytes added to (or, negative, taken from) each frame's length for the rate. */
  overheadBytes: number;
  /** Frames the stage may hold; beyond it frames are dropped (netem default 1000). */
  limit: number;
}
