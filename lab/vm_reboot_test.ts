import assert from "node:assert/strict";
import { VhostPciCounter, VhostPciState } from "../devices/vhost_pci/config.ts";
import { initRegFile, QueueWord, queueWord, RegFileWord } from "../devices/virtio/mmio.ts";
import { Viommu } from "../devices/iommu/viommu.ts";
import { iommuCapacity } from "./kinds/mod.ts";
import { fakeCrashHost, rebootParts } from "./vm_reboot_testing.ts";
import {
  crashAndReboot,
  dropDeadPeer,
  dropQueuedAccesses,
  dropServedLinks,
  parkPeerIotlbs,
  type RebootParts,
  restoreRegisterCounters,
  revokeFromPeer,
  saveRegisterCounters,
} from "./vm_reboot.ts";
import { deviceControl, MailboxWord } from "./wire/control.ts";
import { EventLog } from "./events.ts";
import { waitForValue, within } from "./testing.ts";
import type { WorkerHandle, WorkerSet } from "./workers.ts";
import type { ToWorker } from "./wire/messages.ts";
import { DoorbellWord, readDoorbellWord } from "./wire/doorbell.ts";

const parts = () => rebootParts("vhost-pci");

const aRegs = (p: RebootParts) =>
  deviceControl(
    p.controls[0],
    p.plan.vms[0].control.devices[p.plan.vhostPciLinks![0].frontend.device],
  )
    .regs;

Deno.test("a dead b leaves a's peer word cleared, b's link counted down, a's device worker rung", () => {
  const p = parts();
  const link = p.plan.vhostPciLinks![0];
  const regs = aRegs(p);
  regs[RegFileWord.VHOST_CONN] = 3;
  regs[RegFileWord.VHOST_PEER] = 3;
  const b = deviceControl(p.controls[1], p.plan.vms[1].control.devices[link.peer.slot])
    .deviceCounters;
  b[VhostPciCounter.state] = VhostPciState.UP;
  b[VhostPciCounter.connection] = 3;
  assert.equal(dropDeadPeer(p, link), 3);
  assert.equal(regs[RegFileWord.VHOST_PEER], 0);
  assert.equal(regs[RegFileWord.VHOST_CONN], 3, "a's handover stands: the next b resumes it");
  assert.equal(b[VhostPciCounter.state], VhostPciState.DOWN);
  assert.equal(b[VhostPciCounter.connection], 0);
  assert.equal(b[VhostPciCounter.disconnects], 1);
  const bell = readDoorbellWord(p.bells, p.plan.vms[0].deviceThread, DoorbellWord.BELL);
  assert.ok(bell > 0, "a's device worker rung");
  // Counted as b's own stop is: a's worker sees its link go down even if the next b (a quick
  // reboot) serves before that worker's next pass.
  assert.equal(regs[RegFileWord.VHOST_PEER_DOWNS], 1, "the stop is counted for a's worker");
});

Deno.test("a rebooting a takes its queues back from b: waits for b's acknowledgement, bounded", async () => {
  const p = parts();
  const link = p.plan.vhostPciLinks![0];
  const regs = aRegs(p);
  regs[RegFileWord.VHOST_CONN] = 5;
  regs[RegFileWord.VHOST_PEER] = 5;
  regs[queueWord(1, QueueWord.NOTIFY_THREAD)] = 9;
  // b acknowledges a few ms later.
  setTimeout(() => Atomics.store(regs, RegFileWord.VHOST_PEER, 0), 5);
  assert.equal(await revokeFromPeer(p, link, 1000), true);
  assert.equal(regs[RegFileWord.VHOST_CONN], 0);
  assert.equal(regs[queueWord(1, QueueWord.NOTIFY_THREAD)], 0, "kicks no longer aimed at b");
  // A b that never answers: false after the bound.
  regs[RegFileWord.VHOST_CONN] = 6;
  regs[RegFileWord.VHOST_PEER] = 6;
  const t0 = performance.now();
  assert.equal(await revokeFromPeer(p, link, 30), false);
  assert.ok(performance.now() - t0 < 1000);
  // Nothing handed over: nothing to wait for.
  assert.equal(await revokeFromPeer(p, link, 30), true);
});

Deno.test("kick counts and the connection numbering outlive a power-on register file", () => {
  const p = parts();
  const regs = aRegs(p);
  regs[queueWord(0, QueueWord.NOTIFY_COUNT)] = 40;
  regs[queueWord(1, QueueWord.NOTIFY_COUNT)] = 7;
  regs[RegFileWord.VHOST_SEQ] = 4;
  const saved = saveRegisterCounters(p, "a");
  initRegFile(regs, 2); // the successor's power-on state
  regs[queueWord(1, QueueWord.NOTIFY_COUNT)] = 1;
  restoreRegisterCounters(p, "a", saved);
  assert.equal(regs[queueWord(0, QueueWord.NOTIFY_COUNT)], 40);
  assert.equal(regs[queueWord(1, QueueWord.NOTIFY_COUNT)], 8);
  assert.equal(regs[RegFileWord.VHOST_SEQ], 4);
});

