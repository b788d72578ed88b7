/**
 * Every counter of a running lab in the Prometheus text exposition format (version 0.0.4), for
 * `GET /metrics` and `lab.metrics()`. It follows Prometheus' naming conventions: names carry no
 * instance (VM, device, link, switch and queue names are labels), counters are typed `counter`
 * and end in `_total`, gauges are typed `gauge`, and every family has a `# HELP` line.
 *
 * Families (each with the `lab` label):
 * - `vlab_up`, `vlab_uptime_seconds`, `vlab_vm_running{vm}`, the recoveries
 *   `vlab_vm_backend_restarts_total{vm}` and `vlab_vm_device_resets_total{vm}`, and
 *   `vlab_vm_cpu{vm}` while the VM's workers are placed on a CPU (CPU placement);
 * - per virtio-net device `{vm, device, layout}`: `vlab_net_device_*_total` (the device's
 *   counters), `vlab_net_driver_*_total` (the guest driver's), and `vlab_device_status`,
 *   `vlab_device_status_bit{bit}`, `vlab_device_feature{feature}` (negotiated features, 1 each);
 * - per virtqueue `{vm, device, queue}`: kicks, interrupts, suppressed interrupts, requests,
 *   bytes (`vlab_queue_*_total`) and `vlab_queue_size`, `vlab_queue_in_flight`;
 * - per link direction `{link, direction}`: the link ring's counters (`vlab_link_*_total`),
 *   `vlab_link_drops_total{cause}`, `vlab_link_waits_total{cause}`, `vlab_link_corrupted_total`,
 *   `vlab_link_queued_frames` (what the impairment stage holds now),
 *   and the impairment stage's counters (`vlab_impair_*_total`, with `vm` and `device` of the
 *   sending NIC, or `switch`); the capture tap's `vlab_capture_{frames,bytes,dropped}_total`;
 *   `vlab_link_up{link}`;
 * - per vhost-pci link `{link, frontend, peer}`: `vlab_vhost_pci_up`, `vlab_vhost_pci_connection`
 *   and the peer's counters (`vlab_vhost_pci_*_total`: frames, interrupts, faults, revoked);
 * - per worker: `vlab_worker_loops_total`, `vlab_worker_wakeups_total` `{vm, worker}`;
 * - the statistics the workers publish, generically: the guest stack's `stack_NAME` as
 *   `vlab_guest_stack_NAME_total{vm}` and `stack_drops_CAUSE` as
 *   `vlab_guest_stack_drops_total{vm, cause}`; a switch's `switch_NAME` as
 *   `vlab_switch_NAME_total{switch}`; a worker loop's `loop_NAME` as
 *   `vlab_worker_loop_NAME_total{worker, owner}`; a vsock backend's `vsock_NAME` as
 *   `vlab_vsock_backend_NAME_total{vm}` (the drops beside a producer's impairment statistics are
 *   read per link, as its impairment statistics are); anything else as
 *   `vlab_worker_stat{worker, owner, stat}`.
 *
 * @module
 */

import { vhostPciSnapshot } from "./vhost_pci_view.ts";
import type { Lab } from "./lab.ts";
import {
  besideImpairStats,
  directionCounter,
  DROP_LABELS,
  impairPrefix,
  WAIT_LABELS,
} from "./link_counts.ts";
import { labKind } from "./kinds/mod.ts";
import { labMemory, takeSnapshot } from "./snapshot.ts";
import { DoorbellWord } from "./wire/doorbell.ts";
import { snake } from "./wire/stats.ts";
import type { VsockConnTable } from "../devices/vsock/conn_table.ts";

/**
 * The vhost-pci link counters exported (`vlab_vhost_pci_NAME_total`), with their help text.
 *
 * @example
 * ```ts
 * import { VHOST_PCI_METRICS } from "./prometheus.ts";
 * VHOST_PCI_METRICS[0][0]; // "connects"
 * ```
 */
