/**
 * `vlab status`: a running lab as text (VMs and NICs; each device's status bits and negotiated
 * features, as QEMU's `info virtio-status`; the guest stacks' drops; switches; each link direction
 * with its drops by cause apart from its waits) or as JSON (`GET /lab`).
 *
 * @module
 */

import { Command } from "@commander-js/extra-typings";
import { controlJson, resolveLab } from "../lab/client.ts";
import { type LabStatus, type LinkDirectionStatus, vmDevicesInOrder } from "../lab/metrics.ts";
import { isVsockRouter } from "../lab/snapshot_types.ts";
import {
  bootSeconds,
  bootsInSeconds,
  type VhostPciLinkSnapshot,
  type VmReboot,
  type VmRecovery,
} from "../lab/snapshot_types.ts";
import { DROP_LABELS, WAIT_LABELS } from "../lab/link_counts.ts";
import { count } from "../devices/base/plural.ts";
import { mibText } from "../lab/memory_fit.ts";
import { writeAll } from "./progress.ts";
import { formatVsockConnections } from "./vsock.ts";
import { shellArg } from "../devices/base/quote.ts";

const encoder = new TextEncoder();
const out = (text: string) => writeAll(Deno.stdout, encoder.encode(text));

/**
 * `vlab status [NAME]`: the status of a running lab, as text or (`--json`) as `GET /lab` gives it.
 *
 * @example
 * ```ts ignore
 * program.addCommand(statusCommand());
 * ```
 */
export function statusCommand(): Command<[string | undefined], { json?: true }> {
  return new Command("status")
    .description("show a running lab: each VM with its state and NICs")
    .argument("[name]", "lab name (default: the only running lab)")
    .option("--json", "print the status as JSON")
    .action(async (name, opts) => {
      const record = await resolveLab(name, "the lab name (`vlab status NAME`)");
      const status = await controlJson<LabStatus>(record, "/lab");
      if (opts.json) return await out(JSON.stringify(status, null, 2) + "\n");
      await out(formatStatus(status) + "\n");
    });
}

/**
 * The status as text: a table of VMs and NICs, each device's status bits and negotiated features
 * (as QEMU's `info virtio-status`), switches, and each link direction with its frames, its drops
 * by cause, corrupted frames and the times frames waited (waits are not drops).
 */
