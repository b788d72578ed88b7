/**
 * The running lab's link controls, on the main thread: the impairment in force on each link ring
 * (changed live by `vlab link … set`, netem's `change`) and the partitions in force (`vlab
 * partition`, `vlab heal`). The supervisor (`lab.ts`) owns one and gives it a way to post to a
 * worker; this module decides which worker hears what:
 *
 * - an impairment change goes to the ring's producer (the device worker of the sending VM, or
 *   the switch worker of the port), as `{type: "impair", ring, impair}`;
 * - the partitions go, as the whole list of cut MAC pairs and cut vsock CID pairs, to every
 *   device and switch (and vsock router) worker and to the guest worker of every vhost-pci
 *   link's peer (`{type: "partitions", cuts, vsockCuts}`), and are recorded as `partition` and
 *   `heal` events.
 *
 * @module
 */

import type { Result } from "../devices/base/result.ts";
import type { EventLog } from "./events.ts";
import { checkImpairment, isPassthrough, NO_IMPAIRMENT } from "./host/impair.ts";
import { Pcap, pcapGlobalHeader } from "./host/pcap.ts";
import { VSOCKMON_HDR_SIZE } from "./host/vsockmon.ts";
import { VSOCK_HDR_SIZE, VSOCK_MAX_PAYLOAD } from "../devices/vsock/header.ts";
import { type PartitionInfo, type PartitionProblem, Partitions } from "./partition.ts";
import { describeImpair, type LabPlan, type RingPlan } from "./plan.ts";
import { quote } from "../devices/base/quote.ts";
import { expectArg, expectBoolean, expectString, typeName } from "./arg_checks.ts";
import { labStoppedError } from "./errors.ts";
import { reorderProblem } from "./topology/impairment.ts";
import type { Impairment } from "./topology/types.ts";
import {
  type VsockImpairmentProblem,
  vsockImpairmentProblem,
} from "./topology/vsock_impairment.ts";
import type { ToWorker } from "./wire/messages.ts";

/** Which way of a link a change applies to. */
export type LinkDirection = "forward" | "reverse" | "both";

/** Post a control message to the worker of `owner` (a VM's device worker, or a switch). */
export type PostToWorker = (
  kind: "device" | "switch" | "guest",
  owner: string,
  message: ToWorker,
) => void;

/** What a running lab offers to change its links live (`lab.links`). */
export interface LinkControls {
  /** The impairment in force on a link ring. */
  ringImpairment(index: number): Impairment;
  /**
   * The impairments in force on `link` each way (none on a vhost-pci link), or null for a name
   * the lab has no link of.
   */
  impairments(link: string): { forward: Impairment; reverse: Impairment } | null;
  /**
   * Change one or both directions of a link (netem's `change`: frames held keep their due
   * times). Returns false for an unknown link; throws a RangeError for invalid knobs (read
   * values with `parseImpairment` first). A vhost-pci link takes only a clear (no impairment),
   * which changes nothing but is logged as any other.
   */
  setImpairment(link: string, impair: Impairment, direction: LinkDirection): boolean;
  /** Why `link` cannot take `impair` (a vsock link, or a net link's reorder without delay), or null. */
  impairmentProblem(link: string, impair: Impairment): VsockImpairmentProblem | null;
  /**
   * Cut every frame between two sets of VMs (or only from `a` to `b` when `oneWay`), and their
   * vsock connections (reset, new ones refused; both ways even when `oneWay`).
   */
  partition(
    a: readonly string[],
    b: readonly string[],
    oneWay: boolean,
  ): Result<PartitionInfo, PartitionProblem>;
  /** Remove partition `id`, or every partition; returns the ids removed. */
  heal(id?: number): number[];
  /** The partitions in force. */
  partitions(): PartitionInfo[];
  /** The cut pairs in force, for a worker (re)started while partitions hold. */
  cuts(): [string, string][];
  /** The cut vsock (CID, CID) pairs in force, for a worker (re)started while partitions hold. */
  vsockCuts(): [number, number][];
}

/**
 * Impairments and partitions of one running lab.
 *
 * @example
 * ```ts ignore
 * import { LinkControl } from "./link_control.ts";
 * const links = new LinkControl(plan, events, (kind, owner, m) => workerOf(kind, owner).postMessage(m));
 * links.setImpairment("a-b", { ...NO_IMPAIRMENT, delayUs: 20_000 }, "both");
 * ```
 */
export class LinkControl implements LinkControls {
  readonly #plan: LabPlan;
  readonly #events: EventLog;
  readonly #post: PostToWorker;
  readonly #impairs: Impairment[];
  readonly #partitions: Partitions;
  readonly #stopped: () => boolean;

