/**
 * The Links panel: each link with its state, and each direction's frames/s (pkts/s on a vsock
 * link, under its own column names where the unit changes) and bytes/s, its drops
 * by cause (loss, queue limit, full ring, link down, too big, …) and corrupted frames as totals
 * with their rate, the times frames waited (for an RX buffer, for the link: not drops), and the
 * impairment in force; then each switch with its counters, then each vsock device's connections
 * with their credit (`vsock_conns.tsx`), and each vhost-pci link (who serves whom, each direction's
 * frames/s and drops, through which window, its connection, interrupts and faults), and the
 * partitions in force. Below 120 columns a direction takes two or more lines (drops and waits
 * wrapped between items), and below 48 the bytes/s column goes when the directions leave it no
 * room (`rateColumns`): frames/s stays. The links, the vhost-pci links and the switches are selected in that order;
 * enter on a switch opens its MAC table (`mac_table.tsx`).
 *
 * @module
 */

import {
  type DirectionSnapshot,
  DROP_LABELS,
  isVsockRouter,
  type LabSnapshot,
  type SwitchSnapshot,
  totalDrops,
  type VhostPciLinkSnapshot,
  WAIT_LABELS,
} from "../../lab/snapshot_types.ts";
import { cell, formatByteRate, formatRate, si, textWidth } from "./format.ts";
import {
  fitLine,
  type Line,
  Lines,
  lineWidth,
  type Seg,
  seg,
  windowStart,
  wrapWords,
} from "./lines.tsx";

/** Columns before the drops cell: indent, direction, frames/s, bytes/s and their gaps. */
const FIXED_WIDTH = 4 + 22 + 1 + 8 + 1 + 11 + 2;
import { type DirectionRates, linkQueuedKey, type OccupancyHistory, type Rates } from "./rates.ts";
import { vsockConnLines } from "./vsock_conns.tsx";

/** Props of `<LinksPanel>` and `linksLines`. */
export interface LinksProps {
  /** The snapshot drawn. */
  readonly snapshot: LabSnapshot;
  /** Rates from the previous snapshot, or null before there are two. */
  readonly rates: Rates | null;
  /**
   * Index of the selected row: in `snapshot.links`, then on into `snapshot.vhostPciLinks` (the
   * panel lists them below the others, and they are selected the same way), then on into
   * `snapshot.switches`.
   */
  readonly selected: number;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
  /**
   * The history of what each direction's impairment held (`OccupancyHistory`), or null: a
   * direction that held frames within the last 2 s keeps its `queued` line, at 0 once empty.
   */
  readonly history?: OccupancyHistory | null;
}

/** How long a direction's `queued` stays shown after its impairment emptied, ms. */
export const QUEUED_HOLD_MS = 2000;

/**
 * The drops of one direction by cause, the causes with a count only (`no drops` when there are
 * none), then corrupted, duplicated and reordered frames, each total with its rate when it is not
 * zero:
 * `loss 710 +100/s · queue limit 4.4k`.
 *
 * @example
 * ```ts ignore
 * dropSegs(direction, rates).map((s) => s.text).join(""); // "loss 710 +100/s · corrupted 3"
 * ```
 */
export function dropSegs(d: DirectionSnapshot, r: DirectionRates | undefined): Seg[] {
  const out: Seg[] = [];
  const item = (label: string, total: number, perSecond: number) => {
    if (out.length > 0) out.push(seg(" · ", { dim: true }));
    out.push(seg(`${label} `, { dim: true }));
    out.push(seg(si(total), { color: "yellow" }));
    if (perSecond > 0) out.push(seg(` +${formatRate(perSecond)}`, { color: "red", bold: true }));
  };
  for (const [key, label] of DROP_LABELS) {
    const total = d.drops[key] ?? 0;
    if (total > 0) item(label, total, r?.drops[key] ?? 0);
  }
  if (out.length === 0) out.push(seg("no drops", { dim: true }));
  if ((d.corrupted ?? 0) > 0) item("corrupted", d.corrupted, r?.corrupted ?? 0);
  // Not drops either: copies and frames sent ahead (a lab of an older vlab has no such counts).
  if ((d.duplicated ?? 0) > 0) item("duplicated", d.duplicated, r?.duplicated ?? 0);
  if ((d.reordered ?? 0) > 0) item("reordered", d.reordered, r?.reordered ?? 0);
  return out;
}

