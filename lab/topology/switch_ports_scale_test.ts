/**
 * A star of 128 VMs on a switch with the default 64 ports: every link beyond the last port is
 * refused at its own endpoint, and each hint says how many ports the switch needs in all, so one
 * edit fixes the file (the hint said only "raise ports_max").
 */

import assert from "node:assert/strict";
import { topologyFromObject } from "./mod.ts";

Deno.test("a star of 128 VMs on a 64-port switch: each refusal says ports_max must be 128", () => {
  const vms = Object.fromEntries(
    Array.from({ length: 128 }, (_, i) => [`h${i}`, { nics: { eth0: {} } }]),
  );
  const links = Array.from({ length: 128 }, (_, i) => ({ endpoints: [`h${i}`, "sw1"] }));
  const r = topologyFromObject({ name: "x", vms, switches: { sw1: {}, sw2: {} }, links });
  assert.ok(!r.ok);
  const full = r.error.filter((p) => p.code === "switch-full");
  assert.equal(full.length, 64);
  assert.equal(full[0].message, 'Switch "sw1" has no free port for link "h64-sw1" (ports_max 64)');
  for (const p of full) {
    assert.equal(p.hint, 'raise switches.sw1.ports_max to 128, the links on "sw1"');
  }
});
