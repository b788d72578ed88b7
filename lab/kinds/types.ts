/**
 * The lab-side description of a device kind: what status, snapshot, metrics and the ring view
 * need to read a device slot of that kind without knowing the kind.
 *
 * @module
 */

import type { VsockConnTable } from "../../devices/vsock/conn_table.ts";

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
  /** The device's published connections (vsock), read from its counter words; none: no such
   * table. */
  connections?: (deviceCounters: Float64Array) => VsockConnTable;
  /** Per queue, by queue index: which device counters describe it. */
  queueCounters: ReadonlyArray<QueueCounterIndices>;
}
