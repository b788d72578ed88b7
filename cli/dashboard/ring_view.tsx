/**
 * The ring view of one queue: the descriptor table with decoded flags and who owns each entry,
 * and where each side's index points. The view meant to teach the two layouts from:
 *
 * - split: row `#` shows descriptor `#` of the table on the left and slot `#` of the avail ring
 *   (`avail.ring[#]`, a chain head) and of the used ring (`used.ring[#]`, `id:len`) on the right.
 *   `◀ avail` marks `avail.idx mod size` (the slot the driver fills next), `◀ device next` the
 *   avail slot the device reads next, `◀ used` `used.idx mod size` (the slot the device fills
 *   next). Avail slots between the device's next and `avail.idx` are waiting for the device.
 * - packed: one ring of descriptor slots. The driver makes a slot available by writing AVAIL = its
 *   wrap counter and USED = the inverse; the device marks it used by writing both equal to its
 *   wrap counter. `◀ next avail` / `◀ next used` mark the device's next slots with their wrap
 *   counters, which flip at each lap.
 *
 * @module
 */

import type { RingView } from "../../lab/snapshot_types.ts";
import { cell, formatHex, textWidth } from "./format.ts";
import {
  type Color,
  type Line,
  Lines,
  lineWidth,
  type Seg,
  seg,
  splitWide,
  wrapWords,
} from "./lines.tsx";

/** Table rows the ring view keeps before its index summary, event fields and legend. */
const MIN_ROWS = 3;

/** The color of each descriptor owner. */
export const OWNER_COLORS: Readonly<Record<string, Color>> = {
  driver: "yellow",
  device: "magenta",
  free: "gray",
};

