/**
 * A VM crash and reboot (`vlab fault vm-crash VM`), as a hypervisor with a restart policy and the
 * devices' system reset would do it: {@linkcode crashAndReboot} runs the sequence on the main
 * thread (`Lab.fault` calls it), and the helpers below do what each step does to shared memory,
 * in this order (docs/design.md, "VM crash and reboot"):
 *
 * 1. the guest worker is terminated (no goodbye); for each vhost-pci link it served (the VM is
 *    `b`), {@linkcode dropDeadPeer} clears what the dead `b` would have cleared: `a`'s
 *    `VHOST_PEER` goes to 0, so `a`'s device worker takes `a`'s link down at once, `a`'s rings
 *    untouched (their state records stay for the next `b` to resume from);
 * 2. the VM's devices are reset: its device worker is fenced and ended, then, for each vhost-pci
 *    link whose frontend it is (the VM is `a`), {@linkcode revokeFromPeer} takes the queues back
 *    from `b` as `a`'s NIC reset does (`b` stops touching `a`'s memory and acknowledges) before a
 *    successor starts at power-on state;
 *    The dead guest's register accesses still queued in each mailbox are dropped
 *    ({@linkcode dropQueuedAccesses}): a reset loses a CPU's posted writes, and the successor
 *    must not replay half of an old bring-up (a DRIVER_OK over the old rings) on a fresh device;
 * 3. the successor writes every register file anew: {@linkcode saveRegisterCounters} before it
 *    and {@linkcode restoreRegisterCounters} after it keep what users see counted there (kicks)
 *    and the vhost-pci connection numbering, so counters never go down and a new connection
 *    never reuses a number a peer saw.
 *
 * @module
 */

import { QueueWord, queueWord, RegFileWord } from "../devices/virtio/mmio.ts";
import { VhostPciCounter, VhostPciState } from "../devices/vhost_pci/config.ts";
import { publishPeerDown } from "../devices/vhost_pci/frontend.ts";
import type { LabPlan, VhostPciLinkPlan } from "./plan.ts";
import { deviceControl, MailboxWord } from "./wire/control.ts";
import { parkConsumer } from "../devices/iommu/viommu.ts";
import type { EventLog } from "./events.ts";
import {
  DOORBELL_STRIDE,
  DoorbellWord,
  endGeneration,
  guestGeneration,
  guestsInside,
  ringDoorbell,
} from "./wire/doorbell.ts";
import { sectionsOver } from "./wire/fence.ts";
import type { WorkerSet } from "./workers.ts";

/** Longest wait for a vhost-pci peer to give back a rebooting frontend's queues, ms. */
export const REVOKE_WAIT_MS = 500;

/**
 * Longest wait for a crashed guest's last sections to end before its successor starts, ms
 * (`lab/wire/fence.ts`). `terminate()` ends the old guest only at the end of its current task,
 * which runs on (a guest descheduled mid-task resumes whenever its CPU comes back); a section is
 * a loop pass or a send, well under a millisecond, so this is reached only by a guest whose
 * thread stays descheduled that long: its successor starts then anyway, and a `fence-timeout`
 * event says so.
 */
export const OLD_GUEST_WAIT_MS = 1000;

/**
 * Wait (bounded by `timeoutMs`, the main thread free meanwhile) until no section of a guest of an
 * ended generation is under way on guest thread `thread` (`endGeneration` first): from then on
 * the old guest writes nothing, whenever the rest of its task runs. Ends at once when `stopped()`
 * (the lab stops: its `wait` no longer waits). Resolves to whether none was under way.
 *
 * @example
 * ```ts ignore
 * endGeneration(parts.bells, v.guestThread);
 * await oldGuestOut(parts.bells, v.guestThread, (ms) => host.wait(ms), () => host.stopped(), 1000);
 * ```
 */
export function oldGuestOut(
  bells: Int32Array,
  thread: number,
  wait: (ms: number) => Promise<void>,
  stopped: () => boolean,
  timeoutMs: number,
): Promise<boolean> {
  const inside = thread * DOORBELL_STRIDE + DoorbellWord.INSIDE;
  return sectionsOver(bells, inside, { wait, stopped, timeoutMs });
}

