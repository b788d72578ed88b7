/** `vlab fdb`'s text. */

import assert from "node:assert/strict";
import { formatMacTable, labNamedAsSwitch } from "./fdb.ts";
import { LabError } from "../lab/errors.ts";

Deno.test("vlab fdb's text: a title with the count and the aging, then aligned rows", () => {
  const t = {
    switch: "s1",
    agingMs: 300_000,
    macs: [{ mac: "02:00:00:00:00:01", port: 0, link: "h1-s1", peer: "h1:eth0", ageMs: 1240 }],
  };
  assert.equal(
    formatMacTable(t),
    "switch s1: 1 station (entries age out after 300 s)\n" +
      "  MAC                PORT  LINK   BEHIND   AGE\n" +
      "  02:00:00:00:00:01  0     h1-s1  h1:eth0  1.2 s\n",
  );
  assert.equal(
    formatMacTable({ switch: "s2", agingMs: 300_000, macs: [] }),
    "switch s2: no station learned (entries age out after 300 s)\n",
  );
});

Deno.test("vlab fdb star, the lab's own name, is told that star is the lab, not a switch", () => {
  // It said 'The lab has no switch "star"' with 'Switches: sw1', where status and pingall take it.
  const e = new LabError("unknown-switch", 'The lab has no switch "star"', "Switches: sw1");
  const told = labNamedAsSwitch(e, "star", "star");
  assert.ok(told instanceof LabError);
  assert.equal(told.code, "unknown-switch");
  assert.equal(told.message, 'The lab has no switch "star"');
  assert.equal(
    told.hint,
    '"star" is the lab, not one of its switches: `vlab fdb` shows every switch of it (Switches: sw1)',
  );
  // Another name, or another error, is left as it is.
  assert.equal(labNamedAsSwitch(e, "sw9", "star"), e);
  const other = new LabError("no-lab", "No lab is running", "Start one");
  assert.equal(labNamedAsSwitch(other, "star", "star"), other);
});