/**
 * The frames one direction holds back and delivers later (not drops): first those its impairment
 * stage holds now (`queued`, netem's backlog; `queued 0` where `held`: it held some a moment ago),
 * then its waits, the causes with a count only; empty when nothing is queued or waited:
 * `queued 812 · waited for RX buffer 35 +50/s`.
 * `lab/snapshot_types.ts` `WAIT_LABELS` names the causes.
 *
 * @example
 * ```ts ignore
 * waitSegs(direction, rates).map((s) => s.text).join(""); // "waited for RX buffer 35 +50/s · for link 2"
 * ```
 */
export function waitSegs(
  d: DirectionSnapshot,
  r: DirectionRates | undefined,
  held = false,
): Seg[] {
  const out: Seg[] = [];
  if ((d.queued ?? 0) > 0 || held) out.push(seg("queued ", { dim: true }), seg(si(d.queued ?? 0)));
  let waited = false;
  for (const [key, label] of WAIT_LABELS) {
    const total = d.waits?.[key] ?? 0;
    if (total === 0) continue;
    out.push(seg(waited ? " · " : out.length > 0 ? " · waited " : "waited ", { dim: true }));
    waited = true;
    out.push(seg(`${label.replace("waited ", "")} `, { dim: true }), seg(si(total)));
    const perSecond = r?.waits[key] ?? 0;
    if (perSecond > 0) out.push(seg(` +${formatRate(perSecond)}`, { color: "cyan" }));
  }
  return out;
}

/**
 * The links panel's visible lines: a header, link and switch rows scrolled to keep the selected
 * link in view.
 *
 * @example
 * ```ts ignore
 * const lines = linksLines({ snapshot, rates, selected: 0, width: 80, height: 20, colors: false });
 * ```
 */
