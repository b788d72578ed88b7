/**
 * The lab-side description of a device kind: what status, snapshot, metrics and the ring view
 * need to read a device slot of that kind without knowing the kind.
 *
 * @module
 */

import type { VsockConnTable } from "../../devices/vsock/conn_table.ts";
import type { DeviceSpec } from "../wire/specs.ts";
import { formatIpv4, formatMac } from "../topology/addresses.ts";

/** What identifies a device slot to a user: its interface (if any) and its link. */
export interface DeviceIdentity {
  /** MAC of the interface the device gives its guest's stack, or null. */
  mac: string | null;
  /** Its address with prefix (`10.0.0.2/24`), or null. */
  ip: string | null;
  /** The link the device is on, or null. */
  link: string | null;
}

/** What `identity` reads of the lab's plan (its link rings; a `LabPlan` is one). */
export interface RingLinks {
  /** Every link ring, by index, with the link it belongs to. */
  readonly rings: ReadonlyArray<{ readonly link: string }>;
}

/** A device with no interface and no link (a virtio-iommu device). */
export const NO_IDENTITY: DeviceIdentity = Object.freeze({ mac: null, ip: null, link: null });

/**
 * The identity of a device that gives its guest's stack an interface (a NIC, a vhost-pci-net
 * device): its MAC and address from its spec, and `link`.
 *
 * @example
 * ```ts
 * import { interfaceIdentity } from "./types.ts";
 * interfaceIdentity({ mac: [2, 0, 0, 0, 0, 1], ip: 0x0a000001, prefix: 24 }, "a-b").ip; // "10.0.0.1/24"
 * ```
 */
export function interfaceIdentity(
  spec: { mac: readonly number[]; ip: number | null; prefix: number | null },
  link: string | null,
): DeviceIdentity {
  return {
    mac: formatMac(spec.mac),
    ip: spec.ip === null ? null : `${formatIpv4(spec.ip)}/${spec.prefix}`,
    link,
  };
}

/** The link a device transmits into (its ring's link), or null. */
export function ringLink(plan: RingLinks, txRing: number): string | null {
  return txRing < 0 ? null : plan.rings[txRing]?.link ?? null;
}

/** Counter indices of one queue in its device's counters (the Queues panel's columns). */
export interface QueueCounterIndices {
  /** Chains the device took from the queue (null: the kind does not count it). */
  requests: number | null;
  /** Bytes moved through the queue, or null. */
  bytes: number | null;
  /** Used-buffer interrupts raised, or null. */
  interrupts: number | null;
  /** Interrupts event suppression saved, or null. */
  suppressed: number | null;
}

/** A device kind as the main thread sees it. */
export interface LabKind {
  /** The kind tag of the plan (`net`, …). */
  kind: string;
  /** The kind shown in snapshots (`virtio-net`, …). */
  snapshotKind: string;
  /** Spec names of the kind's feature bits by bit number (the device-independent ones are added). */
  featureNames: Readonly<Record<number, string>>;
  /** Device counter names → slot index. */
  deviceCounters: Readonly<Record<string, number>>;
  /** Driver counter names → slot index. */
  driverCounters: Readonly<Record<string, number>>;
  /**
   * The device and driver counter words that hold a current value, not a count (a connection's
   * state, the last fault's address, -1 for none): `/metrics` exports them as gauges, the rest as
   * counters. Absent: every word is a count.
   */
  gauges?: ReadonlySet<string>;
  /** The device's published connections (vsock), read from its counter words; none: no such
   * table. */
  connections?: (deviceCounters: Float64Array) => VsockConnTable;
  /** Per queue, by queue index: which device counters describe it. */
  queueCounters: ReadonlyArray<QueueCounterIndices>;
  /**
   * The device's interface and link, for snapshots and status (from the plan; absent: none,
   * as a virtio-iommu device has).
   */
  identity?: (device: DeviceSpec, plan: RingLinks) => DeviceIdentity;
  /**
   * What tells the device apart where it has no MAC to show, or what it does beyond its
   * interface: `cid 3` (vsock), `mode static` (virtio-iommu), `serves a:eth0 over a-b`
   * (vhost-pci). `vlab status` and the dashboard show it beside the kind; absent: nothing.
   */
  detail?: (device: DeviceSpec) => string;
  /**
   * For a device that gives its guest's stack an interface and is not a NIC (a vhost-pci-net
   * device): the device counters of the frames that interface sent (`tx`) and was given (`rx`).
   */
  interfaceFrames?: { readonly tx: number; readonly rx: number };
}
