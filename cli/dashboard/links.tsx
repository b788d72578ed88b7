/**
 * The Links panel: each link with its state, and each direction's frames/s and bytes/s, drops by
 * cause (impairment loss, full ring, no RX buffer, corruption) as totals with their rate, and the
 * impairment in force; then each switch with its counters. Below 120 columns a direction takes
 * two lines.
 *
 * @module
 */

import type { DirectionSnapshot, LabSnapshot } from "../../lab/snapshot_types.ts";
import { cell, formatByteRate, formatRate, si } from "./format.ts";
import { type Line, Lines, type Seg, seg, windowStart } from "./lines.tsx";
import type { DirectionRates, Rates } from "./rates.ts";

/** Props of `<LinksPanel>` and `linksLines`. */
export interface LinksProps {
  /** The snapshot drawn. */
  readonly snapshot: LabSnapshot;
  /** Rates from the previous snapshot, or null before there are two. */
  readonly rates: Rates | null;
  /** Index of the selected link in `snapshot.links`. */
  readonly selected: number;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

const DROP_CAUSES = [
  ["loss", "loss"],
  ["fullRing", "full ring"],
  ["noRxBuffer", "no RX buffer"],
  ["corrupted", "corrupted"],
] as const;

/**
 * The drops of one direction by cause: `loss 710 +100/s · full ring 0 · …` (the rate only when
 * it is not zero).
 *
 * @example
 * ```ts ignore
 * dropSegs(direction, rates).map((s) => s.text).join(""); // "loss 710 +100/s · full ring 0 · no RX buffer 35 · corrupted 0"
 * ```
 */
export function dropSegs(d: DirectionSnapshot, r: DirectionRates | undefined): Seg[] {
  const out: Seg[] = [];
  DROP_CAUSES.forEach(([key, label], i) => {
    if (i > 0) out.push(seg(" · ", { dim: true }));
    const total = d.drops[key];
    const perSecond = r?.drops[key] ?? 0;
    out.push(seg(`${label} `, { dim: true }));
    out.push(seg(si(total), { color: total > 0 ? "yellow" : undefined }));
    if (perSecond > 0) out.push(seg(` +${formatRate(perSecond)}`, { color: "red", bold: true }));
  });
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
  const dirW = 22;
  const header: Line = [
    seg(
      "    " + cell("direction", dirW) + " " + cell("frames/s", 8, { align: "right" }) + " " +
        cell("bytes/s", 11, { align: "right" }) + "  " + (wide ? cell("drops", 70) + " " : "") +
        "impairment",
      { dim: true, bold: true },
    ),
  ];
  const body: Line[] = [];
  let selectedLine = 0;
  snapshot.links.forEach((link, i) => {
    const isSel = i === props.selected;
    if (isSel) selectedLine = body.length;
    body.push([
      seg(isSel ? "▸ " : "  ", { bold: true, color: "cyan" }),
      seg(link.name, { bold: true, inverse: isSel }),
      seg("  "),
      seg(link.up ? "up" : "DOWN", { color: link.up ? "green" : "red", bold: !link.up }),
      seg(`  ${link.endpoints[0]} ↔ ${link.endpoints[1]}`, { dim: true }),
    ]);
    const r = rates?.links.get(link.name);
    for (const [d, dr] of [[link.forward, r?.forward], [link.reverse, r?.reverse]] as const) {
      const main: Seg[] = [
        seg("    " + cell(`${d.from} → ${d.to}`, dirW) + " "),
        seg(cell(dr === undefined ? "-" : formatRate(dr.frames), 8, { align: "right" }) + " "),
        seg(cell(dr === undefined ? "-" : formatByteRate(dr.bytes), 11, { align: "right" }) + "  "),
      ];
      const impaired = d.impair !== "no impairment";
      const impair = seg(d.impair, { color: impaired ? "yellow" : undefined, dim: !impaired });
      if (wide) {
        const drops = dropSegs(d, dr);
        const dropsText = drops.map((s) => s.text).join("");
        body.push([...main, ...drops, seg(" ".repeat(Math.max(1, 71 - dropsText.length))), impair]);
      } else {
        body.push([...main, impair]);
        body.push([seg("      drops: ", { dim: true }), ...dropSegs(d, dr)]);
      }
    }
  });
  if (snapshot.links.length === 0) body.push([seg("  no links", { dim: true })]);
  for (const sw of snapshot.switches) {
    body.push([
      seg("  "),
      seg(sw.name, { bold: true }),
      seg("  switch  ", { dim: true }),
      seg(`ports ${sw.ports.join(" ")}`),
    ]);
    const sr = rates?.switches.get(sw.name);
    const counters: Seg[] = [seg("    ")];
    Object.entries(sw.counters).forEach(([name, total], i) => {
      if (i > 0) counters.push(seg(" · ", { dim: true }));
      counters.push(seg(`${name} `, { dim: true }), seg(si(total)));
      const perSecond = sr?.[name] ?? 0;
      if (perSecond > 0) counters.push(seg(` ${formatRate(perSecond)}`, { color: "cyan" }));
    });
    body.push(counters);
  }
  const bodyHeight = Math.max(0, props.height - 1);
  const start = windowStart(body.length, bodyHeight, selectedLine);
  return [header, ...body.slice(start, start + bodyHeight)];
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
