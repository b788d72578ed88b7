/**
 * Backend-crash recovery: the pieces of the supervisor that notice a dead or hung device worker
 * and replace it. They run on the main thread, owned by `Lab` (`lab.ts`), which spawns workers.
 *
 * How a device worker is replaced (architecture.md, Recovery; reliability.md G6, G7):
 *
 * 1. **Notice.** A worker that dies raises `onerror` on its `Worker` (the `exit` mode of
 *    `vlab fault backend-crash`, or any uncaught error after start). A worker whose loop stopped
 *    but whose thread lives (`hang`) is caught by {@linkcode HeartbeatWatchdog}: every loop pass
 *    bumps the thread's `HEARTBEAT` word; the watchdog reads it every `periodMs`, rings the
 *    worker's doorbell when it has not moved for half of `limitMs` (an idle worker sleeps up to
 *    five seconds and wakes on its bell: this ring is an idle device worker's heartbeat), and
 *    declares the worker hung when it has not moved for `limitMs`. (A ring wakes the worker's
 *    loop, which then sees any ring work: it also ends a lost-kick stall.)
 * 2. **Fence.** The supervisor adds one to the VM's epoch in the control block (`fenceWords`)
 *    before anything else. Each device worker owns the epoch it was started with, and everything
 *    it may write (used rings, link rings, register files, interrupts) runs as a section of it
 *    (`lab/wire/fence.ts`), counted in the `INSIDE` fencing word: none starts once the epoch moved
 *    on. The successor starts once the sections under way are over (at once when none is, else
 *    after timer polls, the main thread free, bounded by {@linkcode OLD_WORKER_WAIT_MS}, where a
 *    `fence-timeout` event says that it starts anyway), so a worker descheduled mid-pass finishes
 *    that pass before its successor takes the rings, and one that wakes up later reports
 *    `backend-fenced` and returns without writing a ring. It is also terminated, unless a test
 *    keeps it to watch it wake.
 * 3. **Restart.** A new device worker starts on the same guest memory, control block and link
 *    rings with `restore`: each device's transport is rebuilt from its register file and queue
 *    state records (`MmioDeviceTransport.restore`), and the chains the old worker had popped
 *    but not completed are handed to the device model, which completes each exactly once. A
 *    worker publishes only at the end of a pass and dies only between passes (a message or a
 *    timer runs between passes), so a chain is either completed and published, with its frame
 *    in the link ring, or still in flight in the record: no frame is lost or sent twice.
 * 4. **Resume.** The moment the new worker is ready the VM is `running` again, and the
 *    supervisor logs `backend-ready` (`downMs`: detection to ready); the restart counts from
 *    there (`vlab status`, the dashboard, `/metrics`). It re-sends what lives only in worker
 *    memory (links that are down, partitions) and logs `backend-restarted` with the pause: from
 *    detection to the new worker's
 *    first loop pass that moved anything (`backend-resumed`; the worker ready when nothing moves
 *    within {@linkcode RESUME_WAIT_MS}), and its phases (`RestartPhases`). While it restarts,
 *    the VM's state is `restarting`; `backend-restart-failed` says why a new worker could not start.
 *
 * What a restart keeps: the impairments in force (the successor's start message is built with
 * them), links that are down and partitions (sent again once it is ready). What it does not keep:
 * frames held in a link's impairment stage (netem's queue) and a
 * vsock device's connection table; see docs/design.md.
 *
 * A VM crash (`vm-crash`) uses the same fence for a system reset instead: `powerCycle` ends the
 * device worker and starts one at power-on state (`restore: false`), the lab doing the rest.
 *
 * @module
 */

import type { EventLog } from "./events.ts";
import type { LabPlan } from "./plan.ts";
import { FenceWord, fenceWords } from "./wire/control.ts";
import { sectionsOver } from "./wire/fence.ts";
import { restartSeed } from "./host/impair.ts";
import { DOORBELL_STRIDE, DoorbellWord, readDoorbellWord, ringDoorbell } from "./wire/doorbell.ts";
import type { FromWorker, ToWorker, VmStart } from "./wire/messages.ts";
import type { Impairment } from "./wire/specs.ts";

