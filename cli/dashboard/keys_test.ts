import assert from "node:assert/strict";
import {
  INITIAL_UI,
  type KeyContext,
  reduceKey,
  reduceKeys,
  settleRingScroll,
  splitKeys,
  type UiState,
} from "./keys.ts";

const ctx: KeyContext = {
  foreground: true,
  stopped: false,
  vms: 2,
  firstQueueOfVm: [0, 2],
  queues: 4,
  links: 1,
  events: 6,
};

function keys(seq: [string, Record<string, boolean>?][], c: KeyContext = ctx, from = INITIAL_UI) {
  let s: UiState = from;
  for (const [input, key] of seq) s = reduceKey(s, input, key ?? {}, c);
  return s;
}

Deno.test("tab and shift-tab cycle through the panels", () => {
  assert.equal(keys([["", { tab: true }]]).panel, 1);
  assert.equal(keys([["", { tab: true, shift: true }]]).panel, 4, "the IOMMU panel is last");
  assert.equal(
    keys([["", { tab: true }], ["", { tab: true }], ["", { tab: true }], ["", { tab: true }], [
      "",
      { tab: true },
    ]]).panel,
    0,
  );
  assert.equal(keys([["5"]]).panel, 4);
  assert.equal(keys([["3"]]).panel, 2);
  assert.equal(keys([["", { rightArrow: true }]]).panel, 1);
});

Deno.test("enter on a VM opens its queues, enter on a queue opens its ring view", () => {
  const s = keys([["", { downArrow: true }], ["", { return: true }]]);
  assert.equal(s.panel, 1);
  assert.equal(s.queue, 2);
  const r = keys([["", { return: true }]], ctx, s);
  assert.equal(r.ringOpen, true);
  assert.equal(r.ringScroll, null);
  assert.equal(keys([["", { escape: true }]], ctx, r).ringOpen, false);
});

Deno.test("enter on a switch opens its MAC table; up and down go from switch to switch", () => {
  // Three links, then two switches: rows 3 and 4.
  const c = { ...ctx, links: 5, switches: 2 };
  assert.equal(keys([["3"], ["", { return: true }]], c).macsOpen, false, "a link has no MAC table");
  const open = keys([["3"], ["", { pageDown: true }], ["", { upArrow: true }], [
    "",
    { return: true },
  ]], c);
  assert.equal(open.link, 3);
  assert.equal(open.macsOpen, true);
  const next = keys([["", { downArrow: true }], ["", { downArrow: true }]], c, open);
  assert.equal(next.link, 4, "the last switch");
  assert.equal(next.macsOpen, true);
  const back = keys([["", { upArrow: true }], ["", { upArrow: true }]], c, next);
  assert.equal(back.link, 3, "up stops at the first switch, never a link");
  assert.equal(keys([["", { escape: true }]], c, open).macsOpen, false);
  assert.equal(keys([["", { escape: true }]], c, open).link, 3);
  assert.equal(keys([["", { tab: true }]], c, open).macsOpen, false);
  assert.equal(
    keys([["", { return: true }]], { ...ctx, links: 5 }, { ...open, macsOpen: false })
      .macsOpen,
    false,
    "no switches, no MAC table",
  );
});

Deno.test("up and down in the ring view scroll from where the view is", () => {
  const open = keys([["2"], ["", { return: true }]]);
  const c = { ...ctx, ringWindow: () => ({ start: 30, rows: 12 }) };
  assert.equal(keys([["", { downArrow: true }]], c, open).ringScroll, 31);
  assert.equal(keys([["", { pageDown: true }]], c, open).ringScroll, 42);
  assert.equal(
    keys([["", { upArrow: true }]], { ...ctx, ringWindow: () => ({ start: 0, rows: 12 }) }, {
      ...open,
      ringScroll: 0,
    }).ringScroll,
    0,
  );
  assert.equal(keys([["", { downArrow: true }]], c, open).queue, 0);
});