export function linksLines(props: LinksProps): Line[] {
  const { snapshot, rates, width } = props;
  const wide = width >= 120;
  // The drops and waits cell takes what the impairment column (its longest text) leaves.
  let impairW = 12;
  for (const l of snapshot.links) {
    impairW = Math.max(impairW, l.forward.impair.length, l.reverse.impair.length);
  }
  const dropsW = Math.max(40, width - FIXED_WIDTH - 1 - Math.min(impairW, 40));
  const labels = [
    ...snapshot.links.flatMap((l) => [l.forward, l.reverse].map((d) => `${d.from} → ${d.to}`)),
    ...(snapshot.vhostPciLinks ?? []).map((l) => `${l.frontend} → ${l.peer}`),
  ];
  const cols = rateColumns(width, labels);
  const headerFor = (unit: string): Line => {
    const columnNames = "    " + cell("direction", cols.dirW) + " " +
      cell(unit, 8, { align: "right" }) +
      (cols.bytes ? " " + cell("bytes/s", 11, { align: "right" }) : "") + "  " +
      (wide ? cell("drops · waits", dropsW) + " " : "");
    // "impairment" only where it fits: a narrow panel puts the impairment on a line of its own.
    return [
      seg(
        columnNames.length + 10 <= width ? columnNames + "impairment" : columnNames.trimEnd(),
        { dim: true, bold: true },
      ),
    ];
  };
  const body: Line[] = [];
  let selectedLine = 0;
  // Where each entry begins: a window never begins with the tail of one.
  const starts: number[] = [];
  // The rate column's unit from each entry on (frames on a net or vhost-pci link, packets on a
  // vsock link, as `vlab status` counts them): where it changes, the entry begins with the
  // column names again in its unit (`headers`), and the panel's header takes the unit of the
  // entry its window begins in.
  const units: [line: number, unit: string][] = [];
  const headers = new Set<number>();
  const unitFrom = (unit: string) => {
    const last = units.at(-1)?.[1];
    units.push([body.length, unit]);
    if (last !== undefined && last !== unit) {
      headers.add(body.length);
      body.push(headerFor(unit));
    }
  };
  snapshot.links.forEach((link, i) => {
    const isSel = i === props.selected;
    starts.push(body.length);
    unitFrom(rateUnit(link.kind));
    if (isSel) selectedLine = body.length;
    const head = [
      seg(isSel ? "▸ " : "  ", { bold: true, color: "cyan" }),
      seg(link.name, { bold: true, inverse: isSel }),
      seg("  "),
      seg(link.up ? "up" : "DOWN", { color: link.up ? "green" : "red", bold: !link.up }),
    ];
    const ends = seg(`  ${link.endpoints[0]} ↔ ${link.endpoints[1]}`, { dim: true });
    // The endpoints beside the state where they fit, else below it, wrapped (cut at 80 columns
    // with long names: "… abcdefghijklmnop:nic0123456789abc ↔ sw…").
    if (lineWidth([...head, ends]) <= width) body.push([...head, ends]);
    else {
      body.push(
        head,
        ...wrapWords(
          [link.endpoints[0], "↔", link.endpoints[1]].map((w) => seg(w, { dim: true })),
          width,
          { first: "    ", indent: 6 },
        ),
      );
    }
    const r = rates?.links.get(link.name);
    const directions = [
      [link.forward, r?.forward, "forward"],
      [link.reverse, r?.reverse, "reverse"],
    ] as const;
    for (const [d, dr, way] of directions) {
      const [above, dirCell] = directionCell(`${d.from} → ${d.to}`, cols.dirW, width);
      body.push(...above);
      const main: Seg[] = [
        seg("    " + dirCell + " "),
        seg(cell(dr === undefined ? "-" : formatRate(dr.frames), 8, { align: "right" })),
        seg(
          cols.bytes
            ? " " +
              cell(dr === undefined ? "-" : formatByteRate(dr.bytes), 11, { align: "right" }) +
              "  "
            : "  ",
        ),
      ];
      const impaired = d.impair !== "no impairment";
      const impair = seg(d.impair, { color: impaired ? "yellow" : undefined, dim: !impaired });
      const drops = dropSegs(d, dr);
      const held = props.history?.heldWithin(
        linkQueuedKey(link.name, way),
        snapshot.takenAt,
        QUEUED_HOLD_MS,
      ) ?? false;
      const waits = waitSegs(d, dr, held);
      if (wide) {
        const both = waits.length > 0 ? [...drops, seg(" · ", { dim: true }), ...waits] : drops;
        body.push(...wideRows(main, both, dropsW, impair, width));
      } else {
        // The impairment beside the rates when it fits, else on a line of its own (never cut;
        // "no impairment" says nothing worth a line).
        if (lineWidth(main) + lineWidth([impair]) <= width) body.push([...main, impair]);
        else if (impaired) {
          // Wrapped between words: at 80 columns netem's whole vocabulary was cut ("rate…").
          const words = d.impair.split(" ").map((w) => seg(w, { color: "yellow" }));
          body.push(bare(main), ...wrapWords(words, width, { first: "      impairment " }));
        } else body.push(bare(main));
        // Wrapped between causes, never cut: at 40 columns "full ring" was cut off.
        const none = totalDrops(d.drops) === 0;
        body.push(...wrapItems(none ? "      " : "      drops: ", drops, width));
        if (waits.length > 0) body.push(...wrapItems("      ", waits, width));
      }
    }
  });
  (snapshot.vhostPciLinks ?? []).forEach((l, i) => {
    const selected = snapshot.links.length + i === props.selected;
    starts.push(body.length);
    unitFrom(rateUnit("net"));
    if (selected) selectedLine = body.length;
    body.push(...vhostPciLines(l, { rates, width, dropsW, selected, columns: cols }));
  });
  if (snapshot.links.length === 0 && !snapshot.vhostPciLinks?.length) {
    body.push([seg("  no links", { dim: true })]);
  }
  // The partitions in force: what cuts frames that no link's state or impairment explains.
  for (const p of snapshot.partitions ?? []) {
    starts.push(body.length);
    const arrow = p.oneWay ? "→" : "⇹";
    const note = p.oneWay ? "one way (vlab heal to undo)" : "(vlab heal to undo)";
    const line = [
      seg("  "),
      seg(`partition ${p.id}`, { bold: true, color: "yellow" }),
      seg(`  ${p.a.join(",")} ${arrow} ${p.b.join(",")}`),
      seg(`  ${note}`, { dim: true }),
    ];
    if (lineWidth(line) <= width) body.push(line);
    else {
      // Too wide (at 40 columns it was cut after the sides): wrapped between its words, a side
      // too long for a line between its VMs.
      const side = (vms: readonly string[]) =>
        vms.join(",").length + 4 <= width
          ? [seg(vms.join(","))]
          : vms.map((vm, i) => seg(i < vms.length - 1 ? `${vm},` : vm));
      body.push(...wrapWords(
        [
          seg(`partition ${p.id}`, { bold: true, color: "yellow" }),
          ...side(p.a),
          seg(arrow),
          ...side(p.b),
          ...(p.oneWay ? [seg("one way", { dim: true })] : []),
          seg("(vlab heal to undo)", { dim: true }),
        ],
        width,
        { first: "  ", indent: 4 },
      ));
    }
  }
  const firstSwitch = snapshot.links.length + (snapshot.vhostPciLinks?.length ?? 0);
  snapshot.switches.forEach((sw, i) => {
    const isSel = firstSwitch + i === props.selected;
    if (isSel) selectedLine = body.length;
    starts.push(body.length);
    const head = [
      seg(isSel ? "▸ " : "  ", { bold: true, color: "cyan" }),
      seg(sw.name, { bold: true, inverse: isSel }),
      seg(isVsockRouter(sw) ? "  vsock router  " : "  switch  ", { dim: true }),
    ];
    const ports = seg(`ports ${sw.ports.join(" ")}`);
    // Too wide: the ports wrap on lines of their own, each port whole.
    if (lineWidth([...head, ports]) <= width) body.push([...head, ports]);
    else {body.push(
        bare(head),
        // A port too long to go beside "ports" (at 40 columns "ports abcdefghijklmnop-switch012345…")
        // puts them all on the lines below it.
        ...(sw.ports.every((p) => textWidth(p) <= width - 10)
          ? wrapWords(sw.ports.map((p) => seg(p)), width, { first: "    ports " })
          : [
            [seg("    ports")],
            ...wrapWords(sw.ports.map((p) => seg(p)), width, { first: "      " }),
          ]),
      );}
    body.push(...wrapItems("    ", switchCounterSegs(sw, rates), width));
  });
  body.push(...vsockConnLines(snapshot, width));
  const bodyHeight = Math.max(0, props.height - 1);
  let start = windowStart(body.length, bodyHeight, selectedLine, starts);
  const unit = units.findLast(([line]) => line <= start)?.[1] ?? units[0]?.[1] ?? "frames/s";
  // A window that begins with the column names again: the panel's header says them already.
  if (headers.has(start)) start++;
  return [headerFor(unit), ...body.slice(start, start + bodyHeight)];
}

