import assert from "node:assert/strict";
import { LabError } from "./errors.ts";
import { vmNotServing, vsockConnect } from "./vsock_connect.ts";

Deno.test("vsockConnect to a VM that crashed and is rebooting says so, before any socket (it read as refused or as a socket that cannot be opened)", async () => {
  // No socket at this path: a connect that tried it would be control-error.
  const path = `${Deno.makeTempDirSync()}/a/vsock.sock`;
  const e = await vsockConnect(path, { vm: "a", port: 7, state: "restarting" }).then(
    () => assert.fail("connected"),
    (e) => e,
  );
  assert.ok(e instanceof LabError);
  assert.equal(e.code, "workload-failed");
  assert.equal(e.message, 'Cannot connect to vsock port 7 of VM "a": it crashed and is rebooting');
  assert.match(e.hint, /^Wait until `vlab status` shows it running/);
  const failed = await vsockConnect(path, { vm: "a", port: 7, state: "failed" }).catch((e) => e);
  assert.equal(failed.message, 'Cannot connect to vsock port 7 of VM "a": it is failed');
});

Deno.test("vmNotServing: null for a running VM; a running VM's connect goes on to its socket", async () => {
  assert.equal(vmNotServing("a", 7, "running"), null);
  const path = `${Deno.makeTempDirSync()}/a/vsock.sock`;
  const e = await vsockConnect(path, { vm: "a", port: 7, state: "running" }).catch((e) => e);
  assert.equal(e.code, "control-error");
});
