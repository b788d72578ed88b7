import assert from "node:assert/strict";
import { LAB_TEST } from "../testing.ts";
import { formatNetReport } from "./net.ts";
import { formatVhostPciRows, vhostPciBenchPlan, vhostPciComparison } from "./net_vhost_pci.ts";
import { DEFAULT_NET_OPTIONS } from "./net.ts";

Deno.test("the vhost-pci bench compares the same two VMs over a ring link and over vhost-pci", () => {
  const net = vhostPciBenchPlan("net", 0);
  const vp = vhostPciBenchPlan("vhost-pci", 0);
  assert.deepEqual(net.vms.map((v) => v.name), vp.vms.map((v) => v.name));
  assert.equal(net.rings.length, 2, "virtio-net: a link ring each way");
  assert.equal(vp.rings.length, 0, "vhost-pci: no ring");
  assert.equal(vp.vhostPciLinks?.[0].iommu, true, "a's NIC behind its vIOMMU in both");
  assert.equal(net.vms[0].devices[0].kind === "net" && net.vms[0].devices[0].iommu !== null, true);
});

Deno.test({
  name: "vlab bench net's vhost-pci row, smoke run with tiny sizes: both links measured, ratios",
  ...LAB_TEST,
  fn: async () => {
    const seen: string[] = [];
    const row = await vhostPciComparison(
      { seconds: 0.5, runs: 2, pings: 3, pollUs: 0 },
      (w) => seen.push(w),
    );
    // Each link leads a run in turn.
    assert.deepEqual(seen.map((w) => w.split(" ")[0]), [
      "virtio-net",
      "vhost-pci",
      "vhost-pci",
      "virtio-net",
    ]);
    assert.equal(row.frameSize, 64);
    assert.ok(row.net.pps > 0 && row.vhostPci.pps > 0, JSON.stringify(row));
    assert.ok(row.net.rttMedianUs > 0 && row.vhostPci.rttMedianUs > 0);
    assert.equal(row.ppsRatios.length, 2);
    const text = formatNetReport({
      date: "now",
      cpus: 2,
      options: DEFAULT_NET_OPTIONS,
      rows: [row],
    });
    assert.match(text, /virtio-net link +64 +\d+\.\d{3} +\d+/);
    assert.match(text, /vhost-pci \/ net +\d+\.\d\dx +\d+\.\d\dx/);
    assert.equal(row.ppsRatio, (row.ppsRatios[0] + row.ppsRatios[1]) / 2);
    assert.match(
      text,
      /^vhost-pci\/net, 64 B: \d+\.\d\dx the frame rate \(median of 2 paired runs, [\d.]+–[\d.]+\), \d+\.\d\dx the ping/m,
    );
  },
});

Deno.test("the vhost-pci row says its frame ratio is the median of paired runs, with their range", () => {
  const lines = formatVhostPciRows([{
    kind: "vhost-pci",
    frameSize: 64,
    pings: 200,
    net: { pps: 252_000, rttMedianUs: 1669 },
    vhostPci: { pps: 319_000, rttMedianUs: 486 },
    ppsRatio: 2.79,
    ppsRatios: [1.2, 2.79, 3.1],
    rttRatio: 486 / 1669,
    runs: 3,
  }]);
  assert.match(lines[3], /^vhost-pci \/ net +2\.79x +0\.29x$/);
  assert.equal(
    lines[4],
    "vhost-pci/net, 64 B: 2.79x the frame rate (median of 3 paired runs, 1.20–3.10), " +
      "0.29x the ping median (ratio of the two medians)",
  );
});
