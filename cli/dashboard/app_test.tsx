import assert from "node:assert/strict";
import type { RingView } from "../../lab/snapshot_types.ts";
import stringWidth from "string-width";
import { fixtureData, KEY, loadFixture, renderApp, waitFor } from "./testing.tsx";

const SIZES = [[80, 24], [140, 40], [200, 50]] as const;

/** Every line fits the width, and the screen leaves the terminal's last row free. */
function assertFits(frame: string, columns: number, rows: number): void {
  const lines = frame.split("\n");
  assert.ok(lines.length <= rows - 1, `${lines.length} lines on a ${rows}-row terminal`);
  for (const line of lines) {
    assert.ok(stringWidth(line) <= columns, `line wider than ${columns}: "${line}"`);
  }
}

function lineWith(frame: string, ...parts: string[]): string {
  const line = frame.split("\n").find((l) => parts.every((p) => l.includes(p)));
  assert.ok(line !== undefined, `no line with ${parts.join(", ")} in\n${frame}`);
  return line;
}

async function press(
  app: ReturnType<typeof renderApp>,
  keys: string[],
  until: (f: string) => boolean,
  what: string,
) {
  for (const k of keys) app.stdin.write(k);
  await waitFor(() => until(app.frame()), what);
  return app.frame();
}

/** Press `key` until `until` holds (at most 40 times), waiting for each redraw. */
async function scrollUntil(
  app: ReturnType<typeof renderApp>,
  key: string,
  until: (f: string) => boolean,
  what: string,
) {
  for (let i = 0; i < 40 && !until(app.frame()); i++) {
    const before = app.frame();
    app.stdin.write(key);
    await waitFor(() => app.frame() !== before, `a redraw after a key, looking for ${what}`);
  }
  assert.ok(until(app.frame()), what);
  return app.frame();
}

