import assert from "node:assert/strict";
import { startLab } from "./api.ts";
import { serveControl } from "./server.ts";
import { countingWorkers, inStateDir, LAB_TEST, startTestLab, within } from "./testing.ts";

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

/**
 * Every standby worker constructed while `fn` runs: `spares(kind)` counts those still idle,
 * `taken()` those a restart or reboot took.
 */
async function watchingStandby<T>(
  fn: (spares: (kind: "device" | "guest") => number, taken: () => number) => Promise<T>,
): Promise<T> {
  const Original = globalThis.Worker;
  const made: { kind: string; worker: Worker; ended: boolean }[] = [];
  class Watched extends Original {
    constructor(url: string | URL, options?: WorkerOptions) {
      super(url, options);
      const name = options?.name ?? "";
      if (name.endsWith(" standby")) {
        made.push({ kind: name.split(" ")[0], worker: this, ended: false });
      }
    }
    override terminate(): void {
      for (const m of made) if (m.worker === this) m.ended = true;
      super.terminate();
    }
  }
  globalThis.Worker = Watched;
  // A worker taken from the standby set is given its handlers (`WorkerSet.spawn`); an idle one
  // has none for messages.
  const spares = (kind: "device" | "guest") =>
    made.filter((m) => m.kind === kind && !m.ended && m.worker.onmessage === null).length;
  const taken = () => made.filter((m) => m.worker.onmessage !== null).length;
  try {
    return await fn(spares, taken);
  } finally {
    globalThis.Worker = Original;
  }
}

for (const fault of ["backend-crash", "vm-crash"] as const) {
  Deno.test({
    name: `a ${fault} sent over the control socket during a standby reservation takes a spare; ` +
      "the reservation builds it again and the lab ends with its target",
    ...LAB_TEST,
    fn: () =>
      watchingStandby(async (spares, taken) => {
        const lab = await startTestLab({
          name: "reserve",
          seed: 1,
          vms: {
            a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
            b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
          },
          links: [{ endpoints: ["a", "b"] }],
        });
        const dir = await Deno.makeTempDir({ prefix: "vlab-reserve-test-" });
        const path = `${dir}/control.sock`;
        const server = serveControl(lab, { path, onDown: () => {} });
        const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
        const originalTimeout = globalThis.setTimeout;
        try {
          // The reservation's first turn is held until the fault has acted: the fault then comes
          // between two of the reservation's spawns, whatever the machine's speed.
          const held = Promise.withResolvers<void>();
          let holding = true;
          globalThis.setTimeout = ((cb: () => void, ms?: number) => {
            if (holding && ms === 0) {
              holding = false;
              held.promise.then(() => originalTimeout(cb, 0));
              return 0;
            }
            return originalTimeout(cb, ms);
          }) as typeof setTimeout;
          const counts = fault === "vm-crash"
            ? { reboots: 1, restarts: 0 }
            : { reboots: 0, restarts: 1 };
          const reserving = lab.reserveStandby(counts);
          globalThis.setTimeout = originalTimeout;
          assert.equal(holding, false, "the reservation waits for its next turn");
          // Its target: the 2 device workers a lab keeps, one more a run, one guest more than
          // reboots (`Lab.reserveStandby`).
          const target = { device: 3, guest: fault === "vm-crash" ? 2 : 0 };
          const acted = new Promise<string>((resolve) => {
            const off = lab.events.subscribe((e) => {
              if (
                ["vm-restarted", "vm-restart-failed", "backend-restarted", "backend-restart-failed"]
                  .includes(e.kind)
              ) {
                off();
                resolve(e.kind);
              }
            });
          });
          let reserved = false;
          reserving.then(() => reserved = true);
          const res = await fetch("http://vlab/faults", {
            client,
            method: "POST",
            body: JSON.stringify({ kind: fault, vm: "b" }),
          });
          assert.equal(res.status, 200, await res.text());
          assert.equal(
            await within(10_000, "the fault's restart", acted),
            fault === "vm-crash" ? "vm-restarted" : "backend-restarted",
          );
          assert.equal(taken(), 1, "the fault's restart took a device worker spawned ahead");
          assert.equal(reserved, false, "while the reservation ran");
          held.resolve();
          await within(10_000, "the reservation", reserving);
          // Spawned back after a reboot, one a turn (`#refillStandby`): waited for, bounded.
          const deadline = performance.now() + 5000;
          while (
            performance.now() < deadline &&
            (spares("device") < target.device || spares("guest") < target.guest)
          ) await new Promise((r) => originalTimeout(r, 10));
          assert.deepEqual({ device: spares("device"), guest: spares("guest") }, target);
        } finally {
          globalThis.setTimeout = originalTimeout;
          client.close();
          await server.shutdown();
          await lab.stop();
          await Deno.remove(dir, { recursive: true });
        }
      }),
  });
}
