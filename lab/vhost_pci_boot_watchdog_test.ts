/**
 * A vhost-pci frontend whose serving VM reboots after `vm-crash` with a boot time: its link is
 * down the whole time and nothing drains its transmitq. Its transmit watchdog does not take that
 * for a stall (Linux's `dev_watchdog` checks only a NIC whose carrier is ok): before, a 12 s boot
 * of `b` cost `a` a tx-timeout reset every 5 s.
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, vmRestarted } from "./testing.ts";

const VHOST_PCI = {
  name: "vhost-pci-boot-watchdog",
  vms: {
    a: {
      iommu: { mode: "static" },
      // A short watchdog, so that the boot outlasts it several times over.
      nics: { eth0: { ip: "10.0.0.1/24", iommu: true, tx_timeout: "300ms" } },
    },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ kind: "vhost-pci", endpoints: ["a:eth0", "b:eth0"] }],
};

Deno.test({
  name: "a vhost-pci frontend's transmit watchdog does not fire while its peer reboots slowly",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(VHOST_PCI);
    try {
      // a knows b's MAC: its pings go into the transmitq during the boot, not into ARP's queue.
      const first = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1"]);
      assert.ok(first.ok, first.ok ? "" : first.message);
      const from = lab.events.recent().length;
      const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 2000 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      const lost = await lab.exec("a", ["ping", "10.0.0.2", "-c", "10", "-i", "0.1", "-W", "0.1"]);
      assert.ok(lost.ok, lost.ok ? "" : lost.message);
      await vmRestarted(lab, "b", from);
      const resets = lab.events.recent().slice(from).filter((e) =>
        e.kind === "device-needs-reset" && e.subject === "a"
      );
      assert.deepEqual(resets, [], "a's NIC was reset as stalled while its link was down");
      // And it carries traffic once b serves again.
      const back = await lab.exec("a", ["ping", "10.0.0.2", "-c", "3", "-i", "0.05"]);
      assert.ok(back.ok, back.ok ? "" : back.message);
    } finally {
      await lab.stop();
    }
  },
});
