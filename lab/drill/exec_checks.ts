/**
 * What an `exec` step's workload needs of its VM that only the topology can tell: a network
 * workload (`ping`, `udp-flood`, `sink`, `udp-echo`) a NIC, a `ping` or `udp-flood` a destination
 * in the subnet of one of them (a flood, one that some VM has), a vsock workload a vsock device,
 * `vsock-send` a CID another VM (or the host) has and a vsock link (or router) to that VM,
 * `iommu-unmap` a NIC behind the VM's vIOMMU. Checked when the drill is validated, so that a typo
 * in a name fails at its line before the lab starts, not as a failed workload once it ran (the
 * same words the guest would answer with).
 *
 * Who calls it: the `exec` step's check in `steps.ts`, on the main thread.
 *
 * @module
 */

import type { PathSegment, Problem } from "../topology/issues.ts";
import { didYouMean } from "../topology/issues.ts";
import { quote } from "../../devices/base/quote.ts";
import type { Topology } from "../topology/types.ts";
import type { WorkloadRequest } from "../guest/workloads/args.ts";
import { labCidsText } from "../guest/workloads/vsock.ts";
import {
  formatIpv4,
  inSubnet,
  isBroadcast,
  networkOf,
  parseIpv4Address,
} from "../guest/net/ipv4.ts";

/** The host's vsock CID, as in Firecracker: a guest may always connect to it. */
const HOST_CID = 2;

/**
 * The problems of workload `req` run in VM `vm` of `topology`, placed at `path` (the step's
 * `argv`); none when the VM is not in the topology (reported on its own) or the workload needs
 * nothing of it.
 *
 * @example
 * ```ts ignore
 * import { workloadTopologyProblems } from "./exec_checks.ts";
 * workloadTopologyProblems({ kind: "iommu-unmap", device: "eth9" }, "a", topology, ["argv"]);
 * // [{ message: 'Cannot revoke "eth9": VM "a" has no vIOMMU', … }]
 * ```
 */
export function workloadTopologyProblems(
  req: WorkloadRequest,
  vm: string,
  topology: Topology,
  path: PathSegment[],
): Problem[] {
  const spec = topology.vms.find((v) => v.name === vm);
  if (spec === undefined) return [];
  const problem = (message: string, hint: string | null): Problem[] => [{
    code: "bad-workload",
    path,
    message,
    hint,
  }];
  switch (req.kind) {
    case "ping":
    case "udp-flood":
    case "sink":
    case "udp-echo": {
      // A VM with vsock only has no address to send from or to be reached at.
      if (spec.nics.length > 0) {
        return req.kind === "ping" || req.kind === "udp-flood"
          ? destinationProblems(req, vm, topology, problem)
          : [];
      }
      return problem(
        `Cannot run ${req.kind} in VM ${quote(vm)}: it has no network interface`,
        `give VM ${quote(vm)} a NIC (\`nics:\` in the topology), or run it in a VM with one; ` +
          "over vsock run vsock-send, vsock-sink or vsock-echo",
      );
    }
    case "vsock-echo":
    case "vsock-sink":
    case "vsock-send": {
      if (spec.vsock === null) {
        return problem(
          `Cannot run ${req.kind} in VM ${quote(vm)}: it has no vsock device`,
          `add \`vsock: { cid: N }\` to VM ${
            quote(vm)
          } in the topology, or run it in a VM with one`,
        );
      }
      if (req.kind !== "vsock-send" || req.cid === HOST_CID) return [];
      if (req.cid === spec.vsock.cid) {
        return problem(
          `Cannot connect to vsock ${req.cid}:${req.port}: CID ${req.cid} is VM ${quote(vm)}'s own`,
          "vlab has no vsock loopback: connect to another VM's CID, or to the host (CID 2)",
        );
      }
      const cids = new Map(
        topology.vms.flatMap((v) => v.vsock === null ? [] : [[v.vsock.cid, v.name] as const]),
      );
      const peer = cids.get(req.cid);
      if (peer !== undefined) {
        if (vsockPath(topology, vm, peer) !== null) return [];
        // A packet to a CID the VM has no link to is answered with RST: refused at once.
        return problem(
          `Cannot connect to vsock ${req.cid}:${req.port}: VM ${quote(vm)} has no vsock link to ` +
            `VM ${quote(peer)} (CID ${req.cid}), so the connection would be refused`,
          `join them in the topology (links: - { kind: vsock, endpoints: [${vm}, ${peer}] }), ` +
            "or link both to one vsock router",
        );
      }
      return problem(
        `Cannot connect to vsock ${req.cid}:${req.port}: no VM has CID ${req.cid}`,
        `the lab's vsock CIDs: ${labCidsText(cids, req.cid)}`,
      );
    }
    case "iommu-unmap": {
      const at = `Cannot revoke ${quote(req.device)}`;
      if (spec.iommu === null) {
        return problem(
          `${at}: VM ${quote(vm)} has no vIOMMU`,
          "iommu-unmap revokes the window of a NIC behind its VM's vIOMMU (`iommu:` in the topology)",
        );
      }
      const behind = spec.nics.filter((n) => n.iommu).map((n) => n.name);
      if (behind.includes(req.device)) return [];
      return problem(
        `${at}: not a NIC behind VM ${quote(vm)}'s vIOMMU (${
          behind.length === 0 ? "none is" : `those: ${behind.join(", ")}`
        })`,
        didYouMean(req.device, behind),
      );
    }
    default:
      return [];
  }
}