export function formatStatus(s: LabStatus): string {
  const rows: string[][] = [["VM", "STATE", "NIC", "MAC", "IP", "RING", "LINK", "TX", "RX"]];
  const devices: string[] = [];
  for (const vm of s.vms) {
    if (vm.cpu !== undefined) {
      devices.push(`  ${vm.name}  placed on CPU ${vm.cpu} (its guest and device workers)`);
    }
    const drops = Object.entries(vm.guestDrops ?? {}).filter(([, v]) => v > 0);
    if (drops.length > 0) {
      const total = drops.reduce((sum, [, v]) => sum + v, 0);
      const causes = drops.map(([k, v]) => `${words(k)} ${v}`).join(", ");
      devices.push(`  ${vm.name}  guest stack dropped ${total} (${causes})`);
    }
    // One row per interface of the VM's stack, in the topology's order: its NICs and the
    // interfaces other devices give it (a vhost-pci-net device, whose RING says what it is, in
    // its NIC's place); a VM with none still gets its row.
    const inOrder = vmDevicesInOrder(vm);
    const ifaces = inOrder.flatMap((x) => {
      if (x.kind === "nic") {
        const n = x.nic;
        return [[
          n.name,
          n.mac,
          n.ip ?? "-",
          `${n.layout}/${n.queueSize}`,
          n.link ?? "-",
          String(n.device.txFrames),
          String(n.device.rxFrames),
        ]];
      }
      const d = x.device;
      if (d.mac === undefined) return [];
      return [[
        d.name,
        d.mac ?? "-",
        d.ip ?? "-",
        d.kind,
        d.link ?? "-",
        String(d.txFrames ?? "-"),
        String(d.rxFrames ?? "-"),
      ]];
    });
    if (ifaces.length === 0) ifaces.push(["-", "-", "-", "-", "-", "-", "-"]);
    ifaces.forEach((cells, i) => {
      rows.push([i === 0 ? vm.name : "", i === 0 ? vm.state : "", ...cells]);
    });
    const rec = formatRecovery(vm.recovery);
    if (rec !== "") devices.push(`  ${vm.name}  ${rec}`);
    // What a VM `restarting` after vm-crash is doing, through a boot time that may last a minute.
    if (vm.reboot !== undefined) devices.push(`  ${vm.name}  ${formatReboot(vm.reboot)}`);
    // Why a VM is failed, not only that it is (the event log has the same words).
    if (vm.failure !== undefined) {
      devices.push(`  ${vm.name}  its ${vm.failure.worker} worker failed: ${vm.failure.message}`);
      if (vm.failure.hint !== undefined) devices.push(`    hint: ${vm.failure.hint}`);
    }
    // Each device in slot order; a NIC behind the vIOMMU is followed by its domain and by the
    // vhost-pci peer that translates through its window.
    const domains = vm.iommu?.domains ?? [];
    const peers = vm.iommu?.peers ?? [];
    const domainLines = (d: (typeof domains)[number]) => {
      const last = d.lastFaultIova === null
        ? ""
        : `, last fault ${d.lastFaultAccess} ${d.lastFaultIova}`;
      return `  ${vm.name}:${d.device}  vIOMMU ${vm.iommu!.mode} domain ${d.domain ?? "none"}: ` +
        `${count(d.mappings, "mapping")}, ${iotlb(d)}${last}`;
    };
    const peerLines = (p: (typeof peers)[number]) => {
      const last = p.lastFaultIova === null
        ? ""
        : `, last fault ${p.lastFaultAccess} ${p.lastFaultIova}`;
      return `  ${vm.name}:${p.device}  served by ${p.peer} through the window: ` +
        `${iotlb(p)}${last}`;
    };
    const nicNames = new Set(vm.nics.map((n) => n.name));
    for (const x of inOrder) {
      if (x.kind === "nic") {
        const n = x.nic;
        const hex = `0x${n.status.toString(16).padStart(2, "0")}`;
        devices.push(
          `  ${vm.name}:${n.name}  status ${hex} ${n.statusNames.join(" ") || "(reset)"}`,
          `    features ${n.features.join(" ") || "(none negotiated)"}`,
          ...domains.filter((d) => d.device === n.name).map(domainLines),
          ...peers.filter((p) => p.device === n.name).map(peerLines),
        );
        continue;
      }
      const d = x.device;
      const hex = `0x${d.status.toString(16).padStart(2, "0")}`;
      devices.push(
        `  ${vm.name}:${d.name}  ${d.kind} ${d.detail}  status ${hex} ${
          d.statusNames.join(" ") || "(reset)"
        }`,
        `    features ${d.features.join(" ") || "(none negotiated)"}`,
        ...(d.connections ? formatVsockConnections(d.connections) : []),
      );
    }
    // A domain or peer of no NIC listed (none in a lab of this vlab) is still said.
    devices.push(
      ...domains.filter((d) => !nicNames.has(d.device)).map(domainLines),
      ...peers.filter((p) => !nicNames.has(p.device)).map(peerLines),
    );
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const table = rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join("  ").trimEnd());
  const links = s.links.flatMap((l) => {
    // A vsock link carries vsock packets, not frames (absent kind: a lab older than the field).
    const unit = l.kind === "vsock" ? "packet" : "frame";
    return [
      `  ${l.name}: ${l.endpoints.join(" ⇄ ")} ${l.up ? "up" : "DOWN"}`,
      `    forward ${formatDirection(l.forward, unit)}`,
      `    reverse ${formatDirection(l.reverse, unit)}`,
    ];
  });
  // The lab lists vsock routers among its switches (a worker with ports); they have no MAC table.
  const routers = s.switches.filter(isVsockRouter);
  const switches = s.switches.filter((w) => !isVsockRouter(w));
  const switchLines = (w: LabStatus["switches"][number]) => [
    ...wrapList(`  ${w.name}: `, w.ports.length > 0 ? w.ports : ["(no links)"], stations(w)),
    ...(Object.keys(w.counters ?? {}).length > 0
      ? [`    ${Object.entries(w.counters).map(([k, v]) => `${words(k)} ${v}`).join(", ")}`]
      : []),
  ];
  return [
    `lab ${s.name} (seed ${s.seed}, pid ${s.pid}, up ${s.uptimeSeconds} s${
      s.memory === undefined
        ? ""
        : `, ${mib(s.memory.sharedBytes)} shared, ${mib(s.memory.residentBytes)} resident`
    }) from ${shellArg(s.source)}`,
    // A lab with no VM (`vms: {}`) says so, not a table heading and a devices: heading with
    // nothing under them.
    ...(s.vms.length === 0
      ? ["VMs: none"]
      : [...table, ...(devices.length === 0 ? ["devices: none"] : ["devices:", ...devices])]),
    ...(switches.length > 0 ? ["switches:", ...switches.flatMap(switchLines)] : []),
    ...(routers.length > 0 ? ["vsock routers:", ...routers.flatMap(switchLines)] : []),
    // A lab with no link says so, rather than end on a heading with nothing under it.
    ...(links.length + (s.vhostPciLinks?.length ?? 0) === 0
      ? ["links: none"]
      : ["links:", ...links, ...formatVhostPciLinks(s.vhostPciLinks ?? [])]),
    ...(s.partitions?.length
      ? [
        "partitions:",
        ...s.partitions.map((p) =>
          `  ${p.id}: ${p.a.join(",")} ${p.oneWay ? "→" : "⇹"} ${p.b.join(",")}`
        ),
      ]
      : []),
  ].join("\n");
}

