/**
 * Text formatting for the dashboard: SI counts and rates (`10.0k/s`), byte rates, durations, hex
 * addresses, clock times, and fixed-width cells (pad, truncate with "…"). Pure functions; every
 * table cell of the dashboard goes through `cell`, so no line can grow past its column.
 *
 * @module
 */

import stringWidth from "string-width";

const SI_UNITS = ["", "k", "M", "G", "T", "P"] as const;

/**
 * A hit rate in percent with one decimal, rounded down so that `100.0` means nothing missed
 * (99.985 % is `99.9`), or `-` with no lookup: the IOTLB's, in the Overview and IOMMU panels.
 *
 * @example
 * ```ts
 * import { hitPercent } from "./format.ts";
 * hitPercent(59_991, 9); // "99.9"
 * hitPercent(5, 0); // "100.0"
 * hitPercent(0, 0); // "-"
 * ```
 */
export function hitPercent(hits: number, misses: number): string {
  const lookups = hits + misses;
  if (!(lookups > 0)) return "-";
  return (Math.floor((1000 * hits) / lookups) / 10).toFixed(1);
}

/**
 * A count in SI units with one decimal from 1000 up: `950`, `2.5`, `10.0k`, `1.2M`.
 *
 * Values under 1000 are shown as integers when they are whole, with one decimal otherwise.
 * Negative and non-finite values are shown as `0`.
 *
 * @example
 * ```ts
 * import { si } from "./format.ts";
 * si(10_000); // "10.0k"
 * si(1_234_567); // "1.2M"
 * si(2.5); // "2.5"
 * ```
 */
export function si(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return "0";
  if (value < 999.95) {
    return Number.isInteger(value) ? String(value) : value.toFixed(1).replace(/\.0$/, "");
  }
  let scaled = value;
  let unit = 0;
  while (scaled >= 999.95 && unit < SI_UNITS.length - 1) {
    scaled /= 1000;
    unit++;
  }
  return `${scaled.toFixed(1)}${SI_UNITS[unit]}`;
}

/**
 * A rate per second: `si(value)` followed by `/s`.
 *
 * @example
 * ```ts
 * import { formatRate } from "./format.ts";
 * formatRate(1000 / 0.1); // "10.0k/s"
 * formatRate(0); // "0/s"
 * ```
 */
export function formatRate(perSecond: number): string {
  return `${si(perSecond)}/s`;
}

/**
 * A byte count in SI units (network convention, 1 kB = 1000 B): `512 B`, `1.5 MB`.
 *
 * @example
 * ```ts
 * import { formatBytes } from "./format.ts";
 * formatBytes(1_500_000); // "1.5 MB"
 * formatBytes(512); // "512 B"
 * ```
 */
export function formatBytes(bytes: number): string {
  const text = si(Math.round(bytes));
  const last = text.at(-1) ?? "";
  return /[kMGTP]/.test(last) ? `${text.slice(0, -1)} ${last}B` : `${text} B`;
}

/**
 * A byte rate: `formatBytes(perSecond)` followed by `/s`.
 *
 * @example
 * ```ts
 * import { formatByteRate } from "./format.ts";
 * formatByteRate(15_000_000); // "15.0 MB/s"
 * ```
 */
export function formatByteRate(perSecond: number): string {
  return `${formatBytes(perSecond)}/s`;
}

/**
 * A duration in seconds, two units at most: `42s`, `3m05s`, `1h02m`, `2d03h`.
 *
 * @example
 * ```ts
 * import { formatDuration } from "./format.ts";
 * formatDuration(185); // "3m05s"
 * formatDuration(3720); // "1h02m"
 * ```
 */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor((s % 86400) / 3600))}h`;
}

/**
 * A guest-physical address in hex, at least `digits` digits: `0x00100000`.
 *
 * @example
 * ```ts
 * import { formatHex } from "./format.ts";
 * formatHex(0x100000); // "0x00100000"
 * formatHex(0x1f, 4); // "0x001f"
 * ```
 */
export function formatHex(value: number, digits = 8): string {
  const v = Number.isSafeInteger(value) && value >= 0 ? value : 0;
  return `0x${v.toString(16).padStart(digits, "0")}`;
}

/**
 * The clock time of an ISO 8601 timestamp, in UTC with milliseconds: `13:16:02.123`. Text that is
 * not a timestamp is returned cut to 12 characters.
 *
 * @example
 * ```ts
 * import { formatClock } from "./format.ts";
 * formatClock("2025-11-25T13:16:02.123Z"); // "13:16:02.123"
 * ```
 */
export function formatClock(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso.slice(0, 12);
  return new Date(t).toISOString().slice(11, 23);
}

/**
 * Cut `text` to at most `width` terminal columns, ending with "…" when it was cut (a wide
 * character that would straddle the edge goes, leaving the line a column short).
 *
 * @example
 * ```ts
 * import { truncate } from "./format.ts";
 * truncate("receiveq", 5); // "rece…"
 * truncate("rx", 5); // "rx"
 * truncate("日本語", 4); // "日…"
 * ```
 */
export function truncate(text: string, width: number): string {
  if (width <= 0) return "";
  if (textWidth(text) <= width) return text;
  return `${cutToWidth(text, width - 1)}…`;
}

const graphemes = new Intl.Segmenter();

/**
 * The longest start of `text` that fits in `columns` terminal columns, whole characters only
 * (grapheme clusters: an emoji with its modifiers, a letter with its accents).
 *
 * @example
 * ```ts
 * import { cutToWidth } from "./format.ts";
 * cutToWidth("abcdef", 3); // "abc"
 * cutToWidth("日本語", 3); // "日"
 * ```
 */
export function cutToWidth(text: string, columns: number): string {
  if (columns <= 0) return "";
  if (PLAIN.test(text)) return text.slice(0, columns);
  let out = "";
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const w = stringWidth(segment);
    if (used + w > columns) break;
    out += segment;
    used += w;
  }
  return out;
}

/**
 * A fixed-width table cell: `text` truncated with "…" and padded to exactly `width` characters,
 * left-aligned by default or right-aligned (numbers).
 *
 * @example
 * ```ts
 * import { cell } from "./format.ts";
 * cell("size", 6); // "size  "
 * cell("256", 6, { align: "right" }); // "   256"
 * ```
 */
export function cell(
  text: string,
  width: number,
  options: { align?: "left" | "right" } = {},
): string {
  const cut = truncate(text, width);
  const pad = " ".repeat(Math.max(0, width - textWidth(cut)));
  return options.align === "right" ? pad + cut : cut + pad;
}

/** Printable ASCII: one column a character, the common case, measured without segmenting. */
const PLAIN = /^[\x20-\x7e]*$/;

/**
 * The display width of `text` in terminal columns, as ink measures it (`string-width`): East
 * Asian wide characters and emoji take two, combining marks none, and the symbols the dashboard
 * draws (`▁▂▃`, `◀`, `…`) one.
 *
 * @example
 * ```ts
 * import { textWidth } from "./format.ts";
 * textWidth("▁▂▃ ◀ avail"); // 11
 * textWidth("日本"); // 4
 * ```
 */
export function textWidth(text: string): number {
  return PLAIN.test(text) ? text.length : stringWidth(text);
}
