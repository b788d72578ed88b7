/**
 * The Overview panel: every VM with its display state (its CPU while placed, how often its
 * backend restarted and its guest reset a device), and each of its devices with MAC, address,
 * link, status bits and negotiated features by spec name; then the links and switches in one line
 * each. A pure view of a `LabSnapshot`.
 *
 * @module
 */

import {
  bootsInSeconds,
  isVsockRouter,
  type LabSnapshot,
  type VmDisplayState,
  type VmReboot,
} from "../../lab/snapshot_types.ts";
import { cell, hitPercent, si, textWidth } from "./format.ts";
import { count } from "../../devices/base/plural.ts";
import {
  type Color,
  type Line,
  Lines,
  lineWidth,
  type Seg,
  seg,
  splitWide,
  windowStart,
  wrapWords,
} from "./lines.tsx";

/** The color of each VM state. */
export const STATE_COLORS: Readonly<Record<VmDisplayState, Color>> = {
  booting: "cyan",
  running: "green",
  "needs-reset": "red",
  restarting: "yellow",
  resetting: "yellow",
  failed: "red",
  stopped: "gray",
};

/** Props of `<OverviewPanel>` and `overviewLines`. */
export interface OverviewProps {
  /** The snapshot drawn. */
  readonly snapshot: LabSnapshot;
  /** Index of the selected VM in `snapshot.vms`. */
  readonly selectedVm: number;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/**
 * The overview's visible lines (at most `height`), scrolled so the selected VM's first line shows.
 *
 * @example
 * ```ts ignore
 * const lines = overviewLines({ snapshot, selectedVm: 0, width: 80, height: 20, colors: false });
 * ```
 */
export function overviewLines(props: OverviewProps): Line[] {
  const { snapshot, width } = props;
  const lines: Line[] = [];
  let selectedLine = 0;
  const nameWidth = Math.min(
    16,
    Math.max(4, ...snapshot.vms.map((v) => v.name.length)),
  );
  // Where each VM begins: a window never begins with the tail of one.
  const starts: number[] = [];
  snapshot.vms.forEach((vm, i) => {
    const selected = i === props.selectedVm;
    if (selected) selectedLine = lines.length;
    starts.push(lines.length);
    const head: Seg[] = [
      seg(selected ? "▸ " : "  ", { bold: true, color: "cyan" }),
      seg(cell(vm.name, nameWidth), { bold: true, inverse: selected }),
      seg(" "),
      seg(cell(vm.state, 12), { color: STATE_COLORS[vm.state], bold: vm.state !== "running" }),
    ];
    // What follows the state wraps onto the lines below rather than being cut (at 40 columns a
    // VM's restarts and resets were lost).
    const more: Seg[] = [];
    if (vm.cpu !== undefined) more.push(seg(`cpu ${vm.cpu}`, { dim: true }));
    // Recovery that ran on it (a replaced device worker, a guest's device resets): it is running
    // again, but the user watching should see that it happened.
    const rec = vm.recovery;
    const reboots = rec?.reboots ?? 0;
    if (rec !== undefined && rec.backendRestarts + rec.deviceResets + reboots > 0) {
      const parts = [
        ...(rec.backendRestarts > 0 ? [`restarts ${rec.backendRestarts}`] : []),
        ...(rec.deviceResets > 0 ? [`resets ${rec.deviceResets}`] : []),
        ...(reboots > 0 ? [`reboots ${reboots}`] : []),
      ];
      more.push(seg(parts.join(" · "), { color: "yellow" }));
    }
    // A reboot after vm-crash: where it is (a guest's boot time may last a minute).
    if (vm.reboot !== undefined) more.push(seg(rebootWords(vm.reboot), { color: "yellow" }));
    if (vm.devices.length === 0) more.push(seg("no devices", { dim: true }));
    if (more.length === 0) lines.push(head);
    else {
      // Each line of the wrap starts with its indent: the first one's is where the head goes.
      const wrapped = wrapWords(more, width, { first: " ".repeat(lineWidth(head)), indent: 4 });
      // wrapWords puts a first word on its first line even where it does not fit: then all of
      // them start on the line below.
      if (lineWidth(wrapped[0]) > width) {
        lines.push(head, ...wrapWords(more, width, { first: "    " }));
      } else lines.push([...head, ...wrapped[0].slice(1)], ...wrapped.slice(1));
    }
    const drops = Object.entries(vm.guestDrops ?? {}).filter(([, v]) => v > 0);
    if (drops.length > 0) {
      lines.push(
        ...wrapWords(
          drops.map(([k, v]) =>
            seg(`${k.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)} ${si(v)}`, {
              color: "yellow",
            })
          ),
          width,
          { first: "    stack drops " },
        ),
      );
    }
    // The vIOMMU per NIC behind it (its domain and mappings, IOTLB, refused accesses), then each
    // vhost-pci peer's own IOTLB over the window of the endpoint it serves: groups joined by " · ",
    // wrapped between groups. Below 100 columns the IOTLB is its hit rate (the IOMMU panel has the
    // counts); below 60 the mode goes (the IOMMU panel has it) and so does the wide indent.
    const iommu = vm.iommu;
    if (iommu !== undefined) {
      const first = width < 60 ? "    vIOMMU " : `    vIOMMU ${iommu.mode} `;
      const rows = [
        ...iommu.domains.map((d) => ({
          name: d.domain === null
            ? `${d.device}: no domain`
            : `${d.device} domain ${d.domain}: ${
              count(d.mappings, "mapping", { shown: si(d.mappings) })
            }`,
          counters: d,
        })),
        ...(iommu.peers ?? []).map((p) => ({
          name: `${p.peer} window of ${p.device}`,
          counters: p,
        })),
      ];
      for (const { name, counters: c } of rows) {
        const groups = [
          seg(name, { bold: true }),
          seg(iotlbSummary(c, width >= 100)),
          seg(count(c.faults, "fault", { shown: si(c.faults) }), {
            color: c.faults > 0 ? "red" : undefined,
            bold: c.faults > 0,
          }),
          ...(c.lastFaultIova !== null
            ? [seg(`last ${c.lastFaultAccess} ${c.lastFaultIova}`, { color: "red" })]
            : []),
        ];
        lines.push(...wrapGroups(groups, width, first, width < 60 ? 6 : first.length));
      }
    }
    for (const dev of vm.devices) {
      const linkState = dev.link === null ? [seg("no link", { dim: true })] : [
        seg(`link ${dev.link} ${dev.linkUp ? "up" : "DOWN"}`, {
          color: dev.linkUp ? undefined : "red",
          bold: !dev.linkUp,
        }),
      ];
      // Wrapped, not cut: on a narrow terminal the link and its state go to the next line. A
      // device with no interface (no MAC: vsock, virtio-iommu) shows what tells it apart (its
      // CID, its mode) instead of "-  no ip", and its link only if it has one.
      const iface = dev.mac !== null;
      lines.push(...wrapWords(
        splitWide([
          seg(`${dev.nic} `, { bold: true }),
          seg(`${dev.kind} `),
          ...(iface ? [seg(`${dev.mac} `), seg(`${dev.ip ?? "no ip"} `)] : []),
          ...(dev.detail ? [seg(`${dev.detail} `)] : []),
          ...(iface || dev.link !== null ? linkState : []),
        ], width - 6),
        width,
        { first: "    ", indent: 6 },
      ));
      const needsReset = dev.statusNames.includes("DEVICE_NEEDS_RESET") ||
        dev.statusNames.includes("FAILED");
      const statusWords = [
        seg(`0x${dev.status.toString(16).padStart(2, "0")}`, { dim: true }),
        ...dev.statusNames.map((n) =>
          n === "DEVICE_NEEDS_RESET" || n === "FAILED"
            ? seg(n, { color: "red", bold: true })
            : seg(n)
        ),
      ];
      lines.push(...wrapWords(statusWords, width, { first: "      status   " }));
      if (needsReset) {
        lines.push(...wrapWords(
          "device needs reset: the driver must reset it before it runs again".split(" ").map((
            w,
          ) => seg(w, { color: "red" })),
          width,
          { first: "      " },
        ));
      }
      const featureWords = dev.features.length === 0
        ? [seg("none negotiated", { dim: true })]
        : dev.features.map((f) => seg(f, { color: "cyan" }));
      lines.push(...wrapWords(featureWords, width, { first: "      features " }));
    }
  });
  // Every link, the vhost-pci ones too (their state is their connection's).
  const linkWords = [
    ...snapshot.links.map((l) =>
      seg(`${l.name} ${l.up ? "up" : "DOWN"}`, { color: l.up ? "green" : "red" })
    ),
    ...(snapshot.vhostPciLinks ?? []).map((l) =>
      seg(`${l.name} ${l.state === "up" ? "up" : l.state.toUpperCase()} (vhost-pci)`, {
        color: l.state === "up" ? "green" : "red",
      })
    ),
  ];
  if (linkWords.length > 0) {
    lines.push([]);
    lines.push(
      ...listLines("links", linkWords, width),
    );
  }
  // Switches, then vsock routers, as `vlab status` lists them (a router was listed among the
  // switches).
  const routers = snapshot.switches.filter(isVsockRouter);
  const switches = snapshot.switches.filter((s) => !isVsockRouter(s));
  for (const [first, list] of [["switches", switches], ["routers", routers]] as const) {
    if (list.length === 0) continue;
    lines.push(
      ...listLines(
        first,
        list.map((s) => seg(`${s.name} (${count(s.ports.length, "port")})`)),
        width,
      ),
    );
  }
  const start = windowStart(lines.length, props.height, selectedLine, starts);
  return lines.slice(start, start + props.height);
}

/**
 * The lines of a list under its label (`links    a-b up c-d up`), wrapped between its items; where
 * an item is too long for the room beside the label (a long link's name and its state at 40
 * columns), the label takes a line of its own and the items the lines below, split at their
 * spaces if they must be.
 */
function listLines(label: string, words: readonly Seg[], width: number): Line[] {
  const first = `  ${cell(label, 9)}`;
  if (words.every((w) => textWidth(w.text) <= width - first.length)) {
    return wrapWords(words, width, { first });
  }
  return [[seg(`  ${label}`)], ...wrapWords(splitWide(words, width - 4), width, { first: "    " })];
}

/** An endpoint's IOTLB: its hit rate, or (`counts`) its hits, misses and invalidations. */
function iotlbSummary(
  c: { hits: number; misses: number; invalidations: number },
  counts: boolean,
): string {
  if (counts) {
    return `IOTLB ${si(c.hits)} hit, ${si(c.misses)} miss, ${si(c.invalidations)} inval`;
  }
  const pct = hitPercent(c.hits, c.misses);
  return pct === "-" ? "IOTLB no lookups" : `IOTLB ${pct}% hit`;
}

/**
 * Word-wrap `groups` joined by a dim " · ", breaking between groups: the first line starts with
 * `first`, the others with `indent` spaces and no separator. A group longer than a line breaks
 * between its words too (at 40 columns "vIOMMU qrstuvwxyzabcdef:nic0123456789abc window of …" ran
 * off the line).
 */
function wrapGroups(groups: readonly Seg[], width: number, first: string, indent: number): Line[] {
  const lines: Line[] = [];
  let current: Seg[] = [{ text: first }];
  let w = textWidth(first);
  let empty = true;
  for (const g of groups) {
    const words = textWidth(g.text) > width - indent
      ? g.text.split(" ").filter((t) => t !== "")
      : [g.text];
    words.forEach((text, k) => {
      const sep = k === 0 ? " · " : " ";
      const ww = textWidth(text);
      // A word that does not fit goes to the next line, unless it begins one already.
      if (w + (empty ? 0 : sep.length) + ww > width && !(empty && w === indent)) {
        lines.push(current);
        current = [{ text: " ".repeat(indent) }];
        w = indent;
        empty = true;
      }
      if (!empty) {
        current.push(k === 0 ? seg(sep, { dim: true }) : { ...g, text: sep });
        w += sep.length;
      }
      current.push({ ...g, text });
      w += ww;
      empty = false;
    });
  }
  lines.push(current);
  return lines;
}

/**
 * The Overview panel.
 *
 * @example
 * ```tsx ignore
 * <OverviewPanel snapshot={snap} selectedVm={0} width={80} height={20} colors />
 * ```
 */
export function OverviewPanel(props: OverviewProps) {
  return (
    <Lines
      lines={overviewLines(props)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}

/**
 * Where a VM's reboot after `vm-crash` is, short: `powering on`, `boots in 1.2s`, `guest starting`.
 */
function rebootWords(r: VmReboot): string {
  if (r.phase === "power-on") return "powering on";
  if (r.phase === "boot") return `boots in ${bootsInSeconds(r)}s`;
  return "guest starting";
}
