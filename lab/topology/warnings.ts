/**
 * What `vlab validate` warns about in a valid topology, located like its problems
 * (file:line:col): vhost-pci links whose frontend NIC is not behind a vIOMMU (VM `b` then
 * sees all of VM `a`'s memory), NICs on one L2 segment with different MTUs (`mtu.ts`), and a
 * VM's vIOMMU that no NIC is behind (it translates for no device).
 *
 * @module
 */

import { type PathSegment, pathToString } from "./issues.ts";
import { parseYamlDocument } from "./load.ts";
import type { Topology, TopologyIssue } from "./types.ts";
import { vhostPciWarnings } from "./vhost_pci.ts";
import { mtuMismatches } from "./mtu.ts";
import { quote } from "../../devices/base/quote.ts";

/**
 * The warnings of a valid topology parsed from `text`, located in it.
 *
 * @example
 * ```ts ignore
 * topologyWarnings(text, topology)[0].code; // "vhost-pci-no-iommu", "mtu-mismatch" or "iommu-unused"
 * ```
 */
export function topologyWarnings(text: string, topology: Topology): TopologyIssue[] {
  const doc = parseYamlDocument(text);
  const rawLinks = doc.ok ? (doc.value.raw as { links?: unknown[] }).links ?? [] : [];
  // The topology's links are the net and vhost-pci ones, in file order: find each in the file.
  const fileIndex: number[] = [];
  rawLinks.forEach((l, i) => {
    if ((l as { kind?: string } | null)?.kind !== "vsock") fileIndex.push(i);
  });
  const vhostPci = vhostPciWarnings(topology).map((w) => {
    const path: PathSegment[] = ["links", fileIndex[w.index] ?? w.index, "endpoints", 0];
    const at = doc.ok
      ? doc.value.locate({ code: "vhost-pci-no-iommu", path, message: w.message, hint: w.hint })
      : null;
    return {
      code: "vhost-pci-no-iommu",
      path: `links[${path[1]}].endpoints[0]`,
      line: at?.line ?? null,
      column: at?.column ?? null,
      message: w.message,
      hint: w.hint,
    };
  });
  const mtu = mtuMismatches(topology).map((w) => {
    // At the NIC's `mtu` key when it has one, else at the NIC (the MTU came from its VM or defaults).
    const path: PathSegment[] = ["vms", w.vm, "nics", w.nic, "mtu"];
    const at = doc.ok
      ? doc.value.locate({ code: "mtu-mismatch", path, message: w.message, hint: w.hint })
      : null;
    return {
      code: "mtu-mismatch",
      path: pathToString(["vms", w.vm, "nics", w.nic]),
      line: at?.line ?? null,
      column: at?.column ?? null,
      message: w.message,
      hint: w.hint,
    };
  });
  // A vIOMMU with no NIC behind it (no `iommu: true`): nothing reaches memory through it, which
  // is most likely an `iommu: true` forgotten on the NIC the user meant to put behind it.
  const unused = topology.vms.filter((vm) => vm.iommu !== null && !vm.nics.some((n) => n.iommu))
    .map((vm) => {
      const path: PathSegment[] = ["vms", vm.name, "iommu"];
      const message = `vIOMMU on VM ${quote(vm.name)} translates for no device`;
      const hint = vm.nics.length > 0
        ? `add iommu: true to a NIC of ${quote(vm.name)} (vms.${vm.name}.nics.${
          vm.nics[0].name
        }), or remove vms.${vm.name}.iommu`
        : `add a NIC with iommu: true to ${quote(vm.name)}, or remove vms.${vm.name}.iommu`;
      const at = doc.ok ? doc.value.locate({ code: "iommu-unused", path, message, hint }) : null;
      return {
        code: "iommu-unused",
        path: pathToString(path),
        line: at?.line ?? null,
        column: at?.column ?? null,
        message,
        hint,
      };
    });
  return [...vhostPci, ...mtu, ...unused].sort((a, b) =>
    (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0)
  );
}