/** Widest line {@linkcode wrapList} makes (unless one item alone is wider). */
const LIST_WIDTH = 100;

/**
 * `head` then `items` joined with ", " and `tail`, folded into lines of at most
 * {@linkcode LIST_WIDTH} columns after a comma, continuation lines indented under the first item:
 * a switch with 128 ports is a block, not one line of 1,400 characters.
 *
 * @example
 * ```ts
 * import { wrapList } from "./status.ts";
 * wrapList("  sw1: ", ["a-sw1", "b-sw1"], ""); // ["  sw1: a-sw1, b-sw1"]
 * ```
 */
export function wrapList(head: string, items: readonly string[], tail: string): string[] {
  const indent = " ".repeat(head.length);
  const lines: string[] = [];
  let line = head;
  items.forEach((item, i) => {
    const piece = item + (i < items.length - 1 ? "," : tail);
    const fresh = line === head || line === indent;
    if (!fresh && line.length + 1 + piece.length > LIST_WIDTH) {
      lines.push(line);
      line = indent + piece;
    } else line += (fresh ? "" : " ") + piece;
  });
  lines.push(line);
  return lines;
}

/**
 * What recovery did on a VM, for `vlab status` ("" when nothing: a status from an older lab has
 * no `recovery`).
 *
 * @example
 * ```ts
 * import { formatRecovery } from "./status.ts";
 * formatRecovery({ backendRestarts: 1, deviceResets: 2 }); // "backend restarted 1 time, devices reset 2 times"
 * ```
 */
export function formatRecovery(r: VmRecovery | undefined): string {
  if (r === undefined) return "";
  const times = (n: number) => count(n, "time");
  const parts = [
    ...(r.backendRestarts > 0 ? [`backend restarted ${times(r.backendRestarts)}`] : []),
    ...(r.deviceResets > 0 ? [`devices reset ${times(r.deviceResets)}`] : []),
    ...((r.reboots ?? 0) > 0 ? [`rebooted ${times(r.reboots!)}`] : []),
  ];
  return parts.join(", ");
}

/**
 * Where a VM's reboot after `vm-crash` is, for `vlab status`: its devices powering on, its guest
 * waiting out its boot time (`--ms`), or its guest starting.
 *
 * @example
 * ```ts
 * import { formatReboot } from "./status.ts";
 * formatReboot({ ms: 3000, phase: "boot", bootsInMs: 1240 });
 * // "rebooting after vm-crash: its devices are back with no driver, its guest boots in 1.3 s (--ms 3000)"
 * ```
 */
export function formatReboot(r: VmReboot): string {
  const boot = r.ms > 0 ? ` (--ms ${r.ms})` : "";
  if (r.phase === "power-on") {
    return `rebooting after vm-crash: its devices are powering on${
      r.ms > 0 ? `, then its guest boots for ${bootSeconds(r)} s` : ""
    }`;
  }
  if (r.phase === "boot") {
    return "rebooting after vm-crash: its devices are back with no driver, its guest boots in " +
      `${bootsInSeconds(r)} s${boot}`;
  }
  return `rebooting after vm-crash: its guest is starting (its drivers bring its devices up)${boot}`;
}