for (const [columns, rows] of SIZES) {
  Deno.test(`overview lists every VM with its state and features by name (${columns}x${rows})`, () => {
    for (const lab of ["pair", "star"] as const) {
      const app = renderApp(fixtureData(lab), { columns, rows });
      const frame = app.frame();
      assertFits(frame, columns, rows);
      const snapshot = fixtureData(lab).snapshot!;
      for (const vm of snapshot.vms) lineWith(frame, ` ${vm.name} `, vm.state);
      const features = lab === "star"
        ? "features MAC MRG_RXBUF STATUS EVENT_IDX VERSION_1 RING_PACKED"
        : "features MAC MRG_RXBUF STATUS EVENT_IDX VERSION_1";
      assert.equal(
        frame.split("\n").filter((l) => l.includes(features)).length,
        snapshot.vms.length,
      );
      app.unmount();
    }
  });

  Deno.test(`a VM whose device needs a reset is shown as such (${columns}x${rows})`, () => {
    const app = renderApp(fixtureData("star"), { columns, rows });
    const frame = app.frame();
    lineWith(frame, "h3", "needs-reset");
    lineWith(frame, "status", "0x4f", "DEVICE_NEEDS_RESET");
    lineWith(frame, "device needs reset");
    lineWith(frame, "link h4-sw1 DOWN");
    app.unmount();
  });

  Deno.test(`queues show layout, size, indices and rates from the fixture deltas (${columns}x${rows})`, async () => {
    const app = renderApp(fixtureData("pair"), { columns, rows });
    const frame = await press(app, [KEY.tab], (f) => f.includes("[Queues]"), "the Queues panel");
    assertFits(frame, columns, rows);
    // a's transmitq: 1000 chains, 1.514 MB, 250 kicks, 100 interrupts, 900 saved in 100 ms.
    const row = lineWith(frame, "a/eth0 tx", "split", "256", "57664", "57638");
    if (columns >= 120) {
      for (const v of ["10.0k/s", "15.1 MB/s", "2.5k/s", "1.0k/s", "9.0k/s"]) {
        assert.ok(row.includes(v), v);
      }
    } else {
      const lines = frame.split("\n");
      const rates = lines[lines.indexOf(row) + 1];
      assert.match(
        rates,
        /req 10\.0k\/s +bytes 15\.1 MB\/s +kicks 2\.5k\/s +irqs 1\.0k\/s +saved 9\.0k\/s/,
      );
    }
    lineWith(frame, "a/eth0 rx", "52355", "52099", "100%");
    app.unmount();
  });

  Deno.test(`packed queues show the device's next slots with wrap counters, pending and occupancy (${columns}x${rows})`, async () => {
    const app = renderApp(fixtureData("star"), { columns, rows });
    const frame = await press(app, [KEY.tab], (f) => f.includes("[Queues]"), "the Queues panel");
    lineWith(frame, "h1/eth0 tx", "packed", "36 w0", "33 w0");
    lineWith(frame, "h2/eth0 rx", "packed", "154 w1", "153 w1");
    assert.ok(frame.includes("5.0k/s"));
    // Pending and occupancy of a packed queue: 255 posted RX buffers + 1 in flight = full.
    const h2rx = lineWith(frame, "h2/eth0 rx", "packed", "100%");
    assert.match(h2rx, /153 w1 +1 +255 /);
    assert.match(lineWith(frame, "h1/eth0 tx", "packed"), / 3 +0 /);
    app.unmount();
  });

  Deno.test(`the split ring view shows descriptors, decoded flags, owners and index markers (${columns}x${rows})`, async () => {
    const ring = loadFixture<RingView>("ring_split");
    const app = renderApp(fixtureData("pair", ring), { columns, rows });
    let frame = await press(
      app,
      ["2", KEY.down, KEY.enter],
      (f) => / 40 0x.*◀ device next/.test(f),
      "the ring view",
    );
    await waitFor(() => app.rings.length === 1, "the ring selection");
    assert.deepEqual(app.rings, [{ vm: "a", nic: "eth0", queue: 1 }]);
    assertFits(frame, columns, rows);
    lineWith(frame, "a/eth0 transmitq", "split", "256 entries");
    lineWith(frame, "avail.idx 57664 → slot 64");
    lineWith(frame, "24 waiting, 2 in flight");
    lineWith(frame, " 38 0x00409800", "NEXT", " 39 ", "◀ used");
    lineWith(frame, " 40 0x0040a000", "◀ device next");
    lineWith(frame, " 41 0x0040a040", "1514");
    // Scroll to avail.idx's slot and the chains the driver and the device hold.
    frame = await scrollUntil(
      app,
      KEY.pageDown,
      (f) => / 64 0x.*◀ avail/.test(f),
      "◀ avail at slot 64",
    );
    lineWith(frame, " 64 ", "◀ avail");
    frame = await scrollUntil(app, KEY.down, (f) => f.includes(" 80 0x"), "row 80");
    lineWith(frame, " 76 0x00413000", "NEXT", "77", "device");
    lineWith(frame, " 80 0x00414000", "NEXT", "driver");
    assertFits(frame, columns, rows);
    frame = await press(app, [KEY.escape], (f) => f.includes("occupancy"), "back to the queues");
    await waitFor(() => app.rings.length === 2, "the ring closed");
    assert.deepEqual(app.rings, [{ vm: "a", nic: "eth0", queue: 1 }, null]);
    app.unmount();
  });

  Deno.test(`the packed ring view marks the device's next slots with wrap counters (${columns}x${rows})`, async () => {
    const ring = loadFixture<RingView>("ring_packed");
    const app = renderApp(fixtureData("star", ring), { columns, rows });
    const frame = await press(
      app,
      ["2", KEY.down, KEY.down, KEY.enter],
      (f) => /154 0x.*◀ next avail/.test(f),
      "the ring view",
    );
    await waitFor(() => app.rings.length === 1, "the ring selection");
    assert.deepEqual(app.rings, [{ vm: "h2", nic: "eth0", queue: 0 }]);
    assertFits(frame, columns, rows);
    lineWith(frame, "h2/eth0 receiveq", "packed");
    lineWith(frame, "device next avail slot 154 (wrap 1)");
    lineWith(frame, "153 0x", "WRITE|AVAIL", "193", "device", "◀ next used w1");
    lineWith(frame, "154 0x", "WRITE|AVAIL", "driver", "◀ next avail w1");
    lineWith(frame, "152 0x", "WRITE|AVAIL|USED", "free");
    app.unmount();
  });

  Deno.test(`links show both directions, drops by cause and impairments (${columns}x${rows})`, async () => {
    const app = renderApp(fixtureData("pair"), { columns, rows });
    let frame = await press(app, ["3"], (f) => f.includes("[Links]"), "the Links panel");
    assertFits(frame, columns, rows);
    lineWith(frame, "a:eth0 → b:eth0", "9.9k/s", "15.0 MB/s");
    lineWith(frame, "b:eth0 → a:eth0", "1.0k/s", "66.0 kB/s");
    lineWith(frame, "delay 2ms loss 0.1%");
    lineWith(frame, "loss 710 +100/s");
    lineWith(frame, "waited for RX buffer 35");
    assert.equal(frame.split("\n").filter((l) => l.includes("no drops")).length, 1);
    assert.ok(!frame.includes("no RX buffer"), "a wait is not shown as a drop");
    app.unmount();
    const star = renderApp(fixtureData("star"), { columns, rows });
    frame = await press(star, ["3", KEY.down], (f) => f.includes("▸ h2-sw1"), "h2-sw1 selected");
    lineWith(frame, "queue limit 4.4k +4.0k/s", "full ring 150 +300/s");
    if (columns >= 200) {
      // Room for every cause, the waits and the impairment on one line, nothing cut.
      lineWith(frame, "full ring 150 +300/s · waited for RX buffer 45 +50/s ", "rate 50mbit");
    } else lineWith(frame, "waited for RX buffe");
    lineWith(frame, "rate 50mbit limit 64");
    frame = await press(
      star,
      [KEY.down, KEY.down],
      (f) => f.includes("▸ h4-sw1"),
      "h4-sw1 selected",
    );
    lineWith(frame, "h4-sw1", "DOWN");
    assertFits(frame, columns, rows);
    star.unmount();
  });

  Deno.test(`events show timestamps, kinds and subjects (${columns}x${rows})`, async () => {
    const app = renderApp(fixtureData("star"), { columns, rows });
    const frame = await press(app, ["4"], (f) => f.includes("[Events]"), "the Events panel");
    assertFits(frame, columns, rows);
    lineWith(frame, "14:10:30.640", "link-down", "h4-sw1");
    lineWith(frame, "14:10:21.377", "vm-needs-reset", "h3");
    lineWith(frame, "14:10:00.050", "lab-up");
    app.unmount();
  });
}