Deno.test("selections stay within their lists", () => {
  assert.equal(keys([["", { upArrow: true }]]).vm, 0);
  assert.equal(
    keys([["", { downArrow: true }], ["", { downArrow: true }], ["", { downArrow: true }]]).vm,
    1,
  );
  assert.equal(keys([["2"], ["", { pageDown: true }]]).queue, 3);
  assert.equal(keys([["4"], ["", { upArrow: true }], ["", { upArrow: true }]]).eventsBack, 2);
});

Deno.test("p toggles pause and ? toggles help; esc closes help", () => {
  assert.equal(keys([["p"]]).paused, true);
  assert.equal(keys([["p"], ["p"]]).paused, false);
  assert.equal(keys([["?"]]).help, true);
  assert.equal(keys([["?"], ["", { escape: true }]]).help, false);
  assert.equal(keys([["?"], ["", { tab: true }]]).panel, 0);
});

Deno.test("q in the foreground asks; y stops, n and esc go back", () => {
  const asked = keys([["q"]]);
  assert.equal(asked.confirm, true);
  assert.equal(asked.exit, null);
  assert.equal(keys([["y"]], ctx, asked).exit, "stop");
  assert.equal(keys([["n"]], ctx, asked).confirm, false);
  assert.equal(keys([["", { escape: true }]], ctx, asked).confirm, false);
  assert.equal(keys([["x"]], ctx, asked).confirm, true);
  assert.equal(keys([["c", { ctrl: true }]]).confirm, true);
});

Deno.test("q when attached detaches at once", () => {
  assert.equal(keys([["q"]], { ...ctx, foreground: false }).exit, "detach");
  assert.equal(keys([["c", { ctrl: true }]], { ...ctx, foreground: false }).exit, "detach");
});

Deno.test("any key leaves once the lab has stopped", () => {
  assert.equal(keys([["", { downArrow: true }]], { ...ctx, stopped: true }).exit, "detach");
});

Deno.test("keys after the exit change nothing", () => {
  const gone = keys([["q"], ["y"]]);
  assert.equal(keys([["n"], ["", { tab: true }]], ctx, gone), gone);
});

Deno.test("a run of characters read together is split into its keys", () => {
  assert.deepEqual(splitKeys("12", {}), [{ input: "1", key: {} }, { input: "2", key: {} }]);
  assert.deepEqual(splitKeys("2\r\n", {}), [
    { input: "2", key: {} },
    { input: "\r", key: { return: true } },
    { input: "\n", key: { return: true } },
  ]);
  assert.deepEqual(splitKeys("\tq\x03\b\x7fY", {}), [
    { input: "", key: { tab: true } },
    { input: "q", key: {} },
    { input: "c", key: { ctrl: true } },
    { input: "", key: { backspace: true } },
    { input: "", key: { delete: true } },
    { input: "Y", key: { shift: true } },
  ]);
  // A character beyond the BMP is one key, not two halves.
  assert.deepEqual(splitKeys("😀1", {}), [{ input: "😀", key: {} }, { input: "1", key: {} }]);
});

Deno.test("a named key, or an escape sequence ink has no name for, is one key as it came", () => {
  for (
    const [input, key] of [
      ["", { upArrow: true }],
      ["", { tab: true, shift: true }],
      ["", { escape: true }],
      ["c", { ctrl: true }],
      ["\r", { return: true }],
      ["Q", { shift: true }],
      ["[57~", {}],
      ["[[5~", {}],
      ["Oz", {}],
      ["\x1b[57~", {}],
    ] as const
  ) {
    assert.deepEqual(splitKeys(input, key), [{ input, key }], JSON.stringify(input));
  }
  assert.equal(reduceKeys(INITIAL_UI, "[57~", {}, ctx).panel, 0, "no fifth panel from [57~");
});

