/**
 * Test helpers of the dashboard: the recorded fixtures (`testdata/`), the App rendered at a fixed
 * size with ink-testing-library, and waiting on a frame with a deadline (never on a sleep).
 *
 * ink-testing-library 4 fixes its fake stdout at 100 columns with no rows, so the App is given
 * `columns`/`rows` props instead; the App never draws wider than `columns`.
 *
 * @module
 */

import { EventEmitter } from "node:events";
import { render } from "ink-testing-library";
import type { LabSnapshot, RingView } from "../../lab/snapshot_types.ts";
import { App, type DashboardData, type DashboardExit } from "./app.tsx";
import { computeRates, OccupancyHistory } from "./rates.ts";

/** The fixtures in `testdata/`. */
export type Fixture =
  | "pair_0"
  | "pair_1"
  | "star_0"
  | "star_1"
  | "ring_split"
  | "ring_packed"
  | "recorded_0"
  | "recorded_1"
  | "recorded_ring_split"
  | "recorded_ring_packed";

/**
 * Read a fixture.
 *
 * @example
 * ```ts ignore
 * const snap = loadFixture<LabSnapshot>("pair_1");
 * ```
 */
export function loadFixture<T>(name: Fixture): T {
  return JSON.parse(
    Deno.readTextFileSync(new URL(`./testdata/${name}.json`, import.meta.url)),
  ) as T;
}

/**
 * The data the App draws for a recorded pair of snapshots taken 100 ms apart: rates from their
 * deltas and a history holding both.
 *
 * @example
 * ```ts ignore
 * const data = fixtureData("pair"); // rates from pair_0 → pair_1
 * ```
 */
export function fixtureData(lab: "pair" | "star", ring: RingView | null = null): DashboardData {
  const s0 = loadFixture<LabSnapshot>(`${lab}_0`);
  const s1 = loadFixture<LabSnapshot>(`${lab}_1`);
  const history = new OccupancyHistory();
  history.add(s0);
  history.add(s1);
  return { snapshot: s1, rates: computeRates(s0, s1), history, ring, error: null };
}

/** Options of `renderApp`. */
export interface RenderAppOptions {
  /** Columns (default 80). */
  columns?: number;
  /** Rows (default 24). */
  rows?: number;
  /** Foreground lab (default true). */
  foreground?: boolean;
  /** Colors (default false, so frames compare as plain text). */
  colors?: boolean;
}

/**
 * Render the App over `data` at a fixed size; `exits` records every `onExit`, `rings` every
 * `onRingChange`, `macs` every `onMacsChange`, `pauses` every `onPauseChange`.
 *
 * @example
 * ```ts ignore
 * const app = renderApp(fixtureData("pair"), { columns: 80, rows: 24 });
 * app.lastFrame();
 * ```
 */
export function renderApp(data: DashboardData, options: RenderAppOptions = {}) {
  const exits: DashboardExit[] = [];
  const rings: unknown[] = [];
  const pauses: boolean[] = [];
  const macs: (string | null)[] = [];
  const props = {
    foreground: options.foreground ?? true,
    columns: options.columns ?? 80,
    rows: options.rows ?? 24,
    colors: options.colors ?? false,
    onExit: (r: DashboardExit) => exits.push(r),
    onRingChange: (s: unknown) => rings.push(s),
    onPauseChange: (p: boolean) => pauses.push(p),
    onMacsChange: (name: string | null) => macs.push(name),
  };
  const r = render(<App data={data} {...props} />);
  return {
    ...r,
    exits,
    rings,
    pauses,
    macs,
    /** Draw new data with the same props (the App keeps its state). */
    update(next: DashboardData): void {
      r.rerender(<App data={next} {...props} />);
    },
    /** The last frame, "" before the first. */
    frame(): string {
      return r.lastFrame() ?? "";
    },
  };
}

/**
 * Wait until `check()` is true, polling every few ms, or throw after `deadlineMs` with `what`.
 *
 * @example
 * ```ts ignore
 * await waitFor(() => app.frame().includes("[Queues]"), "the Queues tab");
 * ```
 */
export async function waitFor(
  check: () => boolean,
  what: string,
  deadlineMs = 2000,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out after ${deadlineMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Key sequences as a terminal sends them. */
export const KEY = {
  tab: "\t",
  shiftTab: "\x1b[Z",
  enter: "\r",
  escape: "\x1b",
  up: "\x1b[A",
  down: "\x1b[B",
  right: "\x1b[C",
  left: "\x1b[D",
  ctrlC: "\x03",
  pageUp: "\x1b[5~",
  pageDown: "\x1b[6~",
} as const;

/**
 * A fake terminal output for `runDashboard`: records everything written. With `CI` set, ink
 * writes nothing until it unmounts, so tests of the live driver assert on behaviour, and frames
 * are tested through `renderApp`.
 */
export class FakeStdout extends EventEmitter {
  /** Columns reported to ink. */
  columns = 80;
  /** Rows reported to ink. */
  rows = 24;
  /** Not a terminal: no alternate screen. */
  isTTY = false;
  /** Everything written, in order. */
  readonly writes: string[] = [];
  /** Record a write. */
  write = (chunk: string): boolean => {
    this.writes.push(chunk);
    return true;
  };
}

/** A fake terminal input for `runDashboard`: `press(keys)` types into it. */
export class FakeStdin extends EventEmitter {
  /** Looks like a terminal so ink enables raw mode (a no-op here). */
  isTTY = true;
  #data: string | null = null;
  /** Type `keys`. */
  press(keys: string): void {
    this.#data = keys;
    this.emit("readable");
    this.emit("data", keys);
  }
  /** What ink reads after "readable". */
  read = (): string | null => {
    const d = this.#data;
    this.#data = null;
    return d;
  };
  /** No-op. */
  setEncoding(): void {}
  /** No-op. */
  setRawMode(): void {}
  /** No-op. */
  resume(): void {}
  /** No-op. */
  pause(): void {}
  /** No-op. */
  ref(): void {}
  /** No-op. */
  unref(): void {}
}
