/**
 * The dashboard on a narrow terminal (40 columns and less): the header keeps the lab's facts and
 * the events keep every word, on more lines rather than cut.
 */

import assert from "node:assert/strict";
import stringWidth from "string-width";
import type { LabEvent } from "../../lab/events.ts";
import { eventsLines, eventsScrollMax } from "./events.tsx";
import { fixtureData, KEY, renderApp, waitFor } from "./testing.tsx";

function assertFits(frame: string, columns: number, rows: number): void {
  const lines = frame.split("\n");
  assert.ok(lines.length <= rows - 1, `${lines.length} lines on a ${rows}-row terminal`);
  for (const line of lines) {
    assert.ok(stringWidth(line) <= columns, `line wider than ${columns}: "${line}"\n${frame}`);
  }
}

/** The frame's text with its lines joined by spaces, runs of spaces as one. */
function flat(frame: string): string {
  return frame.split("\n").map((l) => l.trim()).join(" ").replace(/ +/g, " ");
}

Deno.test("at 40 columns the header keeps the lab, uptime and every count, whole", () => {
  // Cut, it read "vlab star · seed 7 · up 42s · 4 VMs · 4…": the links and switches were lost.
  for (
    const [lab, facts] of [
      ["star", ["star", "seed 7", "up 42s", "4 VMs", "4 links", "1 switch"]],
      ["pair", ["pair", "up 3m05s", "2 VMs", "1 link"]],
    ] as const
  ) {
    for (const columns of [40, 30, 20]) {
      const app = renderApp(fixtureData(lab), { columns, rows: 16 });
      const frame = app.frame();
      assertFits(frame, columns, 16);
      const lines = frame.split("\n");
      const tab = lines.findIndex((l) => /^\[?1\b.*·.*\b5\b/.test(l));
      assert.ok(tab >= 1, frame);
      const header = lines.slice(0, tab).join("\n");
      assert.ok(!header.includes("…"), `a cut header:\n${header}`);
      for (const fact of facts) {
        assert.ok(flat(header).includes(fact), `${fact} at ${columns} columns:\n${header}`);
      }
      app.unmount();
    }
  }
  // Where the seed alone is in the way, it gives way and the header keeps one line.
  const pair = renderApp(fixtureData("pair"), { columns: 40, rows: 16 });
  assert.equal(pair.frame().split("\n")[0], "pair · up 3m05s · 2 VMs · 1 link");
  pair.unmount();
});

Deno.test("at 40 columns the paused marker and the tab bar keep their places", async () => {
  const app = renderApp(fixtureData("star"), { columns: 40, rows: 16 });
  app.stdin.write("p");
  await waitFor(() => app.frame().includes("[PAUSED]"), "the paused marker");
  const lines = app.frame().split("\n");
  assertFits(app.frame(), 40, 16);
  assert.match(lines[1], /^1 switch +\[PAUSED\]$/, lines[1]);
  assert.match(lines[2], /^\[1 Overview\] · 2 · 3 · 4 · 5 +\? help$/, lines[2]);
  app.unmount();
});

Deno.test("below 40 columns the tab bar keeps every panel, ? help giving way first", async () => {
  const app = renderApp(fixtureData("star"), { columns: 20, rows: 16 });
  app.stdin.write("4");
  await waitFor(() => app.frame().includes("[4 Events]"), "the Events tab");
  const tab = app.frame().split("\n").find((l) => l.includes("[4 Events]")) ?? "";
  // It was "1 · 2 · 3 · … ? help": the selected panel and the fifth were lost.
  assert.equal(tab, "1·2·3·[4 Events]·5");
  app.unmount();
});

const EVENTS: LabEvent[] = [
  { time: "2026-12-04T21:46:13.827Z", kind: "lab-up", subject: "pair", detail: { vms: 2 } },
  {
    time: "2026-12-04T21:46:14.000Z",
    kind: "device-error",
    subject: "b",
    detail: { nic: "eth0", queue: 1, error: "descriptor 17 points outside guest memory" },
  },
  {
    time: "2026-12-04T21:46:14.001Z",
    kind: "backend-restart-failed",
    subject: "a-very-long-vm-name",
    detail: { error: "worker exited with code 1", attempt: 3 },
  },
];

Deno.test("at 40 columns every event shows its time, kind, subject and every detail", async () => {
  // Cut, an event read "13:00:00.120 lab-up              vms=2 …" and a device error lost
  // which queue and why.
  const data = fixtureData("pair");
  const app = renderApp(
    { ...data, snapshot: { ...data.snapshot!, events: EVENTS } },
    { columns: 40, rows: 24 },
  );
  app.stdin.write("4");
  await waitFor(() => app.frame().includes("[4 Events]"), "the Events panel");
  const frame = app.frame();
  assertFits(frame, 40, 24);
  assert.ok(!frame.includes("…"), frame);
  const text = flat(frame);
  for (
    const part of [
      "21:46:13.827 lab-up pair vms=2",
      "21:46:14.000 device-error b nic=eth0 queue=1 error=descriptor 17 points outside guest memory",
      "21:46:14.001 backend-restart-failed a-very-long-vm-name error=worker exited with code 1 attempt=3",
    ]
  ) {
    assert.ok(text.includes(part), `${part} in\n${frame}`);
  }
  app.unmount();
});

Deno.test("events that wrap scroll back by whole events, the oldest reachable", async () => {
  const data = fixtureData("pair");
  const events: LabEvent[] = Array.from({ length: 12 }, (_, i) => ({
    time: new Date(Date.UTC(2026, 0, 1, 12, 0, i)).toISOString(),
    kind: "link-down",
    subject: "a-b",
    detail: { n: i, by: "vlab link down" },
  }));
  // Two lines an event at 40 columns: 4 fit below the header on a 14-row screen (7 body rows
  // with a one-line header, a tab bar and the hints).
  assert.equal(eventsScrollMax({ events, width: 40, height: 10 }), 8);
  assert.equal(eventsScrollMax({ events, width: 80, height: 10 }), 3);
  const lines = eventsLines({ events, scrollBack: 99, width: 40, height: 10, colors: false });
  assert.match(lines[1].map((s) => s.text).join(""), /^12:00:00\.000 link-down a-b$/);
  const app = renderApp({ ...data, snapshot: { ...data.snapshot!, events } }, {
    columns: 40,
    rows: 14,
  });
  app.stdin.write("4");
  await waitFor(() => app.frame().includes("n=11"), "the newest event");
  app.stdin.write(KEY.up.repeat(30));
  await waitFor(() => app.frame().includes("n=0 "), "the oldest event");
  const top = app.frame();
  assertFits(top, 40, 14);
  assert.ok(top.includes("newer below"), top);
  // One ↓ from the top moves at once: the scroll stopped at the oldest, not 30 events back.
  app.stdin.write(KEY.down);
  await waitFor(() => !app.frame().includes("n=0 "), "one event forward");
  app.unmount();
});

Deno.test("at 40 columns the overview keeps a VM's recovery counts and why its device stopped", () => {
  // Cut, h3's line lost its resets and the explanation ended "the driver mu…".
  const data = fixtureData("star");
  const snapshot = structuredClone(data.snapshot!);
  const h3 = snapshot.vms.findIndex((v) => v.name === "h3");
  snapshot.vms[h3] = {
    ...snapshot.vms[h3],
    cpu: 1,
    recovery: { backendRestarts: 3, deviceResets: 12, reboots: 1 },
  };
  const app = renderApp({ ...data, snapshot }, { columns: 40, rows: 40 });
  const frame = app.frame();
  assertFits(frame, 40, 40);
  const text = flat(frame);
  for (
    const part of [
      "h3 needs-reset cpu 1 restarts 3 · resets 12 · reboots 1",
      "device needs reset: the driver must reset it before it runs again",
    ]
  ) {
    assert.ok(text.includes(part), `${part} in\n${frame}`);
  }
  app.unmount();
});

Deno.test("at 40 columns a queue name longer than its column goes whole on a line of its own", async () => {
  // Cut, "a/vsock0 event" read "a/vsock0 e…".
  const data = fixtureData("pair");
  const snapshot = structuredClone(data.snapshot!);
  const nic = snapshot.vms[0].devices[0];
  snapshot.vms[0].devices.push({
    ...nic,
    nic: "vsock0",
    kind: "virtio-vsock",
    mac: null,
    ip: null,
    link: "a-b-vsock",
    queues: ["rx", "tx", "event"].map((name, index) => ({ ...nic.queues[0], index, name })),
  });
  const app = renderApp({ ...data, snapshot }, { columns: 40, rows: 40 });
  app.stdin.write("2");
  await waitFor(() => app.frame().includes("[2 Queues]"), "the Queues panel");
  const frame = app.frame();
  assertFits(frame, 40, 40);
  assert.ok(!frame.includes("…"), frame);
  const lines = frame.split("\n");
  const at = lines.findIndex((l) => l.trim() === "a/vsock0 event");
  assert.ok(at > 0, frame);
  // Its columns on the next line, under the header's.
  assert.match(lines[at + 1], /^ {14}split +256 /, frame);
  assert.match(frame, /^ {2}a\/vsock0 rx split/m);
  app.unmount();
});

Deno.test("at 40 columns recovery counts that do not fit beside the state start on the next line", () => {
  // With no cpu before them, "▸ h1   running     restarts 3 · resets …" was still cut.
  const data = fixtureData("star");
  const snapshot = structuredClone(data.snapshot!);
  snapshot.vms[0] = {
    ...snapshot.vms[0],
    recovery: { backendRestarts: 3, deviceResets: 12, reboots: 1 },
  };
  const app = renderApp({ ...data, snapshot }, { columns: 40, rows: 40 });
  const frame = app.frame();
  assertFits(frame, 40, 40);
  const lines = frame.split("\n");
  const at = lines.findIndex((l) => l.startsWith("▸ h1 "));
  assert.match(lines[at], /^▸ h1 +running$/, frame);
  assert.equal(lines[at + 1], "    restarts 3 · resets 12 · reboots 1");
  app.unmount();
});
