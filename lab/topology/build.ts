/**
 * Builds the normalised {@link Topology} from a document the schema accepted: applies defaults
 * (`defaults` < VM or link < NIC or direction), derives MACs, checks names and resolves link
 * endpoints. Checks across the built graph (segments, loops, duplicates) are in `checks.ts`.
 *
 * @module
 */

import { NO_IMPAIRMENT } from "../host/impair.ts";
import { resolveImpairment } from "./impairment.ts";
import { netDriverMemoryBytes } from "../../devices/net/driver.ts";
import {
  IOMMU_EVENT_QUEUE_SIZE,
  IOMMU_PROBE_SIZE,
  IOMMU_REQUEST_QUEUE_SIZE,
  iommuDriverMemoryBytes,
} from "../../devices/iommu/driver.ts";
import { isValidPackedSize } from "../../devices/virtio/packed_layout.ts";
import { isValidSplitSize } from "../../devices/virtio/split_layout.ts";
import { deriveMac, formatIpv4, parseCidr, parseMac } from "./addresses.ts";
import { didYouMean, endpointIs, type PathSegment, pathToString, type Problem } from "./issues.ts";
import {
  type FEATURE_NAMES,
  LAB_NAME_PATTERN,
  LOGS_FOLDER,
  NAME_PATTERN,
  QUEUE_SIZE_RANGE,
  type RawTopology,
} from "./schema.ts";
import type {
  Endpoint,
  Impairment,
  LinkSpec,
  NicSpec,
  RingLayout,
  Topology,
  VmSpec,
  VsockRouterSpec,
} from "./types.ts";
import { parseDuration, parseSize } from "./units.ts";
import { quote } from "../../devices/base/quote.ts";
import { buildVsock, vsockMemoryBytes } from "./vsock.ts";
import { checkVhostPci } from "./vhost_pci.ts";
import { DirectionChecks } from "./direction_checks.ts";

/** Built-in defaults, used when a key is absent everywhere. */
export const BUILTIN_DEFAULTS = {
  memoryBytes: 16 * 1024 ** 2,
  pollUs: 0,
  layout: "split" as RingLayout,
  queueSize: 256,
  features: ["event_idx", "mrg_rxbuf", "csum"] as string[],
  mtu: 1500,
  portsMax: 64,
  seed: 1,
  impairment: NO_IMPAIRMENT as Impairment,
} as const;

/** The lab needs at least this many descriptors per queue. */
export const MIN_LAB_QUEUE_SIZE = QUEUE_SIZE_RANGE.min;

type Obj = Record<string, unknown>;
interface Layer {
  obj: Obj | null | undefined;
  path: PathSegment[];
}
interface Picked<T> {
  value: T;
  path: PathSegment[] | null;
}

/** The value of `key` in the last layer that has it, and where it came from. */
function pick<T>(layers: readonly Layer[], key: string, fallback: T): Picked<T> {
  for (let i = layers.length - 1; i >= 0; i--) {
    const v = layers[i].obj?.[key];
    if (v !== undefined) return { value: v as T, path: [...layers[i].path, key] };
  }
  return { value: fallback, path: null };
}

function unwrapOr<T>(r: { ok: true; value: T } | { ok: false }, fallback: T): T {
  return r.ok ? r.value : fallback;
}

/** Where each NIC key and link impairment came from, for checks that point back at the file. */
export interface Origins {
  /** `vm/nic` → path of the key that set `mac` or `ip` (the NIC itself when derived). */
  nicKey: Map<string, { mac: PathSegment[]; ip: PathSegment[] | null }>;
  /** Index in `topology.links` → index in the file's `links`. */
  linkIndex: number[];
}

interface Out {
  problems: Problem[];
  origins: Origins;
  /** Problems already reported at a shared key (defaults, VM-level NIC keys). */
  reported: Set<string>;
  /** Reorder and distribution of every link direction, reported once per key. */
  directions: DirectionChecks;
}

/** The result of building: a topology (possibly partial) and the problems found. */
export interface Built {
  topology: Topology;
  origins: Origins;
  problems: Problem[];
}

const NAME_RE = new RegExp(NAME_PATTERN);
const LAB_NAME_RE = new RegExp(LAB_NAME_PATTERN);

/** What a suggested name starts with when the bad one does not start with a letter. */
const NAME_PREFIX: ReadonlyMap<string, string> = new Map([
  ["VM", "vm"],
  ["NIC", "eth"],
  ["switch", "sw"],
  ["link", "link"],
  ["vsock router", "router"],
]);