/**
 * The rate column's name for a link of `kind`: a vsock link carries vsock packets, a net link
 * (and a vhost-pci link) Ethernet frames, as `vlab status` counts them.
 *
 * @example
 * ```ts ignore
 * rateUnit("vsock"); // "pkts/s"
 * ```
 */
function rateUnit(kind: "net" | "vsock" | undefined): string {
  return kind === "vsock" ? "pkts/s" : "frames/s";
}

/**
 * The rate columns at this width: the direction column (22, or below 48 columns just as wide as
 * the longest direction) and whether bytes/s fits beside frames/s. What gives way on a narrow
 * panel, first to last: the impairment beside the rates (to a line of its own), bytes/s (the
 * whole column, never a cut number), while frames/s stays and the drops wrap.
 */
function rateColumns(width: number, labels: readonly string[]): { dirW: number; bytes: boolean } {
  const longest = Math.max(9, ...labels.map((l) => [...l].length));
  const dirW = width >= 48 ? 22 : Math.min(22, longest);
  return { dirW, bytes: 4 + dirW + 1 + 8 + 1 + 11 <= width };
}

/**
 * A direction's rows from 120 columns: the rates, the drops and waits in their column of `dropsW`
 * and the impairment after it; drops and waits that do not fit wrap between items onto lines of
 * their own in the same column (cut, "queue limit 4.5k +…" hid the rate and any cause after it).
 */
