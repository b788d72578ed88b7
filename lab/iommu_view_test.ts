/**
 * A vhost-pci peer's translations through the frontend's vIOMMU are seen: `iommuSnapshot` lists
 * the peer's IOTLB (its window), and /metrics has it, while the frontend NIC's own IOTLB (no
 * device worker touches its queues) stays still.
 */

import assert from "node:assert/strict";
import { iommuSnapshot } from "./iommu_view.ts";
import { prometheusMetrics } from "./prometheus.ts";
import { LAB_TEST, startTestLab } from "./testing.ts";

Deno.test({
  name: "a vhost-pci peer's IOTLB over a's window shows in the snapshot and in /metrics",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "iommu-view-test",
      seed: 1,
      vms: {
        a: { iommu: { mode: "static" }, nics: { eth0: { ip: "10.0.0.1/24", iommu: true } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      links: [{ endpoints: ["a:eth0", "b:eth0"], kind: "vhost-pci" }],
    });
    try {
      const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "3", "-i", "0.01", "-W", "1"]);
      assert.ok(r.ok, r.ok ? "" : r.message);
      const snap = iommuSnapshot(lab, 0)!;
      assert.equal(snap.domains.length, 1, "one endpoint: a's NIC");
      assert.equal(snap.peers?.length, 1);
      const p = snap.peers![0];
      assert.equal(p.peer, "b:eth0");
      assert.equal(p.device, "eth0");
      assert.equal(p.domain, snap.domains[0].domain);
      assert.ok(p.hits + p.misses > 0, JSON.stringify(p));
      assert.match(
        prometheusMetrics(lab),
        /^vlab_iommu_peer_iotlb_hits_total\{lab="iommu-view-test",vm="a",device="eth0",domain="\d+",peer="b:eth0"\} [1-9]\d*$/m,
      );
      assert.equal(iommuSnapshot(lab, 1), null, "b has no vIOMMU");
    } finally {
      await lab.stop();
    }
  },
});