/**
 * Longest wait for a replaced device worker's sections under way to end before its successor
 * starts, ms (`lab/wire/fence.ts`). A section is a loop pass, a message's handling or a register
 * access, well under a millisecond: this is reached only by a worker whose thread stays
 * descheduled that long, or one stuck inside a section. Its successor starts then anyway, and a
 * `fence-timeout` event says so.
 */
export const OLD_WORKER_WAIT_MS = 1000;

/** How long after a replacement is ready the supervisor waits for its first work, ms. */
export const RESUME_WAIT_MS = 250;

/**
 * Where a restart's pause went, ms (the `phases` of a `backend-restarted` event): detection to
 * the successor asked for (fence, the old worker taken), to its start function running (a
 * `Worker` constructed and its module loaded, or the lab's warm standby), to its devices
 * restored; from there to the end of its first loop pass that moved anything (null: nothing
 * moved within {@linkcode RESUME_WAIT_MS} of ready), and, apart, to the main thread hearing
 * `ready`.
 */
export interface RestartPhases {
  /** Detection to the successor asked for (fence, the old worker taken). */
  fenceMs: number;
  /** To the successor's start function running (worker spawn and module load, or standby). */
  startMs: number | null;
  /** To every device restored from its state record. */
  restoreMs: number | null;
  /** From restored (or constructed) to the first loop pass that moved anything, or null. */
  firstWorkMs: number | null;
  /** From restored (or constructed) to the main thread hearing `ready`. */
  readyMs: number;
}

/** Wall-clock ms, comparable across threads. */
const wallMs = () => performance.timeOrigin + performance.now();
const round1 = (ms: number) => Math.round(ms * 10) / 10;

/** A restart whose `backend-restarted` is not logged yet (wall-clock ms). */
interface PendingRestart {
  cause: "exit" | "hang";
  epoch: number;
  detectedAt: number;
  spawnedAt: number;
  startAt: number | null;
  restoredAt: number | null;
  readyAt: number | null;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Options of {@linkcode HeartbeatWatchdog}. */
export interface WatchdogOptions {
  /** How often heartbeats are read, ms. */
  periodMs: number;
  /** A heartbeat that has not moved for this long means the worker hangs, ms. */
  limitMs: number;
}

/**
 * Reads device workers' heartbeat words and reports a worker whose loop has stopped.
 *
 * @example
 * ```ts
 * import { HeartbeatWatchdog } from "./supervisor.ts";
 * import { createDoorbells } from "./wire/doorbell.ts";
 * const hung: number[] = [];
 * const dog = new HeartbeatWatchdog(createDoorbells(1), { periodMs: 10, limitMs: 30 }, (t) => hung.push(t));
 * dog.watch(0, 0);
 * dog.check(0); dog.check(40); // hung: [0]
 * ```
 */
export class HeartbeatWatchdog {
  readonly #bells: Int32Array;
  readonly #opts: WatchdogOptions;
  readonly #onHang: (thread: number) => void;
  readonly #watched = new Map<number, { beat: number; since: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param bells the lab's doorbells
   * @param opts period and limit
   * @param onHang called once for a hung thread (it is no longer watched)
   */
  constructor(bells: Int32Array, opts: WatchdogOptions, onHang: (thread: number) => void) {
    this.#bells = bells;
    this.#opts = opts;
    this.#onHang = onHang;
  }

