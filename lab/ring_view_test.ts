/**
 * `takeRingView`'s refusals carry the codes of the rest of the lab's API (`POST /faults`): an
 * unknown VM, device or queue, and a vhost-pci-net device, which has no queues of its own and is
 * told apart from a NIC lacking the queue asked for.
 */

import assert from "node:assert/strict";
import { takeRingView } from "./ring_view.ts";
import { LAB_TEST, startTestLab } from "./testing.ts";

Deno.test({
  ...LAB_TEST,
  name:
    "ring view refusals: unknown-vm, unknown-device, unknown-queue, and no-queues for b's vhost-pci-net device, pointing at a's queues",
  fn: async () => {
    const lab = await startTestLab({
      name: "ring-view-codes",
      vms: {
        a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      },
      links: [{ kind: "vhost-pci", endpoints: ["a:eth0", "b:eth0"] }],
    });
    try {
      const refused = (vm: string, nic: string, queue: number) => {
        const r = takeRingView(lab, { vm, nic, queue });
        assert.ok(!r.ok, `${vm} ${nic} ${queue} is refused`);
        return r.error;
      };
      const b = refused("b", "eth0", 0);
      assert.equal(b.code, "no-queues");
      assert.equal(
        b.message,
        "NIC b:eth0 is a vhost-pci-net device with no queues of its own: it serves a:eth0's",
      );
      assert.match(b.hint, /ringView\("a", "eth0", 0\)/);
      assert.match(b.hint, /GET \/ring\?vm=a&nic=eth0&queue=0/);
      assert.equal(refused("b", "eth0", 1).code, "no-queues", "whatever the index");
      assert.equal(refused("zz", "eth0", 0).code, "unknown-vm");
      const nic = refused("a", "eth9", 0);
      assert.deepEqual([nic.code, nic.message], ["unknown-device", 'VM "a" has no device "eth9"']);
      const q = refused("a", "eth0", 2);
      assert.deepEqual([q.code, q.message], ["unknown-queue", "NIC a:eth0 has no queue 2"]);
      assert.equal(q.hint, "Queues: 0 (receiveq), 1 (transmitq)");
      // What the hint points at works, and says who serves it.
      const a = takeRingView(lab, { vm: "a", nic: "eth0", queue: 0 });
      assert.ok(a.ok, JSON.stringify(a));
      assert.equal(a.value.servedBy, "b:eth0 over vhost-pci a-b");
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  ...LAB_TEST,
  name: "a vsock device's unknown queue is refused as a device's, not a NIC's",
  fn: async () => {
    // "NIC a:vsock0 has no queue 9" called the vsock device a NIC.
    const lab = await startTestLab({
      name: "ring-view-vsock",
      vms: { a: { nics: { eth0: {} }, vsock: { cid: 3 } } },
    });
    try {
      const r = takeRingView(lab, { vm: "a", nic: "vsock0", queue: 9 });
      assert.ok(!r.ok);
      assert.deepEqual([r.error.code, r.error.message], [
        "unknown-queue",
        "Device a:vsock0 has no queue 9",
      ]);
      assert.equal(r.error.hint, "Queues: 0 (rx), 1 (tx), 2 (event)");
      assert.ok(takeRingView(lab, { vm: "a", nic: "vsock0", queue: 1 }).ok);
    } finally {
      await lab.stop();
    }
  },
});
