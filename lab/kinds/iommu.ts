/**
 * The virtio-iommu kind as the lab sees it (main thread): a VM's `iommu: { mode }` becomes a
 * device slot (requestq and eventq, the IOMMU device counters) whose endpoints are the VM's NICs
 * with `iommu: true` (endpoint ID = the NIC's slot index, IOTLB consumer slot = its position in
 * the list). The vIOMMU's tables live in their own shared buffer (`VmStart.iommu`), sized by
 * `iommuCapacity`. The guest half is `lab/guest/kinds/iommu.ts`, the host half
 * `lab/host/kinds/iommu.ts`; the model and driver are `devices/iommu/`.
 *
 * @module
 */

import {
  IOMMU_COUNTER_COUNT,
  IOMMU_EVENT_QUEUE_SIZE,
  IOMMU_REQUEST_QUEUE_SIZE,
  IommuCounter,
  IommuFeature,
} from "../../devices/iommu/mod.ts";
import { PAGE_SIZE } from "../../devices/memory/mod.ts";
import { maxFrameLen, NET_HDR_SIZE } from "../../devices/net/config.ts";
import { rxBufferBytes } from "../../devices/net/sizing.ts";
import type { IommuSpec } from "../topology/types.ts";
import type { DeviceSpec, IommuDeviceSpec, NetDeviceSpec } from "../wire/specs.ts";
import type { LabKind } from "./types.ts";
import { IOMMU_DRIVER_COUNTER_COUNT, IommuDriverCounter } from "../wire/iommu.ts";

export { IOMMU_DRIVER_COUNTER_COUNT, iommuCapacity, IommuDriverCounter } from "../wire/iommu.ts";

/** Queue names of a virtio-iommu device, by queue index (virtio 1.2 §5.13.2). */
export const IOMMU_QUEUE_NAMES: readonly string[] = ["requestq", "eventq"];
/** Queue sizes, by queue index (requestq, eventq). */
export const IOMMU_QUEUE_SIZES: readonly number[] = [
  IOMMU_REQUEST_QUEUE_SIZE,
  IOMMU_EVENT_QUEUE_SIZE,
];
/** The device name of a VM's virtio-iommu device. */
export const IOMMU_DEVICE_NAME = "iommu0";
/**
 * Mapping-table entries of a vIOMMU at least: room for every in-flight buffer of a few NICs with
 * the default rings. NICs with bigger rings in strict or lazy mode get more
 * ({@linkcode iommuMappingsFor}).
 */
export const IOMMU_MAPPINGS = 4096;

/**
 * Mappings a strict or lazy endpoint may hold beyond one per buffer of its rings: the rings'
 * own mapping, the mappings of buffers whose UNMAP is in flight (a requestq's worth at most) and
 * lazy's flush queue (two batches of 32, `LAZY_BATCH` in lab/guest/kinds/iommu_dma.ts).
 */
const ENDPOINT_MAPPING_SLACK = 1 + IOMMU_REQUEST_QUEUE_SIZE + 2 * 32;

/**
 * The mapping-table entries a vIOMMU in `mode` needs for the NICs behind it: strict and lazy map
 * each buffer of each queue while it is posted (one entry each, plus
 * {@linkcode ENDPOINT_MAPPING_SLACK}); static maps a NIC's pool with one entry and passthrough
 * none. Never fewer than {@linkcode IOMMU_MAPPINGS}. A table too small for them refuses MAPs,
 * and the NIC stops with a device error its reset cannot clear (two NICs of 32768-entry rings
 * need 131,072 buffers mapped at once).
 *
 * @example
 * ```ts
 * import { iommuMappingsFor } from "./iommu.ts";
 * iommuMappingsFor("strict", [[256, 256]]); // 4096: the default rings fit
 * iommuMappingsFor("strict", [[32768, 32768]]); // 65857
 * ```
 */
export function iommuMappingsFor(
  mode: IommuSpec["mode"],
  queueSizes: readonly (readonly number[])[],
): number {
  if (mode !== "strict" && mode !== "lazy") return Math.max(IOMMU_MAPPINGS, queueSizes.length);
  let need = 0;
  for (const sizes of queueSizes) {
    for (const n of sizes) need += n;
    need += ENDPOINT_MAPPING_SLACK;
  }
  return Math.max(IOMMU_MAPPINGS, need);
}

/**
 * Strict and lazy: the fewest IOVA pages an endpoint gets (64 MiB of IOVA space), what NICs with
 * the default rings had always.
 */
export const IOVA_PAGES_MIN = 16384;
/**
 * Strict and lazy: the most IOVA pages an endpoint gets (4 GiB of IOVA space, a 1 MiB page
 * bitmap in the guest). The lab's largest NIC (rings of 32768 at `mtu: 9000` without `mrg_rxbuf`)
 * needs about a quarter of it.
 */
export const IOVA_PAGES_MAX = 1 << 20;

