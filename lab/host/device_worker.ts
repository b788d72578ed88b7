/**
 * The device worker: the host side of one VM, where its device models run (the analogue of a
 * vhost thread). It is a generic loop over the VM's device kinds (`./kinds/`): each kind serves
 * its devices' register mailboxes, moves their data between the virtqueues and their backends
 * (link rings for `net`), and arms notifications before the worker sleeps. Control messages
 * (link up/down, a live impairment of a TX direction, partitions) go to every kind; a kind
 * takes what is for it.
 *
 * Recovery (`lab/supervisor.ts`): a worker started with `restore` rebuilds every device from the
 * register file and queue state records in the control block. Every worker owns an epoch, and
 * everything it may write to guest memory, the register files, the queue state records, link
 * rings or interrupts runs as a section of that epoch (`lab/wire/fence.ts`): its devices' start,
 * each loop hook (a pass, with the register accesses it serves), each control message's handling,
 * each packet its host vsock end delivers from its event loop. Once the supervisor has moved the
 * epoch on, no section starts and the loop returns; the supervisor starts the successor once the
 * sections under way are over. An injected `crash` message breaks the worker the way
 * `vlab fault backend-crash` asks; a `hang` or a `slow` pass spins outside any section, so that
 * the restart never waits for it.
 *
 * @module
 */

import { DirectDma, GuestMemory } from "../../devices/memory/mod.ts";
import { SharedRingAccess } from "../../devices/virtio/ring_access.ts";
import { threadStats } from "../wire/control.ts";
import { deviceFence } from "../wire/fence.ts";
import { ControlGate } from "../wire/control_gate.ts";
import { setThreadState, stopRequested, ThreadState } from "../wire/doorbell.ts";
import { hostWait, loopCounters, runLoop } from "../wire/loop.ts";
import type { ToWorker, VmStart } from "../wire/messages.ts";
import { controlApplied, exitWorker, onControl, post, runWorker } from "../wire/worker_scope.ts";
import { StatsWriter } from "../wire/stats.ts";
import { type HostKindInstance, loadHostKinds } from "./kinds/mod.ts";

/** Longest injected hang or slow-down, ms (a bound on what a message can make a thread do). */
const MAX_CRASH_MS = 60_000;
/** Busy wait added to each loop pass while a `slow` fault lasts, ms. */
const SLOW_PASS_MS = 1;

/**
 * Keep the thread busy for `ms`, or until `over()`: an injected hang ends once the lab stops or
 * replaces the worker. A spinning worker ignores `terminate()`, so a hang that outlived its lab
 * kept a script's process alive (and a CPU busy) for up to a minute after `stop()`.
 */
function spin(ms: number, over: () => boolean = () => false): void {
  const end = performance.now() + ms;
  while (performance.now() < end && !over()) { /* the thread is stuck: that is the fault */ }
}

/** Wall-clock ms with sub-ms precision, comparable across threads (restart phases). */
const wallMs = () => performance.timeOrigin + performance.now();