Deno.test("the keys of one run each act on the state the previous one left", () => {
  assert.equal(reduceKeys(INITIAL_UI, "12", {}, ctx).panel, 1);
  const ring = reduceKeys(INITIAL_UI, "2\r", {}, ctx);
  assert.equal(ring.panel, 1);
  assert.equal(ring.ringOpen, true);
  assert.equal(reduceKeys(INITIAL_UI, "\n", {}, ctx).panel, 1, "a lone line feed is enter too");
  assert.equal(reduceKeys(INITIAL_UI, "qy", {}, ctx).exit, "stop");
  const back = reduceKeys(INITIAL_UI, "q\x033", {}, ctx);
  assert.equal(back.confirm, false);
  assert.equal(back.panel, 2);
  assert.equal(reduceKeys(INITIAL_UI, "?\x7f", {}, ctx).help, false);
  assert.equal(reduceKeys(INITIAL_UI, "1\t\t", {}, ctx).panel, 2);
  // A lab that went away: the first key leaves, the rest change nothing.
  assert.equal(reduceKeys(INITIAL_UI, "2y", {}, { ...ctx, stopped: true }).exit, "detach");
});

// The ring view's window as a state draws it: following the device from row 30, 12 rows, or from
// ringScroll (the last page starting at row 244 of 256).
const drawn: KeyContext = {
  ...ctx,
  ringWindow: (s) =>
    s.ringOpen && s.panel === 1 ? { start: Math.min(s.ringScroll ?? 30, 244), rows: 12 } : null,
};

Deno.test("a key read with the one that opened the ring view sees the view it opened", () => {
  // Enter then page down in one read: the page starts from the device's row 30, not row 0.
  const s = [["2", {}], ["", { return: true }], ["", { pageDown: true }]] as const;
  assert.equal(s.reduce((at, [i, k]) => reduceKey(at, i, k, drawn), INITIAL_UI).ringScroll, 42);
});

Deno.test("scroll keys pressed while the ring loads apply from the device's row once drawn", () => {
  const loading: KeyContext = { ...ctx, ringWindow: () => null };
  const open = reduceKeys(INITIAL_UI, "2\r", {}, loading);
  const s = keys([["", { pageDown: true }], ["", { downArrow: true }]], loading, open);
  assert.equal(s.ringScroll, null, "nothing to scroll from yet");
  assert.deepEqual(s.ringPending, { rows: 1, pages: 1 });
  const settled = settleRingScroll(s, drawn);
  assert.equal(settled.ringScroll, 43);
  assert.equal(settled.ringPending, null);
  assert.equal(settleRingScroll(s, loading), s, "still loading: still waiting");
  // Keys after it loaded settle first, then scroll.
  assert.equal(keys([["", { upArrow: true }]], drawn, s).ringScroll, 42);
  assert.equal(keys([["", { escape: true }]], loading, s).ringPending, null, "esc drops them");
});

Deno.test("page up past the ring's end scrolls from the last page drawn", () => {
  const open = reduceKeys(INITIAL_UI, "2\r", {}, drawn);
  const far = { ...open, ringScroll: 900 };
  assert.equal(keys([["", { pageUp: true }]], drawn, far).ringScroll, 232);
});

Deno.test("the keypad in application mode is the main keyboard's digits, enter, + and -", () => {
  const digits = ["Op", "Oq", "Or", "Os", "Ot", "Ou", "Ov", "Ow", "Ox", "Oy"];
  digits.forEach((seq, d) => {
    assert.deepEqual(splitKeys(seq, {}), [{ input: String(d), key: {} }], seq);
  });
  assert.deepEqual(splitKeys("OM", {}), [{ input: "\r", key: { return: true } }]);
  assert.deepEqual(splitKeys("\x1bOM", {}), [{ input: "\r", key: { return: true } }]);
  assert.deepEqual(splitKeys("Ok", {}), [{ input: "+", key: {} }]);
  assert.deepEqual(splitKeys("Om", {}), [{ input: "-", key: {} }]);
  assert.deepEqual(splitKeys("OI", {}), [{ input: "", key: { tab: true } }]);
  assert.equal(reduceKeys(INITIAL_UI, "Or", {}, ctx).panel, 1, "keypad 2: Queues");
  assert.equal(reduceKeys(INITIAL_UI, "Ou", {}, ctx).panel, 4, "keypad 5: IOMMU");
  const queues = reduceKeys(INITIAL_UI, "Or", {}, ctx);
  assert.equal(reduceKeys(queues, "OM", {}, ctx).ringOpen, true, "keypad enter opens the ring");
  assert.equal(reduceKeys(INITIAL_UI, "Os", { ctrl: true }, ctx).panel, 0, "a named key is not");
});

