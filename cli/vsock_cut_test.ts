/**
 * `cutShort`, which tells `vlab vsock` why its stream ended when the socket cannot say: a lab that
 * answers no request in the last moment of its stop (its server shut down, its folder not removed
 * yet) is asked again until it is gone, not taken for a guest that closed the stream.
 */

import assert from "node:assert/strict";
import { cutShort } from "./vsock.ts";
import { VlabError } from "./errors.ts";
import { inStateDir } from "../lab/testing.ts";
import { holdFakeLab } from "../lab/fake_lab_testing.ts";
import { withServer } from "../lab/server_testing.ts";

Deno.test({
  name:
    "a lab that refuses the question at the end of its stop reads as stopped, not as the guest's close",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-vsock-cut-", async () => {
      // Its folder and lock held by a live process (this one), its control socket not serving:
      // what a client meets between the server's shutdown and the folder's removal.
      const lab = holdFakeLab("vsock-pair");
      const record = lab.record;
      const released = new Promise<void>((r) => setTimeout(() => r(lab.close()), 300));
      try {
        const t0 = performance.now();
        const cut = await cutShort(record, "a", 7, undefined);
        assert.ok(cut instanceof VlabError, `expected the lab's stop, got ${cut}`);
        assert.equal(cut.code, "no-lab");
        assert.equal(
          cut.message,
          'The connection to vsock port 7 of VM "a" was cut: lab "vsock-pair" stopped',
        );
        assert.ok(performance.now() - t0 < 4000, "it waited for its deadline");
      } finally {
        await released;
      }
    }),
});

Deno.test({
  name:
    "a stream cut by a vm-crash whose guest boots longer than the wait says the VM reboots, at once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const r = await env.lab.fault({ kind: "vm-crash", vm: "b", ms: 20_000 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      const t0 = performance.now();
      const cut = await cutShort(env.record, "b", 7, { reboots: 0, backendRestarts: 0 });
      const ms = performance.now() - t0;
      // Before: 5 s of waiting, then "the VM is restarting after a crash" and a hint to connect
      // again once it runs, though the rebooted guest runs none of the old listeners.
      assert.ok(cut instanceof VlabError, `expected the reboot, got ${cut}`);
      assert.equal(cut.code, "workload-failed");
      assert.equal(
        cut.message,
        'The connection to vsock port 7 of VM "b" was cut: the VM crashed and is rebooting',
      );
      assert.match(
        cut.hint ?? "",
        /^A rebooted guest runs none of the old listeners: once `vlab status` shows it running, start one again, such as `vlab exec b -- vsock-echo -p 7`, then connect$/,
      );
      assert.ok(ms < 3000, `it waited ${Math.round(ms)} ms for a reboot that lasts 20 s`);
    }),
});

Deno.test({
  name:
    "a stream cut by a vm-crash is said to reboot at once also when the lab's recent events no longer hold the crash",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withServer(async (env) => {
      const r = await env.lab.fault({ kind: "vm-crash", vm: "b", ms: 20_000 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // A busy lab: more events than `recent` holds (1000) came after the crash's. Before, the
      // command read the crash from those events: it found none, waited 5 s, then said "the VM
      // is restarting after a crash" and to connect again.
      for (let i = 0; i < 1001; i++) env.lab.events.emit("test-noise", "a", { i });
      const t0 = performance.now();
      const cut = await cutShort(env.record, "b", 7, { reboots: 0, backendRestarts: 0 });
      const ms = performance.now() - t0;
      assert.ok(cut instanceof VlabError, `expected the reboot, got ${cut}`);
      assert.equal(
        cut.message,
        'The connection to vsock port 7 of VM "b" was cut: the VM crashed and is rebooting',
      );
      assert.ok(ms < 3000, `it waited ${Math.round(ms)} ms for a reboot that lasts 20 s`);
    }),
});