Deno.test("key 5 opens the IOMMU panel with each VM's vIOMMU domains", async () => {
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  snapshot.vms[0].iommu = {
    mode: "lazy",
    domains: [{
      device: "eth0",
      endpoint: 0,
      domain: 1,
      mappings: 42,
      hits: 10,
      misses: 5,
      invalidations: 3,
      faults: 0,
      lastFaultIova: null,
      lastFaultAccess: null,
    }],
  };
  const app = renderApp({ ...data, snapshot }, { columns: 80, rows: 24 });
  const frame = await press(app, ["5"], (f) => f.includes("[IOMMU]"), "the IOMMU panel");
  assertFits(frame, 80, 24);
  lineWith(frame, "a", "vIOMMU", "lazy");
  lineWith(frame, "eth0", "42", "10", "5", "3");
  app.unmount();
});

Deno.test("the overview shows the events beside it from 120 columns", () => {
  const app = renderApp(fixtureData("pair"), { columns: 140, rows: 40 });
  lineWith(app.frame(), "▸ a", "│", "time (UTC)");
  lineWith(app.frame(), "│", "13:02:10.512", "link-down");
  app.unmount();
});

Deno.test("tab switches panels and enter on a VM opens its queues", async () => {
  const app = renderApp(fixtureData("star"));
  assert.ok(app.frame().includes("[Overview]"));
  await press(app, [KEY.tab], (f) => f.includes("[Queues]"), "Queues");
  await press(app, [KEY.tab], (f) => f.includes("[Links]"), "Links");
  await press(
    app,
    [KEY.shiftTab, KEY.shiftTab],
    (f) => f.includes("[Overview]"),
    "back to Overview",
  );
  const frame = await press(
    app,
    [KEY.down, KEY.down, KEY.enter],
    (f) => f.includes("[Queues]"),
    "h3's queues",
  );
  lineWith(frame, "▸ h3/eth0 rx");
  app.unmount();
});

Deno.test("keys typed faster than the redraw each apply", async () => {
  const app = renderApp(fixtureData("star"));
  app.stdin.write("2");
  app.stdin.write(KEY.down);
  app.stdin.write(KEY.down);
  app.stdin.write(KEY.down);
  await waitFor(() => app.frame().includes("▸ h2/eth0 tx"), "the fourth queue selected");
  app.unmount();
});

// A terminal read can hold several keys (fast typing, a paste, a slow link, `tmux send-keys 2
// Enter`): ink hands a run of plain characters to the handler as one string, and each key in it
// must act in turn, as if typed one by one.
Deno.test("two digits in one read each switch the panel", async () => {
  const app = renderApp(fixtureData("pair"));
  app.stdin.write("12");
  await waitFor(() => app.frame().includes("[Queues]"), "the Queues tab after 1 then 2");
  app.unmount();
});

Deno.test("a digit and enter in one read open the panel, then its selection", async () => {
  const app = renderApp(fixtureData("pair"));
  app.stdin.write("2\r");
  await waitFor(() => app.frame().includes("› ring "), "the ring view of the first queue");
  assert.ok(app.frame().includes("[Queues]"));
  await waitFor(() => app.rings.some((r) => r !== null), "the ring asked for");
  app.unmount();
});

Deno.test("a line feed in a run is enter too", async () => {
  const app = renderApp(fixtureData("pair"));
  app.stdin.write("2\n");
  await waitFor(() => app.frame().includes("› ring "), "the ring view of the first queue");
  app.unmount();
});

Deno.test("tab, backspace and ctrl-c inside a run act as those keys", async () => {
  const app = renderApp(fixtureData("pair"), { foreground: true });
  // 2 → Queues, tab → Links, 1 → Overview, enter → the first VM's queues, enter → its ring,
  // backspace → back to the list, q → the question, ctrl-c → no question.
  app.stdin.write("2\t1\r\r\x7fq\x03");
  await waitFor(
    () => app.frame().includes("[Queues]") && !app.frame().includes("› ring"),
    "the queue list again",
  );
  assert.ok(!app.frame().includes("Stop the lab?"), app.frame());
  assert.deepEqual(app.exits, []);
  app.unmount();
});