/**
 * A valid name close to a bad one: lower case, other characters as "-", and a name that does
 * not start with a letter gets the kind's prefix ("1" → "vm1", "0" → "eth0").
 */
function suggestName(kind: string, name: string): string {
  let fixed = name.toLowerCase().replace(/[^a-z0-9_-]/g, "-").replace(/^[-_]+/, "");
  if (!/^[a-z]/.test(fixed)) fixed = (NAME_PREFIX.get(kind) ?? "x") + fixed;
  return fixed.slice(0, 16);
}

function badName(kind: string, name: string, path: PathSegment[], atKey: boolean): Problem {
  const fixed = suggestName(kind, name);
  return {
    code: "bad-name",
    path,
    atKey,
    message: `Bad ${kind} name ${
      quote(name)
    }: use 1-16 of a-z, 0-9, "_" and "-", starting with a letter`,
    hint: NAME_RE.test(fixed) ? `try ${quote(fixed)}` : null,
  };
}

function buildNic(
  raw: RawTopology,
  vm: { name: string; index: number; obj: Obj | null },
  nic: { name: string; index: number; obj: Obj | null },
  out: Out,
): NicSpec {
  const vmPath: PathSegment[] = ["vms", vm.name];
  const nicPath: PathSegment[] = [...vmPath, "nics", nic.name];
  const layers: Layer[] = [
    { obj: raw.defaults?.nic as Obj | undefined, path: ["defaults", "nic"] },
    { obj: vm.obj, path: vmPath },
    { obj: nic.obj, path: nicPath },
  ];
  const layout = pick<RingLayout>(layers, "layout", BUILTIN_DEFAULTS.layout);
  const size = pick<number>(layers, "queue_size", BUILTIN_DEFAULTS.queueSize);
  const valid = layout.value === "split"
    ? isValidSplitSize(size.value)
    : isValidPackedSize(size.value);
  const sizeAt = size.path ?? nicPath;
  const once = `${sizeAt.join("/")}|${layout.value}`;
  if ((!valid || size.value < MIN_LAB_QUEUE_SIZE) && !out.reported.has(once)) {
    out.reported.add(once);
    out.problems.push({
      code: "bad-queue-size",
      path: sizeAt,
      message: !valid
        ? `Queue size must be a power of 2 for the split layout, got ${size.value}`
        : `Queue size must be at least ${MIN_LAB_QUEUE_SIZE}, got ${size.value}`,
      hint: !valid
        ? "use 8, 16, …, 32768, or `layout: packed` which takes any size"
        : `the lab keeps up to ${MIN_LAB_QUEUE_SIZE} frames in flight per queue`,
    });
  }
  const featureList = pick<string[]>(layers, "features", BUILTIN_DEFAULTS.features).value;
  const has = (f: (typeof FEATURE_NAMES)[number]) => featureList.includes(f);
  const ip = nic.obj?.ip as string | undefined;
  const cidr = ip === undefined ? null : parseCidr(ip);
  const mac = nic.obj?.mac as string | undefined;
  out.origins.nicKey.set(`${vm.name}/${nic.name}`, {
    mac: mac === undefined ? nicPath : [...nicPath, "mac"],
    ip: ip === undefined ? null : [...nicPath, "ip"],
  });
  return {
    name: nic.name,
    mac: mac === undefined ? deriveMac(vm.index, nic.index) : unwrapOr(parseMac(mac), mac),
    ip: cidr?.ok ? formatIpv4(cidr.value.address) : null,
    prefix: cidr?.ok ? cidr.value.prefix : null,
    queueSize: size.value,
    layout: layout.value,
    features: {
      eventIdx: has("event_idx"),
      indirect: has("indirect"),
      mrgRxbuf: has("mrg_rxbuf"),
      inOrder: has("in_order"),
      csum: has("csum"),
    },
    mtu: pick<number>(layers, "mtu", BUILTIN_DEFAULTS.mtu).value,
    iommu: nic.obj?.iommu === true,
    ...txTimeout(pick<string | number | undefined>(layers, "tx_timeout", undefined).value),
  };
}

/**
 * `tx_timeout` in ms, when the topology sets it (the schema has checked the value). `0` sets
 * none: the driver's default of 5 s applies, as Linux gives a netdev whose `watchdog_timeo` is
 * 0 or less (docs/topology.md says so).
 */
