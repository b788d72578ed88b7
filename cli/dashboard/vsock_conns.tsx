/**
 * The vsock connections section (drawn at the end of the Links panel): for each vsock device,
 * its open connections, the busiest first as the device publishes them, with the bytes each way,
 * the credit the guest has left towards its peer (0: the guest's sender waits), the credit the
 * device has left towards the guest, and the credit stalls. Below 100 columns the state and the
 * guest-side credit are left out, below 62 the bytes too.
 *
 * @module
 */

import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { cell, formatBytes, si } from "./format.ts";
import { type Line, Lines, seg } from "./lines.tsx";

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
  const wide = width >= 100;
  // Below 62 columns the bytes go too and the rows move left: the credit (0: the sender waits)
  // and the stalls are what a narrow screen keeps (at 40 columns they were cut off).
  const narrow = width < 62;
  const pad = narrow ? "  " : "    ";
  const out: Line[] = [];
  const right = { align: "right" } as const;
  for (const vm of snapshot.vms) {
    for (const d of vm.devices) {
      if (d.connections === undefined) continue;
      const t = d.connections;
      const shown = t.rows.length < t.total ? ` (${t.rows.length} busiest shown)` : "";
      out.push([
        seg("  "),
        seg(`${vm.name}/${d.nic}`, { bold: true }),
        seg("  vsock  ", { dim: true }),
        seg(`${t.total} connection${t.total === 1 ? "" : "s"}${shown}`),
      ]);
      if (t.rows.length === 0) continue;
      out.push([
        seg(
          pad + cell("port", 6) + " " + cell("peer", 13) + " " +
            (wide ? cell("state", 11) + " " : "") +
            (narrow ? "" : cell("→ peer", 9, right) + " " + cell("← peer", 9, right) + " ") +
            cell("credit", 9, right) + " " + (wide ? cell("to guest", 9, right) + " " : "") +
            cell("stalls", 7, right),
          { dim: true },
        ),
      ]);
      for (const c of t.rows) {
        const peer = c.peerCid === 2 ? `host:${c.peerPort}` : `${c.peerCid}:${c.peerPort}`;
        const noCredit = c.state === "established" && c.peerCredit === 0;
        out.push([
          seg(pad + cell(String(c.guestPort), 6) + " " + cell(peer, 13) + " "),
          ...(wide ? [seg(cell(c.state, 11) + " ", { dim: c.state !== "established" })] : []),
          ...(narrow ? [] : [
            seg(cell(formatBytes(c.bytesFromGuest), 9, right) + " "),
            seg(cell(formatBytes(c.bytesToGuest), 9, right) + " "),
          ]),
          seg(cell(formatBytes(c.peerCredit), 9, right), {
            color: noCredit ? "yellow" : undefined,
            bold: noCredit,
          }),
          seg(" "),
          ...(wide ? [seg(cell(formatBytes(c.guestCredit), 9, right) + " ")] : []),
          seg(cell(si(c.creditStalls), 7, right), { dim: c.creditStalls === 0 }),
        ]);
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
