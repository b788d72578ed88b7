/**
 * A vhost-pci link through the CLI, on a lab where the serving VM `b` has a second NIC after its
 * vhost-pci one: `vlab link a-b clear` succeeds (a vhost-pci link has nothing to clear, as a
 * net link with no impairment) while `set` is refused, and `vlab status` and the live
 * `vlab graph` list `b`'s interfaces in the topology's order (the vhost-pci-net one first), as
 * `vlab graph FILE` does. Uses its own state folder (VLAB_STATE_DIR).
 */

import assert from "node:assert/strict";
import { vlabIn } from "./run.ts";
import type { LabGraph } from "../lab/graph.ts";
import { summaryLine } from "../cli/lab.ts";
import { startVhostPciPair } from "./vhost_pci_pair.ts";

const TOPOLOGY = `name: vp-order
vms:
  a:
    iommu: { mode: static }
    nics:
      eth0: { ip: 10.0.0.1/24, iommu: true }
  b:
    nics:
      eth0: { ip: 10.0.0.2/24 }
      eth1: { ip: 10.0.1.2/24 }
  c:
    nics:
      eth0: { ip: 10.0.1.3/24 }
links:
  - kind: vhost-pci
    endpoints: [a:eth0, b:eth0]
  - endpoints: [b:eth1, c:eth0]
`;

Deno.test({
  name:
    "vhost-pci link: clear succeeds, set is refused; status and graph keep the topology's order",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "vlab-e2e-" });
    const file = `${stateDir}/vp-order.yaml`;
    Deno.writeTextFileSync(file, TOPOLOGY);
    const vlab = vlabIn(stateDir);
    try {
      const up = await vlab("up", file, "-d");
      assert.equal(up.code, 0, up.stderr);

      // It exited 1: "Cannot impair link" for a request that impairs nothing.
      for (const args of [["clear"], ["clear", "--direction", "forward"]]) {
        const clear = await vlab("link", "a-b", ...args);
        assert.equal(clear.code, 0, clear.stderr);
        assert.equal(clear.stdout, "link a-b: forward no impairment; reverse no impairment\n");
      }
      const set = await vlab("link", "a-b", "set", "delay=1ms");
      assert.equal(set.code, 1);
      assert.match(
        set.stderr,
        /^vlab: Cannot impair link "a-b": a vhost-pci link has no link ring/,
      );

      const order = (g: LabGraph) => g.vms.map((v) => `${v.name}:${v.nics.map((n) => n.name)}`);
      const live = await vlab("graph", "--format", "json");
      assert.equal(live.code, 0, live.stderr);
      const fromFile = await vlab("graph", file, "--format", "json");
      assert.equal(fromFile.code, 0, fromFile.stderr);
      assert.deepEqual(order(JSON.parse(live.stdout)), ["a:eth0", "b:eth0,eth1", "c:eth0"]);
      assert.deepEqual(order(JSON.parse(live.stdout)), order(JSON.parse(fromFile.stdout)));

      const status = await vlab("status");
      assert.equal(status.code, 0, status.stderr);
      const rows = status.stdout.split("\n").filter((l) => /^(b |\s+eth1)/.test(l));
      assert.match(rows[0], /^b\s+running\s+eth0\s.*vhost-pci-net\s+a-b\b/, status.stdout);
      assert.match(rows[1], /^\s+eth1\s.*split\/256\s+b-c\b/, status.stdout);
      const blocks = status.stdout.split("\n").filter((l) => /^ {2}b:eth\d/.test(l));
      assert.deepEqual(blocks.map((l) => l.trim().split(/\s/)[0]), ["b:eth0", "b:eth1"]);
    } finally {
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "vlab up's summary line counts a vhost-pci link's frames (it said 0 frames over links)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const lab = await startVhostPciPair();
    try {
      const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05"]);
      assert.ok(ping.ok && (ping.result as { received: number }).received === 2);
      // Two requests and two replies at least (ARP too), each counted once.
      const frames = Number(/, (\d+) frames? over links/.exec(summaryLine(lab))?.[1]);
      assert.ok(frames >= 4, summaryLine(lab));
    } finally {
      await lab.stop();
    }
  },
});