function txTimeout(v: string | number | undefined): { txTimeoutMs?: number } {
  if (v === undefined) return {};
  const us = parseDuration(v);
  return us.ok && us.value > 0 ? { txTimeoutMs: Math.max(1, Math.round(us.value / 1000)) } : {};
}

function buildVms(raw: RawTopology, out: Out): VmSpec[] {
  const vms: VmSpec[] = [];
  const tooSmall: SmallMemory[] = [];
  const entries = Object.entries(raw.vms);
  for (const [index, [name, obj]] of entries.entries()) {
    if (!NAME_RE.test(name)) out.problems.push(badName("VM", name, ["vms", name], true));
    const layers: Layer[] = [
      { obj: raw.defaults?.vm as Obj | undefined, path: ["defaults", "vm"] },
      { obj: obj as Obj | null, path: ["vms", name] },
    ];
    const memory = pick<string | number>(layers, "memory", BUILTIN_DEFAULTS.memoryBytes).value;
    const nics: NicSpec[] = [];
    const nicEntries = Object.entries(obj?.nics ?? {}).slice(0, 0x10000);
    for (const [nicIndex, [nicName, nicObj]] of nicEntries.entries()) {
      if (!NAME_RE.test(nicName)) {
        out.problems.push(badName("NIC", nicName, ["vms", name, "nics", nicName], true));
      }
      const vm = { name, index, obj: obj as Obj | null };
      const nic = { name: nicName, index: nicIndex, obj: nicObj as Obj | null };
      nics.push(buildNic(raw, vm, nic, out));
    }
    const memoryBytes = unwrapOr(parseSize(memory), BUILTIN_DEFAULTS.memoryBytes);
    // Page 0 is never handed out; each NIC's driver takes its rings and buffers at start.
    const sizable = nics.filter((n) =>
      n.queueSize >= 1 && n.queueSize <= 32768 &&
      (n.layout === "packed" || isValidSplitSize(n.queueSize))
    );
    const vsockBytes = obj?.vsock ? vsockMemoryBytes() : 0;
    // A vIOMMU's guest driver takes its queues and request buffers first.
    const iommuBytes = obj?.iommu
      ? iommuDriverMemoryBytes({
        requestq: IOMMU_REQUEST_QUEUE_SIZE,
        eventq: IOMMU_EVENT_QUEUE_SIZE,
        probeSize: IOMMU_PROBE_SIZE,
      })
      : 0;
    const needed = 4096 + vsockBytes + iommuBytes +
      sizable.reduce((sum, n) =>
        sum + netDriverMemoryBytes({
          layout: n.layout,
          queueSize: n.queueSize,
          mtu: n.mtu,
          mrgRxbuf: n.features.mrgRxbuf,
          indirect: n.features.indirect,
        }), 0);
    if (needed > memoryBytes) {
      const at = pick<string | number>(layers, "memory", 0).path ?? ["vms", name];
      tooSmall.push({
        vm: name,
        needed,
        got: memoryBytes,
        sizable: sizable.length > 0,
        code: "memory-too-small",
        path: at,
        message: `VM ${quote(name)} needs ${mib(needed)} of guest memory for its ${
          vsockBytes > 0 ? "devices'" : "NICs'"
        } rings and buffers${iommuBytes > 0 ? " and its vIOMMU driver" : ""}, got ${
          mib(memoryBytes)
        }`,
        // Only the NICs' rings have a size to choose; vsock's and the vIOMMU's are fixed.
        hint: `set memory: ${Math.ceil(needed / 2 ** 20)}MiB or more${
          sizable.length > 0 ? ", or use a smaller queue_size" : ""
        }`,
      });
    }
    vms.push({
      name,
      memoryBytes,
      pollUs: pick<number>(layers, "poll_us", BUILTIN_DEFAULTS.pollUs).value,
      nics,
      vsock: obj?.vsock ? { cid: obj.vsock.cid } : null,
      iommu: obj?.iommu ? { mode: obj.iommu.mode } : null,
    });
    if (obj?.iommu == null) {
      for (const nic of nics) {
        if (!nic.iommu) continue;
        out.problems.push({
          code: "no-iommu",
          path: ["vms", name, "nics", nic.name, "iommu"],
          message: `NIC ${quote(`${name}:${nic.name}`)} has iommu: true but VM ${
            quote(name)
          } has no vIOMMU`,
          hint: `add iommu: { mode: static } under vms.${name}, or remove the NIC's iommu`,
        });
      }
    }
  }
  out.problems.push(...memoryProblems(tooSmall));
  return vms;
}