export const VHOST_PCI_METRICS = [
  ["connects", "Handovers the peer took"],
  ["disconnects", "Connections ended (revocations, device errors)"],
  ["framesIn", "Frames the peer popped from the frontend's transmitq"],
  ["framesOut", "Frames the peer put into the frontend's receiveq"],
  ["framesDropped", "Frames the peer's stack sent while no connection was served (not delivered)"],
  [
    "rxWaits",
    "Times the peer's stack found no buffer in the frontend's receiveq (back-pressure: the send was refused for want of room)",
  ],
  ["partitionDropped", "Frames of either direction a partition cut on the link"],
  [
    "linkDownIn",
    "Frames of the frontend's transmitq dropped while its link was down (set down, or the peer not serving)",
  ],
  ["linkDownOut", "Frames of the peer's stack dropped while the link was set down"],
  ["interrupts", "Used-buffer interrupts the peer raised in the frontend"],
  ["faults", "Accesses of the peer its window refused (never performed)"],
  ["revoked", "Ring areas unmapped under the peer"],
] as const;

/**
 * The device status bits `vlab_device_status_bit` has a sample of each.
 *
 * @example
 * ```ts
 * import { STATUS_BITS } from "./prometheus.ts";
 * STATUS_BITS.includes("DEVICE_NEEDS_RESET"); // true
 * ```
 */
export const STATUS_BITS = [
  "ACKNOWLEDGE",
  "DRIVER",
  "FEATURES_OK",
  "DRIVER_OK",
  "DEVICE_NEEDS_RESET",
  "FAILED",
] as const;

/**
 * A set of metric families being built, rendered in the order they were first added.
 *
 * @example
 * ```ts
 * import { MetricFamilies } from "./prometheus.ts";
 * const m = new MetricFamilies();
 * m.counter("vlab_x_total", "Things", { lab: "l" }, 2);
 * m.text(); // "# HELP vlab_x_total Things\n# TYPE vlab_x_total counter\nvlab_x_total{lab=\"l\"} 2\n"
 * ```
 */
export class MetricFamilies {
  readonly #families = new Map<string, { type: string; help: string; samples: string[] }>();

  /** Add a counter sample; the name must end in `_total`. */
  counter(name: string, help: string, labels: Record<string, string>, value: number): void {
    if (!name.endsWith("_total")) throw new Error(`counter ${name} must end in _total`);
    this.#add(name, "counter", help, labels, value);
  }

  /** Add a gauge sample. */
  gauge(name: string, help: string, labels: Record<string, string>, value: number): void {
    this.#add(name, "gauge", help, labels, value);
  }

  #add(name: string, type: string, help: string, labels: Record<string, string>, v: number) {
    let f = this.#families.get(name);
    if (!f) this.#families.set(name, f = { type, help, samples: [] });
    else if (f.type !== type) throw new Error(`metric ${name} is both ${f.type} and ${type}`);
    f.samples.push(`${name}${renderLabels(labels)} ${Number.isFinite(v) ? v : 0}`);
  }

  /** The exposition text. */
  text(): string {
    const out: string[] = [];
    for (const [name, f] of this.#families) {
      out.push(`# HELP ${name} ${escHelp(f.help)}`, `# TYPE ${name} ${f.type}`, ...f.samples);
    }
    return out.join("\n") + "\n";
  }
}

const escLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const escHelp = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const renderLabels = (l: Record<string, string>) =>
  "{" + Object.entries(l).map(([k, v]) => `${k}="${escLabel(v)}"`).join(",") + "}";

/**
 * A metric-name fragment from a counter or statistic name: camelCase to snake_case, anything
 * outside `[a-z0-9_]` to `_`.
 *
 * @example
 * ```ts
 * import { metricPart } from "./prometheus.ts";
 * metricPart("rxBufferWaits"); // "rx_buffer_waits"
 * ```
 */
export function metricPart(name: string): string {
  return snake(name).toLowerCase().replace(/[^a-z0-9_]/g, "_");
}

/**
 * The published statistics of the workers as metric samples, generically (a new counter in the
 * guest stack or a switch comes out with a proper name and labels without further edits).
 * Statistics whose names `consumed` holds (the impairment stages, read per link) are skipped.
 *
 * @example
 * ```ts
 * import { MetricFamilies, workerStatMetrics } from "./prometheus.ts";
 * const m = new MetricFamilies();
 * workerStatMetrics(m, { lab: "l" }, [
 *   { kind: "guest", owner: "a", stats: { stack_frames_in: 3, stack_drops_bad_checksum: 1 } },
 * ], new Set());
 * m.text().includes('vlab_guest_stack_drops_total{lab="l",vm="a",cause="bad_checksum"} 1'); // true
 * ```
 */
