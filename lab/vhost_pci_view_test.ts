import assert from "node:assert/strict";
import type { VhostPciLinkSnapshot } from "./snapshot_types.ts";
import { formatVhostPci } from "./vhost_pci_view.ts";

const LINK: VhostPciLinkSnapshot = {
  name: "a-b",
  frontend: "a:eth0",
  peer: "b:eth0",
  window: "vIOMMU static (endpoint 0)",
  state: "up",
  connection: 1,
  connects: 1,
  disconnects: 0,
  framesIn: 10,
  framesOut: 9,
  framesDropped: 0,
  rxWaits: 0,
  partitionDropped: 0,
  interrupts: 5,
  faults: 0,
  revoked: 0,
  lastFault: null,
};

Deno.test("vlab status shows what a vhost-pci peer dropped and its waits, and says nothing when none", () => {
  assert.doesNotMatch(formatVhostPci([LINK])[0], /dropped|waited/);
  const [line] = formatVhostPci([{ ...LINK, framesDropped: 7, rxWaits: 5, partitionDropped: 2 }]);
  assert.match(
    line,
    /10 frames in, 9 out, 7 dropped \(not connected\), waited for RX buffer 5, 2 cut by partitions, /,
  );
});
