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
  // It said "it is failed", and to see a status that did not say why.
  assert.equal(failed.message, 'Cannot connect to vsock port 7 of VM "a": it has failed');
  assert.match(failed.hint, /^`vlab status` says why; a failed VM does not run again/);
});

Deno.test("vmNotServing: null for a running VM; a running VM's connect goes on to its socket", async () => {
  assert.equal(vmNotServing("a", 7, "running"), null);
  const path = `${Deno.makeTempDirSync()}/a/vsock.sock`;
  const e = await vsockConnect(path, { vm: "a", port: 7, state: "running" }).catch((e) => e);
  assert.equal(e.code, "control-error");
  // One sentence, without Deno's "No such file or directory (os error 2)" after the path.
  assert.equal(
    e.message,
    `Cannot connect to vsock port 7 of VM "a": its socket ${JSON.stringify(path)} is gone`,
  );
  assert.match(e.hint, /^Check with `vlab status` that the lab and the VM run/);
});

Deno.test("vsockConnect to a socket file nobody serves says so in one line", async () => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/vsock.sock`;
  try {
    // A process that listened and ended without closing: the file stays, nobody listens.
    const made = await new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `Deno.listen({ transport: "unix", path: ${JSON.stringify(path)} }); Deno.exit(0)`,
      ],
    }).output();
    assert.ok(made.success && Deno.statSync(path).isSocket);
    const e = await vsockConnect(path, { vm: "a", port: 7 }).catch((e) => e);
    assert.ok(e instanceof LabError);
    assert.match(e.message, /: its socket ".*" takes no connection \(nothing serves it\)$/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
