/**
 * What a running lab says of a VM rebooting after `vm-crash` through its guest's boot time
 * (`ms`): `Lab.rebootOf`, the status and the snapshot name the reboot's phase and the time left,
 * where before they said only `restarting` and a device at status 0 for up to a minute.
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, vmRestarted, waitForValue } from "./testing.ts";
import { labStatus } from "./metrics.ts";
import { takeSnapshot } from "./snapshot.ts";

const PAIR = {
  name: "reboot-phase",
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

Deno.test({
  name:
    "a VM rebooting after vm-crash says where its reboot is: its guest's boot and the time left",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      assert.equal(lab.rebootOf("b"), null);
      const from = lab.events.recent().length;
      const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 3000 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // Its devices are back at power-on (tens of ms): the guest waits out its 3 s.
      const boot = await waitForValue("b's boot phase", () => {
        const p = lab.rebootOf("b");
        return p?.phase === "boot" ? p : null;
      });
      assert.equal(boot.ms, 3000);
      assert.ok(boot.bootsInMs! > 1000 && boot.bootsInMs! <= 3000, JSON.stringify(boot));
      const inStatus = labStatus(lab).vms.find((v) => v.name === "b")!;
      assert.equal(inStatus.state, "restarting");
      assert.equal(inStatus.reboot?.phase, "boot");
      assert.equal(inStatus.reboot?.ms, 3000);
      assert.equal(takeSnapshot(lab).vms.find((v) => v.name === "b")?.reboot?.phase, "boot");
      // A workload asked of it meanwhile is refused, with how long its guest still boots.
      const refused = await lab.exec("b", ["ping", "10.0.0.1", "-c", "1"]);
      assert.ok(!refused.ok);
      assert.match(
        refused.hint,
        /^Wait for its vm-restarted event \(or `vlab status` showing it running; its guest boots in \d\.\d s\), then run it again$/,
      );
      // So is a fault.
      const fault = await lab.fault({ kind: "backend-crash", vm: "b" });
      assert.ok(!fault.ok);
      assert.match(
        fault.hint,
        /^Wait until it runs again \(see `vlab status`; its guest boots in \d\.\d s\)$/,
      );
      // The other VM is not rebooting.
      assert.equal(labStatus(lab).vms.find((v) => v.name === "a")!.reboot, undefined);
      await vmRestarted(lab, "b", from);
      assert.equal(lab.rebootOf("b"), null);
      assert.equal(labStatus(lab).vms.find((v) => v.name === "b")!.reboot, undefined);
    } finally {
      await lab.stop();
    }
  },
});
