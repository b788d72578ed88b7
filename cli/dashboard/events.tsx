/**
 * The Events panel: the lab's recent events, oldest first, each with its UTC clock time, kind,
 * subject and details, scrolled to the newest unless the user scrolled back.
 *
 * @module
 */

import { type LabEvent, wallClockDetail } from "../../lab/events.ts";
import { cell, cutToWidth, formatClock, textWidth } from "./format.ts";
import { type Color, type Line, Lines, type Seg, seg, visible, wrapWords } from "./lines.tsx";

/** Props of `<EventsPanel>` and `eventsLines`. */
export interface EventsProps {
  /** The events, oldest first. */
  readonly events: readonly LabEvent[];
  /** How many events back from the newest the view is scrolled (0: newest at the bottom). */
  readonly scrollBack: number;
  /** Columns. */
  readonly width: number;
  /** Rows. */
  readonly height: number;
  /** Whether to use colors. */
  readonly colors: boolean;
}

/**
 * The color of an event kind: failures, errors, crashes, hangs, timeouts and refused DMA red,
 * downs and resets yellow, ups green.
 *
 * @example
 * ```ts
 * import { eventColor } from "./events.tsx";
 * eventColor("link-down"); // "yellow"
 * eventColor("device-error"); // "red"
 * eventColor("vm-crash"); // "red"
 * ```
 */
export function eventColor(kind: string): Color | undefined {
  // Crashes, hangs, timeouts, broken queues and refused DMA are failures too (they were drawn
  // plain, among the routine events); an armed crash is only armed.
  if (/error|fail|crash(?!-armed)|hung|timeout|broken|^iommu-fault$/.test(kind)) return "red";
  if (/down|reset|restart|stop/.test(kind)) return "yellow";
  if (/up$|ready/.test(kind)) return "green";
  return undefined;
}

/**
 * An event's details as `key=value` words (strings unquoted, others as JSON). A wall-clock time
 * (`wallClockDetail`: `startAt`, `restoredAt`, `firstWorkAt`) reads as the time column does, UTC
 * with milliseconds, not as milliseconds since 1970.
 *
 * @example
 * ```ts
 * import { formatDetail } from "./events.tsx";
 * formatDetail({ by: "vlab link down", vms: 2 }); // "by=vlab link down vms=2"
 * formatDetail({ firstWorkAt: Date.UTC(2026, 0, 1, 13, 16, 2, 123.5) }); // "firstWorkAt=13:16:02.123"
 * ```
 */
export function formatDetail(detail: Record<string, unknown> | undefined): string {
  if (detail === undefined) return "";
  return Object.entries(detail)
    .map(([k, v]) => `${k}=${detailValue(k, v)}`)
    .join(" ");
}

function detailValue(key: string, value: unknown): string {
  if (typeof value === "string") return value;
  const at = wallClockDetail(key, value);
  if (at !== null) {
    const date = new Date(at);
    if (!Number.isNaN(date.getTime())) return formatClock(date.toISOString());
  }
  return JSON.stringify(value);
}

/** The narrowest a details column is drawn beside the others; narrower, details go below. */
const MIN_DETAILS = 16;

/** How the events are laid out at a width: the columns, and whether details sit beside them. */
interface EventsLayout {
  readonly kindW: number;
  readonly subjectW: number;
  /** The column the details start at, or null: each event's details on the lines below it. */
  readonly detailsAt: number | null;
}

function layoutOf(events: readonly LabEvent[], width: number): EventsLayout {
  // Each column is its text's width plus one space. 18 fits the recovery kinds
  // (device-needs-reset); a longer kind or subject puts its event in the stacked form.
  const kindW = Math.min(18, Math.max(5, ...events.map((e) => textWidth(e.kind))));
  const subjectW = Math.min(12, Math.max(7, ...events.map((e) => textWidth(e.subject ?? ""))));
  const at = 13 + kindW + 1 + subjectW + 1;
  return { kindW, subjectW, detailsAt: width - at >= MIN_DETAILS ? at : null };
}

