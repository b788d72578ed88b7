/**
 * The `lab-up` event counts a lab as `vlab up` and `vlab validate` print it: every link (a
 * vhost-pci link too, which has no rings) and vsock routers apart from switches.
 */

import assert from "node:assert/strict";
import type { Lab } from "./lab.ts";
import { LAB_TEST, startTestLab } from "./testing.ts";

function labUp(lab: Lab) {
  const up = lab.events.recent().filter((e) => e.kind === "lab-up");
  assert.equal(up.length, 1);
  return up[0].detail ?? {};
}

Deno.test({
  ...LAB_TEST,
  name: "lab-up of a vhost-pci lab counts its vhost-pci link",
  fn: async () => {
    const lab = await startTestLab({
      name: "up-vhost-pci",
      vms: {
        a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      links: [{ kind: "vhost-pci", endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      const d = labUp(lab);
      assert.deepEqual([d.vms, d.switches, d.routers, d.links], [2, 0, 0, 1]);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name: "lab-up counts a vsock router apart from switches, and every link",
  fn: async () => {
    const lab = await startTestLab({
      name: "up-router",
      vms: {
        a: { nics: { eth0: { ip: "10.0.0.1/24" } }, vsock: { cid: 3 } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } }, vsock: { cid: 4 } },
      },
      switches: { sw: {} },
      vsock_routers: { vr: {} },
      links: [
        { endpoints: ["a:eth0", "sw"] },
        { endpoints: ["b:eth0", "sw"] },
        { kind: "vsock", endpoints: ["a", "vr"] },
        { kind: "vsock", endpoints: ["b", "vr"] },
      ],
    });
    try {
      const d = labUp(lab);
      assert.deepEqual([d.vms, d.switches, d.routers], [2, 1, 1]);
      assert.equal(d.links, 4, "two net links and two vsock links");
    } finally {
      await lab.stop();
    }
  },
});
