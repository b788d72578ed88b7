import assert from "node:assert/strict";
import { LabError } from "./errors.ts";
import { planLab } from "./plan.ts";
import { launchLab } from "./runner.ts";
import { inStateDir, LAB_TEST } from "./testing.ts";
import { topologyFromObject } from "./topology/mod.ts";

/**
 * Start a lab of `vms` with VM `small`'s guest memory cut to `bytes` (two pages) after planning
 * (a plan the topology check would refuse): its first driver cannot place its queues. Returns
 * the start's error and the event log's events.
 */
async function startStarved(vms: Record<string, unknown>, small: string, bytes = 8192) {
  const t = topologyFromObject({ name: "starved", vms });
  assert.ok(t.ok, JSON.stringify(!t.ok && t.error));
  const plan = planLab(t.value);
  const vm = plan.vms.find((v) => v.name === small)!;
  (vm as { memoryBytes: number }).memoryBytes = bytes;
  const e = await launchLab(plan).then(async (r) => {
    await r.stop();
    return null;
  }, (e) => e);
  const logs = `${Deno.env.get("VLAB_STATE_DIR")}/logs`;
  const events = [...Deno.readDirSync(logs)].flatMap((f) =>
    Deno.readTextFileSync(`${logs}/${f.name}`).trim().split("\n").map((l) => JSON.parse(l))
  );
  return { e, events };
}

Deno.test({
  ...LAB_TEST,
  name: "a NIC driver that cannot start fails the lab's start naming the VM, the NIC and why",
  fn: () =>
    inStateDir("vlab-start-failure-", async () => {
      const { e, events } = await startStarved({
        a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
        b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
      }, "b");
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.equal(e.code, "lab-failed");
      // It said `Cannot start lab "starved": The guest worker of b failed: Cannot start the
      // driver of b:eth0: queue-out-of-memory`, and to run again with VLAB_DEBUG=1.
      assert.match(
        e.message,
        /^Cannot start lab "starved": VM "b" could not start the driver of NIC eth0: no memory for \d+ bytes of queue \d \((receiveq|transmitq)\) \(\d+ pages free\)$/,
      );
      assert.match(
        e.hint,
        /^Give VM "b" more guest memory \(its `memory:` in the topology\); the event log is /,
      );
      const failed = events.find((ev) => ev.kind === "guest-failed");
      assert.equal(failed?.subject, "b");
      assert.match(failed.detail.message, /^VM "b" could not start the driver of NIC eth0: /);
      assert.match(failed.detail.hint, /more guest memory/);
    }),
});

Deno.test({
  ...LAB_TEST,
  name: "a vsock driver that cannot start says so with a hint, not a code",
  fn: () =>
    inStateDir("vlab-start-failure-", async () => {
      const { e } = await startStarved({ a: { vsock: { cid: 3 } } }, "a");
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      assert.match(
        e.message,
        /^Cannot start lab "starved": VM "a" could not start the driver of its vsock device: no memory for \d+ bytes of queue \d \((rx|tx|event)\)/,
      );
      assert.match(e.hint, /^Give VM "a" more guest memory/);
    }),
});

Deno.test({
  ...LAB_TEST,
  name: "a NIC behind a vIOMMU without memory for its DMA window says so with a hint",
  fn: () =>
    inStateDir("vlab-start-failure-", async () => {
      // Room for the vIOMMU's driver (176 KiB), none for the NIC's window.
      const { e } = await startStarved(
        {
          a: { iommu: { mode: "static" }, nics: { eth0: { ip: "10.0.0.1/24", iommu: true } } },
        },
        "a",
        256 * 1024,
      );
      assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
      // It said `The guest worker of a failed: No guest memory left for the DMA window of a:eth0`.
      assert.match(
        e.message,
        /^Cannot start lab "starved": VM "a" has no guest memory left for the DMA window of NIC eth0 \(\d+ bytes\)$/,
      );
      assert.match(e.hint, /^Give VM "a" more guest memory/);
    }),
});
