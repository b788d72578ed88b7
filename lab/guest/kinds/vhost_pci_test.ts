import assert from "node:assert/strict";
import type { VhostPciBackend } from "../../../devices/vhost_pci/backend.ts";
import type { MailboxPort } from "../../wire/mailbox.ts";
import type { ControlGate } from "../../wire/control_gate.ts";
import type { VhostPciFrontendMemory } from "../../wire/messages.ts";
import type { VhostPciDeviceSpec } from "../../wire/specs.ts";
import type { DriverInitOptions } from "../../../devices/virtio/mmio_driver.ts";
import { PartitionFilter } from "../../wire/partition.ts";
import { createDoorbells, endGeneration, guestsInside } from "../../wire/doorbell.ts";
import { guestFence } from "../../wire/fence.ts";
import { VhostPciLink } from "./vhost_pci.ts";

Deno.test("a vhost-pci backend guest's sends into its frontend's buffers are sections of its generation: a crashed one's write nothing", async () => {
  // Before, `b`'s stack wrote a frame into `a`'s RX buffer and used ring from a workload's
  // continuation with no section: a crashed `b` descheduled there could write into the rings
  // its successor serves once the reboot had found no section of it under way.
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  const spec = {
    name: "eth1",
    mac: [2, 0, 0, 0, 0, 2],
    ip: null,
    prefix: null,
    mtu: 1500,
    frontend: { mac: [2, 0, 0, 0, 0, 1] },
  } as unknown as VhostPciDeviceSpec;
  const link = new VhostPciLink(
    spec,
    {} as VhostPciFrontendMemory,
    () => {},
    {} as MailboxPort,
    {} as DriverInitOptions,
    new PartitionFilter(),
    new Float64Array(64),
    { pending: () => false } as unknown as ControlGate,
    fence,
  );
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
