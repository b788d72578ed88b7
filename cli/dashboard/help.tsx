/**
 * The help panel: every key of the dashboard, and what the panels show.
 *
 * @module
 */

import { cell } from "./format.ts";
import { type Line, Lines, seg, wrapWords } from "./lines.tsx";

/** The keys, as shown in the help panel. */
export const KEYS: readonly (readonly [string, string])[] = [
  ["tab / shift-tab, ← →", "next / previous panel; 1-5 (keypad too) jump to one"],
  ["↑ ↓, pgup pgdn", "select a VM, queue, link or switch; scroll ring, events"],
  ["enter", "open a VM's queues, a queue's ring, a switch's MAC table"],
  ["esc, backspace", "close the ring view, the MAC table or this help"],
  ["p", "pause / resume (the display freezes, polling stops)"],
  ["?", "this help (↑↓ scroll it)"],
  ["q, ctrl-c", "quit (a foreground lab asks whether to stop it)"],
];

/** The panels, as the help describes them. */
const PANEL_HELP: readonly (readonly [string, string])[] = [
  ["Overview", "VMs, their state and recovery, devices, status bits and features"],
  ["Queues", "indices, in flight, occupancy over 60 s, rates per second over 3 s"],
  ["Links", "frames/s, bytes/s, drops, waits, impairments; partitions, switches, vsock"],
  ["Events", "the lab's last 50 events, times in UTC"],
  ["IOMMU", "per vIOMMU domain: mappings, IOTLB hits/misses, invalidations, faults"],
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
  /** First line shown (default 0): ↑↓ scroll a help taller than the screen. */
  readonly scroll?: number;
}

/**
 * Every line of the help at this width, however many: below 60 columns each key's description
 * goes on lines of its own under it, wrapped (beside a 22-column key it was cut to a few words).
 *
 * @example
 * ```ts
 * import { allHelpLines } from "./help.tsx";
 * allHelpLines({ foreground: true, width: 80, height: 20, colors: false }).length; // 17
 * ```
 */
export function allHelpLines(props: HelpProps): Line[] {
  const lines: Line[] = [[seg("Keys", { bold: true })]];
  const narrow = props.width < 60;
  for (const [key, what] of KEYS) {
    const k = seg("  " + (narrow ? key : cell(key, 22)), { color: "cyan", bold: true });
    if (narrow) {
      lines.push(
        [k],
        ...wrapWords(what.split(" ").map((w) => seg(w)), props.width, { first: "    " }),
      );
    } else lines.push([k, seg(what)]);
  }
  lines.push([]);
  lines.push([seg("Panels", { bold: true })]);
  for (const [name, what] of PANEL_HELP) {
    lines.push(
      ...wrapWords(what.split(" ").map((w) => seg(w)), props.width, {
        first: "  " + cell(name, 10),
        indent: narrow ? 4 : 12,
      }),
    );
  }
  lines.push([]);
  lines.push(
    ...wrapWords(
      (props.foreground
        ? "This lab runs in the foreground: q asks whether to stop it."
        : "Attached to a running lab: q leaves it running.").split(" ").map((w) =>
          seg(w, { dim: true })
        ),
      props.width,
    ),
  );
  return lines;
}

/** How far the help scrolls at this size: the lines below its first screen. */
export function helpScrollMax(props: HelpProps): number {
  return Math.max(0, allHelpLines(props).length - props.height);
}

/**
 * The help panel's lines: `height` of them from `scroll`; when more follow, the last says so,
 * and when some are above, the first.
 *
 * @example
 * ```ts
 * import { helpLines } from "./help.tsx";
 * helpLines({ foreground: true, width: 80, height: 20, colors: false }).length > 5; // true
 * ```
 */
export function helpLines(props: HelpProps): Line[] {
  const all = allHelpLines(props);
  const from = Math.min(Math.max(0, props.scroll ?? 0), helpScrollMax(props));
  const shown = all.slice(from, from + props.height);
  // The last line shown gives way to the count of those below, itself included.
  const below = all.length - from - shown.length + 1;
  if (below > 1 && shown.length > 0) {
    shown[shown.length - 1] = [seg(`  ↓ ${below} more lines (↑↓ scroll)`, { dim: true })];
  }
  // Scrolled, the first gives way to the count of those above, itself included: the help began
  // with the tail of a description ("    to stop it)") and nothing said there was more above.
  if (from > 0 && shown.length >= 3) {
    shown[0] = [seg(`  ↑ ${from + 1} lines above`, { dim: true })];
  }
  return shown;
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
