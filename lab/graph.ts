/**
 * A lab as a picture: the plain-data graph of a topology or of a running lab (VMs with their
 * NICs, switches, links with the impairment of each direction and, when live, their state), and
 * its text in three formats: Graphviz `dot`, Mermaid `flowchart` and JSON. `vlab graph`
 * (`cli/graph.ts`) is its caller; this module is pure (no runtime access) so it can be tested on
 * hand-made graphs, including names no topology file allows.
 *
 * Every name is escaped for the format it lands in: a dot quoted string escapes `"` and `\`; a
 * Mermaid label uses entity codes (`#quot;`, `#35;`…) and nodes get generated ids (`n0`, `n1`…)
 * so a name never has to be an identifier.
 *
 * @module
 */

import { describeImpair, endpointName } from "./plan.ts";
import { type LabStatus, vmDevicesInOrder } from "./metrics.ts";
import { isVsockRouter } from "./snapshot_types.ts";
import type { PartitionInfo } from "./partition.ts";
import type { Topology } from "./topology/types.ts";
import { VSOCK_DEVICE_NAME } from "./kinds/vsock.ts";
import { IOMMU_DEVICE_NAME } from "./kinds/iommu.ts";

/** One NIC of a VM in a graph. */
export interface GraphNic {
  /** NIC name. */
  name: string;
  /** MAC address. */
  mac: string;
  /** "10.0.0.1/24", or null for an L2-only NIC. */
  ip: string | null;
  /** Ring layout ("split" or "packed"). */
  layout: string;
  /** Queue size. */
  queueSize: number;
  /**
   * `"vhost-pci-net"` for the interface of a vhost-pci link's peer, which serves the frontend
   * NIC's queues (`layout` and `queueSize` are theirs); absent for a virtio-net NIC.
   */
  kind?: "vhost-pci-net";
  /**
   * The DMA mode of its VM's vIOMMU (`"static"`, `"strict"`…) when the NIC sits behind it
   * (`iommu: true`: every address it reaches is translated); absent when it reaches guest memory
   * directly.
   */
  iommu?: string;
}

/** One VM in a graph. */
export interface GraphVm {
  /** VM name. */
  name: string;
  /** NICs in order. */
  nics: GraphNic[];
  /** Its vsock device ("vsock0 cid 3"), or null. */
  vsock?: string | null;
  /** Its vIOMMU, the virtio-iommu device ("iommu0 mode static"), or null. */
  iommu?: string | null;
}

/** One end of a link: a node (VM or switch) and, for a VM, its NIC. */
export interface GraphEnd {
  /** VM or switch name. */
  node: string;
  /** NIC name, or null for a switch. */
  nic: string | null;
}

/** One link in a graph. */
export interface GraphLink {
  /** Link name. */
  name: string;
  /** The two ends; `forward` applies from `ends[0]` to `ends[1]`. */
  ends: [GraphEnd, GraphEnd];
  /** Impairment from `ends[0]` to `ends[1]` ("delay 10ms loss 1%" or "no impairment"). */
  forward: string;
  /** Impairment from `ends[1]` to `ends[0]`. */
  reverse: string;
  /** Live link state, or null when drawn from a file. */
  up: boolean | null;
  /**
   * Drawn from a running lab: the partitions in force (`vlab partition`) that cut this link
   * between two VMs, each with the way it cuts (`both`, or the one end whose frames to the other
   * are cut: `forward` from `ends[0]`, `reverse` from `ends[1]`). Absent from a file's graph.
   */
  cuts?: { partition: number; way: "both" | "forward" | "reverse" }[];
}

/** A lab's graph: plain data, the JSON format of `vlab graph`. */
export interface LabGraph {
  /** Lab name. */
  name: string;
  /** Topology file (or `"<object>"`). */
  source: string;
  /** True when drawn from a running lab (link states are known). */
  live: boolean;
  /** VMs in file order. */
  vms: GraphVm[];
  /** Switch names in file order. */
  switches: string[];
  /** vsock router names in file order (they join VMs' vsock devices; no NICs). */
  vsockRouters: string[];
  /** Links in file order, then vsock links, then the links to vsock routers. */
  links: GraphLink[];
}

