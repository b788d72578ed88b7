/**
 * `iommu-unmap` back to back while traffic flows (`vlab exec a -- iommu-unmap eth0` in a loop):
 * each revocation either revokes the window (the NIC faults and resets, mapping it again) or is
 * refused while the window is revoked or the NIC's reset still needs it. None may land while the
 * reset brings the queues up: the device refused the new queues' rings, the reset failed
 * (`device-reset-failed`, `queue-refused`) and the NIC stayed dead.
 */

import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
import { LAB_TEST } from "../lab/testing.ts";

const REFUSALS = new RegExp(
  '^Cannot revoke "eth0": (its window is revoked already, and its reset has not mapped it ' +
    "again yet|its NIC is being reset, which needs the window until its queues are live)$",
);

for (const mode of ["static", "strict"]) {
  Deno.test({
    name: `iommu-unmap 40 times back to back under traffic (${mode}): the NIC always comes back`,
    ...LAB_TEST,
    fn: async () => {
      const t = parseTopology(
        `
name: unmap-loop-${mode}
seed: 3
vms:
  a:
    iommu: { mode: ${mode} }
    nics: { eth0: { ip: 10.0.0.1/24, iommu: true } }
  b:
    nics: { eth0: { ip: 10.0.0.2/24 } }
links:
  - endpoints: [a:eth0, b:eth0]
`,
        "t.yaml",
      );
      assert.ok(t.ok);
      const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
      try {
        // Traffic until the loop is done (it was a fixed 3 s the loop seldom needed): -t only
        // bounds it.
        const stop = new AbortController();
        const flood = lab.exec(
          "a",
          ["udp-flood", "10.0.0.2", "-r", "20000", "-t", "20"],
          stop.signal,
        );
        await new Promise((r) => setTimeout(r, 200));
        let revoked = 0;
        for (let i = 0; i < 40; i++) {
          const r = await lab.exec("a", ["iommu-unmap", "eth0"]);
          if (r.ok) revoked++;
          else assert.match(r.message, REFUSALS);
        }
        assert.ok(revoked >= 1, "some revocations went through");
        stop.abort();
        const f = await flood;
        assert.ok(f.ok, f.ok ? "" : f.message);
        const failed = lab.events.recent().filter((e) => e.kind === "device-reset-failed");
        assert.deepEqual(failed, [], "no reset failed");
        const ping = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05", "-W", "2"]);
        assert.ok(ping.ok, ping.ok ? "" : ping.message);
        assert.equal((ping.result as { received: number }).received, 2, "the NIC works");
      } finally {
        await lab.stop();
      }
    },
  });
}

Deno.test({
  name:
    "iommu-unmap of two NICs behind one vIOMMU in turn, 60 times under traffic: both NICs always come back",
  ...LAB_TEST,
  fn: async () => {
    // One NIC's revocation completed, its request's token went at once to the other NIC's
    // reset, whose ticket took the revocation's place: one of the two waiters read nothing, and
    // the reset failed ('The vIOMMU of a did not set up endpoint 1: statuses '), its NIC dead.
    const t = parseTopology(
      `
name: unmap-two
seed: 3
vms:
  a:
    iommu: { mode: static }
    nics:
      eth0: { ip: 10.0.0.1/24, iommu: true }
      eth1: { ip: 10.0.1.1/24, iommu: true }
  b:
    nics:
      eth0: { ip: 10.0.0.2/24 }
      eth1: { ip: 10.0.1.2/24 }
links:
  - { name: l0, endpoints: [a:eth0, b:eth0] }
  - { name: l1, endpoints: [a:eth1, b:eth1] }
`,
      "t.yaml",
    );
    assert.ok(t.ok);
    const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
    try {
      // Traffic until the loop is done, as above.
      const stop = new AbortController();
      const floods = ["10.0.0.2", "10.0.1.2"].map((ip) =>
        lab.exec("a", ["udp-flood", ip, "-r", "10000", "-t", "20"], stop.signal)
      );
      await new Promise((r) => setTimeout(r, 200));
      for (let i = 0; i < 60; i++) {
        const r = await lab.exec("a", ["iommu-unmap", i % 2 ? "eth1" : "eth0"]);
        if (!r.ok) assert.match(r.message, /^Cannot revoke "eth[01]": its (window|NIC) /);
      }
      stop.abort();
      for (const f of floods) assert.ok((await f).ok);
      const failed = lab.events.recent().filter((e) => e.kind === "device-reset-failed");
      assert.deepEqual(failed, [], "no reset failed");
      for (const ip of ["10.0.0.2", "10.0.1.2"]) {
        const ping = await lab.exec("a", ["ping", ip, "-c", "2", "-i", "0.05", "-W", "2"]);
        assert.ok(ping.ok, ping.ok ? "" : ping.message);
        assert.equal((ping.result as { received: number }).received, 2, `${ip} answers`);
      }
    } finally {
      await lab.stop();
    }
  },
});
