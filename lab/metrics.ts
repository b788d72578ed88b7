/**
 * Reading a running lab: the status snapshot (`vlab status`, `GET /lab`) and every counter in
 * Prometheus text format (`GET /metrics`). Both read shared memory directly: the device and
 * driver counters of each NIC in its VM's control block, the link rings' own counters, the
 * doorbell words of every thread, and the statistics regions the workers publish.
 *
 * @module
 */

import { NetCounter, NetDriverCounter, readCounters } from "../devices/net/metrics.ts";
import type { Lab, VmState } from "./lab.ts";
import { describeImpair } from "./plan.ts";
import { controlLayout, nicControl } from "./wire/control.ts";
import { DoorbellWord } from "./wire/doorbell.ts";
import { snake } from "./wire/stats.ts";

/** One NIC in a status snapshot. */
export interface NicStatus {
  /** NIC name. */
  name: string;
  /** MAC address. */
  mac: string;
  /** "10.0.0.1/24", or null. */
  ip: string | null;
  /** Ring layout. */
  layout: string;
  /** Queue size. */
  queueSize: number;
  /** The link, or null. */
  link: string | null;
  /** Device counters. */
  device: Record<keyof typeof NetCounter, number>;
  /** Driver counters. */
  driver: Record<keyof typeof NetDriverCounter, number>;
}

/** A status snapshot of a running lab. */
export interface LabStatus {
  /** Lab name. */
  name: string;
  /** Topology source. */
  source: string;
  /** Seed. */
  seed: number;
  /** Start time, ISO 8601. */
  startedAt: string;
  /** Seconds since start. */
  uptimeSeconds: number;
  /** The main process. */
  pid: number;
  /** VMs. */
  vms: { name: string; state: VmState; nics: NicStatus[] }[];
  /** Switches. */
  switches: { name: string; ports: string[] }[];
  /** Links. */
  links: {
    name: string;
    endpoints: [string, string];
    up: boolean;
    forward: { impair: string; frames: number; bytes: number; dropped: number };
    reverse: { impair: string; frames: number; bytes: number; dropped: number };
  }[];
}

/**
 * Take a status snapshot.
 *
 * @example
 * ```ts ignore
 * import { labStatus } from "./metrics.ts";
 * console.log(labStatus(lab).vms.map((v) => `${v.name} ${v.state}`));
 * ```
 */
export function labStatus(lab: Lab): LabStatus {
  const plan = lab.plan;
  const ringInfo = (i: number) => {
    const c = lab.ring(i).counters();
    return {
      impair: describeImpair(plan.rings[i].impair),
      frames: c.framesOut,
      bytes: c.bytesOut,
      dropped: c.framesDropped,
    };
  };
  return {
    name: plan.name,
    source: plan.source,
    seed: plan.seed,
    startedAt: new Date(lab.startedAt).toISOString(),
    uptimeSeconds: Math.round((Date.now() - lab.startedAt) / 100) / 10,
    pid: Deno.pid,
    vms: plan.vms.map((vm) => {
      const layout = controlLayout(vm.nics);
      return {
        name: vm.name,
        state: lab.vmState(vm.name),
        nics: vm.nics.map((nic) => {
          const ctl = nicControl(lab.controlOf(vm.index), layout, nic.index);
          return {
            name: nic.name,
            mac: nic.mac,
            ip: nic.ip === null ? null : `${nic.ip}/${nic.prefix}`,
            layout: nic.layout,
            queueSize: nic.queueSize,
            link: nic.link,
            device: readCounters(ctl.deviceCounters, NetCounter),
            driver: readCounters(ctl.driverCounters, NetDriverCounter),
          };
        }),
      };
    }),
    switches: plan.switches.map((s) => ({ name: s.name, ports: s.ports.map((p) => p.link) })),
    links: plan.links.map((l) => ({
      name: l.name,
      endpoints: l.endpoints,
      up: lab.linkUp(l.name),
      forward: ringInfo(l.forwardRing),
      reverse: ringInfo(l.reverseRing),
    })),
  };
}

