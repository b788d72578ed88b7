/**
 * The vhost-pci part of a topology: links of `kind: vhost-pci` join a virtio-net NIC of VM `a`
 * (`endpoints[0]`, the frontend) to a NIC of VM `b` (`endpoints[1]`), which becomes a
 * vhost-pci-net device serving `a`'s queues in `a`'s memory. Called by `build.ts` after the
 * links are built (the graph checks refuse a NIC on two links, so a NIC is served once and `b`'s
 * device serves one NIC); problems are located at the offending key, so that the printer gives
 * file:line:col. `vhostPciWarnings` says what `vlab validate` warns about (a frontend NIC that
 * is not behind a vIOMMU exposes all of `a`'s memory to `b`).
 *
 * @module
 */

import type { PathSegment, Problem } from "./issues.ts";
import { quote } from "../../devices/base/quote.ts";
import type { RawTopology } from "./schema.ts";
import type { LinkSpec, Topology, VmSpec } from "./types.ts";

/** Keys a vhost-pci link takes (it has no rings, so no impairment). */
const VHOST_PCI_LINK_KEYS: ReadonlySet<string> = new Set(["name", "kind", "endpoints"]);

/**
 * NIC keys that the serving NIC of a vhost-pci link cannot use: its vhost-pci-net device serves
 * the frontend NIC's queues (layout, size, features) and takes the frontend's MTU; it has no
 * transmitq of its own to watch. Written on that NIC they would be ignored, so they are refused
 * (inherited from the VM or `defaults.nic`, they are meant for its other NICs, and pass).
 */
const SERVED_NIC_KEYS = ["layout", "queue_size", "features", "mtu", "tx_timeout"] as const;

/**
 * Check the links of `kind: vhost-pci`.
 *
 * @example
 * ```ts ignore
 * checkVhostPci(raw, links, vms, { problems, linkIndex });
 * ```
 */
export function checkVhostPci(
  raw: RawTopology,
  links: readonly LinkSpec[],
  vms: readonly VmSpec[],
  out: { problems: Problem[]; linkIndex: readonly number[] },
): void {
  const byVm = new Map(vms.map((v) => [v.name, v]));
  links.forEach((link, k) => {
    if (link.kind !== "vhost-pci") return;
    const i = out.linkIndex[k];
    const path: PathSegment[] = ["links", i];
    const rawLink = raw.links?.[i] as Record<string, unknown> | undefined;
    for (const key of Object.keys(rawLink ?? {})) {
      if (VHOST_PCI_LINK_KEYS.has(key)) continue;
      out.problems.push({
        code: "vhost-pci-link",
        path: [...path, key],
        atKey: true,
        message: `Vhost-pci link ${quote(link.name)} cannot take ${quote(key)}`,
        hint: "a vhost-pci link has no link ring, so no impairment: use a net link to impair",
      });
    }
    const [a, b] = link.endpoints;
    for (const [j, e] of [[0, a], [1, b]] as const) {
      if (e.kind === "switch") {
        out.problems.push({
          code: "vhost-pci-link",
          path: [...path, "endpoints", j],
          message: `Vhost-pci link ${quote(link.name)} cannot end at switch ${quote(e.switch)}`,
          hint: 'a vhost-pci link joins two VMs\' NICs: endpoints: ["a:eth0", "b:eth0"]; a ' +
            "switch takes net links (no `kind`)",
        });
      }
    }
    if (a.kind !== "nic" || b.kind !== "nic") return;
    if (a.vm === b.vm) {
      out.problems.push({
        code: "vhost-pci-link",
        path: [...path, "endpoints"],
        message: `Vhost-pci link ${quote(link.name)} joins VM ${quote(a.vm)} to itself`,
        hint: "the serving NIC must be in another VM than the frontend NIC",
      });
      return;
    }
    const bNic = byVm.get(b.vm)?.nics.find((n) => n.name === b.nic);
    const rawVm = Object.hasOwn(raw.vms, b.vm) ? raw.vms[b.vm] : undefined;
    const rawNics = rawVm?.nics ?? {};
    const rawNic = Object.hasOwn(rawNics, b.nic) ? rawNics[b.nic] : undefined;
    for (const key of SERVED_NIC_KEYS) {
      if (rawNic === undefined || rawNic === null || !Object.hasOwn(rawNic, key)) continue;
      out.problems.push({
        code: "vhost-pci-link",
        path: ["vms", b.vm, "nics", b.nic, key],
        atKey: true,
        message: `NIC ${quote(`${b.vm}:${b.nic}`)} serves ${quote(`${a.vm}:${a.nic}`)} over ` +
          `vhost-pci link ${quote(link.name)} and cannot take ${quote(key)}`,
        hint: key === "tx_timeout"
          ? `remove it: the transmit watchdog is ${a.vm}'s, on vms.${a.vm}.nics.${a.nic}`
          : `remove it: the queues and MTU are ${a.vm}:${a.nic}'s; set it on vms.${a.vm}.nics.${a.nic}`,
      });
    }
    if (bNic?.iommu) {
      out.problems.push({
        code: "vhost-pci-link",
        path: [...path, "endpoints", 1],
        message: `NIC ${quote(`${b.vm}:${b.nic}`)} becomes a vhost-pci-net device and cannot be ` +
          `behind a vIOMMU`,
        hint: `remove iommu: true from vms.${b.vm}.nics.${b.nic}; put it on the frontend NIC`,
      });
    }
  });
}