export function workerStatMetrics(
  m: MetricFamilies,
  base: Record<string, string>,
  workers: readonly { kind: string; owner: string; stats: Readonly<Record<string, number>> }[],
  consumed: ReadonlySet<string>,
): void {
  for (const w of workers) {
    for (const [stat, value] of Object.entries(w.stats)) {
      if (consumed.has(`${w.kind}\0${w.owner}\0${stat}`)) continue;
      if (w.kind === "guest" && stat.startsWith("stack_drops_")) {
        m.counter(
          "vlab_guest_stack_drops_total",
          "Frames and datagrams the guest network stack dropped, by cause",
          { ...base, vm: w.owner, cause: metricPart(stat.slice(12)) },
          value,
        );
      } else if (w.kind === "guest" && stat.startsWith("stack_")) {
        const part = metricPart(stat.slice(6));
        m.counter(
          `vlab_guest_stack_${part}_total`,
          `Guest network stack: ${part.replace(/_/g, " ")}`,
          { ...base, vm: w.owner },
          value,
        );
      } else if (w.kind === "switch" && stat.startsWith("switch_")) {
        const part = metricPart(stat.slice(7));
        m.counter(
          `vlab_switch_${part}_total`,
          `Learning switch: ${part.replace(/_/g, " ")}`,
          { ...base, switch: w.owner },
          value,
        );
      } else if (w.kind === "device" && stat.startsWith("vsock_")) {
        // A vsock backend's own counts (`vsock_rst_dropped`: RSTs it had no room to queue).
        const part = metricPart(stat.slice(6));
        m.counter(
          `vlab_vsock_backend_${part}_total`,
          `vsock backend: ${part.replace(/_/g, " ")}`,
          { ...base, vm: w.owner },
          value,
        );
      } else if (stat.startsWith("loop_")) {
        // The worker loop's counts (wake-ups, timeouts, poll hits): counters, like the others.
        const part = metricPart(stat.slice(5));
        m.counter(
          `vlab_worker_loop_${part}_total`,
          `Worker loop: ${part.replace(/_/g, " ")}`,
          { ...base, worker: w.kind, owner: w.owner },
          value,
        );
      } else {
        m.gauge(
          "vlab_worker_stat",
          "Another statistic a worker publishes",
          { ...base, worker: w.kind, owner: w.owner, stat: metricPart(stat) },
          value,
        );
      }
    }
  }
}

/**
 * Every counter of the lab in the Prometheus text exposition format (version 0.0.4).
 *
 * @example
 * ```ts ignore
 * import { prometheusMetrics } from "./prometheus.ts";
 * const text = prometheusMetrics(lab); // "# HELP vlab_up 1 while the lab runs, 0 once it was stopped\n…"
 * ```
 */
