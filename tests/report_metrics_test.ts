/**
 * What a lab reports about itself once a script has stopped it: `lab.metrics()`, `lab.status()`
 * and `lab.snapshot()` (mod.ts) still answer, with the counters as the lab left them, and must not
 * say the lab is up or let its uptime run on.
 */

import assert from "node:assert/strict";
import { startLab } from "../mod.ts";
import { inStateDir, LAB_TEST, waitForValue } from "../lab/testing.ts";
import { MetricFamilies, workerStatMetrics } from "../lab/prometheus.ts";

/** The value of the one sample of `family` (no other labels than `lab`). */
function sample(text: string, family: string): number {
  const m = new RegExp(`^${family}\\{lab="[^"]*"\\} (\\S+)$`, "m").exec(text);
  assert.ok(m, `no ${family} in:\n${text.slice(0, 400)}`);
  return Number(m[1]);
}

Deno.test({
  name: "a stopped lab's metrics say vlab_up 0, and its uptime stops with it",
  ...LAB_TEST,
  fn: async () => {
    await inStateDir("vlab-report-metrics-", async () => {
      const lab = await startLab({
        name: "report-stop",
        vms: { a: { nics: { eth0: { ip: "10.0.0.1/24" } } } },
      }, { stopOnSignals: false });
      assert.equal(sample(lab.metrics(), "vlab_up"), 1);
      await lab.stop();
      const stopped = lab.metrics();
      // It said 1 ("while the lab runs") of a lab that was gone.
      assert.equal(sample(stopped, "vlab_up"), 0);
      const uptime = sample(stopped, "vlab_uptime_seconds");
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(sample(lab.metrics(), "vlab_uptime_seconds"), uptime, "uptime ran on");
      assert.equal(lab.status().uptimeSeconds, uptime);
      assert.equal(lab.snapshot().lab.uptimeSeconds, uptime);
      // vlab_vm_running follows the VM's state (here "stopped"), and its help says so: it said
      // "1 if both workers of the VM run", which a VM resetting a device contradicted.
      assert.match(stopped, /^vlab_vm_running\{lab="report-stop",vm="a"\} 0$/m);
      assert.match(stopped, /^# HELP vlab_vm_running 1 while the VM's state is running /m);
    });
  },
});

Deno.test({
  name: "partition drops are counted once, in vlab_link_drops_total, not again as a gauge",
  ...LAB_TEST,
  fn: async () => {
    await inStateDir("vlab-report-metrics-", async () => {
      const lab = await startLab({
        name: "report-cut",
        vms: {
          a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
          b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
        },
        links: [{ endpoints: ["a:eth0", "b:eth0"] }],
      }, { stopOnSignals: false });
      try {
        lab.partition(["a"], ["b"]);
        const ping = await lab.vm("a").exec([
          "ping",
          "10.0.0.2",
          "-c",
          "3",
          "-i",
          "0.02",
          "-W",
          "0.1",
        ]);
        assert.equal((ping as { received: number }).received, 0);
        // The device worker publishes its statistics a few times a second.
        const text = await waitForValue("the partition drops", () => {
          const t = lab.metrics();
          return /^vlab_link_drops_total\{[^}]*direction="forward",cause="partition"\} [1-9]/m.test(
              t,
            )
            ? t
            : null;
        });
        // They came out a second time, as a gauge of the catch-all family.
        assert.doesNotMatch(text, /^vlab_worker_stat\{.*partition_dropped/m);
        assert.doesNotMatch(text, /^vlab_worker_stat\{.*link_down_dropped/m);
      } finally {
        await lab.stop();
      }
    });
  },
});

Deno.test("a vsock backend's dropped RSTs are a counter, not a worker_stat gauge", () => {
  const m = new MetricFamilies();
  workerStatMetrics(m, { lab: "l" }, [
    { kind: "device", owner: "a", stats: { vsock_rst_dropped: 3 } },
  ], new Set());
  const text = m.text();
  assert.match(text, /^# TYPE vlab_vsock_backend_rst_dropped_total counter$/m);
  assert.match(text, /^vlab_vsock_backend_rst_dropped_total\{lab="l",vm="a"\} 3$/m);
  assert.doesNotMatch(text, /vlab_worker_stat/);
});

Deno.test({
  name: "a vhost-pci-net device, which has no ring of its own, is layout none in /metrics",
  ...LAB_TEST,
  fn: async () => {
    await inStateDir("vlab-report-metrics-", async () => {
      const lab = await startLab("vhost-pci", { stopOnSignals: false });
      try {
        const text = lab.metrics();
        // It said layout="split" of b's eth0, whose queues are a's, in a's memory.
        assert.match(
          text,
          /^vlab_vhost_pci_device_connects_total\{lab="vhost-pci",vm="b",device="eth0",layout="none"\} \d+$/m,
        );
        assert.match(
          text,
          /^vlab_net_device_tx_frames_total\{lab="vhost-pci",vm="a",device="eth0",layout="split"\} \d+$/m,
        );
      } finally {
        await lab.stop();
      }
    });
  },
});
