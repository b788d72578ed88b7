import assert from "node:assert/strict";
import type { VhostPciBackend } from "../../../devices/vhost_pci/backend.ts";
import type { MailboxPort } from "../../wire/mailbox.ts";
import type { ControlGate } from "../../wire/control_gate.ts";
import type { FromWorker, VhostPciFrontendMemory } from "../../wire/messages.ts";
import type { VhostPciDeviceSpec } from "../../wire/specs.ts";
import type { DriverInitOptions } from "../../../devices/virtio/mmio_driver.ts";
import { PartitionFilter } from "../../wire/partition.ts";
import { createDoorbells, endGeneration, guestsInside } from "../../wire/doorbell.ts";
import { guestFence } from "../../wire/fence.ts";
import { liveAfterReset, VhostPciLink } from "./vhost_pci.ts";

/** A link of `b`'s guest over nothing but `fence` (no memory, mailbox or driver behind it). */
function fencedLink(
  fence: ReturnType<typeof guestFence>,
  { pending = false, wake = () => {} }: { pending?: boolean; wake?: () => void } = {},
): VhostPciLink {
  return new VhostPciLink(
    {
      name: "eth1",
      link: "vp0",
      mac: [2, 0, 0, 0, 0, 2],
      ip: null,
      prefix: null,
      mtu: 1500,
      frontend: { mac: [2, 0, 0, 0, 0, 1] },
    } as unknown as VhostPciDeviceSpec,
    {} as VhostPciFrontendMemory,
    wake,
    {} as MailboxPort,
    {} as DriverInitOptions,
    new PartitionFilter(),
    new Float64Array(64),
    { pending: () => pending } as unknown as ControlGate,
    fence,
  );
}

Deno.test("a vhost-pci backend guest's sends into its frontend's buffers are sections of its generation: a crashed one's write nothing", async () => {
  // Before, `b`'s stack wrote a frame into `a`'s RX buffer and used ring from a workload's
  // continuation with no section: a crashed `b` descheduled there could write into the rings
  // its successor serves once the reboot had found no section of it under way.
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  const link = fencedLink(fence);
  const written: number[] = [];
  link.backend = {
    up: true,
    receive: () => (written.push(guestsInside(bells, 0)), "delivered"),
  } as unknown as VhostPciBackend;
  link.pendingRx = true; // the loop publishes at its next pass (no wake-up here)
  const fill = (buf: Uint8Array) => buf.fill(0xff, 0, 6);
  assert.equal(link.sendWith(60, fill), true);
  assert.deepEqual(written, [1], "written inside a section");
  await null;
  assert.equal(guestsInside(bells, 0), 0);
  endGeneration(bells, 0);
  assert.equal(link.sendWith(60, fill), false);
  assert.deepEqual(written, [1], "a crashed guest's send wrote nothing");
  assert.equal(guestsInside(bells, 0), 0);
});

Deno.test("a crashed vhost-pci backend guest's send that meets a pending control message rings no doorbell", async () => {
  // The send asked the control gate before the fence: a crashed `b`'s workload, meeting a
  // message posted to the worker line its successor now has, rang that line (its successor's
  // loop) and marked the link held.
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  let rings = 0;
  const link = fencedLink(fence, { pending: true, wake: () => rings++ });
  let received = 0;
  link.backend = {
    up: true,
    receive: () => (received++, "delivered"),
  } as unknown as VhostPciBackend;
  const fill = (buf: Uint8Array) => buf.fill(0xff, 0, 6);
  // Live: the frame waits for the message and the loop is rung once.
  assert.equal(link.sendWith(60, fill), false);
  assert.equal(link.sendWith(60, fill), false);
  assert.deepEqual([rings, received, link.gateHeld], [1, 0, true]);
  await null;
  link.gateHeld = false;
  endGeneration(bells, 0);
  assert.equal(link.sendWith(60, fill), false);
  assert.deepEqual([rings, received, link.gateHeld], [1, 0, false], "a crashed guest's send");
  assert.equal(guestsInside(bells, 0), 0);
});

Deno.test("the end of a vhost-pci backend guest's device reset is a section of its generation: a crashed one's rings no doorbell", () => {
  // Before, the reset's last step (a continuation after the awaits of its register accesses)
  // ended `resetting`, logged the reset and rang the guest's doorbell line with no section: a `b`
  // that crashed during the reset rang the line its successor owns and told of a reset that never
  // served again.
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  const link = fencedLink(fence);
  const posted: string[] = [];
  const rung: number[] = [];
  const ctx = {
    fence,
    post: (m: FromWorker) => posted.push(m.type === "event" ? m.kind : m.type),
    wakeSelf: () => rung.push(guestsInside(bells, 0)),
  };
  link.resetting = true;
  assert.equal(liveAfterReset(link, ctx, { cause: "guest-bug", t0: performance.now() }), true);
  assert.equal(link.resetting, false);
  assert.deepEqual(posted, ["device-queues-live", "device-reset"]);
  assert.deepEqual(rung, [1], "rung inside a section");
  assert.equal(guestsInside(bells, 0), 0);
  // `b` crashed during the reset's awaits: nothing done.
  link.resetting = true;
  endGeneration(bells, 0);
  const bellsBefore = [...bells];
  assert.equal(liveAfterReset(link, ctx, { cause: "guest-bug", t0: performance.now() }), false);
  assert.equal(link.resetting, true, "a crashed guest's link does not serve again");
  assert.deepEqual(posted, ["device-queues-live", "device-reset"]);
  assert.deepEqual(rung, [1], "a crashed guest rang no doorbell");
  assert.deepEqual([...bells], bellsBefore);
  assert.equal(guestsInside(bells, 0), 0);
});
