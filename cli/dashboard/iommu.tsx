/**
 * The IOMMU panel: for each VM with a vIOMMU, its DMA mode, then one row per endpoint (a NIC
 * behind it): its domain, the domain's live mappings, the device worker's IOTLB hits, misses and
 * hit rate, invalidations acknowledged, refused accesses, and the last refused access (kind and
 * IOVA, in red). Below 100 columns the hit rate is left out (the hits and misses stay) and the
 * last fault goes on a line of its own under its row; below 60 the domain, mappings and
 * invalidations do too. It draws the snapshot (`LabSnapshot.vms[].iommu`) and holds no lab
 * logic.
 *
 * @module
 */

import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { cell, hitPercent, si, textWidth } from "./format.ts";
import { type Line, Lines, lineWidth, type Seg, seg, wrapWords } from "./lines.tsx";

/** Props of `<IommuPanel>`. */
export interface IommuPanelProps {
  /** The snapshot drawn. */
  readonly snapshot: LabSnapshot;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/**
 * The panel's lines.
 *
 * @example
 * ```ts ignore
 * iommuLines(snapshot, 80).map((l) => l.map((s) => s.text).join(""));
 * ```
 */
export function iommuLines(snapshot: LabSnapshot, width: number): Line[] {
  const wide = width >= 100;
  // Below 60 columns the domain, mappings and invalidations go to a line under the row: at 40
  // the faults were cut off.
  const narrow = width < 60;
  const right = { align: "right" } as const;
  const out: Line[] = [];
  for (const vm of snapshot.vms) {
    const iommu = vm.iommu;
    if (!iommu) continue;
    out.push([
      seg(" "),
      seg(vm.name, { bold: true }),
      seg("  vIOMMU ", { dim: true }),
      seg(iommu.mode, { color: "cyan" }),
      seg(`  ${iommu.domains.length} endpoint${iommu.domains.length === 1 ? "" : "s"}`, {
        dim: true,
      }),
    ]);
    if (iommu.domains.length === 0 && (iommu.peers ?? []).length === 0) {
      // No table under a header with no row: say why it translates for nothing (as validate).
      out.push([seg("   no NIC behind it (iommu: true)", { dim: true })]);
      continue;
    }
    out.push([
      seg(
        "   " + cell("device", 10) + " " +
          (narrow ? "" : cell("domain", 6, right) + " " + cell("mappings", 8, right) + " ") +
          cell("hits", 7, right) + " " +
          cell("misses", 7, right) + " " + (wide ? cell("hit %", 6, right) + " " : "") +
          (narrow ? "" : cell("inval", 7, right) + " ") + cell("faults", 6, right) +
          (wide ? "  last fault" : ""),
        { dim: true },
      ),
    ]);
    const peerRows = (iommu.peers ?? []).map((p) => ({
      ...p,
      device: p.peer,
      servesFor: p.device,
    }));
    const rows: (typeof iommu.domains[number] & { servesFor?: string })[] = [
      ...iommu.domains,
      ...peerRows,
    ];
    rows.forEach((d, i) => {
      if (i === iommu.domains.length) {
        // A vhost-pci peer translates through this vIOMMU with an IOTLB of its own: its window.
        // Wrapped: at 40 columns it was cut after "each through the wi…".
        const words = "vhost-pci peers, each through the window of the endpoint it serves:";
        out.push(
          ...wrapWords(words.split(" ").map((w) => seg(w, { dim: true })), width, { first: "   " }),
        );
      }
      const faulted = d.faults > 0;
      const last = d.lastFaultIova === null ? null : `${d.lastFaultAccess} ${d.lastFaultIova}`;
      // A name longer than its column (a NIC named nic0123456789abc, a peer backend:eth0) takes a
      // line of its own above its row: cut, it read "nic012345…".
      const long = textWidth(d.device) > 10;
      if (long) out.push([seg("   " + d.device)]);
      const row: Seg[] = [
        seg("   " + cell(long ? "" : d.device, 10) + " "),
        ...(narrow ? [] : [
          seg(cell(d.domain === null ? "none" : String(d.domain), 6, right) + " ", {
            dim: d.domain === null,
          }),
          seg(cell(si(d.mappings), 8, right) + " "),
        ]),
        seg(cell(si(d.hits), 7, right) + " "),
        seg(cell(si(d.misses), 7, right) + " "),
        ...(wide
          ? [seg(
            cell(hitPercent(d.hits, d.misses), 6, right) +
              " ",
          )]
          : []),
        ...(narrow ? [] : [seg(cell(si(d.invalidations), 7, right) + " ")]),
        seg(cell(si(d.faults), 6, right), { color: faulted ? "red" : undefined, bold: faulted }),
      ];
      // Whom a peer serves, beside its counters where it fits, else on a line of its own (cut,
      // "for eth0" read "f…" at 40 columns).
      const serves = d.servesFor === undefined ? null : seg(`for ${d.servesFor}`, { dim: true });
      const beside = serves !== null && lineWidth(row) + 2 + lineWidth([serves]) <= width;
      if (beside) row.push(seg("  "), serves);
      if (wide && last !== null) row.push(seg("  " + last, { color: "red" }));
      out.push(row);
      if (serves !== null && !beside) out.push([seg("     "), serves]);
      if (narrow) {
        // The columns a narrow screen has no room for, on a line of their own (they were left
        // out: at 40 columns no endpoint said its domain, mappings or invalidations).
        const words = [
          [`domain ${d.domain === null ? "none" : d.domain}`, d.domain === null],
          [`mappings ${si(d.mappings)}`, false],
          [`inval ${si(d.invalidations)}`, false],
        ] as const;
        out.push(...wrapWords(
          words.map(([w, dim], i) => seg(i < words.length - 1 ? `${w} ` : w, { dim })),
          width,
          { first: "     " },
        ));
      }
      if (!wide && last !== null) {
        out.push([seg("     last fault ", { dim: true }), seg(last, { color: "red" })]);
      }
    });
  }
  if (out.length === 0) {
    out.push([seg(" No VM has a vIOMMU", { dim: true })]);
    // Wrapped at the spaces outside its braces, as the heading above: cut at 40 columns.
    const words = [
      "(give a VM",
      "iommu: { mode: static }",
      "and its NICs",
      "iommu: true;",
      "see iommu-pair)",
    ];
    out.push(...wrapWords(words.map((w) => seg(w, { dim: true })), width, { first: " " }));
  }
  return out;
}

/**
 * The panel.
 *
 * @example
 * ```tsx ignore
 * <IommuPanel snapshot={snap} width={80} height={10} colors />
 * ```
 */
export function IommuPanel(props: IommuPanelProps) {
  return (
    <Lines
      lines={iommuLines(props.snapshot, props.width)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}