/** The output formats of {@linkcode renderGraph}. */
export const GRAPH_FORMATS = ["dot", "mermaid", "json"] as const;
/** One of {@linkcode GRAPH_FORMATS}. */
export type GraphFormat = typeof GRAPH_FORMATS[number];

/**
 * The graph of a validated topology (no link state).
 *
 * @example
 * ```ts
 * import { graphFromTopology } from "./graph.ts";
 * import { topologyFromObject } from "./topology/mod.ts";
 * const t = topologyFromObject({ name: "x", vms: { a: { nics: { eth0: {} } } } });
 * if (t.ok) graphFromTopology(t.value).vms[0].nics[0].layout; // "split"
 * ```
 */
export function graphFromTopology(t: Topology): LabGraph {
  // A vhost-pci link's second end is the peer's interface, serving the first end's queues.
  const served = new Map<string, string>();
  for (const l of t.links) {
    if (l.kind === "vhost-pci") {
      served.set(endpointName(l.endpoints[1]), endpointName(l.endpoints[0]));
    }
  }
  const nicOf = (end: string) => {
    const [vm, nic] = end.split(":");
    return t.vms.find((v) => v.name === vm)?.nics.find((n) => n.name === nic);
  };
  const vms: GraphVm[] = t.vms.map((vm) => ({
    name: vm.name,
    nics: vm.nics.map((n) => {
      const frontend = served.get(`${vm.name}:${n.name}`);
      const queues = (frontend === undefined ? undefined : nicOf(frontend)) ?? n;
      return {
        name: n.name,
        mac: n.mac,
        ip: n.ip === null ? null : `${n.ip}/${n.prefix}`,
        layout: queues.layout,
        queueSize: queues.queueSize,
        ...(frontend === undefined ? {} : { kind: "vhost-pci-net" as const }),
        ...(n.iommu && vm.iommu !== null ? { iommu: vm.iommu.mode } : {}),
      };
    }),
    vsock: vm.vsock === null ? null : `${VSOCK_DEVICE_NAME} cid ${vm.vsock.cid}`,
    iommu: vm.iommu === null ? null : `${IOMMU_DEVICE_NAME} mode ${vm.iommu.mode}`,
  }));
  return {
    name: t.name,
    source: t.source,
    live: false,
    vms,
    switches: t.switches.map((s) => s.name),
    vsockRouters: t.vsockRouters.map((r) => r.name),
    links: [
      ...t.links.map((l) => {
        const ends: [GraphEnd, GraphEnd] = [
          endOf(endpointName(l.endpoints[0])),
          endOf(endpointName(l.endpoints[1])),
        ];
        // A vhost-pci link has no ring to impair: say what it is instead.
        const vhostPci = l.kind === "vhost-pci" ? vhostPciLabel(vms, ends) : null;
        return {
          name: l.name,
          ends,
          forward: vhostPci ?? describeImpair(l.forward),
          reverse: vhostPci ?? describeImpair(l.reverse),
          up: null,
        };
      }),
      // vsock links join two VMs (no NIC end), as a running lab's status lists them.
      ...t.vsockLinks.map((l) => ({
        name: l.name,
        ends: [endOf(l.vms[0]), endOf(l.vms[1])] as [GraphEnd, GraphEnd],
        forward: describeImpair(l.forward),
        reverse: describeImpair(l.reverse),
        up: null,
      })),
      ...t.vsockRouters.flatMap((r) =>
        r.ports.map((p) => ({
          name: p.link,
          ends: [endOf(p.vm), endOf(r.name)] as [GraphEnd, GraphEnd],
          forward: "no impairment",
          reverse: "no impairment",
          up: null,
        }))
      ),
    ],
  };
}

/**
 * The graph of a running lab, from its status (`GET /lab`): the same shape, with link states.
 *
 * @example
 * ```ts ignore
 * import { graphFromStatus } from "./graph.ts";
 * const g = graphFromStatus(await controlJson<LabStatus>(record, "/lab"));
 * g.links[0].up; // true
 * ```
 */
