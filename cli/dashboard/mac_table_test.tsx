import assert from "node:assert/strict";
import type { SwitchMacTable } from "../../lab/switch_macs.ts";
import type { DashboardData } from "./app.tsx";
import { macTableLines, type MacView } from "./mac_table.tsx";
import { fixtureData, KEY, renderApp, waitFor } from "./testing.tsx";

/** The star's switch as `vlab fdb sw1` would list it after h1, h2 and h3 sent a frame each. */
const TABLE: SwitchMacTable = {
  switch: "sw1",
  agingMs: 300_000,
  macs: [
    { mac: "52:54:00:00:01:01", port: 0, link: "h1-sw1", peer: "h1:eth0", ageMs: 12_340 },
    { mac: "52:54:00:00:01:02", port: 1, link: "h2-sw1", peer: "h2:eth0", ageMs: 4_500 },
    { mac: "52:54:00:00:01:03", port: 2, link: "h3-sw1", peer: "h3:eth0", ageMs: 200 },
  ],
};

function withMacs(view: MacView | null): DashboardData {
  return { ...fixtureData("star"), macs: view };
}

function lineWith(frame: string, ...parts: string[]): string {
  const line = frame.split("\n").find((l) => parts.every((p) => l.includes(p)));
  assert.ok(line !== undefined, `no line with ${parts.join(", ")} in\n${frame}`);
  return line;
}

function assertFits(frame: string, columns: number, rows: number): void {
  const lines = frame.split("\n");
  assert.ok(lines.length <= rows - 1, `${lines.length} lines on a ${rows}-row terminal`);
  for (const l of lines) assert.ok([...l].length <= columns, `wider than ${columns}: "${l}"`);
}

/** Open the Links panel, select the switch (below the star's four links) and press enter. */
async function openSwitch(app: ReturnType<typeof renderApp>): Promise<string> {
  app.stdin.write("3");
  await waitFor(() => app.frame().includes("[Links]"), "the Links panel");
  for (let i = 0; i < 10 && !/▸ sw1 +switch/.test(app.frame()); i++) {
    const before = app.frame();
    app.stdin.write(KEY.down);
    await waitFor(() => app.frame() !== before, `selection step ${i + 1}`);
  }
  assert.match(app.frame(), /▸ sw1 +switch/, "the switch row is selected");
  assert.match(app.frame(), /enter MAC table/, "the hint offers the MAC table");
  app.stdin.write(KEY.enter);
  await waitFor(() => app.frame().includes("› MAC table sw1"), "the MAC table view");
  await waitFor(() => app.macs.at(-1) === "sw1", "the MAC table selection");
  return app.frame();
}

for (const [columns, rows] of [[80, 24], [140, 40]] as const) {
  Deno.test(`enter on a switch shows its MAC table, refreshed as the source answers (${columns}x${rows})`, async () => {
    const app = renderApp(withMacs(null), { columns, rows });
    try {
      let frame = await openSwitch(app);
      assert.deepEqual(app.macs, ["sw1"]);
      lineWith(frame, "loading the MAC table");
      lineWith(frame, "vlab star", "· 4 links · 1 switch"); // a switch is no link
      lineWith(frame, "forwarded 33.6k", "learned 4");

      app.update(withMacs({ switch: "sw1", table: TABLE, note: null }));
      await waitFor(() => app.frame().includes("52:54:00:00:01:03"), "the stations");
      frame = app.frame();
      assertFits(frame, columns, rows);
      lineWith(frame, "sw1 · MAC table · 3 stations · entries age out after 300 s");
      lineWith(frame, "MAC", "PORT", "LINK", "BEHIND", "AGE");
      lineWith(frame, "52:54:00:00:01:01", " 0 ", "h1-sw1", "h1:eth0", "12.3 s");
      lineWith(frame, "52:54:00:00:01:02", " 1 ", "h2-sw1", "h2:eth0", "4.5 s");
      lineWith(frame, "52:54:00:00:01:03", " 2 ", "h3-sw1", "h3:eth0", "0.2 s");

      // The next read: h4 learned, the others older.
      const next: SwitchMacTable = {
        ...TABLE,
        macs: [
          ...TABLE.macs.map((m) => ({ ...m, ageMs: m.ageMs + 100 })),
          { mac: "52:54:00:00:01:04", port: 3, link: "h4-sw1", peer: "h4:eth0", ageMs: 0 },
        ],
      };
      app.update(withMacs({ switch: "sw1", table: next, note: null }));
      await waitFor(() => app.frame().includes("4 stations"), "the refreshed table");
      lineWith(app.frame(), "52:54:00:00:01:04", "h4:eth0", "0.0 s");
      lineWith(app.frame(), "52:54:00:00:01:01", "12.4 s");

      app.stdin.write(KEY.escape);
      await waitFor(() => app.macs.at(-1) === null, "the MAC table closed");
      await waitFor(() => !app.frame().includes("› MAC table"), "the Links panel again");
      assert.match(app.frame(), /▸ sw1 +switch/, "the switch stays selected");
    } finally {
      app.unmount();
    }
  });
}

