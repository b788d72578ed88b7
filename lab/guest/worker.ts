/**
 * The guest worker: the "vCPU" of one VM. It runs, on its own thread:
 *
 * 1. the drivers of the VM's devices, each kind's guest slice (`./kinds/`, loaded only for the
 *    kinds the VM has), which probe their devices, negotiate features, set up their queues and
 *    reach DRIVER_OK through trapped register accesses (the mailbox in the control block),
 *    exactly as a driver does over virtio-mmio;
 * 2. what the kinds offer on top (the guest network stack over the NICs);
 * 3. the workloads the main thread asks for (`exec`), whose results go back by message.
 *
 * The entry is a generic loop over the kinds: serve control messages, pump each kind, sleep.
 * The data path never leaves shared memory: frames go through the virtqueues in guest memory;
 * kicks and interrupts are doorbell rings. Messages carry only control (start, exec, inspect).
 *
 * @module
 */

import { GuestMemory, PAGE_SIZE, PageAllocator } from "../../devices/memory/mod.ts";
import { SharedRingAccess } from "../../devices/virtio/ring_access.ts";
import { threadStats } from "../wire/control.ts";
import {
  DOORBELL_STRIDE,
  DoorbellWord,
  ringSelf,
  setThreadState,
  ThreadState,
} from "../wire/doorbell.ts";
import {
  GUEST_IDLE_WAIT_MS,
  loopCounters,
  type LoopWake,
  macrotask,
  runLoop,
} from "../wire/loop.ts";
import type { ToWorker, VmStart } from "../wire/messages.ts";
import { controlApplied, onControl, post, runWorker } from "../wire/worker_scope.ts";
import { ControlGate } from "../wire/control_gate.ts";
import { StatsWriter } from "../wire/stats.ts";
import { guestFence } from "../wire/fence.ts";
import { GuestClock } from "./clock.ts";
import { WorkloadParking } from "./parking.ts";
import {
  type GuestIommu,
  type GuestKindInstance,
  type GuestServices,
  loadGuestKinds,
} from "./kinds/mod.ts";
import { parseWorkload, runWorkload } from "./workloads/mod.ts";
import { sleepAfterPending, waitAtMostAfterPending } from "./workloads/options.ts";

