/**
 * `vm-crash` of a VM behind a vIOMMU (lab/host/kinds/iommu.ts, `IommuDevice.reset`): the
 * power-on device worker adopts the vIOMMU's tables and resets the device (no endpoint attached,
 * no mapping left, every IOTLB consumer's cache dropped, the consumer slots kept), and the new
 * guest's driver attaches and maps from scratch. On iommu-pair (static and strict): ping and a
 * short flood both ways after the reboot, no fault, a untouched. On vhost-pci with a behind a
 * vIOMMU: b's IOTLB drops a's old mappings and b serves a's new connection through the new ones.
 */

import assert from "node:assert/strict";
import { readIotlbCounters } from "../devices/iommu/faults.ts";
import { ConsumerState, Hdr, openViews, reached } from "../devices/iommu/layout.ts";
import type { Lab } from "../lab/lab.ts";
import { LAB_TEST, startTestLab, vmRestarted } from "../lab/testing.ts";
import type { PingResult } from "../lab/guest/workloads/ping.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { waitServing } from "./vhost_pci_pair.ts";

function pair(mode: string) {
  return {
    name: `vm-crash-iommu-${mode}`,
    seed: 1,
    vms: {
      a: { iommu: { mode }, nics: { eth0: { ip: "10.0.0.1/24", iommu: true } } },
      b: { iommu: { mode }, nics: { eth0: { ip: "10.0.0.2/24", iommu: true } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  };
}

async function ping(lab: Lab, from: string, to: string): Promise<number> {
  const r = await lab.exec(from, ["ping", to, "-c", "3", "-i", "0.05"]);
  assert.ok(r.ok, r.ok ? "" : r.message);
  return (r.result as PingResult).received;
}

/** A short flood `from` → `to` into a sink: every frame arrives. */
async function flood(lab: Lab, from: string, to: string, ip: string): Promise<void> {
  const sink = await lab.spawn(to, ["sink", "-n", "500", "-t", "15"]);
  const sent = await lab.exec(from, ["udp-flood", ip, "-r", "5000", "-n", "500"]);
  assert.ok(sent.ok, sent.ok ? "" : sent.message);
  const got = await sink.result;
  assert.ok(got.ok, got.ok ? "" : got.message);
  const s = got.result as Record<string, number>;
  assert.deepEqual({ received: s.received, lost: s.lost }, { received: 500, lost: 0 });
}

const BAD = [
  "device-error",
  "device-needs-reset",
  "iommu-fault",
  "iommu-invalidation-timeout",
  "vm-restart-failed",
  "guest-failed",
  "device-failed",
];

function bad(lab: Lab, from: number) {
  return lab.events.recent().slice(from).filter((e) => BAD.includes(e.kind));
}

for (const mode of ["static", "strict"]) {
  Deno.test({
    name: `vm-crash of b on iommu-pair (${mode}): b's vIOMMU is reset, its new guest maps anew`,
    ...LAB_TEST,
    fn: async () => {
      const lab = await startTestLab(pair(mode));
      try {
        assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
        const aBefore = takeSnapshot(lab).vms.find((v) => v.name === "a")!.iommu!.domains[0];
        const bViews = openViews(lab.iommuOf(1)!);
        const genBefore = Atomics.load(bViews.i32, Hdr.GEN);
        const nicBefore = readIotlbCounters(bViews, 0);
        const from = lab.events.recent().length;
        // b boots for 500 ms: a's guest logs the link-down only if it reads its NIC's status
        // before b's new guest has the link up again, and a default reboot (from 70 ms) is near
        // what a loaded machine takes for that read (a7efe380, on vm_crash_e2e_test's pair).
        const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 500 });
        assert.ok(r.ok, r.ok ? "" : r.message);
        await vmRestarted(lab, "b", from);
        assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
        assert.equal(await ping(lab, "b", "10.0.0.1"), 3);
        await flood(lab, "a", "b", "10.0.0.2");
        await flood(lab, "b", "a", "10.0.0.1");
        assert.deepEqual(bad(lab, from), []);
        // b's tables were reset (a generation moved) and hold only the new guest's domain.
        assert.ok(Atomics.load(bViews.i32, Hdr.GEN) !== genBefore, "b's vIOMMU invalidated");
        const b = takeSnapshot(lab).vms.find((v) => v.name === "b")!.iommu!;
        assert.equal(b.domains.length, 1);
        assert.equal(b.domains[0].faults, 0);
        assert.ok(b.domains[0].mappings >= 1, "the new guest mapped its pool");
        // The consumer slot was kept, not taken anew, and its counters went on.
        const nicAfter = readIotlbCounters(bViews, 0);
        assert.ok(nicAfter.hits >= nicBefore.hits && nicAfter.misses > nicBefore.misses);
        assert.ok(nicAfter.invalidations > nicBefore.invalidations);
        // a is as it was: same domain, no fault.
        const a = takeSnapshot(lab).vms.find((v) => v.name === "a")!.iommu!.domains[0];
        assert.equal(a.faults, 0);
        assert.ok(a.mappings >= aBefore.mappings || mode === "strict");
        assert.equal(lab.vmState("a"), "running");
        // a heard only its link lose its carrier with b and get it back.
        const ofA = lab.events.recent().slice(from).filter((e) => e.subject === "a");
        assert.deepEqual(ofA.map((e) => e.kind), ["link-down", "link-up"]);
      } finally {
        await lab.stop();
      }
    },
  });
}

Deno.test({
  name:
    "vm-crash of a behind a vIOMMU on a vhost-pci link: b drops a's old mappings and serves the new connection through the new ones",
  ...LAB_TEST,
  fn: async () => {
    const text = Deno.readTextFileSync(new URL("../topologies/vhost-pci.yaml", import.meta.url));
    assert.match(text, /iommu/, "a is behind a vIOMMU in the shipped topology");
    const lab = await startTestLab({
      name: "vm-crash-vhost-pci-iommu",
      seed: 1,
      vms: {
        a: {
          iommu: { mode: "static" },
          nics: { eth0: { ip: "10.0.0.1/24", iommu: true } },
        },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      links: [{ kind: "vhost-pci", endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      const conn = await waitServing(lab, "b serving a");
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      const v = openViews(lab.iommuOf(0)!);
      const peerSlot = 1; // b's consumer slot, after a's NIC's
      const peerBefore = readIotlbCounters(v, peerSlot);
      const from = lab.events.recent().length;
      const r = await lab.fault({ kind: "vm-crash", vm: "a" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      await vmRestarted(lab, "a", from);
      // The power-on reset's invalidation (and the new driver's) happened by now.
      const resetGen = Atomics.load(v.i32, Hdr.GEN);
      const down = lab.events.recent().slice(from).find((e) =>
        e.kind === "link-down" && e.subject === "b"
      );
      assert.ok(down !== undefined, "b saw its link go down");
      const next = await waitServing(lab, "b serving a's new connection");
      assert.ok(next > conn, `a new connection: ${next} after ${conn}`);
      // b's IOTLB acknowledged the reset's generation (it dropped a's old mappings) and
      // walked a's new tables for the new connection.
      const acked = Atomics.load(v.i32, v.layout.consumerBase + peerSlot * 4 + 1);
      assert.ok(reached(acked, resetGen), `b acked ${acked}, reset at ${resetGen}`);
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      assert.equal(await ping(lab, "b", "10.0.0.1"), 3);
      const peerAfter = readIotlbCounters(v, peerSlot);
      assert.ok(peerAfter.invalidations > peerBefore.invalidations, "b's IOTLB was flushed");
      assert.ok(peerAfter.misses > peerBefore.misses, "b walked a's new tables");
      assert.equal(peerAfter.faults, 0);
      assert.deepEqual(bad(lab, from), []);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "vm-crash of b serving a strict a over vhost-pci: a's UNMAPs do not wait for the dead b; b's new IOTLB is waited for again",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      name: "vm-crash-vhost-pci-strict",
      seed: 1,
      vms: {
        a: { iommu: { mode: "strict" }, nics: { eth0: { ip: "10.0.0.1/24", iommu: true } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      links: [{ kind: "vhost-pci", endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      await waitServing(lab, "b serving a");
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      const v = openViews(lab.iommuOf(0)!);
      const peerSlot = 1; // b's consumer slot, after a's NIC's
      const state = () => Atomics.load(v.i32, v.layout.consumerBase + peerSlot * 4);
      assert.equal(state(), ConsumerState.ACTIVE);
      const from = lab.events.recent().length;
      // a pings on through the crash: its strict driver unmaps every buffer b returned.
      const pings = lab.exec("a", ["ping", "10.0.0.2", "-c", "30", "-i", "0.02", "-W", "0.2"]);
      await new Promise((r) => setTimeout(r, 100));
      const r = await lab.fault({ kind: "vm-crash", vm: "b" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // Parked at once (the main thread does it as it ends b's guest), unless b is back already.
      const parked = state();
      assert.ok(
        parked === ConsumerState.PARKED || parked === ConsumerState.ACTIVE,
        `b's slot is ${parked}`,
      );
      await vmRestarted(lab, "b", from);
      await waitServing(lab, "b serving a again");
      const done = await pings;
      assert.ok(done.ok, done.ok ? "" : done.message);
      // b's new guest built its IOTLB on the slot: active again, so a's UNMAPs wait for it.
      assert.equal(state(), ConsumerState.ACTIVE, "b's new IOTLB activated the slot");
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      const gen = Atomics.load(v.i32, Hdr.GEN);
      const acked = Atomics.load(v.i32, v.layout.consumerBase + peerSlot * 4 + 1);
      assert.ok(reached(acked, gen - 1), `b acknowledges a's invalidations: ${acked} of ${gen}`);
      assert.deepEqual(bad(lab, from), [], "no UNMAP timed out waiting for the dead b");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "vm-crash of a lazy vIOMMU VM under a flood into it: the dead guest's waits for the vIOMMU end, and the new guest's NIC never breaks",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab({
      ...pair("lazy"),
      vms: {
        a: { iommu: { mode: "lazy" }, nics: { eth0: { ip: "10.0.0.1/24", iommu: true } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
    });
    try {
      // The dead guest spun in its MAP waits (for a device worker that was gone) and then wrote
      // rings the new guest had taken: `device-needs-reset` (its receiveq's used index jumped
      // back to 0), some reboots a `device-reset-failed`.
      const stop = new AbortController();
      const into = lab.exec("b", ["udp-flood", "10.0.0.1", "-r", "20000", "-t", "30"], stop.signal);
      const from = lab.events.recent().length;
      for (let i = 0; i < 4; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const at = lab.events.recent().length;
        const r = await lab.fault({ kind: "vm-crash", vm: "a" });
        assert.ok(r.ok, r.ok ? "" : r.message);
        await vmRestarted(lab, "a", at);
        await new Promise((r) => setTimeout(r, 400)); // frames into the new guest
      }
      stop.abort();
      await into;
      const broken = lab.events.recent().slice(from).filter((e) =>
        e.subject === "a" && ["device-needs-reset", "device-reset-failed"].includes(e.kind)
      );
      assert.deepEqual(broken, []);
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
    } finally {
      await lab.stop();
    }
  },
});
