/**
 * The Prometheus metrics a lab of a given topology can have, with the labels each family takes
 * and, where the plan names them, the values those labels can take (its VMs, devices, queues,
 * links, switches, the directions and drop causes): what `GET /metrics` (`prometheus.ts`)
 * exports, known before the lab starts. A drill's `metric('…')` selectors are checked against it
 * at validation, so a misspelt name or label value is a problem at its line, not an `ERROR` after
 * a whole run.
 *
 * A family a lab can have only at times (a vsock connection's, the last IOMMU fault's address, a
 * VM's CPU while placed) is in the list: the selector is right, whether the run gives it a value
 * is the run's to say. `metric_names_test.ts` checks the list against the metrics of running labs
 * of every shipped topology, so that a family `prometheus.ts` adds cannot be refused here.
 *
 * Who calls it: the drill loader (`load.ts`, through `references.ts`), on the main thread. Pure
 * but for the small objects it builds to read counter names from (a link ring, an impairment
 * stage, a switch).
 *
 * @module
 */

import type { Topology } from "../topology/types.ts";
import { planLab } from "../plan.ts";
import { labKind } from "../kinds/mod.ts";
import { metricPart, STATUS_BITS, VHOST_PCI_METRICS } from "../prometheus.ts";
import { DROP_LABELS, WAIT_LABELS } from "../snapshot_types.ts";
import { LinkRing } from "../host/link_ring.ts";
import { ImpairStage, NO_IMPAIRMENT } from "../host/impair.ts";
import { LearningSwitch } from "../host/switch.ts";
import { newVsockRouterCounters } from "../host/vsock_router_counters.ts";
import { loopCounters } from "../wire/loop.ts";
import { flatCounters, newNetCounters } from "../guest/net/counters.ts";
import { Prng } from "../../devices/base/prng.ts";
import { closestName, didYouMean } from "../topology/issues.ts";
import { quote } from "../../devices/base/quote.ts";
import { parseSelector } from "./scope.ts";

/** A metric family: its labels, each with the values it can take (null: any value). */
export interface MetricFamily {
  /** Label name → the values it can take, or null when the plan does not name them. */
  labels: ReadonlyMap<string, readonly string[] | null>;
}

/**
 * Every metric family a lab of `topology` can have, by name; null when the topology cannot be
 * planned (its problem is reported on its own, and no selector is judged).
 *
 * @example
 * ```ts
 * import { topologyFromObject } from "../topology/load.ts";
 * import { labMetricFamilies } from "./metric_names.ts";
 * const t = topologyFromObject({ name: "x", vms: { a: { nics: { eth0: {} } } } });
 * if (t.ok) labMetricFamilies(t.value)?.get("vlab_vm_running")?.labels.get("vm"); // ["a"]
 * ```
 */
