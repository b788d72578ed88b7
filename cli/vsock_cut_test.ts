/**
 * `cutShort`, which tells `vlab vsock` why its stream ended when the socket cannot say: a lab that
 * answers no request in the last moment of its stop (its server shut down, its folder not removed
 * yet) is asked again until it is gone, not taken for a guest that closed the stream.
 */

import assert from "node:assert/strict";
import { cutShort } from "./vsock.ts";
import { VlabError } from "./errors.ts";
import { inStateDir } from "../lab/testing.ts";
import { createLabDir, labPaths, type LabRecord, writeRecord } from "../lab/state.ts";

Deno.test({
  name:
    "a lab that refuses the question at the end of its stop reads as stopped, not as the guest's close",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    inStateDir("vlab-vsock-cut-", async () => {
      // Its folder and lock held by a live process (this one), its control socket not serving:
      // what a client meets between the server's shutdown and the folder's removal.
      const hold = createLabDir("vsock-pair");
      const record: LabRecord = {
        name: "vsock-pair",
        pid: Deno.pid,
        socket: labPaths("vsock-pair").socket,
        source: "vsock-pair",
        startedAt: new Date().toISOString(),
        vms: 2,
      };
      writeRecord(record);
      const released = new Promise<void>((r) => setTimeout(() => (hold.release(), r()), 300));
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