  /** Watch a thread from `now` (ms, `performance.now()` by default). */
  watch(thread: number, now = performance.now()): void {
    const beat = readDoorbellWord(this.#bells, thread, DoorbellWord.HEARTBEAT);
    this.#watched.set(thread, { beat, since: now });
  }

  /** Stop watching a thread (it is being replaced). */
  unwatch(thread: number): void {
    this.#watched.delete(thread);
  }

  /** One pass over the watched threads at `now` (ms). */
  check(now: number): void {
    for (const [thread, w] of this.#watched) {
      const beat = readDoorbellWord(this.#bells, thread, DoorbellWord.HEARTBEAT);
      if (beat !== w.beat) {
        w.beat = beat;
        w.since = now;
      } else if (now - w.since >= this.#opts.limitMs) {
        this.#watched.delete(thread);
        this.#onHang(thread);
      } else if (now - w.since >= this.#opts.limitMs / 2) {
        // An idle worker sleeps on its bell: wake it so that it beats (a hung one cannot).
        ringDoorbell(this.#bells, thread);
      }
    }
  }

  /**
   * Credit every watched thread `ms` in which it could not beat: the watchdog itself was frozen
   * (see {@linkcode HeartbeatWatchdog.start}).
   */
  excuse(ms: number): void {
    for (const w of this.#watched.values()) w.since += ms;
  }

  /** Check every `periodMs` until {@linkcode HeartbeatWatchdog.stop}. */
  start(): void {
    if (this.#timer !== undefined) return;
    const { periodMs } = this.#opts;
    let last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      // Over two periods since the last check: the process was frozen (`kill -STOP`, a suspend),
      // and every thread with it, or its main thread stalled. That time counts against no worker
      // (as Linux touches its soft-lockup watchdog after a resume): `kill -CONT` of a lab stopped
      // for longer than the limit replaced its idle device workers as hung.
      if (now - last > 2 * periodMs) this.excuse(now - last - periodMs);
      last = now;
      this.check(now);
    }, periodMs);
  }

  /** Stop checking. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** What {@linkcode DeviceSupervisor} needs of the lab (`Lab` gives it at construction). */
export interface SupervisedLab {
  /** The plan. */
  plan: LabPlan;
  /** The event log. */
  events: EventLog;
  /** The lab's doorbells. */
  bells: Int32Array;
  /** Each VM's control block, by plan index. */
  controls: readonly SharedArrayBuffer[];
  /** True once the lab stops. */
  stopped(): boolean;
  /** Spawn a VM's device worker; resolves when it is ready. */
  spawn(vm: string, start: VmStart): Promise<void>;
  /** Remove a VM's device worker from the lab's list and hand it over (undefined: none). */
  take(vm: string): Worker | undefined;
  /** Post to a VM's (current) device worker. */
  post(vm: string, m: ToWorker): void;
  /** Whether a link is up. */
  linkUp(link: string): boolean;
  /** The partition cuts in force. */
  cuts(): [string, string][];
  /** The vsock (CID, CID) pairs the partitions cut. */
  vsockCuts(): [number, number][];
  /** The impairment in force on a link ring (the topology's, or the last live change). */
  ringImpairment(ring: number): Impairment;
}

/**
 * Replaces a VM's device worker that died or hangs (fence, restart with restore, resume; see the
 * module essay), and keeps the VM states that recovery adds: `restarting` while a device worker
 * is replaced, `resetting` while the guest resets a device (from its events).
 *
 * @example
 * ```ts ignore
 * const sup = new DeviceSupervisor(labParts);
 * sup.start(1000); // the heartbeat watchdog, 1 s limit
 * sup.replace("a", "exit", "worker ended");
 * ```
 */
export class DeviceSupervisor {
  /** Tests: leave a replaced worker alive (fenced) instead of terminating it. */
  keepReplaced = false;
  /**
   * Longest wait for a replaced worker's sections under way before its successor starts, ms
   * (tests shorten it).
   */
  oldWorkerWaitMs: number = OLD_WORKER_WAIT_MS;
  readonly #lab: SupervisedLab;
  readonly #starts = new Map<string, VmStart>();
  readonly #restarting = new Map<string, number>();
  readonly #resetting = new Map<string, number>();
  readonly #pending = new Map<string, PendingRestart>();
  #watchdog: HeartbeatWatchdog | null = null;

  /** @param lab what the supervisor needs of the lab */
  constructor(lab: SupervisedLab) {
    this.#lab = lab;
  }

  /** The start message of a VM's first device worker (a replacement starts from it). */
  setStart(vm: string, start: VmStart): void {
    this.#starts.set(vm, start);
  }

  /** Start the heartbeat watchdog over every VM's device thread (`limitMs`: hung after). */
  start(limitMs: number): void {
    const { plan, bells } = this.#lab;
    this.#watchdog = new HeartbeatWatchdog(
      bells,
      // A quarter of the limit: each check is a timer wake-up of the main thread (an idle lab's
      // cost), and a hang is still caught between one and 1.25 limits.
      { periodMs: Math.max(10, limitMs / 4), limitMs },
      (thread) => {
        const vm = plan.vms.find((v) => v.deviceThread === thread);
        if (vm) this.replace(vm.name, "hang", "its heartbeat stopped");
      },
    );
    for (const vm of plan.vms) this.#watchdog.watch(vm.deviceThread);
    this.#watchdog.start();
  }

  /** Stop the watchdog (the lab stops). */
  stop(): void {
    this.#watchdog?.stop();
    for (const p of this.#pending.values()) clearTimeout(p.timer);
    this.#pending.clear();
  }

  /** `restarting`, `resetting`, or null when recovery has nothing to say about the VM. */
  state(vm: string): "restarting" | "resetting" | null {
    if (this.#restarting.has(vm)) return "restarting";
    if ((this.#resetting.get(vm) ?? 0) > 0) return "resetting";
    return null;
  }

  /**
   * An event from a VM's worker: a guest's reset events move it in and out of `resetting`; a
   * replacement's `backend-restored` and `backend-resumed` time its restart. Returns whether the
   * event goes to the log: not a `backend-resumed` that comes after its restart was logged
   * without it (`resumed: false`, the VM idle for {@linkcode RESUME_WAIT_MS}), maybe seconds
   * later, at the next frame, as if a restart had just ended.
   */
  noteEvent(vm: string, kind: string, detail?: Record<string, unknown>): boolean {
    const p = this.#pending.get(vm);
    if (kind === "backend-resumed" && p === undefined) return false;
    if (p !== undefined && kind === "backend-restored") {
      p.startAt = typeof detail?.startAt === "number" ? detail.startAt : null;
      p.restoredAt = typeof detail?.restoredAt === "number" ? detail.restoredAt : null;
    } else if (p !== undefined && kind === "backend-resumed" && p.readyAt !== null) {
      this.#restarted(vm, typeof detail?.firstWorkAt === "number" ? detail.firstWorkAt : null);
    }
    const n = this.#resetting.get(vm) ?? 0;
    if (kind === "device-needs-reset") this.#resetting.set(vm, n + 1);
    else if ((kind === "device-queues-live" || kind === "device-reset-failed") && n > 0) {
      this.#resetting.set(vm, n - 1);
    }
    return true;
  }

  /** Replace a VM's device worker that died (`exit`) or hangs: fence, restart, resume. */
  replace(vm: string, cause: "exit" | "hang", message: string): void {
    const { plan, events } = this.#lab;
    const v = plan.vms.find((x) => x.name === vm);
    const start = this.#starts.get(vm);
    if (!v || !start || this.#lab.stopped() || this.#restarting.has(vm)) return;
    const t0 = performance.now();
    this.#restarting.set(vm, t0);
    const detectedAt = wallMs();
    this.#watchdog?.unwatch(v.deviceThread);
    // Fence first: from here on no section of the old worker starts (`wire/fence.ts`).
    const words = fenceWords(this.#lab.controls[v.index], v.control);
    const epoch = Atomics.add(words, FenceWord.EPOCH, 1) + 1;
    events.emit("backend-crash", vm, { cause, message, epoch: epoch - 1 });
    const old = this.#lab.take(vm);
    if (old) {
      old.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === "event") events.emit(e.data.kind, vm, e.data.detail);
      };
      old.onerror = (e) => e.preventDefault();
    }
    // The successor starts once the old worker's sections under way are over (at once when none
    // is: the same task); meanwhile the VM is `restarting`.
    const launch = () => {
      if (this.#lab.stopped() || Atomics.load(words, FenceWord.EPOCH) !== epoch) {
        // The lab stops, or a power cycle took over meanwhile (it moved the epoch on again): the
        // old worker, out of the lab's set since `take`, is ended here or by nobody.
        if (this.#restarting.get(vm) === t0) this.#restarting.delete(vm);
        this.#endReplaced(old ?? null, cause);
        return;
      }
      this.#launch(vm, v, start, { cause, epoch, detectedAt, old: old ?? null });
    };
    if (Atomics.load(words, FenceWord.INSIDE) === 0) launch();
    else void this.#oldWorkerOut(vm, words, epoch).then(launch);
  }

  /**
   * Wait until the old device worker's sections under way are over (`words`: the VM's fencing
   * words, its epoch already moved on to `epoch`), polling on timers, bounded by
   * `oldWorkerWaitMs` ({@linkcode OLD_WORKER_WAIT_MS}); at the bound, a `fence-timeout` event says that the successor
   * starts while the old worker may still write.
   */
  async #oldWorkerOut(vm: string, words: Int32Array, epoch: number): Promise<void> {
    const from = performance.now();
    const out = await sectionsOver(words, FenceWord.INSIDE, {
      wait: (ms) => new Promise((r) => setTimeout(r, ms)),
      stopped: () => this.#lab.stopped(),
      timeoutMs: this.oldWorkerWaitMs,
    });
    if (!out && !this.#lab.stopped()) {
      this.#lab.events.emit("fence-timeout", vm, {
        worker: "device",
        epoch: epoch - 1,
        inside: Atomics.load(words, FenceWord.INSIDE),
        waitedMs: Math.round(performance.now() - from),
      });
    }
  }

  /** Terminate a replaced device worker (`take`n from the lab), unless a test keeps it. */
  #endReplaced(old: Worker | null, cause: "exit" | "hang"): void {
    if (old && (!this.keepReplaced || cause === "exit")) old.terminate();
  }

  /** Start a replaced device worker's successor (`replace`, once the old one is out). */
  #launch(
    vm: string,
    v: LabPlan["vms"][number],
    start: VmStart,
    r: { cause: "exit" | "hang"; epoch: number; detectedAt: number; old: Worker | null },
  ): void {
    const { events, bells } = this.#lab;
    const { cause, epoch, detectedAt, old } = r;
    // The thread's words now belong to the successor (the old worker never touches them again).
    Atomics.store(bells, v.deviceThread * DOORBELL_STRIDE + DoorbellWord.SLEEPING, 0);
    Atomics.store(bells, v.deviceThread * DOORBELL_STRIDE + DoorbellWord.STATE, 0);
    const spawnedAt = wallMs();
    // The start message as it would be built now: the impairments in force, not the topology's
    // (a live `vlab link set` must outlive a restart, as netem's qdisc outlives a vhost thread),
    // and a random stream of the successor's own, not the first worker's started over.
    const rings = start.rings.map((r) => ({
      ...r,
      impair: this.#lab.ringImpairment(r.index),
      seed: restartSeed(r.seed, epoch),
    }));
    const spawned = this.#lab.spawn(vm, { ...start, rings, epoch, restore: true });
    // Now, numbered after its start message: its first pass takes no frame before it has read
    // them (a partition in force would otherwise let through what its guest queued meanwhile).
    this.#resend(vm);
    // Terminated after the successor is on its way: it is fenced, and terminating takes time.
    this.#endReplaced(old, cause);
    const pending: PendingRestart = {
      cause,
      epoch,
      detectedAt,
      spawnedAt,
      startAt: null,
      restoredAt: null,
      readyAt: null,
      timer: undefined,
    };
    const earlier = this.#pending.get(vm);
    if (earlier !== undefined) this.#restarted(vm, null);
    this.#pending.set(vm, pending);
    spawned.then(() => {
      this.#restarting.delete(vm);
      if (this.#lab.stopped()) return;
      pending.readyAt = wallMs();
      // The VM is running again from here: say so now, in the same step, so that no status
      // shows it running with this restart not counted (`backend-restarted`, with the pause,
      // waits for the successor's first work, up to RESUME_WAIT_MS more).
      events.emit("backend-ready", vm, {
        cause,
        epoch,
        downMs: round1(pending.readyAt - detectedAt),
      });
      this.#watchdog?.watch(v.deviceThread);
      ringDoorbell(bells, v.deviceThread);
      // Logged at the replacement's first work, or after RESUME_WAIT_MS (an idle VM).
      pending.timer = setTimeout(() => this.#restarted(vm, null), RESUME_WAIT_MS);
    }, (error) => {
      this.#restarting.delete(vm);
      if (this.#pending.get(vm) === pending) this.#pending.delete(vm);
      // Said, not swallowed: the VM stays failed and the user learns why.
      if (this.#lab.stopped()) return;
      events.emit("backend-restart-failed", vm, {
        cause,
        epoch,
        message: error instanceof Error ? error.message : String(error),
      });
    });
  }

  /**
   * Reset every device of a VM as a system reset does (`vm-crash`, `vm_reboot.ts`): fence and
   * end its device worker, run `between` (the lab revokes what peers still hold), then start a
   * successor at power-on state (`restore: false`: each device is fresh, its register file
   * written anew, as QEMU resets every device on reboot). The VM is `restarting` meanwhile. Link
   * rings are attached, never reset, by a device worker: peers keep theirs. Resolves once the
   * successor is ready (what it knew only in memory sent again); rejects if it cannot start.
   */
  async powerCycle(vm: string, between: () => Promise<void>): Promise<void> {
    const { plan, bells } = this.#lab;
    const v = plan.vms.find((x) => x.name === vm);
    const start = this.#starts.get(vm);
    if (!v || !start) throw new Error(`no VM ${vm}`);
    this.#restarting.set(vm, performance.now());
    try {
      this.#watchdog?.unwatch(v.deviceThread);
      const pending = this.#pending.get(vm);
      if (pending !== undefined) this.#restarted(vm, null);
      // Fence first: from here on no section of the old worker starts (`wire/fence.ts`).
      const words = fenceWords(this.#lab.controls[v.index], v.control);
      const epoch = Atomics.add(words, FenceWord.EPOCH, 1) + 1;
      const old = this.#lab.take(vm);
      if (old) {
        old.onmessage = null;
        old.onerror = (e) => e.preventDefault();
        old.terminate();
      }
      // Its sections under way end before anything reads or resets what it writes (`between`
      // reads its register files and mailboxes) and before the successor starts.
      if (Atomics.load(words, FenceWord.INSIDE) !== 0) await this.#oldWorkerOut(vm, words, epoch);
      if (this.#lab.stopped()) return;
      Atomics.store(bells, v.deviceThread * DOORBELL_STRIDE + DoorbellWord.SLEEPING, 0);
      Atomics.store(bells, v.deviceThread * DOORBELL_STRIDE + DoorbellWord.STATE, 0);
      await between();
      if (this.#lab.stopped()) return;
      const rings = start.rings.map((r) => ({
        ...r,
        impair: this.#lab.ringImpairment(r.index),
        seed: restartSeed(r.seed, epoch),
      }));
      const spawned = this.#lab.spawn(vm, { ...start, rings, epoch, restore: false, reboot: true });
      this.#resend(vm); // before its first pass, as a replacement's
      await spawned;
      if (this.#lab.stopped()) return;
      this.#watchdog?.watch(v.deviceThread);
      ringDoorbell(bells, v.deviceThread);
    } finally {
      this.#restarting.delete(vm);
    }
  }

  /** Log `backend-restarted` for a VM's pending restart (`firstWorkAt`: wall ms, or null). */
  #restarted(vm: string, firstWorkAt: number | null): void {
    const p = this.#pending.get(vm);
    if (p === undefined) return;
    this.#pending.delete(vm);
    clearTimeout(p.timer);
    const readyAt = p.readyAt ?? wallMs();
    const from = p.restoredAt ?? p.spawnedAt;
    const phases: RestartPhases = {
      fenceMs: round1(p.spawnedAt - p.detectedAt),
      startMs: p.startAt === null ? null : round1(p.startAt - p.spawnedAt),
      restoreMs: p.startAt === null || p.restoredAt === null
        ? null
        : round1(p.restoredAt - p.startAt),
      firstWorkMs: firstWorkAt === null ? null : round1(firstWorkAt - from),
      readyMs: round1(readyAt - from),
    };
    this.#lab.events.emit("backend-restarted", vm, {
      cause: p.cause,
      epoch: p.epoch,
      // Detection to traffic moving again (or to ready, when nothing moved).
      pauseMs: round1((firstWorkAt ?? readyAt) - p.detectedAt),
      resumed: firstWorkAt !== null,
      phases,
    });
  }

  /**
   * What a replaced device worker knew only in memory: links that are down, partitions. Posted
   * right after its successor's start message (`spawn` registers it at once): numbered control
   * messages that wait in the successor for its handler, and that its control gate makes its
   * first loop pass read before it takes a frame. Posted once it was ready instead, they left
   * that pass, and the frames the guest had queued during the restart, to the power-on state (no
   * partition, every link up).
   */
  #resend(vm: string): void {
    const { plan } = this.#lab;
    const v = plan.vms.find((x) => x.name === vm)!;
    for (const d of v.devices) {
      const link = d.txRing < 0 ? undefined : plan.rings[d.txRing]?.link;
      if (link !== undefined && !this.#lab.linkUp(link)) {
        this.#lab.post(vm, { type: "link", device: d.index, up: false });
      }
    }
    const cuts = this.#lab.cuts();
    const vsockCuts = this.#lab.vsockCuts();
    if (cuts.length > 0 || vsockCuts.length > 0) {
      this.#lab.post(vm, { type: "partitions", cuts, vsockCuts });
    }
  }
}
