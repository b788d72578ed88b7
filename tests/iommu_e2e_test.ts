/**
 * The vIOMMU in the running lab, end to end: on the shipped `iommu-pair` (static mode) and on
 * the pair in passthrough mode, a ping and a UDP flood cross both NICs whose every address is
 * an IOVA (the device workers translate through their IOTLBs); a revocation (the guest's map of
 * a's NIC pool removed while traffic flows) is refused, counted and reported to a's guest as a
 * fault, breaks only that NIC, and leaves b and a's other devices going.
 */

import assert from "node:assert/strict";
import { openViews, readIotlbCounters } from "../devices/iommu/mod.ts";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { LAB_TEST, waitForValue } from "../lab/testing.ts";
import type { PingResult } from "../lab/guest/workloads/ping.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { prometheusMetrics } from "../lab/prometheus.ts";
import { labStatus } from "../lab/metrics.ts";
import { formatStatus } from "../cli/status.ts";

const FILE = new URL("../topologies/iommu-pair.yaml", import.meta.url);

async function startPair(mode: string): Promise<Lab> {
  const yaml = Deno.readTextFileSync(FILE).replaceAll("mode: static", `mode: ${mode}`);
  const t = parseTopology(yaml, "topologies/iommu-pair.yaml");
  assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
  return await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
}

/** IOTLB counters of a VM's first consumer (its NIC). */
function iotlb(lab: Lab, vm: number) {
  const buf = lab.iommuOf(vm);
  assert.ok(buf, "the VM has vIOMMU tables");
  return readIotlbCounters(openViews(buf), 0);
}

for (const mode of ["static", "passthrough"]) {
  Deno.test({
    name: `iommu-pair (${mode}): ping and a 20000-frame flood cross NICs behind the vIOMMU`,
    ...LAB_TEST,
    fn: async () => {
      const lab = await startPair(mode);
      try {
        const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "3", "-i", "0.05"]);
        assert.ok(ping.ok, ping.ok ? "" : ping.message);
        assert.equal((ping.result as PingResult).received, 3);
        const sink = lab.exec("b", ["sink", "-t", "2"]);
        const flood = await lab.exec("a", ["udp-flood", "10.0.0.2", "--max", "-n", "20000"]);
        assert.ok(flood.ok, flood.ok ? "" : flood.message);
        const got = await sink;
        assert.ok(got.ok, got.ok ? "" : got.message);
        const r = got.result as Record<string, number>;
        assert.equal(r.received, 20_000);
        assert.equal(r.lost, 0);
        if (mode === "static") {
          // Seen: snapshot, /metrics and `vlab status` show the domain, its mapping and IOTLB.
          const snap = takeSnapshot(lab).vms[0].iommu;
          assert.equal(snap?.mode, "static");
          assert.equal(snap?.domains[0].device, "eth0");
          assert.equal(snap?.domains[0].mappings, 1, "the pool is one mapping");
          assert.ok((snap?.domains[0].hits ?? 0) > 0);
          const text = prometheusMetrics(lab);
          assert.match(
            text,
            /vlab_iommu_mappings\{lab="iommu-pair",vm="a",device="eth0",domain="1"\} 1/,
          );
          assert.match(text, /vlab_iommu_iotlb_hits_total\{[^}]*vm="b"[^}]*\} [1-9]/);
          assert.match(text, /vlab_iommu_device_maps_total\{[^}]*vm="a"[^}]*\} 1/);
          const status = formatStatus(labStatus(lab));
          assert.match(status, /a:eth0 {2}vIOMMU static domain 1: 1 mappings, IOTLB \d+ hits/);
          assert.match(status, /a:iommu0 {2}virtio-iommu mode static/);
        }
        for (const vm of [0, 1]) {
          const c = iotlb(lab, vm);
          assert.equal(c.faults, 0, `vm ${vm}: no refused access`);
          if (mode === "static") assert.ok(c.hits > 20_000, `vm ${vm}: translations hit the IOTLB`);
          else assert.ok(c.hits + c.misses > 0, `vm ${vm}: the bypass was looked up`);
        }
      } finally {
        await lab.stop();
      }
    },
  });
}

