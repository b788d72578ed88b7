/**
 * The vsock part of a topology: each VM's `vsock: { cid }` (unique in the lab) and the links of
 * `kind: vsock`, which join two VMs' vsock devices (endpoints are VM names). Called by
 * `build.ts` after the VMs and the net links are built; problems are located at the offending
 * key, so that the printer gives file:line:col.
 *
 * @module
 */

import {
  VSOCK_LARGE_RX_BUFFER,
  VSOCK_LARGE_RX_BUFFERS,
  VSOCK_LARGE_TX_BUFFER,
  VSOCK_LARGE_TX_BUFFERS,
  vsockDriverMemoryBytes,
} from "../../devices/vsock/driver.ts";
import type { PathSegment, Problem } from "./issues.ts";
import { didYouMean, endpointIs } from "./issues.ts";
import { quote } from "../../devices/base/quote.ts";
import { IMPAIRMENT_KEYS, NAME_PATTERN, type RawTopology } from "./schema.ts";
import type { Impairment, LinkSpec, VmSpec, VsockLinkSpec, VsockRouterSpec } from "./types.ts";
import { resolveImpairment } from "./impairment.ts";
import type { DirectionChecks } from "./direction_checks.ts";
import {
  limitProblem,
  VSOCK_IMPAIRMENT_HINT,
  VSOCK_IMPAIRMENT_KEYS,
  VSOCK_MIN_LIMIT,
} from "./vsock_impairment.ts";

/** Queue size of every vsock queue in the lab (rx, tx, event). */
export const VSOCK_QUEUE_SIZE = 128;

/**
 * The guest memory a lab VM's vsock driver takes: its three split rings of
 * {@linkcode VSOCK_QUEUE_SIZE}, 32 TX and 32 RX buffers of 64 KiB and the event buffers (about
 * 4.3 MiB); the topology's `memory-too-small` check counts it.
 *
 * @example
 * ```ts
 * import { vsockMemoryBytes } from "./vsock.ts";
 * vsockMemoryBytes() > 4 << 20; // true
 * ```
 */
export function vsockMemoryBytes(): number {
  return vsockDriverMemoryBytes({
    layout: "split",
    queueSize: VSOCK_QUEUE_SIZE,
    bufferSize: VSOCK_LARGE_RX_BUFFER,
    rxBuffers: VSOCK_LARGE_RX_BUFFERS,
    txBufferSize: VSOCK_LARGE_TX_BUFFER,
    txBuffers: VSOCK_LARGE_TX_BUFFERS,
  });
}

/**
 * Check the VMs' CIDs and build the vsock links. `net` holds the net links built so far and,
 * for each, its index in the file's `links` (for a name used twice), and the checks of link
 * directions that each vsock link between two VMs joins (`distribution` without `jitter`).
 *
 * @example
 * ```ts
 * import { buildVsock } from "./vsock.ts";
 * import type { Problem } from "./issues.ts";
 * const problems: Problem[] = [];
 * const vms = [{ name: "a", memoryBytes: 0, pollUs: 0, nics: [], vsock: { cid: 3 }, iommu: null }];
 * const net = { links: [], linkIndex: [] };
 * buildVsock({ name: "x", vms: { a: { vsock: { cid: 3 } } } }, vms, net, problems).length; // 0
 * ```
 */
