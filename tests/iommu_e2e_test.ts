/**
 * The vIOMMU in the running lab, end to end: on the shipped `iommu-pair` (static mode) and on
 * the pair in passthrough mode, a ping and a UDP flood cross both NICs whose every address is
 * an IOVA (the device workers translate through their IOTLBs); a revocation (the guest's map of
 * a's NIC pool removed while traffic flows) is refused, counted and reported to a's guest as a
 * fault, breaks only that NIC, and leaves b and a's other devices going; a guest bug in the
 * vIOMMU's request queue stops the virtio-iommu device, which asks for a reset and is logged.
 */

import assert from "node:assert/strict";
import {
  IOMMU_EVENT_QUEUE_SIZE,
  IOMMU_PROBE_SIZE,
  IOMMU_REQUEST_QUEUE_SIZE,
  iommuDriverMemoryBytes,
  openViews,
  readIotlbCounters,
} from "../devices/iommu/mod.ts";
import { netDriverMemoryBytes } from "../devices/net/sizing.ts";
import { topologyFromObject } from "../lab/topology/mod.ts";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { LAB_TEST, vmRestarted, waitForValue } from "../lab/testing.ts";
import type { PingResult } from "../lab/guest/workloads/ping.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { prometheusMetrics } from "../lab/prometheus.ts";
import { labStatus } from "../lab/metrics.ts";
import { formatStatus } from "../cli/status.ts";
import { deviceControl } from "../lab/wire/control.ts";
import { queueConfigOf } from "../devices/virtio/mmio.ts";

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

for (const mode of ["static", "passthrough", "strict", "lazy"]) {
  // Strict and lazy map and unmap every buffer through the virtio-iommu driver: slower, so a
  // shorter flood.
  const perBuffer = mode === "strict" || mode === "lazy";
  const frames = perBuffer ? 5000 : 20_000;
  Deno.test({
    name: `iommu-pair (${mode}): ping and a ${frames}-frame flood cross NICs behind the vIOMMU`,
    ...LAB_TEST,
    fn: async () => {
      const lab = await startPair(mode);
      try {
        const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "3", "-i", "0.05"]);
        assert.ok(ping.ok, ping.ok ? "" : ping.message);
        assert.equal((ping.result as PingResult).received, 3);
        const sink = (await lab.spawn("b", ["sink", "-n", `${frames}`, "-t", "30"])).result;
        const flood = await lab.exec("a", ["udp-flood", "10.0.0.2", "--max", "-n", `${frames}`]);
        assert.ok(flood.ok, flood.ok ? "" : flood.message);
        const got = await sink;
        assert.ok(got.ok, got.ok ? "" : got.message);
        const r = got.result as Record<string, number>;
        assert.equal(r.received, frames);
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
          assert.match(status, /a:eth0 {2}vIOMMU static domain 1: 1 mapping, IOTLB \d+ hits?/);
          assert.match(status, /a:iommu0 {2}virtio-iommu mode static/);
        }
        if (perBuffer) {
          // Every frame's buffer was mapped and unmapped through the virtio-iommu driver; the
          // live mappings are the rings and the buffers posted now, not one per frame sent.
          const text = prometheusMetrics(lab);
          const count = (name: string, vm: string) =>
            Number(text.match(new RegExp(`${name}\\{[^}]*vm="${vm}"[^}]*\\} (\\d+)`))?.[1]);
          assert.ok(count("vlab_iommu_device_maps_total", "a") > frames, "a mapped each frame");
          assert.ok(count("vlab_iommu_device_maps_total", "b") > frames, "b mapped each buffer");
          assert.ok(count("vlab_iommu_device_unmapped_total", "a") > frames / 2, "a unmapped");
          const snap = takeSnapshot(lab).vms[0].iommu!;
          assert.equal(snap.mode, mode);
          assert.ok(snap.domains[0].mappings <= 1 + 2 * 256 + 64, "mappings stay bounded");
          assert.ok(snap.domains[0].invalidations > 0, "unmaps were invalidated");
        }
        for (const vm of [0, 1]) {
          const c = iotlb(lab, vm);
          assert.equal(c.faults, 0, `vm ${vm}: no refused access`);
          if (mode === "static") assert.ok(c.hits > 20_000, `vm ${vm}: translations hit the IOTLB`);
          else if (perBuffer) assert.ok(c.misses > frames / 2, `vm ${vm}: fresh IOVAs missed`);
          else assert.ok(c.hits + c.misses > 0, `vm ${vm}: the bypass was looked up`);
        }
      } finally {
        await lab.stop();
      }
    },
  });
}