export function prometheusMetrics(lab: Lab): string {
  const m = new MetricFamilies();
  const plan = lab.plan;
  const base = { lab: plan.name };
  const snap = takeSnapshot(lab);
  // A script may read a stopped lab's counters (its last values): it is not up any more.
  m.gauge("vlab_up", "1 while the lab runs, 0 once it was stopped", base, lab.stopped ? 0 : 1);
  m.gauge("vlab_uptime_seconds", "Seconds since the lab started", base, snap.lab.uptimeSeconds);
  const memory = labMemory(lab);
  m.gauge(
    "vlab_memory_shared_bytes",
    "Shared memory the lab reserved (guest memory, control blocks, link rings)",
    base,
    memory.sharedBytes,
  );
  m.gauge(
    "vlab_memory_resident_bytes",
    "Resident memory of the lab's process (every worker's)",
    base,
    memory.residentBytes,
  );
  for (const vm of plan.vms) {
    const v = snap.vms[vm.index];
    // By the VM's state, as `vlab status` shows it: a VM resetting a device has both workers
    // running but is not "running" there, and is 0 here too.
    m.gauge(
      "vlab_vm_running",
      "1 while the VM's state is running (0: starting, restarting, resetting, failed, stopped)",
      {
        ...base,
        vm: vm.name,
      },
      lab.vmState(vm.name) === "running" ? 1 : 0,
    );
    if (v.recovery !== undefined) {
      m.counter(
        "vlab_vm_backend_restarts_total",
        "Times the VM's device worker was replaced after a crash or a hang",
        { ...base, vm: vm.name },
        v.recovery.backendRestarts,
      );
      m.counter(
        "vlab_vm_device_resets_total",
        "Times the VM's guest reset one of its devices (DEVICE_NEEDS_RESET, broken queue, TX timeout)",
        { ...base, vm: vm.name },
        v.recovery.deviceResets,
      );
      m.counter(
        "vlab_vm_reboots_total",
        "Times the VM crashed and was rebooted (vm-crash)",
        { ...base, vm: vm.name },
        v.recovery.reboots ?? 0,
      );
    }
    if (v.cpu !== undefined) {
      m.gauge("vlab_vm_cpu", "The CPU the VM's guest and device workers are placed on", {
        ...base,
        vm: vm.name,
      }, v.cpu);
    }
    v.devices.forEach((d, i) => {
      // Counter families per kind (`vlab_net_device_*`, `vlab_vsock_device_*`), from the plan's slot.
      const slot = vm.devices[i];
      const dev = { ...base, vm: vm.name, device: d.nic };
      // A device with no virtqueue of its own (a vhost-pci-net device serves its frontend's) has
      // no ring layout: "none", not a "split" it does not have.
      const l = { ...dev, layout: slot.queues[0]?.layout ?? "none" };
      // A kind's name may hold a hyphen (`vhost-pci`), which a metric name may not; the words
      // that hold a current value (a state, the last fault's address) are gauges, not counters.
      const { gauges } = labKind(slot.kind);
      const family = metricPart(slot.kind);
      for (
        const [side, words, what] of [
          ["device", d.counters, "device"],
          ["driver", d.driverCounters, "guest driver"],
        ] as const
      ) {
        for (const [k, value] of Object.entries(words)) {
          const name = `vlab_${family}_${side}_${metricPart(k)}`;
          const help = `${d.kind} ${what}: ${k}`;
          if (gauges?.has(k)) m.gauge(name, help, l, value);
          else m.counter(`${name}_total`, help, l, value);
        }
      }
      if (d.connections) connectionMetrics(m, dev, d.connections);
      m.gauge("vlab_device_status", "The device status byte", dev, d.status);
      for (const bit of STATUS_BITS) {
        const on = d.statusNames.includes(bit) ? 1 : 0;
        m.gauge("vlab_device_status_bit", "1 if the status bit is set", { ...dev, bit }, on);
      }
      for (const feature of d.features) {
        m.gauge("vlab_device_feature", "1 for each negotiated feature", { ...dev, feature }, 1);
      }
      for (const q of d.queues) {
        const ql = { ...dev, queue: q.name };
        m.counter("vlab_queue_kicks_total", "Driver notifications (kicks)", ql, q.kicks);
        m.counter("vlab_queue_interrupts_total", "Used-buffer interrupts raised", ql, q.interrupts);
        m.counter(
          "vlab_queue_interrupts_suppressed_total",
          "Used-buffer interrupts event suppression saved",
          ql,
          q.suppressed,
        );
        m.counter("vlab_queue_requests_total", "Chains the device took", ql, q.requests);
        m.counter("vlab_queue_bytes_total", "Frame bytes through the queue", ql, q.bytes);
        m.gauge("vlab_queue_size", "Queue size (0 before set-up)", ql, q.size);
        m.gauge("vlab_queue_in_flight", "Chains the device holds", ql, q.inFlight);
      }
    });
    for (const p of v.iommu?.peers ?? []) {
      // A vhost-pci peer's own IOTLB over the endpoint it serves (its window).
      const l = {
        ...base,
        vm: vm.name,
        device: p.device,
        domain: String(p.domain ?? "none"),
        peer: p.peer,
      };
      const what = "by the vhost-pci peer's IOTLB over the endpoint's window";
      m.counter("vlab_iommu_peer_iotlb_hits_total", `Translations served ${what}`, l, p.hits);
      m.counter(
        "vlab_iommu_peer_iotlb_misses_total",
        "Translations of the vhost-pci peer that walked the table",
        l,
        p.misses,
      );
      m.counter(
        "vlab_iommu_peer_invalidations_total",
        "IOTLB flushes the vhost-pci peer acknowledged",
        l,
        p.invalidations,
      );
      m.counter(
        "vlab_iommu_peer_faults_total",
        "Accesses of the vhost-pci peer its window refused (never performed)",
        l,
        p.faults,
      );
    }
    for (const d of v.iommu?.domains ?? []) {
      // Per endpoint of the vIOMMU (each NIC behind it is in a domain of its own).
      const l = { ...base, vm: vm.name, device: d.device, domain: String(d.domain ?? "none") };
      m.gauge("vlab_iommu_mappings", "Live mappings of the endpoint's domain", l, d.mappings);
      m.counter("vlab_iommu_iotlb_hits_total", "Translations served by the IOTLB", l, d.hits);
      m.counter("vlab_iommu_iotlb_misses_total", "Translations that walked the table", l, d.misses);
      m.counter(
        "vlab_iommu_invalidations_total",
        "IOTLB flushes (invalidation handshakes acknowledged)",
        l,
        d.invalidations,
      );
      m.counter("vlab_iommu_faults_total", "Accesses refused (never performed)", l, d.faults);
      if (d.lastFaultIova !== null) {
        m.gauge(
          "vlab_iommu_last_fault_iova",
          "IOVA of the last refused access",
          { ...l, access: d.lastFaultAccess ?? "read" },
          parseInt(d.lastFaultIova, 16),
        );
      }
    }
    for (const [worker, t] of [["guest", vm.guestThread], ["device", vm.deviceThread]] as const) {
      const l = { ...base, vm: vm.name, worker };
      const loops = lab.threadWord(t, DoorbellWord.HEARTBEAT) >>> 0;
      m.counter("vlab_worker_loops_total", "Passes of the worker loop", l, loops);
      const wakeups = lab.threadWord(t, DoorbellWord.WAKEUPS) >>> 0;
      m.counter("vlab_worker_wakeups_total", "Waits ended by a doorbell", l, wakeups);
      // Of those, the worker's rings of itself (a re-plan, no hop): `vlab bench net` leaves
      // them out of its wake-ups a frame.
      const self = lab.threadWord(t, DoorbellWord.SELF_RINGS) >>> 0;
      m.counter(
        "vlab_worker_self_rings_total",
        "Waits ended by the worker's own ring (of vlab_worker_wakeups_total)",
        l,
        self,
      );
    }
  }
  for (const l of vhostPciSnapshot(lab)) {
    const labels = { ...base, link: l.name, frontend: l.frontend, peer: l.peer };
    m.gauge(
      "vlab_vhost_pci_up",
      "1 while the peer serves the frontend's queues",
      labels,
      l.state === "up" ? 1 : 0,
    );
    m.gauge(
      "vlab_vhost_pci_connection",
      "The connection the peer serves (0: none)",
      labels,
      l.connection,
    );
    for (const [k, help] of VHOST_PCI_METRICS) {
      m.counter(`vlab_vhost_pci_${metricPart(k)}_total`, help, labels, l[k] ?? 0);
    }
  }
  const workers = lab.workerStats();
  const consumed = new Set<string>();
  const count = directionCounter(lab);
  for (const link of plan.links) {
    for (const dir of ["forward", "reverse"] as const) {
      const index = dir === "forward" ? link.forwardRing : link.reverseRing;
      const l = { ...base, link: link.name, direction: dir };
      for (const [k, v] of Object.entries(lab.ring(index).counters())) {
        if (typeof v !== "number") continue;
        m.counter(`vlab_link_${metricPart(k)}_total`, `Link ring: ${k}`, l, v);
      }
      const tap = lab.tapCounters(index);
      m.counter("vlab_capture_frames_total", "Frames copied to the capture tap", l, tap.tapFrames);
      m.counter("vlab_capture_bytes_total", "Bytes copied to the capture tap", l, tap.tapBytes);
      m.counter(
        "vlab_capture_dropped_total",
        "Frames the capture tap dropped because its reader was too slow (the link lost nothing)",
        l,
        tap.tapDropped,
      );
      const c = count(index);
      for (const [cause] of DROP_LABELS) {
        m.counter(
          "vlab_link_drops_total",
          "Frames discarded on the link direction, by cause",
          { ...l, cause: metricPart(cause) },
          c.drops[cause],
        );
      }
      for (const [cause] of WAIT_LABELS) {
        m.counter(
          "vlab_link_waits_total",
          "Times frames waited on the link direction (back-pressure, not drops), by cause",
          { ...l, cause: metricPart(cause) },
          c.waits[cause],
        );
      }
      m.counter(
        "vlab_link_corrupted_total",
        "Frames delivered with a flipped bit (corrupt impairment)",
        l,
        c.corrupted,
      );
      m.gauge(
        "vlab_link_queued_frames",
        "Frames the impairment stage holds now, for their delay or the rate (netem's backlog)",
        l,
        c.queued,
      );
      const producer = plan.rings[index].producer;
      const [kind, owner, prefix] = impairPrefix(producer, link.name);
      const stage = producer.kind === "nic"
        ? { ...l, vm: producer.vm, device: producer.nic }
        : producer.kind === "vsock"
        ? { ...l, vm: producer.vm, device: "vsock0" }
        : { ...l, switch: producer.switch };
      for (const w of workers) {
        if (w.kind !== kind || w.owner !== owner) continue;
        // Its partition and link-down drops are in vlab_link_drops_total{cause} (above): not
        // a second time as a `vlab_worker_stat` gauge.
        for (const stat of Object.values(besideImpairStats(prefix))) {
          consumed.add(`${kind}\0${owner}\0${stat}`);
        }
        for (const [stat, v] of Object.entries(w.stats)) {
          if (!stat.startsWith(prefix)) continue;
          consumed.add(`${kind}\0${owner}\0${stat}`);
          const part = metricPart(stat.slice(prefix.length));
          m.counter(
            `vlab_impair_${part}_total`,
            `Impairment stage: ${part.replace(/_/g, " ")}`,
            stage,
            v,
          );
        }
      }
    }
    const up = lab.linkUp(link.name) ? 1 : 0;
    m.gauge("vlab_link_up", "1 if the link is up", { ...base, link: link.name }, up);
  }
  workerStatMetrics(m, base, workers, consumed);
  return m.text();
}

