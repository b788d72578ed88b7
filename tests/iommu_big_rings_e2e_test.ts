/**
 * A NIC with big rings behind a vIOMMU in strict or lazy mode: each of its buffers is mapped
 * while it is posted, so the vIOMMU's mapping table is sized for every buffer of every queue
 * behind it. With a fixed 4096 entries, `queue_size: 4096` filled the table with the receiveq's
 * MAPs alone: the next MAP was refused, the NIC stopped at boot with a device error no reset
 * clears ("Cannot post buffer 0 on the receiveq: the vIOMMU did not map it"), and every ping
 * was lost while `vlab up` and `vlab status` said the lab ran.
 */

import assert from "node:assert/strict";
import { iommuMappingsFor, IOVA_PAGES_MAX, iovaPagesFor } from "../lab/kinds/iommu.ts";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { LAB_TEST, waitForValue } from "../lab/testing.ts";

Deno.test("a vIOMMU's mapping table holds every buffer of strict and lazy NICs behind it", () => {
  assert.equal(iommuMappingsFor("strict", [[256, 256]]), 4096, "the default rings fit the minimum");
  assert.ok(iommuMappingsFor("lazy", [[4096, 4096]]) >= 8192);
  assert.ok(iommuMappingsFor("strict", [[32768, 32768], [1024, 1024]]) >= 2 * 32768 + 2048);
  assert.equal(iommuMappingsFor("static", [[32768, 32768]]), 4096, "static maps a pool at once");
  const t = parseTopology(
    `
name: sized
vms:
  a:
    memory: 128MiB
    iommu: { mode: strict }
    nics: { eth0: { iommu: true, queue_size: 8192 }, eth1: { iommu: true } }
`,
    "t.yaml",
  );
  assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
  const dev = planLab(t.value).vms[0].devices.find((d) => d.kind === "iommu");
  assert.ok(dev?.kind === "iommu");
  assert.ok(dev.mappings >= 2 * 8192 + 2 * 256, `${dev.mappings} entries`);
});

for (const mode of ["strict", "lazy"]) {
  Deno.test({
    name: `a NIC with 4096-entry rings behind a ${mode} vIOMMU comes up and answers a ping`,
    ...LAB_TEST,
    fn: async () => {
      const t = parseTopology(
        `
name: big-${mode}
vms:
  a:
    iommu: { mode: ${mode} }
    nics: { eth0: { ip: 10.0.0.1/24, iommu: true, queue_size: 4096 } }
  b:
    nics: { eth0: { ip: 10.0.0.2/24 } }
links:
  - { endpoints: [a:eth0, b:eth0] }
`,
        "t.yaml",
      );
      assert.ok(t.ok);
      const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
      try {
        const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1", "-W", "3"]);
        assert.ok(r.ok, r.ok ? "" : r.message);
        const errors = lab.events.recent().filter((e) => e.kind === "device-error");
        assert.deepEqual(errors, [], "no NIC stopped on a refused MAP");
        assert.equal((r.result as { received: number }).received, 1);
      } finally {
        await lab.stop();
      }
    },
  });
}

// Jumbo RX buffers without `mrg_rxbuf` span 3 or 4 pages each (with `indirect`, one ring entry
// each): a fixed 16384 IOVA pages per endpoint held about 5,000 of an 8192-entry receiveq's
// buffers, and the NIC ran with the rest of its ring empty (no error, no event). The plan sizes each endpoint's IOVA space from its
// rings and buffers.
Deno.test("a strict endpoint's IOVA space holds every buffer its queues can hold in flight", () => {
  assert.equal(iovaPagesFor({ queueSizes: [256, 256], mtu: 1500, mrgRxbuf: true }), 16384);
  const jumbo = iovaPagesFor({ queueSizes: [32768, 32768], mtu: 9000, mrgRxbuf: false });
  assert.ok(jumbo >= 2 * 32768 * 4, `${jumbo} pages for 4-page buffers`);
  assert.ok(jumbo <= IOVA_PAGES_MAX);
  const t = parseTopology(JUMBO("strict", 32768), "t.yaml");
  assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
  const dev = planLab(t.value).vms[0].devices.find((d) => d.kind === "iommu");
  assert.ok(dev?.kind === "iommu");
  assert.equal(dev.endpoints[0].iovaPages, jumbo);
});

/** A NIC with jumbo frames and no mergeable buffers behind a vIOMMU in `mode`, and its peer. */
function JUMBO(mode: string, queueSize: number): string {
  return `
name: jumbo-${mode}
vms:
  a:
    memory: ${queueSize > 8192 ? "1GiB" : "256MiB"}
    iommu: { mode: ${mode} }
    nics:
      eth0: { ip: 10.0.0.1/24, iommu: true, queue_size: ${queueSize}, mtu: 9000, features: [event_idx, csum, indirect] }
  b:
    nics: { eth0: { ip: 10.0.0.2/24, mtu: 9000 } }
links:
  - { endpoints: [a:eth0, b:eth0] }
`;
}

Deno.test({
  name: "a strict NIC with 8192 jumbo RX buffers posts every one of them",
  ...LAB_TEST,
  fn: async () => {
    const t = parseTopology(JUMBO("strict", 8192), "t.yaml");
    assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
    try {
      // Every RX buffer posted (3 or 4 IOVA pages each), and mapped: 8192 and the rings'.
      const a = () => takeSnapshot(lab).vms[0];
      const posted = () => a().devices[0].driverCounters.rxPosted;
      await waitForValue("every RX buffer posted", () => posted() >= 8192 ? true : null, 10_000)
        .catch((e) => {
          throw new Error(`${e.message}: ${posted()} posted`);
        });
      assert.equal(a().iommu?.domains[0].mappings, 8193);
      const r = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1", "-W", "3", "-s", "8000"]);
      assert.ok(r.ok, r.ok ? "" : r.message);
      assert.equal((r.result as { received: number }).received, 1);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "an idle strict NIC whose ring holds fewer jumbo buffers than it has sends no vIOMMU request",
  ...LAB_TEST,
  fn: async () => {
    // Without indirect, each RX buffer is a chain of 4 descriptors: the 1024-entry receiveq holds
    // 256 of the 1024 buffers. The driver mapped all 1024 on every pass and unmapped the 768 the
    // ring had no room for: thousands of requests a second, with no traffic.
    const yaml = JUMBO("strict", 1024).replace("csum, indirect]", "csum]");
    const t = parseTopology(yaml, "t.yaml");
    assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
    try {
      const a = () => takeSnapshot(lab).vms[0];
      await waitForValue(
        "the ring full",
        () => a().devices[0].driverCounters.rxPosted >= 256 || null,
      );
      const iommu = () => a().devices.find((d) => d.nic === "iommu0")!.counters.requests;
      const before = iommu();
      await new Promise((r) => setTimeout(r, 300)); // idle: nothing is to happen meanwhile
      assert.equal(iommu() - before, 0, "no MAP or UNMAP while idle");
      assert.equal(a().iommu?.domains[0].mappings, 257, "the rings' and one per posted buffer");
    } finally {
      await lab.stop();
    }
  },
});
