/**
 * Checks across the built topology graph: NICs used twice, links to themselves, full switches,
 * loops among switches, duplicate MACs, and addresses per L2 segment (a segment is the set of
 * NICs joined by links, directly or through switches).
 *
 * @module
 */

import { formatIpv4, parseCidr, subnetOf } from "./addresses.ts";
import type { Origins } from "./build.ts";
import { type PathSegment, pathToString, type Problem } from "./issues.ts";
import type { Endpoint, Topology } from "./types.ts";
import { quote } from "../../devices/base/quote.ts";

/** Union-find over string keys, with path halving. */
class Components {
  #parent = new Map<string, string>();
  find(key: string): string {
    let k = key;
    for (let i = 0; i < 1_000_000; i++) {
      const p = this.#parent.get(k) ?? k;
      if (p === k) return k;
      const gp = this.#parent.get(p) ?? p;
      this.#parent.set(k, gp);
      k = gp;
    }
    throw new Error("union-find did not converge");
  }
  /** Join the sets of `a` and `b`; false when they were already one set. */
  union(a: string, b: string): boolean {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return false;
    this.#parent.set(rb, ra);
    return true;
  }
}

function nodeKey(e: Endpoint): string {
  return e.kind === "nic" ? `nic:${e.vm}:${e.nic}` : `sw:${e.switch}`;
}

function show(e: Endpoint): string {
  return e.kind === "nic" ? `${e.vm}:${e.nic}` : e.switch;
}

/** The links on the one path from switch `from` to switch `to` in a forest of trunks. */
function trunkPath(
  trunks: ReadonlyMap<string, readonly { peer: string; link: string }[]>,
  from: string,
  to: string,
): string[] {
  const via = new Map<string, { prev: string; link: string }>();
  const queue = [from];
  const seen = new Set([from]);
  for (let k = 0; k < queue.length && !seen.has(to); k++) {
    for (const { peer, link } of trunks.get(queue[k]) ?? []) {
      if (seen.has(peer)) continue;
      seen.add(peer);
      via.set(peer, { prev: queue[k], link });
      queue.push(peer);
    }
  }
  const links: string[] = [];
  for (let at = to; at !== from;) {
    const step = via.get(at);
    if (step === undefined) break;
    links.unshift(step.link);
    at = step.prev;
  }
  return links;
}

function checkLinks(t: Topology, origins: Origins, problems: Problem[]): void {
  const usedBy = new Map<string, string>();
  const ports = new Map<string, number>();
  const portsMax = new Map(t.switches.map((s) => [s.name, s.portsMax]));
  const switches = new Components();
  // The switch-to-switch links taken so far (a forest), to name the ones a loop would close.
  const trunks = new Map<string, { peer: string; link: string }[]>();
  // A full switch's problems, to say in each hint how many ports its links need in all.
  const full = new Map<string, Problem[]>();
  for (const [i, link] of t.links.entries()) {
    const at = (j: number): PathSegment[] => ["links", origins.linkIndex[i], "endpoints", j];
    const [e0, e1] = link.endpoints;
    if (nodeKey(e0) === nodeKey(e1)) {
      problems.push({
        code: "self-link",
        path: at(1),
        message: `Link ${quote(link.name)} connects ${quote(show(e0))} to itself`,
        hint: "a link joins two different NICs or switches",
      });
      continue;
    }
    for (const [j, e] of link.endpoints.entries()) {
      if (e.kind === "nic") {
        const other = usedBy.get(nodeKey(e));
        if (other !== undefined) {
          problems.push({
            code: "nic-reused",
            path: at(j),
            message: `NIC ${quote(show(e))} is already used by link ${quote(other)}`,
            hint: "a NIC takes one link; join more than two NICs through a switch",
          });
        } else usedBy.set(nodeKey(e), link.name);
      } else {
        const n = (ports.get(e.switch) ?? 0) + 1;
        ports.set(e.switch, n);
        const max = portsMax.get(e.switch) ?? 0;
        // Every link beyond the last port is refused, each at its own endpoint.
        if (n > max) {
          const problem: Problem = {
            code: "switch-full",
            path: at(j),
            message: `Switch ${quote(e.switch)} has no free port for link ${
              quote(link.name)
            } (ports_max ${max})`,
            hint: `raise ${pathToString(["switches", e.switch, "ports_max"])}`,
          };
          problems.push(problem);
          full.set(e.switch, [...full.get(e.switch) ?? [], problem]);
        }
      }
    }
    if (e0.kind === "switch" && e1.kind === "switch") {
      if (switches.union(e0.switch, e1.switch)) {
        for (const [a, b] of [[e0.switch, e1.switch], [e1.switch, e0.switch]]) {
          trunks.set(a, [...trunks.get(a) ?? [], { peer: b, link: link.name }]);
        }
      } else {
        const path = trunkPath(trunks, e0.switch, e1.switch);
        problems.push({
          code: "switch-loop",
          path: ["links", origins.linkIndex[i]],
          message: `Link ${quote(link.name)} closes a loop among switches: ${
            quote(e0.switch)
          } and ${quote(e1.switch)} are already joined by ${path.length === 1 ? "link" : "links"} ${
            path.map((l) => quote(l)).join(", ")
          }`,
          hint: "vlab switches have no STP, so a loop would flood frames forever; remove this " +
            "link or one of those",
        });
      }
    }
  }
  // "raise ports_max" alone sent a user of a 128-VM star to raise it by one, 64 times over.
  for (const [name, list] of full) {
    const need = ports.get(name) ?? 0;
    for (const p of list) {
      p.hint = `raise ${pathToString(["switches", name, "ports_max"])} to ${need}, ` +
        `the links on ${quote(name)}`;
    }
  }
}