/** A VM whose memory cannot hold its devices: its problem, and what a shared one needs. */
interface SmallMemory extends Problem {
  vm: string;
  /** Bytes it needs, and bytes it has. */
  needed: number;
  got: number;
  /** Whether the VM has NICs, whose queue_size could be smaller. */
  sizable: boolean;
}

/**
 * One problem per `memory` key at fault: a `defaults.vm.memory` too small for several VMs is
 * reported once at that key, naming them (it was once per VM, each at the same line:column).
 */
function memoryProblems(small: readonly SmallMemory[]): Problem[] {
  const byKey = new Map<string, SmallMemory[]>();
  for (const s of small) {
    const key = s.path.join("/");
    const group = byKey.get(key);
    if (group === undefined) byKey.set(key, [s]);
    else group.push(s);
  }
  return [...byKey.values()].map((group): Problem => {
    const { code, path, message, hint } = group[0];
    if (group.length === 1) return { code, path, message, hint };
    const most = Math.max(...group.map((s) => s.needed));
    const names = group.map((s) => quote(s.vm));
    const listed = names.length <= 3
      ? `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`
      : `${names.slice(0, 3).join(", ")} and ${names.length - 3} more`;
    return {
      code,
      path,
      message: `VMs ${listed} need up to ${mib(most)} of guest memory for their devices' ` +
        `rings and buffers, got ${mib(group[0].got)}`,
      hint: `set memory: ${Math.ceil(most / 2 ** 20)}MiB or more${
        group.some((s) => s.sizable) ? ", or use a smaller queue_size" : ""
      }`,
    };
  });
}

/** Bytes as MiB with one decimal, rounded up (so "needs 4.5MiB" is enough). */
function mib(b: number): string {
  return `${Math.ceil((b / 2 ** 20) * 10) / 10}MiB`;
}

function buildImpairment(layers: readonly Layer[]): Impairment {
  return resolveImpairment((key) =>
    pick<string | number | undefined>(layers, key, undefined).value
  );
}

interface EndpointContext {
  vms: Map<string, VmSpec>;
  switches: Set<string>;
  /** Vsock routers: an endpoint naming one says so (they take vsock links only). */
  routers: Set<string>;
}

/** The problem of a net or vhost-pci link's endpoint that names a vsock router. */
function routerEndpoint(text: string, node: string, kind: "net" | "vhost-pci"): {
  code: string;
  message: string;
  hint: string;
} {
  const what = endpointIs(text, node, "vsock router");
  return kind === "net"
    ? {
      code: "bad-endpoint",
      message: `${what}, which takes vsock links only`,
      hint: "to join a VM's vsock device to it, write `kind: vsock` on the link",
    }
    : {
      code: "vhost-pci-link",
      message: `${what}: a vhost-pci link joins two VMs' NICs`,
      hint: 'a vsock router takes vsock links (`kind: vsock`); write "vm:nic" here',
    };
}

