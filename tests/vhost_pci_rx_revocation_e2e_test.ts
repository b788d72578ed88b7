/**
 * Counters add up across window revocations in the other direction: `b` floods `a` (1500-byte
 * frames into `a`'s receiveq) over the shipped vhost-pci topology while `a`'s guest revokes the
 * window three times. Each revocation ends the connection with frames `b` had written into `a`'s
 * receiveq and not yet published: `a` never sees them, and they are counted dropped on the link
 * (`framesDropped`), not out. And each reset of `a`'s NIC first hands up what `b` had published,
 * so every frame counted out reached `a`'s driver. Before, the sink lost 64 to 512 datagrams that
 * no counter showed: `framesOut` counted them at the write, and `a`'s reset discarded published
 * frames its driver had not read yet.
 */

import assert from "node:assert/strict";
import { NetDriverCounter } from "../devices/net/metrics.ts";
import { VhostPciCounter } from "../devices/vhost_pci/mod.ts";
import type { SinkResult } from "../lab/guest/workloads/sink.ts";
import type { UdpFloodResult } from "../lab/guest/workloads/udp_flood.ts";
import { LAB_TEST } from "../lab/testing.ts";
import { deviceControl } from "../lab/wire/control.ts";
import { bCounters, startVhostPciPair } from "./vhost_pci_pair.ts";

Deno.test({
  name: "b → a over vhost-pci: frames a revocation leaves unpublished are counted dropped",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startVhostPciPair();
    try {
      const sink = await lab.spawn("a", ["sink", "-p", "9000", "-t", "3"]);
      assert.ok(sink.started);
      const flood = lab.exec("b", [
        "udp-flood",
        "10.0.0.1",
        "-p",
        "9000",
        "--max",
        "-s",
        "1500",
        "-t",
        "1.5",
      ]);
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const r = await lab.exec("a", ["iommu-unmap", "eth0"]);
        assert.ok(r.ok, r.ok ? "" : r.message);
      }
      const f = await flood;
      assert.ok(f.ok, f.ok ? "" : f.message);
      const s = await sink.result;
      assert.ok(s.ok, s.ok ? "" : s.message);
      const sent = (f.result as UdpFloodResult).sent;
      const received = (s.result as SinkResult).received;
      const b = bCounters(lab);
      const a = lab.plan.vms[0];
      const driver = deviceControl(lab.controlOf(0), a.control.devices[0]).driverCounters;
      const seen = JSON.stringify({
        sent,
        received,
        framesOut: b[VhostPciCounter.framesOut],
        framesDropped: b[VhostPciCounter.framesDropped],
        rxFrames: driver[NetDriverCounter.rxFrames],
        revoked: b[VhostPciCounter.revoked],
      });
      assert.ok(b[VhostPciCounter.faults] >= 3, `three refused accesses: ${seen}`);
      assert.equal(
        b[VhostPciCounter.framesOut],
        driver[NetDriverCounter.rxFrames],
        `every frame counted out reached a's driver: ${seen}`,
      );
      assert.equal(
        sent - received,
        b[VhostPciCounter.framesDropped],
        `the sink's loss is what the link counted dropped: ${seen}`,
      );
    } finally {
      await lab.stop();
    }
  },
});
