/**
 * The vhost-pci kind in the device worker of VM `b`: it answers `b`'s driver's register accesses
 * for each vhost-pci-net device (device ID 63, no queues; config: MAC and a LINK_UP status bit
 * read from the connection state `b`'s guest publishes). The data path is not here: `b`'s guest
 * worker serves `a`'s queues itself (`lab/guest/kinds/vhost_pci.ts`).
 *
 * @module
 */

import {
  VhostPciCounter,
  VhostPciNetDevice,
  VhostPciState,
} from "../../../devices/vhost_pci/mod.ts";
import { deviceControl } from "../../wire/control.ts";
import { ringDoorbell } from "../../wire/doorbell.ts";
import { serveMailbox } from "../../wire/mailbox.ts";
import type { VhostPciDeviceSpec } from "../../wire/specs.ts";
import { openTransport } from "./transport.ts";
import type { HostContext, HostKind, HostKindInstance } from "./types.ts";

function start(ctx: HostContext, specs: VhostPciDeviceSpec[]): HostKindInstance {
  const devices = specs.map((spec) => {
    const ctl = deviceControl(ctx.control, ctx.layout.devices[spec.index]);
    const model = new VhostPciNetDevice({
      mac: Uint8Array.from(spec.mac),
      linkUp: () => ctl.deviceCounters[VhostPciCounter.state] === VhostPciState.UP,
    });
    return { mailbox: ctl.mailbox, transport: openTransport(ctx, ctl, model, spec.name) };
  });
  return {
    pump: () => {
      let work = false;
      for (const d of devices) {
        if (serveMailbox(d.mailbox, d.transport) > 0) {
          work = true;
          ringDoorbell(ctx.bells, ctx.guestThread);
        }
      }
      return work;
    },
    prepareSleep: () => false,
    nextTimerMs: () => Infinity,
    periodic: () => {},
    control: () => {},
  };
}

/** The vhost-pci kind's host slice. */
export const VHOST_PCI_HOST_KIND: HostKind = {
  kind: "vhost-pci",
  start: (ctx, devices) =>
    start(ctx, devices.filter((d): d is VhostPciDeviceSpec => d.kind === "vhost-pci")),
};
