/**
 * The vsock connections section (drawn at the end of the Links panel): for each vsock device,
 * its open connections, the busiest first as the device publishes them, with the bytes each way,
 * the credit the guest has left towards its peer (0: the guest's sender waits), the credit the
 * device has left towards the guest, and the credit stalls. The columns a narrower screen has no
 * room for go on a line below each connection's (never left out).
 *
 * @module
 */

import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { cell, formatBytes, si } from "./format.ts";
import { type Line, Lines, lineWidth, seg, wrapWords } from "./lines.tsx";

/** Props of `<VsockConnectionsPanel>`. */
export interface VsockConnectionsProps {
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
 * The section's lines (none when no VM has vsock).
 *
 * @example
 * ```ts ignore
 * vsockConnLines(snapshot, 80).map((l) => l.map((s) => s.text).join(""));
 * ```
 */
export function vsockConnLines(snapshot: LabSnapshot, width: number): Line[] {
  // The columns that fit, the rest on a line of their own below each connection's: its bytes
  // from 62 columns, its state from 74, the device's credit towards the guest from 84 (they were
  // left out below 100 and 62, so an 80-column screen never said a connection was closing).
  const narrow = width < 62;
  const bytes = !narrow;
  const state = width >= 74;
  const toGuest = width >= 84;
  const pad = narrow ? "  " : "    ";
  const out: Line[] = [];
  const right = { align: "right" } as const;
  for (const vm of snapshot.vms) {
    for (const d of vm.devices) {
      if (d.connections === undefined) continue;
      const t = d.connections;
      const shown = t.rows.length < t.total ? ` (${t.rows.length} busiest shown)` : "";
      const head = [
        seg("  "),
        seg(`${vm.name}/${d.nic}`, { bold: true }),
        seg("  vsock  ", { dim: true }),
        seg(`${t.total} connection${t.total === 1 ? "" : "s"}${shown}`),
      ];
      // Wrapped between words where it does not fit (at 40 columns "… (8 busiest sh…" was cut).
      out.push(
        ...(lineWidth(head) <= width ? [head] : wrapWords(
          [
            seg(`${vm.name}/${d.nic}`, { bold: true }),
            seg("vsock", { dim: true }),
            ...head[3].text.split(" ").map((w) => seg(w)),
          ],
          width,
          { first: "  ", indent: 4 },
        )),
      );
      if (t.rows.length === 0) continue;
      out.push([
        seg(
          pad + cell("port", 6) + " " + cell("peer", 13) + " " +
            (state ? cell("state", 11) + " " : "") +
            (bytes ? cell("→ peer", 9, right) + " " + cell("← peer", 9, right) + " " : "") +
            cell("credit", 9, right) + " " + (toGuest ? cell("to guest", 9, right) + " " : "") +
            cell("stalls", 7, right),
          { dim: true },
        ),
      ]);
      for (const c of t.rows) {
        const peer = c.peerCid === 2 ? `host:${c.peerPort}` : `${c.peerCid}:${c.peerPort}`;
        const noCredit = c.state === "established" && c.peerCredit === 0;
        const stateDim = { dim: c.state !== "established" };
        out.push([
          seg(pad + cell(String(c.guestPort), 6) + " " + cell(peer, 13) + " "),
          ...(state ? [seg(cell(c.state, 11) + " ", stateDim)] : []),
          ...(bytes
            ? [
              seg(cell(formatBytes(c.bytesFromGuest), 9, right) + " "),
              seg(cell(formatBytes(c.bytesToGuest), 9, right) + " "),
            ]
            : []),
          seg(cell(formatBytes(c.peerCredit), 9, right), {
            color: noCredit ? "yellow" : undefined,
            bold: noCredit,
          }),
          seg(" "),
          ...(toGuest ? [seg(cell(formatBytes(c.guestCredit), 9, right) + " ")] : []),
          seg(cell(si(c.creditStalls), 7, right), { dim: c.creditStalls === 0 }),
        ]);
        const rest = [
          ...(state ? [] : [seg(c.state, stateDim)]),
          ...(bytes ? [] : [
            seg(`→ peer ${formatBytes(c.bytesFromGuest)}`),
            seg(`← peer ${formatBytes(c.bytesToGuest)}`),
          ]),
          ...(toGuest ? [] : [seg(`to guest ${formatBytes(c.guestCredit)}`)]),
        ];
        if (rest.length > 0) {
          const indent = pad.length + 2;
          // Two spaces apart, as the columns are.
          const words = rest.map((w, i) => i < rest.length - 1 ? { ...w, text: `${w.text} ` } : w);
          out.push(...wrapWords(words, width, { first: " ".repeat(indent), indent }));
        }
      }
    }
  }
  return out;
}

/**
 * The section on its own.
 *
 * @example
 * ```tsx ignore
 * <VsockConnectionsPanel snapshot={snap} width={80} height={10} colors />
 * ```
 */
export function VsockConnectionsPanel(props: VsockConnectionsProps) {
  return (
    <Lines
      lines={vsockConnLines(props.snapshot, props.width)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}
