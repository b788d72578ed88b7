/**
 * MTU mismatches: NICs joined on one L2 segment (directly or through switches) with different
 * `mtu`s. The topology is valid (real networks are wired this way by mistake too), but a frame
 * larger than the receiving NIC's MTU is dropped there (`too big` in `vlab status`), so
 * `vlab validate` warns about it (`warnings.ts` locates the warning in the file).
 *
 * @module
 */

import { quote } from "../../devices/base/quote.ts";
import type { Endpoint, Topology } from "./types.ts";

/** One NIC whose MTU differs from that of the first NIC (in file order) on its segment. */
export interface MtuMismatch {
  /** The VM of the NIC warned about. */
  vm: string;
  /** The NIC warned about. */
  nic: string;
  /** Sentence-case message naming both NICs and both MTUs. */
  message: string;
  /** What to do about it. */
  hint: string;
}

function nodeKey(e: Endpoint): string {
  return e.kind === "nic" ? `nic:${e.vm}:${e.nic}` : `sw:${e.switch}`;
}

/**
 * The L2 segments of a topology: a function from a node's key (`nic:VM:NIC`, `sw:SWITCH`) to the
 * key of its segment, the same for every node its links join, directly or through switches.
 */
function segmentOf(t: Topology): (key: string) => string {
  const parent = new Map<string, string>();
  const find = (key: string): string => {
    let k = key;
    // Bounded: each step moves to a parent, and the map holds at most one entry per node.
    for (let i = 0; i <= parent.size; i++) {
      const p = parent.get(k);
      if (p === undefined) return k;
      k = p;
    }
    return k;
  };
  for (const link of t.links) {
    const a = find(nodeKey(link.endpoints[0]));
    const b = find(nodeKey(link.endpoints[1]));
    if (a !== b) parent.set(a, b);
  }
  return find;
}

/**
 * The largest `mtu` of the NICs on each link's L2 segment, by link name: no frame that crosses
 * the link is longer than that plus the Ethernet header (a device refuses a longer one from its
 * guest, and switches forward frames as they are), so the planner sizes the link's ring slots by
 * it. A link whose segment holds no NIC (switches only) has none.
 *
 * @example
 * ```ts ignore
 * largestMtuByLink(topology).get("a-b"); // 1500
 * ```
 */
export function largestMtuByLink(t: Topology): Map<string, number> {
  const find = segmentOf(t);
  const largest = new Map<string, number>();
  for (const vm of t.vms) {
    for (const nic of vm.nics) {
      const segment = find(`nic:${vm.name}:${nic.name}`);
      largest.set(segment, Math.max(largest.get(segment) ?? 0, nic.mtu));
    }
  }
  const out = new Map<string, number>();
  for (const link of t.links) {
    const mtu = largest.get(find(nodeKey(link.endpoints[0])));
    if (mtu !== undefined) out.set(link.name, mtu);
  }
  return out;
}

/**
 * Each NIC that shares an L2 segment with a NIC of another MTU, compared with the first NIC of
 * the segment in file order.
 *
 * @example
 * ```ts ignore
 * mtuMismatches(topology); // [{ vm: "b", nic: "eth0", message: "NIC \"b:eth0\" has mtu 1500 …", hint: "…" }]
 * ```
 */
export function mtuMismatches(t: Topology): MtuMismatch[] {
  const find = segmentOf(t);
  const first = new Map<string, { who: string; mtu: number }>();
  const out: MtuMismatch[] = [];
  // The serving NIC of a vhost-pci link takes its frontend's MTU, whatever it inherited.
  const serving = new Set<string>();
  for (const link of t.links) {
    const b = link.endpoints[1];
    if (link.kind === "vhost-pci" && b.kind === "nic") serving.add(`${b.vm}:${b.nic}`);
  }
  for (const vm of t.vms) {
    for (const nic of vm.nics) {
      if (serving.has(`${vm.name}:${nic.name}`)) continue;
      const segment = find(`nic:${vm.name}:${nic.name}`);
      const who = `${vm.name}:${nic.name}`;
      const seen = first.get(segment);
      if (seen === undefined) {
        first.set(segment, { who, mtu: nic.mtu });
      } else if (seen.mtu !== nic.mtu) {
        out.push({
          vm: vm.name,
          nic: nic.name,
          message: `NIC ${quote(who)} has mtu ${nic.mtu} but shares an L2 segment with NIC ${
            quote(seen.who)
          } (mtu ${seen.mtu})`,
          hint: `a frame longer than the receiving NIC's MTU is dropped there ("too big" in ` +
            `vlab status); give every NIC on one segment the same mtu`,
        });
      }
    }
  }
  return out;
}
