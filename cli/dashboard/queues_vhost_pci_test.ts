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