async function start(msg: VmStart): Promise<void> {
  // Only the kinds this VM's devices use are loaded; net always (every VM has a stack).
  const slices = await loadGuestKinds(["net", ...msg.devices.map((d) => d.kind)]);
  const mem = GuestMemory.fromBuffer(msg.memory);
  const bells = new Int32Array(msg.doorbells);
  const sleepingWord = msg.thread * DOORBELL_STRIDE + DoorbellWord.SLEEPING;
  const clock = new GuestClock();
  // What may write guest memory runs as a section of this guest's generation (`wire/fence.ts`): a
  // crashed guest's rest of a task writes nothing once its successor may start.
  const fence = guestFence(bells, msg.thread, msg.generation ?? 0);
  // When the loop wakes next, and the earliest deadline of any kind (its watchdogs, its stack's
  // timers): a workload that arms one while the loop sleeps rings the loop if it is earlier.
  const wake: LoopWake = { at: 0 };
  const nextTimerMs = (): number => {
    let t = Infinity;
    for (const k of kinds) t = Math.min(t, k.nextTimerMs());
    return t;
  };
  const ctx = {
    vm: msg.vm,
    seed: msg.seed,
    mem,
    // Page 0 stays unused so that GPA 0 is never a valid buffer.
    alloc: new PageAllocator(PAGE_SIZE, mem.size - PAGE_SIZE),
    ring: new SharedRingAccess(mem),
    bells,
    deviceThread: msg.deviceThread,
    wakeSelf: () => {
      if (Atomics.load(bells, sleepingWord) !== 0) ringSelf(bells, msg.thread);
    },
    sleeping: () => Atomics.load(bells, sleepingWord) !== 0,
    timersChanged: () => {
      if (wake.at > 0 && performance.now() + nextTimerMs() < wake.at) {
        ringSelf(bells, msg.thread);
      }
    },
    control: msg.control,
    // Pending from the start message's number on: what was posted to this worker since then is
    // read (`onControl` hands over what came before it) before its loop takes a frame.
    gate: new ControlGate(bells, msg.thread, controlApplied),
    layout: msg.layout,
    clock,
    post,
    iommu: null as GuestIommu | null,
    frontends: new Map((msg.frontends ?? []).map((f) => [f.vm, f])),
    thread: msg.thread,
    fence,
  };
  const kinds: GuestKindInstance[] = [];
  const services: Partial<GuestServices> = {};
  for (const kind of slices) {
    const instance = await kind.start(ctx, msg.devices.filter((d) => d.kind === kind.kind));
    instance.provide(services);
    kinds.push(instance);
  }
  const stack = services.net!;
  const stats = new StatsWriter(
    threadStats(msg.control, msg.layout, "guest"),
    (names) => post({ type: "stats-names", names }),
  );

  const jobs = new Map<number, AbortController>();
  // A workload's line as it happens, to the main thread: before its `exec-result` (one port, in
  // order), and never after it (its job is gone then).
  const execLine = (id: number) => (line: string, progress?: unknown) => {
    if (jobs.has(id)) {
      post({ type: "exec-line", id, line, ...(progress !== undefined ? { progress } : {}) });
    }
  };
  // Its counts so far, the same way (with its lines only).
  const execProgress = (id: number) => (progress: unknown) => {
    if (jobs.has(id)) post({ type: "exec-progress", id, progress });
  };
  // Parked workloads let the loop block (see parking.ts): each wait the worker owns parks its
  // workload, and whatever ends the wait unparks it before the workload's continuation is queued.
  const parking = new WorkloadParking();
  const hotMs = msg.hotMs ?? 0;
  const unparkOnTimer = (unpark: () => void) => (fn: () => void, ms: number) =>
    setTimeout(() => {
      unpark();
      // Back to blocking at once: the loop may be in the event loop's turn that runs this timer
      // (a `waitAsync`), which would also take the ring of the reply to what the workload sends.
      if (hotMs > 0) ctx.wakeSelf();
      fn();
    }, ms);
  onControl((m) => fence.guard(() => control(m), undefined));
  function control(m: ToWorker): void {
    if (m.type === "exec") {
      clock.refresh();
      const abort = new AbortController();
      jobs.set(m.id, abort);
      parking.begin();
      // Through a promise, so that whatever throws (the parsing of arguments a library caller
      // got wrong, a workload at once) still answers its request: the caller awaits the answer.
      Promise.resolve().then(() => {
        const parsed = parseWorkload(m.argv);
        if (!parsed.ok) return { kind: "error" as const, ...parsed.error };
        return runWorkload(stack, parsed.value, {
          signal: abort.signal,
          clock,
          yield: () => macrotask().then(() => clock.refresh()),
          sleep: (ms: number) => {
            const unpark = parking.park(performance.now() + ms);
            return sleepAfterPending(ms, unparkOnTimer(unpark)).then(() => clock.refresh());
          },
          waitAtMost: (ms: number, settled: Promise<unknown>) => {
            const unpark = parking.park(performance.now() + ms);
            settled.then(unpark, unpark); // before the workload's own reaction
            return waitAtMostAfterPending(ms, settled, unparkOnTimer(unpark)).then((won) => {
              clock.refresh();
              return won;
            });
          },
          vsock: services.vsock,
          iommu: services.iommu,
          // Only for a caller that listens: without one, a workload's lines cost nothing.
          ...(m.lines === true ? { onLine: execLine(m.id), onProgress: execProgress(m.id) } : {}),
        });
      }).then(
        (result) =>
          post(
            result.kind === "error"
              ? {
                type: "exec-result",
                id: m.id,
                ok: false,
                message: result.message,
                hint: result.hint,
                ...(result.code !== undefined ? { code: result.code } : {}),
                ...(result.refusedBy !== undefined ? { refusedBy: result.refusedBy } : {}),
              }
              : { type: "exec-result", id: m.id, ok: true, result },
          ),
        (error) =>
          post({
            type: "exec-result",
            id: m.id,
            ok: false,
            message: `Workload failed: ${error instanceof Error ? error.message : String(error)}`,
            hint: "See the lab's event log for the VM's errors",
          }),
      ).finally(() => {
        jobs.delete(m.id);
        parking.end();
      });
    } else if (m.type === "cancel") {
      jobs.get(m.id)?.abort();
    } else if (m.type === "guest-bug") {
      // Answered in every case: the lab tells the user whether the bug was written.
      let refused: string | { busy: string } | null | undefined;
      try {
        for (const k of kinds) {
          refused = k.guestBug?.(m);
          if (refused !== undefined) break;
        }
      } catch (error) {
        refused = `Cannot inject ${m.bug}: ${error instanceof Error ? error.message : error}`;
      }
      post({
        type: "guest-bug-result",
        id: m.id,
        ...(refused === undefined
          ? { refused: `Cannot inject ${m.bug}: device slot ${m.device} takes no guest bugs` }
          : typeof refused === "object" && refused !== null
          ? { refused: refused.busy, busy: true as const }
          : { refused }),
      });
    } else if (m.type === "link" || m.type === "partitions") {
      // A link flip of, or the partitions on, a device served in the guest (vhost-pci).
      for (const k of kinds) k.control?.(m);
    } else if (m.type === "inspect") {
      // Answered in every case (the caller awaits it), and after a macrotask: a workload asked
      // for just before starts in microtasks, and one that cannot start (a port already bound)
      // has answered by then. `Lab.spawn` relies on that order.
      void macrotask().then(() => {
        let info: unknown;
        try {
          info = Object.assign({}, ...kinds.map((k) => k.inspect()));
        } catch (error) {
          info = { error: error instanceof Error ? error.message : String(error) };
        }
        post({ type: "inspect-result", id: m.id, info });
      });
    }
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
    idleWaitMs: GUEST_IDLE_WAIT_MS,
    wake,
    control: ctx.gate,
    hotMs,
    blockUntil: () => parking.blockUntil(),
    // Its generation's: a crashed guest's wait that ends late leaves its successor's alone.
    sleepTag: (msg.generation ?? 0) + 1,
  }, {
    pump: () => {
      if (!fence.enter()) return false;
      try {
        clock.refresh();
        let work = false;
        for (let k = 0; k < kinds.length; k++) if (kinds[k].pump()) work = true;
        return work;
      } finally {
        fence.exit();
      }
    },
    prepareSleep: () =>
      fence.guard(() => {
        let pending = false;
        for (const k of kinds) if (k.prepareSleep()) pending = true;
        return pending;
      }, false),
    nextTimerMs,
    periodic: () =>
      fence.guard(() => {
        for (const k of kinds) k.periodic(stats);
        stats.setAll("loop_", loop);
        stats.flush();
      }, undefined),
    // A crashed guest's loop returns at its next pass (its successor's runs on the same thread).
    fenced: () => !fence.current(),
  });
}

runWorker<VmStart>(start);
