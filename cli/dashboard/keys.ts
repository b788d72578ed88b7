/**
 * The dashboard's UI state and what each key does to it, as one pure function. `<App>` feeds
 * every key press through `reduceKey` with `useReducer`, so two keys arriving before a redraw
 * (fast typing, a paste, a slow terminal) each see the state the previous one left, never a stale
 * copy; the App turns state changes into callbacks (exit, pause, ring selection, MAC table
 * selection) in effects.
 *
 * Keys that arrive in one terminal read reach the App as one report: ink cuts each escape
 * sequence (arrows, shift-tab, esc) out of the read as a report of its own, but hands a run of
 * plain characters over as one `input` ("12", "2\r", "q\x03"). `reduceKeys` splits such a run
 * into its keys (`splitKeys`) and reduces them in order.
 *
 * @module
 */

/** The panels, in tab order. */
export const PANELS = ["Overview", "Queues", "Links", "Events", "IOMMU"] as const;

/** How the dashboard ended: stop the foreground lab, or leave it running. */
export type DashboardExit = "stop" | "detach";

/** The UI state. */
export interface UiState {
  /** Index in `PANELS`. */
  readonly panel: number;
  /** Selected VM (Overview). */
  readonly vm: number;
  /** Selected queue (Queues), in `listQueues` order. */
  readonly queue: number;
  /** Selected row of the Links panel: a ring link, then a vhost-pci link, then a switch. */
  readonly link: number;
  /** Events scrolled back from the newest. */
  readonly eventsBack: number;
  /** Whether the ring view of the selected queue is open. */
  readonly ringOpen: boolean;
  /** First ring row shown, or null to follow the device. */
  readonly ringScroll: number | null;
  /**
   * Scroll keys pressed in the ring view before its ring was drawn (opened and paged in one read,
   * or paged while it loads): rows and pages from where it follows the device, applied once it is
   * drawn (`settleRingScroll`); null when none wait.
   */
  readonly ringPending: { readonly rows: number; readonly pages: number } | null;
  /** Whether the MAC table of the selected switch (Links) is open. */
  readonly macsOpen: boolean;
  /** Whether the help is shown. */
  readonly help: boolean;
  /** First help line shown (↑↓ scroll a help taller than the screen). */
  readonly helpScroll: number;
  /** Whether "Stop the lab? (y/n)" is asked. */
  readonly confirm: boolean;
  /** Whether the display is paused. */
  readonly paused: boolean;
  /** Set once the user quit. */
  readonly exit: DashboardExit | null;
}

/** The state the dashboard starts in. */
export const INITIAL_UI: UiState = {
  panel: 0,
  vm: 0,
  queue: 0,
  link: 0,
  eventsBack: 0,
  ringOpen: false,
  ringScroll: null,
  ringPending: null,
  macsOpen: false,
  help: false,
  helpScroll: 0,
  confirm: false,
  paused: false,
  exit: null,
};

/** A key press, as ink's `useInput` reports it (only the fields used here). */
export interface KeyPress {
  upArrow?: boolean;
  downArrow?: boolean;
  leftArrow?: boolean;
  rightArrow?: boolean;
  pageUp?: boolean;
  pageDown?: boolean;
  return?: boolean;
  escape?: boolean;
  ctrl?: boolean;
  shift?: boolean;
  tab?: boolean;
  backspace?: boolean;
  delete?: boolean;
}

/** What the keys need to know about the screen. */
export interface KeyContext {
  /** Foreground lab: quitting asks to stop it. */
  readonly foreground: boolean;
  /** The lab is gone: any key leaves. */
  readonly stopped: boolean;
  /** How far the help scrolls: its lines below the first screen (default 0). */
  readonly helpScrollMax?: number;
  /** Number of VMs. */
  readonly vms: number;
  /** For each VM index, its first queue's index (or -1). */
  readonly firstQueueOfVm: readonly number[];
  /** Number of queues. */
  readonly queues: number;
  /**
   * Number of rows the Links panel selects among: the ring links, then the vhost-pci links, then
   * the switches.
   */
  readonly links: number;
  /** How many of those rows, the last ones, are switches (default 0). */
  readonly switches?: number;
  /**
   * How far the Events panel scrolls back: the events above its first page (scrolled past that,
   * ↓ did nothing for as many presses).
   */
  readonly events: number;
  /**
   * How many events the Events panel shows scrolled `back` events from the newest: what pgup and
   * pgdn move it by (a page; events take one line or more). Absent: 5.
   */
  readonly eventsPage?: (back: number) => number;
  /**
   * The ring table's first row and rows shown as the ring view of state `s` draws it, or null when
   * `s` shows no ring view or its ring is not loaded yet. A function of the state, not a value of
   * the last render: a key read together with the one that opened the view (or moved it) must see
   * the view that key left.
   */
  readonly ringWindow?: (s: UiState) => RingWindow | null;
}

