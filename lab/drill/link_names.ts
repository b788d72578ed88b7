/**
 * The links a drill's `link` and `impair` steps may name, as `vlab link` takes them: the NIC
 * links, vhost-pci links, vsock links between two VMs and the links to vsock routers. The
 * topology keeps the vsock ones apart from `links`; a drill that looked only there refused
 * `vlab link a-b-vsock down`'s link as unknown.
 *
 * Who calls it: the step checks in `steps.ts` and `net_steps.ts`, on the main thread.
 *
 * @module
 */

import type { Topology } from "../topology/types.ts";

/** What a link is, for what a step may do to it. */
export type LinkKind = "net" | "vhost-pci" | "vsock" | "vsock-router";

/**
 * Every link of `topology` a step may name, in file order (NIC and vhost-pci links, then vsock
 * links, then links to vsock routers), with its kind.
 *
 * @example
 * ```ts ignore
 * import { drillLinks } from "./link_names.ts";
 * drillLinks(topology).map((l) => l.name); // ["a-b", "a-b-vsock"]
 * ```
 */
export function drillLinks(topology: Topology): { name: string; kind: LinkKind }[] {
  return [
    ...topology.links.map((l) => ({
      name: l.name,
      kind: l.kind === "vhost-pci" ? "vhost-pci" as const : "net" as const,
    })),
    ...topology.vsockLinks.map((l) => ({ name: l.name, kind: "vsock" as const })),
    ...topology.vsockRouters.flatMap((r) =>
      r.ports.map((p) => ({ name: p.link, kind: "vsock-router" as const }))
    ),
  ];
}