Deno.test("q and y in one read stop the lab; q n 3 in one read go on to Links", async () => {
  const stop = renderApp(fixtureData("pair"), { foreground: true });
  stop.stdin.write("qy");
  await waitFor(() => stop.exits.length > 0, "the exit");
  assert.deepEqual(stop.exits, ["stop"]);
  stop.unmount();
  const stay = renderApp(fixtureData("pair"), { foreground: true });
  stay.stdin.write("qn3");
  await waitFor(() => stay.frame().includes("[Links]"), "the Links tab");
  assert.ok(!stay.frame().includes("Stop the lab?"));
  assert.deepEqual(stay.exits, []);
  stay.unmount();
});

Deno.test("digits and arrows in one read apply in order", async () => {
  const app = renderApp(fixtureData("star"));
  app.stdin.write(`2${KEY.down}${KEY.down}${KEY.down}\r`);
  await waitFor(() => app.frame().includes("› ring h2/eth0 tra"), "the fourth queue's ring");
  app.unmount();
});

Deno.test("esc read together with an arrow or tab closes the view, then the key acts", async () => {
  // `tmux send-keys Escape Up`, esc then ↑ typed fast: "\x1b\x1b[A" in one read, which ink reports
  // as ↑ with meta; the ring view stayed open.
  const app = renderApp(fixtureData("star"));
  app.stdin.write(`2${KEY.down}\r`);
  await waitFor(() => app.frame().includes("› ring h1/eth0 tra"), "the ring view");
  app.stdin.write(`${KEY.escape}${KEY.down}`);
  await waitFor(() => !app.frame().includes("› ring"), "the ring view closed");
  await waitFor(() => /▸ h2\/eth0 rx/.test(app.frame()), "the next queue selected");
  // Esc and tab: "\x1b\t" reaches the App as a tab of no name.
  app.stdin.write("\r");
  await waitFor(() => app.frame().includes("› ring h2/eth0 rec"), "the ring view again");
  app.stdin.write(`${KEY.escape}${KEY.tab}`);
  await waitFor(() => app.frame().includes("[Links]"), "the Links panel");
  app.unmount();
});

Deno.test("a key ink does not know stays one key, never its digits", async () => {
  const app = renderApp(fixtureData("pair"));
  // F18-ish "\x1b[57~" and an SS3 key of no name "\x1bOz": ink hands them over as "[57~" and
  // "Oz"; read as single characters the 5 would open the IOMMU panel.
  app.stdin.write(`\x1b[57~\x1bOz${KEY.right}`);
  await waitFor(() => app.frame().includes("[Queues]"), "the Queues tab after →");
  app.unmount();
});

// A terminal in application keypad mode sends ESC O p .. ESC O y for the keypad's 0..9 and
// ESC O M for its enter: they act as the main keyboard's digits and enter.
Deno.test("the keypad's digits and enter in application mode act as the main keyboard's", async () => {
  const app = renderApp(fixtureData("pair"));
  app.stdin.write("\x1bOr");
  await waitFor(() => app.frame().includes("[Queues]"), "the Queues tab after keypad 2");
  app.stdin.write("\x1bOM");
  await waitFor(() => app.frame().includes("› ring "), "the ring view after keypad enter");
  app.stdin.write("\x1bOu");
  await waitFor(() => app.frame().includes("[IOMMU]"), "the IOMMU tab after keypad 5");
  app.stdin.write("\x1bOq\x1bOs");
  await waitFor(() => app.frame().includes("[Links]"), "keypad 1 then 3 in one read: Links");
  app.unmount();
});

/** The ring view's table rows, by number, in a frame. */
function ringRows(frame: string): number[] {
  return frame.split("\n").flatMap((l) => {
    const m = /^ *(\d+) 0x[0-9a-f]+ /.exec(l);
    return m === null ? [] : [Number(m[1])];
  });
}

/** The ring view of a/eth0 transmitq, opened and paged down once, key by key. */
async function pagedOnce(): Promise<number[]> {
  const ring = loadFixture<RingView>("ring_split");
  const app = renderApp(fixtureData("pair", ring));
  let frame = await press(app, ["2", KEY.down, KEY.enter], (f) => /◀ device next/.test(f), "ring");
  frame = await press(app, [KEY.pageDown], (f) => f !== frame, "a page down");
  app.unmount();
  return ringRows(frame);
}

Deno.test("a ring view paged in the read that opened it pages from the device's slot", async () => {
  const expected = await pagedOnce();
  assert.ok(expected[0] > 40, `paged past the device's slot 40: ${expected}`);
  const ring = loadFixture<RingView>("ring_split");
  const app = renderApp(fixtureData("pair", ring));
  app.stdin.write(`2${KEY.down}\r${KEY.pageDown}`);
  await waitFor(() => ringRows(app.frame()).length > 0, "the ring view");
  assert.deepEqual(ringRows(app.frame()), expected);
  app.unmount();
});