/**
 * What `vlab validate` warns about in a valid topology: each vhost-pci link whose frontend NIC
 * is not behind a vIOMMU (`iommu: true`), or behind one in `passthrough` (bypass translates
 * nothing), so `b` sees all of `a`'s memory.
 *
 * @example
 * ```ts ignore
 * vhostPciWarnings(topology); // [{ link: "a-b", message: "…", hint: "…" }]
 * ```
 */
export function vhostPciWarnings(
  t: Topology,
): { link: string; index: number; message: string; hint: string }[] {
  const out: { link: string; index: number; message: string; hint: string }[] = [];
  const byVm = new Map(t.vms.map((v) => [v.name, v]));
  t.links.forEach((link, index) => {
    const [a, b] = link.endpoints;
    if (link.kind !== "vhost-pci" || a.kind !== "nic" || b.kind !== "nic") return;
    const vm = byVm.get(a.vm);
    const nic = vm?.nics.find((n) => n.name === a.nic);
    if (nic === undefined) return;
    // A VM that has a vIOMMU needs only its NIC behind it (a second vIOMMU is no key).
    const mode = vm?.iommu?.mode;
    if (nic.iommu && mode === "passthrough") {
      // Bypass translates nothing and allows every access: b's window is all of a's memory.
      out.push({
        link: link.name,
        index,
        message: `Vhost-pci link ${quote(link.name)}: NIC ${
          quote(`${a.vm}:${a.nic}`)
        } is behind a vIOMMU in passthrough (bypass), so VM ${quote(b.vm)} sees all of VM ${
          quote(a.vm)
        }'s memory`,
        hint: `give VM ${a.vm}'s vIOMMU mode static, strict or lazy: only those limit VM ${b.vm} ` +
          `to what ${a.vm} maps`,
      });
      return;
    }
    if (nic.iommu) return;
    out.push({
      link: link.name,
      index,
      message: `Vhost-pci link ${quote(link.name)}: NIC ${
        quote(`${a.vm}:${a.nic}`)
      } has no iommu: true, so VM ${quote(b.vm)} sees all of VM ${quote(a.vm)}'s memory`,
      hint: mode === undefined
        ? `give VM ${a.vm} iommu: { mode: static } and its NIC ${a.nic} iommu: true`
        : `give NIC ${a.nic} of VM ${a.vm} iommu: true (behind its vIOMMU, mode ${mode})`,
    });
  });
  return out;
}
