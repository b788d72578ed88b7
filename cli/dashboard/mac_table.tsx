/**
 * The MAC table view of one switch (enter on a switch in the Links panel): every station the
 * learning switch has seen and not yet aged out, the port it was last seen on with that port's
 * link, the NIC or switch behind it, and how long ago, refreshed while shown, as `watch bridge fdb
 * show` would; above it the switch's counters, so a station appearing and `learned` going up are
 * seen together. The same table as `vlab fdb SWITCH` (`cli/fdb.ts`).
 *
 * `run.ts` reads the table from the snapshot source while the view is open; this module only
 * draws what it got. A source that cannot read MAC tables, or a switch that did not answer, gives
 * a one-line note instead of a table. Below the width the whole row needs, the link column goes
 * (the port and the station behind it say where it is) and the station behind is cut.
 *
 * @module
 */

import type { SwitchSnapshot } from "../../lab/snapshot_types.ts";
import type { SwitchMacTable } from "../../lab/switch_macs.ts";
import { cell, textWidth } from "./format.ts";
import { type Line, Lines, lineWidth, type Seg, seg, wrapWords } from "./lines.tsx";
import type { Rates } from "./rates.ts";
import { switchCounterSegs, wrapItems } from "./links.tsx";

/** What the dashboard read of one switch's MAC table. */
export interface MacView {
  /** The switch asked for. */
  readonly switch: string;
  /** Its table, or null when it could not be read (`note` says why). */
  readonly table: SwitchMacTable | null;
  /** Why there is no table (one line), or null. */
  readonly note: string | null;
}

/** Props of `<MacTablePanel>` and `macTableLines`. */
export interface MacTableProps {
  /** The switch shown (its name, ports and counters, from the snapshot). */
  readonly switch: SwitchSnapshot;
  /** What was read of its table, or null while loading (or when it is another switch's). */
  readonly view: MacView | null;
  /** Rates from the previous snapshot, for the counters, or null. */
  readonly rates: Rates | null;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/** Columns of a row besides the link and the station behind: indent, MAC, port, age, gaps. */
const FIXED_WIDTH = 2 + 17 + 2 + 4 + 2 + 2 + 8;
/** A station seen this recently is drawn as just seen (ms). */
const FRESH_MS = 1000;

/** Station rows the MAC table keeps before the switch's counters. */
const MIN_ROWS = 3;

/** An age as `vlab fdb` prints it: seconds with one decimal. */
function formatAge(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

/**
 * The MAC table view's lines: the switch and its counters, then a header and a row per station
 * (or a line saying none, or the note), `height` lines at most.
 *
 * @example
 * ```ts ignore
 * const lines = macTableLines({ switch: sw, view, rates: null, width: 80, height: 20, colors: false });
 * ```
 */
export function macTableLines(props: MacTableProps): Line[] {
  const { view, width } = props;
  const sw = props.switch;
  const table = view !== null && view.switch === sw.name ? view.table : null;
  const items: Seg[] = [seg(sw.name, { bold: true }), seg("MAC table", { color: "cyan" })];
  if (table !== null) {
    const n = table.macs.length;
    items.push(seg(`${n} station${n === 1 ? "" : "s"}`));
    items.push(seg(`entries age out after ${Math.round(table.agingMs / 1000)} s`, { dim: true }));
  }
  const join = (from: readonly Seg[]) => from.flatMap((it, i) => i === 0 ? [it] : [seg(" · "), it]);
  // Where it does not fit (at 40 columns "… · 2 stations · entrie…"), it wraps between its
  // items; on a short screen, where the table needs the line, the aging note gives way instead.
  const short = props.height < 10;
  const title: Line[] = lineWidth(join(items)) <= width
    ? [join(items)]
    : short
    ? [join(items.slice(0, 3))]
    : wrapWords(items.map((it, i) => i === 0 ? it : { ...it, text: `· ${it.text}` }), width, {
      indent: 2,
    });
  // The counters, then a blank line, while they leave the table its header and a few rows (or
  // the line that stands for it): at 40x10 the wrapped counters took every line.
  // The switch's counters as the Links panel shows them, wrapped between items (a line began
  // "· evicted 0").
  const counters = wrapItems("  ", switchCounterSegs(sw, props.rates), width);
  const tableRows = Math.min(MIN_ROWS, Math.max(1, table?.macs.length ?? 1));
  const free = props.height - title.length - (table !== null && table.macs.length > 0 ? 1 : 0) -
    tableRows;
  const out: Line[] = [...title, ...counters.slice(0, Math.max(0, free))];
  if (free > counters.length) out.push([]);
  if (view === null || view.switch !== sw.name) {
    out.push([seg("  loading the MAC table…", { dim: true })]);
    return out.slice(0, props.height);
  }
  if (table === null) {
    out.push([seg(`  ${view.note ?? "no MAC table"}`, { color: "yellow" })]);
    return out.slice(0, props.height);
  }
  if (table.macs.length === 0) {
    out.push([seg("  no station learned yet", { dim: true })]);
    return out.slice(0, props.height);
  }

  const linkW = Math.max(4, ...table.macs.map((m) => m.link.length));
  const peerW = Math.max(6, ...table.macs.map((m) => m.peer.length));
  const showLink = FIXED_WIDTH + linkW + 2 + peerW <= width;
  // Below 43 columns the NIC behind goes too (cut to 6 it pushed the age off the line).
  const showBehind = FIXED_WIDTH + 6 <= width;
  const behindW = showLink ? peerW : Math.max(6, Math.min(peerW, width - FIXED_WIDTH));
  // A NIC behind longer than the column leaves it: each station's goes on the line under its
  // row (cut, "abcdefghijklmnop:nic0123456789abc" read "abcdefghijklmn…" at 52 columns).
  const peersBelow = showBehind && behindW < peerW;
  const inColumn = showBehind && !peersBelow;
  const row = (mac: string, port: string, link: string, peer: string, age: string) =>
    "  " + cell(mac, 17) + "  " + cell(port, 4, { align: "right" }) + "  " +
    (showLink ? cell(link, linkW) + "  " : "") + (inColumn ? cell(peer, behindW) + "  " : "") +
    cell(age, 8, { align: "right" });
  out.push([seg(row("MAC", "PORT", "LINK", "BEHIND", "AGE"), { dim: true, bold: true })]);
  const perStation = peersBelow ? 2 : 1;
  const room = Math.max(1, props.height - out.length);
  const shown = table.macs.length * perStation <= room
    ? table.macs
    : table.macs.slice(0, Math.floor((room - 1) / perStation));
  for (const m of shown) {
    const fresh = m.ageMs < FRESH_MS;
    out.push([
      seg(row(m.mac, String(m.port), m.link, m.peer, formatAge(m.ageMs)), {
        color: fresh ? "green" : undefined,
        bold: fresh,
      }),
    ]);
    if (peersBelow) {
      const label = textWidth(`    behind ${m.peer}`) <= width ? "    behind " : "    ";
      out.push([seg(label, { dim: true }), seg(m.peer)]);
    }
  }
  const more = table.macs.length - shown.length;
  if (more > 0) {
    out.push([seg(`  … ${more} more (vlab fdb ${sw.name} lists them all)`, { dim: true })]);
  }
  return out.slice(0, props.height);
}

/**
 * The MAC table view.
 *
 * @example
 * ```tsx ignore
 * <MacTablePanel switch={sw} view={view} rates={rates} width={80} height={20} colors />
 * ```
 */
export function MacTablePanel(props: MacTableProps) {
  return (
    <Lines
      lines={macTableLines(props)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}
