/**
 * Jumbo frames and indirect descriptors end to end: a pair of VMs with `mtu: 9000` moves
 * 8000-byte UDP datagrams, without MRG_RXBUF (RX buffers sized from the MTU) and with it, and
 * the devices see indirect chains exactly when `indirect` is negotiated.
 */

import assert from "node:assert/strict";
import { NetCounter, readCounters } from "../devices/net/metrics.ts";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { topologyFromObject } from "../lab/topology/mod.ts";
import { deviceControl } from "../lab/wire/control.ts";

const DATAGRAMS = 20;
const PAYLOAD = 8000;
/** Ethernet + IPv4 + UDP headers around the payload. */
const FRAME = PAYLOAD + 14 + 20 + 8;

const CASES = [
  { layout: "split", features: ["event_idx"] },
  { layout: "packed", features: ["event_idx", "mrg_rxbuf"] },
  { layout: "split", features: ["event_idx", "mrg_rxbuf", "indirect"] },
  { layout: "packed", features: ["event_idx", "indirect"] },
] as const;

for (const c of CASES) {
  Deno.test({
    name: `a 9000-MTU pair moves ${PAYLOAD}-byte UDP datagrams [${c.layout} ${
      c.features.join(" ")
    }]`,
    // The lab's workers are stopped in the finally.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      const t = topologyFromObject({
        name: "jumbo",
        defaults: { nic: { layout: c.layout, queue_size: 64, mtu: 9000, features: c.features } },
        vms: {
          a: { nics: { eth0: { ip: "10.9.0.1/24" } } },
          b: { nics: { eth0: { ip: "10.9.0.2/24" } } },
        },
        links: [{ endpoints: ["a:eth0", "b:eth0"] }],
      });
      assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
      const plan = planLab(t.value);
      const lab = await Lab.start(plan);
      try {
        const sink = (await lab.spawn("b", ["sink", "-n", String(DATAGRAMS), "-t", "30"])).result;
        const flood = await lab.exec("a", [
          "udp-flood",
          "10.9.0.2",
          "-s",
          String(FRAME),
          "-n",
          String(DATAGRAMS),
        ]);
        assert.ok(flood.ok, flood.ok ? "" : flood.message);
        assert.equal((flood.result as { sent: number }).sent, DATAGRAMS);
        const got = await sink;
        assert.ok(got.ok, got.ok ? "" : got.message);
        const r = got.result as Record<string, number>;
        assert.deepEqual(
          { received: r.received, bytes: r.bytes, lost: r.lost },
          { received: DATAGRAMS, bytes: DATAGRAMS * FRAME, lost: 0 },
        );
        const counters = (vm: "a" | "b") => {
          const v = plan.vms.find((x) => x.name === vm)!;
          const ctl = deviceControl(lab.controlOf(v.index), v.control.devices[0]);
          return readCounters(ctl.deviceCounters, NetCounter);
        };
        const a = counters("a");
        const b = counters("b");
        assert.equal(b.rxTooBig, 0, "no frame within the MTU is too big");
        const indirect = (c.features as readonly string[]).includes("indirect");
        if (indirect) {
          // Each 8042-byte frame is sent as page-sized fragments: an indirect chain.
          assert.ok(a.txIndirectChains >= DATAGRAMS, `tx indirect chains: ${a.txIndirectChains}`);
        } else {
          assert.equal(a.txIndirectChains + a.rxIndirectChains + b.rxIndirectChains, 0);
        }
        if (indirect && !(c.features as readonly string[]).includes("mrg_rxbuf")) {
          // Big RX buffers (header + pages) are multi-segment chains too.
          assert.ok(b.rxIndirectChains > 0, `rx indirect chains: ${b.rxIndirectChains}`);
        }
      } finally {
        await lab.stop();
      }
    },
  });
}
