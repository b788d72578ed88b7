/**
 * A flood across a point-to-point link loses nothing: a full link ring holds the sender's
 * frames in its transmitq (back-pressure) instead of dropping them, and the sink sees every
 * sequence number once, in order.
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { topologyFromObject } from "../lab/topology/mod.ts";

for (const layout of ["split", "packed"] as const) {
  Deno.test({
    name: `a ${layout} flood over a link arrives whole: no loss, no reorder, no duplicate`,
    // The lab's workers are stopped in the finally.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const t = topologyFromObject({
        name: "flood",
        defaults: { nic: { layout, queue_size: 64 } },
        vms: {
          a: { nics: { eth0: { ip: "10.8.0.1/24" } } },
          b: { nics: { eth0: { ip: "10.8.0.2/24" } } },
        },
        links: [{ endpoints: ["a:eth0", "b:eth0"] }],
      });
      assert.ok(t.ok);
      const lab = await Lab.start(planLab(t.value));
      try {
        const sink = (await lab.spawn("b", ["sink", "-n", "50000", "-t", "30"])).result;
        const flood = await lab.exec("a", ["udp-flood", "10.8.0.2", "--max", "-n", "50000"]);
        assert.ok(flood.ok, flood.ok ? "" : flood.message);
        const sent = flood.result as { sent: number; ringFull: number; stalls: number };
        assert.equal(sent.sent, 50_000);
        // A full TX ring is announced by a reclaim, not found by the sender's 10 ms poll (a
        // sender that sleeps without asking for a transmitq interrupt stalls at every full ring).
        assert.ok(sent.ringFull > 0, "the flood should have filled its TX ring");
        assert.ok(
          sent.stalls * 10 <= sent.ringFull,
          `${sent.stalls} stalls, ${sent.ringFull} full`,
        );
        const got = await sink;
        assert.ok(got.ok, got.ok ? "" : got.message);
        const r = got.result as Record<string, number>;
        assert.deepEqual(
          { received: r.received, lost: r.lost, reordered: r.reordered, duplicated: r.duplicated },
          { received: 50_000, lost: 0, reordered: 0, duplicated: 0 },
        );
        const ring = lab.ring(lab.plan.links[0].forwardRing).counters();
        assert.equal(ring.framesDropped, 0, "a point-to-point link never drops");
      } finally {
        await lab.stop();
      }
    },
  });
}
