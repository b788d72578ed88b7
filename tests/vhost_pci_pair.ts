/**
 * What the vhost-pci e2e tests read of a lab started from topologies/vhost-pci.yaml (VM `a`,
 * the frontend, first; VM `b`, which serves its NIC, second): `b`'s link counters, `a`'s NIC
 * register file, a wait for `b` to serve, and the lab itself started and served.
 *
 * @module
 */

import { peerServing, VhostPciCounter } from "../devices/vhost_pci/mod.ts";
import assert from "node:assert/strict";
import { Lab } from "../lab/lab.ts";
import { planLab } from "../lab/plan.ts";
import { parseTopology } from "../lab/topology/load.ts";
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

/** The shipped topology the vhost-pci tests start from. */
const FILE = new URL("../topologies/vhost-pci.yaml", import.meta.url);

/**
 * Start topologies/vhost-pci.yaml (its text changed by `edit` first: a vIOMMU mode, a NIC's
 * keys) and wait until b serves a's NIC; the caller stops the lab.
 */
export async function startVhostPciPair(edit: (yaml: string) => string = (y) => y): Promise<Lab> {
  const t = parseTopology(edit(Deno.readTextFileSync(FILE)), "topologies/vhost-pci.yaml");
  assert.ok(t.ok, t.ok ? "" : JSON.stringify(t.error));
  const lab = await Lab.start(planLab(t.value), { readyTimeoutMs: 20_000 });
  try {
    await waitServing(lab, "b serving a's NIC");
  } catch (e) {
    await lab.stop();
    throw e;
  }
  return lab;
}