/** What the helpers need of the lab: the plan, control blocks and doorbells. */
export interface RebootParts {
  /** The plan. */
  plan: LabPlan;
  /** Each VM's control block, by plan index. */
  controls: readonly SharedArrayBuffer[];
  /** The lab's doorbells. */
  bells: Int32Array;
}

function vmOf(parts: RebootParts, name: string) {
  const v = parts.plan.vms.find((x) => x.name === name);
  if (v === undefined) throw new RangeError(`no VM ${name}`);
  return v;
}

/** `a`'s register file of the NIC a vhost-pci link serves. */
function frontendRegs(parts: RebootParts, link: VhostPciLinkPlan): Int32Array {
  const a = vmOf(parts, link.frontend.vm);
  return deviceControl(parts.controls[a.index], a.control.devices[link.frontend.device]).regs;
}

/**
 * `b` died while serving `link`: clear `a`'s `VHOST_PEER` (as `b`'s acknowledgement would), count
 * the stop in `VHOST_PEER_DOWNS` (as `b` counts its own) and ring `a`'s device worker, which takes
 * `a`'s link down, even if the next `b` serves before it runs; `b`'s counters of the link say DOWN.
 * Returns the connection `b` served (0: none).
 *
 * @example
 * ```ts ignore
 * const conn = dropDeadPeer(parts, plan.vhostPciLinks![0]);
 * ```
 */
export function dropDeadPeer(parts: RebootParts, link: VhostPciLinkPlan): number {
  const regs = frontendRegs(parts, link);
  const served = Atomics.load(regs, RegFileWord.VHOST_PEER);
  // publish the peer's end: pairs with peerServing's Atomics.load of VHOST_PEER in a's worker.
  Atomics.store(regs, RegFileWord.VHOST_PEER, 0);
  Atomics.notify(regs, RegFileWord.VHOST_PEER);
  // Counted, as b's own stop is: a's worker sees the link go down even if the next b serves first.
  publishPeerDown(regs);
  const b = vmOf(parts, link.peer.vm);
  const c = deviceControl(parts.controls[b.index], b.control.devices[link.peer.slot])
    .deviceCounters;
  if (c[VhostPciCounter.state] === VhostPciState.UP) c[VhostPciCounter.disconnects]++;
  c[VhostPciCounter.state] = VhostPciState.DOWN;
  c[VhostPciCounter.connection] = 0;
  const a = vmOf(parts, link.frontend.vm);
  ringDoorbell(parts.bells, a.deviceThread);
  return served > 0 ? served : 0;
}

/**
 * VM `vm`'s guest is gone (`vm-crash`, or its guest worker failed): every vhost-pci link it served
 * is dropped as its own stop would have ({@linkcode dropDeadPeer}: each `a` takes its link down),
 * with a `link-down` event about `vm` (`reason`; of a failed guest, only for a link it was serving:
 * the new guest of a crashed VM may fail before it serves), and its IOTLBs in the frontends' vIOMMUs are
 * parked ({@linkcode parkPeerIotlbs}). Returns the links dropped.
 *
 * @example
 * ```ts ignore
 * dropServedLinks(parts, "b", lab.events, "guest-failed", (i) => lab.iommuOf(i));
 * ```
 */
export function dropServedLinks(
  parts: RebootParts,
  vm: string,
  events: EventLog,
  reason: "vm-crash" | "guest-failed",
  iommuOf: (vmIndex: number) => SharedArrayBuffer | null,
): VhostPciLinkPlan[] {
  parkPeerIotlbs(parts, vm, iommuOf);
  const served = (parts.plan.vhostPciLinks ?? []).filter((l) => l.peer.vm === vm);
  for (const l of served) {
    const connection = dropDeadPeer(parts, l);
    // A guest that fails before it served (the new guest of a VM that crashed, whose crash
    // dropped its links already) takes nothing down again: a second link-down said nothing new.
    if (reason === "guest-failed" && connection === 0) continue;
    events.emit("link-down", vm, {
      nic: l.peer.device,
      vhostPci: l.name,
      frontend: `${l.frontend.vm}:${l.frontend.nic}`,
      reason,
      ...(connection > 0 ? { connection } : {}),
    });
  }
  return served;
}