Deno.test("the MAC table of a switch that learned nothing says so", async () => {
  const empty: MacView = { switch: "sw1", table: { ...TABLE, macs: [] }, note: null };
  const app = renderApp(withMacs(empty));
  try {
    const frame = await openSwitch(app);
    lineWith(frame, "sw1 · MAC table · 0 stations");
    lineWith(frame, "no station learned yet");
    assert.ok(!frame.includes("BEHIND"), "no table header over no rows");
  } finally {
    app.unmount();
  }
});

Deno.test("a MAC table that could not be read is one line of note, and the keys still work", async () => {
  const note = 'cannot read the MAC table of sw1: Switch "sw1" did not answer';
  const app = renderApp(withMacs({ switch: "sw1", table: null, note }));
  try {
    const frame = await openSwitch(app);
    assert.equal(frame.split("\n").filter((l) => l.includes("did not answer")).length, 1);
    lineWith(frame, "cannot read the MAC table of sw1");
    app.stdin.write(KEY.tab);
    await waitFor(() => app.frame().includes("[Events]"), "the next panel");
    await waitFor(() => app.macs.at(-1) === null, "the MAC table closed");
  } finally {
    app.unmount();
  }
});

Deno.test("enter on a link row opens nothing; the MAC table of another switch is not shown", async () => {
  const app = renderApp(withMacs({ switch: "other", table: TABLE, note: null }));
  try {
    app.stdin.write("3");
    await waitFor(() => app.frame().includes("[Links]"), "the Links panel");
    const before = app.frame();
    app.stdin.write(KEY.enter);
    // Enter on h1-sw1 is not bound: a key that is bound (down) is seen after it.
    app.stdin.write(KEY.down);
    await waitFor(() => app.frame() !== before, "the down key");
    assert.ok(!app.frame().includes("› MAC table"));
    assert.deepEqual(app.macs, []);
    const frame = await openSwitch(app);
    lineWith(frame, "loading the MAC table");
    assert.ok(!frame.includes("52:54:00:00:01:01"), "another switch's rows are not drawn");
  } finally {
    app.unmount();
  }
});

Deno.test("on a narrow terminal the link column goes and the age stays", () => {
  const sw = fixtureData("star").snapshot!.switches[0];
  const view: MacView = { switch: "sw1", table: TABLE, note: null };
  for (const width of [45, 50]) {
    const lines = macTableLines({ switch: sw, view, rates: null, width, height: 20, colors: false })
      .map((l) => l.map((s) => s.text).join(""));
    const row = lines.find((l) => l.includes("52:54:00:00:01:01"));
    assert.ok(row !== undefined, lines.join("\n"));
    assert.ok([...row].length <= width, `${width}: "${row}"`);
    assert.ok(!row.includes("h1-sw1"), `${width}: the link column goes: "${row}"`);
    assert.match(row, /h1:eth0 +12\.3 s$/, `${width}: "${row}"`);
    // The counters wrap rather than being cut: the last one is there.
    assert.ok(lines.some((l) => l.includes("dropped 150")), lines.join("\n"));
  }
  for (const width of [52, 80]) {
    const lines = macTableLines({ switch: sw, view, rates: null, width, height: 20, colors: false })
      .map((l) => l.map((s) => s.text).join(""));
    assert.ok(lines.some((l) => /h1-sw1 +h1:eth0 +12\.3 s$/.test(l)), lines.join("\n"));
  }
});

Deno.test("a table longer than the screen says how many stations are not shown", () => {
  const sw = fixtureData("star").snapshot!.switches[0];
  const macs = Array.from({ length: 30 }, (_, i) => ({
    mac: `52:54:00:00:02:${i.toString(16).padStart(2, "0")}`,
    port: i % 4,
    link: `h${(i % 4) + 1}-sw1`,
    peer: `h${(i % 4) + 1}:eth0`,
    ageMs: i * 1000,
  }));
  const view: MacView = { switch: "sw1", table: { ...TABLE, macs }, note: null };
  const lines = macTableLines({
    switch: sw,
    view,
    rates: null,
    width: 80,
    height: 12,
    colors: false,
  })
    .map((l) => l.map((s) => s.text).join(""));
  assert.equal(lines.length, 12);
  const rows = lines.filter((l) => l.includes("52:54:00:00:02:")).length;
  assert.equal(lines.at(-1), `  … ${30 - rows} more (vlab fdb sw1 lists them all)`);
  assert.equal(rows, 12 - 4 - 1, "title, counters, a blank line, the header and the last line");
});

