/**
 * `lab.vm(name).vsockConnect(port)` of the scripting API: a host-to-guest vsock stream through
 * the VM's `vsock.sock` (Firecracker's CONNECT protocol done for the caller), echoed by the
 * guest's `vsock-echo`; a port nothing listens on, and a VM without vsock, are `LabError`s.
 */
import assert from "node:assert/strict";
import { startLab } from "../mod.ts";
import { LabError, PartialExecError } from "../lab/errors.ts";
import { streamPattern } from "../lab/guest/workloads/vsock_stream.ts";
import { inStateDir } from "../lab/testing.ts";

const TOPOLOGY = {
  name: "api-vsock",
  seed: 5,
  vms: { a: { vsock: { cid: 3 } }, c: { nics: { eth0: { ip: "10.9.0.1/24" } } } },
  links: [],
};

Deno.test({
  name: "vsockConnect opens a host stream to a guest port; refused and no-vsock are LabErrors",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-vsock-api-", async () => {
      const lab = await startLab(TOPOLOGY);
      try {
        const a = lab.vm("a");
        await assert.rejects(a.vsockConnect(7), (e) => {
          assert.ok(e instanceof LabError && e.code === "workload-failed", String(e));
          assert.match(e.message, /^Cannot connect to vsock port 7 of VM "a": refused$/);
          // Nothing listening and every connection taken look alike to the host: both are named.
          assert.match(e.hint, /vsock-echo -p 7`.*at most 1023 vsock connections at once/);
          return true;
        });
        await assert.rejects(lab.vm("c").vsockConnect(7), (e) => {
          assert.ok(e instanceof LabError && e.code === "unknown-vm", String(e));
          assert.match(e.message, /it has no vsock device/);
          return true;
        });
        await assert.rejects(a.vsockConnect(-1), RangeError);
        // spawn resolves once the echo listens: the first connect is accepted.
        const echo = await a.spawn(["vsock-echo", "-p", "7", "-t", "10"]);
        const conn = await a.vsockConnect(7);
        const data = streamPattern().slice(0, 200_000);
        const back = new Uint8Array(data.length);
        const reading = (async () => {
          let got = 0;
          for (let i = 0; i < 100_000 && got < back.length; i++) {
            const n = await conn.read(back.subarray(got));
            if (n === null) break;
            got += n;
          }
          return got;
        })();
        for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
        assert.equal(await reading, data.length);
        assert.deepEqual(back, data);
        await conn.closeWrite();
        conn.close();
        await lab.stop();
        // The lab's stop cut the echo (-t 10) short: no whole run, but what it had echoed.
        await assert.rejects(echo.result, (e) => {
          assert.ok(e instanceof PartialExecError && e.code === "no-lab", String(e));
          assert.ok(e.partial.kind === "vsock-echo" && e.partial.bytes >= data.length);
          return true;
        });
        // A stopped lab refuses it as every other call (it was control-error: no such socket).
        await assert.rejects(a.vsockConnect(7), (e) => {
          assert.ok(e instanceof LabError && e.code === "no-lab", String(e));
          assert.equal(e.hint, "Start it again with startLab()");
          return true;
        });
      } finally {
        await lab.stop();
      }
    }),
});
