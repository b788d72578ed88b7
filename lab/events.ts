/**
 * The lab's event log: one JSON object per line (`<state root>/logs/<lab>-<start>.jsonl`, kept
 * after the lab stops; see `logs.ts`),
 * recording what happened to the lab: up, down, VM ready or failed, link changes, device and
 * guest errors, control-socket errors. The most recent events are also kept in memory for
 * `GET /events` and the dashboard.
 *
 * @module
 */

/** One event. */
export interface LabEvent {
  /** Wall-clock time, ISO 8601. */
  time: string;
  /** What happened: "lab-up", "lab-down", "vm-ready", "vm-failed", "link-down", … */
  kind: string;
  /** The VM, link or switch concerned, if any. */
  subject?: string;
  /**
   * Details. A key ending in `At` whose value is a number is a wall-clock time in milliseconds
   * since the epoch (`startAt`, `restoredAt`, `firstWorkAt`: {@linkcode wallClockDetail}).
   */
  detail?: Record<string, unknown>;
}

/**
 * The wall-clock time (ms since the epoch) that an event detail holds, or null when it is not
 * one: a key ending in `At` (`startAt`, `restoredAt`, `firstWorkAt`) with a finite number. A
 * reader shows it as a time, not as a 13-digit number.
 *
 * @example
 * ```ts
 * import { wallClockDetail } from "./events.ts";
 * wallClockDetail("firstWorkAt", 1796420782042.5); // 1796420782042.5
 * wallClockDetail("pauseMs", 12.5); // null
 * ```
 */
export function wallClockDetail(key: string, value: unknown): number | null {
  return /[a-z]At$/.test(key) && typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** How many events the in-memory log keeps. */
const KEEP = 1000;

/**
 * An append-only event log.
 *
 * @example
 * ```ts
 * import { EventLog } from "./events.ts";
 * const log = new EventLog(null);
 * log.emit("lab-up", undefined, { vms: 2 });
 * log.recent().length; // 1
 * ```
 */
export class EventLog {
  #path: string | null;
  #events: LabEvent[] = [];
  #listeners = new Set<(e: LabEvent) => void>();
  #encoder = new TextEncoder();
  /** Events emitted since the log opened, by `kind subject` (never cut, unlike `recent`). */
  #counts = new Map<string, number>();

  /**
   * Open a log.
   *
   * @param path the JSON-lines file to append to, or null for memory only
   */
  constructor(path: string | null) {
    this.#path = path;
  }

  /** Record an event. Never throws: a log that cannot be written must not stop the lab. */
  emit(kind: string, subject?: string, detail?: Record<string, unknown>): LabEvent {
    const event: LabEvent = { time: new Date().toISOString(), kind };
    if (subject !== undefined) event.subject = subject;
    if (detail !== undefined) event.detail = detail;
    this.#events.push(event);
    const key = `${kind} ${subject ?? ""}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    if (this.#events.length > KEEP) this.#events.splice(0, this.#events.length - KEEP);
    if (this.#path !== null) {
      try {
        Deno.writeFileSync(this.#path, this.#encoder.encode(JSON.stringify(event) + "\n"), {
          append: true,
        });
      } catch {
        // The state folder went away (the lab is being torn down): memory keeps the event.
      }
    }
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (e) {
        // A listener's failure must not stop the lab or the other listeners, nor vanish: it is a
        // bug of the script's (a typo in its callback), reported as uncaught once this emit is
        // done, as an `addEventListener` listener's is (the process ends with its stack, unless
        // a globalThis "error" listener prevents it).
        queueMicrotask(() => reportError(e));
      }
    }
    return event;
  }

  /**
   * The most recent events (at most 1000), oldest first, as they are now: a copy, which later
   * events do not change (the log's own array grows and drops its oldest).
   */
  recent(): readonly LabEvent[] {
    return this.#events.slice();
  }

  /**
   * How many events of `kind` about `subject` (none: about nothing) were emitted since the log
   * opened, including those `recent` no longer holds.
   */
  count(kind: string, subject?: string): number {
    return this.#counts.get(`${kind} ${subject ?? ""}`) ?? 0;
  }

  /**
   * Call `listener` for every new event; returns the unsubscribe function. A listener that
   * throws is an uncaught error, as in `addEventListener`: the lab and the other listeners go on
   * with the event, then the process ends with the error (its lab's state folder left for
   * `vlab ls` to clear) unless a globalThis "error" listener prevents it. A listener that is no
   * function is a `TypeError` here, not at the next event.
   */
  subscribe(listener: (e: LabEvent) => void): () => void {
    if (typeof listener !== "function") {
      throw new TypeError(
        `events.subscribe: listener must be a function, got ${
          listener === null ? "null" : typeof listener
        }`,
      );
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