/** Props of `<RingViewPanel>` and `ringLines`. */
export interface RingViewProps {
  /** The ring, or null while it is loading (or the queue is gone). */
  readonly ring: RingView | null;
  /** The queue's title, e.g. "a/eth0 transmitq". */
  readonly title: string;
  /** First table row shown, or null to follow the device's next avail slot. */
  readonly scroll: number | null;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/**
 * The index markers of each table row: split `avail`, `device next`, `used` at the avail and used
 * ring positions modulo the size; packed `next avail`/`next used` with their wrap counters.
 *
 * @example
 * ```ts ignore
 * ringMarkers(splitRing).get(64); // ["avail"]
 * ```
 */
export function ringMarkers(ring: RingView): Map<number, string[]> {
  const marks = new Map<number, string[]>();
  if (ring.size <= 0) return marks;
  const add = (i: number, name: string) => {
    const row = ((i % ring.size) + ring.size) % ring.size;
    marks.set(row, [...(marks.get(row) ?? []), name]);
  };
  if (ring.layout === "split") {
    if (ring.availIdx !== null) add(ring.availIdx, "avail");
    add(ring.deviceNextAvail, "device next");
    if (ring.usedIdx !== null) add(ring.usedIdx, "used");
  } else {
    const w = (b: boolean | null) => (b === null ? "" : b ? " w1" : " w0");
    add(ring.deviceNextAvail, `next avail${w(ring.availWrapCounter)}`);
    add(ring.deviceNextUsed, `next used${w(ring.usedWrapCounter)}`);
  }
  return marks;
}

/** Which avail-ring slots of a split ring hold heads the device has not read yet. */
function waitingSlots(ring: RingView): Set<number> {
  const out = new Set<number>();
  if (ring.layout !== "split" || ring.availIdx === null || ring.size <= 0) return out;
  const pending = (ring.availIdx - ring.deviceNextAvail) & 0xffff;
  for (let k = 0; k < Math.min(pending, ring.size); k++) {
    out.add((ring.deviceNextAvail + k) % ring.size);
  }
  return out;
}

/**
 * The forms of one row's markers, longest first: in full, then in shorter words (packed
 * "◀ next avail w1,next used w1" was cut at 80 columns: "◀ avail w1,used w1"; an idle split ring's
 * "◀ avail,dev next,used" was cut at 80 columns: "◀ avail,dev,used").
 */
function markerForms(names: string[]): string[] {
  if (names.length === 0) return [""];
  const short = (n: string) => (n === "device next" ? "dev next" : n);
  return [
    `◀ ${names.join(" · ")}`,
    `◀ ${names.map(short).join(",")}`,
    `◀ ${names.map((n) => (n === "device next" ? "dev" : n.replace(/^next /, ""))).join(",")}`,
  ];
}

/** The markers of one row in `room` columns: the longest form that fits, else the shortest. */
function markerText(names: string[], room: number): string {
  const forms = markerForms(names);
  return forms.find((f) => textWidth(f) <= room) ?? forms[forms.length - 1];
}

/** The columns the shortest form of the widest row's markers takes. */
function markersWidth(marks: Map<number, string[]>): number {
  let most = 0;
  for (const names of marks.values()) most = Math.max(most, textWidth(markerForms(names).at(-1)!));
  return most;
}

/**
 * The ring view's lines: a title, the index summary, the table header, the visible rows and a
 * legend, `height` lines in all.
 *
 * @example
 * ```ts ignore
 * const lines = ringLines({ ring, title: "a/eth0 transmitq", scroll: null, width: 80, height: 20, colors: false });
 * ```
 */
export function ringLines(props: RingViewProps): Line[] {
  return buildRing(props).lines;
}

/**
 * Where the ring table starts and how many rows it shows at this size: what the view shows when
 * following the device, so scrolling can start from there.
 *
 * @example
 * ```ts ignore
 * ringWindow({ ring, title, scroll: null, width: 80, height: 20, colors: false }); // { start: 36, rows: 12 }
 * ```
 */
export function ringWindow(props: RingViewProps): { start: number; rows: number } {
  const { start, rows } = buildRing(props);
  return { start, rows };
}

function buildRing(props: RingViewProps): { lines: Line[]; start: number; rows: number } {
  const { ring, width } = props;
  const out: Line[] = [];
  if (ring === null) {
    const lines = [[seg(props.title, { bold: true })], [
      seg("loading the ring view…", { dim: true }),
    ]];
    return { lines, start: 0, rows: 0 };
  }
  const split = ring.layout === "split";
  const titleLine = [
    seg(props.title, { bold: true }),
    seg(` · ${ring.layout} · ${ring.size} entries`, { color: split ? "blue" : "magenta" }),
    ...(ring.servedBy ? [seg(` · served by ${ring.servedBy}`, { color: "cyan" })] : []),
  ];
  // Too wide (a vhost-pci frontend's queue at 40 columns lost whom it is served by): wrapped
  // between its items.
  out.push(
    ...(lineWidth(titleLine) <= width ? [titleLine] : wrapWords(
      // An item longer than a line breaks between its words (at 40 columns
      // "abcdefghijklmnop/nic0123456789abc recei…").
      splitWide(
        titleLine.map((s, i) => i === 0 ? s : { ...s, text: s.text.replace(/^ /, "") }),
        width - 2,
      ),
      width,
      { indent: 2 },
    )),
  );
  if (ring.size === 0) {
    out.push([seg("queue not set up (size 0): no descriptors", { dim: true })]);
    return { lines: out, start: 0, rows: 0 };
  }
  const m = ring.size;
  // The index summary and the event-suppression fields: shown while the table keeps its rows.
  const summary: Line[] = [];
  // Where the summary does not fit, one line of the slots alone (at 40 columns the table cuts the
  // markers off, and this line is all that says where the indices point).
  let compact: Line;
  if (split && ring.availIdx !== null && ring.usedIdx !== null) {
    compact = [
      seg("slot "),
      seg(`avail ${ring.availIdx % m}`, { color: "yellow" }),
      seg(" · "),
      seg(`dev next ${ring.deviceNextAvail % m}`, { color: "magenta" }),
      seg(" · "),
      seg(`used ${ring.usedIdx % m}`, { color: "green" }),
    ];
    const waiting = (ring.availIdx - ring.deviceNextAvail) & 0xffff;
    const inFlight = (ring.deviceNextAvail - ring.usedIdx) & 0xffff;
    summary.push(
      ...wrapWords([
        seg(`avail.idx ${ring.availIdx} → slot ${ring.availIdx % m}`, { color: "yellow" }),
        seg("·"),
        seg(`device next ${ring.deviceNextAvail} → slot ${ring.deviceNextAvail % m}`, {
          color: "magenta",
        }),
        seg("·"),
        seg(`used.idx ${ring.usedIdx} → slot ${ring.usedIdx % m}`, { color: "green" }),
        seg("·"),
        seg(`${waiting} waiting, ${inFlight} in flight`),
      ], width),
    );
  } else {
    const w = (b: boolean | null) => (b === null ? "?" : b ? "1" : "0");
    compact = [
      seg(`next avail ${ring.deviceNextAvail} w${w(ring.availWrapCounter)}`, { color: "magenta" }),
      seg(" · "),
      seg(`next used ${ring.deviceNextUsed} w${w(ring.usedWrapCounter)}`, { color: "green" }),
    ];
    summary.push(
      ...wrapWords([
        seg(`device next avail slot ${ring.deviceNextAvail} (wrap ${w(ring.availWrapCounter)})`, {
          color: "magenta",
        }),
        seg("·"),
        seg(`next used slot ${ring.deviceNextUsed} (wrap ${w(ring.usedWrapCounter)})`, {
          color: "green",
        }),
      ], width),
    );
  }
  const events = Object.entries(ring.events);
  const eventLines: Line[] = [];
  if (events.length > 0) {
    eventLines.push(
      ...wrapWords(events.map(([k, v]) => seg(`${k} ${v}`)), width, { first: "events: " }),
    );
  }

  // Table: # addr len flags next|id owner [│ avail[#] used[#]] markers. The columns of indices
  // take the digits of the queue's last index (a 32768-entry queue's 32767 was cut to "327…"),
  // a used element `id:len` those and a length of 4 digits (an MTU of 9000 at most).
  const flagsW = split ? 10 : 16;
  const digits = String(Math.max(0, m - 1)).length;
  const idxW = Math.max(3, digits);
  const nextW = Math.max(4, digits);
  const availW = Math.max(8, digits);
  const usedW = Math.max(7, digits + 5);
  // Below 80 columns the address goes (the header lines name the indices): the avail and used
  // rings and the markers keep their room.
  const showAddr = width >= 80;
  const leftOf = (indent: string, withOwner: boolean) =>
    indent + cell("#", idxW, { align: "right" }) + " " +
    (showAddr ? cell("addr", 10) + " " : "") +
    cell("len", 5, { align: "right" }) + " " + cell("flags", flagsW) + " " +
    cell(split ? "next" : "id", nextW, { align: "right" }) +
    (withOwner ? " " + cell("owner", 6) : "");
  const left = leftOf("", true);
  const right = split
    ? " │ " + cell("avail[#]", availW, { align: "right" }) + " " +
      cell("used[#]", usedW, { align: "right" })
    : "";
  const tableW = left.length + right.length;
  const marks = ringMarkers(ring);
  // Where a row does not fit (below 56 columns split, 41 packed), each descriptor takes two
  // lines: its number, length, flags and next or id, then its owner, the avail and used rings'
  // slots and the markers (cut, at 40 columns the rings' columns were gone: "│ a…"). A screen
  // too short for a few descriptors on two lines each keeps one line a descriptor (the line of
  // slots above the table says where the indices point). Where a row fits but leaves its markers
  // too little room even in their shortest words (an idle ring's one slot below 69 columns, a
  // 32768-entry queue at 80), two lines a descriptor too: fewer rows, to scroll, rather than a
  // marker cut.
  const total = ring.descriptors.length;
  const minRows = Math.min(MIN_ROWS, total);
  const twoLine = tableW + 1 + markersWidth(marks) > width &&
    props.height - out.length - 2 >= 2 * minRows;
  const sub = "    " + cell("owner", 6) +
    (split
      ? " " + cell("avail[#]", availW, { align: "right" }) + " " +
        cell("used[#]", usedW + 1, { align: "right" })
      : "");
  const room = Math.max(0, width - (twoLine ? sub.length : tableW) - 1);
  const headers: Line[] = twoLine
    ? [
      [seg(leftOf("  ", false), { dim: true, bold: true })],
      [seg(sub + " " + cell("index", room), { dim: true, bold: true })],
    ]
    : [[seg(left + right + " " + cell("index", room), { dim: true, bold: true })]];

  // The title, the table's header and a few rows come first; then, while they leave that many
  // rows, the index summary, the event-suppression fields and the legend, in that order (at 40×10
  // the summary alone took every line and no row was left to scroll).
  let free = props.height - out.length - headers.length - (twoLine ? 2 : 1) * minRows;
  const fits = (lines: Line[]): Line[] => {
    if (lines.length > free) return [];
    free -= lines.length;
    return lines;
  };
  const shownSummary = fits(summary);
  out.push(...(shownSummary.length > 0 ? shownSummary : fits([compact])), ...fits(eventLines));
  const legendShown = legendLines(split, width, Math.min(width >= 120 ? 2 : 3, free));
  out.push(...headers);
  const linesRoom = Math.max(1, props.height - out.length - legendShown.length);
  // Descriptors shown: a page of the keys is this many.
  // Two lines a descriptor still too narrow for the markers (an idle ring at 40 columns: "◀
  // avail,de…"): a marked descriptor takes a third line for them, and the rows shown leave it.
  const markersBelow = twoLine && markersWidth(marks) > room;
  const rowsRoom = twoLine
    ? Math.max(1, Math.floor((linesRoom - (markersBelow ? marks.size : 0)) / 2))
    : linesRoom;
  const waiting = waitingSlots(ring);
  const follow = followRow(ring, rowsRoom);
  const start = Math.max(0, Math.min(props.scroll ?? follow, Math.max(0, total - rowsRoom)));
  for (const d of ring.descriptors.slice(start, start + rowsRoom)) {
    const owner = seg(cell(d.owner, 6), {
      color: OWNER_COLORS[d.owner],
      bold: d.owner !== "free",
    });
    const a = split ? ring.availRing?.[d.index] : undefined;
    const u = split ? ring.usedRing?.[d.index] : undefined;
    const availCell = seg(cell(a === undefined ? "-" : String(a), availW, { align: "right" }), {
      color: waiting.has(d.index) ? "yellow" : undefined,
      dim: !waiting.has(d.index),
    });
    const usedCell = seg(
      " " + cell(u === undefined ? "-" : `${u.id}:${u.len}`, usedW, { align: "right" }),
      { dim: true },
    );
    const names = marks.get(d.index) ?? [];
    const marker = names.length === 0
      ? []
      : [seg(" "), seg(markerText(names, room), { bold: true, color: "cyan" })];
    const flags = seg(cell(d.flagNames.length === 0 ? "-" : d.flagNames.join("|"), flagsW));
    const next = cell(String((split ? d.next : d.id) ?? "-"), nextW, { align: "right" });
    if (twoLine) {
      out.push([
        seg("  " + cell(String(d.index), idxW, { align: "right" }) + " "),
        ...(showAddr ? [seg(cell(formatHex(d.addr), 10) + " ")] : []),
        seg(cell(String(d.len), 5, { align: "right" }) + " "),
        flags,
        seg(" " + next),
      ]);
      out.push([
        seg("    "),
        owner,
        ...(split ? [seg(" "), availCell, usedCell] : []),
        ...(markersBelow ? [] : marker),
      ]);
      if (markersBelow && names.length > 0) {
        out.push([seg("    "), seg(markerText(names, width - 4), { bold: true, color: "cyan" })]);
      }
      continue;
    }
    const row: Seg[] = [
      seg(cell(String(d.index), idxW, { align: "right" }) + " "),
      ...(showAddr ? [seg(cell(formatHex(d.addr), 10) + " ")] : []),
      seg(cell(String(d.len), 5, { align: "right" }) + " "),
      flags,
      seg(" " + next + " "),
      owner,
    ];
    if (split) row.push(seg(" │ "), availCell, usedCell);
    row.push(...marker);
    out.push(row);
  }
  while (out.length < props.height - legendShown.length) out.push([]);
  out.push(...legendShown);
  return { lines: out.slice(0, props.height), start, rows: rowsRoom };
}

/**
 * The ring view panel.
 *
 * @example
 * ```tsx ignore
 * <RingViewPanel ring={ring} title="a/eth0 transmitq" scroll={null} width={80} height={20} colors />
 * ```
 */
export function RingViewPanel(props: RingViewProps) {
  return (
    <Lines
      lines={ringLines(props)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}

/**
 * The legend's items, in the order they are given up from the last, each in full and short (for a narrow view). An item is
 * shown whole or not at all: a legend cut to its lines stopped mid-sentence ("◀ device").
 */
const LEGEND: Readonly<Record<"split" | "packed", readonly (readonly [string, string])[]>> = {
  split: [
    [
      "owner: driver = made available, not taken · device = taken, in flight · free.",
      "owner: driver = available · device = in flight · free.",
    ],
    [
      "avail[#] / used[#]: slot # of the avail ring (a chain head) and used ring (id:len).",
      "avail[#] / used[#]: slot # of each ring (head; id:len).",
    ],
    [
      "◀ avail / ◀ used: the slot avail.idx / used.idx fills next; ◀ device next (dev): the " +
      "avail slot the device reads next.",
      "◀ avail/used: the slot its idx fills next · ◀ device next (dev): the avail slot it reads " +
      "next.",
    ],
  ],
  packed: [
    [
      "owner: driver = available, not taken · device = taken, in flight · free = used.",
      "owner: driver = available · device = in flight · free = used.",
    ],
    [
      "Available: AVAIL = wrap ≠ USED; used: AVAIL = USED = wrap.",
      "avail: AVAIL = wrap ≠ USED · used: AVAIL = USED = wrap.",
    ],
    [
      "◀ next avail / used: the device's next slots, w = its wrap counter (flips each lap).",
      "◀ next avail/used: the device's next slots, w = its wrap counter.",
    ],
  ],
};

/**
 * The legend in at most `maxLines` lines of `width`: as many whole items as fit, in full or short
 * words (whichever shows more; full on a tie).
 */
function legendLines(split: boolean, width: number, maxLines: number): Line[] {
  const items = LEGEND[split ? "split" : "packed"];
  let best: Line[] = [];
  let bestItems = 0;
  for (const form of [0, 1] as const) {
    for (let k = items.length; k > bestItems; k--) {
      const words = items.slice(0, k).flatMap((item) => item[form].split(/(?<!◀) /));
      const lines = wrapWords(words.map((w) => seg(w, { dim: true })), width);
      if (lines.length <= maxLines && lines.every((l) => lineWidth(l) <= width)) {
        best = lines;
        bestItems = k;
        break;
      }
    }
  }
  return best;
}

/** The first table row when following the device: its next avail slot, a third down. */
function followRow(ring: RingView, rowsRoom: number): number {
  if (ring.size <= 0) return 0;
  return Math.max(0, (ring.deviceNextAvail % ring.size) - Math.floor(rowsRoom / 3));
}