function wideRows(
  main: Seg[],
  items: readonly Seg[],
  dropsW: number,
  tail: Seg,
  width: number,
): Line[] {
  const drops = wrapItems("", items, dropsW).map((l) => fitLine(l, dropsW));
  // The impairment in what is left of the line, wrapped between words where it is longer.
  const tailW = Math.max(1, width - lineWidth(main) - dropsW - 1);
  const tails = wrapWords(tail.text.split(" ").map((w) => ({ ...tail, text: w })), tailW);
  const indent = seg(" ".repeat(lineWidth(main)));
  const out: Line[] = [];
  for (let i = 0; i < Math.max(drops.length, tails.length); i++) {
    const cell = drops[i] ?? [];
    const pad = seg(" ".repeat(Math.max(1, dropsW + 1 - lineWidth(cell))));
    out.push([i === 0 ? main : [indent], cell, tails[i] ? [pad, ...tails[i]] : []].flat(2));
  }
  return out;
}

/**
 * A direction's cell in a column of `dirW`: the direction itself where it fits, else blank, the
 * direction taking the lines above the row, wrapped between its ends where it is longer than a
 * line (cut to its column, "abcdefghijklmnop:nic0…" lost where its frames went).
 */
function directionCell(label: string, dirW: number, width: number): [above: Line[], cell: string] {
  if (textWidth(label) <= dirW) return [[], cell(label, dirW)];
  const words = label.split(" ").map((w) => seg(w));
  return [wrapWords(words, width, { first: "    ", indent: 6 }), " ".repeat(dirW)];
}

/** A row with nothing after its last column: without the gap that column ends with. */
function bare(line: readonly Seg[]): Seg[] {
  const last = line[line.length - 1];
  return [...line.slice(0, -1), { ...last, text: last.text.trimEnd() }];
}

/**
 * Segments listed as items joined by `" · "` (drops, waits, a switch's counters), wrapped between
 * items: the first line starts with `first`, the others are indented as deep, and no line begins
 * with a separator. An item wider than a line is cut by `<Lines>`, as before.
 *
 * @example
 * ```ts ignore
 * wrapItems("    ", switchCounterSegs(sw, rates), 80); // "    forwarded 41 · flooded 7 …", "    evicted 0 …"
 * ```
 */
export function wrapItems(first: string, segs: readonly Seg[], width: number): Line[] {
  const items: Seg[][] = [[]];
  for (const s of segs) {
    if (s.text === " · ") items.push([]);
    else items[items.length - 1].push(s);
  }
  const indent = " ".repeat([...first].length);
  const lines: Line[] = [];
  let current: Seg[] = [seg(first, { dim: true })];
  let w = [...first].length;
  let empty = true;
  for (const item of items) {
    const iw = lineWidth(item);
    if (!empty && w + 3 + iw > width) {
      lines.push(current);
      current = [seg(indent)];
      w = indent.length;
      empty = true;
    }
    if (!empty) {
      current.push(seg(" · ", { dim: true }));
      w += 3;
    }
    current.push(...item);
    w += iw;
    empty = false;
  }
  lines.push(current);
  return lines;
}

