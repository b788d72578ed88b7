/**
 * Who made a refused access: the consumer of a VM's vIOMMU that an `iommu-fault` event is about.
 * The main thread reads it from the vIOMMU's fault logs when the guest's event arrives, and adds
 * it to the event as `by`.
 *
 * @module
 */

import { CONSUMER_WORDS, FAULT_WORDS, openViews } from "../devices/iommu/layout.ts";
import type { IommuDeviceSpec } from "./wire/specs.ts";

/** What an `iommu-fault` event says of the refused access (its `detail`). */
export interface IommuFaultDetail {
  /** The device behind the endpoint (a NIC's name). */
  device?: unknown;
  /** IOVA of the access ("0x…"), or null. */
  iova?: unknown;
  /** "read" or "write". */
  access?: unknown;
}

/**
 * Who made the access an `iommu-fault` event reports. The guest hears only the endpoint (a
 * virtio-iommu fault report names no more), but each consumer logs its refusals in the vIOMMU's
 * tables: the consumer over `device`'s endpoint whose log holds a refusal of that IOVA and access
 * kind, the most recent in its log. Returns `"vm:nic"` for the NIC's own device model, the
 * serving device (`"b:eth0"`) for a vhost-pci peer (both, joined by " or ", when their logs
 * cannot tell them apart), or null when no log holds it (overwritten since).
 *
 * @example
 * ```ts ignore
 * import { faultConsumer } from "./iommu_fault_by.ts";
 * faultConsumer(lab.iommuOf(0)!, spec, "a", { device: "eth0", iova: "0x10000", access: "read" }); // "b:eth0"
 * ```
 */
export function faultConsumer(
  buffer: SharedArrayBuffer,
  spec: IommuDeviceSpec,
  vmName: string,
  fault: IommuFaultDetail,
): string | null {
  if (typeof fault.iova !== "string" || !/^0x[0-9a-f]+$/i.test(fault.iova)) return null;
  const iova = Number(fault.iova);
  const access = fault.access === "write" ? 2 : 1;
  const { i32, f64, layout } = openViews(buffer);
  const candidates: { slot: number; by: string }[] = [];
  spec.endpoints.forEach((ep, slot) => {
    if (ep.name === fault.device) candidates.push({ slot, by: `${vmName}:${ep.name}` });
  });
  (spec.peers ?? []).forEach((p, i) => {
    const ep = spec.endpoints.find((e) => e.endpoint === p.endpoint);
    if (ep?.name === fault.device) candidates.push({ slot: spec.endpoints.length + i, by: p.name });
  });
  let best: { by: string[]; age: number } | null = null;
  for (const c of candidates) {
    const head = Atomics.load(i32, layout.consumerBase + c.slot * CONSUMER_WORDS + 2);
    const kept = Math.min(head >>> 0, layout.faults);
    for (let age = 0; age < kept; age++) {
      const w = layout.faultBase +
        (c.slot * layout.faults + ((head - 1 - age) >>> 0) % layout.faults) * FAULT_WORDS;
      if (f64[w] !== iova || f64[w + 1] !== access) continue;
      // The newest matching record of each log: the one with the fewest records logged after
      // it wins; logs cannot be ordered against each other beyond that, so a tie names both.
      if (best === null || age < best.age) best = { by: [c.by], age };
      else if (age === best.age) best.by.push(c.by);
      break;
    }
  }
  return best === null ? null : best.by.join(" or ");
}