/** `IOTLB 17 hits 1 miss, 1 invalidation, 0 faults` (a vIOMMU domain's, or a peer's). */
function iotlb(c: { hits: number; misses: number; invalidations: number; faults: number }) {
  return `IOTLB ${count(c.hits, "hit")} ${count(c.misses, "miss", { plural: "misses" })}, ` +
    `${count(c.invalidations, "invalidation")}, ${count(c.faults, "fault")}`;
}

/**
 * The lines of the vhost-pci links (none: empty): `a-b  vhost-pci b:eth0 serves a:eth0 through
 * vIOMMU static (endpoint 0): up (connection 1), 1 frame in, 3 out, …`.
 */
function formatVhostPciLinks(links: readonly VhostPciLinkSnapshot[]): string[] {
  return links.map((l) =>
    `  ${l.name}  vhost-pci ${l.peer} serves ${l.frontend} through ${l.window}: ${l.state}` +
    // Down with a connection: the link was set down (`vlab link … down`), frames are dropped.
    (l.connection > 0
      ? ` (${l.state === "down" ? "link set down, " : ""}connection ${l.connection})`
      : "") +
    `, ${count(l.framesIn, "frame")} in, ${l.framesOut} out, ` +
    (l.framesDropped > 0 ? `${l.framesDropped} dropped (not connected), ` : "") +
    // Dropped while the link was set down, as a virtio-net link's `link down` drops.
    ((l.linkDownIn ?? 0) + (l.linkDownOut ?? 0) > 0
      ? `dropped ${l.linkDownIn ?? 0} in, ${l.linkDownOut ?? 0} out (link down), `
      : "") +
    // Refused for want of room in the frontend's receiveq: no link ring holds the frame.
    ((l.rxWaits ?? 0) > 0 ? `no RX buffer ${l.rxWaits}, ` : "") +
    (l.partitionDropped > 0 ? `${l.partitionDropped} cut by partitions, ` : "") +
    `${count(l.interrupts, "interrupt")}, ` +
    `${count(l.faults, "fault")}${l.lastFault === null ? "" : ` (last ${l.lastFault})`}, ` +
    `${count(l.revoked, "ring")} revoked`
  );
}

/** `badChecksum` or `bad_checksum` → `bad checksum`. */
const words = (name: string) =>
  name.replace(/_/g, " ").replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`);

/**
 * `123 frames (no impairment); dropped 5 (loss 3, queue limit 2); waited for RX buffer 7`
 * (`packets` on a vsock link).
 */
function formatDirection(d: LinkDirectionStatus, unit: "frame" | "packet"): string {
  const parts = [`${count(d.frames, unit)} (${d.impair})`];
  const causes = DROP_LABELS.filter(([k]) => d.drops[k] > 0).map(([k, t]) => `${t} ${d.drops[k]}`);
  parts.push(d.dropped > 0 ? `dropped ${d.dropped} (${causes.join(", ")})` : "no drops");
  if (d.corrupted > 0) parts.push(`corrupted ${d.corrupted}`);
  if (d.duplicated > 0) parts.push(`duplicated ${d.duplicated}`);
  if (d.reordered > 0) parts.push(`reordered ${d.reordered}`);
  if ((d.queued ?? 0) > 0) parts.push(`${d.queued} queued`);
  const waits = WAIT_LABELS.filter(([k]) => d.waits[k] > 0).map(([k, t]) => `${t} ${d.waits[k]}`);
  if (waits.length > 0) parts.push(waits.join(", "));
  return parts.join("; ");
}

/**
 * How many stations an L2 switch knows now (learned, less those aged out, evicted, or flushed
 * when their port's link went down), and where to see them; nothing for a vsock router (no MAC
 * table: no `learned` counter).
 */
function stations(w: { name: string; counters?: Record<string, number> }): string {
  const c = w.counters ?? {};
  if (c.learned === undefined) return "";
  const n = Math.max(0, c.learned - (c.aged ?? 0) - (c.evicted ?? 0) - (c.flushed ?? 0));
  return ` (${count(n, "station")} in its MAC table: vlab fdb ${w.name})`;
}

/**
 * `41.5 MiB`, `2.9 GiB`: a memory size as the plan and `--dry-run` say them (binary units; under
 * a GiB `mibText`'s words: a pair's 41.5 MiB was "42 MiB shared" here).
 */
function mib(bytes: number): string {
  const m = bytes / 2 ** 20;
  return m < 1024 ? mibText(bytes) : `${(m / 1024).toFixed(1)} GiB`;
}