/** `words` wrapped into `width`, a word wider than a line broken across lines (never cut). */
function wrapBroken(words: readonly Seg[], width: number, first: string, indent: number): Line[] {
  const room = Math.max(1, width - indent);
  const pieces: Seg[] = [];
  for (const w of words) {
    let text = w.text;
    while (textWidth(text) > room) {
      const head = cutToWidth(text, room) || [...text][0];
      pieces.push({ ...w, text: head });
      text = text.slice(head.length);
    }
    if (text !== "") pieces.push({ ...w, text });
  }
  return wrapWords(pieces, width, { first, indent });
}

/**
 * One event's lines at `width`: its time, kind and subject in their columns and its details
 * beside them, wrapped under the details column; where the columns leave details too little
 * room (a narrow terminal) or the kind or subject is longer than its column, the time, kind and
 * subject whole on the first line(s) and the details on the lines below, indented. Nothing is
 * cut: a narrow terminal shows every word of an event on more lines.
 */
function eventBlock(e: LabEvent, layout: EventsLayout, width: number): Line[] {
  const kind = seg(e.kind, { color: eventColor(e.kind), bold: true });
  const subject = e.subject ?? "";
  // Control characters as their pictures before measuring: one column each, as they are drawn.
  const details = visible(formatDetail(e.detail)).split(" ").filter((w) => w !== "").map((w) =>
    seg(w)
  );
  const time = seg(cell(formatClock(e.time), 13), { dim: true });
  const at = layout.detailsAt;
  if (
    at !== null && textWidth(e.kind) <= layout.kindW && textWidth(subject) <= layout.subjectW
  ) {
    const head: Seg[] = [
      time,
      { ...kind, text: cell(e.kind, layout.kindW) },
      seg(" "),
      seg(cell(subject, layout.subjectW) + " "),
    ];
    if (details.length === 0) return [head];
    const body = wrapBroken(details, width, " ".repeat(at), at);
    // Each line starts with the indent: the first one's is where the columns go.
    return body.map((l, i) => i === 0 ? [...head, ...l.slice(1)] : l);
  }
  const indent = Math.min(2, Math.max(0, width - 1));
  const head = wrapBroken(
    [{ ...time, text: formatClock(e.time) }, kind, ...(subject === "" ? [] : [seg(subject)])],
    width,
    "",
    indent,
  );
  if (details.length === 0) return head;
  return [...head, ...wrapBroken(details, width, " ".repeat(indent), indent)];
}

/**
 * How far the Events panel can scroll back at a size: the events above its first page, each
 * event taking the lines `eventsLines` draws it on.
 *
 * @example
 * ```ts
 * import { eventsScrollMax } from "./events.tsx";
 * const events = Array.from({ length: 30 }, (_, i) => ({
 *   time: "2026-01-01T12:00:00.000Z",
 *   kind: "link-down",
 *   subject: "a-b",
 *   detail: { n: i },
 * }));
 * eventsScrollMax({ events, width: 80, height: 20 }); // 11 (19 fit below the header)
 * ```
 */
export function eventsScrollMax(
  props: { readonly events: readonly LabEvent[]; readonly width: number; readonly height: number },
): number {
  const { events, width } = props;
  const room = Math.max(0, props.height - 1);
  const layout = layoutOf(events, width);
  let used = 0;
  let fit = 0;
  for (const e of events) {
    used += eventBlock(e, layout, width).length;
    if (used > room) break;
    fit++;
  }
  return Math.max(0, events.length - Math.max(1, fit));
}

/**
 * How many events `after` holds past the newest of `before`: the events that came in between two
 * snapshots (each holds the lab's last 50, so the oldest fall off as new ones come). All of
 * `after` when the newest of `before` is no longer in it; 0 when `before` is empty.
 *
 * @example
 * ```ts
 * import { eventsAdded } from "./events.tsx";
 * const e = (n: number) => ({ time: "2026-01-01T12:00:00.000Z", kind: "link-up", detail: { n } });
 * eventsAdded([e(1), e(2)], [e(2), e(3), e(4)]); // 2
 * ```
 */