async function start(msg: VmStart): Promise<void> {
  const startAt = wallMs();
  const mem = GuestMemory.fromBuffer(msg.memory);
  const bells = new Int32Array(msg.doorbells);
  const fence = deviceFence(msg.control, msg.layout, msg.epoch);
  let fenceReported = false;
  // Pairs with the supervisor's Atomics.add of the epoch before it starts a successor.
  const fenced = () => {
    if (fence.current()) return false;
    if (!fenceReported) {
      fenceReported = true;
      post({ type: "event", kind: "backend-fenced", detail: { epoch: msg.epoch } });
    }
    return true;
  };
  const ctx = {
    vm: msg.vm,
    // Pending from the start message's number on: what was posted to this worker since then is
    // read (`onControl` hands over what came before it) before its loop takes a frame.
    gate: new ControlGate(bells, msg.thread, controlApplied),
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
    restore: msg.restore,
    reboot: msg.reboot ?? false,
    fence,
  };
  // Only the kinds this VM's devices use (a warm standby has them loaded already: `preload`).
  const slices = await loadHostKinds(msg.devices.map((d) => d.kind));
  const kinds: HostKindInstance[] = [];
  // A restore writes the register files and queue state records, a power-on start resets them:
  // not once a successor may have started (replaced before it ran: it writes nothing and ends).
  if (!fence.enter()) {
    fenced();
    return;
  }
  try {
    for (const kind of slices) {
      kinds.push(kind.start(ctx, msg.devices.filter((d) => d.kind === kind.kind)));
    }
  } finally {
    fence.exit();
  }
  const stats = new StatsWriter(
    threadStats(msg.control, msg.layout, "device"),
    (names) => post({ type: "stats-names", names }),
  );

  let slowUntil = 0;
  const crash = (m: Extract<ToWorker, { type: "crash" }>) => {
    const ms = Math.min(Math.max(0, m.ms), MAX_CRASH_MS);
    if (m.mode === "exit") {
      // Between two loop passes (a message runs between passes): nothing half-published.
      exitWorker("backend crash injected (exit)");
    } else if (m.mode === "hang") {
      // Stuck until the lab stops or fences this worker (a successor took over): nothing the
      // lab can still see, and the worker can end. Outside any section: the restart does not
      // wait for it.
      spin(ms, () => stopRequested(bells, msg.thread) || !fence.current());
    } else {
      slowUntil = performance.now() + ms;
    }
  };

  onControl((m) => {
    // A mid-pass crash is armed in the kinds, which throw inside their pass (whose section ends
    // with it). The other crashes act outside any section.
    if (m.type === "crash" && m.mode !== "mid-pass") crash(m);
    else {
      fence.guard(() => {
        for (const k of kinds) k.control(m);
      }, undefined);
    }
  });

  // A replacement tells the supervisor when it started and when its devices were restored,
  // then when its first pass moved anything (a frame, a packet, a register access): the pause.
  let resumed = !msg.restore;
  if (msg.restore) {
    post({ type: "event", kind: "backend-restored", detail: { startAt, restoredAt: wallMs() } });
  }
  // Running before "ready": the supervisor reads the state word as soon as it hears.
  setThreadState(bells, msg.thread, ThreadState.RUNNING);
  post({ type: "ready" });
  const loop = loopCounters();
  await runLoop({
    bells,
    thread: msg.thread,
    pollUs: msg.pollUs,
    counters: loop,
    control: ctx.gate,
    // Its epoch's: a replaced worker's wait that ends late leaves its successor's alone.
    sleepTag: msg.epoch + 1,
    // A VM's host vsock socket is served on this worker's event loop (accepts, reads): a blocking
    // slice would hold each of them up to its end (a host's one-byte round trip took 3.3 ms
    // instead of 0.12), so such a worker never waits hot.
    ...hostWait(msg.vsockSocket ? 0 : msg.hotMs),
  }, {
    pump: () => {
      if (slowUntil > 0) {
        if (performance.now() < slowUntil) spin(SLOW_PASS_MS);
        else slowUntil = 0;
      }
      // The pass is a section: one atomic add, load and sub, whatever it moves.
      if (!fence.enter()) {
        fenced();
        return false;
      }
      let work = false;
      try {
        for (let k = 0; k < kinds.length; k++) if (kinds[k].pump()) work = true;
      } finally {
        fence.exit();
      }
      if (work && !resumed) {
        resumed = true;
        post({ type: "event", kind: "backend-resumed", detail: { firstWorkAt: wallMs() } });
      }
      return work;
    },
    prepareSleep: () => {
      if (!fence.enter()) {
        fenced();
        return false;
      }
      try {
        let pending = false;
        for (const k of kinds) if (k.prepareSleep()) pending = true;
        return pending;
      } finally {
        fence.exit();
      }
    },
    nextTimerMs: () => {
      let t = Infinity;
      for (const k of kinds) t = Math.min(t, k.nextTimerMs());
      return t;
    },
    periodic: () =>
      fence.guard(() => {
        for (const k of kinds) k.periodic(stats);
        stats.setAll("loop_", loop);
        stats.flush();
      }, undefined),
    fenced,
  });
}

runWorker<VmStart>(start, (m) => loadHostKinds(m.kinds));
