import assert from "node:assert/strict";
import type { LabEvent } from "../../lab/events.ts";
import { eventColor, eventsLines } from "./events.tsx";
import stringWidth from "string-width";
import { fitLine } from "./lines.tsx";

function text(events: LabEvent[], width = 80): string[] {
  return eventsLines({ events, scrollBack: 0, width, height: 10, colors: false })
    .map((l) => l.map((s) => s.text).join(""));
}

Deno.test("an event kind as long as its column or longer keeps a space before the subject", () => {
  const lines = text([
    { time: "2026-12-04T21:46:13.827Z", kind: "backend-restarted", subject: "a" },
    { time: "2026-12-04T21:46:22.045Z", kind: "backend-restart-failed", subject: "a" },
    { time: "2026-12-04T21:46:22.048Z", kind: "fault", subject: "a-long-vm-name" },
    { time: "2026-12-04T21:46:22.049Z", kind: "lab-up", subject: "pair", detail: { vms: 2 } },
  ]);
  assert.match(lines[1], /backend-restarted {2}a /, lines[1]);
  // Longer than their columns, a kind and a subject are written whole, not cut: their event
  // leaves the columns (its details, if any, go on the lines below).
  assert.equal(lines[2], "21:46:22.045 backend-restart-failed a", lines[2]);
  assert.equal(lines[3], "21:46:22.048 fault a-long-vm-name", lines[3]);
  assert.match(lines[4], /lab-up +pair +vms=2$/, lines[4]);
  // Every row's columns line up with the header's.
  const at = (l: string, word: string) => l.indexOf(word);
  assert.equal(at(lines[1], " a ") + 1, at(lines[0], "subject"), lines.join("\n"));
  assert.equal(at(lines[4], "vms=2"), at(lines[0], "details"), lines.join("\n"));
});

Deno.test("a detail that is a wall-clock time reads as a UTC clock time, like the time column", () => {
  const lines = text([
    {
      time: "2026-12-04T21:46:13.827Z",
      kind: "backend-restored",
      subject: "a",
      detail: { startAt: 1796420773790.25, restoredAt: 1796420773811.5 },
    },
    {
      time: "2026-12-04T21:46:13.830Z",
      kind: "backend-resumed",
      subject: "a",
      detail: { firstWorkAt: 1796420773829.75, epoch: 2, pauseMs: 39.5, by: "1796420773829" },
    },
  ], 140);
  assert.match(lines[1], /startAt=21:46:13\.790 restoredAt=21:46:13\.811$/, lines[1]);
  // Only the times: other numbers stay numbers, strings stay as they are.
  assert.match(
    lines[2],
    /firstWorkAt=21:46:13\.829 epoch=2 pauseMs=39\.5 by=1796420773829$/,
    lines[2],
  );
  assert.doesNotMatch(lines.join("\n"), /=\d{13}\.\d/, "an epoch in milliseconds is shown");
});

Deno.test("details in wide characters wrap by columns, never past the panel's width", () => {
  const events: LabEvent[] = [
    {
      time: "2026-12-04T21:46:13.827Z",
      kind: "drill-step",
      subject: "a",
      detail: { file: "/home/用户/演练/链路故障演练.yaml", note: "🔥🔥🔥🔥🔥🔥🔥🔥" },
    },
    { time: "2026-12-04T21:46:13.900Z", kind: "lab-up", subject: "データ", detail: { vms: 2 } },
  ];
  for (const width of [40, 60, 80]) {
    // As the panel draws them: each line cut to its width.
    const lines = eventsLines({ events, scrollBack: 0, width, height: 10, colors: false })
      .map((l) => fitLine(l, width).map((s) => s.text).join(""));
    for (const line of lines) {
      // Measured as ink and the terminal measure it, not by the code under test.
      assert.ok(stringWidth(line) <= width, `${stringWidth(line)} columns at ${width}: ${line}`);
    }
    // The long details wrap onto the lines below, every character kept (they were cut with "…").
    const all = lines.map((l) => l.trim()).join("");
    assert.ok(!all.includes("…"), lines.join("\n"));
    assert.ok(all.includes("/home/用户/演练/链路故障演练.yaml"), lines.join("\n"));
    assert.ok(all.includes("note=🔥🔥🔥🔥🔥🔥🔥🔥"), lines.join("\n"));
    if (width < 60) continue;
    // The details column starts at the same column on every row, whatever the subject's script.
    const detailsAt = stringWidth(lines[0].slice(0, lines[0].indexOf("details")));
    const lab = lines.find((l) => l.includes("vms=2")) ?? "";
    assert.equal(stringWidth(lab.slice(0, lab.indexOf("vms=2"))), detailsAt, lab);
  }
});

Deno.test("crashes, hangs, timeouts, broken queues and refused DMA are red, as errors are", () => {
  // They were drawn plain: a vm-crash looked like a vm-ready.
  for (
    const kind of [
      "vm-crash",
      "backend-crash",
      "backend-hung",
      "iommu-fault",
      "iommu-invalidation-timeout",
      "vhost-pci-revoke-timeout",
      "queue-broken",
      "device-error",
      "vm-restart-failed",
    ]
  ) assert.equal(eventColor(kind), "red", kind);
  assert.equal(eventColor("backend-crash-armed"), undefined, "armed, not crashed");
  assert.equal(eventColor("fault"), undefined, "the injection itself");
  assert.equal(eventColor("device-reset"), "yellow");
  assert.equal(eventColor("vm-ready"), "green");
});
