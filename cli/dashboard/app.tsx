/**
 * The whole dashboard screen: a header (lab, seed, uptime, counts, paused marker; on more lines
 * where one is too narrow for it), a tab bar (Overview · Queues · Links · Events · IOMMU), the
 * selected panel (or the ring view of the selected queue, or the MAC table of the selected switch,
 * or the help), and a key-hint line. `<App>` holds
 * only UI state (panel, selections, scroll, paused, help, quit confirmation); the data comes in as
 * props from `run.ts`, and the App reports what it needs through callbacks (pause, which ring or
 * which switch's MAC table to fetch, exit).
 *
 * The screen uses `rows - 1` lines: ink clears the whole terminal on every redraw of an output
 * as tall as the terminal, which flickers; one line less keeps redraws in place.
 *
 * @module
 */

import { useEffect, useReducer, useRef, useState } from "react";
import { Box, useInput, useStdin, useStdout } from "ink";
import {
  isVsockRouter,
  type LabSnapshot,
  type RingSelector,
  type RingView,
} from "../../lab/snapshot_types.ts";
import { eventsAdded, eventsLines, EventsPanel, eventsScrollMax, eventsShown } from "./events.tsx";
import { formatClock, formatDuration, textWidth } from "./format.ts";
import { HelpPanel, helpScrollMax } from "./help.tsx";
import { IommuPanel } from "./iommu.tsx";
import {
  fitLine,
  type Line,
  Lines,
  lineWidth,
  padLine,
  type Seg,
  seg,
  wrapWords,
} from "./lines.tsx";
import { LinksPanel } from "./links.tsx";
import { MacTablePanel, type MacView } from "./mac_table.tsx";
import { overviewLines, OverviewPanel } from "./overview.tsx";
import { listQueues, type QueueRef, QueuesPanel } from "./queues.tsx";
import type { OccupancyHistory, Rates } from "./rates.ts";
import { RingViewPanel, ringWindow } from "./ring_view.tsx";
import {
  type DashboardExit,
  INITIAL_UI,
  type KeyContext,
  type KeyPress,
  PANELS,
  reduceKeys,
  type RingWindow,
  settleRingScroll,
  type UiState,
} from "./keys.ts";

export { type DashboardExit, PANELS } from "./keys.ts";

/** What the dashboard draws, from `run.ts`. */
export interface DashboardData {
  /** The latest snapshot, or null before the first. */
  readonly snapshot: LabSnapshot | null;
  /** Rates between the last two snapshots, or null. */
  readonly rates: Rates | null;
  /** Occupancy history, or null. */
  readonly history: OccupancyHistory | null;
  /** The ring view asked for with `onRingChange`, or null (not asked, loading, or gone). */
  readonly ring: RingView | null;
  /** Why the lab cannot be read any more ("lab stopped: …" is shown), or null. */
  readonly error: string | null;
  /**
   * The MAC table asked for with `onMacsChange`, or null (not asked, or loading); a table that
   * could not be read is a view with a note.
   */
  readonly macs?: MacView | null;
  /**
   * How long the lab has left a snapshot request unanswered, ms, once that is long enough to say
   * ("[no answer for 3s]" in the header: the numbers shown are that old); null or absent
   * otherwise.
   */
  readonly waitingMs?: number | null;
}

/** Props of `<App>`. */
export interface AppProps {
  /** What to draw. */
  readonly data: DashboardData;
  /** Foreground lab: `q` asks "Stop the lab? (y/n)"; attached: `q` detaches at once. */
  readonly foreground: boolean;
  /** Terminal columns (default: the stdout's, following resizes). */
  readonly columns?: number;
  /** Terminal rows (default: the stdout's, following resizes). */
  readonly rows?: number;
  /** Whether to use colors (default true; false for NO_COLOR). */
  readonly colors?: boolean;
  /** Called once when the user quits. */
  readonly onExit: (result: DashboardExit) => void;
  /** Called when the user pauses or resumes. */
  readonly onPauseChange?: (paused: boolean) => void;
  /** Called with the queue whose ring view is open, or null when it closes. */
  readonly onRingChange?: (selector: RingSelector | null) => void;
  /** Called with the switch whose MAC table is open, or null when it closes. */
  readonly onMacsChange?: (switchName: string | null) => void;
}