  /**
   * @param plan the lab's plan
   * @param events where `impair`, `partition` and `heal` are recorded
   * @param post how to reach a worker
   * @param stopped whether the lab is stopped or stopping: a change then throws `no-lab` (it
   *   would reach no worker, and its event would follow `lab-down`)
   */
  constructor(
    plan: LabPlan,
    events: EventLog,
    post: PostToWorker,
    stopped: () => boolean = () => false,
  ) {
    this.#stopped = stopped;
    this.#plan = plan;
    this.#events = events;
    this.#post = post;
    this.#impairs = plan.rings.map((r) => r.impair);
    this.#partitions = new Partitions(plan);
  }

  /** The impairment in force on a link ring. */
  ringImpairment(index: number): Impairment {
    return this.#impairs[index];
  }

  /**
   * The impairments in force on `link` each way (none on a vhost-pci link), or null for a name
   * the lab has no link of.
   */
  impairments(link: string): { forward: Impairment; reverse: Impairment } | null {
    const l = this.#plan.links.find((x) => x.name === link);
    if (l) {
      return { forward: this.#impairs[l.forwardRing], reverse: this.#impairs[l.reverseRing] };
    }
    if (!(this.#plan.vhostPciLinks ?? []).some((x) => x.name === link)) return null;
    return { forward: NO_IMPAIRMENT, reverse: NO_IMPAIRMENT };
  }

  /**
   * Why `link` cannot take `impair`, or null (also null for an unknown link): a vsock link
   * takes delay (with jitter), rate, overhead and limit only (`topology/vsock_impairment.ts`),
   * a link to a vsock router none, a net link no reorder without a delay (`reorderProblem`).
   */
  impairmentProblem(link: string, impair: Impairment): VsockImpairmentProblem | null {
    const l = this.#plan.links.find((x) => x.name === link);
    if (!l) return null;
    const ring = this.#plan.rings[l.forwardRing];
    const kinds = [ring.producer.kind, ring.consumer.kind];
    if (!kinds.includes("vsock")) return reorderProblem(link, impair);
    if (kinds.includes("switch")) {
      return isPassthrough(impair) ? null : {
        message: `Cannot impair vsock link "${link}": it goes to a vsock router`,
        hint: "Impair a vsock link between two VMs, or the net links",
      };
    }
    return vsockImpairmentProblem(link, impair);
  }

  /**
   * Change one or both directions of a link. Returns false for an unknown link; throws a
   * RangeError for invalid knobs (callers read values with `parseImpairment` first) and for
   * what a vsock link cannot take (callers ask `impairmentProblem` first).
   */
  setImpairment(link: string, impair: Impairment, direction: LinkDirection): boolean {
    // A script reaches this as `lab.lab.links.setImpairment`: `{}` or the topology's keys
    // (`{ delay: "5ms" }`) reached the workers as a stage of undefined knobs, null failed with
    // the engine's words.
    expectString("lab.links.setImpairment", "link", link, 'a link\'s name, as "a-b"');
    expectArg(
      typeof impair === "object" && impair !== null &&
        Object.keys(NO_IMPAIRMENT).every((k) => Object.hasOwn(impair, k)),
      `lab.links.setImpairment: impair must be a whole Impairment, as parseImpairment's value, got ${
        impair === null || typeof impair !== "object" ? typeName(impair) : "an object without " +
          Object.keys(NO_IMPAIRMENT).filter((k) => !Object.hasOwn(impair, k)).slice(0, 3).join(", ")
      }; with the topology's keys, call startLab's handle: lab.setImpairment("a-b", { delay: "20ms" })`,
    );
    expectArg(
      direction === "forward" || direction === "reverse" || direction === "both",
      `lab.links.setImpairment: direction must be "forward", "reverse" or "both", got ${
        typeof direction === "string" ? JSON.stringify(direction) : typeName(direction)
      }`,
      typeof direction === "string" ? (m) => new RangeError(m) : undefined,
    );
    if (this.#stopped()) throw labStoppedError(this.#plan.name, `impair link ${quote(link)}`);
    const l = this.#plan.links.find((x) => x.name === link);
    if (!l) {
      // A vhost-pci link has no impairment stage: clearing it changes nothing, and is said so.
      const vhostPci = (this.#plan.vhostPciLinks ?? []).some((x) => x.name === link);
      if (!vhostPci) return false;
      if (!isPassthrough(impair)) throw new RangeError(`vhost-pci link "${link}" has no ring`);
      const none = describeImpair(NO_IMPAIRMENT);
      this.#events.emit("impair", link, { direction, forward: none, reverse: none });
      return true;
    }
    checkImpairment(impair); // here, not in the worker: a bad value must not kill it
    const problem = this.impairmentProblem(link, impair);
    if (problem !== null) throw new RangeError(problem.message);
    const rings = direction === "both"
      ? [l.forwardRing, l.reverseRing]
      : [direction === "forward" ? l.forwardRing : l.reverseRing];
    for (const index of rings) {
      this.#impairs[index] = impair;
      const p = this.#plan.rings[index].producer;
      const message: ToWorker = { type: "impair", ring: index, impair };
      if (p.kind === "nic" || p.kind === "vsock") this.#post("device", p.vm, message);
      else if (p.kind === "switch") this.#post("switch", p.switch, message);
    }
    // A link change like its going down: the event log says when each impairment took force.
    this.#events.emit("impair", link, {
      direction,
      forward: describeImpair(this.#impairs[l.forwardRing]),
      reverse: describeImpair(this.#impairs[l.reverseRing]),
    });
    return true;
  }

  /** Cut every frame between two sets of VMs (or only from `a` to `b` when `oneWay`). */
  partition(
    a: readonly string[],
    b: readonly string[],
    oneWay: boolean,
  ): Result<PartitionInfo, PartitionProblem> {
    const names = (x: unknown) => Array.isArray(x) && x.every((n) => typeof n === "string");
    expectArg(
      names(a) && names(b),
      `lab.links.partition: a and b must be arrays of VM names, as partition(["a"], ["b"], false), got ${
        typeName(a)
      } and ${typeName(b)}`,
    );
    expectBoolean("lab.links.partition", "oneWay", oneWay);
    if (this.#stopped()) throw labStoppedError(this.#plan.name, "partition the lab");
    const r = this.#partitions.add(a, b, oneWay);
    if (!r.ok) return r;
    this.#sendCuts();
    this.#events.emit("partition", String(r.value.id), { a: r.value.a, b: r.value.b, oneWay });
    return r;
  }

  /** Remove partition `id`, or every partition; returns the ids removed. */
  heal(id?: number): number[] {
    // `heal("1")` healed nothing and said nothing. A number that is no id (`heal(0)`) is out of
    // range, a RangeError, as for every other method's numbers; another type a TypeError.
    expectArg(
      id === undefined || (typeof id === "number" && Number.isInteger(id) && id > 0),
      `lab.links.heal: id must be a partition's id (a positive integer) or nothing, got ${
        typeof id === "number" ? id : typeName(id)
      }`,
      typeof id === "number" ? (m) => new RangeError(m) : undefined,
    );
    if (this.#stopped()) throw labStoppedError(this.#plan.name, "heal a partition");
    const gone = this.#partitions.heal(id);
    if (gone.length > 0) {
      this.#sendCuts();
      this.#events.emit("heal", id === undefined ? undefined : String(id), { ids: gone });
    }
    return gone;
  }

  /** The partitions in force. */
  partitions(): PartitionInfo[] {
    return this.#partitions.list();
  }

  /** The cut pairs in force, for a worker (re)started while partitions hold. */
  cuts(): [string, string][] {
    return this.#partitions.cuts();
  }

  /** The cut vsock (CID, CID) pairs in force, for a worker (re)started while partitions hold. */
  vsockCuts(): [number, number][] {
    return this.#partitions.vsockCuts();
  }

  #sendCuts(): void {
    const message: ToWorker = {
      type: "partitions",
      cuts: this.#partitions.cuts(),
      vsockCuts: this.#partitions.vsockCuts(),
    };
    for (const vm of this.#plan.vms) this.#post("device", vm.name, message);
    for (const sw of this.#plan.switches) this.#post("switch", sw.name, message);
    // A vhost-pci link's frames move in its peer's guest worker, which cuts them there.
    const peers = new Set((this.#plan.vhostPciLinks ?? []).map((l) => l.peer.vm));
    for (const vm of peers) this.#post("guest", vm, message);
  }
}

/**
 * MAC of the NIC that consumes a ring, or null when a switch does (a producer's partition
 * filter cuts by it).
 *
 * @example
 * ```ts ignore
 * import { consumerMac } from "./link_control.ts";
 * consumerMac(plan, plan.rings[0]); // "02:00:00:01:00:00"
 * ```
 */
export function consumerMac(plan: LabPlan, ring: RingPlan): string | null {
  const c = ring.consumer;
  if (c.kind !== "nic") return null;
  return plan.vms.find((v) => v.name === c.vm)?.nics.find((n) => n.name === c.nic)?.mac ?? null;
}

/** Why a link cannot be impaired or captured: it does not exist, or it has no link ring. */
export interface RingLinkProblem {
  /** `unknown-link`, or `vhost-pci-link` (the link has no ring: `b` serves `a`'s queues). */
  code: "unknown-link" | "vhost-pci-link";
  /** One line. */
  message: string;
  /** What to do instead. */
  hint: string;
}

/**
 * Why `link` cannot be impaired (`impair`) or captured (`capture`), or null when it can: every
 * link with link rings can; a vhost-pci link has none (its peer's guest moves the frames in the
 * frontend's memory) and an unknown name is no link. The hint lists the lab's links. Clearing a
 * vhost-pci link's impairment (`impair` with an `impair` that changes nothing: `vlab link a-b
 * clear`) is no problem: it has none, as a vsock router's link takes a clear and nothing else.
 *
 * @example
 * ```ts ignore
 * import { ringLinkProblem } from "./link_control.ts";
 * ringLinkProblem(plan, "a-b", "capture"); // { code: "vhost-pci-link", … } on `vhost-pci`
 * ringLinkProblem(plan, "a-b", "impair", NO_IMPAIRMENT); // null on `vhost-pci`
 * ```
 */
export function ringLinkProblem(
  plan: LabPlan,
  link: string,
  action: "impair" | "capture",
  impair?: Impairment,
): RingLinkProblem | null {
  if (plan.links.some((l) => l.name === link)) return null;
  const rings = plan.links.map((l) => l.name);
  const vhost = (plan.vhostPciLinks ?? []).map((l) => l.name);
  const shown = quote(link);
  if (vhost.includes(link)) {
    if (action === "impair" && impair !== undefined && isPassthrough(impair)) return null;
    const others = rings.length > 0 ? rings.join(", ") : "none in this lab";
    return {
      code: "vhost-pci-link",
      message: `Cannot ${action} link ${shown}: a vhost-pci link has no link ring ` +
        `(its peer serves the frontend's queues in place)`,
      hint: action === "impair"
        ? `Take it down (vlab link ${link} down) or cut it (vlab partition); ` +
          `links with rings to impair: ${others}`
        : `Its frames are counted in vlab status; links with rings to capture: ${others}`,
    };
  }
  return unknownLinkProblem(plan, link);
}

/** How a capture records a link: its pcap link type and the bytes kept of each record. */
export interface CaptureFormat {
  /** `Pcap.linkTypeEthernet`, or `Pcap.linkTypeVsock` for vsockmon records. */
  linkType: number;
  /** Bytes kept of each record: a whole frame, or a whole vsockmon record of a 64 KiB packet. */
  snaplen: number;
}

/** The capture format of a link ring: vsockmon for a vsock device at either end, else Ethernet. */
export function ringCaptureFormat(ring: RingPlan): CaptureFormat {
  return ring.producer.kind === "vsock" || ring.consumer.kind === "vsock"
    ? {
      linkType: Pcap.linkTypeVsock,
      snaplen: VSOCKMON_HDR_SIZE + VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD,
    }
    : { linkType: Pcap.linkTypeEthernet, snaplen: Pcap.defaultSnaplen };
}

/**
 * The capture format of `link` (see {@linkcode ringCaptureFormat}); Ethernet for a name the lab
 * does not have.
 *
 * @example
 * ```ts ignore
 * import { captureFormat } from "./link_control.ts";
 * captureFormat(plan, "a-b-vsock").linkType; // 271 (LINKTYPE_VSOCK) on `vsock-pair`
 * ```
 */
export function captureFormat(plan: LabPlan, link: string): CaptureFormat {
  const l = plan.links.find((x) => x.name === link);
  return l === undefined
    ? { linkType: Pcap.linkTypeEthernet, snaplen: Pcap.defaultSnaplen }
    : ringCaptureFormat(plan.rings[l.forwardRing]);
}

/** The pcap global header of a capture of `link` (its link type and snaplen). */
export function captureHeader(plan: LabPlan, link: string): Uint8Array {
  const f = captureFormat(plan, link);
  return pcapGlobalHeader(f.snaplen, f.linkType);
}

/**
 * The refusal of a link name the lab does not have; the hint lists every link, vhost-pci links
 * included.
 *
 * @example
 * ```ts ignore
 * import { unknownLinkProblem } from "./link_control.ts";
 * unknownLinkProblem(plan, "a-c").hint; // "Links: a-b"
 * ```
 */
export function unknownLinkProblem(plan: LabPlan, link: string): RingLinkProblem {
  const all = [...plan.links, ...(plan.vhostPciLinks ?? [])].map((l) => l.name);
  return {
    code: "unknown-link",
    message: `The lab has no link ${quote(link)}`,
    hint: all.length > 0 ? `Links: ${all.join(", ")}` : "The lab has no links",
  };
}
