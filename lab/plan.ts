/**
 * The planner: turns a validated {@linkcode Topology} into a {@linkcode LabPlan}, the complete
 * description of what `start` builds: the threads (a guest and a device worker per VM, a worker
 * per switch), the doorbell of each thread, every directed link ring with its producer, consumer
 * and impairment, and each VM's memory and control-block sizes.
 *
 * The plan is plain data (JSON-serialisable): the main thread computes it once, prints it for
 * `vlab up --dry-run`, and sends the parts each worker needs in its start message. Nothing in a
 * plan refers to a live object.
 *
 * @module
 */

import type { Endpoint, Impairment, Topology } from "./topology/types.ts";
import { formatIpv4, formatMac } from "./topology/addresses.ts";
import { controlLayout } from "./wire/control.ts";
import type { DeviceSpec, NetDeviceSpec, VsockDeviceSpec } from "./wire/specs.ts";
import type {
  LabPlan,
  LinkPlan,
  NicPlan,
  RingPlan,
  RingPort,
  SwitchPlan,
  ThreadPlan,
  VhostPciLinkPlan,
  VmPlan,
} from "./plan_types.ts";
import { planVhostPciLink, vhostPciWindow } from "./plan_vhost_pci.ts";
import { iommuDeviceSpec, labVsockCids, netDeviceSpec, vsockDeviceSpec } from "./kinds/mod.ts";
import { NO_IMPAIRMENT } from "./host/impair.ts";
import { linkRingBytes } from "./host/link_ring_layout.ts";
import { Prng } from "../devices/base/prng.ts";
import { count } from "../devices/base/plural.ts";
import { VsockCid } from "../devices/vsock/config.ts";
import { VSOCK_HDR_SIZE } from "../devices/vsock/header.ts";
import { NET_FRAME_PHASE } from "../devices/net/sizing.ts";
import { DEFAULT_MTU, maxFrameLen } from "../devices/net/config.ts";
import { largestMtuByLink } from "./topology/mtu.ts";
import { mibText } from "./memory_fit.ts";

/** Slots of one directed link ring. */
export const LINK_RING_SLOTS = 512;
/**
 * Bytes of frame one slot of a NIC's link ring holds, for the largest `mtu` on the link's L2
 * segment: that MTU plus the Ethernet header, the longest frame any NIC there sends (1514 for the
 * default 1500; 9014 for jumbo frames). Sized by the segment rather than for 9000 everywhere, a
 * ring takes 0.7 MiB instead of 4.5 at the default MTU, which is most of a large lab's memory.
 *
 * @example
 * ```ts
 * import { linkSlotBytes } from "./plan.ts";
 * linkSlotBytes(1500); // 1514
 * ```
 */
export function linkSlotBytes(mtu: number): number {
  return maxFrameLen(mtu);
}
/**
 * Where a frame starts in a NIC's link-ring slot past a multiple of 8: where it starts in the
 * guests' buffers, after the 12-byte virtio-net header, so that the device models' copies in and
 * out of the ring run word by word (`link_ring_layout.ts`).
 */
export const LINK_FRAME_PHASE = NET_FRAME_PHASE;

/**
 * Slots per ring of a vsock link or router port: fewer, larger slots than a NIC's ring, about the
 * same memory (4.2 MiB against 4.7), and 4 MiB in flight, a guest connection's window.
 */
export const VSOCK_RING_SLOTS = 64;
/**
 * Bytes per slot of a vsock ring: a header and a whole 64 KiB packet (the guest driver's largest
 * TX packet), so that a packet crosses the link as one piece, not eight.
 */
export const VSOCK_SLOT_BYTES = VSOCK_HDR_SIZE + 65536;
/** A vsock piece starts with its header at a multiple of 8, as a packet does in a guest's buffer. */
export const VSOCK_FRAME_PHASE = 0;

/** The plan's data types (lab/plan_types.ts), for the modules that read a plan. */
export type * from "./plan_types.ts";

/** The text form of an endpoint. */
export function endpointName(e: Endpoint): string {
  return e.kind === "nic" ? `${e.vm}:${e.nic}` : e.switch;
}

/**
 * Plan a validated topology.
 *
 * @example
 * ```ts
 * import { planLab } from "./plan.ts";
 * import { topologyFromObject } from "./topology/mod.ts";
 * const t = topologyFromObject({ name: "x", vms: { a: { nics: { eth0: {} } } } });
 * if (t.ok) planLab(t.value).threads.length; // 2: a guest and a device worker
 * ```
 */