Deno.test("at 40x10 the MAC table keeps its header and rows, the counters give way", () => {
  const sw = fixtureData("star").snapshot!.switches[0];
  const view: MacView = { switch: "sw1", table: TABLE, note: null };
  // 40x10: the body has 6 lines.
  const lines = macTableLines({
    switch: sw,
    view,
    rates: null,
    width: 40,
    height: 6,
    colors: false,
  })
    .map((l) => l.map((s) => s.text).join(""));
  assert.ok(lines.length <= 6, lines.join("\n"));
  assert.match(lines[0], /^sw1 · MAC table · 3 stations/);
  // Below 43 columns the NIC behind goes too, the age stays.
  assert.ok(lines.some((l) => /^ +MAC +PORT +AGE$/.test(l)), lines.join("\n"));
  for (const [mac, age] of [["01", "12.3"], ["02", "4.5"], ["03", "0.2"]]) {
    const row = lines.find((l) => l.includes(`52:54:00:00:01:${mac}`));
    assert.ok(row !== undefined, `${mac} in\n${lines.join("\n")}`);
    assert.ok([...row].length <= 40, `wider than 40: "${row}"`);
    assert.ok(row.endsWith(` ${age} s`), row);
  }
  assert.ok(lines.some((l) => l.includes("forwarded")), "the counters' first line still fits");
});

Deno.test("at 40 columns the MAC table's title wraps between its items, the aging kept", () => {
  // Cut, it read "sw1 · MAC table · 3 stations · entrie…".
  const sw = fixtureData("star").snapshot!.switches[0];
  const view: MacView = { switch: "sw1", table: TABLE, note: null };
  const lines = macTableLines({
    switch: sw,
    view,
    rates: null,
    width: 40,
    height: 20,
    colors: false,
  })
    .map((l) => l.map((s) => s.text).join(""));
  assert.equal(lines[0], "sw1 · MAC table · 3 stations");
  assert.equal(lines[1], "  · entries age out after 300 s");
  for (const l of lines) assert.ok([...l].length <= 40 && !l.includes("…"), `cut: ${l}`);
});

Deno.test("the MAC table's counters wrap as the Links panel's do: no line begins with a separator", () => {
  // It read "    · evicted 0 · flushed 0 · runts 0" under the counters' first line.
  const data = fixtureData("star");
  const sw = data.snapshot!.switches[0];
  const view: MacView = { switch: "sw1", table: TABLE, note: null };
  for (const width of [40, 60, 80]) {
    const lines = macTableLines({
      switch: sw,
      view,
      rates: data.rates,
      width,
      height: 20,
      colors: false,
    })
      .map((l) => l.map((s) => s.text).join(""));
    const from = lines.findIndex((l) => l.includes("forwarded"));
    const counters = lines.slice(from, lines.indexOf("", from));
    assert.match(counters.join(" "), /forwarded 33\.6k 5\.5k\/s .*dropped 150 300\/s$/);
    for (const l of counters) {
      assert.ok(!/^ *·/.test(l), `${width}: a line begins with a separator: "${l}"`);
      assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
    }
  }
});

Deno.test("a NIC behind longer than its column goes whole on the line under its station", () => {
  // At 52 and 60 columns "abcdefghijklmnop:nic0123456789abc" read "abcdefghijklmn…".
  const sw = fixtureData("star").snapshot!.switches[0];
  const peer = "abcdefghijklmnop:nic0123456789abc";
  const macs = Array.from({ length: 10 }, (_, i) => ({
    mac: `52:54:00:00:03:0${i}`,
    port: i,
    link: "abcdefghijklmnop-switch0123456789",
    peer,
    ageMs: 1000 * i,
  }));
  const view: MacView = { switch: "sw1", table: { ...TABLE, macs }, note: null };
  for (const width of [52, 60]) {
    const lines = macTableLines({ switch: sw, view, rates: null, width, height: 16, colors: false })
      .map((l) => l.map((s) => s.text).join(""));
    assert.ok(lines.length <= 16, lines.join("\n"));
    for (const l of lines) assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
    assert.ok(
      !lines.some((l) => l.includes("…") && !l.includes("more (vlab fdb")),
      lines.join("\n"),
    );
    const rows = lines.flatMap((l, i) => l.includes("52:54:00:00:03:") ? [i] : []);
    assert.ok(rows.length > 0, lines.join("\n"));
    for (const i of rows) assert.equal(lines[i + 1], `    behind ${peer}`, lines.join("\n"));
    assert.equal(lines.at(-1), `  … ${10 - rows.length} more (vlab fdb sw1 lists them all)`);
  }
});