function useTerminalSize(columns?: number, rows?: number): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const [, setTick] = useState(0);
  useEffect(() => {
    if (columns !== undefined && rows !== undefined) return;
    const onResize = () => setTick((t) => t + 1);
    stdout.on("resize", onResize);
    return () => {
      stdout.off("resize", onResize);
    };
  }, [stdout, columns, rows]);
  return { columns: columns ?? stdout.columns ?? 80, rows: rows ?? stdout.rows ?? 24 };
}

/** The smallest terminal the panels are drawn on; below it the screen says so instead. */
export const MIN_SIZE = { columns: 20, rows: 8 } as const;

function clamp(i: number, n: number): number {
  return n <= 0 ? 0 : Math.min(Math.max(0, i), n - 1);
}

type KeyAction =
  | { type: "keys"; input: string; key: KeyPress; ctx: KeyContext }
  | { type: "settle"; ctx: KeyContext }
  | { type: "events"; added: number; max: number };

// One report of `useInput` can hold several keys read together ("12", "2\r"): each acts in turn.
// "settle" applies the scroll keys pressed before the ring view was drawn, once it is; "events"
// keeps the events scrolled back to in view as newer ones come in below them.
function reducer(state: UiState, action: KeyAction): UiState {
  if (action.type === "settle") return settleRingScroll(state, action.ctx);
  if (action.type === "events") {
    if (state.eventsBack === 0) return state;
    return { ...state, eventsBack: Math.min(state.eventsBack + action.added, action.max) };
  }
  return reduceKeys(state, action.input, action.key, action.ctx);
}

function selectorOf(ref: QueueRef): RingSelector {
  return { vm: ref.vm, nic: ref.nic, queue: ref.queue.index };
}

/**
 * The dashboard screen.
 *
 * @example
 * ```tsx ignore
 * <App data={{ snapshot, rates, history, ring: null, error: null }} foreground onExit={(r) => done(r)} />
 * ```
 */
