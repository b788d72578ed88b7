/** `vlab fdb`'s text. */

import assert from "node:assert/strict";
import { formatMacTable } from "./fdb.ts";

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