/**
 * A switch's counters (forwarded, flooded, learned, …), each total with its rate when it is not
 * zero: `forwarded 33.6k 120/s · flooded 1.6k · learned 4` (the Links panel and the MAC table).
 *
 * @example
 * ```ts ignore
 * switchCounterSegs(sw, rates).map((s) => s.text).join(""); // "forwarded 41 · flooded 7 · …"
 * ```
 */
export function switchCounterSegs(sw: SwitchSnapshot, rates: Rates | null): Seg[] {
  const sr = rates?.switches.get(sw.name);
  const out: Seg[] = [];
  Object.entries(sw.counters).forEach(([name, total], i) => {
    if (i > 0) out.push(seg(" · ", { dim: true }));
    // In words, as `vlab status` says them: a router's `rst_no_route` is "rst no route".
    out.push(seg(`${name.replace(/_/g, " ")} `, { dim: true }), seg(si(total)));
    const perSecond = sr?.[name] ?? 0;
    if (perSecond > 0) out.push(seg(` ${formatRate(perSecond)}`, { color: "cyan" }));
  });
  return out;
}

/**
 * The lines of one vhost-pci link: its state, then each direction with its frames/s (the peer's
 * counters: frames, no bytes, no link ring to impair), its drops (frames sent while not
 * connected; a partition's cuts, counted for both directions together, are on the window line)
 * and its waits for a buffer in the frontend's receiveq (back-pressure, not drops), then the
 * window, the connection, interrupts, faults and the rings revoked under the peer. A selected link is marked as a ring link is (`▸`).
 *
 * @example
 * ```ts ignore
 * vhostPciLines(snapshot.vhostPciLinks[0], { rates, width: 80, dropsW: 40 }); // title, directions, window
 * ```
 */