function resolveEndpoint(
  text: string,
  ctx: EndpointContext & { kind: "net" | "vhost-pci" },
  path: PathSegment[],
): Endpoint | Problem {
  const parts = text.split(":");
  const problem = (code: string, message: string, hint: string | null): Problem => ({
    code,
    path,
    message,
    hint,
  });
  if (parts.length > 2 || parts.some((s) => s === "")) {
    return problem(
      "bad-endpoint",
      `Cannot read endpoint ${quote(text)}: expected "vm:nic", "vm" or "switch"`,
      null,
    );
  }
  const [node, nicName] = parts;
  const vm = ctx.vms.get(node);
  if (nicName !== undefined) {
    if (vm === undefined) {
      if (ctx.switches.has(node)) {
        return problem(
          "bad-endpoint",
          `Endpoint ${quote(text)} names a NIC of switch ${quote(node)}; switches have no NICs`,
          `write ${quote(node)}`,
        );
      }
      if (ctx.routers.has(node)) {
        const r = routerEndpoint(text, node, ctx.kind);
        return problem(r.code, r.message, r.hint);
      }
      return problem(
        "unknown-endpoint",
        `Unknown VM ${quote(node)} in endpoint ${quote(text)}`,
        didYouMean(node, [...ctx.vms.keys()]) ?? noneYet(node, nicName, false),
      );
    }
    if (!vm.nics.some((n) => n.name === nicName)) {
      return problem(
        "unknown-endpoint",
        `VM ${quote(node)} has no NIC ${quote(nicName)}`,
        didYouMean(nicName, vm.nics.map((n) => n.name)),
      );
    }
    return { kind: "nic", vm: node, nic: nicName };
  }
  if (ctx.switches.has(node)) return { kind: "switch", switch: node };
  if (vm !== undefined) {
    if (vm.nics.length === 1) return { kind: "nic", vm: node, nic: vm.nics[0].name };
    if (vm.nics.length === 0) {
      const vsock = vm.vsock !== null && ctx.kind === "net"
        ? ", or write `kind: vsock` on the link to join its vsock device"
        : "";
      return problem(
        "no-nic",
        `VM ${quote(node)} has no NIC to link`,
        `add one under ${pathToString(["vms", node, "nics"])}${vsock}`,
      );
    }
    const names = vm.nics.map((n) => quote(`${node}:${n.name}`));
    return problem(
      "ambiguous-nic",
      `VM ${quote(node)} has ${vm.nics.length} NICs, so endpoint ${quote(text)} is ambiguous`,
      `write ${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`,
    );
  }
  if (ctx.routers.has(node)) {
    const r = routerEndpoint(text, node, ctx.kind);
    return problem(r.code, r.message, r.hint);
  }
  // A NIC's name alone (`eth0`): say which VMs have one, in the form an endpoint takes.
  const owners = [...ctx.vms.values()].filter((v) => v.nics.some((n) => n.name === node));
  if (owners.length > 0) {
    const forms = owners.slice(0, 3).map((v) => quote(`${v.name}:${node}`));
    return problem(
      "unknown-endpoint",
      `Endpoint ${quote(node)} names a NIC, not a VM or switch`,
      `write the VM before it: ${forms.join(" or ")}${owners.length > 3 ? ", …" : ""}`,
    );
  }
  return problem(
    "unknown-endpoint",
    `Unknown VM or switch ${quote(node)}`,
    didYouMean(node, [...ctx.vms.keys(), ...ctx.switches]) ?? noneYet(node, "eth0", true),
  );
}

/**
 * The hint for an endpoint when the file defines no VM (nor switch) to suggest: what to add.
 * "name a VM, NIC or switch defined in the file" did not say that there is none.
 */
function noneYet(node: string, nic: string, orSwitch: boolean): string {
  const named = NAME_RE.test(node) && NAME_RE.test(nic);
  const vm = named ? `${node}: { nics: { ${nic}: {} } }` : "the VM";
  const sw = !orSwitch
    ? ""
    : named
    ? `, or ${node}: {} under switches`
    : ", or the switch under switches";
  return `the file defines none yet: add ${vm} under vms${sw}`;
}

function endpointNode(e: Endpoint): string {
  return e.kind === "nic" ? e.vm : e.switch;
}

function buildLinks(
  raw: RawTopology,
  ctx: EndpointContext,
  out: Out,
): LinkSpec[] {
  const links: LinkSpec[] = [];
  const byName = new Map<string, number>();
  for (const [i, link] of (raw.links ?? []).entries()) {
    // A link the loader set aside for its shape leaves a hole, so the others keep their index.
    if (link === null) continue;
    const path: PathSegment[] = ["links", i];
    if (link.name !== undefined && !NAME_RE.test(link.name)) {
      out.problems.push(badName("link", link.name, [...path, "name"], false));
    }
    if (link.endpoints.length !== 2 || link.kind === "vsock") continue;
    const kind = link.kind === "vhost-pci" ? "vhost-pci" : "net";
    const ends = link.endpoints.map((t, j) =>
      resolveEndpoint(t, { ...ctx, kind }, [...path, "endpoints", j])
    );
    const [e0, e1] = ends;
    if ("code" in e0 || "code" in e1) {
      for (const e of ends) if ("code" in e) out.problems.push(e);
      continue;
    }
    const name = link.name ?? `${endpointNode(e0)}-${endpointNode(e1)}`;
    const first = byName.get(name);
    if (first !== undefined) {
      out.problems.push({
        code: "duplicate-link-name",
        path: link.name === undefined ? path : [...path, "name"],
        message: `Link name ${quote(name)} is already used by links[${first}]`,
        hint: link.name === undefined
          ? "give one of the links a `name`"
          : "rename one of the links",
      });
    } else byName.set(name, i);
    // A vhost-pci link has no impairment stage: its own keys are refused (`checkVhostPci`), and
    // `defaults.link` does not reach it, so it carries none (as the running lab reports).
    const layers = (dir: "forward" | "reverse"): Layer[] =>
      kind === "vhost-pci" ? [] : [
        { obj: raw.defaults?.link as Obj | undefined, path: ["defaults", "link"] },
        { obj: link as Obj, path },
        { obj: link[dir] as Obj | undefined, path: [...path, dir] },
      ];
    const fwd = buildImpairment(layers("forward"));
    const rev = buildImpairment(layers("reverse"));
    if (kind === "net") out.directions.check(i, name, "net");
    out.origins.linkIndex.push(i);
    links.push({
      name,
      endpoints: [e0, e1],
      forward: fwd,
      reverse: rev,
      ...(link.kind === "vhost-pci" ? { kind: "vhost-pci" as const } : {}),
    });
  }
  return links;
}

