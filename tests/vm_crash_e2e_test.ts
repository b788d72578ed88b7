/**
 * `vm-crash` end to end (`lab.fault`, `lab/vm_reboot.ts`): a whole VM crashes (its guest worker
 * terminated, its devices reset) and reboots, and the rest of the lab copes. On the pair
 * topology: ping works after the reboot (ARP learned anew), a flood across the crash ends and the
 * lab stays healthy, counters do not go down. On vhost-pci links: a crash of the serving VM `b`
 * takes `a`'s link down at once and `b`'s new guest serves `a`'s queues again from their state
 * records, `a`'s rings never broken; a crash of the frontend `a` ends the connection (`b` sees
 * its link go down) and `b` serves the new one. Refused: a VM already restarting. (A VM behind a
 * vIOMMU: vm_crash_iommu_e2e_test.ts.)
 */

import assert from "node:assert/strict";
import { peerServing } from "../devices/vhost_pci/mod.ts";
import { QueueWord, queueWord } from "../devices/virtio/mmio.ts";
import type { Lab } from "../lab/lab.ts";
import {
  LAB_TEST,
  startLabWithFailingGuest,
  startTestLab,
  vmRestarted,
  waitForValue,
} from "../lab/testing.ts";
import { deviceControl } from "../lab/wire/control.ts";
import type { PingResult } from "../lab/guest/workloads/ping.ts";
import { prometheusMetrics } from "../lab/prometheus.ts";
import { takeSnapshot } from "../lab/snapshot.ts";
import { labStatus } from "../lab/metrics.ts";
import { formatStatus } from "../cli/status.ts";
import { aRegs, waitServing } from "./vhost_pci_pair.ts";

const PAIR = {
  name: "crash-pair",
  seed: 1,
  vms: {
    a: { nics: { eth0: { ip: "10.0.0.1/24" } } },
    b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
  },
  links: [{ endpoints: ["a:eth0", "b:eth0"] }],
};

/** The shipped vhost-pci topology, with or without a's vIOMMU. */
function vhostPci(iommu: boolean): Record<string, unknown> {
  return {
    name: "crash-vhost-pci",
    seed: 1,
    vms: {
      a: {
        ...(iommu ? { iommu: { mode: "static" } } : {}),
        nics: { eth0: { ip: "10.0.0.1/24", ...(iommu ? { iommu: true } : {}) } },
      },
      b: { nics: { eth0: { ip: "10.0.0.2/24" } } },
    },
    links: [{ kind: "vhost-pci", endpoints: ["a:eth0", "b:eth0"] }],
  };
}

async function ping(lab: Lab, from: string, to: string, n = 3): Promise<number> {
  const r = await lab.exec(from, ["ping", to, "-c", String(n), "-i", "0.05"]);
  assert.ok(r.ok, r.ok ? "" : r.message);
  return (r.result as PingResult).received;
}

/** Wait for the `link-down` event about `vm` logged since `from` (its guest heard its link go). */
function linkDownOf(lab: Lab, vm: string, from: number) {
  return linkEventOf(lab, vm, "link-down", from);
}

/** Wait for the `kind` event (`link-up`, `link-down`) about `vm` logged since `from`. */
function linkEventOf(lab: Lab, vm: string, kind: "link-up" | "link-down", from: number) {
  return waitForValue(
    `${vm}'s ${kind}`,
    () => eventsOf(lab).slice(from).find((e) => e.kind === kind && e.subject === vm) ?? null,
  );
}

/** Events since `from` (an index into the log's recent events). */
function eventsOf(lab: Lab) {
  return lab.events.recent();
}

/** The `vm-restarted` event of `vm` after the log's `from`th event. */

/** Errors `vm`'s devices reported (none may come from a VM that did not crash). */
function deviceErrors(lab: Lab, vm: string) {
  return eventsOf(lab).filter((e) =>
    e.subject === vm &&
    ["device-error", "device-needs-reset", "vm-restart-failed", "guest-failed", "device-failed"]
      .includes(e.kind)
  );
}