/** Where the ring table starts and how many rows it shows. */
export interface RingWindow {
  /** First row shown. */
  readonly start: number;
  /** Rows shown. */
  readonly rows: number;
}

/** One key: what `reduceKey` takes. */
export interface KeyEvent {
  /** The character typed ("" for tab, backspace, delete; the letter with ctrl). */
  readonly input: string;
  /** The named key, as ink's `useInput` reports it. */
  readonly key: KeyPress;
}

// What ink hands over, once it has cut the leading ESC, for an escape sequence it has no name for:
// "\x1b[57~" gives "[57~", an SS3 key of no name "\x1bOz" gives "Oz". One key, not a run of characters
// (its 5 must not open the fifth panel). A typed run of exactly that shape ("[1a") is taken for
// such a key too, and does nothing; one that is a keypad key's ("Oq") is that key (`KEYPAD`).
const UNNAMED_SEQUENCE = /^(?:\[\[?[\x20-\x3f]*[\x40-\x7e]|O[\x40-\x7e])$/;

// The keypad in application mode (DECKPAM; xterm, and what tmux passes on): SS3 and a letter,
// which ink hands over as "Op".."Oy" with no key named. Each is the main keyboard's key.
// A Map: the read is the terminal's text, and a pasted "toString" must not find Object's.
const KEYPAD: ReadonlyMap<string, string> = new Map([
  ["Op", "0"],
  ["Oq", "1"],
  ["Or", "2"],
  ["Os", "3"],
  ["Ot", "4"],
  ["Ou", "5"],
  ["Ov", "6"],
  ["Ow", "7"],
  ["Ox", "8"],
  ["Oy", "9"],
  ["OM", "\r"],
  ["OI", "\t"],
  ["Oj", "*"],
  ["Ok", "+"],
  ["Ol", ","],
  ["Om", "-"],
  ["On", "."],
  ["Oo", "/"],
  ["OX", "="],
  ["O ", " "],
]);

/** The named keys that ESC read before them turns into "meta": esc, then the key. */
const AFTER_ESC = [
  "upArrow",
  "downArrow",
  "leftArrow",
  "rightArrow",
  "pageUp",
  "pageDown",
  "return",
  "tab",
  "backspace",
  "delete",
] as const satisfies readonly (keyof KeyPress)[];

/**
 * The keys in one report of ink's `useInput`, in order. A report with a named key (an arrow, tab,
 * esc, ctrl, meta, shift…), with an ESC in it, or that is an escape sequence ink has no name for,
 * is one key, as it came. Otherwise `input` is a run of characters read together, and each is a
 * key of its own, named as ink names it when it comes alone: "\r" and "\n" are enter, "\t" tab,
 * "\b" backspace, "\x7f" delete, "\x01".."\x1a" ctrl and a letter ("\x03" is ctrl-c), an upper
 * case letter is shifted. A keypad key in application mode ("Op" for 0 … "Oy" for 9, "OM" enter,
 * "Ok" +, "Om" -) is the main keyboard's key. A character or a named key (an arrow, pgup pgdn,
 * enter, tab, backspace) with meta (ESC and it, read together) is esc, then that key.
 *
 * @example
 * ```ts
 * import { splitKeys } from "./keys.ts";
 * splitKeys("2\r", {}); // [{ input: "2", key: {} }, { input: "\r", key: { return: true } }]
 * splitKeys("", { upArrow: true }); // [{ input: "", key: { upArrow: true } }]
 * splitKeys("Or", {}); // [{ input: "2", key: {} }] (keypad 2)
 * ```
 */
export function splitKeys(input: string, key: KeyPress): KeyEvent[] {
  const named = Object.values(key).some((v) => v === true);
  const keypad = named ? undefined : KEYPAD.get(input.startsWith("\x1b") ? input.slice(1) : input);
  if (keypad !== undefined) return [keyOfChar(keypad)];
  // ESC and a character read together ("\x1b1": esc then 1 typed fast, a paste, `tmux send-keys
  // Escape 1`) reach us as that character with meta, alt's encoding: the dashboard has no alt
  // keys, so it is esc, then the character.
  const { meta, shift: _shift, ...rest } = key as KeyPress & { meta?: boolean };
  if (
    meta === true && Array.from(input).length === 1 &&
    !Object.values(rest).some((v) => v === true)
  ) {
    return [{ input: "", key: { escape: true } }, keyOfChar(input)];
  }
  // The same for a named key: ESC and an arrow read together ("\x1b\x1b[A": esc then ↑ typed
  // fast, `tmux send-keys Escape Up`) reach us as the arrow with meta, and the esc was lost (the
  // ring view or MAC table stayed open). Esc, then the key without meta. Alt and an arrow read the
  // same way: the dashboard has no alt keys. (ink reports esc alone with meta too: it stays esc.)
  if (meta === true && key.escape !== true && AFTER_ESC.some((k) => key[k] === true)) {
    const { meta: _meta, ...plain } = key as KeyPress & { meta?: boolean };
    return [{ input: "", key: { escape: true } }, { input, key: plain }];
  }
  // ESC and tab read together ("\x1b\t"): ink names no key and hands over the tab alone, which
  // a tab key never is (ink names that one): esc, then tab.
  if (!named && input === "\t") {
    return [{ input: "", key: { escape: true } }, keyOfChar(input)];
  }
  if (named || input === "" || input.includes("\x1b") || UNNAMED_SEQUENCE.test(input)) {
    return [{ input, key }];
  }
  return Array.from(input, keyOfChar);
}

function keyOfChar(c: string): KeyEvent {
  switch (c) {
    case "\r":
    case "\n":
      return { input: c, key: { return: true } };
    case "\t":
      return { input: "", key: { tab: true } };
    case "\b":
      return { input: "", key: { backspace: true } };
    case "\x7f":
      return { input: "", key: { delete: true } };
  }
  const code = c.codePointAt(0) ?? 0;
  if (code <= 0x1a) return { input: String.fromCharCode(code + 0x60), key: { ctrl: true } };
  return { input: c, key: /^[A-Z]$/.test(c) ? { shift: true } : {} };
}

/**
 * The state after one report of ink's `useInput`: each of its keys (`splitKeys`) in turn, each
 * against the state the previous one left.
 *
 * @example
 * ```ts
 * import { INITIAL_UI, reduceKeys } from "./keys.ts";
 * const ctx = {
 *   foreground: true, stopped: false, vms: 2, firstQueueOfVm: [0, 2], queues: 4, links: 1,
 *   events: 0,
 * };
 * reduceKeys(INITIAL_UI, "12", {}, ctx).panel; // 1
 * reduceKeys(INITIAL_UI, "2\r", {}, ctx).ringOpen; // true
 * ```
 */
export function reduceKeys(s: UiState, input: string, key: KeyPress, ctx: KeyContext): UiState {
  return splitKeys(input, key).reduce((at, k) => reduceKey(at, k.input, k.key, ctx), s);
}

function clamp(i: number, n: number): number {
  return n <= 0 ? 0 : Math.min(Math.max(0, i), n - 1);
}

/**
 * The state after one key press (one key: a report of several keys goes through `reduceKeys`).
 *
 * @example
 * ```ts
 * import { INITIAL_UI, reduceKey } from "./keys.ts";
 * const ctx = {
 *   foreground: true, stopped: false, vms: 2, firstQueueOfVm: [0, 2], queues: 4, links: 1,
 *   events: 0,
 * };
 * reduceKey(INITIAL_UI, "", { tab: true }, ctx).panel; // 1
 * reduceKey(INITIAL_UI, "q", {}, ctx).confirm; // true
 * ```
 */
export function reduceKey(s: UiState, input: string, key: KeyPress, ctx: KeyContext): UiState {
  if (s.exit !== null) return s;
  if (ctx.stopped) return { ...s, exit: "detach" };
  const ctrlC = key.ctrl === true && input === "c";
  if (s.confirm) {
    if (input === "y" || input === "Y") return { ...s, exit: "stop" };
    if (input === "n" || input === "N" || key.escape || ctrlC) return { ...s, confirm: false };
    return s;
  }
  if (input === "q" || ctrlC) {
    return ctx.foreground ? { ...s, confirm: true } : { ...s, exit: "detach" };
  }
  if (input === "?") return { ...s, help: !s.help, helpScroll: 0 };
  if (input === "p") return { ...s, paused: !s.paused };
  const back = key.escape || key.backspace || key.delete;
  if (s.help) {
    if (back) return { ...s, help: false };
    const step = key.upArrow ? -1 : key.downArrow ? 1 : key.pageUp ? -5 : key.pageDown ? 5 : 0;
    const max = ctx.helpScrollMax ?? 0;
    return step === 0
      ? s
      : { ...s, helpScroll: Math.max(0, Math.min(max, Math.min(s.helpScroll, max) + step)) };
  }

  const go = (p: number): UiState => ({
    ...s,
    panel: ((p % PANELS.length) + PANELS.length) % PANELS.length,
    ringOpen: false,
    macsOpen: false,
  });
  if (key.tab) return go(s.panel + (key.shift ? -1 : 1));
  if (/^[1-5]$/.test(input)) return go(Number(input) - 1);

  const queue = clamp(s.queue, ctx.queues);
  if (s.ringOpen && s.panel === 1 && ctx.queues > 0) {
    if (back) return { ...s, ringOpen: false, ringPending: null };
    const rows = key.upArrow ? -1 : key.downArrow ? 1 : 0;
    const pages = key.pageUp ? -1 : key.pageDown ? 1 : 0;
    if (rows === 0 && pages === 0) return s;
    const at = settleRingScroll(s, ctx);
    // Scroll from the row the view draws first (past the end it draws the last page, whatever
    // ringScroll says), a page being the rows it shows.
    const win = ctx.ringWindow?.(at) ?? null;
    if (win === null && at.ringScroll === null) {
      const p = at.ringPending ?? { rows: 0, pages: 0 };
      return { ...at, ringPending: { rows: p.rows + rows, pages: p.pages + pages } };
    }
    const from = win?.start ?? at.ringScroll ?? 0;
    const page = Math.max(1, win?.rows ?? 10);
    return { ...at, ringScroll: Math.max(0, from + rows + pages * page) };
  }
  // The MAC table of a switch: ↑↓ go to the previous or next switch, esc back to the list.
  const switches = Math.min(ctx.switches ?? 0, ctx.links);
  const firstSwitch = ctx.links - switches;
  if (s.macsOpen && s.panel === 2 && switches > 0) {
    if (back) return { ...s, macsOpen: false };
    const step = key.upArrow ? -1 : key.downArrow ? 1 : 0;
    if (step === 0) return s;
    const at = clamp(s.link, ctx.links) - firstSwitch;
    return { ...s, link: firstSwitch + clamp(at + step, switches) };
  }
  if (key.leftArrow) return go(s.panel - 1);
  if (key.rightArrow) return go(s.panel + 1);
  if (key.return) {
    if (s.panel === 0 && ctx.vms > 0) {
      const first = ctx.firstQueueOfVm[clamp(s.vm, ctx.vms)] ?? -1;
      return { ...s, panel: 1, queue: first >= 0 ? first : queue, ringOpen: false };
    }
    if (s.panel === 1 && ctx.queues > 0) {
      return { ...s, queue, ringOpen: true, ringScroll: null, ringPending: null };
    }
    const link = clamp(s.link, ctx.links);
    if (s.panel === 2 && switches > 0 && link >= firstSwitch) {
      return { ...s, link, macsOpen: true };
    }
    return s;
  }
  const delta = key.upArrow ? -1 : key.downArrow ? 1 : key.pageUp ? -5 : key.pageDown ? 5 : 0;
  if (delta === 0) return s;
  switch (s.panel) {
    case 0:
      return { ...s, vm: clamp(s.vm + delta, ctx.vms) };
    case 1:
      return { ...s, queue: clamp(queue + delta, ctx.queues) };
    case 2:
      return { ...s, link: clamp(s.link + delta, ctx.links) };
    case 4:
      return s; // the IOMMU panel has no selection
    default: {
      // A page of events is what the panel shows (it moved 5, whatever the screen showed).
      const paged = key.pageUp || key.pageDown;
      const page = Math.max(1, ctx.eventsPage?.(Math.min(s.eventsBack, ctx.events)) ?? 5);
      const step = paged ? Math.sign(delta) * page : delta;
      return { ...s, eventsBack: Math.max(0, Math.min(s.eventsBack - step, ctx.events)) };
    }
  }
}

/**
 * The state with the scroll keys pressed before the ring view was drawn applied, once it can be:
 * from where the view follows the device, by their rows and pages. The same state while none wait
 * or the ring is not drawn yet.
 *
 * @example
 * ```ts
 * import { INITIAL_UI, settleRingScroll } from "./keys.ts";
 * const s = { ...INITIAL_UI, panel: 1, ringOpen: true, ringPending: { rows: 1, pages: 1 } };
 * const ctx = {
 *   foreground: true, stopped: false, vms: 1, firstQueueOfVm: [0], queues: 1, links: 0,
 *   events: 0, ringWindow: () => ({ start: 30, rows: 12 }),
 * };
 * settleRingScroll(s, ctx).ringScroll; // 43
 * ```
 */
export function settleRingScroll(s: UiState, ctx: KeyContext): UiState {
  if (s.ringPending === null || s.ringScroll !== null || !s.ringOpen) return s;
  const win = ctx.ringWindow?.(s) ?? null;
  if (win === null) return s;
  const { rows, pages } = s.ringPending;
  return {
    ...s,
    ringScroll: Math.max(0, win.start + rows + pages * Math.max(1, win.rows)),
    ringPending: null,
  };
}