const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labels = (l: Record<string, string>) =>
  "{" + Object.entries(l).map(([k, v]) => `${k}="${esc(v)}"`).join(",") + "}";

/**
 * Every counter of the lab in the Prometheus text exposition format (version 0.0.4).
 *
 * @example
 * ```ts ignore
 * import { prometheusMetrics } from "./metrics.ts";
 * const text = prometheusMetrics(lab); // "# TYPE vlab_net_device_tx_frames counter\n…"
 * ```
 */
export function prometheusMetrics(lab: Lab): string {
  const families = new Map<string, { type: string; help: string; samples: string[] }>();
  const add = (
    name: string,
    type: "counter" | "gauge",
    help: string,
    l: Record<string, string>,
    value: number,
  ) => {
    let f = families.get(name);
    if (!f) families.set(name, f = { type, help, samples: [] });
    f.samples.push(`${name}${labels(l)} ${Number.isFinite(value) ? value : 0}`);
  };
  const plan = lab.plan;
  const base = { lab: plan.name };
  add("vlab_up", "gauge", "1 while the lab runs", base, 1);
  add(
    "vlab_uptime_seconds",
    "gauge",
    "Seconds since the lab started",
    base,
    (Date.now() - lab.startedAt) / 1000,
  );
  for (const vm of plan.vms) {
    const state = lab.vmState(vm.name);
    add("vlab_vm_running", "gauge", "1 if both workers of the VM run", {
      ...base,
      vm: vm.name,
    }, state === "running" ? 1 : 0);
    const layout = controlLayout(vm.nics);
    for (const nic of vm.nics) {
      const ctl = nicControl(lab.controlOf(vm.index), layout, nic.index);
      const l = { ...base, vm: vm.name, nic: nic.name, layout: nic.layout };
      for (const [k, i] of Object.entries(NetCounter)) {
        add(
          `vlab_net_device_${snake(k)}_total`,
          "counter",
          `virtio-net device: ${k}`,
          l,
          ctl.deviceCounters[i],
        );
      }
      for (const [k, i] of Object.entries(NetDriverCounter)) {
        add(
          `vlab_net_driver_${snake(k)}_total`,
          "counter",
          `virtio-net guest driver: ${k}`,
          l,
          ctl.driverCounters[i],
        );
      }
    }
    for (const t of [vm.guestThread, vm.deviceThread]) {
      const kind = t === vm.guestThread ? "guest" : "device";
      const l = { ...base, vm: vm.name, worker: kind };
      add(
        "vlab_worker_loops_total",
        "counter",
        "Passes of the worker loop",
        l,
        lab.threadWord(t, DoorbellWord.HEARTBEAT) >>> 0,
      );
      add(
        "vlab_worker_wakeups_total",
        "counter",
        "Waits ended by a doorbell",
        l,
        lab.threadWord(t, DoorbellWord.WAKEUPS) >>> 0,
      );
    }
  }
  for (const link of plan.links) {
    for (const dir of ["forward", "reverse"] as const) {
      const ring = lab.ring(dir === "forward" ? link.forwardRing : link.reverseRing);
      const c = ring.counters();
      const l = { ...base, link: link.name, direction: dir };
      for (const [k, v] of Object.entries(c)) {
        if (typeof v !== "number") continue;
        add(`vlab_link_${snake(k)}_total`, "counter", `link ring: ${k}`, l, v);
      }
    }
    add(
      "vlab_link_up",
      "gauge",
      "1 if the link is up",
      { ...base, link: link.name },
      {
        true: 1,
        false: 0,
      }[String(lab.linkUp(link.name)) as "true" | "false"],
    );
  }
  for (const w of lab.workerStats()) {
    for (const [k, v] of Object.entries(w.stats)) {
      const name = `vlab_${w.kind}_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`;
      add(name, "gauge", `${w.kind} worker statistic ${k}`, { ...base, owner: w.owner }, v);
    }
  }
  const out: string[] = [];
  for (const [name, f] of families) {
    out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.samples);
  }
  return out.join("\n") + "\n";
}