/** The most guest pages `bytes` bytes can span, wherever in a page they start. */
function pagesSpanned(bytes: number): number {
  return bytes <= 1 ? 1 : Math.ceil((bytes - 1) / PAGE_SIZE) + 1;
}

/**
 * The IOVA pages a strict or lazy endpoint needs: each buffer its queues can hold in flight
 * (receiveq: an RX buffer each, sized from the MTU and `mrg_rxbuf`; transmitq: a whole frame
 * each) is mapped at IOVAs of its own, over every page it spans; and the buffers whose UNMAP is
 * queued or in flight keep theirs until it completes (the same slack as the mapping table's,
 * {@linkcode ENDPOINT_MAPPING_SLACK}). Between {@linkcode IOVA_PAGES_MIN} and
 * {@linkcode IOVA_PAGES_MAX}. Too few pages left buffers unposted: a fixed 16384 pages held
 * about 5,000 jumbo RX buffers of a 32768-entry receiveq.
 *
 * @example
 * ```ts
 * import { iovaPagesFor } from "./iommu.ts";
 * iovaPagesFor({ queueSizes: [256, 256], mtu: 1500, mrgRxbuf: true }); // 16384: the floor
 * iovaPagesFor({ queueSizes: [32768, 32768], mtu: 9000, mrgRxbuf: false }); // 263424
 * ```
 */
export function iovaPagesFor(
  nic: { queueSizes: readonly number[]; mtu: number; mrgRxbuf: boolean },
): number {
  const rx = pagesSpanned(rxBufferBytes(nic.mtu, nic.mrgRxbuf));
  const tx = pagesSpanned(NET_HDR_SIZE + maxFrameLen(nic.mtu));
  // Queue 0 is the receiveq, the others transmit (virtio 1.2 §5.1.2).
  let need = (ENDPOINT_MAPPING_SLACK - 1) * Math.max(rx, tx);
  nic.queueSizes.forEach((n, q) => need += n * (q === 0 ? rx : tx));
  return Math.min(IOVA_PAGES_MAX, Math.max(IOVA_PAGES_MIN, need));
}

/**
 * The device slot of a VM's vIOMMU, with the NICs of `devices` that have `iommu` as endpoints;
 * it fills each such NIC's `iommu` (endpoint and consumer slot).
 *
 * @example
 * ```ts
 * import { iommuDeviceSpec } from "./iommu.ts";
 * iommuDeviceSpec({ mode: "static" }, [], new Set()).queues.map((q) => q.name); // ["requestq", "eventq"]
 * ```
 */
export function iommuDeviceSpec(
  iommu: IommuSpec,
  devices: DeviceSpec[],
  behind: ReadonlySet<string>,
): IommuDeviceSpec {
  const endpoints: IommuDeviceSpec["endpoints"] = [];
  const queueSizes: number[][] = [];
  for (const d of devices) {
    if (d.kind !== "net" || !behind.has(d.name)) continue;
    const nic = d as NetDeviceSpec;
    nic.iommu = { endpoint: d.index, consumer: endpoints.length };
    const iovaPages = iovaPagesFor({
      queueSizes: nic.queues.map((q) => q.size),
      mtu: nic.mtu,
      mrgRxbuf: nic.features.mrgRxbuf,
    });
    endpoints.push({ endpoint: d.index, device: d.index, name: d.name, iovaPages });
    queueSizes.push(d.queues.map((q) => q.size));
  }
  return {
    kind: "iommu",
    name: IOMMU_DEVICE_NAME,
    index: devices.length,
    queues: IOMMU_QUEUE_NAMES.map((name, q) => ({
      name,
      layout: "split",
      size: IOMMU_QUEUE_SIZES[q],
    })),
    deviceCounters: IOMMU_COUNTER_COUNT,
    driverCounters: IOMMU_DRIVER_COUNTER_COUNT,
    mode: iommu.mode,
    endpoints,
    mappings: iommuMappingsFor(iommu.mode, queueSizes),
    txRing: -1,
    rxRing: -1,
  };
}

/** The iommu kind's lab-side description. */
export const IOMMU_KIND: LabKind = {
  kind: "iommu",
  snapshotKind: "virtio-iommu",
  detail: (d) => d.kind === "iommu" ? `mode ${d.mode}` : "",
  featureNames: Object.freeze(
    Object.fromEntries(Object.entries(IommuFeature).map(([name, bit]) => [bit, name])),
  ),
  deviceCounters: IommuCounter,
  driverCounters: IommuDriverCounter,
  gauges: new Set(["lastFaultIova", "lastFaultAccess", "lastFaultEndpoint"]),
  queueCounters: [
    { requests: IommuCounter.requests, bytes: null, interrupts: null, suppressed: null },
    { requests: IommuCounter.faultReports, bytes: null, interrupts: null, suppressed: null },
  ],
};
