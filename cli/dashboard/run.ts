/**
 * The live driver of the dashboard: polls a snapshot source at a fixed rate, keeps the last 3 s
 * of counters for rates (`RateWindow`) and a 60 s occupancy history, fetches the ring view and a switch's MAC table
 * only while they are open, and draws `<App>` with ink until the user quits or the lab goes away.
 *
 * Called by the CLI (`vlab up` in the foreground, `vlab dashboard` attached) on the main thread.
 * Polling is strictly sequential: a tick whose previous snapshot request is still pending is
 * skipped, so a slow lab never piles up requests. Pausing stops polling; the display freezes on
 * the last snapshot. When the source fails, the screen says "lab stopped: …" and the dashboard
 * ends with "detach" after a key or 2 s.
 *
 * @module
 */

import process from "node:process";
import { createElement } from "react";
import { render, type RenderOptions } from "ink";
import type { LabSnapshot, RingSelector, RingView } from "../../lab/snapshot_types.ts";
import type { SwitchMacTable } from "../../lab/switch_macs.ts";
import { App, type DashboardData, type DashboardExit } from "./app.tsx";
import type { MacView } from "./mac_table.tsx";
import { OccupancyHistory, type Rates } from "./rates.ts";
import { RateWindow } from "./rate_window.ts";

/** Where the dashboard reads the lab (the control socket's client, or a fake in tests). */
export interface SnapshotSource {
  /** The lab's current snapshot; rejects when the lab is gone. */
  snapshot(): Promise<LabSnapshot>;
  /** The ring view of one queue, or null when there is no such queue. */
  ring(sel: RingSelector): Promise<RingView | null>;
  /**
   * The MAC table of one L2 switch, or null when there is none (no such switch, a vsock router,
   * a switch that did not answer); rejects when it cannot be read. Without it, the dashboard says
   * that this source shows no MAC table.
   */
  macs?(switchName: string): Promise<SwitchMacTable | null>;
}

/** Options of `runDashboard`. */
export interface DashboardOptions {
  /** Where snapshots come from. */
  source: SnapshotSource;
  /**
   * Foreground lab: `q` asks "Stop the lab? (y/n)"; y → resolves "stop", n → back.
   * Attached: `q` quits at once ("detach").
   */
  foreground: boolean;
  /** Redraw (poll) period, ms (default 100). */
  intervalMs?: number;
  /** Where to draw (default: the process's stdout). */
  stdout?: RenderOptions["stdout"];
  /** Where keys come from (default: the process's stdin). */
  stdin?: RenderOptions["stdin"];
  /** Turn colors off (default: when the NO_COLOR environment variable is set and not empty). */
  noColor?: boolean;
  /** Terminal size to draw at (default: the stdout's, following resizes). */
  columns?: number;
  /** Terminal rows to draw at (default: the stdout's). */
  rows?: number;
  /** How long "lab stopped" stays before the dashboard ends by itself, ms (default 2000). */
  stoppedLingerMs?: number;
  /** Called each time a new snapshot is drawn (an update users see). */
  onUpdate?: () => void;
  /**
   * Draw on the terminal's alternate screen and restore the screen on exit, like `top` (default:
   * when stdout is a terminal).
   */
  altScreen?: boolean;
  /** Ends the dashboard ("detach") when aborted: the lab stopped by itself, or SIGTERM. */
  signal?: AbortSignal;
  /**
   * After how long an unanswered snapshot request is shown in the header ("[no answer for 3s]"),
   * ms (default 1000): a lab that hangs (stopped with SIGSTOP, under a debugger) never fails the
   * request, and its last numbers would stay on screen as if they were current.
   */
  staleAfterMs?: number;
}

const ENTER_ALT_SCREEN = "\x1b[?1049h";
const LEAVE_ALT_SCREEN = "\x1b[?1049l";

/**
 * Whether NO_COLOR asks for no colors (set and not empty, per no-color.org). False when the
 * environment cannot be read.
 *
 * @example
 * ```ts
 * import { noColorFromEnv } from "./run.ts";
 * const plain = noColorFromEnv(); // true under NO_COLOR=1
 * ```
 */