/** A vsock device's published connections: bytes each way, credit stalls, credit left. */
function connectionMetrics(
  m: MetricFamilies,
  dev: Record<string, string>,
  t: VsockConnTable,
): void {
  m.gauge("vlab_vsock_connections", "Open connections of the vsock device", dev, t.total);
  for (const c of t.rows) {
    const l = {
      ...dev,
      guest_port: String(c.guestPort),
      peer_cid: String(c.peerCid),
      peer_port: String(c.peerPort),
    };
    const bytes = "Payload bytes of one vsock connection (the busiest 16 are listed)";
    m.counter("vlab_vsock_connection_bytes_total", bytes, {
      ...l,
      direction: "from_guest",
    }, c.bytesFromGuest);
    m.counter("vlab_vsock_connection_bytes_total", bytes, {
      ...l,
      direction: "to_guest",
    }, c.bytesToGuest);
    m.counter(
      "vlab_vsock_connection_credit_stalls_total",
      "Guest packets of one connection that used up the peer's credit",
      l,
      c.creditStalls,
    );
    const credit = "Credit left, bytes: side=peer what the guest may send, " +
      "side=guest what the device may queue for the guest";
    m.gauge("vlab_vsock_connection_credit_bytes", credit, { ...l, side: "peer" }, c.peerCredit);
    m.gauge("vlab_vsock_connection_credit_bytes", credit, { ...l, side: "guest" }, c.guestCredit);
  }
}