Deno.test({
  name:
    "a revocation while traffic flows: the NIC's next access is refused, counted, reported, the guest resets and maps again; a's other NIC and b go on",
  ...LAB_TEST,
  fn: async () => {
    const t = parseTopology(
      `name: revoke
vms:
  a:
    iommu: { mode: static }
    nics:
      eth0: { ip: 10.0.0.1/24, iommu: true }
      eth1: { ip: 10.1.0.1/24 }
  b:
    nics:
      eth0: { ip: 10.0.0.2/24 }
      eth1: { ip: 10.1.0.2/24 }
links:
  - endpoints: [a:eth0, b:eth0]
  - { name: side, endpoints: [a:eth1, b:eth1] }
`,
      "revoke.yaml",
    );
    assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
    try {
      // Only the NIC behind the vIOMMU negotiated ACCESS_PLATFORM; eth1 keeps the direct path.
      const feats = takeSnapshot(lab).vms[0].devices.map((
        d,
      ) => [d.nic, d.features.includes("ACCESS_PLATFORM")]);
      assert.deepEqual(feats.slice(0, 2), [["eth0", true], ["eth1", false]]);
      const before = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(before.ok && (before.result as PingResult).received === 2, "eth0 works first");
      // Traffic in flight on eth0 while the guest takes the window back.
      const flood = lab.exec("a", ["udp-flood", "10.0.0.2", "-r", "20000", "-t", "1"]);
      const revoked = await lab.exec("a", ["iommu-unmap", "eth0"]);
      assert.ok(revoked.ok, revoked.ok ? "" : revoked.message);
      await flood;
      const event = await waitForValue(
        "a device-error event for a:eth0",
        () =>
          lab.events.recent().find((e) =>
            e.kind === "device-error" && e.subject === "a" && e.detail?.nic === "eth0"
          ) ?? null,
        5000,
      );
      assert.ok(event);
      const c = iotlb(lab, 0);
      assert.ok(c.faults >= 1, "the refused access is counted");
      // The queue broke: a's driver resets the NIC, mapping its pool again first.
      const reset = await waitForValue(
        "a device-reset event for a:eth0",
        () =>
          lab.events.recent().find((e) =>
            e.kind === "device-reset" && e.subject === "a" && e.detail?.nic === "eth0"
          ) ?? null,
        5000,
      );
      assert.equal(reset.detail?.cause, "needs-reset");
      const dom = takeSnapshot(lab).vms[0].iommu!.domains[0];
      assert.equal(dom.mappings, 1, "the window is mapped again by the reset");
      assert.match(dom.lastFaultIova ?? "", /^0x[0-9a-f]+$/, "the last fault's IOVA is shown");
      assert.match(
        formatStatus(labStatus(lab)),
        /a:eth0 {2}vIOMMU static .* last fault (read|write) 0x/,
      );
      const fault = await waitForValue(
        "an iommu-fault event in a's guest",
        () =>
          lab.events.recent().find((e) => e.kind === "iommu-fault" && e.subject === "a") ?? null,
        5000,
      );
      assert.equal(fault.detail?.device, "eth0");
      assert.match(String(fault.detail?.iova), /^0x[0-9a-f]+$/);
      // a's other NIC and b are unaffected.
      const other = await lab.exec("a", ["ping", "10.1.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(other.ok && (other.result as PingResult).received === 2, "a:eth1 still works");
      const fromB = await lab.exec("b", ["ping", "10.1.0.1", "-c", "2", "-i", "0.05"]);
      assert.ok(fromB.ok && (fromB.result as PingResult).received === 2, "b still works");
      assert.equal(lab.vmState("a"), "running");
      const again = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(again.ok && (again.result as PingResult).received === 2, "a:eth0 works again");
    } finally {
      await lab.stop();
    }
  },
});