Deno.test("esc and a key read together are esc, then that key", () => {
  // ink reports "\x1b1" as 1 with meta (alt-1's encoding); the dashboard has no alt keys.
  const meta = (k: Record<string, boolean>) => k as Record<string, boolean>;
  assert.deepEqual(splitKeys("1", meta({ meta: true })), [
    { input: "", key: { escape: true } },
    { input: "1", key: {} },
  ]);
  assert.deepEqual(splitKeys("Q", meta({ meta: true, shift: true })), [
    { input: "", key: { escape: true } },
    { input: "Q", key: { shift: true } },
  ]);
  assert.deepEqual(splitKeys("", meta({ meta: true, escape: true })), [
    { input: "", key: { meta: true, escape: true } },
  ], "esc alone stays esc");
  // "\x1b\x1b[A", esc then ↑ read together, reaches us as ↑ with meta: esc was lost.
  assert.deepEqual(splitKeys("", meta({ meta: true, upArrow: true })), [
    { input: "", key: { escape: true } },
    { input: "", key: { upArrow: true } },
  ], "esc then an arrow");
  assert.deepEqual(splitKeys("\r", meta({ meta: true, return: true })), [
    { input: "", key: { escape: true } },
    { input: "\r", key: { return: true } },
  ], "esc then enter");
  // "\x1b\t": ink names no key and hands the tab over alone.
  assert.deepEqual(splitKeys("\t", {}), [
    { input: "", key: { escape: true } },
    { input: "", key: { tab: true } },
  ], "esc then tab");
  assert.deepEqual(splitKeys("", { tab: true }), [{ input: "", key: { tab: true } }], "tab alone");
  // In the help, esc then 3: the help closes and 3 opens Links (the 3 was swallowed).
  const help = reduceKeys(INITIAL_UI, "?", {}, ctx);
  const after = reduceKeys(help, "3", meta({ meta: true }), ctx);
  assert.equal(after.help, false);
  assert.equal(after.panel, 2);
});

Deno.test("up and down scroll the help within its lines; ? opens it at the top", () => {
  const c = { ...ctx, helpScrollMax: 3 };
  const help = reduceKeys(INITIAL_UI, "?", {}, c);
  assert.equal(keys([["", { downArrow: true }]], c, help).helpScroll, 1);
  assert.equal(keys([["", { pageDown: true }]], c, help).helpScroll, 3, "no further than its end");
  assert.equal(keys([["", { upArrow: true }]], c, help).helpScroll, 0);
  const scrolled = keys([["", { pageDown: true }]], c, help);
  assert.equal(reduceKeys(reduceKeys(scrolled, "?", {}, c), "?", {}, c).helpScroll, 0);
  assert.equal(keys([["", { downArrow: true }]], c, help).panel, 0, "the panel stays");
});

Deno.test("a pasted word that names an Object property is its characters, not a keypad key", () => {
  // KEYPAD was a plain object: "toString" found Object.prototype's and splitKeys threw.
  for (const word of ["toString", "constructor", "__proto__", "hasOwnProperty"]) {
    assert.deepEqual(splitKeys(word, {}).map((k) => k.input).join(""), word);
  }
});