export function App(props: AppProps) {
  const terminal = useTerminalSize(props.columns, props.rows);
  const tooSmall = terminal.columns < MIN_SIZE.columns || terminal.rows < MIN_SIZE.rows;
  const columns = Math.max(MIN_SIZE.columns, terminal.columns);
  const rows = Math.max(MIN_SIZE.rows, terminal.rows);
  const colors = props.colors ?? true;
  const { snapshot, error } = props.data;

  const [ui, dispatch] = useReducer(reducer, INITIAL_UI);
  const { panel, paused, help, confirm } = ui;
  const exited = useRef(false);
  const lastRing = useRef<string>("null");
  const lastMacs = useRef<string | null>(null);
  const lastPaused = useRef(false);

  const vms = snapshot?.vms ?? [];
  const queues = snapshot === null ? [] : listQueues(snapshot);
  const links = snapshot?.links ?? [];
  // The Links panel selects among the ring links, then the vhost-pci links listed below them,
  // then the switches.
  const switches = snapshot?.switches ?? [];
  const linkRows = links.length + (snapshot?.vhostPciLinks?.length ?? 0);
  const selectableLinks = linkRows + switches.length;
  const events = snapshot?.events ?? [];
  const vmI = clamp(ui.vm, vms.length);
  const queueI = clamp(ui.queue, queues.length);
  const linkI = clamp(ui.link, selectableLinks);
  const eventsBack = ui.eventsBack;
  const selectedQueue: QueueRef | undefined = queues[queueI];
  const showRing = ui.ringOpen && panel === 1 && selectedQueue !== undefined;
  const selectedSwitch = panel === 2 ? switches[linkI - linkRows] : undefined;
  const showMacs = ui.macsOpen && selectedSwitch !== undefined;

  const width = columns;
  // Header: the lab's facts as whole items, on a second line where one is too narrow (cut, a
  // 40-column screen lost the links and switches: "… · 2 VMs ·…").
  const items: Seg[][] = [];
  if (snapshot !== null) {
    const lab = snapshot.lab;
    const n = (k: number, what: string) =>
      `${k} ${what}${k === 1 ? "" : /(s|sh|ch|x)$/.test(what) ? "es" : "s"}`;
    items.push([seg(lab.name, { bold: true, color: "cyan" })]);
    items.push([seg(`seed ${lab.seed}`)]);
    items.push([seg(`up ${formatDuration(lab.uptimeSeconds)}`)]);
    items.push([seg(n(vms.length, "VM"))]);
    // vhost-pci links are links too (the Links panel lists them below the others).
    items.push([seg(n(linkRows, "link"))]);
    // A vsock router is listed among the switches: counted apart, as `vlab status` lists it.
    const routers = switches.filter(isVsockRouter).length;
    if (switches.length > routers) items.push([seg(n(switches.length - routers, "switch"))]);
    if (routers > 0) items.push([seg(n(routers, "vsock router"))]);
  } else {
    items.push([seg("connecting…", { dim: true })]);
  }
  const right: Seg[] = [];
  const waitingMs = props.data.waitingMs ?? null;
  if (paused) right.push(seg("[PAUSED]", { color: "yellow", bold: true, inverse: true }));
  else if (waitingMs !== null && error === null) {
    right.push(
      seg(`[no answer for ${formatDuration(Math.max(1, Math.floor(waitingMs / 1000)))}]`, {
        color: "yellow",
        bold: true,
        inverse: true,
      }),
    );
  } else if (snapshot !== null && width >= 100) {
    right.push(
      seg(`at ${formatClock(new Date(snapshot.takenAt).toISOString())} UTC`, { dim: true }),
    );
  }
  // The seed (items[1]) gives way first: a line of the screen is worth more on a small one.
  const header = headerLines(items, right, width, 1);
  const screenRows = rows - 1;
  // Below the header's lines, the tab bar; below the body, the key hints.
  const bodyHeight = Math.max(1, screenRows - header.length - 2);

  // Scrolled back, the events shown stay put as newer ones come in (they slid up and out of view
  // a line per event, under the eyes of whoever read them): the scroll grows by the events added,
  // before this snapshot is drawn. A ref, not state: a state set here would draw every snapshot
  // twice; only a scrolled-back view that gained events is drawn again.
  const seenEvents = useRef(snapshot?.events);
  if (snapshot !== null && snapshot.events !== seenEvents.current) {
    const before = seenEvents.current ?? [];
    seenEvents.current = snapshot.events;
    const added = ui.eventsBack > 0 ? eventsAdded(before, snapshot.events) : 0;
    if (added > 0) {
      dispatch({
        type: "events",
        added,
        max: eventsScrollMax({ events: snapshot.events, width, height: bodyHeight }),
      });
    }
  }

  // Tell run.ts which ring to fetch; only when it changes.
  const ringSel = showRing && selectedQueue !== undefined ? selectorOf(selectedQueue) : null;
  const ringKey = JSON.stringify(ringSel);
  useEffect(() => {
    if (ringKey === lastRing.current) return;
    lastRing.current = ringKey;
    props.onRingChange?.(ringSel);
  });
  // Tell run.ts which switch's MAC table to fetch; only when it changes.
  const macsName = showMacs ? selectedSwitch.name : null;
  useEffect(() => {
    if (macsName === lastMacs.current) return;
    lastMacs.current = macsName;
    props.onMacsChange?.(macsName);
  });
  useEffect(() => {
    if (paused === lastPaused.current) return;
    lastPaused.current = paused;
    props.onPauseChange?.(paused);
  });
  useEffect(() => {
    if (ui.exit === null || exited.current) return;
    exited.current = true;
    props.onExit(ui.exit);
  });

  // The ring of a queue, if the data holds it.
  const ringOf = (q: QueueRef | undefined): RingView | null => {
    const r = props.data.ring;
    return r !== null && q !== undefined && r.selector.vm === q.vm && r.selector.nic === q.nic &&
        r.selector.queue === q.queue.index
      ? r
      : null;
  };
  const titleOf = (q: QueueRef | undefined) =>
    q === undefined ? "" : `${q.vm}/${q.nic} ${q.queue.name}`;
  // The ring view that a state draws: what the keys scroll from.
  const ringWindowOf = (s: UiState): RingWindow | null => {
    if (!s.ringOpen || s.panel !== 1) return null;
    const q = queues[clamp(s.queue, queues.length)];
    const r = ringOf(q);
    if (r === null) return null;
    return ringWindow({
      ring: r,
      title: titleOf(q),
      scroll: s.ringScroll,
      width,
      height: bodyHeight,
      colors,
    });
  };

  // What the keys need to know; the input handler reads it through a ref so a handler registered
  // by an older render still sees the current screen. Whatever depends on the UI state is a
  // function of it: keys read together reach the reducer before any render.
  const ctx: KeyContext = {
    foreground: props.foreground,
    stopped: error !== null,
    vms: vms.length,
    firstQueueOfVm: vms.map((v) => queues.findIndex((q) => q.vm === v.name)),
    queues: queues.length,
    links: selectableLinks,
    switches: switches.length,
    // The Events panel's events take one line each, or more where their details wrap.
    events: eventsScrollMax({ events, width, height: bodyHeight }),
    eventsPage: (back) =>
      eventsShown({ events, scrollBack: back, width, height: bodyHeight, colors }),
    helpScrollMax: helpScrollMax({
      foreground: props.foreground,
      width,
      height: bodyHeight,
      colors,
    }),
    ringWindow: ringWindowOf,
  };
  // Scroll keys pressed before the ring was drawn apply as soon as it is (this render already
  // draws them; the effect keeps them).
  const shown = settleRingScroll(ui, ctx);
  useEffect(() => {
    if (shown !== ui) dispatch({ type: "settle", ctx: ctxRef.current });
  });

  const ring = ringOf(ringSel === null ? undefined : selectedQueue);
  const ringTitle = titleOf(selectedQueue);
  const ringProps = {
    ring,
    title: ringTitle,
    scroll: shown.ringScroll,
    width,
    height: bodyHeight,
    colors,
  };

  const ctxRef = useRef(ctx);
  ctxRef.current = ctx;
  // Without a terminal on stdin (piped input) there are no keys: ink cannot enable raw mode.
  const { isRawModeSupported } = useStdin();
  useInput((input, key) => dispatch({ type: "keys", input, key, ctx: ctxRef.current }), {
    isActive: isRawModeSupported,
  });

  // Tab bar. Where the names do not fit beside "? help" (below 59 columns), the other panels go
  // by their keys, so the selected one is never cut: "1 · [2 Queues] · 3 · 4 · 5"; below 40
  // columns closer together ("1·[2 Queues]·3·4·5"), and "? help" gives way before a tab does (at
  // 30 columns the fifth was cut: "1 · 2 · 3 · [4 Events]…").
  const tabBar = (short: boolean, sep: string): Seg[] => {
    const tabs: Seg[] = [];
    PANELS.forEach((name, i) => {
      if (i > 0) tabs.push(seg(sep, { dim: true }));
      tabs.push(
        i === panel
          ? seg(short ? `[${i + 1} ${name}]` : `[${name}]`, {
            bold: true,
            inverse: true,
            color: "cyan",
          })
          : seg(short ? `${i + 1}` : ` ${name} `, { dim: true }),
      );
    });
    return tabs;
  };
  const helpTab = [seg("? help", { dim: true })];
  const beside = (line: Line) => lineWidth(line) + 1 + lineWidth(helpTab) <= width;
  const tabs = [tabBar(false, " · "), tabBar(true, " · "), tabBar(true, "·")].find(beside) ??
    tabBar(true, "·");
  // The view opened from a panel, after the tabs: its title is cut before a tab is, and "? help"
  // gives way where the title would keep fewer than 6 columns (at 20 columns the ring view cut
  // the tabs to "1·[2 Queues]… ? help").
  const crumb = showRing
    ? [seg(`  › ring ${ringTitle}`, { color: "cyan" })]
    : showMacs
    ? [seg(`  › MAC table ${selectedSwitch.name}`, { color: "cyan" })]
    : [];
  const tabLine = crumb.length === 0
    ? (beside(tabs) ? joinEnds(tabs, helpTab, width) : fitLine(tabs, width))
    : lineWidth(tabs) + Math.min(6, lineWidth(crumb)) + 1 + lineWidth(helpTab) <= width
    ? joinEnds([...tabs, ...crumb], helpTab, width)
    : fitLine([...tabs, ...crumb], width);

  // Key hints: whole items, as many as fit, "q quit" kept last (cut, they ended "enter queues…"
  // at 40 columns, q never said).
  const hints = (text: string): Line => [seg(fitHints(text, width), { dim: true })];
  let hint: Line;
  if (error !== null) {
    hint = [seg("press any key to leave", { bold: true })];
  } else if (confirm) {
    hint = [seg("Stop the lab? (y/n)", { bold: true, color: "yellow", inverse: true })];
  } else if (help) {
    hint = hints("↑↓ scroll · esc or ? close help · q quit");
  } else if (showRing) {
    hint = hints("↑↓ scroll · pgup/pgdn page · esc back · tab panel · p pause · ? help · q quit");
  } else if (showMacs) {
    hint = hints("↑↓ switch · esc back · tab panel · p pause · ? help · q quit");
  } else {
    const enter = panel === 0
      ? "enter queues · "
      : panel === 1
      ? "enter ring view · "
      : panel === 2 && selectedSwitch !== undefined && !isVsockRouter(selectedSwitch)
      ? "enter MAC table · "
      : "";
    // The Events panel scrolls; the IOMMU panel has nothing to select.
    const arrows = panel === 3 ? "↑↓ scroll · " : panel === 4 ? "" : "↑↓ select · ";
    hint = hints(
      `tab/←→ panel · ${arrows}${enter}p ${paused ? "resume" : "pause"} · ? help · q quit`,
    );
  }

  // Every word of why (the message names the lab and the cause) and of how the dashboard ends,
  // wrapped: at 40 columns "press any key" was cut, at 20×8 all but "lab stopped: Lab".
  const stopped: Line[] = error === null ? [] : [
    ...wrapWords(
      `lab stopped: ${error}`.split(" ").map((w) => seg(w, { color: "red", bold: true })),
      width,
      { first: "  ", indent: 2 },
    ),
    ...wrapWords(
      "the dashboard closes in 2 s, or press any key".split(" ").map((w) => seg(w, { dim: true })),
      width,
      { first: "  ", indent: 2 },
    ),
  ];
  // Where the panels' frame leaves them too little room, they take the whole screen.
  if (error !== null && stopped.length > bodyHeight) {
    return (
      <Box flexDirection="column" width={width} height={screenRows}>
        <Lines lines={stopped} width={width} height={screenRows} colors={colors} />
      </Box>
    );
  }
  let body;
  if (error !== null) {
    body = (
      <Lines
        lines={stopped.length < bodyHeight ? [[], ...stopped] : stopped}
        width={width}
        height={bodyHeight}
        colors={colors}
      />
    );
  } else if (snapshot === null) {
    body = (
      <Lines
        lines={[[seg("  waiting for the first snapshot…", { dim: true })]]}
        width={width}
        height={bodyHeight}
        colors={colors}
      />
    );
  } else if (help) {
    body = (
      <HelpPanel
        foreground={props.foreground}
        width={width}
        height={bodyHeight}
        colors={colors}
        scroll={ui.helpScroll}
      />
    );
  } else if (showRing) {
    body = <RingViewPanel {...ringProps} />;
  } else if (showMacs) {
    body = (
      <MacTablePanel
        switch={selectedSwitch}
        view={props.data.macs ?? null}
        rates={props.data.rates}
        width={width}
        height={bodyHeight}
        colors={colors}
      />
    );
  } else if (panel === 0 && width >= 120) {
    // Overview and events side by side.
    const leftW = Math.floor((width - 3) * 0.58);
    const rightW = width - 3 - leftW;
    const l = overviewLines({
      snapshot,
      selectedVm: vmI,
      width: leftW,
      height: bodyHeight,
      colors,
    });
    const r = eventsLines({
      events,
      scrollBack: eventsBack,
      width: rightW,
      height: bodyHeight,
      colors,
    });
    const lines: Line[] = [];
    for (let i = 0; i < bodyHeight; i++) {
      lines.push([
        ...padLine(l[i] ?? [], leftW),
        seg(" │ ", { dim: true }),
        ...fitLine(r[i] ?? [], rightW),
      ]);
    }
    body = <Lines lines={lines} width={width} height={bodyHeight} colors={colors} />;
  } else if (panel === 0) {
    body = (
      <OverviewPanel
        snapshot={snapshot}
        selectedVm={vmI}
        width={width}
        height={bodyHeight}
        colors={colors}
      />
    );
  } else if (panel === 1) {
    body = (
      <QueuesPanel
        snapshot={snapshot}
        rates={props.data.rates}
        history={props.data.history}
        selected={queueI}
        width={width}
        height={bodyHeight}
        colors={colors}
      />
    );
  } else if (panel === 2) {
    body = (
      <LinksPanel
        snapshot={snapshot}
        rates={props.data.rates}
        history={props.data.history}
        selected={linkI}
        width={width}
        height={bodyHeight}
        colors={colors}
      />
    );
  } else if (panel === 4) {
    body = <IommuPanel snapshot={snapshot} width={width} height={bodyHeight} colors={colors} />;
  } else {
    body = (
      <EventsPanel
        events={events}
        scrollBack={eventsBack}
        width={width}
        height={bodyHeight}
        colors={colors}
      />
    );
  }

  // A terminal smaller than the panels need: drawn there, the screen wrapped and scrolled into
  // garbage. One message instead, in what there is (the keys still act: q quits, y answers).
  if (tooSmall) {
    const w = Math.max(1, terminal.columns);
    const h = Math.max(1, terminal.rows - 1);
    const say = confirm
      ? "Stop the lab? (y/n)"
      : error !== null
      ? `lab stopped: ${error}`
      : `terminal too small: ${terminal.columns}×${terminal.rows}, the dashboard needs ` +
        `${MIN_SIZE.columns}×${MIN_SIZE.rows} · q quits`;
    const lines = wrapWords(
      say.split(" ").map((word) => seg(word, { bold: true, color: confirm ? "yellow" : "red" })),
      w,
    ).slice(0, h);
    return (
      <Box flexDirection="column" width={w} height={h}>
        <Lines lines={lines} width={w} height={h} colors={colors} />
      </Box>
    );
  }

  return (
    <Box flexDirection="column" width={width} height={screenRows}>
      <Lines lines={[...header, tabLine]} width={width} colors={colors} />
      {body}
      <Lines lines={[hint]} width={width} colors={colors} />
    </Box>
  );
}