Deno.test("the dead guest's queued register accesses are dropped, not replayed", () => {
  const p = parts();
  const m = deviceControl(p.controls[0], p.plan.vms[0].control.devices[0]).mailbox;
  m[MailboxWord.REQ] = 12;
  m[MailboxWord.ACK] = 9;
  assert.equal(dropQueuedAccesses(p, "a"), 3);
  assert.equal(m[MailboxWord.ACK], 12);
  assert.equal(dropQueuedAccesses(p, "a"), 0);
});

Deno.test("a dead b's IOTLB in a's vIOMMU is parked (a's UNMAPs stop waiting), a's device worker rung", () => {
  const p = parts();
  const link = p.plan.vhostPciLinks![0];
  assert.equal(link.iommu, true, "the shipped vhost-pci topology puts a's NIC behind a's vIOMMU");
  const aVm = p.plan.vms[0];
  const spec = aVm.devices.find((d) => d.kind === "iommu");
  assert.ok(spec?.kind === "iommu");
  const v = Viommu.create(iommuCapacity(spec));
  for (
    const n of [
      ...spec.endpoints.map((e) => e.name),
      ...(spec.peers ?? []).map((x) => x.name),
    ]
  ) {
    v.registerConsumer(n);
  }
  const bSpec = p.plan.vms[1].devices[link.peer.slot];
  assert.ok(bSpec.kind === "vhost-pci" && bSpec.frontend.iommu !== null);
  const slot = bSpec.frontend.iommu.consumer;
  const gen = v.invalidate();
  assert.ok(v.unacked(gen).includes(slot));
  const buffers = (i: number) => (i === 0 ? v.buffer : null);
  assert.equal(parkPeerIotlbs(p, "a", buffers), 0, "a serves nothing");
  assert.equal(parkPeerIotlbs(p, "b", buffers), 1);
  assert.ok(!v.unacked(gen).includes(slot), "a no longer waits for b");
  assert.ok(v.unacked(gen).length > 0, "a's own NIC's IOTLB is still waited for");
  const bell = readDoorbellWord(p.bells, aVm.deviceThread, DoorbellWord.BELL);
  assert.ok(bell > 0, "a's device worker rung to look again");
});

Deno.test("dropServedLinks: a crash says link-down of every link b served; a failed guest only of one it was serving", () => {
  const p = parts();
  const regs = aRegs(p);
  const none = () => null;
  // b serves connection 3 and crashes: its link is dropped, said once.
  regs[RegFileWord.VHOST_PEER] = 3;
  const crash = new EventLog(null);
  dropServedLinks(p, "b", crash, "vm-crash", none);
  assert.deepEqual(crash.recent().map((e) => [e.kind, e.subject, e.detail?.reason]), [
    ["link-down", "b", "vm-crash"],
  ]);
  // Its new guest fails before it served (the crash dropped the link already): nothing again.
  const failed = new EventLog(null);
  dropServedLinks(p, "b", failed, "guest-failed", none);
  assert.deepEqual(failed.recent(), []);
  // A guest that fails while it serves takes the link down, said with its reason.
  regs[RegFileWord.VHOST_PEER] = 4;
  dropServedLinks(p, "b", failed, "guest-failed", none);
  assert.deepEqual(failed.recent().map((e) => [e.kind, e.subject, e.detail?.connection]), [
    ["link-down", "b", 4],
  ]);
  assert.equal(regs[RegFileWord.VHOST_PEER], 0);
});

Deno.test("a rebooted b gets its vhost-pci link's down state and the partitions as soon as it is spawned, before it is up", async () => {
  const p = parts();
  const link = p.plan.vhostPciLinks![0];
  const order: string[] = [];
  const guest = { owner: "b", kind: "guest" } as WorkerHandle;
  const workers = {
    take: () => undefined,
    find: (owner: string, kind: string) => owner === "b" && kind === "guest" ? guest : undefined,
    postControl: (_w: WorkerHandle, m: ToWorker) => order.push(`post ${m.type}`),
    answerPending: () => {},
  } as unknown as WorkerSet;
  let up!: () => void;
  const host = fakeCrashHost(p, {
    workers,
    bootGuest: () => {
      order.push("spawned");
      return new Promise<void>((resolve) => up = () => (order.push("up"), resolve()));
    },
    linkUp: (name) => name !== link.name,
    cuts: () => [["02:00:00:00:00:01", "02:00:00:00:00:02"]],
  });
  const done = crashAndReboot("b", host);
  await waitForValue("the new guest's spawn", () => order.includes("spawned") || null, 5000);
  await new Promise((resolve) => setTimeout(resolve, 0));
  up();
  await within(5000, "the reboot's end", done);
  // Numbered, they wait in the new guest and are read before its first pass takes a frame; posted
  // once it was up, its first passes served a's queues with the link up and no cut.
  assert.deepEqual(order, ["spawned", "post link", "post partitions", "up"]);
});
