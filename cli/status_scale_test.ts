/**
 * `vlab status` of a large lab: a switch with 128 ports (or a vsock router with 64 VMs) listed
 * its links on one line of about 1,400 characters, which a terminal wraps with no indent.
 */

import assert from "node:assert/strict";
import { formatStatus, wrapList } from "./status.ts";
import type { LabStatus } from "../lab/metrics.ts";

const ports = Array.from({ length: 128 }, (_, i) => `h${i}-sw1`);

Deno.test("a list longer than 100 columns folds after a comma, indented under its first item", () => {
  const lines = wrapList("  sw1: ", ports, " (128 stations in its MAC table: vlab fdb sw1)");
  assert.ok(lines.length > 10, `${lines.length} lines`);
  for (const l of lines) assert.ok(l.length <= 100, `${l.length}: ${l}`);
  assert.ok(lines[0].startsWith("  sw1: h0-sw1, h1-sw1, "));
  for (const l of lines.slice(1)) assert.match(l, /^ {7}h\d/);
  // Nothing lost, nothing added: unfolded, it is the one line it was.
  assert.equal(
    lines.map((l, i) => i === 0 ? l : l.trimStart()).join(" "),
    `  sw1: ${ports.join(", ")} (128 stations in its MAC table: vlab fdb sw1)`,
  );
  assert.deepEqual(wrapList("  sw1: ", ["a-sw1", "b-sw1"], ""), ["  sw1: a-sw1, b-sw1"]);
});

Deno.test("status of a 128-port switch (or router) has no line over 100 columns in its part", () => {
  const status = {
    name: "star128",
    seed: 1,
    pid: 1,
    uptimeSeconds: 1,
    source: "star128.yaml",
    vms: [],
    switches: [{ name: "sw1", ports, counters: { forwarded: 1 } }],
    links: [],
  } as unknown as LabStatus;
  const text = formatStatus(status);
  const part = text.slice(text.indexOf("  sw1: "), text.indexOf("\nlinks:"));
  for (const l of part.split("\n")) assert.ok(l.length <= 100, `${l.length}: ${l}`);
  assert.match(part, /^ {4}forwarded 1$/m);
});
