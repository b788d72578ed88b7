/**
 * `iommu-unmap` asked of what it cannot revoke, on the shipped vhost-pci lab: `b` (the serving
 * side, whose NIC has no vIOMMU and must not get one) is told to run it in the frontend's VM, and
 * a name that is no NIC behind `a`'s vIOMMU is quoted, escaped and answered with the NICs that
 * are. Nothing is revoked by either.
 */

import assert from "node:assert/strict";
import { LAB_TEST } from "../lab/testing.ts";
import { bCounters, startVhostPciPair } from "./vhost_pci_pair.ts";
import { VhostPciCounter } from "../devices/vhost_pci/mod.ts";

Deno.test({
  name: "iommu-unmap of what cannot be revoked names the fix and revokes nothing (vhost-pci)",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startVhostPciPair();
    try {
      const onB = await lab.exec("b", ["iommu-unmap", "eth0"]);
      assert.ok(!onB.ok);
      assert.equal(onB.message, "Cannot run iommu-unmap: this VM has no vIOMMU");
      assert.match(onB.hint, /vhost-pci link's window is the frontend's/);

      const unknown = await lab.exec("a", ["iommu-unmap", "eth1"]);
      assert.ok(!unknown.ok);
      assert.equal(
        unknown.message,
        `Cannot revoke "eth1": not a NIC behind this VM's vIOMMU (those: eth0)`,
      );
      assert.match(unknown.hint, /^Name a NIC of this VM with iommu: true/);

      const escaped = await lab.exec("a", ["iommu-unmap", "\x1b[2Jx"]);
      assert.ok(!escaped.ok);
      assert.ok(!escaped.message.includes("\x1b"), "no escape sequence reaches a terminal");
      assert.match(escaped.message, /^Cannot revoke "\\x1b\[2Jx": /);

      assert.equal(bCounters(lab)[VhostPciCounter.revoked], 0, "nothing was revoked");
      assert.equal(bCounters(lab)[VhostPciCounter.faults], 0);
    } finally {
      await lab.stop();
    }
  },
});
