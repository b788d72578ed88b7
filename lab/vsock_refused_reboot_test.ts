/**
 * A guest's vsock connect to a VM rebooting after `vm-crash` is refused at once (its device runs
 * with no driver and answers RST): the failure says that VM reboots, not only to start a listener
 * there and check the link, which is all the guest that asked could tell from the RST.
 */

import assert from "node:assert/strict";
import { LAB_TEST, startTestLab, vmRestarted, waitForValue } from "./testing.ts";

const VSOCK_PAIR = {
  name: "vsock-refused-reboot",
  vms: { a: { vsock: { cid: 3 } }, b: { vsock: { cid: 4 } } },
  links: [{ kind: "vsock", endpoints: ["a", "b"] }],
};

Deno.test({
  name: "a vsock connect refused by a VM rebooting after vm-crash says that VM reboots",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(VSOCK_PAIR);
    try {
      const from = lab.events.recent().length;
      const r = await lab.fault({ kind: "vm-crash", vm: "a", ms: 4000 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // a's devices are back at power-on, with no driver: its vsock device answers RST.
      await waitForValue("a's boot phase", () => lab.rebootOf("a")?.phase === "boot" || null);
      const sent = await lab.exec("b", ["vsock-send", "3", "7", "-b", "10"]);
      assert.ok(!sent.ok);
      assert.equal(sent.message, "Cannot connect to vsock 3:7: refused");
      // Before: 'CID 3 is VM "a": start vsock-sink or vsock-echo on port 7 there; if one runs,
      // see `vlab status` for the vsock link a-b-vsock (down, or cut by a partition) …'.
      assert.match(
        sent.hint,
        /^VM "a" \(CID 3\) crashed and is rebooting \(its guest boots in \d+\.\d s\): until its guest runs, its vsock device has no driver and refuses every connection\. Once `vlab status` shows it running, start a listener there again/,
      );
      await vmRestarted(lab, "a", from);
      // Running again, with no listener: the guest's own hint, as before.
      const again = await lab.exec("b", ["vsock-send", "3", "7", "-b", "10"]);
      assert.ok(!again.ok);
      assert.match(again.hint, /^CID 3 is VM "a": start vsock-sink or vsock-echo on port 7 there/);
    } finally {
      await lab.stop();
    }
  },
});