export function vhostPciLines(
  l: VhostPciLinkSnapshot,
  options: {
    rates: Rates | null;
    width: number;
    dropsW: number;
    selected?: boolean;
    /** The panel's rate columns (default: 22 for the direction, bytes/s shown). */
    columns?: { dirW: number; bytes: boolean };
  },
): Line[] {
  const { rates, width, dropsW } = options;
  const cols = options.columns ?? { dirW: 22, bytes: true };
  const isSel = options.selected === true;
  const wide = width >= 120;
  const up = l.state === "up";
  const r = rates?.vhostPci.get(l.name);
  const title: Seg[] = [
    seg(isSel ? "▸ " : "  ", { bold: true, color: "cyan" }),
    seg(l.name, { bold: true, inverse: isSel }),
    seg("  "),
    seg(up ? "up" : l.state.toUpperCase(), { color: up ? "green" : "red", bold: !up }),
  ];
  const serves = seg(`  vhost-pci ${l.peer} serves ${l.frontend}`, { dim: true });
  // Who serves whom beside the state where it fits, else below it, wrapped (cut at 40 columns it
  // read "serves a:et…").
  const out: Line[] = lineWidth([...title, serves]) <= width ? [[...title, serves]] : [
    title,
    ...wrapWords(
      ["vhost-pci", l.peer, "serves", l.frontend].map((w) => seg(w, { dim: true })),
      width,
      { first: "    " },
    ),
  ];
  const drop = (label: string, total: number, perSecond: number | undefined): Seg[] => [
    seg(`${label} `, { dim: true }),
    seg(si(total), { color: "yellow" }),
    ...(perSecond !== undefined && perSecond > 0
      ? [seg(` +${formatRate(perSecond)}`, { color: "red", bold: true })]
      : []),
  ];
  const waited = l.rxWaits ?? 0;
  const waits: Seg[] = waited === 0 ? [] : [
    seg("no RX buffer ", { dim: true }),
    seg(si(waited)),
    ...((r?.rxWaits ?? 0) > 0 ? [seg(` +${formatRate(r!.rxWaits)}`, { color: "cyan" })] : []),
  ];
  // Dropped while the link was set down, each way, as a virtio-net link's `link down`.
  const downIn = l.linkDownIn ?? 0, downOut = l.linkDownOut ?? 0;
  const outDrops = [
    ...(l.framesDropped > 0 ? drop("not connected", l.framesDropped, r?.framesDropped) : []),
    ...(l.framesDropped > 0 && downOut > 0 ? [seg(" · ", { dim: true })] : []),
    ...(downOut > 0 ? drop("link down", downOut, r?.linkDownOut) : []),
  ];
  const directions = [
    [
      `${l.frontend} → ${l.peer}`,
      r?.framesIn,
      downIn > 0 ? drop("link down", downIn, r?.linkDownIn) : [],
      [] as Seg[],
    ],
    [`${l.peer} → ${l.frontend}`, r?.framesOut, outDrops, waits],
  ] as const;
  for (const [label, frames, drops, waitSegs] of directions) {
    const [above, dirCell] = directionCell(label, cols.dirW, width);
    out.push(...above);
    const main: Seg[] = [
      seg("    " + dirCell + " "),
      seg(cell(frames === undefined ? "-" : formatRate(frames), 8, { align: "right" })),
      seg(cols.bytes ? " " + cell("-", 11, { align: "right" }) + "  " : "  "),
    ];
    const none = drops.length === 0 ? [seg("no drops", { dim: true })] : drops;
    const ring = seg("no link ring", { dim: true });
    if (wide) {
      const both = waitSegs.length > 0 ? [...none, seg(" · ", { dim: true }), ...waitSegs] : none;
      out.push(...wideRows(main, both, dropsW, ring, width));
    } else {
      // "no link ring" only where it fits: it says nothing worth a cut word.
      out.push(lineWidth(main) + lineWidth([ring]) <= width ? [...main, ring] : bare(main));
      out.push(...wrapItems(drops.length === 0 ? "      " : "      drops: ", none, width));
      if (waitSegs.length > 0) out.push(...wrapItems("      ", waitSegs, width));
    }
  }
  const fault = l.lastFault === null ? "" : ` (last ${l.lastFault})`;
  const irqRate = r !== undefined && r.interrupts > 0 ? ` ${formatRate(r.interrupts)}` : "";
  const partitionRate = r !== undefined && r.partitionDropped > 0
    ? ` +${formatRate(r.partitionDropped)}`
    : "";
  // Word-wrapped: on a narrow terminal the faults go to the next line rather than being cut.
  out.push(...wrapWords(
    [
      seg(`window ${l.window}`),
      seg(`· connection ${l.connection}`),
      seg(`· irq ${si(l.interrupts)}${irqRate}`),
      ...(l.partitionDropped > 0
        ? [seg(`· partition ${si(l.partitionDropped)}${partitionRate}`, { color: "yellow" })]
        : []),
      seg(`· faults ${l.faults}${fault}`, { color: l.faults > 0 ? "yellow" : undefined }),
      // Ring areas unmapped under the peer (`iommu-unmap`), as `vlab status` counts them.
      ...(l.revoked > 0 ? [seg(`· revoked ${si(l.revoked)}`, { color: "yellow" })] : []),
    ],
    width,
    { first: "    ", indent: 6 },
  ));
  return out;
}

/**
 * The Links panel.
 *
 * @example
 * ```tsx ignore
 * <LinksPanel snapshot={snap} rates={rates} selected={0} width={80} height={20} colors />
 * ```
 */
export function LinksPanel(props: LinksProps) {
  return (
    <Lines
      lines={linksLines(props)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}
