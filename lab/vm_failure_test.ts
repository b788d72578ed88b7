import assert from "node:assert/strict";
import { labStatus } from "./metrics.ts";
import { PAIR } from "./server_testing.ts";
import { LAB_TEST, startLabWithFailingGuest, waitForValue } from "./testing.ts";

Deno.test({
  ...LAB_TEST,
  name: "a failed VM's status says which worker failed, why and its hint, not only 'failed'",
  fn: async () => {
    // The guest of `a` fails as it receives a workload, saying why and what to do, as a guest
    // driver that cannot start its device does (no fault kind makes a guest fail after start).
    const lab = await startLabWithFailingGuest(PAIR, "a", {
      message: 'VM "a" could not start …',
      hint: "Do this",
    });
    try {
      assert.equal(lab.vmFailure("a"), null);
      await lab.exec("a", ["ping", "10.0.0.2", "-c", "1"]);
      await waitForValue("a failed", () => lab.vmState("a") === "failed" || null);
      // `vlab status` said `a failed` and nothing of why: the event log alone had it.
      const [a, b] = labStatus(lab).vms;
      assert.deepEqual(a.failure, {
        worker: "guest",
        message: 'VM "a" could not start …',
        hint: "Do this",
      });
      assert.equal(b.failure, undefined);
      // A workload on it: the hint pointed to a status that said nothing of why.
      const refused = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1"]);
      assert.ok(!refused.ok);
      assert.equal(refused.message, 'Cannot run a workload: VM "a" has failed');
      assert.match(refused.hint, /^`vlab status` says why; a failed VM does not run again/);
      const logged = lab.events.recent().find((e) => e.kind === "guest-failed");
      assert.deepEqual(logged?.detail, { message: 'VM "a" could not start …', hint: "Do this" });
    } finally {
      await lab.stop();
    }
  },
});
