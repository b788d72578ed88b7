/**
 * The bounds of a topology: the size of its file and how many VMs, switches, links and NICs it
 * may have. They keep validation fast (every check is linear in the file) and say early, and
 * clearly, that a lab is far beyond what one machine runs: each VM is two workers.
 *
 * @module
 */

import type { Problem } from "./issues.ts";
import { quote } from "../../devices/base/quote.ts";

/**
 * Largest topology file or text, bytes (1 MiB). The largest lab allowed (1024 VMs of 4 NICs,
 * 1024 switches, 4096 links) takes about 210 KiB written plainly and all of it with every NIC and
 * link key spelled out; checking 1 MiB of such YAML takes about 1.5 s on a 2-core machine, 1.2 s
 * of it the yaml library's parse (`vlab validate` of that file: 3 s with Deno's start).
 */
export const MAX_TOPOLOGY_BYTES = 1024 * 1024;

/** Most VMs, switches, links, and NICs per VM in one lab. */
export const TOPOLOGY_LIMITS = {
  vms: 1024,
  switches: 1024,
  links: 4096,
  nicsPerVm: 64,
} as const;

function size(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  if (value !== null && typeof value === "object") {
    let n = 0;
    for (const key in value) if (Object.hasOwn(value, key)) n++;
    return n;
  }
  return 0;
}

function tooMany(path: (string | number)[], what: string, max: number, got: number): Problem {
  return {
    code: "too-many",
    path,
    message: `A lab holds at most ${max} ${what}, got ${got}`,
    hint: `split the lab into smaller ones (docs/topology.md gives the limits)`,
    // At the `vms:` key, not at its first entry: that VM is not the problem.
    atKey: true,
  };
}

/**
 * Counts above {@linkcode TOPOLOGY_LIMITS} in a document as written (before its shape is
 * checked), as `too-many` problems. Empty when every count is within its bound.
 *
 * @example
 * ```ts
 * import { checkCounts } from "./limits.ts";
 * checkCounts({ name: "x", vms: { a: {} } }); // []
 * ```
 */
export function checkCounts(raw: unknown): Problem[] {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return [];
  const doc = raw as Record<string, unknown>;
  const problems: Problem[] = [];
  const vms = size(doc.vms);
  if (vms > TOPOLOGY_LIMITS.vms) problems.push(tooMany(["vms"], "VMs", TOPOLOGY_LIMITS.vms, vms));
  const switches = size(doc.switches);
  if (switches > TOPOLOGY_LIMITS.switches) {
    problems.push(tooMany(["switches"], "switches", TOPOLOGY_LIMITS.switches, switches));
  }
  const links = size(doc.links);
  if (links > TOPOLOGY_LIMITS.links) {
    problems.push(tooMany(["links"], "links", TOPOLOGY_LIMITS.links, links));
  }
  if (vms <= TOPOLOGY_LIMITS.vms && doc.vms !== null && typeof doc.vms === "object") {
    for (const [name, vm] of Object.entries(doc.vms as Record<string, unknown>)) {
      const nics = vm !== null && typeof vm === "object"
        ? size((vm as Record<string, unknown>).nics)
        : 0;
      if (nics > TOPOLOGY_LIMITS.nicsPerVm) {
        // Splitting the lab does not help a VM with too many NICs: a switch does.
        problems.push({
          code: "too-many",
          path: ["vms", name, "nics"],
          message: `VM ${
            quote(name)
          } has ${nics} NICs, more than the ${TOPOLOGY_LIMITS.nicsPerVm} a VM holds`,
          hint: "link one NIC to a switch and the switch to the peers: " +
            "one NIC on a switch reaches every VM on it",
          atKey: true,
        });
      }
    }
  }
  return problems;
}
