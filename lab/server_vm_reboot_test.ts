/**
 * `GET /vms/NAME` of a VM rebooting after `vm-crash`: its guest reports nothing (null) then, and
 * the answer says where the reboot is, as `vlab status` does; before, it said only `restarting`.
 */

import assert from "node:assert/strict";
import { withServer } from "./server_testing.ts";
import { waitForValue } from "./testing.ts";

Deno.test({
  name: "GET /vms/NAME of a VM rebooting after vm-crash says where its reboot is",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const before = await env.call("/vms/b");
      assert.equal(before.status, 200);
      assert.equal(before.body.reboot, undefined);
      const r = await env.lab.fault({ kind: "vm-crash", vm: "b", ms: 3000 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      await waitForValue("b's boot phase", () => env.lab.rebootOf("b")?.phase === "boot" || null);
      const during = await env.call("/vms/b");
      assert.equal(during.status, 200);
      assert.equal(during.body.state, "restarting");
      assert.equal(during.body.guest, null);
      assert.equal(during.body.reboot.phase, "boot");
      assert.equal(during.body.reboot.ms, 3000);
      assert.ok(during.body.reboot.bootsInMs > 0, JSON.stringify(during.body));
      assert.deepEqual(Object.keys(during.body), ["name", "state", "reboot", "guest"]);
    }),
});