export function graphFromStatus(s: LabStatus): LabGraph {
  // The status lists vsock routers among the switches (each has a worker and ports).
  const switches = s.switches.filter((w) => !isVsockRouter(w)).map((w) => w.name);
  const routers: string[] = s.switches.filter(isVsockRouter).map((w) => w.name);
  // And a link end that is neither a VM's NIC, a VM (a vsock link) nor a switch is one too.
  const known = new Set([...s.vms.map((v) => v.name), ...switches]);
  for (const l of s.links) {
    for (const e of l.endpoints) {
      if (!e.includes(":") && !known.has(e) && !routers.includes(e)) routers.push(e);
    }
  }
  const vms: GraphVm[] = s.vms.map((vm) => ({
    name: vm.name,
    // In the topology's order: a vhost-pci peer's interface (a device of its VM, serving the
    // frontend NIC's queues) in its NIC's place, not after the VM's NICs.
    nics: vmDevicesInOrder(vm).flatMap((x): GraphNic[] => {
      if (x.kind === "nic") {
        const n = x.nic;
        return [{
          name: n.name,
          mac: n.mac,
          ip: n.ip,
          layout: n.layout,
          queueSize: n.queueSize,
          // Behind the vIOMMU: the NIC is one of its endpoints.
          ...(vm.iommu?.domains.some((d) => d.device === n.name) ? { iommu: vm.iommu.mode } : {}),
        }];
      }
      const l = (s.vhostPciLinks ?? []).find((l) => l.peer === `${vm.name}:${x.device.name}`);
      if (l === undefined) return [];
      const [fvm, fnic] = l.frontend.split(":");
      const queues = s.vms.find((v) => v.name === fvm)?.nics.find((n) => n.name === fnic);
      return [{
        name: x.device.name,
        mac: x.device.mac ?? "",
        ip: x.device.ip ?? null,
        layout: queues?.layout ?? "",
        queueSize: queues?.queueSize ?? 0,
        kind: "vhost-pci-net" as const,
      }];
    }),
    vsock: vsockOf(vm.devices),
    iommu: iommuOf(vm.devices),
  }));
  return {
    name: s.name,
    source: s.source,
    live: true,
    vms,
    switches,
    vsockRouters: routers,
    links: [
      ...s.links.map((l) => {
        const ends: [GraphEnd, GraphEnd] = [endOf(l.endpoints[0]), endOf(l.endpoints[1])];
        return {
          name: l.name,
          ends,
          forward: l.forward.impair,
          reverse: l.reverse.impair,
          up: l.up,
          cuts: cutsOf(s.partitions ?? [], ends),
        };
      }),
      ...(s.vhostPciLinks ?? []).map((l) => {
        const ends: [GraphEnd, GraphEnd] = [endOf(l.frontend), endOf(l.peer)];
        const label = vhostPciLabel(vms, ends);
        return {
          name: l.name,
          ends,
          forward: label,
          reverse: label,
          up: l.state === "up",
          cuts: cutsOf(s.partitions ?? [], ends),
        };
      }),
    ],
  };
}

/**
 * What a vhost-pci link carries, in place of an impairment: the peer serves the frontend NIC's
 * queues, and what of the frontend VM's memory it reaches: only the windows its vIOMMU grants when
 * the NIC sits behind one (`iommu: true`), else all of it (no vIOMMU, or one in `passthrough`).
 */
function vhostPciLabel(vms: readonly GraphVm[], [frontend, peer]: [GraphEnd, GraphEnd]): string {
  const nic = vms.find((v) => v.name === frontend.node)?.nics.find((n) => n.name === frontend.nic);
  const serves = `vhost-pci (${peer.node} serves ${frontend.node}'s queues`;
  const all = `${serves} with all of ${frontend.node}'s memory:`;
  if (nic?.iommu === undefined) return `${all} no vIOMMU)`;
  if (nic.iommu === "passthrough") return `${all} vIOMMU in passthrough)`;
  return `${serves} through ${IOMMU_DEVICE_NAME}'s windows, ${nic.iommu})`;
}

/**
 * The partitions that cut a link between two VMs (a VM on each side), and which way. A link to a
 * switch or a router is not cut as a whole (the switch drops the frames between the two sides,
 * and carries the others), so it has none.
 */