Deno.test("a ring view paged while its ring loads pages from the device's slot once loaded", async () => {
  const expected = await pagedOnce();
  const app = renderApp(fixtureData("pair"));
  app.stdin.write(`2${KEY.down}\r${KEY.pageDown}`);
  await waitFor(() => app.frame().includes("loading the ring view"), "the ring view loading");
  app.update(fixtureData("pair", loadFixture<RingView>("ring_split")));
  await waitFor(() => ringRows(app.frame()).length > 0, "the ring view");
  assert.deepEqual(ringRows(app.frame()), expected);
  // Kept once drawn: the next key scrolls from there.
  app.stdin.write(KEY.up);
  await waitFor(() => ringRows(app.frame())[0] === expected[0] - 1, "one row up");
  app.unmount();
});

Deno.test("page up after paging past the ring's end moves up from its last page", async () => {
  const ring = loadFixture<RingView>("ring_split");
  const app = renderApp(fixtureData("pair", ring));
  await press(app, ["2", KEY.down, KEY.enter], (f) => /◀ device next/.test(f), "the ring");
  app.stdin.write(KEY.pageDown.repeat(40));
  await waitFor(() => ringRows(app.frame()).includes(255), "the last page");
  const last = ringRows(app.frame());
  app.stdin.write(KEY.pageUp);
  await waitFor(() => !ringRows(app.frame()).includes(255), "a page up from the last page");
  assert.equal(ringRows(app.frame())[0], last[0] - last.length);
  app.unmount();
});

Deno.test("below 59 columns the tab bar names the selected panel and numbers the others", async () => {
  for (const [columns, rows] of [[40, 10], [58, 12]] as const) {
    const app = renderApp(fixtureData("pair"), { columns, rows });
    const frame = await press(app, ["5"], (f) => f.includes("[5 IOMMU]"), "the IOMMU tab");
    assertFits(frame, columns, rows);
    lineWith(frame, "1 · 2 · 3 · 4 · [5 IOMMU]", "? help");
    app.unmount();
  }
  const wide = renderApp(fixtureData("pair"), { columns: 59, rows: 12 });
  lineWith(wide.frame(), "[Overview]", " Queues ", " IOMMU ", "? help");
  wide.unmount();
});

