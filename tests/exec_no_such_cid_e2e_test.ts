/**
 * A `vsock-send` to a CID that no VM of the lab has fails with its own error code, `no-such-cid`,
 * through each way a workload is run: `lab.vm(...).exec` and `spawn` in a script, the control
 * socket's `POST /exec` (`execCancellable`, which `vlab exec` uses). It was `workload-failed`, as a
 * connect refused by a VM that exists: only the message told them apart.
 */

import assert from "node:assert/strict";
import { startLab } from "../mod.ts";
import { LabError } from "../lab/errors.ts";
import { execCancellable, resolveLab } from "../lab/client.ts";
import { inStateDir } from "../lab/testing.ts";

const VSOCK_PAIR = {
  name: "no-such-cid",
  seed: 3,
  vms: {
    a: { nics: { eth0: { ip: "10.1.0.1/24" } }, vsock: { cid: 3 } },
    b: { nics: { eth0: { ip: "10.1.0.2/24" } }, vsock: { cid: 4 } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }, { kind: "vsock", endpoints: ["a", "b"] }],
};

function hasCode(code: string, message: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof LabError, `not a LabError: ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    assert.ok(e.hint.length > 0);
    return true;
  };
}

Deno.test({
  name: "vsock-send to a CID no VM has: LabError no-such-cid from exec, spawn and POST /exec",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-cid-test-", async () => {
      const lab = await startLab(VSOCK_PAIR);
      try {
        const send = ["vsock-send", "9", "5000", "-b", "1"];
        const noCid = hasCode("no-such-cid", /^Cannot connect to vsock 9:5000: no VM has CID 9$/);
        await assert.rejects(lab.vm("a").exec(send), noCid);
        // spawn: thrown by spawn itself or by its result, the code is the same.
        await assert.rejects(lab.vm("a").spawn(send).then((s) => s.result), noCid);
        // The control socket, vlab exec's way.
        const record = await resolveLab("no-such-cid");
        await assert.rejects(execCancellable(record, "a", send), noCid);
        // A CID that a VM has, where nothing listens: still workload-failed.
        await assert.rejects(
          execCancellable(record, "a", ["vsock-send", "4", "5000", "-b", "1"]),
          hasCode("workload-failed", /^Cannot connect to vsock 4:5000: refused$/),
        );
      } finally {
        await lab.stop();
      }
    }),
});
