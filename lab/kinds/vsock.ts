/**
 * The virtio-vsock kind as the lab sees it (main thread): a VM's `vsock: { cid }` becomes a
 * device slot (three queues, the vsock counters, the CID and, once the planner meets the VM's
 * vsock link, the peer's CID and the link rings), and status, snapshot and metrics name its
 * queues and counters. The guest half is `lab/guest/kinds/vsock.ts`, the host half
 * `lab/host/kinds/vsock.ts`; the model and driver are `devices/vsock/`.
 *
 * @module
 */

import {
  readConnTable,
  VSOCK_CONN_TABLE_WORDS,
  VSOCK_COUNTER_COUNT,
  VSOCK_DRIVER_COUNTER_COUNT,
  VsockCounter,
  VsockDriverCounter,
  VsockFeature,
} from "../../devices/vsock/mod.ts";
import type { VsockSpec } from "../topology/types.ts";
import { VSOCK_QUEUE_SIZE } from "../topology/vsock.ts";
import type { VsockDeviceSpec } from "../wire/specs.ts";
import { type LabKind, NO_IDENTITY, ringLink } from "./types.ts";

/** Queue names of a virtio-vsock device, by queue index (virtio 1.2 §5.10.2). */
export const VSOCK_QUEUE_NAMES: readonly string[] = ["rx", "tx", "event"];
/** Queue size of every vsock queue (the topology's memory check counts it too). */
export { VSOCK_QUEUE_SIZE };
/** The device name of a VM's vsock device. */
export const VSOCK_DEVICE_NAME = "vsock0";

/**
 * The device slot of a VM's vsock device; the planner fills the peer and rings from its link.
 *
 * @example
 * ```ts
 * import { vsockDeviceSpec } from "./vsock.ts";
 * vsockDeviceSpec({ cid: 3 }, 1).queues.map((q) => q.name); // ["rx", "tx", "event"]
 * ```
 */
export function vsockDeviceSpec(
  vsock: VsockSpec,
  index: number,
  labCids: readonly (readonly [number, string])[] = [],
): VsockDeviceSpec {
  return {
    kind: "vsock",
    name: VSOCK_DEVICE_NAME,
    index,
    queues: VSOCK_QUEUE_NAMES.map((name) => ({ name, layout: "split", size: VSOCK_QUEUE_SIZE })),
    // The counters, then the connection table (`devices/vsock/conn_table.ts`).
    deviceCounters: VSOCK_COUNTER_COUNT + VSOCK_CONN_TABLE_WORDS,
    driverCounters: VSOCK_DRIVER_COUNTER_COUNT,
    cid: vsock.cid,
    peerCid: -1,
    labCids: labCids.map(([cid, vm]) => [cid, vm]),
    txRing: -1,
    rxRing: -1,
  };
}

/**
 * The CID and name of every VM with vsock, in topology order: each vsock device's `labCids`, so
 * that the guest tells a CID no VM has from a VM that refused.
 *
 * @example
 * ```ts
 * import { labVsockCids } from "./vsock.ts";
 * labVsockCids([{ name: "a", vsock: { cid: 3 } }, { name: "h", vsock: null }]); // [[3, "a"]]
 * ```
 */
export function labVsockCids(
  vms: readonly { name: string; vsock: VsockSpec | null }[],
): [number, string][] {
  return vms.flatMap((vm) =>
    vm.vsock === null ? [] : [[vm.vsock.cid, vm.name] as [number, string]]
  );
}

/** The vsock kind's lab-side description. */
export const VSOCK_KIND: LabKind = {
  kind: "vsock",
  snapshotKind: "virtio-vsock",
  identity: (d, plan) =>
    d.kind === "vsock" ? { ...NO_IDENTITY, link: ringLink(plan, d.txRing) } : NO_IDENTITY,
  detail: (d) => d.kind === "vsock" ? `cid ${d.cid}` : "",
  featureNames: Object.freeze(
    Object.fromEntries(Object.entries(VsockFeature).map(([name, bit]) => [bit, name])),
  ),
  deviceCounters: VsockCounter,
  gauges: new Set(["connections"]),
  driverCounters: VsockDriverCounter,
  connections: (words) => readConnTable(words.subarray(VSOCK_COUNTER_COUNT)),
  queueCounters: [
    {
      requests: VsockCounter.rxPackets,
      bytes: VsockCounter.rxBytes,
      interrupts: VsockCounter.interrupts,
      suppressed: VsockCounter.interruptsSuppressed,
    },
    {
      requests: VsockCounter.txPackets,
      bytes: VsockCounter.txBytes,
      interrupts: null,
      suppressed: null,
    },
    { requests: VsockCounter.transportResets, bytes: null, interrupts: null, suppressed: null },
  ],
};
