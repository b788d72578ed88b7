/**
 * The Events panel: the lab's recent events, oldest first, each with its UTC clock time, kind,
 * subject and details, scrolled to the newest unless the user scrolled back.
 *
 * @module
 */

import { type LabEvent, wallClockDetail } from "../../lab/events.ts";
import { cell, formatClock, textWidth } from "./format.ts";
import { type Color, type Line, Lines, seg } from "./lines.tsx";

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
 * The color of an event kind: failures and errors red, downs and resets yellow, ups green.
 *
 * @example
 * ```ts
 * import { eventColor } from "./events.tsx";
 * eventColor("link-down"); // "yellow"
 * eventColor("device-error"); // "red"
 * ```
 */
export function eventColor(kind: string): Color | undefined {
  if (/error|fail/.test(kind)) return "red";
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

/**
 * The events panel's lines: a header and the last events that fit, `scrollBack` events back.
 *
 * @example
 * ```ts ignore
 * const lines = eventsLines({ events, scrollBack: 0, width: 80, height: 20, colors: false });
 * ```
 */
export function eventsLines(props: EventsProps): Line[] {
  const { events } = props;
  const room = Math.max(0, props.height - 1);
  const maxBack = Math.max(0, events.length - room);
  const back = Math.min(Math.max(0, props.scrollBack), maxBack);
  const end = events.length - back;
  const shown = events.slice(Math.max(0, end - room), end);
  // Each column is its text's width plus one space: a kind or subject as long as its column is
  // cut there, never run into the next column. 18 fits the recovery kinds (device-needs-reset).
  const kindW = Math.min(18, Math.max(5, ...events.map((e) => textWidth(e.kind))));
  const subjectW = Math.min(12, Math.max(7, ...events.map((e) => textWidth(e.subject ?? ""))));
  const header: Line = [
    seg(
      cell("time (UTC)", 13) + cell("event", kindW) + " " + cell("subject", subjectW) + " " +
        "details" + (back > 0 ? `   (${back} newer below)` : ""),
      { dim: true, bold: true },
    ),
  ];
  const lines: Line[] = shown.map((e) => [
    seg(cell(formatClock(e.time), 13), { dim: true }),
    seg(cell(e.kind, kindW), { color: eventColor(e.kind), bold: true }),
    seg(" "),
    seg(cell(e.subject ?? "", subjectW) + " "),
    seg(formatDetail(e.detail)),
  ]);
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