function cutsOf(
  partitions: readonly PartitionInfo[],
  [x, y]: [GraphEnd, GraphEnd],
): NonNullable<GraphLink["cuts"]> {
  const cuts: NonNullable<GraphLink["cuts"]> = [];
  for (const p of partitions) {
    const xToY = p.a.includes(x.node) && p.b.includes(y.node);
    const yToX = p.b.includes(x.node) && p.a.includes(y.node);
    if (!xToY && !yToX) continue;
    const way = !p.oneWay ? "both" : xToY ? "forward" : "reverse";
    cuts.push({ partition: p.id, way });
  }
  return cuts;
}

/** "vm:nic" → a NIC end; a name without ":" → a switch. */
function endOf(text: string): GraphEnd {
  const colon = text.indexOf(":");
  return colon < 0
    ? { node: text, nic: null }
    : { node: text.slice(0, colon), nic: text.slice(colon + 1) };
}

/**
 * The graph's text in a format.
 *
 * @example
 * ```ts
 * import { renderGraph } from "./graph.ts";
 * const g = {
 *   name: "x", source: "<object>", live: false, vms: [], switches: [], vsockRouters: [], links: [],
 * };
 * renderGraph(g, "mermaid").startsWith("flowchart LR"); // true
 * ```
 */
export function renderGraph(g: LabGraph, format: GraphFormat): string {
  if (format === "dot") return renderDot(g);
  if (format === "mermaid") return renderMermaid(g);
  return JSON.stringify(g, null, 2) + "\n";
}

/**
 * The label lines of a VM: its name, then one line per NIC (`iommu MODE` at the end of a NIC
 * behind the vIOMMU), then its vsock device and its vIOMMU.
 */
function vmLines(vm: GraphVm): string[] {
  return [
    vm.name,
    ...vm.nics.map((n) =>
      `${n.name} ${n.ip ?? "(no ip)"} ${n.kind ?? ""}${
        n.kind ? " " : ""
      }${n.layout}/${n.queueSize}${n.iommu === undefined ? "" : ` iommu ${n.iommu}`}`
    ),
    ...(vm.vsock ? [vm.vsock] : []),
    ...(vm.iommu ? [vm.iommu] : []),
  ];
}

/** "vsock0 cid 3" from a status's other devices, or null. */
function vsockOf(devices: LabStatus["vms"][number]["devices"]): string | null {
  const d = (devices ?? []).find((x) => x.kind === "virtio-vsock");
  return d === undefined ? null : `${d.name} ${d.detail}`;
}

/** "iommu0 mode static" from a status's other devices, or null. */
function iommuOf(devices: LabStatus["vms"][number]["devices"]): string | null {
  const d = (devices ?? []).find((x) => x.kind === "virtio-iommu");
  return d === undefined ? null : `${d.name} ${d.detail}`;
}

/** The label lines of a link: its name (and state), then each direction's impairment. */
function linkLines(l: GraphLink): string[] {
  const cut = (l.cuts ?? []).map((c) =>
    c.way === "both"
      ? `cut by partition ${c.partition}`
      : c.way === "forward"
      ? `${endText(l.ends[0])} → ${endText(l.ends[1])} cut by partition ${c.partition}`
      : `${endText(l.ends[1])} → ${endText(l.ends[0])} cut by partition ${c.partition}`
  );
  const state = l.up === null ? "" : ` (${[l.up ? "up" : "DOWN", ...cut].join(", ")})`;
  if (l.forward === l.reverse) return [`${l.name}${state}`, `both ways: ${l.forward}`];
  return [
    `${l.name}${state}`,
    `${endText(l.ends[0])} → ${endText(l.ends[1])}: ${l.forward}`,
    `${endText(l.ends[1])} → ${endText(l.ends[0])}: ${l.reverse}`,
  ];
}

function endText(e: GraphEnd): string {
  return e.nic === null ? e.node : `${e.node}:${e.nic}`;
}

/** Control characters (C0, DEL, C1) would corrupt a terminal or a file: show them as `?`. */
function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
}

