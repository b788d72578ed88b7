/**
 * What the vhost-pci e2e tests read of a lab started from topologies/vhost-pci.yaml (VM `a`,
 * the frontend, first; VM `b`, which serves its NIC, second): `b`'s link counters, `a`'s NIC
 * register file, and a wait for `b` to serve.
 *
 * @module
 */

import { peerServing, VhostPciCounter } from "../devices/vhost_pci/mod.ts";
import type { Lab } from "../lab/lab.ts";
import { waitForValue } from "../lab/testing.ts";
import { deviceControl } from "../lab/wire/control.ts";

/** b's counters of the vhost-pci link (b's device slot 0, `VhostPciCounter`). */
export function bCounters(lab: Lab): Float64Array {
  const b = lab.plan.vms[1];
  return deviceControl(lab.controlOf(1), b.control.devices[0]).deviceCounters;
}

/** a's NIC register file (its device slot 0), where the handover words are. */
export function aRegs(lab: Lab): Int32Array {
  const a = lab.plan.vms[0];
  return deviceControl(lab.controlOf(0), a.control.devices[0]).regs;
}

/** Wait (15 s at most) until b serves a connection that a sees served; its number. */
export async function waitServing(lab: Lab, what: string): Promise<number> {
  return await waitForValue(what, () => {
    const conn = bCounters(lab)[VhostPciCounter.connection];
    return conn !== 0 && peerServing(aRegs(lab)) ? conn : null;
  }, 15_000);
}
