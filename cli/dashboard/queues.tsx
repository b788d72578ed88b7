/**
 * The Queues panel: one row per virtqueue with layout, size, indices (split: `avail.idx` and
 * `used.idx` as published; packed: the device's next avail and used slots with their wrap
 * counters), chains in flight and waiting, an occupancy sparkline over the last minute, and the
 * rates (requests, bytes, kicks, interrupts, interrupts saved by event suppression). Below 120
 * columns the rates go on a second line under each queue.
 *
 * @module
 */

import type { LabSnapshot, QueueSnapshot } from "../../lab/snapshot_types.ts";
import { cell, formatByteRate, formatRate, textWidth } from "./format.ts";
import { type Line, Lines, type Seg, seg, windowStart, wrapWords } from "./lines.tsx";
import { occupancy, type OccupancyHistory, queueKey, type Rates, sparkline } from "./rates.ts";

/** One queue of the snapshot, with where it lives. */
export interface QueueRef {
  /** VM name. */
  readonly vm: string;
  /** NIC name. */
  readonly nic: string;
  /** The queue. */
  readonly queue: QueueSnapshot;
}

/**
 * Every queue of the snapshot in display order (VM, device, queue index).
 *
 * @example
 * ```ts ignore
 * listQueues(snapshot).map((q) => queueLabel(q)); // ["a/eth0 rx", "a/eth0 tx", …]
 * ```
 */
export function listQueues(snapshot: LabSnapshot): QueueRef[] {
  const out: QueueRef[] = [];
  for (const vm of snapshot.vms) {
    for (const dev of vm.devices) {
      for (const queue of dev.queues) out.push({ vm: vm.name, nic: dev.nic, queue });
    }
  }
  return out;
}

/**
 * A short label of a queue: `vm/nic rx` (receiveq), `tx` (transmitq), else the queue's name.
 *
 * @example
 * ```ts ignore
 * queueLabel({ vm: "a", nic: "eth0", queue: { name: "transmitq", … } }); // "a/eth0 tx"
 * ```
 */
export function queueLabel(ref: QueueRef): string {
  const short = ref.queue.name === "receiveq"
    ? "rx"
    : ref.queue.name === "transmitq"
    ? "tx"
    : ref.queue.name;
  return `${ref.vm}/${ref.nic} ${short}`;
}

/**
 * The two index cells of a queue: split `avail.idx`/`used.idx`; packed the device's next slots
 * with their wrap counters (`36 w0`).
 *
 * @example
 * ```ts ignore
 * indexCells(packedQueue); // ["36 w0", "33 w0"]
 * ```
 */
export function indexCells(q: QueueSnapshot): [string, string] {
  if (q.layout === "split") {
    return [
      q.availIdx === null ? "-" : String(q.availIdx),
      q.usedIdx === null ? "-" : String(q.usedIdx),
    ];
  }
  const w = (b: boolean | null) => (b === null ? "" : b ? " w1" : " w0");
  return [
    `${q.deviceNextAvail}${w(q.availWrapCounter)}`,
    `${q.deviceNextUsed}${w(q.usedWrapCounter)}`,
  ];
}

