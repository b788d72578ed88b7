/**
 * A vhost-pci link through the CLI, on a lab where the serving VM `b` has a second NIC after its
 * vhost-pci one: `vlab link a-b clear` succeeds (a vhost-pci link has nothing to clear, as a
 * net link with no impairment) while `set` is refused. Uses its own state folder
 * (VLAB_STATE_DIR).
 */

import assert from "node:assert/strict";
import { vlabIn } from "./run.ts";

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
  name: "vhost-pci link: clear succeeds, set is refused",
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
    } finally {
      await vlab("down", "--all");
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  },
});
