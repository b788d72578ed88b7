/**
 * Partitions of a running lab, on the main thread: `vlab partition a,b / c,d [--one-way]` cuts
 * every frame between two sets of VMs (both ways, or only from the first set to the second),
 * `vlab heal [ID]` removes one or every partition. This module keeps the partitions in force and
 * turns them into the (source MAC, destination MAC) pairs that every producer worker filters on
 * (`lab/wire/partition.ts`), so a cut holds across switches. vsock packets carry CIDs, not MACs:
 * the same partitions become (CID, CID) pairs (`vsockCuts`) that the vsock device workers and
 * routers refuse; a stream needs both directions, so a one-way partition cuts vsock both ways.
 * The supervisor (`lab.ts`) sends the pairs and records the `partition` and `heal` events.
 *
 * @module
 */

import { err, ok, type Result } from "../devices/base/result.ts";
import type { LabPlan } from "./plan.ts";
import { formatMac } from "./topology/addresses.ts";
import { quote } from "../devices/base/quote.ts";
import { vmsHint } from "./errors.ts";

/** One partition in force. */
export interface PartitionInfo {
  /** Its id (for `vlab heal ID`), from 1. */
  id: number;
  /** The first set of VMs. */
  a: string[];
  /** The second set. */
  b: string[];
  /** True when only frames from `a` to `b` are cut. */
  oneWay: boolean;
}

/** Why a partition was refused. */
export interface PartitionProblem {
  /** `unknown-vm` or `bad-partition`. */
  code: "unknown-vm" | "bad-partition";
  /** One line. */
  message: string;
  /** What to do instead. */
  hint: string;
}

/**
 * The partitions of one lab.
 *
 * @example
 * ```ts ignore
 * import { Partitions } from "./partition.ts";
 * const parts = new Partitions(plan);
 * parts.add(["a"], ["b"], false); // { ok: true, value: { id: 1, … } }
 * parts.cuts(); // [["02:…:00", "02:…:01"], ["02:…:01", "02:…:00"]]
 * ```
 */
export class Partitions {
  readonly #macs = new Map<string, string[]>();
  /** Each VM's vsock CID, for the VMs that have a vsock device. */
  readonly #cids = new Map<string, number>();
  readonly #list: PartitionInfo[] = [];
  #nextId = 1;

  /** @param plan the lab's plan (the VMs' MACs: their NICs', and their vhost-pci interfaces') */
  constructor(plan: LabPlan) {
    for (const vm of plan.vms) {
      this.#macs.set(vm.name, [
        ...vm.nics.map((n) => n.mac),
        ...vm.devices.flatMap((d) => d.kind === "vhost-pci" ? [formatMac(d.mac)] : []),
      ]);
      for (const d of vm.devices) if (d.kind === "vsock") this.#cids.set(vm.name, d.cid);
    }
  }

  /** The partitions in force, oldest first. */
  list(): PartitionInfo[] {
    return this.#list.map((p) => ({ ...p, a: [...p.a], b: [...p.b] }));
  }

  /** Add a partition between the VM sets `a` and `b`. */
  add(
    a: readonly string[],
    b: readonly string[],
    oneWay: boolean,
  ): Result<PartitionInfo, PartitionProblem> {
    if (a.length === 0 || b.length === 0) {
      return err({
        code: "bad-partition",
        message: "Cannot partition: each side needs at least one VM",
        // Scripts and the control socket get it too: not the CLI's words alone.
        hint:
          'Put at least one VM on each side, as in `vlab partition a / b` or lab.partition(["a"], ["b"])',
      });
    }
    for (const vm of [...a, ...b]) {
      if (!this.#macs.has(vm)) {
        return err({
          code: "unknown-vm",
          message: `Cannot partition: the lab has no VM ${quote(vm)}`,
          hint: vmsHint([...this.#macs.keys()]),
        });
      }
    }
    const both = a.find((vm) => b.includes(vm));
    if (both !== undefined) {
      return err({
        code: "bad-partition",
        message: `Cannot partition: VM ${quote(both)} is on both sides`,
        hint: "Put each VM on one side only",
      });
    }
    const info: PartitionInfo = {
      id: this.#nextId++,
      a: [...new Set(a)],
      b: [...new Set(b)],
      oneWay,
    };
    this.#list.push(info);
    return ok({ ...info, a: [...info.a], b: [...info.b] });
  }

  /** Remove partition `id` (or every partition when undefined); returns the ids removed. */
  heal(id?: number): number[] {
    const gone = this.#list.filter((p) => id === undefined || p.id === id).map((p) => p.id);
    for (const g of gone) this.#list.splice(this.#list.findIndex((p) => p.id === g), 1);
    return gone;
  }

  /** Every cut (source MAC, destination MAC) pair of the partitions in force. */
  cuts(): [string, string][] {
    const seen = new Set<string>();
    const out: [string, string][] = [];
    const cut = (from: string, to: string) => {
      for (const s of this.#macs.get(from) ?? []) {
        for (const d of this.#macs.get(to) ?? []) {
          const key = `${s}>${d}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push([s, d]);
        }
      }
    };
    for (const p of this.#list) {
      for (const x of p.a) {
        for (const y of p.b) {
          cut(x, y);
          if (!p.oneWay) cut(y, x);
        }
      }
    }
    return out;
  }

  /**
   * Every cut (CID, CID) pair of the partitions in force, both ways even for a one-way
   * partition (a vsock stream needs both directions: a one-way cut breaks it all the same), for
   * the VMs of both sides that have a vsock device. The host (CID 2) is on neither side.
   *
   * @example
   * ```ts ignore
   * parts.add(["a"], ["b"], true);
   * parts.vsockCuts(); // [[3, 4], [4, 3]]
   * ```
   */
  vsockCuts(): [number, number][] {
    const seen = new Set<string>();
    const out: [number, number][] = [];
    for (const p of this.#list) {
      for (const x of p.a) {
        for (const y of p.b) {
          const cx = this.#cids.get(x);
          const cy = this.#cids.get(y);
          if (cx === undefined || cy === undefined || seen.has(`${cx}>${cy}`)) continue;
          seen.add(`${cx}>${cy}`);
          seen.add(`${cy}>${cx}`);
          out.push([cx, cy], [cy, cx]);
        }
      }
    }
    return out;
  }
}
