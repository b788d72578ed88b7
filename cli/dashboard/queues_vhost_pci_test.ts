import assert from "node:assert/strict";
import type { LabSnapshot } from "../../lab/snapshot_types.ts";
import { queuesLines } from "./queues.tsx";
import { loadFixture } from "./testing.tsx";

Deno.test("the Queues panel says who serves a queue another VM serves (vhost-pci)", () => {
  const snap = loadFixture<LabSnapshot>("pair_1");
  snap.vms[0].devices[0].queues[1].servedBy = "b:eth0 over vhost-pci a-b";
  const text = queuesLines({
    snapshot: snap,
    rates: null,
    history: null,
    selected: 0,
    width: 100,
    height: 30,
    colors: false,
  }).map((l) => l.map((s) => s.text).join("")).join("\n");
  assert.equal(text.match(/served by/g)?.length, 1, text);
  assert.match(text, /a\/eth0 tx[^\n]*\n[^\n]*\n\s+served by b:eth0 over vhost-pci a-b\n/);
});

Deno.test("a long 'served by' wraps between its words instead of running off the line", () => {
  // At 80 columns "    served by qrstuvwxyzabcdef:nic0123456789abc over vhost-pi…" was cut.
  const snap = loadFixture<LabSnapshot>("pair_1");
  const by = "qrstuvwxyzabcdef:nic0123456789abc over vhost-pci abcdefghijklmnop-qrstuvwxyzabcdef";
  snap.vms[0].devices[0].queues[1].servedBy = by;
  for (const width of [40, 80]) {
    const lines = queuesLines({
      snapshot: snap,
      rates: null,
      history: null,
      selected: 0,
      width,
      height: 40,
      colors: false,
    }).map((l) => l.map((s) => s.text).join(""));
    for (const l of lines) assert.ok([...l].length <= width, `wider than ${width}: "${l}"`);
    const at = lines.findIndex((l) => l.startsWith("    served by"));
    assert.ok(at > 0, lines.join("\n"));
    const text = lines.slice(at).join(" ").replace(/\s+/g, " ");
    assert.ok(text.startsWith(` served by ${by}`), lines.join("\n"));
  }
});
