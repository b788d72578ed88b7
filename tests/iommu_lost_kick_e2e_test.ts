/**
 * `vlab fault lost-kick VM iommu0 requestq`: the virtio-iommu driver's kicks that the fault
 * swallows ring no doorbell (the device hears nothing, as after a lost notification), and the
 * driver kicks again after 10 ms without an answer, so a revocation (`iommu-unmap`) completes
 * late instead of never. Before, the driver rang the device's doorbell for a swallowed kick too,
 * and the fault was "injected" but changed nothing.
 */

import assert from "node:assert/strict";
import { dropNotifications, droppedNotifications, regFileWords } from "../devices/virtio/mmio.ts";
import { notifyIommu } from "../lab/guest/kinds/iommu.ts";
import type { IommuUnmapResult } from "../lab/guest/workloads/iommu.ts";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { LAB_TEST, waitForValue } from "../lab/testing.ts";
import { deviceControl } from "../lab/wire/control.ts";

const REQUESTQ = 0;

Deno.test("a swallowed virtio-iommu kick rings no doorbell; the next one does", () => {
  const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
  let rung = 0;
  dropNotifications(regs, REQUESTQ, { kicks: 2, interrupts: 0 });
  assert.equal(notifyIommu(regs, REQUESTQ, () => rung++), false);
  assert.equal(notifyIommu(regs, REQUESTQ, () => rung++), false);
  assert.equal(rung, 0, "the device heard nothing of the lost kicks");
  assert.equal(notifyIommu(regs, REQUESTQ, () => rung++), true);
  assert.equal(rung, 1);
  assert.equal(droppedNotifications(regs, REQUESTQ).kicks, 2);
});

Deno.test({
  name: "iommu-unmap after 3 lost requestq kicks completes once the driver kicks again",
  ...LAB_TEST,
  fn: async () => {
    const file = new URL("../topologies/iommu-pair.yaml", import.meta.url);
    const t = parseTopology(Deno.readTextFileSync(file), "topologies/iommu-pair.yaml");
    assert.ok(t.ok);
    // No hot polling after work: the device worker sleeps until a doorbell rings.
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000, hostWait: "async" });
    try {
      const a = lab.plan.vms[0];
      const slot = a.devices.findIndex((d) => d.kind === "iommu");
      const regs = deviceControl(lab.controlOf(0), a.control.devices[slot]).regs;
      const resets = () =>
        lab.events.recent().filter((e) => e.kind === "device-reset" && e.subject === "a").length;
      // The device worker may wake by itself (its idle timer) while the kicks are lost and
      // serve the UNMAP early; three tries make that a non-issue, while a doorbell rung for a
      // swallowed kick answers every try within a few ms.
      const flushed: number[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        const before = droppedNotifications(regs, REQUESTQ).kicks;
        const injected = await lab.fault({
          kind: "lost-kick",
          vm: "a",
          device: "iommu0",
          queue: "requestq",
          count: 3,
        });
        assert.ok(injected.ok, injected.ok ? "" : injected.message);
        const r = await lab.exec("a", ["iommu-unmap", "eth0"]);
        assert.ok(r.ok, r.ok ? "" : `${r.message} (${r.hint})`);
        const ms = (r.result as IommuUnmapResult).flushedMs;
        flushed.push(ms);
        assert.ok(ms < 2000, `the revocation completed late, not never (${ms} ms)`);
        assert.equal(droppedNotifications(regs, REQUESTQ).kicks - before, 3, "3 kicks lost");
        // The NIC meets the revoked window, resets and maps its pool again before the next try.
        await waitForValue("a's NIC reset", () => resets() > attempt ? true : null, 10_000);
        if (ms >= 30) break;
      }
      assert.ok(
        flushed.some((ms) => ms >= 30),
        `each lost kick delays the UNMAP by 10 ms at least; flushed after ${flushed.join(", ")} ms`,
      );
    } finally {
      await lab.stop();
    }
  },
});
