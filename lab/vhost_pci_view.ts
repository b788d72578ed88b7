/**
 * What status, snapshots, metrics and the ring view show of vhost-pci links (main thread): each
 * link's connection state and counters, read from VM `b`'s counters of its vhost-pci-net device
 * in shared memory, and who serves a queue of VM `a`.
 *
 * @module
 */

import { VhostPciCounter, VhostPciState } from "../devices/vhost_pci/config.ts";
import type { Lab } from "./lab.ts";
import type { VhostPciLinkSnapshot } from "./snapshot_types.ts";
import { deviceControl } from "./wire/control.ts";
import { vhostPciWindow } from "./plan_vhost_pci.ts";
import type { DeviceSpec } from "./wire/specs.ts";

/**
 * Who serves the queues of `device` when it is the frontend of a vhost-pci link, else null.
 *
 * @example
 * ```ts ignore
 * servedBy(lab.plan.vms[0].devices[0]); // "b:eth0 over vhost-pci a-b"
 * ```
 */
export function servedBy(device: DeviceSpec): string | null {
  if (device.kind !== "net" || !device.vhostPci) return null;
  const v = device.vhostPci;
  return `${v.peerVm}:${v.peerDevice} over vhost-pci ${v.link}`;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Every vhost-pci link of a running lab, in plan order (empty: none).
 *
 * @example
 * ```ts ignore
 * vhostPciSnapshot(lab)[0].state; // "up"
 * ```
 */
export function vhostPciSnapshot(lab: Lab): VhostPciLinkSnapshot[] {
  const plan = lab.plan;
  return (plan.vhostPciLinks ?? []).map((l) => {
    const b = plan.vms.find((v) => v.name === l.peer.vm)!;
    const c = deviceControl(lab.controlOf(b.index), b.control.devices[l.peer.slot]).deviceCounters;
    const state = c[VhostPciCounter.state];
    const access = c[VhostPciCounter.lastFaultAccess];
    const addr = c[VhostPciCounter.lastFaultAddr];
    return {
      name: l.name,
      frontend: `${l.frontend.vm}:${l.frontend.nic}`,
      peer: `${l.peer.vm}:${l.peer.device}`,
      window: vhostPciWindow(l, plan.vms),
      state: state === VhostPciState.UP ? "up" : state === VhostPciState.FAILED ? "failed" : "down",
      connection: c[VhostPciCounter.connection],
      connects: c[VhostPciCounter.connects],
      disconnects: c[VhostPciCounter.disconnects],
      framesIn: c[VhostPciCounter.framesIn],
      framesOut: c[VhostPciCounter.framesOut],
      framesDropped: c[VhostPciCounter.framesDropped],
      rxWaits: c[VhostPciCounter.rxWaits],
      partitionDropped: c[VhostPciCounter.partitionDropped],
      linkDownIn: c[VhostPciCounter.linkDownIn],
      linkDownOut: c[VhostPciCounter.linkDownOut],
      interrupts: c[VhostPciCounter.interrupts],
      faults: c[VhostPciCounter.faults],
      revoked: c[VhostPciCounter.revoked],
      lastFault: access === 0 || addr < 0
        ? null
        : `${access === 1 ? "read" : "write"} ${hex(addr)}`,
    };
  });
}
