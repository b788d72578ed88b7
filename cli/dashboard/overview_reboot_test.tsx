/**
 * The dashboard's Overview of a VM rebooting after `vm-crash`: beside `restarting`, where the
 * reboot is (`powering on`, `boots in 1.2s`, `guest starting`), as `vlab status` says it.
 */

import assert from "node:assert/strict";
import { fixtureData, renderApp } from "./testing.tsx";

for (const [columns, rows] of [[80, 24], [140, 40]] as const) {
  Deno.test(`overview says how long a rebooting VM's guest still boots at ${columns} columns`, () => {
    const data = fixtureData("pair");
    const snapshot = structuredClone(data.snapshot!);
    snapshot.vms[1].state = "restarting";
    snapshot.vms[1].reboot = { ms: 3000, phase: "boot", bootsInMs: 1240 };
    const app = renderApp({ ...data, snapshot }, { columns, rows });
    try {
      const frame = app.frame();
      assert.match(frame, /b +restarting +boots in 1\.3s/);
      assert.equal(frame.split("boots in").length, 2, "only b reboots");
    } finally {
      app.unmount();
    }
  });
}

Deno.test("overview names the other phases of a reboot", () => {
  for (
    const [phase, words] of [["power-on", "powering on"], [
      "guest-start",
      "guest starting",
    ]] as const
  ) {
    const data = fixtureData("pair");
    const snapshot = structuredClone(data.snapshot!);
    snapshot.vms[1].state = "restarting";
    snapshot.vms[1].reboot = { ms: 0, phase };
    const app = renderApp({ ...data, snapshot }, { columns: 80, rows: 24 });
    try {
      assert.match(app.frame(), new RegExp(`b +restarting +${words}`));
    } finally {
      app.unmount();
    }
  }
});