export function labMetricFamilies(topology: Topology): Map<string, MetricFamily> | null {
  let plan: ReturnType<typeof planLab>;
  try {
    plan = planLab(topology);
  } catch {
    return null;
  }
  const out = new Map<string, Map<string, Set<string> | null>>();
  const add = (name: string, labels: Record<string, readonly string[] | string | null>) => {
    let f = out.get(name);
    if (f === undefined) out.set(name, f = new Map([["lab", new Set([plan.name])]]));
    for (const [k, v] of Object.entries(labels)) {
      const before = f.get(k);
      if (v === null || before === null) {
        f.set(k, null);
        continue;
      }
      const set = before ?? new Set<string>();
      for (const value of typeof v === "string" ? [v] : v) set.add(value);
      f.set(k, set);
    }
  };
  for (const name of ["vlab_up", "vlab_uptime_seconds"]) add(name, {});
  for (const name of ["vlab_memory_shared_bytes", "vlab_memory_resident_bytes"]) add(name, {});
  for (const vm of plan.vms) {
    for (
      const name of [
        "vlab_vm_running",
        "vlab_vm_backend_restarts_total",
        "vlab_vm_device_resets_total",
        "vlab_vm_reboots_total",
        "vlab_vm_cpu",
      ]
    ) add(name, { vm: vm.name });
    for (const d of vm.devices) {
      const kind = labKind(d.kind);
      const layout = d.queues[0]?.layout ?? "none";
      const dev = { vm: vm.name, device: d.name };
      const family = metricPart(d.kind);
      for (
        const [side, words] of [
          ["device", kind.deviceCounters],
          ["driver", kind.driverCounters],
        ] as const
      ) {
        for (const k of Object.keys(words)) {
          const name = `vlab_${family}_${side}_${metricPart(k)}`;
          add(kind.gauges?.has(k) ? name : `${name}_total`, { ...dev, layout });
        }
      }
      if (kind.connections !== undefined) {
        add("vlab_vsock_connections", dev);
        const conn = { ...dev, guest_port: null, peer_cid: null, peer_port: null };
        add("vlab_vsock_connection_bytes_total", {
          ...conn,
          direction: ["from_guest", "to_guest"],
        });
        add("vlab_vsock_connection_credit_stalls_total", conn);
        add("vlab_vsock_connection_credit_bytes", { ...conn, side: ["peer", "guest"] });
      }
      add("vlab_device_status", dev);
      add("vlab_device_status_bit", { ...dev, bit: STATUS_BITS });
      add("vlab_device_feature", { ...dev, feature: null });
      for (const q of d.queues) {
        const ql = { ...dev, queue: q.name };
        for (const what of ["kicks", "interrupts", "interrupts_suppressed", "requests", "bytes"]) {
          add(`vlab_queue_${what}_total`, ql);
        }
        add("vlab_queue_size", ql);
        add("vlab_queue_in_flight", ql);
      }
      if (d.kind === "iommu") {
        // Per endpoint behind it: its devices, in domains the guest numbers.
        const l = { vm: vm.name, device: vm.devices.map((x) => x.name), domain: null };
        add("vlab_iommu_mappings", l);
        for (const what of ["iotlb_hits", "iotlb_misses", "invalidations", "faults"]) {
          add(`vlab_iommu_${what}_total`, l);
        }
        add("vlab_iommu_last_fault_iova", { ...l, access: null });
      }
    }
    for (const worker of ["guest", "device"]) {
      const l = { vm: vm.name, worker };
      for (const what of ["loops", "wakeups", "self_rings"]) add(`vlab_worker_${what}_total`, l);
    }
  }
  for (const l of plan.vhostPciLinks ?? []) {
    const frontend = `${l.frontend.vm}:${l.frontend.nic}`;
    const labels = { link: l.name, frontend, peer: `${l.peer.vm}:${l.peer.device}` };
    add("vlab_vhost_pci_up", labels);
    add("vlab_vhost_pci_connection", labels);
    for (const [k] of VHOST_PCI_METRICS) add(`vlab_vhost_pci_${metricPart(k)}_total`, labels);
    // The peer's own IOTLB over the endpoint it serves, on the frontend's VM.
    const peer = {
      vm: l.frontend.vm,
      device: l.frontend.nic,
      domain: null,
      peer: labels.peer,
    };
    for (const what of ["iotlb_hits", "iotlb_misses", "invalidations", "faults"]) {
      add(`vlab_iommu_peer_${what}_total`, peer);
    }
  }
  const ring = Object.keys(LinkRing.create(4, 64).counters());
  const stage = Object.keys(new ImpairStage(NO_IMPAIRMENT, Prng.fromSeed(1).fork("x")).counters);
  for (const link of plan.links) {
    const directions = ["forward", "reverse"] as const;
    const l = { link: link.name, direction: [...directions] };
    for (const k of ring) add(`vlab_link_${metricPart(k)}_total`, l);
    for (const what of ["frames", "bytes", "dropped"]) add(`vlab_capture_${what}_total`, l);
    add("vlab_link_drops_total", { ...l, cause: DROP_LABELS.map(([c]) => metricPart(c)) });
    add("vlab_link_waits_total", { ...l, cause: WAIT_LABELS.map(([c]) => metricPart(c)) });
    add("vlab_link_corrupted_total", l);
    add("vlab_link_queued_frames", l);
    for (const dir of directions) {
      const producer = plan.rings[dir === "forward" ? link.forwardRing : link.reverseRing].producer;
      const at = { link: link.name, direction: dir };
      const labels = producer.kind === "nic"
        ? { ...at, vm: producer.vm, device: producer.nic }
        : producer.kind === "vsock"
        ? { ...at, vm: producer.vm, device: "vsock0" }
        : { ...at, switch: producer.switch };
      for (const k of stage) add(`vlab_impair_${metricPart(k)}_total`, labels);
    }
    add("vlab_link_up", { link: link.name });
  }
  // What the workers publish: the guest stack's counters, a switch's or a router's, a vsock
  // backend's, every worker loop's, and any other statistic as a gauge.
  const stack = flatCounters(newNetCounters());
  for (const vm of plan.vms) {
    for (const k of Object.keys(stack)) {
      const stat = metricPart(k);
      if (stat.startsWith("drops_")) {
        add("vlab_guest_stack_drops_total", { vm: vm.name, cause: stat.slice(6) });
      } else add(`vlab_guest_stack_${stat}_total`, { vm: vm.name });
    }
    if (vm.devices.some((d) => d.kind === "vsock")) {
      add("vlab_vsock_backend_rst_dropped_total", { vm: vm.name });
      add("vlab_vsock_backend_host_refused_total", { vm: vm.name });
    }
  }
  const bridge = Object.keys(new LearningSwitch({ ports: 0, agingMs: 1000 }).counters);
  const router = Object.keys(newVsockRouterCounters());
  for (const s of plan.switches) {
    for (const k of s.vsockCids !== undefined ? router : bridge) {
      add(`vlab_switch_${metricPart(k)}_total`, { switch: s.name });
    }
  }
  const owners = [...plan.vms.map((v) => v.name), ...plan.switches.map((s) => s.name)];
  const workers = plan.switches.length > 0 ? ["guest", "device", "switch"] : ["guest", "device"];
  for (const k of Object.keys(loopCounters())) {
    add(`vlab_worker_loop_${metricPart(k)}_total`, { worker: workers, owner: owners });
  }
  add("vlab_worker_stat", { worker: workers, owner: owners, stat: null });
  return new Map(
    [...out].map(([name, labels]) => [name, {
      labels: new Map([...labels].map(([k, v]) => [k, v === null ? null : [...v]])),
    }]),
  );
}

