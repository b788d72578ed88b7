/**
 * The help panel: every key of the dashboard, and what the panels show.
 *
 * @module
 */

import { cell } from "./format.ts";
import { type Line, Lines, seg } from "./lines.tsx";

/** The keys, as shown in the help panel. */
export const KEYS: readonly (readonly [string, string])[] = [
  ["tab / shift-tab, ← →", "next / previous panel; 1-5 (keypad too) jump to one"],
  ["↑ ↓, pgup pgdn", "select a VM, queue, link or switch; scroll ring, events"],
  ["enter", "open a VM's queues, a queue's ring, a switch's MAC table"],
  ["esc, backspace", "close the ring view, the MAC table or this help"],
  ["p", "pause / resume (the display freezes, polling stops)"],
  ["?", "this help"],
  ["q, ctrl-c", "quit (a foreground lab asks whether to stop it)"],
];

/** Props of `<HelpPanel>`. */
export interface HelpProps {
  /** Whether the lab runs in the foreground (quitting asks to stop it). */
  readonly foreground: boolean;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/**
 * The help panel's lines.
 *
 * @example
 * ```ts
 * import { helpLines } from "./help.tsx";
 * helpLines({ foreground: true, width: 80, height: 20, colors: false }).length > 5; // true
 * ```
 */
export function helpLines(props: HelpProps): Line[] {
  const lines: Line[] = [[seg("Keys", { bold: true })]];
  for (const [key, what] of KEYS) {
    lines.push([seg("  " + cell(key, 22), { color: "cyan", bold: true }), seg(what)]);
  }
  lines.push([]);
  lines.push([seg("Panels", { bold: true })]);
  lines.push([seg("  Overview  VMs, their state, devices, status bits and negotiated features")]);
  lines.push([seg("  Queues    indices, in flight, occupancy over 60 s, rates per second")]);
  lines.push([
    seg("  Links     frames, bytes/s, drops by cause, waits, impairments; switches"),
  ]);
  lines.push([seg("  Events    the lab's event log, times in UTC")]);
  lines.push([
    seg("  IOMMU     per vIOMMU domain: mappings, IOTLB hits/misses, invalidations, faults"),
  ]);
  lines.push([]);
  lines.push([
    seg(
      props.foreground
        ? "This lab runs in the foreground: q asks whether to stop it."
        : "Attached to a running lab: q leaves it running.",
      { dim: true },
    ),
  ]);
  return lines.slice(0, props.height);
}

/**
 * The help panel.
 *
 * @example
 * ```tsx ignore
 * <HelpPanel foreground width={80} height={20} colors />
 * ```
 */
export function HelpPanel(props: HelpProps) {
  return (
    <Lines
      lines={helpLines(props)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}