for (const mode of ["static", "strict", "lazy"]) {
  Deno.test({
    name:
      `a revocation while traffic flows (${mode}): the NIC's next access is refused, counted, reported, the guest resets and maps again; a's other NIC and b go on`,
    ...LAB_TEST,
    fn: async () => {
      const t = parseTopology(
        `name: revoke
vms:
  a:
    iommu: { mode: ${mode} }
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
        // Strict and lazy may find the revocation first as a refused MAP (a broken queue).
        if (mode === "static") assert.equal(reset.detail?.cause, "needs-reset");
        const dom = takeSnapshot(lab).vms[0].iommu!.domains[0];
        if (mode === "static") {
          assert.equal(dom.mappings, 1, "the window is mapped again by the reset");
        } else assert.ok(dom.mappings >= 1, "the rings (and posted buffers) are mapped again");
        assert.match(dom.lastFaultIova ?? "", /^0x[0-9a-f]+$/, "the last fault's IOVA is shown");
        assert.match(
          formatStatus(labStatus(lab)),
          new RegExp(`a:eth0 {2}vIOMMU ${mode} .* last fault (read|write) 0x`),
        );
        const fault = await waitForValue(
          "an iommu-fault event in a's guest",
          () =>
            lab.events.recent().find((e) => e.kind === "iommu-fault" && e.subject === "a") ?? null,
          5000,
        );
        assert.equal(fault.detail?.device, "eth0");
        assert.match(String(fault.detail?.iova), /^0x[0-9a-f]+$/);
        assert.equal(fault.detail?.by, "a:eth0", "refused to a's own NIC (its device model)");
        // static revokes by UNMAP (the IOVA is unmapped), the others by DETACH (no domain).
        assert.equal(fault.detail?.reason, mode === "static" ? "mapping" : "domain");
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
}

Deno.test({
  name:
    "an idle VM with a vIOMMU lets its device worker sleep (the eventq's empty buffers are no work)",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair("passthrough");
    try {
      const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1"]);
      assert.ok(ping.ok && (ping.result as PingResult).received === 1);
      const loops = () =>
        Number(
          prometheusMetrics(lab).match(
            /vlab_worker_loops_total\{[^}]*vm="a",worker="device"\} (\d+)/,
          )?.[1],
        );
      // Loop passes over a fixed half second: a worker that sleeps makes a few (timers,
      // heartbeats); one that never sleeps made hundreds of thousands.
      const before = await waitForValue("a's device loop count", () => loops() || null);
      await new Promise((r) => setTimeout(r, 500));
      const passes = await waitForValue("a newer loop count", () => {
        const n = loops();
        return n > before ? n - before : null;
      }, 5000);
      assert.ok(passes < 2000, `a's idle device worker ran ${passes} passes in 0.5 s`);
    } finally {
      await lab.stop();
    }
  },
});

for (const mode of ["strict", "static"]) {
  Deno.test({
    name:
      `a VM with a vIOMMU (${mode}) runs in exactly the memory the check asks for, and not in 4 KiB less`,
    ...LAB_TEST,
    fn: async () => {
      const needed = 4096 + iommuDriverMemoryBytes({
        requestq: IOMMU_REQUEST_QUEUE_SIZE,
        eventq: IOMMU_EVENT_QUEUE_SIZE,
        probeSize: IOMMU_PROBE_SIZE,
      }) + netDriverMemoryBytes({ layout: "split", queueSize: 512, mtu: 1500, mrgRxbuf: true });
      const topo = (kib: number) =>
        topologyFromObject({
          name: "tight",
          vms: {
            a: {
              memory: `${kib}KiB`,
              iommu: { mode },
              // 512 entries: above the 1 MiB least memory a VM may have.
              nics: { eth0: { ip: "10.0.0.1/24", iommu: true, queue_size: 512 } },
            },
            b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
          },
          links: [{ endpoints: ["a:eth0", "b:eth0"] }],
        });
      const short = topo(needed / 1024 - 4);
      assert.ok(!short.ok && JSON.stringify(short.error).includes("memory-too-small"));
      const t = topo(needed / 1024);
      assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
      const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
      try {
        const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
        assert.ok(ping.ok && (ping.result as PingResult).received === 2, "it runs");
      } finally {
        await lab.stop();
      }
    },
  });
}

Deno.test({
  name: "iommu-pair (static): a guest bug in a's vIOMMU requestq stops the device, which sets " +
    "DEVICE_NEEDS_RESET and is logged; the NICs' translations stay; a reboot brings it back",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startPair("static");
    try {
      // a's driver makes the requestq's avail index jump past the queue size (a guest bug).
      const vm = lab.plan.vms.find((v) => v.name === "a")!;
      const slot = vm.devices.findIndex((d) => d.kind === "iommu");
      const regs = deviceControl(lab.controlOf(vm.index), vm.control.devices[slot]).regs;
      const rq = queueConfigOf(regs, 0, 0n);
      const mem = new DataView(lab.memoryOf("a"));
      const at = rq.driverAddr + 2; // split avail ring: flags, then idx
      mem.setUint16(at, (mem.getUint16(at, true) + rq.size + 5) & 0xffff, true);
      // The ping wakes a's device worker, whose next pass meets the bug.
      const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(ping.ok && (ping.result as PingResult).received === 2, ping.ok ? "" : ping.message);
      const error = await waitForValue(
        "a's device-error for iommu0",
        () =>
          lab.events.recent().find((e) =>
            e.kind === "device-error" && e.subject === "a" && e.detail?.device === "iommu0"
          ) ?? null,
        5000,
      );
      assert.match(
        String(error.detail?.error),
        /^Cannot use the vIOMMU's requestq: avail index \d+ is more than 256 ahead of \d+$/,
      );
      const text = prometheusMetrics(lab);
      assert.match(text, /vlab_iommu_device_queue_errors_total\{[^}]*vm="a"[^}]*\} 1/);
      assert.match(
        text,
        /vlab_device_status_bit\{[^}]*vm="a",device="iommu0"[^}]*bit="DEVICE_NEEDS_RESET"\} 1/,
      );
      // The tables stay: a's NIC still reaches its pool through them.
      const again = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(again.ok && (again.result as PingResult).received === 2, "a:eth0 works on");
      // a's guest read DEVICE_NEEDS_RESET on the configuration interrupt: its requests give up at
      // once, saying why (an iommu-unmap waited out 5 s and said "did not answer").
      const t0 = performance.now();
      const refused = await lab.exec("a", ["iommu-unmap", "eth0"]);
      assert.ok(!refused.ok);
      assert.match(refused.message, /the vIOMMU's device stopped on an error and needs a reset/);
      assert.ok(performance.now() - t0 < 2000, "refused at once");
      // The guest has no reset path (as Linux's driver): a reboot brings the device back.
      const from = lab.events.recent().length;
      const crash = await lab.fault({ kind: "vm-crash", vm: "a", ms: 100 });
      assert.ok(crash.ok, crash.ok ? "" : crash.message);
      await vmRestarted(lab, "a", from);
      assert.match(
        prometheusMetrics(lab),
        /vlab_device_status_bit\{[^}]*vm="a",device="iommu0"[^}]*bit="DEVICE_NEEDS_RESET"\} 0/,
      );
      const revoke = await lab.exec("a", ["iommu-unmap", "eth0"]);
      assert.ok(revoke.ok, revoke.ok ? "" : revoke.message); // served: an UNMAP of the new pool
    } finally {
      await lab.stop();
    }
  },
});