export function planLab(topology: Topology): LabPlan {
  // A script's natural slip: the object form (topologyObject's, VMs in a map) for a loaded one.
  const t = topology as unknown as Record<string, unknown> | null;
  if (
    typeof t !== "object" || t === null || !Array.isArray(t.vms) || !Array.isArray(t.links) ||
    !Array.isArray(t.switches)
  ) {
    throw new TypeError(
      "planLab: topology must be one loadTopology returned (lists of VMs, switches and links); " +
        "pass a topology object or a file's path to loadTopology first",
    );
  }
  const threads: ThreadPlan[] = [];
  const labCids = labVsockCids(topology.vms);
  const vms: VmPlan[] = topology.vms.map((vm, index) => {
    const guestThread = threads.push({ index: threads.length, kind: "guest", owner: vm.name }) - 1;
    const deviceThread = threads.push({ index: threads.length, kind: "device", owner: vm.name }) -
      1;
    const nics: NicPlan[] = vm.nics.map((nic, i) => ({
      ...nic,
      index: i,
      link: null,
      txRing: -1,
      rxRing: -1,
    }));
    const devices: DeviceSpec[] = vm.nics.map((nic, i) => netDeviceSpec(nic, i));
    if (vm.vsock !== null) devices.push(vsockDeviceSpec(vm.vsock, devices.length, labCids));
    if (vm.iommu !== null) {
      const behind = new Set(vm.nics.filter((n) => n.iommu).map((n) => n.name));
      devices.push(iommuDeviceSpec(vm.iommu, devices, behind));
    }
    const control = controlLayout(devices);
    return {
      name: vm.name,
      index,
      seed: Prng.fromSeed(topology.seed).fork(`vm ${vm.name}`).nextU32(),
      memoryBytes: vm.memoryBytes,
      pollUs: vm.pollUs,
      guestThread,
      deviceThread,
      nics,
      devices,
      control,
      controlBytes: control.bytes,
    };
  });
  const switches: SwitchPlan[] = topology.switches.map((sw) => ({
    name: sw.name,
    thread: threads.push({ index: threads.length, kind: "switch", owner: sw.name }) - 1,
    portsMax: sw.portsMax,
    ports: [],
  }));
  const vmByName = new Map(vms.map((v) => [v.name, v]));
  const swByName = new Map(switches.map((s) => [s.name, s]));
  const rings: RingPlan[] = [];
  const links: LinkPlan[] = [];

  const vhostPciLinks: VhostPciLinkPlan[] = [];
  const segmentMtu = largestMtuByLink(topology);
  let nicSlotBytes = linkSlotBytes(DEFAULT_MTU); // the largest of the NICs' link rings
  for (const link of topology.links) {
    if (link.kind === "vhost-pci") {
      vhostPciLinks.push(planVhostPciLink(link, vmByName));
      continue;
    }
    const slotBytes = linkSlotBytes(segmentMtu.get(link.name) ?? DEFAULT_MTU);
    nicSlotBytes = Math.max(nicSlotBytes, slotBytes);
    const forwardRing = rings.length;
    const reverseRing = forwardRing + 1;
    const ports = link.endpoints.map((e, side): RingPort => {
      if (e.kind === "nic") {
        const vm = vmByName.get(e.vm)!;
        const nic = vm.nics.find((n) => n.name === e.nic)!;
        nic.link = link.name;
        nic.txRing = side === 0 ? forwardRing : reverseRing;
        nic.rxRing = side === 0 ? reverseRing : forwardRing;
        const dev = vm.devices[nic.index] as NetDeviceSpec;
        dev.txRing = nic.txRing;
        dev.rxRing = nic.rxRing;
        return { kind: "nic", vm: vm.name, nic: nic.name, thread: vm.deviceThread };
      }
      const sw = swByName.get(e.switch)!;
      const port = sw.ports.push({
        link: link.name,
        rxRing: side === 0 ? reverseRing : forwardRing,
        txRing: side === 0 ? forwardRing : reverseRing,
      }) - 1;
      return { kind: "switch", switch: sw.name, port, thread: sw.thread };
    });
    rings.push({
      index: forwardRing,
      link: link.name,
      direction: "forward",
      producer: ports[0],
      consumer: ports[1],
      impair: link.forward,
      seedLabel: `link ${link.name} forward`,
      seed: Prng.fromSeed(topology.seed).fork(`link ${link.name} forward`).nextU32(),
      slots: LINK_RING_SLOTS,
      slotBytes,
      framePhase: LINK_FRAME_PHASE,
    }, {
      index: reverseRing,
      link: link.name,
      direction: "reverse",
      producer: ports[1],
      consumer: ports[0],
      impair: link.reverse,
      seedLabel: `link ${link.name} reverse`,
      seed: Prng.fromSeed(topology.seed).fork(`link ${link.name} reverse`).nextU32(),
      slots: LINK_RING_SLOTS,
      slotBytes,
      framePhase: LINK_FRAME_PHASE,
    });
    links.push({
      name: link.name,
      endpoints: [endpointName(link.endpoints[0]), endpointName(link.endpoints[1])],
      forwardRing,
      reverseRing,
    });
  }

  const vsockOf = (name: string) =>
    vmByName.get(name)!.devices.find((d): d is VsockDeviceSpec => d.kind === "vsock")!;
  // The VMs each vsock device reaches: none until a vsock link or router joins it to some.
  // With each, the path a refusal's hint names (the vsock link, or the router and its two links).
  for (const vm of topology.vms) {
    if (vm.vsock !== null) [vsockOf(vm.name).joinedCids, vsockOf(vm.name).joinedPaths] = [[], []];
  }
  for (const link of topology.vsockLinks) {
    const forwardRing = rings.length;
    const reverseRing = forwardRing + 1;
    const [a, b] = link.vms.map((name) => vmByName.get(name)!);
    const [da, db] = [vsockOf(a.name), vsockOf(b.name)];
    [da.txRing, da.rxRing, da.peerCid] = [forwardRing, reverseRing, db.cid];
    [db.txRing, db.rxRing, db.peerCid] = [reverseRing, forwardRing, da.cid];
    da.joinedCids!.push(db.cid);
    db.joinedCids!.push(da.cid);
    da.joinedPaths!.push([db.cid, `the vsock link ${link.name}`]);
    db.joinedPaths!.push([da.cid, `the vsock link ${link.name}`]);
    const pa: RingPort = { kind: "vsock", vm: a.name, thread: a.deviceThread };
    const pb: RingPort = { kind: "vsock", vm: b.name, thread: b.deviceThread };
    for (
      const [index, direction, producer, consumer, impair] of [
        [forwardRing, "forward", pa, pb, link.forward],
        [reverseRing, "reverse", pb, pa, link.reverse],
      ] as const
    ) {
      rings.push({
        index,
        link: link.name,
        direction,
        producer,
        consumer,
        impair: { ...impair },
        seedLabel: `link ${link.name} ${direction}`,
        seed: Prng.fromSeed(topology.seed).fork(`link ${link.name} ${direction}`).nextU32(),
        slots: VSOCK_RING_SLOTS,
        slotBytes: VSOCK_SLOT_BYTES,
        framePhase: VSOCK_FRAME_PHASE,
      });
    }
    links.push({ name: link.name, endpoints: [a.name, b.name], forwardRing, reverseRing });
  }

  // A vsock router runs as a switch-like node: a worker thread, one port (two rings) per VM.
  for (const r of topology.vsockRouters) {
    const thread = threads.push({ index: threads.length, kind: "switch", owner: r.name }) - 1;
    const sw: SwitchPlan = { name: r.name, thread, portsMax: r.ports.length, ports: [] };
    sw.vsockCids = [];
    switches.push(sw);
    for (const p of r.ports) {
      const vm = vmByName.get(p.vm)!;
      const dev = vsockOf(vm.name);
      const forwardRing = rings.length; // the VM → the router
      const reverseRing = forwardRing + 1;
      [dev.txRing, dev.rxRing, dev.peerCid] = [forwardRing, reverseRing, VsockCid.ANY];
      const port = sw.ports.push({ link: p.link, rxRing: forwardRing, txRing: reverseRing }) - 1;
      sw.vsockCids.push(dev.cid);
      const pv: RingPort = { kind: "vsock", vm: vm.name, thread: vm.deviceThread };
      const pr: RingPort = { kind: "switch", switch: r.name, port, thread };
      for (
        const [index, direction, producer, consumer] of [
          [forwardRing, "forward", pv, pr],
          [reverseRing, "reverse", pr, pv],
        ] as const
      ) {
        rings.push({
          index,
          link: p.link,
          direction,
          producer,
          consumer,
          impair: { ...NO_IMPAIRMENT },
          seedLabel: `link ${p.link} ${direction}`,
          seed: Prng.fromSeed(topology.seed).fork(`link ${p.link} ${direction}`).nextU32(),
          slots: VSOCK_RING_SLOTS,
          slotBytes: VSOCK_SLOT_BYTES,
          framePhase: VSOCK_FRAME_PHASE,
        });
      }
      links.push({ name: p.link, endpoints: [vm.name, r.name], forwardRing, reverseRing });
    }
    for (const p of r.ports) {
      const dev = vsockOf(p.vm);
      dev.joinedCids!.push(...sw.vsockCids.filter((cid) => cid !== dev.cid));
      for (const q of r.ports) {
        if (q === p) continue;
        dev.joinedPaths!.push([
          vsockOf(q.vm).cid,
          `vsock router ${r.name} and its links ${p.link} and ${q.link}`,
        ]);
      }
    }
  }

  const ringBytes = rings.reduce(
    (n, r) => n + linkRingBytes(r.slots, r.slotBytes, r.framePhase),
    0,
  );
  const sharedBytes = vms.reduce((s, v) => s + v.memoryBytes + v.controlBytes, 0) + ringBytes;
  return {
    name: topology.name,
    seed: topology.seed,
    source: topology.source,
    threads,
    vms,
    switches,
    links,
    ...(vhostPciLinks.length > 0 ? { vhostPciLinks } : {}),
    rings,
    ringSlots: LINK_RING_SLOTS,
    slotBytes: nicSlotBytes,
    sharedBytes,
  };
}