Deno.test("at 40 columns the tab bar keeps every panel and the key hints end with q quit", async () => {
  // "[1 Overview] ·  2  ·  3  ·  4  ·… ? help": the fifth panel was cut; the hints ended
  // "enter queues…", never saying how to quit.
  const app = renderApp(fixtureData("star"), { columns: 40, rows: 12 });
  for (const key of ["1", "2", "3", "4", "5", "2\r"]) {
    app.stdin.write(key);
    await waitFor(() => app.exits.length === 0, "a redraw");
    await new Promise((resolve) => setTimeout(resolve, 20));
    const lines = app.frame().split("\n");
    assertFits(app.frame(), 40, 12);
    // The header takes two lines here: "star · seed 7 · up 42s · 4 VMs · 4 links", "1 switch".
    const tab = lines[2];
    assert.match(tab, /^\[?1\b.*\b2\b.*\b3\b.*\b4\b.*\b5\b.* \? help$/, tab);
    // (The ring view's title after "›" may be cut: the view's first line names the queue.)
    assert.ok(!tab.replace(/ › .*/, "").includes("…"), tab);
    const hint = lines[lines.length - 1];
    assert.match(hint, / · q quit$/, hint);
    assert.ok(!hint.includes("…"), hint);
  }
  app.unmount();
});

Deno.test("the ring view at 40x10 keeps rows to scroll and the slots on one line", async () => {
  const ring = loadFixture<RingView>("ring_split");
  const app = renderApp(fixtureData("pair", ring), { columns: 40, rows: 10 });
  // Rows without the address column (below 80): "#", len, flags.
  const rowsOf = (f: string) =>
    f.split("\n").flatMap((l) => /^ +(\d+) +\d+ [A-Z-]/.exec(l)?.slice(1).map(Number) ?? []);
  let frame = await press(app, ["2", KEY.down, KEY.enter], (f) => rowsOf(f).length > 0, "rows");
  assertFits(frame, 40, 10);
  assert.equal(rowsOf(frame).length, 3, frame);
  assert.ok(rowsOf(frame).includes(40), `the device's slot 40 is shown:\n${frame}`);
  // The markers are cut off at 40 columns: the slots are said on one line above the table.
  lineWith(frame, "slot avail 64 · dev next 40 · used 38");
  frame = await press(app, [KEY.pageDown], (f) => rowsOf(f)[0] !== rowsOf(frame)[0], "a page");
  assert.equal(rowsOf(frame).length, 3, frame);
  app.unmount();
});

Deno.test("p shows the paused marker and reports the pause", async () => {
  const app = renderApp(fixtureData("pair"));
  const frame = await press(app, ["p"], (f) => f.includes("[PAUSED]"), "[PAUSED]");
  lineWith(frame, "vlab pair", "[PAUSED]");
  lineWith(frame, "p resume");
  await waitFor(() => app.pauses.length === 1, "the pause callback");
  assert.deepEqual(app.pauses, [true]);
  await press(app, ["p"], (f) => !f.includes("[PAUSED]"), "resumed");
  await waitFor(() => app.pauses.length === 2, "the resume callback");
  assert.deepEqual(app.pauses, [true, false]);
  app.unmount();
});

Deno.test("? shows the help and esc closes it", async () => {
  const app = renderApp(fixtureData("pair"));
  const frame = await press(app, ["?"], (f) => f.includes("Keys"), "the help");
  lineWith(frame, "q, ctrl-c", "quit");
  assertFits(frame, 80, 24);
  await press(app, [KEY.escape], (f) => f.includes("features"), "the overview again");
  app.unmount();
});

Deno.test("q in the foreground asks to stop the lab; y resolves stop", async () => {
  const app = renderApp(fixtureData("pair"), { foreground: true });
  let frame = await press(app, ["q"], (f) => f.includes("Stop the lab? (y/n)"), "the question");
  assert.deepEqual(app.exits, []);
  frame = await press(app, ["n"], (f) => !f.includes("Stop the lab?"), "back");
  lineWith(frame, "q quit");
  await press(app, [KEY.ctrlC], (f) => f.includes("Stop the lab? (y/n)"), "ctrl-c asks too");
  app.stdin.write("y");
  await waitFor(() => app.exits.length > 0, "the exit");
  assert.deepEqual(app.exits, ["stop"]);
  app.unmount();
});

Deno.test("q when attached detaches at once", async () => {
  const app = renderApp(fixtureData("pair"), { foreground: false });
  app.stdin.write("q");
  await waitFor(() => app.exits.length > 0, "the exit");
  assert.deepEqual(app.exits, ["detach"]);
  app.unmount();
});

Deno.test("a lab that went away shows lab stopped and any key detaches", async () => {
  const data = { ...fixtureData("pair"), error: "connection refused" };
  const app = renderApp(data);
  lineWith(app.frame(), "lab stopped: connection refused");
  app.stdin.write(" ");
  await waitFor(() => app.exits.length > 0, "the exit");
  assert.deepEqual(app.exits, ["detach"]);
  app.unmount();
});

Deno.test("why the lab went away is shown whole, wrapped, at 40 columns", () => {
  const error = 'Lab "pair" no longer answers (control socket: no such file or directory)';
  const app = renderApp({ ...fixtureData("pair"), error }, { columns: 40, rows: 10 });
  const frame = app.frame();
  assertFits(frame, 40, 10);
  assert.ok(
    frame.replace(/\n +/g, " ").includes(`lab stopped: ${error}`),
    `the whole reason in\n${frame}`,
  );
  app.unmount();
});

Deno.test("control characters in an event's details never break the screen's lines", async () => {
  const data = fixtureData("pair");
  const snap = data.snapshot!;
  const events = [...snap.events, {
    time: snap.events[0]?.time ?? "2026-01-01T00:00:00.000Z",
    kind: "vm-failed",
    subject: "b",
    detail: { error: "first line\nsecond line\r\x1b[2J\x07 end" },
  }];
  const app = renderApp({ ...data, snapshot: { ...snap, events } }, { columns: 80, rows: 24 });
  const frame = await press(app, ["4"], (f) => f.includes("[Events]"), "the Events panel");
  assertFits(frame, 80, 24);
  const lines = frame.split("\n");
  assert.equal(lines.length, 23, frame);
  assert.match(lines[22], /q quit/, "the key hints stay on the last line");
  for (const line of lines) {
    const control = [...line].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);
    assert.ok(!control, `a control character in "${line}"`);
  }
  lineWith(frame, "vm-failed", "error=first line␊second line␍␛[2J␇ end");
  app.unmount();
});

Deno.test("events scrolled back past the oldest come forward at the first ↓", async () => {
  const data = fixtureData("pair");
  const snap = data.snapshot!;
  const events = Array.from({ length: 40 }, (_, i) => ({
    time: new Date(Date.UTC(2026, 0, 1, 12, 0, i)).toISOString(),
    kind: "link-down",
    subject: "a-b",
    detail: { n: i },
  }));
  const app = renderApp({ ...data, snapshot: { ...snap, events } }, { columns: 80, rows: 24 });
  await press(app, ["4"], (f) => f.includes("n=39"), "the newest event");
  // 19 events fit below the header: 21 back shows the oldest; 30 ↑ go no further.
  app.stdin.write(KEY.up.repeat(30));
  const top = await press(app, [], (f) => f.includes("n=0"), "the oldest event");
  assert.ok(top.includes("(21 newer below)"), top);
  app.stdin.write(KEY.down);
  await waitFor(() => app.frame().includes("(20 newer below)"), "one event forward");
  assert.ok(!app.frame().includes("n=0"), app.frame());
  app.unmount();
});