export function eventsAdded(before: readonly LabEvent[], after: readonly LabEvent[]): number {
  const newest = before.at(-1);
  if (newest === undefined) return 0;
  const key = (e: LabEvent) => JSON.stringify([e.time, e.kind, e.subject, e.detail]);
  const k = key(newest);
  for (let i = after.length - 1; i >= 0; i--) {
    if (key(after[i]) === k) return after.length - 1 - i;
  }
  return after.length;
}

/** The events shown scrolled `scrollBack` back: each one's lines, the newest last. */
function pickEvents(props: EventsProps): { blocks: Line[][]; back: number; layout: EventsLayout } {
  const { events, width } = props;
  const room = Math.max(0, props.height - 1);
  const back = Math.min(Math.max(0, props.scrollBack), eventsScrollMax(props));
  const end = events.length - back;
  const layout = layoutOf(events, width);
  // The newest events that fit, whole; the newest alone, its first lines, if it is taller.
  const blocks: Line[][] = [];
  let used = 0;
  for (let i = end - 1; i >= 0; i--) {
    const block = eventBlock(events[i], layout, width);
    if (used + block.length > room) {
      if (blocks.length === 0) blocks.push(block.slice(0, room));
      break;
    }
    blocks.unshift(block);
    used += block.length;
  }
  return { blocks, back, layout };
}

/**
 * How many events the Events panel shows scrolled `scrollBack` back: a page, for pgup and pgdn.
 *
 * @example
 * ```ts
 * import { eventsShown } from "./events.tsx";
 * const events = Array.from({ length: 30 }, (_, i) => ({
 *   time: "2026-01-01T12:00:00.000Z",
 *   kind: "link-down",
 *   subject: "a-b",
 *   detail: { n: i },
 * }));
 * eventsShown({ events, scrollBack: 0, width: 80, height: 20, colors: false }); // 19
 * ```
 */
export function eventsShown(props: EventsProps): number {
  return pickEvents(props).blocks.length;
}

/**
 * The events panel's lines: a header and the last events that fit, `scrollBack` events back.
 * An event whose details do not fit beside its columns takes more lines (see `eventBlock`).
 *
 * @example
 * ```ts ignore
 * const lines = eventsLines({ events, scrollBack: 0, width: 80, height: 20, colors: false });
 * ```
 */
export function eventsLines(props: EventsProps): Line[] {
  const { events, width } = props;
  const { blocks, back, layout } = pickEvents(props);
  const { kindW, subjectW } = layout;
  const newer = back > 0 ? `   (${back} newer below)` : "";
  let title = layout.detailsAt !== null
    ? cell("time (UTC)", 13) + cell("event", kindW) + " " + cell("subject", subjectW) + " " +
      "details" + newer
    : cell("time (UTC)", 13) + "event subject" + newer;
  // Scrolled back on a narrow screen: how many are below says more than the column names.
  if (textWidth(title) > width) {
    title = back > 0 ? `time (UTC)   (${back} newer below)` : cell("time (UTC)", 13) + "event";
  }
  const header: Line = [seg(title, { dim: true, bold: true })];
  const lines: Line[] = blocks.flat();
  if (events.length === 0) lines.push([seg("no events yet", { dim: true })]);
  return [header, ...lines];
}

/**
 * The Events panel.
 *
 * @example
 * ```tsx ignore
 * <EventsPanel events={snap.events} scrollBack={0} width={80} height={20} colors />
 * ```
 */
export function EventsPanel(props: EventsProps) {
  return (
    <Lines
      lines={eventsLines(props)}
      width={props.width}
      height={props.height}
      colors={props.colors}
    />
  );
}