/**
 * The plan as the text `vlab up --dry-run` prints: one line per VM, switch and link.
 *
 * @example
 * ```ts
 * import { formatPlan, planLab } from "./plan.ts";
 * import { topologyFromObject } from "./topology/mod.ts";
 * const t = topologyFromObject({ name: "x", vms: { a: { nics: { eth0: {} } } } });
 * if (t.ok) console.log(formatPlan(planLab(t.value)));
 * ```
 */
export function formatPlan(plan: LabPlan): string {
  const p = plan as unknown as Record<string, unknown> | null;
  if (typeof p !== "object" || p === null || !Array.isArray(p.rings) || !Array.isArray(p.vms)) {
    throw new TypeError("formatPlan: plan must be one planLab returned");
  }
  // The same words as the memory line `vlab up --dry-run` prints below the plan.
  const mib = mibText;
  const geometries = new Map<string, number>();
  for (const r of plan.rings) {
    const g = `${r.slots} × ${r.slotBytes} B`;
    geometries.set(g, (geometries.get(g) ?? 0) + 1);
  }
  const n = plan.rings.length;
  const rings = geometries.size <= 1
    ? `${count(n, "link ring")}${n > 0 ? ` of ${[...geometries.keys()][0]}` : ""}`
    : `${count(n, "link ring")}: ${[...geometries].map(([g, k]) => `${k} of ${g}`).join(", ")}`;
  const lines = [
    `lab ${plan.name} (seed ${plan.seed}) from ${plan.source}`,
    // "1 worker" (a lone switch's), not "1 workers".
    `  ${count(plan.threads.length, "worker")}, ${rings}, ` +
    `${mib(plan.sharedBytes)} of shared memory reserved (pages are committed when touched)`,
  ];
  for (const vm of plan.vms) {
    lines.push(
      `  vm ${vm.name}: ${mib(vm.memoryBytes)} guest memory, control block ${vm.controlBytes} B, ` +
        `workers guest #${vm.guestThread} device #${vm.deviceThread}, poll ${vm.pollUs} µs`,
    );
    for (const nic of vm.nics) {
      const feats = Object.entries(nic.features).filter(([, on]) => on)
        .map(([k]) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)); // as written in YAML
      const addr = nic.ip === null ? "no address" : `${nic.ip}/${nic.prefix}`;
      lines.push(
        `    ${nic.name} ${nic.mac} ${addr}: ${nic.layout} rings of ${nic.queueSize}, mtu ${nic.mtu}, ` +
          `features [${feats.join(", ")}], link ${nic.link ?? "(none)"}`,
      );
    }
    for (const dev of vm.devices) {
      if (dev.kind === "vhost-pci") {
        const addr = dev.ip === null ? "no address" : `${formatIpv4(dev.ip)}/${dev.prefix}`;
        lines.push(
          `    ${dev.name} ${formatMac(dev.mac)} ${addr}: vhost-pci-net (device ID 63), serves ` +
            `${dev.frontend.vm}:${dev.frontend.nic} in its memory, link ${dev.link}`,
        );
      }
      if (dev.kind === "iommu") {
        // Strict and lazy hand each endpoint's buffers IOVAs out of a space of its own.
        const perBuffer = dev.mode === "strict" || dev.mode === "lazy";
        const behind = dev.endpoints.map((e) =>
          `${e.name} (endpoint ${e.endpoint}` +
          (perBuffer ? `, ${Math.ceil(e.iovaPages / 256)} MiB of IOVA space)` : ")")
        );
        lines.push(
          `    ${dev.name} virtio-iommu, mode ${dev.mode}, ${dev.mappings} mapping entries, ` +
            `translates for ${behind.join(", ") || "no device"}`,
        );
      }
      if (dev.kind !== "vsock") continue;
      const link = plan.links.find((l) =>
        l.forwardRing === dev.txRing || l.reverseRing === dev.txRing
      );
      lines.push(
        `    ${dev.name} cid ${dev.cid}: ${dev.queues.length} split rings of ${
          dev.queues[0].size
        }, ` +
          `link ${link?.name ?? "(none)"}`,
      );
    }
  }
  for (const sw of plan.switches) {
    // A vsock router is planned as a switch node (`vsockCids`), but it is none: said as `vlab
    // status` and the dashboard say it.
    const what = sw.vsockCids === undefined ? "switch" : "vsock router";
    lines.push(
      `  ${what} ${sw.name}: worker #${sw.thread}, ports ${
        sw.ports.map((p) => p.link).join(", ") || "(none)"
      }`,
    );
  }
  for (const link of plan.links) {
    const f = plan.rings[link.forwardRing];
    const r = plan.rings[link.reverseRing];
    lines.push(
      `  link ${link.name}: ${link.endpoints[0]} ⇄ ${link.endpoints[1]}, rings #${f.index} ` +
        `(${describeImpair(f.impair)}) and #${r.index} (${describeImpair(r.impair)})`,
    );
  }
  for (const l of plan.vhostPciLinks ?? []) {
    lines.push(
      `  link ${l.name}: ${l.peer.vm}:${l.peer.device} serves ${l.frontend.vm}:${l.frontend.nic} ` +
        `(vhost-pci, no rings; window: ${vhostPciWindow(l, plan.vms)})`,
    );
  }
  return lines.join("\n");
}

