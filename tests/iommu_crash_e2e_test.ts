/**
 * The vIOMMU across a backend crash: the restarted device worker adopts the vIOMMU's tables
 * (they live in shared memory), takes over the IOTLB consumer slots and the virtio-iommu
 * device's queues, so traffic through the NICs behind it goes on and nothing is lost, in a mode
 * that maps once (static) and in one that maps every buffer (strict).
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, waitForValue } from "../lab/testing.ts";
import type { PingResult } from "../lab/guest/workloads/ping.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { NetCounter } from "../devices/net/metrics.ts";
import { deviceControl } from "../lab/wire/control.ts";

function pair(mode: string) {
  return {
    name: `iommu-crash-${mode}`,
    seed: 3,
    vms: {
      a: { iommu: { mode }, nics: { eth0: { ip: "10.0.0.1/24", iommu: true } } },
      b: { iommu: { mode }, nics: { eth0: { ip: "10.0.0.2/24", iommu: true } } },
    },
    links: [{ endpoints: ["a:eth0", "b:eth0"] }],
  };
}

const CASES = [
  { mode: "static", vm: "a", crash: "exit" },
  { mode: "static", vm: "b", crash: "exit" },
  { mode: "strict", vm: "a", crash: "exit" },
  { mode: "strict", vm: "b", crash: "exit" },
  // A hung backend answers no MAP for over a second: the guest's syncs give the pass up and
  // try again; nothing is refused.
  { mode: "strict", vm: "a", crash: "hang" },
] as const;

for (const { mode, vm, crash } of CASES) {
  {
    Deno.test({
      name: `iommu-pair (${mode}): ${vm}'s backend ${
        crash === "exit" ? "crashes" : "hangs"
      } under traffic; the vIOMMU goes on, nothing is lost`,
      ...LAB_TEST,
      fn: async () => {
        const lab = await startTestLab(pair(mode));
        try {
          const before = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
          assert.ok(before.ok && (before.result as PingResult).received === 2, "ping first");
          // 2000 frames at 2000 a second (the crash comes after 200); the sink ends at the last one, however long a
          // restart on a loaded machine holds some back (a loss still shows, after 30 s).
          const sink = (await lab.spawn("b", ["sink", "-n", "2000", "-t", "30"])).result;
          const flood = lab.exec("a", ["udp-flood", "10.0.0.2", "-r", "2000", "-n", "2000"]);
          // The crash under traffic: once 200 of the flood's frames left a's NIC (a fixed 0.5 s
          // could end before a loaded machine's flood began, and took longer than needed).
          const a = lab.plan.vms[0];
          const aNic = deviceControl(lab.controlOf(0), a.control.devices[a.nics[0].index])
            .deviceCounters;
          await waitForValue("the flood under way", () => aNic[NetCounter.txFrames] > 200 || null);
          const f = crash === "exit"
            ? await lab.fault({ kind: "backend-crash", vm, mode: "exit" })
            : await lab.fault({ kind: "backend-crash", vm, mode: "hang", ms: 3000 });
          assert.ok(f.ok, JSON.stringify(f));
          await waitForValue(
            `${vm}'s backend restarted`,
            () => lab.events.recent().find((e) => e.kind === "backend-restarted") ?? null,
            10_000,
          );
          const sent = await flood;
          assert.ok(sent.ok, sent.ok ? "" : sent.message);
          const got = await sink;
          assert.ok(got.ok, got.ok ? "" : got.message);
          const r = got.result as Record<string, number>;
          const s = sent.result as Record<string, number>;
          assert.equal(s.sent, 2000, `a sent ${s.sent}`);
          assert.equal(r.received, s.sent, "every frame sent arrived");
          assert.equal(r.lost, 0);
          const after = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
          assert.ok(after.ok && (after.result as PingResult).received === 2, "ping after");
          const kinds = lab.events.recent().map((e) => e.kind);
          for (const bad of ["device-error", "iommu-fault", "backend-restore-failed"]) {
            assert.ok(!kinds.includes(bad), `no ${bad}: ${JSON.stringify(lab.events.recent())}`);
          }
          const dom = takeSnapshot(lab).vms.find((v) => v.name === vm)!.iommu!.domains[0];
          assert.equal(dom.faults, 0);
          assert.ok(dom.mappings >= 1, "the mappings survived the crash");
        } finally {
          await lab.stop();
        }
      },
    });
  }
}