export function noColorFromEnv(): boolean {
  try {
    const v = Deno.env.get("NO_COLOR");
    return v !== undefined && v !== "";
  } catch {
    return false;
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Draw the live dashboard of a lab until the user quits: resolves "stop" when the user confirmed
 * stopping a foreground lab, "detach" otherwise (attached quit, or the lab went away).
 *
 * @example
 * ```ts ignore
 * import { runDashboard } from "./run.ts";
 * const how = await runDashboard({ source: client, foreground: true });
 * if (how === "stop") await lab.stop();
 * ```
 */
export function runDashboard(opts: DashboardOptions): Promise<DashboardExit> {
  const intervalMs = Math.max(10, opts.intervalMs ?? 100);
  const colors = !(opts.noColor ?? noColorFromEnv());
  const history = new OccupancyHistory({
    capacity: Math.ceil(60_000 / intervalMs) + 10,
  });
  const rateWindow = new RateWindow();
  let current: LabSnapshot | null = null;
  let rates: Rates | null = null;
  let ring: RingView | null = null;
  let ringSel: RingSelector | null = null;
  let ringGeneration = 0;
  let macs: MacView | null = null;
  let macsSwitch: string | null = null;
  let macsGeneration = 0;
  let error: string | null = null;
  let paused = false;
  let polling = false;
  let pollStarted = 0;
  let waitingMs: number | null = null;
  let done = false;
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  let resolveExit: (r: DashboardExit) => void = () => {};
  const exited = new Promise<DashboardExit>((resolve) => (resolveExit = resolve));

  const element = () => {
    const data: DashboardData = {
      snapshot: current,
      rates,
      history,
      ring,
      error,
      macs,
      waitingMs,
    };
    return createElement(App, {
      data,
      foreground: opts.foreground,
      columns: opts.columns,
      rows: opts.rows,
      colors,
      onExit: finish,
      onPauseChange: (p: boolean) => {
        paused = p;
        if (!p) void tick();
      },
      onRingChange: (sel: RingSelector | null) => {
        ringSel = sel;
        ring = null;
        ringGeneration++;
        if (sel !== null) void fetchRing();
      },
      onMacsChange: (name: string | null) => {
        macsSwitch = name;
        macs = null;
        macsGeneration++;
        if (name !== null) void fetchMacs();
      },
    });
  };

  const stdout = opts.stdout ?? process.stdout;
  // Not a terminal (piped, or /dev/null): ink would ask `terminal-size`, which runs `tput` in a
  // child process on every redraw (measured: most of the attached dashboard's CPU). Give it a
  // size instead.
  if (!stdout.columns) {
    try {
      Object.defineProperty(stdout, "columns", { value: opts.columns ?? 80, configurable: true });
      Object.defineProperty(stdout, "rows", { value: opts.rows ?? 24, configurable: true });
    } catch {
      // A stream that refuses the property keeps ink's own fallback.
    }
  }
  const altScreen = opts.altScreen ?? stdout.isTTY === true;
  if (altScreen) stdout.write(ENTER_ALT_SCREEN);
  const instance = render(element(), {
    stdout,
    stdin: opts.stdin ?? process.stdin,
    exitOnCtrlC: false,
    maxFps: Math.max(10, Math.ceil(1000 / intervalMs)),
  });

  const timer = setInterval(() => void tick(), intervalMs);
  if (opts.signal?.aborted) queueMicrotask(() => finish("detach"));
  opts.signal?.addEventListener("abort", () => finish("detach"), { once: true });

  function draw(): void {
    if (!done) instance.rerender(element());
  }

  function finish(result: DashboardExit): void {
    if (done) return;
    done = true;
    clearInterval(timer);
    if (lingerTimer !== undefined) clearTimeout(lingerTimer);
    instance.unmount();
    if (altScreen) stdout.write(LEAVE_ALT_SCREEN);
    resolveExit(result);
  }

  function fail(e: unknown): void {
    if (error !== null || done) return;
    error = messageOf(e);
    clearInterval(timer);
    lingerTimer = setTimeout(() => finish("detach"), opts.stoppedLingerMs ?? 2000);
    draw();
  }

  async function fetchRing(): Promise<void> {
    const sel = ringSel;
    const generation = ringGeneration;
    if (sel === null || done) return;
    let view: RingView | null = null;
    try {
      view = await opts.source.ring(sel);
    } catch {
      // The snapshot poll reports a lab that is gone; a ring that cannot be read shows as loading.
      view = null;
    }
    if (generation !== ringGeneration || done) return;
    ring = view;
    draw();
  }

  async function fetchMacs(): Promise<void> {
    const name = macsSwitch;
    const generation = macsGeneration;
    if (name === null || done) return;
    let view: MacView;
    if (opts.source.macs === undefined) {
      view = {
        switch: name,
        table: null,
        note: "this dashboard cannot read MAC tables (vlab fdb can)",
      };
    } else {
      try {
        const table = await opts.source.macs(name);
        view = table === null
          ? {
            switch: name,
            table: null,
            note: `${name}: no MAC table (a vsock router keeps none, or the switch did not answer)`,
          }
          : { switch: name, table, note: null };
      } catch (e) {
        // One line: the snapshot poll reports a lab that is gone.
        const why = messageOf(e).split("\n")[0];
        view = { switch: name, table: null, note: `cannot read the MAC table of ${name}: ${why}` };
      }
    }
    if (generation !== macsGeneration || done) return;
    macs = view;
    draw();
  }

  async function tick(): Promise<void> {
    if (paused || done || error !== null) return;
    if (polling) {
      // The request of an earlier tick is still out: say so once it has waited long enough, in
      // whole seconds (one redraw a second).
      const waited = Date.now() - pollStarted;
      const staleAfter = opts.staleAfterMs ?? 1000;
      if (waited < staleAfter) return;
      const shown = Math.max(staleAfter, Math.floor(waited / 1000) * 1000);
      if (shown !== waitingMs) {
        waitingMs = shown;
        draw();
      }
      return;
    }
    polling = true;
    pollStarted = Date.now();
    try {
      const snap = await opts.source.snapshot();
      if (done) return;
      waitingMs = null;
      // Paused while the request was out: the display stays frozen (it showed the answer).
      if (paused) return;
      if (current === null || snap.takenAt > current.takenAt) {
        rates = rateWindow.add(snap);
        current = snap;
        history.add(snap);
        opts.onUpdate?.();
      }
      if (ringSel !== null) await fetchRing();
      if (macsSwitch !== null && opts.source.macs !== undefined) await fetchMacs();
      draw();
    } catch (e) {
      fail(e);
    } finally {
      polling = false;
    }
  }

  void tick();
  return exited;
}
