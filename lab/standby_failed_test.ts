/**
 * A worker the lab spawns ahead (a reboot's refill, in a timer of its own) that cannot be
 * constructed (`new Worker` throws: resource limits) is a `standby-failed` event, and the lab goes
 * on without it: the next reboot constructs its workers as before. The throw was uncaught, in a
 * timer: it ended the lab's process.
 */

import assert from "node:assert/strict";
import { startLab } from "./api.ts";
import { inStateDir, LAB_TEST, within } from "./testing.ts";

/**
 * Run `fn` with every worker named `… standby` failing to construct while `failing()` says so;
 * `globalThis.Worker` is put back after.
 */
async function failingStandby<T>(failing: () => boolean, fn: () => Promise<T>): Promise<T> {
  const Original = globalThis.Worker;
  class Limited extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      if (failing() && options?.name?.endsWith(" standby") === true) {
        throw new Error("Resource temporarily unavailable (os error 11)");
      }
      super(url, options);
    }
  }
  globalThis.Worker = Limited;
  try {
    return await fn();
  } finally {
    globalThis.Worker = Original;
  }
}

Deno.test({
  name: "a standby worker that cannot be constructed after a reboot is a standby-failed event; " +
    "the lab goes on and the next reboot constructs its own",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-standby-failed-", async () => {
      let failing = false;
      await failingStandby(() => failing, async () => {
        const lab = await startLab("pair");
        try {
          failing = true;
          for (let i = 0; i < 2; i++) {
            const restarted = new Promise<string>((resolve) => {
              const off = lab.lab.events.subscribe((e) => {
                if (e.kind === "vm-restarted" || e.kind === "vm-restart-failed") {
                  off();
                  resolve(e.kind);
                }
              });
            });
            const outcome = await lab.lab.fault({ kind: "vm-crash", vm: "b" });
            assert.ok(outcome.ok, JSON.stringify(outcome));
            assert.equal(await within(10_000, `reboot ${i + 1}`, restarted), "vm-restarted");
            // The refill, once the reboot is over, tries the guest spawned ahead, in a timer.
            const deadline = performance.now() + 5000;
            while (
              performance.now() < deadline &&
              lab.lab.events.recent().filter((e) => e.kind === "standby-failed").length <= i
            ) {
              await new Promise((r) => setTimeout(r, 10));
            }
          }
          const failed = lab.lab.events.recent().filter((e) => e.kind === "standby-failed");
          // One a reboot: the refill does not try again every turn.
          assert.equal(failed.length, 2, JSON.stringify(failed));
          assert.equal(failed[0].subject, "pair");
          assert.deepEqual(failed[0].detail, {
            worker: "guest",
            message: "Resource temporarily unavailable (os error 11)",
          });
          // The lab is still up, and its VMs talk.
          assert.equal(lab.lab.stopped, false);
          const ping = await lab.vm("a").exec(["ping", "10.0.0.2", "-c", "1"]);
          assert.equal(ping.received, 1, JSON.stringify(ping));
        } finally {
          await lab.stop();
        }
      });
    }),
});

Deno.test({
  name: "reserveStandby constructs one worker a turn: a timer due meanwhile fires between them, " +
    "and all are reserved when it resolves",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-standby-reserve-", async () => {
      // What happened, in order: `worker` for each standby constructed, `timer` when it fired.
      const log: string[] = [];
      const Original = globalThis.Worker;
      class Counted extends Original {
        constructor(url: string | URL, options?: WorkerOptions) {
          super(url, options);
          if (options?.name?.endsWith(" standby") === true) log.push("worker");
        }
      }
      globalThis.Worker = Counted;
      try {
        const lab = await startLab("pair");
        try {
          log.length = 0; // the device workers the lab keeps from its start
          setTimeout(() => log.push("timer"), 0);
          // 2 + 1 + 1 device workers (the 2 kept and 2 new) and 2 guests: 4 constructed.
          await lab.lab.reserveStandby({ reboots: 1, restarts: 1 });
          assert.equal(log.filter((e) => e === "worker").length, 4, log.join(" "));
          // All in one turn, the timer fired only after the last (after it resolved, even).
          const timer = log.indexOf("timer");
          assert.ok(timer >= 0 && timer < log.length - 1, log.join(" "));
        } finally {
          await lab.stop();
        }
      } finally {
        globalThis.Worker = Original;
      }
    }),
});
