import assert from "node:assert/strict";
import { startLab } from "./api.ts";
import { countingWorkers, inStateDir, LAB_TEST, within } from "./testing.ts";

Deno.test({
  name:
    "a lab that crashed a VM spawns its workers back after the reboot, and the next reboot constructs none",
  ...LAB_TEST,
  fn: () =>
    inStateDir("vlab-reboot-standby-", async () => {
      // Before, every reboot constructed a device worker and a guest worker on the main thread
      // (each blocking it 10 to 105 ms on a loaded 2-core machine), the second as the first.
      const crashes: string[][] = [];
      await countingWorkers(() => true, async (made) => {
        const lab = await startLab("pair");
        try {
          for (let i = 0; i < 2; i++) {
            const restarted = new Promise<string>((resolve) => {
              const off = lab.lab.events.subscribe((e) => {
                if (e.kind === "vm-restarted" || e.kind === "vm-restart-failed") {
                  off();
                  resolve(e.kind);
                }
              });
            });
            made.length = 0;
            const outcome = await lab.lab.fault({ kind: "vm-crash", vm: "b" });
            assert.ok(outcome.ok, JSON.stringify(outcome));
            assert.equal(await within(10_000, "the reboot", restarted), "vm-restarted");
            crashes.push([...made]);
            // Spawned back one a turn once the reboot is over: a guest, then a device worker.
            const deadline = performance.now() + 5000;
            while (
              performance.now() < deadline &&
              !(made.includes("guest standby") && made.includes("device standby"))
            ) {
              await new Promise((r) => setTimeout(r, 10));
            }
          }
        } finally {
          await lab.stop();
        }
      });
      // The first reboot took a device worker the lab keeps for backend restarts; the lab
      // kept no guest before a crash.
      assert.deepEqual(crashes[0], ["guest b"]);
      assert.deepEqual(crashes[1], [], "the second reboot took the workers spawned back");
    }),
});
