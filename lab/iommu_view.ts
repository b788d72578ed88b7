/**
 * The main thread's read of a VM's vIOMMU: per endpoint (a NIC behind it, in its own domain) the
 * live mappings, its IOTLB's hits, misses, invalidations and refused accesses, and the last
 * fault's IOVA and access kind. Everything comes from the vIOMMU's shared tables (written by the
 * device worker: the owner and the consumers), read without locks: a count may be one update
 * behind, never torn (each value is one aligned Float64 or Int32 word).
 *
 * @module
 */

import { readIotlbCounters } from "../devices/iommu/faults.ts";
import {
  CONSUMER_WORDS,
  EndpointState,
  FAULT_WORDS,
  Hdr,
  LIVE,
  MAPPING_WORDS,
  openViews,
} from "../devices/iommu/layout.ts";
import type { Lab } from "./lab.ts";

/** One endpoint of a vIOMMU, as snapshot, /metrics and status show it. */
export interface IommuDomainSnapshot {
  /** The device behind the endpoint (a NIC's name). */
  device: string;
  /** The endpoint ID. */
  endpoint: number;
  /** The domain it is attached to, or null (not attached). */
  domain: number | null;
  /** Live mappings of that domain. */
  mappings: number;
  /** Translations served by the device worker's IOTLB. */
  hits: number;
  /** Translations that walked the table. */
  misses: number;
  /** IOTLB flushes (invalidation handshakes acknowledged). */
  invalidations: number;
  /** Accesses refused (never performed). */
  faults: number;
  /** IOVA of the last refused access ("0x…"), or null. */
  lastFaultIova: string | null;
  /** Access kind of the last refused access, or null. */
  lastFaultAccess: "read" | "write" | null;
}

/**
 * A vhost-pci peer translating through a VM's vIOMMU: its own IOTLB over the endpoint it
 * serves (the window: exactly what that endpoint's domain maps).
 */
export interface IommuPeerSnapshot extends IommuDomainSnapshot {
  /** The serving device, "b:eth0". */
  peer: string;
}

/** A VM's vIOMMU. */
export interface IommuSnapshot {
  /** The guest's DMA mode. */
  mode: string;
  /** Its endpoints, in consumer order. */
  domains: IommuDomainSnapshot[];
  /**
   * The vhost-pci peers translating through it (IOTLB consumer slots after the endpoints'),
   * `device` naming the endpoint served; absent when there are none.
   */
  peers?: IommuPeerSnapshot[];
}

/**
 * The vIOMMU of VM `vm` (its index), or null when it has none.
 *
 * @example
 * ```ts ignore
 * import { iommuSnapshot } from "./iommu_view.ts";
 * iommuSnapshot(lab, 0)?.domains[0].hits; // IOTLB hits of a's eth0
 * ```
 */
export function iommuSnapshot(lab: Lab, vm: number): IommuSnapshot | null {
  const buffer = lab.iommuOf(vm);
  const spec = lab.plan.vms[vm]?.devices.find((d) => d.kind === "iommu");
  if (buffer === null || spec?.kind !== "iommu") return null;
  const views = openViews(buffer);
  const { i32, f64, layout } = views;
  const high = Math.min(Atomics.load(i32, Hdr.MAP_HIGH), layout.mappings);
  const consumer = (name: string, endpoint: number, slot: number): IommuDomainSnapshot => {
    const epw = layout.endpointBase + 2 * endpoint;
    const attached = endpoint < layout.endpoints &&
      Atomics.load(i32, epw) !== EndpointState.DETACHED;
    const domain = attached ? Atomics.load(i32, epw + 1) : null;
    let mappings = 0;
    for (let s = 0; domain !== null && s < high; s++) {
      const w = layout.mappingBase + s * MAPPING_WORDS;
      if ((f64[w + 4] & LIVE) !== 0 && f64[w] === domain) mappings++;
    }
    const c = readIotlbCounters(views, slot);
    // The newest fault record of this consumer (its log is a ring; faultHead counts them all).
    const head = Atomics.load(i32, layout.consumerBase + slot * CONSUMER_WORDS + 2);
    let lastFaultIova: string | null = null;
    let lastFaultAccess: "read" | "write" | null = null;
    if (head !== 0 && c.faults > 0) {
      const w = layout.faultBase +
        (slot * layout.faults + ((head - 1) >>> 0) % layout.faults) * FAULT_WORDS;
      lastFaultIova = `0x${f64[w].toString(16)}`;
      lastFaultAccess = f64[w + 1] === 2 ? "write" : "read";
    }
    return {
      device: name,
      endpoint,
      domain,
      mappings,
      hits: c.hits,
      misses: c.misses,
      invalidations: c.invalidations,
      faults: c.faults,
      lastFaultIova,
      lastFaultAccess,
    };
  };
  const domains = spec.endpoints.map((ep, slot) => consumer(ep.name, ep.endpoint, slot));
  const peers = (spec.peers ?? []).map((p, i): IommuPeerSnapshot => {
    const ep = spec.endpoints.find((e) => e.endpoint === p.endpoint);
    return {
      ...consumer(ep?.name ?? `endpoint ${p.endpoint}`, p.endpoint, spec.endpoints.length + i),
      peer: p.name,
    };
  });
  return { mode: spec.mode, domains, ...(peers.length > 0 ? { peers } : {}) };
}