/** Every Prometheus counter (`…_total`) of the lab, by its series. */
function counters(lab: Lab): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of prometheusMetrics(lab).split("\n")) {
    const m = /^(\w+_total(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

function kicks(lab: Lab, vm: number): number {
  const v = lab.plan.vms[vm];
  const regs = deviceControl(lab.controlOf(vm), v.control.devices[0]).regs;
  return (regs[queueWord(0, QueueWord.NOTIFY_COUNT)] >>> 0) +
    (regs[queueWord(1, QueueWord.NOTIFY_COUNT)] >>> 0);
}

Deno.test({
  name: "vm-crash on a pair: the guest goes at once, reboots, and ping works again",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      assert.equal(await ping(lab, "b", "10.0.0.1", 10), 10);
      const kicksBefore = kicks(lab, 1);
      const before = counters(lab);
      const from = eventsOf(lab).length;
      // A workload running in b when it crashes is answered at once, with a failure.
      const sink = lab.exec("b", ["sink", "-t", "30"]);
      await lab.inspect("b");
      // A 500 ms boot: what is checked while b reboots is surely checked then (a bare reboot takes
      // 70-240 ms, the main thread's turns included).
      const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 500 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      const lost = await sink;
      assert.ok(!lost.ok);
      assert.match(lost.message, /VM "b" crashed before it answered/);
      assert.equal(lab.vmState("b"), "restarting");
      // Status and metrics keep working while b is gone, and show it.
      assert.equal(takeSnapshot(lab).vms.find((v) => v.name === "b")?.state, "restarting");
      assert.ok(counters(lab).size > 20);
      const refused = await lab.exec("b", ["ping", "10.0.0.1", "-c", "1"]);
      assert.ok(!refused.ok);
      assert.match(refused.message, /VM "b" crashed and is rebooting \(its guest is not running\)/);
      const again = await lab.fault({ kind: "vm-crash", vm: "b" });
      assert.ok(!again.ok);
      assert.equal(again.code, "vm-not-running");
      const up = await vmRestarted(lab, "b", from);
      assert.equal(typeof up.detail?.downMs, "number");
      // Before b's new guest did much: the kicks b's old guest made are still counted.
      const kicksAfter = kicks(lab, 1);
      assert.ok(kicksAfter >= kicksBefore, `kicks ${kicksAfter} after ${kicksBefore}: not down`);
      // No counter users see goes down across the reboot (Prometheus counters stay monotonic).
      const after = counters(lab);
      assert.ok(before.size > 20, `${before.size} counters`);
      const down = [...before].filter(([k, v]) => (after.get(k) ?? 0) < v);
      assert.deepEqual(down, [], "counters that went down");
      const kinds = eventsOf(lab).slice(from).map((e) => e.kind);
      assert.ok(kinds.indexOf("vm-crash") < kinds.indexOf("vm-restarted"), kinds.join(" "));
      assert.equal(lab.vmState("b"), "running");
      // b's ARP cache is new: it learns a again; a's entry for b still holds (same MAC).
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      assert.equal(await ping(lab, "b", "10.0.0.1"), 3);
      assert.deepEqual(deviceErrors(lab, "a"), []);
      assert.deepEqual(deviceErrors(lab, "b"), []);
      const stats = lab.workerStats().find((w) => w.kind === "guest" && w.owner === "b");
      assert.ok(stats !== undefined && Object.keys(stats.stats).length > 0);
      // The reboot is told where recovery is: status, the snapshot and /metrics.
      assert.equal(takeSnapshot(lab).vms.find((v) => v.name === "b")?.recovery?.reboots, 1);
      assert.match(formatStatus(labStatus(lab)), /^ {2}b {2}rebooted 1 time$/m);
      assert.match(prometheusMetrics(lab), /vlab_vm_reboots_total\{[^}]*vm="b"\} 1\n/);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vm-crash with a boot time: the VM stays restarting that long, its peer's link down",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      const from = eventsOf(lab).length;
      const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 1200 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      assert.deepEqual(r.detail, { fault: "vm-crash", vm: "b", ms: 1200 });
      const crash = eventsOf(lab).slice(from).find((e) => e.kind === "vm-crash");
      assert.equal(crash?.detail?.ms, 1200);
      // Past a default reboot (70-240 ms), b still boots: a's pings find no carrier.
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(lab.vmState("b"), "restarting");
      const lost = await lab.exec("a", ["ping", "10.0.0.2", "-c", "2", "-i", "0.05", "-W", "0.1"]);
      assert.ok(lost.ok, lost.ok ? "" : lost.message);
      assert.equal((lost.result as PingResult).received, 0);
      const up = await vmRestarted(lab, "b", from);
      assert.ok((up.detail?.downMs as number) >= 1200, JSON.stringify(up.detail));
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "vm-crash during a flood: the flood ends, only frames in flight are lost, the lab stays healthy",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      const from = eventsOf(lab).length;
      const flood = lab.exec("a", ["udp-flood", "10.0.0.2", "-r", "20000", "-t", "1"]);
      await new Promise((r) => setTimeout(r, 200));
      const r = await lab.fault({ kind: "vm-crash", vm: "b" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      const f = await flood;
      assert.ok(f.ok, f.ok ? "" : f.message);
      await vmRestarted(lab, "b", from);
      assert.deepEqual(deviceErrors(lab, "a"), []);
      assert.equal(lab.vmState("a"), "running");
      // Healthy after: a flood into a sink on the rebooted b loses nothing. On a port of its own:
      // the first flood's last frames may still be on their way to b when the sink starts (a
      // loaded run's sink counted 240 of them, and the gap before them as lost).
      const sink = await lab.spawn("b", ["sink", "-p", "9001", "-n", "2000", "-t", "20"]);
      const again = await lab.exec("a", [
        "udp-flood",
        "10.0.0.2",
        "-p",
        "9001",
        "--max",
        "-n",
        "2000",
      ]);
      assert.ok(again.ok, again.ok ? "" : again.message);
      const got = await sink.result;
      assert.ok(got.ok, got.ok ? "" : got.message);
      const s = got.result as Record<string, number>;
      assert.deepEqual({ received: s.received, lost: s.lost }, { received: 2000, lost: 0 });
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "vm-crash: b's links lose their carrier until it runs again; what a sends meanwhile is dropped at once as link down",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      const from = eventsOf(lab).length;
      const flood = lab.exec("a", ["udp-flood", "10.0.0.2", "--max", "-t", "1.5"]);
      await new Promise((r) => setTimeout(r, 300));
      // b boots for 1 s: a's guest reads its NIC's status once per configuration interrupt, and
      // a flap shorter than that read is one it never sees (as Linux's virtio-net); a default
      // reboot (70-240 ms) was shorter than a loaded machine's read, and a never heard it.
      const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 1000 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // At once: the link has no carrier, and says why.
      assert.equal(lab.linkUp("a-b"), false);
      const down = eventsOf(lab).slice(from).find((e) =>
        e.kind === "link-down" && e.subject === "a-b"
      );
      assert.deepEqual(down?.detail, { reason: "vm-crash", vm: "b" });
      // a's guest hears it from its NIC's link status (a configuration interrupt).
      await linkDownOf(lab, "a", from);
      await vmRestarted(lab, "b", from);
      assert.equal(lab.linkUp("a-b"), true);
      const up = eventsOf(lab).slice(from).find((e) => e.kind === "link-up" && e.subject === "a-b");
      assert.deepEqual(up?.detail, { reason: "vm-restarted", vm: "b" });
      const f = await flood;
      assert.ok(f.ok, f.ok ? "" : f.message);
      // a's device dropped what a sent while b was down, as it sent it, and counted it. Read once
      // counted: a drop of what the impairment stage held is published with the device worker's
      // statistics (every 100 ms while busy, once a second idle), late on a loaded machine.
      const forward = () => takeSnapshot(lab).links.find((l) => l.name === "a-b")!.forward;
      const fwd = await waitForValue(
        "a's link-down drops counted",
        () => forward().drops.linkDown > 0 ? forward() : null,
        5000,
      ).catch(() => forward());
      assert.ok(fwd.drops.linkDown > 0, JSON.stringify(fwd.drops));
      assert.deepEqual(deviceErrors(lab, "a"), []);
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vm-crash of both ends at once: the link has carrier again only when both run",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      const from = eventsOf(lab).length;
      // Both in the same task: each crash starts before either reboot can end.
      const crashes = [
        lab.fault({ kind: "vm-crash", vm: "a" }),
        lab.fault({ kind: "vm-crash", vm: "b" }),
      ];
      for (const r of await Promise.all(crashes)) assert.ok(r.ok, r.ok ? "" : r.message);
      assert.equal(lab.linkUp("a-b"), false);
      await vmRestarted(lab, "a", from);
      await vmRestarted(lab, "b", from);
      assert.equal(lab.linkUp("a-b"), true);
      const seen = eventsOf(lab).slice(from).filter((e) =>
        e.subject === "a-b" || e.kind === "vm-restarted"
      ).map((e) => e.subject === "a-b" ? `${e.kind} ${e.detail?.vm}` : `${e.kind} ${e.subject}`);
      // One carrier loss, one return: just before the second VM's vm-restarted, not the first's.
      assert.equal(seen.length, 4, seen.join(", "));
      assert.equal(seen[0], "link-down a");
      const last = seen[3].split(" ")[1];
      assert.deepEqual(seen.slice(1), [
        `vm-restarted ${last === "a" ? "b" : "a"}`,
        `link-up ${last}`,
        `vm-restarted ${last}`,
      ]);
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "vm-crash: a link the user set down stays down across the reboot, with no carrier event",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      assert.equal(lab.setLink("a-b", false), true);
      const from = eventsOf(lab).length;
      const r = await lab.fault({ kind: "vm-crash", vm: "b" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      await vmRestarted(lab, "b", from);
      assert.equal(lab.linkUp("a-b"), false);
      const linkEvents = eventsOf(lab).slice(from).filter((e) => e.subject === "a-b");
      assert.deepEqual(linkEvents, []);
      // Set up again, it carries traffic.
      assert.equal(lab.setLink("a-b", true), true);
      await waitForValue("a ping over the link set up again", async () => {
        const p = await lab.exec("a", ["ping", "10.0.0.2", "-c", "1", "-W", "0.5"]);
        return p.ok && (p.result as PingResult).received === 1 ? true : null;
      });
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "vm-crash of b on a vhost-pci link: a's link goes down at once, b's new guest serves a's queues again",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(vhostPci(true));
    try {
      const conn = await waitServing(lab, "b serving a");
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      const from = eventsOf(lab).length;
      // b boots for 500 ms: a's guest hears the link-down only if it reads its NIC's status
      // before b's new guest serves again (a shorter flap is one it never sees, as on the pair
      // above), and a default reboot (from 70 ms) is near a loaded machine's read.
      const r = await lab.fault({ kind: "vm-crash", vm: "b", ms: 500 });
      assert.ok(r.ok, r.ok ? "" : r.message);
      // At once, before any reboot: a's peer word is cleared, and the link-down is logged.
      assert.equal(peerServing(aRegs(lab)), false);
      const down = eventsOf(lab).slice(from).find((e) => e.kind === "link-down");
      assert.equal(down?.subject, "b");
      assert.equal(down?.detail?.reason, "vm-crash");
      assert.equal(down?.detail?.vhostPci, "a-b");
      // a's guest heard it from its NIC's link status (a configuration interrupt).
      await linkDownOf(lab, "a", from);
      await vmRestarted(lab, "b", from);
      const again = await waitServing(lab, "b's new guest serving a");
      // The same connection (a never reset its NIC), resumed from a's state records.
      assert.equal(again, conn);
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      assert.equal(await ping(lab, "b", "10.0.0.1"), 3);
      assert.deepEqual(deviceErrors(lab, "a"), []);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "vm-crash of a on a vhost-pci link: b sees its link go down, then serves a's new connection",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(vhostPci(false));
    try {
      const conn = await waitServing(lab, "b serving a");
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      const from = eventsOf(lab).length;
      const r = await lab.fault({ kind: "vm-crash", vm: "a" });
      assert.ok(r.ok, r.ok ? "" : r.message);
      await vmRestarted(lab, "a", from);
      const down = eventsOf(lab).slice(from).find((e) =>
        e.kind === "link-down" && e.subject === "b"
      );
      assert.ok(down !== undefined, "b saw its link go down");
      const next = await waitServing(lab, "b serving a's new connection");
      assert.ok(next > conn, `a new connection: ${next} after ${conn}`);
      assert.equal(await ping(lab, "a", "10.0.0.2"), 3);
      assert.equal(await ping(lab, "b", "10.0.0.1"), 3);
      assert.deepEqual(deviceErrors(lab, "b"), []);
      assert.equal(
        eventsOf(lab).slice(from).filter((e) => e.kind === "vhost-pci-revoke-timeout").length,
        0,
      );
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name: "a guest bug pending on a VM that crashes is refused with the reboot's hint, not a queue's",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      // Asked in the same turn: the guest is terminated before it can answer.
      const bug = lab.fault({
        kind: "guest-bug",
        vm: "b",
        device: "eth0",
        queue: "transmitq",
        bug: "loop",
      });
      const crash = await lab.fault({ kind: "vm-crash", vm: "b" });
      assert.ok(crash.ok, crash.ok ? "" : crash.message);
      const r = await bug;
      assert.ok(!r.ok, "not injected");
      assert.equal(r.code, "guest-bug-refused");
      assert.match(
        r.message,
        /^Cannot inject guest-bug loop on b's eth0 transmitq: VM "b" crashed before it answered/,
      );
      assert.match(r.hint, /reboots by itself/);
      await vmRestarted(lab, "b", 0);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "lost kicks, lost interrupts and a mid-pass crash still armed when a VM crashes are reported cancelled, and spare its new guest",
  ...LAB_TEST,
  fn: async () => {
    const lab = await startTestLab(PAIR);
    try {
      assert.equal(await ping(lab, "b", "10.0.0.1", 1), 1);
      // b idle: its transmitq kicks nobody and its receiveq raises no interrupt meanwhile.
      const at = { vm: "b", device: "eth0" } as const;
      assert.ok((await lab.fault({ kind: "lost-kick", ...at, queue: "transmitq", count: 5 })).ok);
      assert.ok((await lab.fault({ kind: "lost-irq", ...at, queue: "receiveq", count: 4 })).ok);
      const armed = await lab.fault({ kind: "backend-crash", vm: "b", mode: "mid-pass" });
      assert.ok(armed.ok);
      const from = eventsOf(lab).length;
      assert.ok((await lab.fault({ kind: "vm-crash", vm: "b" })).ok);
      await vmRestarted(lab, "b", from);
      const cancelled = eventsOf(lab).slice(from).filter((e) => e.kind === "fault-cancelled")
        .map((e) => ({ subject: e.subject, ...e.detail }));
      const was = { subject: "b", reason: "vm-crash" };
      assert.deepEqual(cancelled, [
        { ...was, fault: "backend-crash", mode: "mid-pass" },
        { ...was, fault: "lost-irq", device: "eth0", queue: "receiveq", count: 4 },
        { ...was, fault: "lost-kick", device: "eth0", queue: "transmitq", count: 5 },
      ]);
      // The new guest's notifications are its own: none is dropped, and a crash is taken.
      assert.equal(await ping(lab, "b", "10.0.0.1", 3), 3);
      const b = lab.plan.vms[1];
      const regs = deviceControl(lab.controlOf(1), b.control.devices[0]).regs;
      for (const q of [0, 1]) {
        assert.equal(regs[queueWord(q, QueueWord.DROP_KICKS)], 0);
        assert.equal(regs[queueWord(q, QueueWord.DROP_INTERRUPTS)], 0);
      }
      assert.ok((await lab.fault({ kind: "backend-crash", vm: "b", mode: "exit" })).ok);
    } finally {
      await lab.stop();
    }
  },
});

Deno.test({
  name:
    "a failed guest worker on b (a vhost-pci link's serving side): a's link goes down, as for a vm-crash",
  ...LAB_TEST,
  fn: async () => {
    // b's guest fails as it receives a workload. a's link stayed up with nobody serving its
    // queues: a's sends went into rings nobody drained, its guest never heard of it.
    const lab = await startLabWithFailingGuest(vhostPci(false), "b", { message: "b broke" });
    try {
      await waitServing(lab, "b serving a");
      // And a's guest saw it: its link is up once it read its NIC's status after the
      // configuration interrupt (register reads through a's device worker). b failing before that
      // read is a link a's guest never saw up: it reads it down, as it was, and logs nothing (a
      // loaded CI machine took longer than b's failure, 10 ms after the exec, and this timed out).
      await linkEventOf(lab, "a", "link-up", 0);
      const from = eventsOf(lab).length;
      await lab.exec("b", ["ping", "10.0.0.1", "-c", "1"]);
      await waitForValue("b failed", () => lab.vmState("b") === "failed" || null);
      assert.equal(peerServing(aRegs(lab)), false);
      const down = eventsOf(lab).slice(from).find((e) =>
        e.kind === "link-down" && e.subject === "b"
      );
      assert.equal(down?.detail?.reason, "guest-failed");
      assert.equal(down?.detail?.vhostPci, "a-b");
      // a's guest hears it from its NIC's link status (a configuration interrupt).
      await linkDownOf(lab, "a", from);
    } finally {
      await lab.stop();
    }
  },
});