/** A time in µs as `tc` prints one: milliseconds below a second ("0.25ms", "10ms"), else seconds. */
function netemTime(us: number): string {
  return us >= 1_000_000 ? `${us / 1_000_000}s` : `${us / 1000}ms`;
}

/**
 * Netem-style description of an impairment ("delay 10ms 2ms 25% distribution normal loss 1%"),
 * or "no impairment".
 */
export function describeImpair(imp: Impairment): string {
  const parts: string[] = [];
  const corr = (pct: number) => (pct > 0 ? ` ${pct}%` : "");
  if (imp.delayUs > 0 || imp.jitterUs > 0) {
    let d = `delay ${netemTime(imp.delayUs)}`;
    if (imp.jitterUs > 0) d += ` ${netemTime(imp.jitterUs)}${corr(imp.delayCorrPct)}`;
    if (imp.jitterUs > 0 && imp.distribution !== "uniform") {
      d += ` distribution ${imp.distribution}`;
    }
    parts.push(d);
  }
  const m = imp.lossModel;
  if (m?.kind === "state") {
    parts.push(`loss state ${m.p13}% ${m.p31}% ${m.p32}% ${m.p23}% ${m.p14}%`);
  } else if (m?.kind === "gemodel") {
    parts.push(`loss gemodel ${m.p}% ${m.r}% ${m.oneMinusH}% ${m.oneMinusK}%`);
  } else if (imp.lossPct > 0) parts.push(`loss ${imp.lossPct}%${corr(imp.lossCorrPct)}`);
  if (imp.corruptPct > 0) parts.push(`corrupt ${imp.corruptPct}%${corr(imp.corruptCorrPct)}`);
  if (imp.duplicatePct > 0) {
    parts.push(`duplicate ${imp.duplicatePct}%${corr(imp.duplicateCorrPct)}`);
  }
  if (imp.reorderPct > 0) {
    parts.push(
      `reorder ${imp.reorderPct}%${corr(imp.reorderCorrPct)}` +
        (imp.reorderGap > 1 ? ` gap ${imp.reorderGap}` : ""),
    );
  }
  if (imp.rateBps > 0) {
    parts.push(
      `rate ${formatRate(imp.rateBps)}` + (imp.overheadBytes !== 0 ? ` ${imp.overheadBytes}` : ""),
    );
  }
  if (parts.length > 0 && imp.limit !== 1000) parts.push(`limit ${imp.limit}`);
  return parts.length === 0 ? "no impairment" : parts.join(" ");
}

function formatRate(bps: number): string {
  if (bps >= 1e9 && bps % 1e9 === 0) return `${bps / 1e9}gbit`;
  if (bps >= 1e6 && bps % 1e6 === 0) return `${bps / 1e6}mbit`;
  if (bps >= 1e3 && bps % 1e3 === 0) return `${bps / 1e3}kbit`;
  return `${bps}bit`;
}