/**
 * A dot double-quoted string: `\` and `"` escaped, control characters replaced. Lines are joined
 * with dot's `\n` escape.
 *
 * @example
 * ```ts
 * import { dotString } from "./graph.ts";
 * dotString(['a"b']); // '"a\\"b"'
 * ```
 */
export function dotString(lines: string[]): string {
  const esc = (s: string) => printable(s).replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  return `"${lines.map(esc).join("\\n")}"`;
}

/**
 * The graph in Graphviz dot: an undirected graph, VMs as boxes, switches as hexagons, vsock
 * routers as octagons.
 */
function renderDot(g: LabGraph): string {
  const lines = [
    `graph ${dotString([g.name])} {`,
    `  label=${dotString([`lab ${g.name}${g.live ? " (live)" : ""}`])};`,
    "  labelloc=t;",
    '  node [fontname="Helvetica"];',
    '  edge [fontname="Helvetica", fontsize=10];',
  ];
  for (const vm of g.vms) {
    lines.push(`  ${dotString([vm.name])} [shape=box, label=${dotString(vmLines(vm))}];`);
  }
  for (const s of g.switches) {
    lines.push(`  ${dotString([s])} [shape=hexagon, label=${dotString([s])}];`);
  }
  for (const r of g.vsockRouters) {
    lines.push(`  ${dotString([r])} [shape=octagon, label=${dotString([r, "vsock router"])}];`);
  }
  for (const l of g.links) {
    const attrs = [`label=${dotString(linkLines(l))}`];
    if (l.ends[0].nic !== null) attrs.push(`taillabel=${dotString([l.ends[0].nic])}`);
    if (l.ends[1].nic !== null) attrs.push(`headlabel=${dotString([l.ends[1].nic])}`);
    if (l.up === false) attrs.push("style=dashed", "color=red");
    else if ((l.cuts ?? []).length > 0) attrs.push("style=dotted", "color=orange");
    lines.push(
      `  ${dotString([l.ends[0].node])} -- ${dotString([l.ends[1].node])} [${attrs.join(", ")}];`,
    );
  }
  lines.push("}");
  return lines.join("\n") + "\n";
}

/**
 * A Mermaid quoted label: characters Mermaid would read as syntax become entity codes, control
 * characters are replaced; lines are joined with `<br/>`.
 *
 * @example
 * ```ts
 * import { mermaidString } from "./graph.ts";
 * mermaidString(['a"b']); // '"a#quot;b"'
 * ```
 */
export function mermaidString(lines: string[]): string {
  const entities: Record<string, string> = {
    '"': "#quot;",
    "#": "#35;",
    "<": "#lt;",
    ">": "#gt;",
    "&": "#amp;",
    "`": "#96;",
    "|": "#124;",
  };
  const esc = (s: string) => printable(s).replace(/["#<>&`|]/g, (c) => entities[c]);
  return `"${lines.map(esc).join("<br/>")}"`;
}

/**
 * The graph as a Mermaid flowchart: VMs as rectangles, switches as hexagons, vsock routers as
 * stadiums, one edge a link.
 */
function renderMermaid(g: LabGraph): string {
  const ids = new Map<string, string>();
  const idOf = (node: string) => {
    let id = ids.get(node);
    if (id === undefined) {
      id = `n${ids.size}`;
      ids.set(node, id);
    }
    return id;
  };
  const lines = ["flowchart LR"];
  for (const vm of g.vms) lines.push(`  ${idOf(vm.name)}[${mermaidString(vmLines(vm))}]`);
  for (const s of g.switches) lines.push(`  ${idOf(s)}{{${mermaidString([s])}}}`);
  for (const r of g.vsockRouters) {
    lines.push(`  ${idOf(r)}([${mermaidString([r, "vsock router"])}])`);
  }
  g.links.forEach((l, i) => {
    const edge = l.up === false ? "-.-" : "---";
    lines.push(
      `  ${idOf(l.ends[0].node)} ${edge}|${mermaidString(linkLines(l))}| ${idOf(l.ends[1].node)}`,
    );
    if (l.up === false) lines.push(`  linkStyle ${i} stroke:red`);
    else if ((l.cuts ?? []).length > 0) lines.push(`  linkStyle ${i} stroke:orange`);
  });
  return lines.join("\n") + "\n";
}