Deno.test("the key hints offer only what the panel's arrows do", async () => {
  const app = renderApp(fixtureData("pair"));
  let frame = await press(app, ["4"], (f) => f.includes("[Events]"), "the Events panel");
  lineWith(frame, "tab/←→ panel · ↑↓ scroll · p pause");
  frame = await press(app, ["5"], (f) => f.includes("[IOMMU]"), "the IOMMU panel");
  lineWith(frame, "tab/←→ panel · p pause");
  frame = await press(app, ["1"], (f) => f.includes("[Overview]"), "the Overview");
  lineWith(frame, "tab/←→ panel · ↑↓ select · enter queues");
  app.unmount();
});

Deno.test("at 40x10 the help scrolls to every key, each description whole", async () => {
  const app = renderApp(fixtureData("pair"), { columns: 40, rows: 10 });
  let frame = await press(app, ["?"], (f) => f.includes("Keys"), "the help");
  assertFits(frame, 40, 10);
  lineWith(frame, "more lines (↑↓ scroll)");
  assert.ok(!frame.includes("q, ctrl-c"), frame);
  app.stdin.write(KEY.down.repeat(40));
  frame = await press(app, [], (f) => f.includes("whether to stop it."), "the help's end");
  assertFits(frame, 40, 10);
  assert.ok(!frame.includes("more lines"), frame);
  // One ↑ from the end moves at once (the scroll stopped at the end, not 40 lines down).
  app.stdin.write(KEY.up);
  frame = await press(app, [], (f) => !f.includes("whether to stop it."), "one line up");
  app.stdin.write(KEY.up.repeat(40));
  frame = await press(app, [], (f) => f.includes("Keys"), "the help's top");
  // Every key, and its whole description, on the way down.
  const seen = new Set<string>();
  for (let i = 0; i < 40 && !app.frame().includes("whether to stop it."); i++) {
    for (const l of app.frame().split("\n")) seen.add(l.trim());
    const before = app.frame();
    app.stdin.write(KEY.down);
    await waitFor(() => app.frame() !== before, `help line ${i + 1}`);
  }
  const text = [...seen].join(" ");
  for (const k of ["q, ctrl-c", "quit (a foreground lab asks whether", "pause / resume"]) {
    assert.ok(text.includes(k), `${k} in ${text}`);
  }
  app.unmount();
});

Deno.test("a scrolled list never begins with the tail of an entry above the screen", async () => {
  const app = renderApp(fixtureData("star"), { columns: 80, rows: 12 });
  await press(app, ["2"], (f) => f.includes("[Queues]"), "the Queues panel");
  for (let i = 0; i < 5; i++) {
    const before = app.frame();
    app.stdin.write(KEY.down);
    await waitFor(() => app.frame() !== before, `queue ${i + 2}`);
    // The header line, then a queue's own row: never a rate line whose queue is cut off.
    const first = app.frame().split("\n")[3];
    assert.ok(!/^ +req /.test(first), `queue ${i + 2}: the list begins with "${first}"`);
  }
  await press(app, ["3"], (f) => f.includes("[Links]"), "the Links panel");
  for (let i = 0; i < 3; i++) {
    const before = app.frame();
    app.stdin.write(KEY.down);
    await waitFor(() => app.frame() !== before, `link ${i + 2}`);
    const first = app.frame().split("\n")[3];
    assert.match(first, /^[▸ ] \S+ +(up|DOWN)/, `link ${i + 2}: the list begins with "${first}"`);
  }
  app.unmount();
});

Deno.test("a terminal too small says so in what there is, and q still quits", async () => {
  // Drawn at 20x8 whatever the terminal, a 10x3 one wrapped and scrolled the screen into garbage.
  for (const [columns, rows] of [[10, 3], [30, 6], [19, 20]]) {
    const app = renderApp(fixtureData("pair"), { columns, rows, foreground: false });
    const frame = app.frame();
    assertFits(frame, columns, rows);
    assert.match(frame.replace(/\n/g, " "), /terminal too small/, frame);
    if (columns >= 30) {
      assert.match(
        frame.replace(/\n/g, " "),
        new RegExp(`${columns}×${rows}, the dashboard needs 20×8`),
      );
    }
    app.stdin.write("q");
    await waitFor(() => app.exits.length === 1, "q to detach");
    app.unmount();
  }
  const fg = renderApp(fixtureData("pair"), { columns: 30, rows: 6, foreground: true });
  const asked = await press(fg, ["q"], (f) => f.includes("Stop the lab? (y/n)"), "the question");
  assertFits(asked, 30, 6);
  fg.stdin.write("y");
  await waitFor(() => fg.exits.length === 1, "y to stop");
  assert.deepEqual(fg.exits, ["stop"]);
  fg.unmount();
});

Deno.test("before the first snapshot the screen says it is waiting", () => {
  const app = renderApp({ snapshot: null, rates: null, history: null, ring: null, error: null });
  lineWith(app.frame(), "waiting for the first snapshot");
  assertFits(app.frame(), 80, 24);
  app.unmount();
});

