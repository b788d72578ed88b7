/**
 * Host-side plumbing of a lab: link rings between VMs and switches, netem-style impairments on
 * the producer side of a link, the L2 learning-bridge logic of switch nodes, and pcap capture
 * taps. Pure building blocks: the worker entries that run them live elsewhere in `lab/`.
 *
 * @example
 * ```ts
 * import { LinkRing, LearningSwitch, TapReader } from "./mod.ts";
 * const ring = LinkRing.create(2048, 2048);
 * const sw = new LearningSwitch({ ports: 4, agingMs: 300_000 });
 * const tap = TapReader.create(1 << 20, 2048);
 * ```
 *
 * @module
 */

export {
  formatLinkRingError,
  LINK_RING_MAGIC,
  LINK_RING_MAX_SLOT_BYTES,
  LINK_RING_MAX_SLOTS,
  LINK_RING_VERSION,
  LinkRing,
  linkRingBytes,
  type LinkRingCounters,
  type LinkRingError,
  LinkRingOffset,
} from "./link_ring.ts";
export { type ImpairCounters, type Impairment, ImpairStage, NO_IMPAIRMENT } from "./impair.ts";
export {
  formatMac,
  LearningSwitch,
  type LearningSwitchOptions,
  type MacTableEntry,
  type SwitchCounters,
} from "./switch.ts";
export { Pcap, pcapGlobalHeader, pcapRecord, pcapRecordBytes, writePcapRecord } from "./pcap.ts";
export {
  TAP_MAGIC,
  type TapCounters,
  TapDirection,
  type TapError,
  TapOffset,
  TapReader,
  TapWriter,
} from "./tap.ts";