/** Props of `<QueuesPanel>` and `queuesLines`. */
export interface QueuesProps {
  /** The snapshot drawn. */
  readonly snapshot: LabSnapshot;
  /** Rates from the previous snapshot, or null before there are two. */
  readonly rates: Rates | null;
  /** Occupancy history for the sparklines, or null. */
  readonly history: OccupancyHistory | null;
  /** Index of the selected queue in `listQueues(snapshot)`. */
  readonly selected: number;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/** The narrowest and widest queue-name column ("a/eth0 rx" is 9; "a/iommu0 requestq" 17). */
const NAME_MIN = 9;
const NAME_MAX = 24;
/** Columns of a row besides the name and the sparkline: indices, counts, gaps, the percentage. */
const ROW_FIXED = 2 + 1 + 7 + 5 + 1 + 6 + 1 + 6 + 1 + 5 + 1 + 5 + 2 + 5;
/** The same for a compact row: no in-flight, pending or occupancy columns. */
const ROW_COMPACT = 2 + 1 + 7 + 5 + 1 + 6 + 1 + 6;

/**
 * The widths of the queue-name column and the occupancy sparkline in `width` columns: the name
 * column fits the longest label (cut only where the screen has no room for it), and the
 * sparkline takes what is left, or nothing below 3 columns (the percentage stays).
 *
 * @example
 * ```ts
 * import { queueColumns } from "./queues.tsx";
 * queueColumns(["a/eth0 rx", "a/iommu0 requestq"], 80, 0); // { nameW: 17, sparkW: 15 }
 * queueColumns(["a/eth0 rx", "a/iommu0 requestq"], 60, 0); // { nameW: 12, sparkW: 0 }
 * ```
 */
export function queueColumns(
  labels: readonly string[],
  width: number,
  ratesWidth: number,
): { nameW: number; sparkW: number } {
  const longest = Math.max(NAME_MIN, ...labels.map((l) => textWidth(l)));
  // A compact row (below 57 columns) has no in-flight, pending or occupancy columns.
  if (width - ratesWidth < ROW_FIXED + NAME_MIN) {
    return {
      nameW: Math.max(NAME_MIN, Math.min(NAME_MAX, longest, width - ROW_COMPACT)),
      sparkW: 0,
    };
  }
  const room = width - ROW_FIXED - ratesWidth;
  const nameW = Math.max(NAME_MIN, Math.min(NAME_MAX, longest, room));
  const spark = room - nameW;
  return { nameW, sparkW: spark >= 3 ? spark : 0 };
}

/**
 * The queues panel's visible lines: a header, the queue rows scrolled to keep the selected one in
 * view, and a one-line legend.
 *
 * @example
 * ```ts ignore
 * const lines = queuesLines({ snapshot, rates, history, selected: 1, width: 80, height: 20, colors: false });
 * ```
 */
export function queuesLines(props: QueuesProps): Line[] {
  const { snapshot, rates, history, width } = props;
  const wide = width >= 120;
  const refs = listQueues(snapshot);
  const states = new Map(snapshot.vms.map((v) => [v.name, v.state]));
  const rateW = [8, 11, 8, 8, 8] as const;
  const ratesWidth = wide ? rateW.reduce((a, b) => a + b + 1, 0) : 0;
  const { nameW: nameW, sparkW } = queueColumns(refs.map(queueLabel), width, ratesWidth);
  // Below 57 columns a whole row does not fit: in flight, pending and occupancy go to the line
  // below, with the rates (cut, a row at 40 columns ended after used.idx: "1 …").
  const compact = width < ROW_FIXED + NAME_MIN;

  const header: Seg[] = [
    seg(
      "  " + cell("queue", nameW) + " " + cell("layout", 7) + cell("size", 5, { align: "right" }) +
        " " + cell("avail", 6, { align: "right" }) + " " + cell("used", 6, { align: "right" }) +
        (compact ? "" : " " + cell("infl", 5, { align: "right" }) + " " +
          cell("pend", 5, { align: "right" }) + "  " +
          cell(occupancyTitle(sparkW + 5), sparkW + 5, { align: sparkW > 0 ? "left" : "right" })),
      { dim: true, bold: true },
    ),
  ];
  if (wide) {
    const names = ["req/s", "bytes/s", "kicks/s", "irqs/s", "saved/s"];
    header.push(
      seg(names.map((n, i) => " " + cell(n, rateW[i], { align: "right" })).join(""), {
        dim: true,
        bold: true,
      }),
    );
  }

  const body: Line[] = [];
  let selectedLine = 0;
  const starts: number[] = [];
  refs.forEach((ref, i) => {
    const q = ref.queue;
    const key = queueKey(ref.vm, ref.nic, q.index);
    const isSel = i === props.selected;
    if (isSel) selectedLine = body.length;
    starts.push(body.length);
    const [avail, used] = indexCells(q);
    const state = states.get(ref.vm);
    const now = snapshot.takenAt;
    const spark = history === null ? " ".repeat(sparkW) : sparkline(
      history.buckets(key, now, sparkW),
      sparkW,
      { max: 1 },
    );
    const occ = `${Math.round(occupancy(q) * 100)}%`;
    const marker = seg(isSel ? "▸ " : "  ", { bold: true, color: "cyan" });
    const label = queueLabel(ref);
    const labelStyle = { inverse: isSel, color: state === "running" ? undefined : "red" } as const;
    // A label longer than its column (a narrow screen: "a/vsock0 event" was "a/vsock0 e…") goes
    // whole on a line of its own, the queue's columns on the next.
    const own = textWidth(label) > nameW;
    if (own) body.push([marker, seg(label, labelStyle)]);
    const row: Seg[] = [
      own ? seg("  ") : marker,
      seg(cell(own ? "" : label, nameW), own ? {} : labelStyle),
      seg(" "),
      seg(cell(q.layout, 7), { color: q.layout === "packed" ? "magenta" : "blue" }),
      seg(cell(String(q.size), 5, { align: "right" })),
      seg(" " + cell(avail, 6, { align: "right" }) + " " + cell(used, 6, { align: "right" })),
      ...(compact ? [] : [
        seg(" " + cell(String(q.inFlight), 5, { align: "right" })),
        seg(" " + cell(q.pending === null ? "-" : String(q.pending), 5, { align: "right" }) + "  "),
        seg(spark, { color: "green" }),
        seg(cell(occ, 5, { align: "right" })),
      ]),
    ];
    const r = rates?.queues.get(key);
    const values = r === undefined ? ["-", "-", "-", "-", "-"] : [
      formatRate(r.requests),
      formatByteRate(r.bytes),
      formatRate(r.kicks),
      formatRate(r.interrupts),
      formatRate(r.suppressed),
    ];
    if (wide) {
      row.push(seg(values.map((v, j) => " " + cell(v, rateW[j], { align: "right" })).join("")));
      body.push(row);
    } else {
      body.push(row);
      const labels = ["req", "bytes", "kicks", "irqs", "saved"];
      const items: Seg[][] = [
        ...(compact
          ? [
            [seg("infl ", { dim: true }), seg(String(q.inFlight))],
            [seg("pend ", { dim: true }), seg(q.pending === null ? "-" : String(q.pending))],
            [seg("occ ", { dim: true }), seg(occ, { color: "green" })],
          ]
          : []),
        ...values.map((v, j) => [seg(`${labels[j]} `, { dim: true }), seg(v)]),
      ];
      if (state !== undefined && state !== "running") {
        items.push([seg(`(${state})`, { color: "red" })]);
      }
      body.push(...wrapRateItems(items, width));
    }
    // A queue another VM serves (vhost-pci): no device worker of its own VM touches it.
    // Wrapped between words: with long names it ran off an 80-column line ("… over vhost-pi…").
    if (q.servedBy) {
      const words = q.servedBy.split(" ").map((w) => seg(w, { color: "cyan" }));
      const first = "    served by ";
      body.push(
        ...(first.length + textWidth(words[0].text) <= width
          ? wrapWords(words, width, { first, indent: 6 })
          : [[seg(first.trimEnd())], ...wrapWords(words, width, { first: "      " })]),
      );
    }
  });
  if (refs.length === 0) body.push([seg("  no queues", { dim: true })]);

  const layouts = new Set(refs.map((ref) => ref.queue.layout));
  const legend: Line = [seg(legendText(layouts, props.width), { dim: true })];
  const bodyHeight = Math.max(0, props.height - 2);
  const start = windowStart(body.length, bodyHeight, selectedLine, starts);
  const visible = body.slice(start, start + bodyHeight);
  while (visible.length < bodyHeight) visible.push([]);
  return [header, ...visible, legend];
}

/**
 * A queue's second line (its rates, and on a narrow screen its counts) as items two spaces apart,
 * wrapped between items at `width` and indented by 4: cut, "irqs" and "saved" were lost.
 */
function wrapRateItems(items: readonly Seg[][], width: number): Line[] {
  const lines: Line[] = [];
  let line: Seg[] = [seg("    ")];
  let w = 4;
  for (const item of items) {
    const iw = item.reduce((n, x) => n + textWidth(x.text), 0);
    if (w > 4 && w + 2 + iw > width) {
      lines.push(line);
      line = [seg("    ")];
      w = 4;
    }
    if (w > 4) {
      line.push(seg("  "));
      w += 2;
    }
    line.push(...item);
    w += iw;
  }
  lines.push(line);
  return lines;
}

/**
 * The occupancy column's title in `w` columns, whole: a narrow sparkline cut "occupancy (60 s)" to
 * "occupancy (…".
 */
function occupancyTitle(w: number): string {
  return ["occupancy (60 s)", "occupancy", "occ"].find((t) => textWidth(t) <= w) ?? "occ";
}

/**
 * The legend's items whole, in order, as many as fit in `width` (cut, "w =…" said nothing): what
 * the index columns mean for the layouts the lab has, then what enter does; in short words where
 * they show more items.
 */
function legendText(layouts: ReadonlySet<string>, width: number): string {
  const fit = (items: string[]) => {
    let text = "";
    for (const item of items) {
      const next = text === "" ? item : `${text} · ${item}`;
      if (textWidth(next) > width) break;
      text = next;
    }
    return text;
  };
  const full = fit([
    ...(layouts.has("split") ? ["split: avail/used = avail.idx/used.idx (u16)"] : []),
    ...(layouts.has("packed") ? ["packed: device's next slots, w = wrap counter"] : []),
    "enter: ring view",
  ]);
  const short = fit([
    ...(layouts.has("split") ? ["split: avail.idx/used.idx"] : []),
    ...(layouts.has("packed") ? ["packed: next slots, w = wrap"] : []),
    "enter: ring",
  ]);
  // The form that says more: more items, or the full words for as many.
  return short.split(" · ").length > full.split(" · ").length || full === "" ? short : full;
}

/**
 * The Queues panel.
 *
 * @example
 * ```tsx ignore
 * <QueuesPanel snapshot={snap} rates={rates} history={history} selected={0} width={80} height={20} colors />
 * ```
 */
export function QueuesPanel(props: QueuesProps) {
  return (
    <Lines
      lines={queuesLines(props)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}