Deno.test("long names are cut with an ellipsis and never widen a line", () => {
  const data = fixtureData("star");
  const snap = data.snapshot!;
  const long = "a-very-long-vm-name-that-goes-on-and-on-and-on-and-on-and-on-and-on-and-on";
  const vms = snap.vms.map((v, i) => (i === 0 ? { ...v, name: long } : v));
  const app = renderApp({ ...data, snapshot: { ...snap, vms } });
  assertFits(app.frame(), 80, 24);
  assert.ok(app.frame().includes("…"));
  app.unmount();
});

Deno.test("events scrolled back stay in view while new events come in", async () => {
  const data = fixtureData("pair");
  const snap = data.snapshot!;
  const event = (i: number) => ({
    time: new Date(Date.UTC(2026, 0, 1, 12, 0, i)).toISOString(),
    kind: "link-down",
    subject: "a-b",
    detail: { n: i },
  });
  // The snapshot's last 50 events, as the lab keeps them.
  const upTo = (last: number) =>
    Array.from({ length: Math.min(50, last + 1) }, (_, i) => event(last - Math.min(49, last) + i));
  const app = renderApp({ ...data, snapshot: { ...snap, events: upTo(39) } }, {
    columns: 80,
    rows: 24,
  });
  await press(app, ["4"], (f) => f.includes("n=39"), "the newest event");
  app.stdin.write(KEY.up.repeat(5));
  let frame = await press(app, [], (f) => f.includes("(5 newer below)"), "5 events back");
  const newestShown = (f: string) => [...f.matchAll(/n=(\d+)/g)].map((m) => Number(m[1])).at(-1);
  assert.equal(newestShown(frame), 34, frame);
  // Three more events: the view keeps showing the same ones, now 8 newer below.
  app.update({ ...data, snapshot: { ...snap, events: upTo(42) } });
  frame = await press(app, [], (f) => f.includes("newer below)"), "the view");
  assert.equal(newestShown(frame), 34, frame);
  assert.ok(frame.includes("(8 newer below)"), frame);
  // Past the 50 the lab keeps, the oldest fall off the list; the view still holds its events.
  app.update({ ...data, snapshot: { ...snap, events: upTo(55) } });
  await waitFor(() => app.frame().includes("(21 newer below)"), "the view after 13 more");
  assert.equal(newestShown(app.frame()), 34, app.frame());
  // At the newest (not scrolled back), new events come in at the bottom as before.
  app.stdin.write(KEY.down.repeat(30));
  await waitFor(() => newestShown(app.frame()) === 55, "the newest event again");
  app.update({ ...data, snapshot: { ...snap, events: upTo(57) } });
  await waitFor(() => newestShown(app.frame()) === 57, "the newest event followed");
  assert.ok(!app.frame().includes("newer below"), app.frame());
  app.unmount();
});

Deno.test("on a narrow screen the ring view and MAC table cut their title in the tab bar, never a tab", async () => {
  for (const columns of [20, 24, 30, 36]) {
    const app = renderApp(fixtureData("pair"), { columns, rows: 10 });
    const frame = await press(app, ["2", KEY.enter], (f) => f.includes("↑↓ scroll"), "the ring");
    assertFits(frame, columns, 10);
    const bar = frame.split("\n").find((l) => l.includes("[2 Queues]")) ?? "";
    assert.ok(/1 ?· ?\[2 Queues\] ?· ?3 ?· ?4 ?· ?5/.test(bar), `${columns} columns: ${bar}`);
    app.unmount();
  }
  for (const columns of [20, 30, 36]) {
    const app = renderApp(fixtureData("star"), { columns, rows: 12 });
    await press(app, ["3"], (f) => f.includes("[3 Links]"), "the Links panel");
    app.stdin.write(KEY.down.repeat(4));
    const frame = await press(app, [KEY.enter], (f) => f.includes("MAC table"), "the MAC table");
    const bar = frame.split("\n").find((l) => l.includes("[3 Links]")) ?? "";
    assert.ok(/1 ?· ?2 ?· ?\[3 Links\] ?· ?4 ?· ?5/.test(bar), `${columns} columns: ${bar}`);
    app.unmount();
  }
});

Deno.test("a lab stopped under a small screen says every word of why and how the dashboard ends", () => {
  const error = 'Lab "split-vs-packed" was stopped at 06:18:40 UTC';
  for (const [columns, rows] of [[20, 8], [30, 9], [40, 10], [80, 24]] as const) {
    const app = renderApp({ ...fixtureData("star"), error }, { columns, rows });
    const frame = app.frame();
    assertFits(frame, columns, rows);
    const words = frame.replace(/\s+/g, " ");
    assert.ok(words.includes(`lab stopped: ${error}`), `${columns}x${rows}:\n${frame}`);
    assert.ok(
      words.includes("the dashboard closes in 2 s, or press any key"),
      `${columns}x${rows}:\n${frame}`,
    );
    assert.ok(!frame.includes("…"), `${columns}x${rows}, cut:\n${frame}`);
    app.unmount();
  }
});