export function buildVsock(
  raw: RawTopology,
  vms: readonly VmSpec[],
  net: {
    links: readonly LinkSpec[];
    linkIndex: readonly number[];
    directions?: DirectionChecks;
  },
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
  // Each link's name → its index in the file's `links`.
  const names = new Map(net.links.map((l, k) => [l.name, net.linkIndex[k]]));
  // Each VM with a vsock link → that link's name and index in the file's `links`.
  const linked = new Map<string, { name: string; index: number }>();
  const out: VsockLinkSpec[] = [];
  const routerByName = new Map(routers.map((r) => [r.name, r]));
  for (const [i, link] of (raw.links ?? []).entries()) {
    // A link the loader set aside for its shape leaves a hole, so the others keep their index.
    if (link === null) continue;
    if (link.kind !== "vsock" || link.endpoints.length !== 2) continue;
    const path: PathSegment[] = ["links", i];
    let ok = true;
    const name = link.name ?? `${link.endpoints[0]}-${link.endpoints[1]}-vsock`;
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
    // A link from a VM to itself is that one problem, said once (not once per endpoint, nor as
    // a second link of a VM linked already).
    const self = link.endpoints[0] === link.endpoints[1];
    link.endpoints.forEach((text, j) => {
      const at: PathSegment[] = [...path, "endpoints", j];
      if (routerByName.has(text) || (self && j === 1)) return;
      const vm = byName.get(text);
      const other = vm === undefined ? otherNode(raw, byName, text) : null;
      if (other !== null) {
        ok = false;
        problems.push({ code: "vsock-link", path: at, ...other });
      } else if (vm === undefined) {
        ok = false;
        problems.push({
          code: "unknown-endpoint",
          path: at,
          message: `Unknown VM ${quote(text)} in vsock link endpoint`,
          hint: didYouMean(text, [...byName.keys(), ...routerByName.keys()]) ??
            (byName.size === 0 && routerByName.size === 0 && new RegExp(NAME_PATTERN).test(text)
              ? `the file defines none yet: add ${text}: { vsock: { cid: ${3 + j} } } under vms`
              : "a vsock link joins two VMs, or a VM and a vsock router, by name"),
        });
      } else if (vm.vsock === null) {
        ok = false;
        problems.push({
          code: "no-vsock",
          path: at,
          message: `VM ${quote(text)} has no vsock device to link`,
          hint: `add vsock: { cid: N } under vms.${text}`,
        });
      } else if (linked.has(text) && !self) {
        ok = false;
        const first = linked.get(text)!;
        problems.push({
          code: "vsock-link",
          path: at,
          message: `VM ${quote(text)} already has vsock link ${
            quote(first.name)
          } (links[${first.index}]): it cannot also take ${quote(name)}`,
          hint: "a VM's vsock device takes one link: to reach more VMs, link each to a vsock " +
            "router (vsock_routers)",
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
    const first = names.get(name);
    if (first !== undefined) {
      problems.push({
        code: "duplicate-link-name",
        path: link.name === undefined ? path : [...path, "name"],
        message: `Link name ${quote(name)} is already used by links[${first}]`,
        hint: link.name === undefined
          ? "give one of the links a `name`"
          : "rename one of the links",
      });
      continue;
    }
    names.set(name, i);
    const router = routerByName.get(a) ?? routerByName.get(b);
    problems.push(...refusedKeys(raw, i, router !== undefined, name));
    if (router !== undefined) {
      const vm = router.name === a ? b : a;
      linked.set(vm, { name, index: i });
      router.ports.push({ link: name, vm });
      continue;
    }
    linked.set(a, { name, index: i });
    linked.set(b, { name, index: i });
    net.directions?.check(i, name, "vsock");
    out.push({ name, vms: [a, b], ...vsockImpairments(raw, i) });
  }
  return out;
}

type Obj = Record<string, unknown>;

/**
 * What a vsock link's endpoint names when it is not a VM or a vsock router but another node of
 * the lab (a switch, a VM's NIC): the message says what it is, the hint what fits. Null for a
 * name the lab does not know.
 */
function otherNode(
  raw: RawTopology,
  vms: ReadonlyMap<string, VmSpec>,
  text: string,
): { message: string; hint: string } | null {
  const node = text.split(":")[0];
  if (Object.hasOwn(raw.switches ?? {}, node) && !vms.has(node)) {
    return {
      message: `${endpointIs(text, node, "switch")}: a vsock link joins VMs' vsock devices, ` +
        "or a VM and a vsock router",
      hint: "a switch takes net links: remove `kind: vsock` to join a NIC to it",
    };
  }
  if (text !== node && vms.has(node)) {
    return {
      message: `Endpoint ${quote(text)} names a NIC: a vsock link joins VMs' vsock devices, ` +
        "by VM name",
      hint: `write ${quote(node)}`,
    };
  }
  return null;
}

/**
 * Every impairment key on `links[i]` (itself, `forward`, `reverse`) that a vsock link refuses:
 * all of them on a link to a router (its rings have no stage), else those outside
 * `VSOCK_IMPAIRMENT_KEYS`. Located at the key.
 */
function refusedKeys(raw: RawTopology, i: number, toRouter: boolean, name: string): Problem[] {
  const link = raw.links![i] as unknown as Obj;
  const out: Problem[] = [];
  const scopes: [Obj | undefined, PathSegment[]][] = [
    [link, ["links", i]],
    [link.forward as Obj | undefined, ["links", i, "forward"]],
    [link.reverse as Obj | undefined, ["links", i, "reverse"]],
  ];
  for (const [obj, path] of scopes) {
    for (const key of IMPAIRMENT_KEYS) {
      if (obj === undefined || !Object.hasOwn(obj, key)) continue;
      if (!toRouter && key === "limit" && Number(obj[key]) < VSOCK_MIN_LIMIT) {
        const p = limitProblem(name, Number(obj[key]));
        out.push({
          code: "vsock-impairment",
          path: [...path, key],
          message: p.message,
          // Shared with the live refusal, whose hint starts a sentence; a file's is lower case.
          hint: p.hint.charAt(0).toLowerCase() + p.hint.slice(1),
        });
        continue;
      }
      if (!toRouter && VSOCK_IMPAIRMENT_KEYS.includes(key)) continue;
      out.push({
        code: "vsock-impairment",
        path: [...path, key],
        message: toRouter
          ? `Vsock link ${quote(name)} to a vsock router takes no impairment (\`${key}\`)`
          : `Vsock link ${quote(name)} cannot have \`${key}\`: vsock is a reliable stream, ` +
            "and a lost, duplicated, corrupted or reordered packet breaks the connection",
        hint: toRouter
          ? "impair a vsock link between two VMs, or the net links"
          : VSOCK_IMPAIRMENT_HINT.charAt(0).toLowerCase() + VSOCK_IMPAIRMENT_HINT.slice(1),
      });
    }
  }
  return out;
}

/**
 * The two directions of vsock link `links[i]`: `defaults.link`, the link, then `forward` or
 * `reverse`, keeping only the keys a vsock link takes (a default `loss` is for net links).
 */
function vsockImpairments(
  raw: RawTopology,
  i: number,
): { forward: Impairment; reverse: Impairment } {
  const link = raw.links![i] as unknown as Obj;
  const defaults = raw.defaults?.link as Obj | undefined;
  // A default `limit` below what a vsock link needs is for the net links: raise it (a link's
  // own is refused above).
  const of = (dir: Obj | undefined) => {
    const imp = resolveImpairment((key) => {
      if (!VSOCK_IMPAIRMENT_KEYS.includes(key)) return undefined;
      for (const o of [dir, link, defaults]) {
        if (o !== undefined && Object.hasOwn(o, key)) return o[key] as string | number;
      }
      return undefined;
    });
    return { ...imp, limit: Math.max(imp.limit, VSOCK_MIN_LIMIT) };
  };
  return {
    forward: of(link.forward as Obj | undefined),
    reverse: of(link.reverse as Obj | undefined),
  };
}
