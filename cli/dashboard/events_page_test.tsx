import assert from "node:assert/strict";
import type { LabEvent } from "../../lab/events.ts";
import { fixtureData, KEY, renderApp, waitFor } from "./testing.tsx";

Deno.test("pgup and pgdn scroll the Events panel by a page, the events it shows", async () => {
  // They moved 5 events whatever the screen showed (19 here): not the page the docs promise.
  const data = fixtureData("pair");
  const events: LabEvent[] = Array.from({ length: 40 }, (_, i) => ({
    time: new Date(Date.UTC(2026, 0, 1, 12, 0, i)).toISOString(),
    kind: "link-down",
    subject: "a-b",
    detail: { n: i },
  }));
  const app = renderApp({ ...data, snapshot: { ...data.snapshot!, events } }, {
    columns: 80,
    rows: 24,
  });
  try {
    app.stdin.write("4");
    await waitFor(() => app.frame().includes("n=39"), "the newest event");
    app.stdin.write(KEY.pageUp);
    await waitFor(() => app.frame().includes("(19 newer below)"), "a page back");
    assert.ok(app.frame().includes("n=20") && !app.frame().includes("n=21 "), app.frame());
    // The next page stops at the oldest (21 back: 40 events, 19 shown).
    app.stdin.write(KEY.pageUp);
    await waitFor(() => app.frame().includes("(21 newer below)"), "the oldest page");
    assert.ok(app.frame().includes("n=0 ") || /n=0$/m.test(app.frame()), app.frame());
    app.stdin.write(KEY.pageDown);
    await waitFor(() => app.frame().includes("(2 newer below)"), "a page forward");
  } finally {
    app.unmount();
  }
});
