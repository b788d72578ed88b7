/**
 * What `vlab validate` warns about in a valid topology, located like its problems
 * (file:line:col): vhost-pci links whose frontend NIC is not behind a vIOMMU (VM `b` then
 * sees all of VM `a`'s memory), and NICs on one L2 segment with different MTUs (`mtu.ts`).
 *
 * @module
 */

import { type PathSegment, pathToString } from "./issues.ts";
import { parseYamlDocument } from "./load.ts";
import type { Topology, TopologyIssue } from "./types.ts";
import { vhostPciWarnings } from "./vhost_pci.ts";
import { mtuMismatches } from "./mtu.ts";

/**
 * The warnings of a valid topology parsed from `text`, located in it.
 *
 * @example
 * ```ts ignore
 * topologyWarnings(text, topology)[0].code; // "vhost-pci-no-iommu" or "mtu-mismatch"
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
  return [...vhostPci, ...mtu].sort((a, b) =>
    (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0)
  );
}