/** What a family's name says its lab needs, for a name the topology's lab does not have. */
const NEEDS: readonly (readonly [string, string])[] = [
  ["vlab_vsock_", "vsock device"],
  ["vlab_iommu_peer_", "vhost-pci link whose frontend is behind a vIOMMU"],
  ["vlab_iommu_", "vIOMMU"],
  ["vlab_vhost_pci_", "vhost-pci link"],
  ["vlab_switch_", "switch nor vsock router"],
  ["vlab_link_", "link"],
  ["vlab_impair_", "link"],
  ["vlab_capture_", "link"],
];

/** A few names, as hints list them. */
function shown(list: readonly string[]): string {
  return list.slice(0, 8).map((v) => `\`${v}\``).join(", ") + (list.length > 8 ? ", …" : "");
}

/**
 * The problem of a `metric()` selector that no sample of the lab's metrics (`families`, from
 * {@linkcode labMetricFamilies}) can match: a metric name the lab does not have, a label its
 * family does not take, or a value the label cannot take (a link, VM or device the topology does
 * not have); null when it can match, or does not read (that is `selectorProblem`'s).
 *
 * @example
 * ```ts
 * import { topologyFromObject } from "../topology/load.ts";
 * import { labMetricFamilies, metricSelectorProblem } from "./metric_names.ts";
 * const t = topologyFromObject({ name: "x", vms: { a: { nics: { eth0: {} } } } });
 * if (t.ok) metricSelectorProblem("vlab_vm_runing", labMetricFamilies(t.value)!)?.hint;
 * // "did you mean `vlab_vm_running`?"
 * ```
 */
export function metricSelectorProblem(
  selector: string,
  families: ReadonlyMap<string, MetricFamily>,
): { message: string; hint: string } | null {
  const sel = parseSelector(selector);
  if (sel === null) return null;
  const family = families.get(sel.name);
  if (family === undefined) {
    const prefix = NEEDS.find(([p]) => sel.name.startsWith(p));
    // A family of a kind the topology lacks (`vlab_vsock_…` on a lab without vsock) says so.
    const lacks = prefix !== undefined &&
      ![...families.keys()].some((n) => n.startsWith(prefix[0]));
    const near = closestName(sel.name, [...families.keys()]);
    return {
      message: `The lab has no metric ${quote(sel.name, 80)}`,
      hint: lacks
        ? `its topology has no ${prefix[1]}: such metrics are a lab's that has one`
        : near !== undefined
        ? `did you mean \`${near}\`?`
        : 'a running lab lists its metrics at GET /metrics on its control socket (README, "The ' +
          'control socket")',
    };
  }
  for (const [key, value] of sel.labels) {
    const values = family.labels.get(key);
    if (values === undefined) {
      const keys = [...family.labels.keys()];
      return {
        message: `Metric ${sel.name} has no label ${quote(key, 40)}`,
        hint: didYouMean(key, keys) ?? `its labels are ${shown(keys)}`,
      };
    }
    if (values !== null && !values.includes(value)) {
      const near = closestName(value, values);
      return {
        message: `No sample of ${sel.name} can have ${key}=${quote(value, 40)}`,
        hint: near !== undefined ? `did you mean \`${near}\`?` : `${key} takes ${shown(values)}`,
      };
    }
  }
  return null;
}