/** Every address of the lab's VMs, with its VM, NIC and prefix. */
function labAddresses(
  topology: Topology,
): { vm: string; nic: string; ip: number; prefix: number; mtu: number }[] {
  return topology.vms.flatMap((v) =>
    v.nics.flatMap((n) => {
      const ip = n.ip === null ? null : parseIpv4Address(n.ip);
      return ip === null || n.prefix === null
        ? []
        : [{ vm: v.name, nic: n.name, ip, prefix: n.prefix, mtu: n.mtu }];
    })
  );
}

/**
 * Where a `ping` or a `udp-flood` from `vm` cannot go, as the guest would answer: a destination
 * outside the subnets of the VM's interfaces (no route: the workload fails), or, for a flood, an
 * address in them that no VM of the lab has (its ARP gets no reply: the flood fails; a ping only
 * loses its requests, which a drill may mean, and is left to the run). A subnet's network and
 * broadcast addresses are no VM's either: the guest ARPs for them too. A flood's frames larger
 * than the MTU of the NIC they leave by (plus its 14-byte Ethernet header) fail it as well.
 */
function destinationProblems(
  req: Extract<WorkloadRequest, { kind: "ping" | "udp-flood" }>,
  vm: string,
  topology: Topology,
  problem: (message: string, hint: string | null) => Problem[],
): Problem[] {
  const { kind, dst } = req;
  const all = labAddresses(topology);
  const own = all.filter((a) => a.vm === vm);
  const verb = kind === "ping" ? "ping" : "flood";
  const at = `Cannot ${verb} ${formatIpv4(dst)} from VM ${quote(vm)}`;
  const reachable = all.filter((a) => own.some((o) => inSubnet(a.ip, o.ip, o.prefix)));
  const listed = (list: typeof all) =>
    list.slice(0, 8).map((a) => `${a.vm} ${formatIpv4(a.ip)}`).join(", ") +
    (list.length > 8 ? ", …" : "");
  const near = (list: typeof all) =>
    didYouMean(formatIpv4(dst), list.filter((a) => a.vm !== vm).map((a) => formatIpv4(a.ip)));
  // The guest refuses a broadcast destination (`broadcastDestination`): said before the drill runs.
  const cast = own.find((o) => isBroadcast(dst, o.ip, o.prefix));
  if (cast !== undefined) {
    const net = networkOf(cast.ip, cast.prefix);
    const others = reachable.filter((a) => a.vm !== vm);
    return problem(
      `${at}: it is the ${
        (dst >>> 0) === 0xffffffff
          ? "limited broadcast address"
          : `broadcast address of ${cast.nic}'s subnet ${formatIpv4(net)}/${cast.prefix}`
      }`,
      "vlab's guests send to one address at a time: give one VM's address" +
        (others.length > 0 ? ` (${listed(others)})` : ""),
    );
  }
  const mine = own.find((o) => inSubnet(dst, o.ip, o.prefix));
  if (mine === undefined) {
    return problem(
      `${at}: no interface's subnet holds it`,
      own.length === 0
        ? `none of VM ${quote(vm)}'s NICs has an address (\`ip:\` in the topology)`
        : near(reachable) ??
          `the addresses in VM ${quote(vm)}'s subnets: ${listed(reachable)}`,
    );
  }
  // A vhost-pci-net device (a vhost-pci link's serving end) takes its frontend's frames, not its
  // own mtu: left to the run.
  const served = topology.links.some((l) => {
    const e = l.endpoints[1];
    return l.kind === "vhost-pci" && e.kind === "nic" && e.vm === vm && e.nic === mine.nic;
  });
  if (req.kind === "udp-flood" && !served && req.frameSize > mine.mtu + 14) {
    // The guest's words, with the NIC the route takes.
    return problem(
      `${at}: frame size ${req.frameSize} exceeds the MTU of ${mine.nic} (${mine.mtu}) + 14`,
      `use -s between 60 and ${mine.mtu + 14}, or give ${mine.nic} a larger mtu in the topology`,
    );
  }
  if (kind !== "udp-flood" || all.some((a) => a.ip === dst)) return [];
  // A subnet's network address too: the guest ARPs for it as for any address (a flood to 10.0.0.0
  // failed after 3 s, "ARP got no reply"; its broadcast address is refused above).
  const hostBits = 32 - mine.prefix;
  const host = hostBits >= 32 ? dst : dst & ((1 << hostBits) - 1);
  const special = hostBits > 1 && host === 0 ? "the subnet's network address" : null;
  return problem(
    `${at}: ${
      special === null ? "no VM has that address" : `it is ${special}, which no VM has`
    }, ` +
      "so its ARP would get no reply",
    // A close name is no help for a subnet's own addresses (`10.0.0.255`: "did you mean
    // 10.0.0.2?"): the VMs' addresses are.
    (special === null ? near(reachable) : null) ??
      `the addresses in its subnet: ${listed(reachable)}`,
  );
}

/**
 * The vsock links a packet from VM `from` to VM `to` crosses: their vsock link, or the links of
 * both to one vsock router (in that order); null when none joins them (a connect is refused: the
 * device answers a packet to a CID it has no link to with RST).
 *
 * @example
 * ```ts ignore
 * import { vsockPath } from "./exec_checks.ts";
 * vsockPath(topology, "a", "b"); // ["a-b-vsock"]
 * ```
 */
export function vsockPath(topology: Topology, from: string, to: string): string[] | null {
  const direct = topology.vsockLinks.find((l) =>
    (l.vms[0] === from && l.vms[1] === to) || (l.vms[0] === to && l.vms[1] === from)
  );
  if (direct !== undefined) return [direct.name];
  for (const r of topology.vsockRouters) {
    const a = r.ports.find((p) => p.vm === from);
    const b = r.ports.find((p) => p.vm === to);
    if (a !== undefined && b !== undefined) return [a.link, b.link];
  }
  return null;
}