/**
 * Build the topology from a document the schema accepted.
 *
 * @example
 * ```ts
 * import { buildTopology } from "./build.ts";
 * const b = buildTopology({ name: "x", vms: { a: { nics: { eth0: {} } } } }, "<object>");
 * b.topology.vms[0].nics[0].mac; // "02:00:00:00:00:00"
 * ```
 */
export function buildTopology(raw: RawTopology, source: string): Built {
  const out: Out = {
    problems: [],
    origins: { nicKey: new Map(), linkIndex: [] },
    reported: new Set(),
    directions: new DirectionChecks(raw),
  };
  if (!LAB_NAME_RE.test(raw.name)) {
    // No dash at the end either ("Bad Name!" suggested "bad-name-").
    const fixed = raw.name.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/^-+/, "")
      .slice(0, 32).replace(/-+$/, "");
    out.problems.push({
      code: "bad-name",
      path: ["name"],
      message: `Bad lab name ${
        quote(raw.name)
      }: use 1-32 of a-z, 0-9 and "-", starting with a letter or digit`,
      hint: LAB_NAME_RE.test(fixed) ? `try ${quote(fixed)}` : "such as `name: my-lab`",
    });
  } else if (raw.name === LOGS_FOLDER) {
    out.problems.push({
      code: "bad-name",
      path: ["name"],
      message: `Lab name ${
        quote(raw.name)
      } is reserved: the state folder's ${LOGS_FOLDER}/ holds vlab's event logs`,
      hint: `give the lab another name, such as ${quote(`${raw.name}-lab`)}`,
    });
  }
  const vms = buildVms(raw, out);
  const switches = Object.entries(raw.switches ?? {}).map(([name, obj]) => {
    if (!NAME_RE.test(name)) out.problems.push(badName("switch", name, ["switches", name], true));
    if (Object.hasOwn(raw.vms, name)) {
      out.problems.push({
        code: "duplicate-name",
        path: ["switches", name],
        atKey: true,
        message: `Name ${quote(name)} is used by a VM and a switch`,
        hint: "VMs and switches share one namespace; rename one of them",
      });
    }
    return { name, portsMax: obj?.ports_max ?? BUILTIN_DEFAULTS.portsMax };
  });
  const ctx = {
    vms: new Map(vms.map((v) => [v.name, v])),
    switches: new Set(switches.map((s) => s.name)),
    routers: new Set(Object.keys(raw.vsock_routers ?? {})),
  };
  const links = buildLinks(raw, ctx, out);
  const vsockRouters: VsockRouterSpec[] = Object.keys(raw.vsock_routers ?? {}).map((name) => {
    if (!NAME_RE.test(name)) {
      out.problems.push(badName("vsock router", name, ["vsock_routers", name], true));
    }
    if (Object.hasOwn(raw.vms, name) || Object.hasOwn(raw.switches ?? {}, name)) {
      out.problems.push({
        code: "duplicate-name",
        path: ["vsock_routers", name],
        atKey: true,
        message: `Name ${quote(name)} is used by a vsock router and a VM or switch`,
        hint: "VMs, switches and vsock routers share one namespace; rename one of them",
      });
    }
    return { name, ports: [] };
  });
  const net = { links, linkIndex: out.origins.linkIndex, directions: out.directions };
  const vsockLinks = buildVsock(raw, vms, net, out.problems, vsockRouters);
  checkVhostPci(raw, links, vms, { problems: out.problems, linkIndex: out.origins.linkIndex });
  out.problems.push(...out.directions.problems());
  const topology = {
    name: raw.name,
    seed: raw.seed ?? BUILTIN_DEFAULTS.seed,
    source,
    vms,
    switches,
    links,
    vsockLinks,
    vsockRouters,
  };
  return { topology, origins: out.origins, problems: out.problems };
}
