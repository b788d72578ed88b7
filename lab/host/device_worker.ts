/**
 * The device worker: the host side of one VM, where its device models run (the analogue of a
 * vhost thread). It is a generic loop over the VM's device kinds (`./kinds/`): each kind serves
 * its devices' register mailboxes, moves their data between the virtqueues and their backends
 * (link rings for `net`), and arms notifications before the worker sleeps. Control messages
 * (link up/down, a live impairment of a TX direction, partitions) go to every kind; a kind
 * takes what is for it.
 *
 * @module
 */

import { DirectDma, GuestMemory } from "../../devices/memory/mod.ts";
import { SharedRingAccess } from "../../devices/virtio/ring_access.ts";
import { threadStats } from "../wire/control.ts";
import { setThreadState, ThreadState } from "../wire/doorbell.ts";
import { runLoop } from "../wire/loop.ts";
import type { VmStart } from "../wire/messages.ts";
import { onControl, post, runWorker } from "../wire/worker_scope.ts";
import { StatsWriter } from "../wire/stats.ts";
import { HOST_KINDS, type HostKindInstance } from "./kinds/mod.ts";

async function start(msg: VmStart): Promise<void> {
  const mem = GuestMemory.fromBuffer(msg.memory);
  const bells = new Int32Array(msg.doorbells);
  const ctx = {
    vm: msg.vm,
    mem,
    dma: new DirectDma(mem),
    ring: new SharedRingAccess(mem),
    bells,
    thread: msg.thread,
    guestThread: msg.guestThread,
    control: msg.control,
    iommu: msg.iommu,
    layout: msg.layout,
    rings: new Map(msg.rings.map((r) => [r.index, r])),
    vsockSocket: msg.vsockSocket ?? null,
    post,
  };
  const kinds: HostKindInstance[] = [];
  for (const kind of HOST_KINDS.values()) {
    kinds.push(kind.start(ctx, msg.devices.filter((d) => d.kind === kind.kind)));
  }
  const stats = new StatsWriter(
    threadStats(msg.control, msg.layout, "device"),
    (names) => post({ type: "stats-names", names }),
  );

  onControl((m) => {
    for (const k of kinds) k.control(m);
  });

  // Running before "ready": the supervisor reads the state word as soon as it hears.
  setThreadState(bells, msg.thread, ThreadState.RUNNING);
  post({ type: "ready" });
  await runLoop({ bells, thread: msg.thread, pollUs: msg.pollUs }, {
    pump: () => {
      let work = false;
      for (let k = 0; k < kinds.length; k++) if (kinds[k].pump()) work = true;
      return work;
    },
    prepareSleep: () => {
      let pending = false;
      for (const k of kinds) if (k.prepareSleep()) pending = true;
      return pending;
    },
    nextTimerMs: () => {
      let t = Infinity;
      for (const k of kinds) t = Math.min(t, k.nextTimerMs());
      return t;
    },
    periodic: () => {
      for (const k of kinds) k.periodic(stats);
      stats.flush();
    },
  });
}

runWorker<VmStart>(start);
