/**
 * The dashboard's drawing primitive: a screen line is a list of styled segments, cut to the width
 * it is drawn at. Every panel builds its lines with these helpers and draws them with `<Lines>`,
 * so no line can exceed the terminal width and every panel has a fixed height (a redraw never
 * moves the lines below it, which keeps ink's in-place updates flicker-free).
 *
 * @module
 */

import { Box, Text } from "ink";
import { cutToWidth, textWidth } from "./format.ts";

/** A named color of ink's `color` prop, used only when colors are on. */
export type Color = "red" | "green" | "yellow" | "blue" | "magenta" | "cyan" | "gray" | "white";

/** One styled piece of a line. */
export interface Seg {
  /** The text (no newlines). */
  readonly text: string;
  /** Foreground color when colors are on. */
  readonly color?: Color;
  /** Bold. */
  readonly bold?: boolean;
  /** Dim (secondary text). */
  readonly dim?: boolean;
  /** Reverse video (the selected row or tab). */
  readonly inverse?: boolean;
}

/** One screen line. */
export type Line = readonly Seg[];

/**
 * A plain segment, or a styled one.
 *
 * @example
 * ```ts
 * import { seg } from "./lines.tsx";
 * seg("down", { color: "red", bold: true }); // { text: "down", color: "red", bold: true }
 * ```
 */
export function seg(text: string, style: Omit<Seg, "text"> = {}): Seg {
  return { text, ...style };
}

/**
 * The width of a line in columns.
 *
 * @example
 * ```ts
 * import { lineWidth, seg } from "./lines.tsx";
 * lineWidth([seg("ab"), seg("c")]); // 3
 * ```
 */
export function lineWidth(line: Line): number {
  let w = 0;
  for (const s of line) w += textWidth(s.text);
  return w;
}

/**
 * Cut a line to at most `width` columns; a cut line ends with "…".
 *
 * @example
 * ```ts
 * import { fitLine, seg } from "./lines.tsx";
 * fitLine([seg("abc"), seg("def")], 5); // [{ text: "abc" }, { text: "d…" }]
 * ```
 */
export function fitLine(line: Line, width: number): Seg[] {
  if (lineWidth(line) <= width) return [...line];
  const out: Seg[] = [];
  let left = Math.max(0, width - 1);
  for (const s of line) {
    if (left <= 0) break;
    const w = textWidth(s.text);
    if (w <= left) {
      out.push(s);
      left -= w;
    } else {
      out.push({ ...s, text: cutToWidth(s.text, left) });
      left = 0;
    }
  }
  if (width > 0) out.push({ text: "…", dim: true });
  return out;
}

/**
 * A line padded with spaces (or cut) to exactly `width` columns.
 *
 * @example
 * ```ts
 * import { padLine, seg } from "./lines.tsx";
 * padLine([seg("ab")], 4); // [{ text: "ab" }, { text: "  " }]
 * ```
 */
export function padLine(line: Line, width: number): Seg[] {
  const fitted = fitLine(line, width);
  const w = lineWidth(fitted);
  return w < width ? [...fitted, { text: " ".repeat(width - w) }] : fitted;
}

/**
 * `words` with each one wider than `room` split at its spaces, so that wrapping them cuts none: a
 * long link's name and its state (at 40 columns "link abcdefghijklmnop-switch01234…" and
 * "links    abcdefghijklmnop-switch01234…" hid that the link was DOWN), what a vhost-pci-net
 * device serves ("serves abcdefghijklmnop:nic0123456789abc over abcdefghij…" at 80).
 *
 * @example
 * ```ts
 * import { seg, splitWide } from "./lines.tsx";
 * splitWide([seg("link abcdefghijklmnop-switch0123456789 DOWN")], 34).length; // 3
 * ```
 */
export function splitWide(words: readonly Seg[], room: number): Seg[] {
  return words.flatMap((w) =>
    textWidth(w.text) <= room
      ? [w]
      : w.text.split(" ").filter((text) => text !== "").map((text) => ({ ...w, text }))
  );
}

/**
 * Word-wrap `words` into lines of at most `width` columns, the first line starting with `first`
 * and the others indented by `indent` spaces.
 *
 * @example
 * ```ts
 * import { seg, wrapWords } from "./lines.tsx";
 * wrapWords([seg("VERSION_1"), seg("EVENT_IDX")], 20, { first: "features ", indent: 9 }).length; // 2
 * ```
 */
