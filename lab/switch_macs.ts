/**
 * A switch's MAC table as the lab shows it (`vlab fdb`, `GET /switches/NAME`, `Lab.macTable`),
 * what `bridge fdb show` lists for a Linux bridge: every station the learning switch has seen and
 * not yet aged out, the port it was last seen on (named by its link and by the NIC or switch at
 * the link's far end) and how long ago.
 *
 * The switch worker answers an `inspect` request with its rows (port numbers); this module names
 * the ports from the plan, on the main thread.
 *
 * @module
 */

import type { MacTableEntry } from "./host/switch.ts";
import type { LabPlan, SwitchPlan } from "./plan.ts";
import { quote } from "../devices/base/quote.ts";

/** One learned station. */
export interface SwitchMac {
  /** The station's MAC address, "aa:bb:cc:dd:ee:ff". */
  mac: string;
  /** The port it was last seen on (0-based, in the switch's port order). */
  port: number;
  /** That port's link. */
  link: string;
  /** What sits at the link's other end: a NIC ("vm:nic") or another switch (its name). */
  peer: string;
  /** Time since the station's last frame reached the switch (ms). */
  ageMs: number;
}

/** A switch's MAC table. */
export interface SwitchMacTable {
  /** The switch. */
  switch: string;
  /** How long an entry lives without a frame from its station (ms). */
  agingMs: number;
  /** The stations, oldest sighting first. */
  macs: SwitchMac[];
}

/** What a switch worker answers to `inspect`. */
export interface SwitchInspectInfo {
  /** The aging time of its table (ms). */
  agingMs: number;
  /** Its rows. */
  macs: MacTableEntry[];
}

/**
 * Name the ports of a switch worker's answer; null when the answer is not one (a worker that
 * does not keep a MAC table).
 *
 * @example
 * ```ts
 * import { switchMacTable } from "./switch_macs.ts";
 * const plan = {
 *   links: [{ name: "s1-h1", endpoints: ["s1", "h1:eth0"] as [string, string], forwardRing: 0, reverseRing: 1 }],
 * };
 * const sw = { name: "s1", thread: 0, portsMax: 1, ports: [{ link: "s1-h1", rxRing: 1, txRing: 0 }] };
 * const t = switchMacTable(plan, sw, { agingMs: 300000, macs: [{ mac: "02:00:00:00:00:01", port: 0, ageMs: 5 }] });
 * t?.macs[0].peer; // "h1:eth0"
 * ```
 */
export function switchMacTable(
  plan: Pick<LabPlan, "links">,
  sw: SwitchPlan,
  info: unknown,
): SwitchMacTable | null {
  const i = info as Partial<SwitchInspectInfo> | null;
  if (i === null || typeof i !== "object" || !Array.isArray(i.macs)) return null;
  const macs = i.macs.map((row): SwitchMac => {
    const link = sw.ports[row.port]?.link ?? "";
    const ends = plan.links.find((l) => l.name === link)?.endpoints;
    const peer = ends === undefined ? "" : ends[0] === sw.name ? ends[1] : ends[0];
    return { mac: row.mac, port: row.port, link, peer, ageMs: row.ageMs };
  });
  return { switch: sw.name, agingMs: i.agingMs ?? 0, macs };
}

/**
 * The L2 switches of a plan, by name (vsock routers keep no MAC table and are left out), and the
 * refusal of a name that is none of them: null when `name` is one.
 *
 * @example
 * ```ts
 * import { unknownSwitchProblem } from "./switch_macs.ts";
 * const plan = { switches: [{ name: "sw1", thread: 0, portsMax: 1, ports: [] }] };
 * unknownSwitchProblem(plan, "h1")?.hint; // "Switches: sw1"
 * ```
 */
export function unknownSwitchProblem(
  plan: Pick<LabPlan, "switches">,
  name: string,
): { code: "unknown-switch"; message: string; hint: string } | null {
  const switches = l2Switches(plan);
  if (switches.includes(name)) return null;
  const hint = switches.length > 0 ? `Switches: ${switches.join(", ")}` : "This lab has no switch";
  // A vsock router is listed among the plan's switches: it is one, but it learns no MACs.
  if (plan.switches.some((s) => s.name === name && s.vsockCids !== undefined)) {
    return {
      code: "unknown-switch",
      message: `${quote(name)} is a vsock router: it keeps no MAC table (it routes by CID)`,
      hint: `\`vlab status\` shows its counters; ${hint[0].toLowerCase()}${hint.slice(1)}`,
    };
  }
  return { code: "unknown-switch", message: `The lab has no switch ${quote(name)}`, hint };
}

/** The names of a plan's L2 switches (vsock routers left out), in plan order. */
export function l2Switches(plan: Pick<LabPlan, "switches">): string[] {
  return plan.switches.filter((s) => s.vsockCids === undefined).map((s) => s.name);
}