/**
 * Key hints ("a · b · q quit") in `width`: the items in order as many as fit whole, the last one
 * (how to quit) always kept; cut only when that alone is wider.
 */
function fitHints(text: string, width: number): string {
  const items = text.split(" · ");
  const last = items.pop() ?? "";
  let shown = last;
  for (let i = items.length; i >= 0; i--) {
    const candidate = [...items.slice(0, i), last].join(" · ");
    if (textWidth(candidate) <= width) {
      shown = candidate;
      break;
    }
  }
  return shown;
}

/**
 * The header's lines in `width`: "vlab " and the items joined by " · ", `right` flush right on the
 * last line. Where they do not fit on one line, "vlab " goes, then the item at `optional` (the
 * seed), if that is enough for one line; else every item wraps whole onto a second line (more on
 * a very narrow screen). An item is cut only when it alone is wider than the screen.
 */
function headerLines(
  items: readonly Seg[][],
  right: readonly Seg[],
  width: number,
  optional: number,
): Line[] {
  const dot = seg(" · ");
  const join = (from: readonly Seg[][]): Seg[] =>
    from.flatMap((item, i) => i === 0 ? item : [dot, ...item]);
  const rw = lineWidth(right);
  const fits = (line: Line) => lineWidth(line) + (rw === 0 ? 0 : rw + 1) <= width;
  const ones = [
    [seg("vlab ", { dim: true }), ...join(items)],
    join(items),
    join(items.filter((_, i) => i !== optional)),
  ];
  const one = ones.find(fits);
  if (one !== undefined) return [joinEnds(one, right, width)];
  const lines: Line[] = [];
  let current: Seg[][] = [];
  for (const item of items) {
    if (current.length > 0 && lineWidth(join([...current, item])) > width) {
      lines.push(fitLine(join(current), width));
      current = [];
    }
    current.push(item);
  }
  const last = join(current);
  if (rw === 0) lines.push(fitLine(last, width));
  else if (lineWidth(last) + 1 + rw <= width) lines.push(joinEnds(last, right, width));
  else lines.push(fitLine(last, width), joinEnds([], right, width));
  return lines;
}

/** `left` and `right` on one line of `width`, `right` flush right; `left` is cut first. */
function joinEnds(left: readonly Seg[], right: readonly Seg[], width: number): Line {
  const rw = lineWidth(right);
  if (rw === 0) return fitLine(left, width);
  const l = fitLine(left, Math.max(0, width - rw - 1));
  const gap = Math.max(1, width - lineWidth(l) - rw);
  return [...l, seg(" ".repeat(gap)), ...right];
}