/**
 * VM `vm` is gone (it crashed, or its guest worker failed): each IOTLB it kept in a frontend's
 * vIOMMU (a vhost-pci link it served through `a`'s vIOMMU) is parked, so that `a`'s UNMAPs stop
 * waiting for a thread that no longer runs (they timed out after 1 s each, with IOERR, for as
 * long as `vm` stayed down), and `a`'s device worker is rung to see it. The next guest of `vm`
 * activates its slot again when it builds its IOTLB. Returns how many slots were parked.
 *
 * @example
 * ```ts ignore
 * parkPeerIotlbs(parts, "b", (i) => lab.iommuOf(i));
 * ```
 */
export function parkPeerIotlbs(
  parts: RebootParts,
  vm: string,
  iommuOf: (vmIndex: number) => SharedArrayBuffer | null,
): number {
  let parked = 0;
  for (const l of parts.plan.vhostPciLinks ?? []) {
    if (l.peer.vm !== vm || !l.iommu) continue;
    const spec = vmOf(parts, vm).devices[l.peer.slot];
    const at = spec?.kind === "vhost-pci" ? spec.frontend.iommu : null;
    const a = vmOf(parts, l.frontend.vm);
    const buffer = iommuOf(a.index);
    if (at === null || buffer === null) continue;
    if (parkConsumer(buffer, at.consumer)) parked++;
    ringDoorbell(parts.bells, a.deviceThread);
  }
  return parked;
}

/**
 * `a` reboots: take its NIC's queues back from `b` as the NIC's reset does (`VHOST_CONN` to 0,
 * kicks no longer aimed at `b`, `b` rung), and wait (bounded, without blocking the main thread)
 * for `b` to acknowledge: from then on `b` touches nothing of `a`'s. Resolves to whether `b`
 * acknowledged (true when nothing was handed over); `a`'s device worker must be fenced first.
 *
 * @example
 * ```ts ignore
 * const acked = await revokeFromPeer(parts, plan.vhostPciLinks![0], 500);
 * ```
 */
