/**
 * MTU mismatches: NICs joined on one L2 segment (directly or through switches) with different
 * `mtu`s. The topology is valid (real networks are wired this way by mistake too), but a frame
 * larger than the receiving NIC's MTU is dropped there (`too big` in `vlab status`), so
 * `vlab validate` warns about it (`warnings.ts` locates the warning in the file).
 *
 * @module
 */

import { quote } from "./quote.ts";
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
 * Each NIC that shares an L2 segment with a NIC of another MTU, compared with the first NIC of
 * the segment in file order.
 *
 * @example
 * ```ts ignore
 * mtuMismatches(topology); // [{ vm: "b", nic: "eth0", message: "NIC \"b:eth0\" has mtu 1500 …", hint: "…" }]
 * ```
 */
export function mtuMismatches(t: Topology): MtuMismatch[] {
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
  const first = new Map<string, { who: string; mtu: number }>();
  const out: MtuMismatch[] = [];
  for (const vm of t.vms) {
    for (const nic of vm.nics) {
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
