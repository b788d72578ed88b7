/**
 * `iommu-unmap` during a flood in strict and lazy modes: the NIC's own per-buffer MAPs and
 * UNMAPs keep the vIOMMU's requestq full, and the revocation waits for room instead of failing
 * (it answered `Cannot revoke eth0: ring-full`, with a hint about the NIC's name). Over a
 * vhost-pci link, as `vlab exec a -- iommu-unmap eth0` on a copy of the shipped topology.
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { LAB_TEST, waitForValue } from "../lab/testing.ts";
import { bCounters, waitServing } from "./vhost_pci_pair.ts";
import { VhostPciCounter } from "../devices/vhost_pci/mod.ts";

// Strict: one UNMAP per buffer fills the requestq most (lazy batches them, and shares the code).
for (const mode of ["strict"]) {
  Deno.test({
    name: `iommu-unmap waits for room in a requestq that a flood keeps full (${mode})`,
    ...LAB_TEST,
    fn: async () => {
      const t = parseTopology(
        `
name: busy-${mode}
vms:
  a:
    iommu: { mode: ${mode} }
    nics: { eth0: { ip: 10.0.0.1/24, iommu: true, queue_size: 1024 } }
  b:
    nics: { eth0: { ip: 10.0.0.2/24 } }
links:
  - { kind: vhost-pci, endpoints: [a:eth0, b:eth0] }
`,
        "t.yaml",
      );
      assert.ok(t.ok);
      const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
      try {
        await waitServing(lab, "b serving a's NIC");
        const flood = lab.exec("a", ["udp-flood", "10.0.0.2", "--max", "-t", "1.5"]);
        // Let the flood fill the requestq with its buffers' requests first.
        await new Promise((r) => setTimeout(r, 300));
        const resets = () =>
          lab.events.recent().filter((e) => e.kind === "device-reset" && e.subject === "a")
            .length;
        // Four: the first waits for room while the flood runs; each later one waits for the reset
        // the one before caused (10 of them took 4 s on a loaded machine, most after the flood).
        for (let i = 0; i < 4; i++) {
          const before = resets();
          const r = await lab.exec("a", ["iommu-unmap", "eth0"]);
          assert.ok(r.ok, r.ok ? "" : `${r.message} (${r.hint})`);
          // The NIC's reset maps the window again; a revocation before it is over is refused
          // ('revoked already'), which 30 ms apart a loaded machine's reset was not.
          await waitForValue(`a's NIC reset after revocation ${i + 1}`, () => {
            return resets() > before || null;
          }, 10_000);
        }
        const f = await flood;
        assert.ok(f.ok, f.ok ? "" : f.message);
        assert.ok(bCounters(lab)[VhostPciCounter.faults] >= 1, "b met the revoked window");
      } finally {
        await lab.stop();
      }
    },
  });
}