function checkMacs(t: Topology, origins: Origins, problems: Problem[]): void {
  const owner = new Map<string, string>();
  for (const vm of t.vms) {
    for (const nic of vm.nics) {
      const who = `${vm.name}:${nic.name}`;
      const first = owner.get(nic.mac);
      if (first === undefined) {
        owner.set(nic.mac, who);
        continue;
      }
      problems.push({
        code: "duplicate-mac",
        path: origins.nicKey.get(`${vm.name}/${nic.name}`)?.mac ?? ["vms", vm.name],
        message: `MAC ${nic.mac} of NIC ${quote(who)} is already used by NIC ${quote(first)}`,
        hint: "remove `mac` to use the derived address, or pick another",
      });
    }
  }
}

function checkSegments(t: Topology, origins: Origins, problems: Problem[]): void {
  const segments = new Components();
  for (const link of t.links) {
    segments.union(nodeKey(link.endpoints[0]), nodeKey(link.endpoints[1]));
  }
  const subnetBy = new Map<string, { who: string; network: number; prefix: number }>();
  const ipBy = new Map<string, string>();
  for (const vm of t.vms) {
    for (const nic of vm.nics) {
      if (nic.ip === null || nic.prefix === null) continue;
      const who = `${vm.name}:${nic.name}`;
      const path = origins.nicKey.get(`${vm.name}/${nic.name}`)?.ip ?? ["vms", vm.name];
      const cidr = parseCidr(`${nic.ip}/${nic.prefix}`);
      if (!cidr.ok) continue;
      const { network, broadcast } = subnetOf(cidr.value);
      const net = `${formatIpv4(network)}/${nic.prefix}`;
      if (
        nic.prefix <= 30 && (cidr.value.address === network || cidr.value.address === broadcast)
      ) {
        const which = cidr.value.address === network ? "network" : "broadcast";
        problems.push({
          code: "bad-address",
          path,
          message: `IP ${nic.ip} of NIC ${quote(who)} is the ${which} address of ${net}`,
          hint: `use a host address from ${formatIpv4(network + 1)} to ${
            formatIpv4(broadcast - 1)
          }`,
        });
        continue;
      }
      const segment = segments.find(`nic:${vm.name}:${nic.name}`);
      const first = subnetBy.get(segment);
      if (first === undefined) {
        subnetBy.set(segment, { who, network, prefix: nic.prefix });
      } else if (first.network !== network || first.prefix !== nic.prefix) {
        const theirs = `${formatIpv4(first.network)}/${first.prefix}`;
        problems.push({
          code: "subnet-mismatch",
          path,
          message: `NIC ${quote(who)} (${nic.ip}/${nic.prefix}) shares an L2 segment with NIC ` +
            `${quote(first.who)} but is not in its subnet ${theirs}`,
          hint: "give NICs on one segment addresses in one subnet, or link them apart",
        });
      }
      const ipKey = `${segment}|${nic.ip}`;
      const other = ipBy.get(ipKey);
      if (other !== undefined) {
        problems.push({
          code: "duplicate-ip",
          path,
          message: `IP ${nic.ip} of NIC ${quote(who)} is already used by NIC ${
            quote(other)
          } on the same L2 segment`,
          hint: null,
        });
      } else ipBy.set(ipKey, who);
    }
  }
}

/**
 * Run the graph checks on a built topology.
 *
 * @example
 * ```ts
 * import { buildTopology } from "./build.ts";
 * import { checkGraph } from "./checks.ts";
 * const b = buildTopology({ name: "x", vms: { a: { nics: { eth0: {} } } },
 *   links: [{ endpoints: ["a", "a"] }] }, "<object>");
 * checkGraph(b.topology, b.origins)[0].code; // "self-link"
 * ```
 */
export function checkGraph(t: Topology, origins: Origins): Problem[] {
  const problems: Problem[] = [];
  checkLinks(t, origins, problems);
  checkMacs(t, origins, problems);
  checkSegments(t, origins, problems);
  return problems;
}
