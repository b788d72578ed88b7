/**
 * The vsock part of a topology: each VM's `vsock: { cid }` (unique in the lab) and the links of
 * `kind: vsock`, which join two VMs' vsock devices (endpoints are VM names). Called by
 * `build.ts` after the VMs and the net links are built; problems are located at the offending
 * key, so that the printer gives file:line:col.
 *
 * @module
 */

import type { PathSegment, Problem } from "./issues.ts";
import { didYouMean } from "./issues.ts";
import { quote } from "./quote.ts";
import type { RawTopology } from "./schema.ts";
import type { LinkSpec, VmSpec, VsockLinkSpec, VsockRouterSpec } from "./types.ts";

/**
 * Check the VMs' CIDs and build the vsock links.
 *
 * @example
 * ```ts
 * import { buildVsock } from "./vsock.ts";
 * const problems = [];
 * const vms = [{ name: "a", memoryBytes: 0, pollUs: 0, nics: [], vsock: { cid: 3 } }];
 * buildVsock({ name: "x", vms: { a: { vsock: { cid: 3 } } } }, vms, [], problems).length; // 0
 * ```
 */
export function buildVsock(
  raw: RawTopology,
  vms: readonly VmSpec[],
  netLinks: readonly LinkSpec[],
  problems: Problem[],
  routers: VsockRouterSpec[] = [],
): VsockLinkSpec[] {
  const byCid = new Map<number, string>();
  for (const vm of vms) {
    if (vm.vsock === null) continue;
    const first = byCid.get(vm.vsock.cid);
    if (first !== undefined) {
      problems.push({
        code: "duplicate-cid",
        path: ["vms", vm.name, "vsock", "cid"],
        message: `VM ${quote(vm.name)} has vsock CID ${vm.vsock.cid}, already the CID of VM ${
          quote(first)
        }`,
        hint: "give each VM's vsock a CID of its own (3 and up)",
      });
    } else byCid.set(vm.vsock.cid, vm.name);
  }
  const byName = new Map(vms.map((v) => [v.name, v]));
  const names = new Set(netLinks.map((l) => l.name));
  const linked = new Set<string>();
  const out: VsockLinkSpec[] = [];
  const routerByName = new Map(routers.map((r) => [r.name, r]));
  for (const [i, link] of (raw.links ?? []).entries()) {
    if (link.kind !== "vsock" || link.endpoints.length !== 2) continue;
    const path: PathSegment[] = ["links", i];
    let ok = true;
    const routerEnds = link.endpoints.filter((e) => routerByName.has(e));
    if (routerEnds.length === 2) {
      problems.push({
        code: "vsock-link",
        path: [...path, "endpoints"],
        message: `Vsock link joins two vsock routers ${quote(link.endpoints[0])} and ${
          quote(link.endpoints[1])
        }`,
        hint: "a vsock link joins a VM to a VM or to a vsock router",
      });
      continue;
    }
    link.endpoints.forEach((text, j) => {
      const at: PathSegment[] = [...path, "endpoints", j];
      if (routerByName.has(text)) return;
      const vm = byName.get(text);
      if (vm === undefined) {
        ok = false;
        problems.push({
          code: "unknown-endpoint",
          path: at,
          message: `Unknown VM ${quote(text)} in vsock link endpoint`,
          hint: didYouMean(text, [...byName.keys(), ...routerByName.keys()]) ??
            "a vsock link joins two VMs, or a VM and a vsock router, by name",
        });
      } else if (vm.vsock === null) {
        ok = false;
        problems.push({
          code: "no-vsock",
          path: at,
          message: `VM ${quote(text)} has no vsock device to link`,
          hint: `add vsock: { cid: N } under vms.${text}`,
        });
      } else if (linked.has(text)) {
        ok = false;
        problems.push({
          code: "vsock-link",
          path: at,
          message: `VM ${quote(text)} already has a vsock link`,
          hint: "a VM's vsock device takes one link",
        });
      }
    });
    const [a, b] = link.endpoints;
    if (ok && a === b) {
      problems.push({
        code: "vsock-link",
        path: [...path, "endpoints"],
        message: `Vsock link joins VM ${quote(a)} to itself`,
        hint: "a vsock link joins two different VMs",
      });
      continue;
    }
    if (!ok) continue;
    const name = link.name ?? `${a}-${b}-vsock`;
    if (names.has(name)) {
      problems.push({
        code: "duplicate-link-name",
        path: link.name === undefined ? path : [...path, "name"],
        message: `Link name ${quote(name)} is already used`,
        hint: link.name === undefined
          ? "give one of the links a `name`"
          : "rename one of the links",
      });
      continue;
    }
    names.add(name);
    const router = routerByName.get(a) ?? routerByName.get(b);
    if (router !== undefined) {
      const vm = router.name === a ? b : a;
      linked.add(vm);
      router.ports.push({ link: name, vm });
      continue;
    }
    linked.add(a);
    linked.add(b);
    out.push({ name, vms: [a, b] });
  }
  return out;
}