export function wrapWords(
  words: readonly Seg[],
  width: number,
  options: { first?: string; indent?: number } = {},
): Line[] {
  const first = options.first ?? "";
  const indent = " ".repeat(options.indent ?? textWidth(first));
  const lines: Seg[][] = [];
  let current: Seg[] = [{ text: first }];
  let w = textWidth(first);
  let empty = true;
  for (const word of words) {
    const ww = textWidth(word.text);
    if (!empty && w + 1 + ww > width) {
      lines.push(current);
      current = [{ text: indent }];
      w = indent.length;
      empty = true;
    }
    if (!empty) {
      current.push({ text: " " });
      w += 1;
    }
    current.push(word);
    w += ww;
    empty = false;
  }
  lines.push(current);
  return lines;
}

/**
 * The first line to show so that `selected` is visible in a window of `height` lines over `total`
 * lines, keeping some context above it; 0 when everything fits. With `starts`, the lines where
 * the list's entries begin (a queue and its rate line, a link and its directions), a window that
 * would begin inside an entry begins at the next one instead: never with the last lines of an
 * entry whose name is above the screen.
 *
 * @example
 * ```ts
 * import { windowStart } from "./lines.tsx";
 * windowStart(100, 10, 50); // 48
 * windowStart(5, 10, 4); // 0
 * windowStart(100, 10, 50, [0, 3, 47, 50]); // 50 (48 is inside the entry at 47)
 * ```
 */
export function windowStart(
  total: number,
  height: number,
  selected: number,
  starts?: readonly number[],
): number {
  if (total <= height || height <= 0) return 0;
  const context = Math.min(2, Math.floor(height / 4));
  const start = Math.min(Math.max(0, selected - context), total - height);
  if (starts === undefined || starts.includes(start)) return start;
  return starts.find((s) => s > start && s <= selected) ?? start;
}

/** Props of `<Lines>`. */
export interface LinesProps {
  /** The lines to draw; extra lines are not drawn, missing ones are blank. */
  readonly lines: readonly Line[];
  /** Columns; every line is cut to it. */
  readonly width: number;
  /** Rows drawn, exactly (default: the number of lines). */
  readonly height?: number;
  /** Whether to use colors (false: no `color` props at all, for NO_COLOR). */
  readonly colors: boolean;
}

/**
 * Draw lines at a fixed width and height.
 *
 * @example
 * ```tsx ignore
 * <Lines lines={[[seg("hello", { color: "green" })]]} width={80} height={3} colors />
 * ```
 */
export function Lines(props: LinesProps) {
  const height = props.height ?? props.lines.length;
  const rows = [];
  for (let i = 0; i < height; i++) {
    const line = props.lines[i] ?? [];
    rows.push(<LineView key={i} line={line} width={props.width} colors={props.colors} />);
  }
  return (
    <Box flexDirection="column" width={props.width} height={height}>
      {rows}
    </Box>
  );
}

/** What a blank line draws: one space (an empty <Text> takes no row). */
const BLANK = " ";

/** Props of `<LineView>`. */
export interface LineViewProps {
  /** The line. */
  readonly line: Line;
  /** Columns it is cut to. */
  readonly width: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/**
 * `text` with each control character shown as its picture (newline ␊, ESC ␛, DEL ␡; C1 controls
 * as �), one column each as the character counted: text from the lab (an event's error message,
 * a reason) can hold them, and written as they are they would move the cursor, clear the screen
 * or break the line, pushing every line below it down.
 *
 * @example
 * ```ts
 * import { visible } from "./lines.tsx";
 * visible("a\nb\x1b[2J"); // "a␊b␛[2J"
 * ```
 */
export function visible(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x20 ? String.fromCharCode(0x2400 + code) : code === 0x7f ? "\u2421" : "\ufffd";
  });
}

/**
 * Draw one line, cut to `width`.
 *
 * @example
 * ```tsx ignore
 * <LineView line={[seg("up", { color: "green" })]} width={80} colors={false} />
 * ```
 */
export function LineView(props: LineViewProps) {
  const segs = fitLine(props.line, props.width);
  // An empty <Text> takes no row in ink's layout: the blank line would vanish and the lines
  // below it move up (the Overview's gap before its links, the help's between its sections).
  if (segs.length === 0 || lineWidth(segs) === 0) return <Text>{BLANK}</Text>;
  return (
    <Text wrap="truncate-end">
      {segs.map((s, i) => (
        <Text
          key={i}
          color={props.colors ? s.color : undefined}
          bold={s.bold}
          dimColor={s.dim}
          inverse={s.inverse}
        >
          {visible(s.text)}
        </Text>
      ))}
    </Text>
  );
}