export async function revokeFromPeer(
  parts: RebootParts,
  link: VhostPciLinkPlan,
  timeoutMs: number,
): Promise<boolean> {
  const regs = frontendRegs(parts, link);
  const queues = Atomics.load(regs, RegFileWord.QUEUE_COUNT);
  for (let q = 0; q < queues; q++) Atomics.store(regs, queueWord(q, QueueWord.NOTIFY_THREAD), 0);
  const conn = Atomics.load(regs, RegFileWord.VHOST_CONN);
  if (conn === 0) return true;
  // publish the revocation: pairs with the backend's Atomics.load of VHOST_CONN in poll().
  Atomics.store(regs, RegFileWord.VHOST_CONN, 0);
  const b = vmOf(parts, link.peer.vm);
  ringDoorbell(parts.bells, b.guestThread);
  const end = performance.now() + timeoutMs;
  while (Atomics.load(regs, RegFileWord.VHOST_PEER) === conn) {
    if (performance.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

/** What {@linkcode saveRegisterCounters} kept of one VM's register files. */
export interface SavedRegisters {
  /** Per device slot: each queue's kick count, and the last vhost-pci connection number. */
  slots: { kicks: number[]; vhostSeq: number }[];
}

/**
 * Keep what a power-on register file would lose and users see or peers rely on: each queue's
 * kick count (`vlab_queue_kicks_total` must not go down) and `VHOST_SEQ` (a new handover must
 * not reuse a connection number `b` saw, failed or not).
 *
 * @example
 * ```ts ignore
 * const saved = saveRegisterCounters(parts, "a");
 * ```
 */
export function saveRegisterCounters(parts: RebootParts, vm: string): SavedRegisters {
  const v = vmOf(parts, vm);
  return {
    slots: v.control.devices.map((slot) => {
      const regs = deviceControl(parts.controls[v.index], slot).regs;
      const queues = Atomics.load(regs, RegFileWord.QUEUE_COUNT);
      const kicks: number[] = [];
      for (let q = 0; q < queues; q++) {
        kicks.push(Atomics.load(regs, queueWord(q, QueueWord.NOTIFY_COUNT)));
      }
      return { kicks, vhostSeq: Atomics.load(regs, RegFileWord.VHOST_SEQ) };
    }),
  };
}

/**
 * Put back what {@linkcode saveRegisterCounters} kept, into register files a power-on device
 * worker has just written (before the new guest runs: no kick or handover can race it).
 *
 * @example
 * ```ts ignore
 * restoreRegisterCounters(parts, "a", saved);
 * ```
 */
export function restoreRegisterCounters(
  parts: RebootParts,
  vm: string,
  saved: SavedRegisters,
): void {
  const v = vmOf(parts, vm);
  v.control.devices.forEach((slot, i) => {
    const s = saved.slots[i];
    if (s === undefined) return;
    const regs = deviceControl(parts.controls[v.index], slot).regs;
    s.kicks.forEach((k, q) => {
      const w = queueWord(q, QueueWord.NOTIFY_COUNT);
      Atomics.store(regs, w, (Atomics.load(regs, w) + k) | 0);
    });
    Atomics.store(regs, RegFileWord.VHOST_SEQ, s.vhostSeq);
  });
}

/**
 * Drop the register accesses the dead guest queued and no device worker performed: `ACK` moves
 * up to `REQ` in each of the VM's mailboxes, so the successor starts at the new guest's first
 * access. Call it once the old device worker is fenced and the old guest gone. Returns how many
 * were dropped.
 *
 * @example
 * ```ts ignore
 * dropQueuedAccesses(parts, "a"); // 0 unless the guest crashed mid bring-up
 * ```
 */
export function dropQueuedAccesses(parts: RebootParts, vm: string): number {
  const v = vmOf(parts, vm);
  let dropped = 0;
  for (const slot of v.control.devices) {
    const m = deviceControl(parts.controls[v.index], slot).mailbox;
    const req = Atomics.load(m, MailboxWord.REQ);
    dropped += (req - Atomics.load(m, MailboxWord.ACK)) | 0;
    Atomics.store(m, MailboxWord.ACK, req);
  }
  return dropped;
}

/** Lost notifications a `lost-kick` or `lost-irq` fault armed on one queue and never dropped. */
export interface ArmedDrops {
  /** The device's name (`eth0`, `iommu0`). */
  device: string;
  /** The queue's name (`transmitq`, `requestq`). */
  queue: string;
  /** Kicks still to drop. */
  kicks: number;
  /** Used-buffer interrupts still to drop. */
  interrupts: number;
}

/**
 * The lost kicks and interrupts still armed on VM `vm`'s queues (`vlab fault lost-kick … -n N`
 * whose N notifications did not all come). A reboot's power-on register files end them: read them
 * first (once the old device worker is fenced, so that none is consumed meanwhile) to say so.
 *
 * @example
 * ```ts ignore
 * armedDrops(parts, "a"); // [{ device: "eth0", queue: "transmitq", kicks: 2, interrupts: 0 }]
 * ```
 */
export function armedDrops(parts: RebootParts, vm: string): ArmedDrops[] {
  const v = vmOf(parts, vm);
  const out: ArmedDrops[] = [];
  for (const d of v.devices) {
    const regs = deviceControl(parts.controls[v.index], v.control.devices[d.index]).regs;
    d.queues.forEach((q, i) => {
      const kicks = Atomics.load(regs, queueWord(i, QueueWord.DROP_KICKS));
      const interrupts = Atomics.load(regs, queueWord(i, QueueWord.DROP_INTERRUPTS));
      if (kicks > 0 || interrupts > 0) {
        out.push({ device: d.name, queue: q.name, kicks, interrupts });
      }
    });
  }
  return out;
}

/** What {@linkcode crashAndReboot} needs of the lab. */
export interface CrashHost {
  /** The plan, control blocks and doorbells. */
  parts: RebootParts;
  /** The lab's workers: the crashed guest is taken out of them, its successor joins them. */
  workers: WorkerSet;
  /** The lab's event log. */
  events: EventLog;
  /** VMs rebooting: name → when the crash was (performance.now, ms); the VM is `restarting`. */
  rebooting: Map<string, number>;
  /** The vIOMMU tables of the VM at a plan index, or null. */
  iommuOf(vm: number): SharedArrayBuffer | null;
  /** End the VM's device worker, run `between`, start one at power-on state (`supervisor.ts`). */
  powerCycle(vm: string, between: () => Promise<void>): Promise<void>;
  /**
   * How long the guest takes to boot once its devices are back, ms (its firmware and kernel):
   * meanwhile the devices run with no driver, as a real VM's do while it boots.
   */
  bootMs: number;
  /** Resolves after `ms`, or sooner when the lab stops. */
  wait(ms: number): Promise<void>;
  /**
   * Where the reboot is, told as it moves on: `boot` once the devices are back and the guest
   * waits out `bootMs` (only when `bootMs` is more than 0), `guest-start` as the guest boots.
   */
  phase?(phase: "boot" | "guest-start"): void;
  /** Boot the VM's guest again from its start message; resolves once it is up. */
  bootGuest(vm: string): Promise<void>;
  /** Whether the lab is stopping (a reboot then ends where it is, without events). */
  stopped(): boolean;
  /** Longest wait for the old guest's sections under way, ms (default {@linkcode OLD_GUEST_WAIT_MS}). */
  oldGuestWaitMs?: number;
  /** Whether the user set a link up. */
  linkUp(link: string): boolean;
  /** Lose (false) or give back (true) the carrier of the VM's net links. */
  carrier(up: boolean): void;
  /** The partitions in force. */
  cuts(): [string, string][];
}

/**
 * Crash VM `vm` and reboot it. At once: the guest worker is terminated (no goodbye), what was
 * asked of it is answered with a failure, event `vm-crash`, its net links lose their carrier
 * (until it runs again), and each vhost-pci frontend it served sees its link go down. Then its devices are reset (a power-on device worker, after the queues it
 * handed over to a peer are taken back) and the guest boots again; event `vm-restarted` with
 * `downMs` (or `vm-restart-failed`). The VM is in `rebooting` until then. Resolves when the
 * reboot is over.
 *
 * @example
 * ```ts ignore
 * void crashAndReboot("b", host);
 * ```
 */
export function crashAndReboot(vm: string, host: CrashHost): Promise<void> {
  const { parts, workers, events } = host;
  const t0 = performance.now();
  host.rebooting.set(vm, t0);
  const v = vmOf(parts, vm);
  const guest = workers.take(vm, "guest");
  if (guest !== undefined) {
    // Ended at the end of its current task (terminate() interrupts no running JavaScript): no
    // goodbye. Its generation ends first, for good: its loop, its synchronous waits (a strict or
    // lazy NIC's wait for the vIOMMU spun up to 2 s per buffer for a device worker that is gone)
    // and every section that may write guest memory stop (`lab/wire/fence.ts`); the new guest
    // runs as the next generation, once the old one's sections under way are over.
    endGeneration(parts.bells, v.guestThread);
    guest.worker.onmessage = null;
    guest.worker.onerror = (e) => e.preventDefault();
    guest.worker.terminate();
    workers.answerPending(guest, {
      message: `VM "${vm}" crashed before it answered`,
      hint: "It reboots by itself: wait for the vm-restarted event, then ask again",
    });
  }
  Atomics.store(parts.bells, v.guestThread * DOORBELL_STRIDE + DoorbellWord.SLEEPING, 0);
  Atomics.store(parts.bells, v.guestThread * DOORBELL_STRIDE + DoorbellWord.STATE, 0);
  const links = parts.plan.vhostPciLinks ?? [];
  const served = links.filter((l) => l.peer.vm === vm);
  const handedOver = links.filter((l) => l.frontend.vm === vm);
  events.emit("vm-crash", vm, {
    // The boot time named as the user gave it (--ms, "ms"), as the fault event does.
    ...(host.bootMs > 0 ? { ms: host.bootMs } : {}),
    ...(served.length > 0 ? { served: served.map((l) => l.name) } : {}),
  });
  // Its net links lose their carrier: the far ends drop what they send until it runs again.
  host.carrier(false);
  // The dead b serves no more: each a sees its link go down now, its rings as they were, and
  // a's UNMAPs stop waiting for b's IOTLB (b's next guest builds a new one).
  dropServedLinks(parts, vm, events, "vm-crash", host.iommuOf);
  let saved: SavedRegisters | undefined;
  /** Register accesses the dead guest had queued that no device performed. */
  let dropped = 0;
  const reboot = async () => {
    await host.powerCycle(vm, async () => {
      // A system reset resets a's NIC, and its reset takes the queues back from b first.
      for (const l of handedOver) {
        const acked = await revokeFromPeer(parts, l, REVOKE_WAIT_MS);
        if (!acked) {
          events.emit("vhost-pci-revoke-timeout", vm, {
            vhostPci: l.name,
            peer: l.peer.vm,
            waitedMs: REVOKE_WAIT_MS,
          });
        }
      }
      dropped = dropQueuedAccesses(parts, vm);
      // Lost notifications asked for and not yet come were the old driver's and device's: the
      // power-on register files end them. Said, not lost silently (`fault-cancelled`).
      for (const a of armedDrops(parts, vm)) {
        for (
          const [fault, count] of [["lost-kick", a.kicks], ["lost-irq", a.interrupts]] as const
        ) {
          if (count === 0) continue;
          events.emit("fault-cancelled", vm, {
            fault,
            device: a.device,
            queue: a.queue,
            count,
            reason: "vm-crash",
          });
        }
      }
      saved = saveRegisterCounters(parts, vm);
    });
    if (host.stopped()) return;
    if (saved !== undefined) restoreRegisterCounters(parts, vm, saved);
    if (host.bootMs > 0) {
      host.phase?.("boot");
      await host.wait(host.bootMs);
      if (host.stopped()) return;
    }
    // A guest descheduled mid-section resumes whenever its CPU comes back and finishes it (the
    // rest of its rings' writes): the new guest takes the same memory once it is over.
    const waitFrom = performance.now();
    const out = await oldGuestOut(
      parts.bells,
      v.guestThread,
      (ms) => host.wait(ms),
      () => host.stopped(),
      host.oldGuestWaitMs ?? OLD_GUEST_WAIT_MS,
    );
    if (host.stopped()) return;
    if (!out) {
      // Still inside after the bound (its thread descheduled that long): the new guest starts
      // anyway, and the user learns that the old one may still write (`fence.ts`).
      events.emit("fence-timeout", vm, {
        worker: "guest",
        generation: guestGeneration(parts.bells, v.guestThread) - 1,
        inside: guestsInside(parts.bells, v.guestThread),
        waitedMs: Math.round(performance.now() - waitFrom),
      });
    }
    host.phase?.("guest-start");
    const booted = host.bootGuest(vm);
    // What the dead guest knew only in memory: a vhost-pci link set down, the partitions. Posted
    // as soon as the new guest is spawned, not once it is up: numbered, they wait in it and are
    // read before its first pass takes a frame of a's (`worker_scope.ts`), as a backend restart's
    // successor gets its links and partitions (`supervisor.ts`).
    const g = workers.find(vm, "guest");
    for (const l of served) {
      if (g && !host.linkUp(l.name)) {
        workers.postControl(g, { type: "link", device: l.peer.slot, up: false });
      }
    }
    const cuts = host.cuts();
    if (g && served.length > 0 && cuts.length > 0) {
      workers.postControl(g, { type: "partitions", cuts });
    }
    await booted;
  };
  // Out of `rebooting` before the last event: whoever hears it finds the VM running.
  return reboot().then(() => {
    host.rebooting.delete(vm);
    if (host.stopped()) return;
    host.carrier(true);
    events.emit("vm-restarted", vm, {
      downMs: Math.round((performance.now() - t0) * 10) / 10,
      ...(dropped > 0 ? { accessesDropped: dropped } : {}),
    });
  }, (error) => {
    host.rebooting.delete(vm);
    if (host.stopped()) return;
    events.emit("vm-restart-failed", vm, {
      message: error instanceof Error ? error.message : String(error),
    });
  });
}
