/**
 * The supervisor: starts a planned lab and owns it while it runs, on the main thread.
 *
 * `Lab.start(plan)` allocates the shared memory (each VM's guest memory and control block, the
 * lab's doorbells, one link ring and one tap ring per link direction), spawns the workers (a
 * guest and a device worker per VM, one per switch), sends each its start message, and resolves
 * once every guest driver has reached DRIVER_OK. While the lab runs, the supervisor reads
 * counters straight from shared memory (`status`, `metrics`), relays workloads to guests
 * (`exec`), flips links (`setLink`), changes impairments and partitions live (`link_control.ts`),
 * drains capture taps (`capture`), and records events.
 * `stop()` asks every worker to return, waits for it, and terminates it.
 *
 * A worker that throws is contained: `onerror` prevents the default (which would end the
 * process), the VM is marked failed, an event is logged, and every other VM keeps running.
 * A device worker that dies or hangs once running is replaced instead (`supervisor.ts`: fence,
 * restart, restore); `fault` injects such crashes (`faults.ts`). A `vm-crash` fault crashes a
 * whole VM and reboots it: guest terminated, devices reset, guest booted again
 * (`crashAndReboot` in `vm_reboot.ts`).
 *
 * @module
 */

import { ExecTally } from "./exec_tally.ts";
import { LinkCapture, mergePcapRecords } from "./capture.ts";
import type { GuestFaultKind } from "../devices/virtio/guest_faults.ts";
import { LinkRing } from "./host/link_ring.ts";
import { tapCapacity, type TapCounters, TapReader } from "./host/tap.ts";
import {
  cpuOf,
  createDoorbells,
  DoorbellWord,
  guestGeneration,
  readDoorbellWord,
  requestStop,
  StopMode,
  ThreadState,
} from "./wire/doorbell.ts";
import type {
  SwitchStart,
  ToWorker,
  VhostPciFrontendMemory,
  VmStart,
  WorkerRing,
} from "./wire/messages.ts";
import { type WorkerHandle, WorkerSet } from "./workers.ts";
import { EventLog } from "./events.ts";
import { type SwitchMacTable, switchMacTable } from "./switch_macs.ts";
import { faultConsumer } from "./iommu_fault_by.ts";
import type { LabPlan, RingPlan } from "./plan.ts";
import {
  consumerMac,
  LinkControl,
  type LinkControls,
  ringCaptureFormat,
  ringLinkProblem,
} from "./link_control.ts";
import {
  expectArg,
  expectBoolean,
  expectExecOptions,
  expectString,
  typeName,
} from "./arg_checks.ts";
import { THREAD_STATS_SLOTS } from "./wire/control.ts";
import { iommuCapacity } from "./kinds/mod.ts";
import { viommuBuffer } from "../devices/iommu/viommu.ts";
import { DeviceSupervisor } from "./supervisor.ts";
import {
  type Fault,
  type FaultOutcome,
  type InjectedHang,
  injectFault,
  parseFault,
} from "./faults.ts";
import { type WorkerEntries, workerEntries } from "./worker_entries.ts";
import { crashAndReboot, dropServedLinks, type RebootParts } from "./vm_reboot.ts";
import { bootSeconds, bootsInSeconds, type VmReboot } from "./snapshot_types.ts";
import { CpuPlacement, machineIdleMeter, PLACEMENT_PERIOD_MS } from "./placement.ts";
import { type NoAffinity, threadAffinity } from "./wire/affinity.ts";
import { type V8Helpers, v8Helpers } from "./v8_helpers.ts";
import { envHotMs, HOT_MS } from "./wire/loop.ts";
import { FAILED_VM_HINT, LabError, labStoppedError, vmsHint, workloadCutError } from "./errors.ts";
import { quote } from "../devices/base/quote.ts";
import { isPlainObject } from "./topology/plain.ts";
import { startAgain } from "./start_again.ts";

export { mergePcapRecords } from "./capture.ts";

/**
 * How long a lab of `vms` VMs waits for every guest to reach DRIVER_OK by default, ms: 60 s, or
 * 250 ms a VM beyond 240 VMs. A lab starts in 37–94 ms a VM here (a 128-VM star: 5 s idle, 12 s
 * loaded), so a fixed 60 s would fail a lab of a thousand VMs on a busy machine that would come up.
 *
 * @example
 * ```ts
 * import { readyTimeoutFor } from "./lab.ts";
 * readyTimeoutFor(2); // 60000
 * readyTimeoutFor(1024); // 256000
 * ```
 */
export function readyTimeoutFor(vms: number): number {
  return Math.max(60_000, vms * 250);
}

/** Options of {@linkcode Lab.start}. */
export interface LabStartOptions {
  /** Event log (defaults to memory only). */
  events?: EventLog;
  /**
   * When this run began, ms since the epoch (default: now). The runner passes the time its
   * event log file is named after, so that the file and `startedAt` agree.
   */
  startedAt?: number;
  /**
   * How long to wait for every guest to reach DRIVER_OK, ms (default
   * {@linkcode readyTimeoutFor}: 60 s, or 250 ms a VM in a larger lab).
   */
  readyTimeoutMs?: number;
  /**
   * The lab's state folder: each VM with vsock gets its host socket `<folder>/<vm>/vsock.sock`
   * (the host is CID 2). None: no host end.
   */
  stateDir?: string;
  /** A device worker whose heartbeat has not moved for this long is replaced, ms (default 1000). */
  watchdogMs?: number;
  /** Tests: leave a replaced worker alive (fenced) instead of terminating it. */
  keepReplacedWorkers?: boolean;
  /**
   * CPU placement (`placement.ts`): `auto` pins each busy VM's guest and device workers together
   * on one CPU while the lab has more busy threads than CPUs; `off` leaves every thread to the
   * scheduler. Default: `VLAB_PLACEMENT` from the environment, else `auto`.
   */
  placement?: PlacementMode;
  /**
   * How the lab's host workers (device, switch, vsock router) sleep after work: `hot`, in
   * blocking slices for {@linkcode HOT_MS} (a ring wakes them sooner and for less CPU), or
   * `async`, in `Atomics.waitAsync` at once (`wire/loop.ts`). Default:
   * {@linkcode defaultWaitMode}.
   */
  hostWait?: WaitMode;
  /**
   * How the lab's guests sleep after work: `hot`, in blocking slices for {@linkcode HOT_MS} while
   * none of their workloads could run (each one parked in a wait of the guest worker's, whose
   * timers end the blocking; `guest/parking.ts`), or `async`, always in `Atomics.waitAsync`.
   * Default: {@linkcode defaultWaitMode}.
   */
  guestWait?: WaitMode;
}

/**
 * How a lab's threads sleep after work (see {@linkcode LabStartOptions.hostWait} and
 * {@linkcode LabStartOptions.guestWait}).
 */
export type WaitMode = "hot" | "async";

/**
 * The way to wait when a caller does not say, for host workers and guests alike: `async` when
 * `VLAB_HOT_MS` is 0, else `hot` (for `VLAB_HOT_MS` ms after work, or {@linkcode HOT_MS}).
 *
 * @example
 * ```ts
 * import { defaultWaitMode } from "./lab.ts";
 * defaultWaitMode(); // "hot" unless VLAB_HOT_MS=0
 * ```
 */
export function defaultWaitMode(): WaitMode {
  return envHotMs() > 0 ? "hot" : "async";
}

/** The process's CPU placement and its timer, while some lab uses it. */
let shared: {
  placement: CpuPlacement;
  timer: ReturnType<typeof setInterval>;
  helpers: V8Helpers | null;
} | undefined;

/**
 * The process's one CPU placement (started with its timer on first use), or why there is none.
 * It also decides the priority of V8's helper threads (`v8Helpers`): idle-policy while the CPUs
 * have time left over, normal while the lab's busy threads, or anything else, saturate them.
 */
function processPlacement(): CpuPlacement | NoAffinity {
  if (shared !== undefined) return shared.placement;
  const affinity = threadAffinity();
  if ("reason" in affinity) return affinity;
  // One CPU: no lab is placed (`#startPlacement`), so nothing would say when it is saturated.
  const found = affinity.allowed.length >= 2 ? v8Helpers() : null;
  const helpers = found !== null && "idle" in found ? found : null;
  helpers?.idle(true);
  const placement = new CpuPlacement(affinity.allowed, {
    onSaturated: (saturated) => helpers?.idle(!saturated),
    idleShare: machineIdleMeter(),
  });
  const timer = setInterval(() => placement.tick(), PLACEMENT_PERIOD_MS);
  Deno.unrefTimer(timer);
  shared = { placement, timer, helpers };
  return placement;
}

/** Stop the process's placement timer (its last lab stopped) and give V8's helpers their priority back. */
function endProcessPlacement(): void {
  if (shared === undefined) return;
  clearInterval(shared.timer);
  shared.helpers?.idle(false);
  shared = undefined;
}

/** How a lab places its VMs' threads on CPUs (see {@linkcode LabStartOptions.placement}). */
export type PlacementMode = "auto" | "off";

/**
 * What a caller passed as a workload's words, for an error message (bounded): its type, or the
 * type of its first word that is no string.
 *
 * @example
 * ```ts
 * import { describeArgv } from "./lab.ts";
 * describeArgv(["ping", 3]); // "number at index 1"
 * ```
 */
export function describeArgv(argv: unknown): string {
  if (!Array.isArray(argv)) return argv === null ? "null" : typeof argv;
  if (argv.length === 0) return "an empty array";
  const bad = argv.findIndex((a) => typeof a !== "string");
  const v = argv[bad];
  return `${v === null ? "null" : typeof v} at index ${bad}`;
}

/**
 * The default {@linkcode PlacementMode}: `off` when `VLAB_PLACEMENT` is `off` (or `0`, `false`,
 * `no`, in any case), else `auto`.
 *
 * @example
 * ```ts
 * import { defaultPlacement } from "./lab.ts";
 * defaultPlacement(); // "auto" unless VLAB_PLACEMENT=off
 * ```
 */
export function defaultPlacement(): PlacementMode {
  try {
    const v = (Deno.env.get("VLAB_PLACEMENT") ?? "").trim().toLowerCase();
    return ["off", "0", "false", "no"].includes(v) ? "off" : "auto";
  } catch {
    return "auto"; // no permission to read the environment
  }
}

/**
 * `; its guest boots in 8.2 s` for a reboot whose guest waits out its boot time (`vm-crash` `ms`),
 * `; its guest boots 3.0 s after its devices power on` before that, else "": the words a refusal
 * because the VM reboots adds to its hint.
 */
function bootLeft(r: VmReboot | null): string {
  if (r === null || r.ms === 0) return "";
  if (r.phase === "boot") return `; its guest boots in ${bootsInSeconds(r)} s`;
  if (r.phase === "power-on") {
    return `; its guest boots ${bootSeconds(r)} s after its devices power on`;
  }
  return "";
}

/** State of a VM as the supervisor sees it. */
export type VmState =
  | "starting"
  | "running"
  | "restarting"
  | "resetting"
  | "failed"
  | "stopped";

/** How long the lab waits for a guest's verdict on a guest bug, ms (its loop yields every 2 ms). */
const GUEST_BUG_ANSWER_MS = 2000;
/** How long `macTable` waits for a switch worker's answer (ms). */
const SWITCH_ANSWER_MS = 2000;
/** Device workers a lab keeps spawned ahead for backend restarts. */
const STANDBY_DEVICE_WORKERS = 2;
/**
 * The most reboots (and, apart, backend restarts) {@linkcode Lab.reserveStandby} spawns workers
 * ahead for: each idle worker holds a runtime's memory; past them, a reboot refills as it goes.
 */
export const MAX_RESERVED_REBOOTS = 4;

/** Options of {@linkcode Lab.capture}. */
export interface CaptureOptions {
  /** How often the link's taps are drained, ms (the first capture of a link sets it; 20). */
  intervalMs?: number;
  /**
   * Called once if the capture ends by itself: with no argument when the lab stops, with
   * `{ error }` when `onRecords` threw, or its promise rejected (the capture stopped there: it
   * gets no more frames).
   * Without it, what `onRecords` throws is reported as an uncaught error (the process ends with
   * its stack unless a globalThis "error" listener prevents it), as an `events.subscribe`
   * listener's is; so is what `onEnd` throws. Neither stops the lab or the link's other captures.
   */
  onEnd?: (ended?: { error: unknown }) => void;
}

/** What a workload request resolves to. */
export type ExecOutcome =
  | { ok: true; result: unknown }
  // `code`: the failure's own code (`WorkloadError.code`: `no-such-cid`), `no-lab` for a
  // workload the lab's stop cut short, else `workload-failed`.
  // `partial`: what a listened-to workload had done when it failed mid-run, as the lab heard it
  // (a ping cut by a `vm-crash`: its counts, and its `text` with iputils' statistics); for one
  // the lab's stop cut short, the result it answered with (what it had measured), else, when it
  // did not answer in time, what the lab heard of it.
  | {
    ok: false;
    message: string;
    hint: string;
    code?: "no-such-cid" | "no-lab";
    partial?: unknown;
  };

/**
 * Options of {@linkcode Lab.exec} and {@linkcode Lab.spawn}.
 *
 * @example
 * ```ts ignore
 * const abort = new AbortController();
 * await lab.exec("a", ["ping", "10.0.0.2", "-c", "3"], {
 *   signal: abort.signal,
 *   onLine: (line) => console.log(line), // "64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.254 ms"
 * });
 * ```
 */
export interface ExecOptions {
  /** Stops the workload when it aborts: the call then resolves to what it had done. */
  signal?: AbortSignal;
  /**
   * Called with each line of the workload's output as it happens, on the main thread (a ping's
   * `PING` line, then a line per reply as iputils prints it). The lines are, in order, the first
   * lines of the result's `text`; its summary comes only in `text`. A workload without such
   * lines (the floods, `sink`) calls it never. Without it the guest posts no line at all. What it
   * throws is reported as an uncaught error (as an `events.subscribe` listener's is); the
   * workload runs on.
   */
  onLine?: (line: string) => void;
}

/**
 * A running lab.
 *
 * @example
 * ```ts ignore
 * import { Lab } from "./lab.ts";
 * import { planLab } from "./plan.ts";
 * import { loadTopologyFile, resolveTopologyPath } from "./topology/mod.ts";
 * const t = await loadTopologyFile(resolveTopologyPath("pair"));
 * if (t.ok) {
 *   const lab = await Lab.start(planLab(t.value));
 *   console.log(await lab.exec("a", ["ping", "10.0.0.2", "-c", "3"]));
 *   await lab.stop();
 * }
 * ```
 */
export class Lab {
  /** The plan the lab runs. */
  readonly plan: LabPlan;
  /** The event log. */
  readonly events: EventLog;
  /** Live link impairments and partitions (netem's `change`, `vlab partition`). */
  readonly links: LinkControls;
  /** When the lab was started (ms since the epoch). */
  readonly startedAt: number;
  /** Time `start` took, ms. */
  upMs = 0;
  readonly #bells: Int32Array;
  readonly #memories: SharedArrayBuffer[];
  readonly #controls: SharedArrayBuffer[];
  readonly #iommus: (SharedArrayBuffer | null)[];
  readonly #rings: LinkRing[];
  readonly #taps: TapReader[];
  /** The workers, their pending requests and statistics, and the standby device workers. */
  readonly #workers: WorkerSet;
  #stopped = false;
  /** When `stop` was called (ms since the epoch), or null while the lab runs. */
  #stoppedAt: number | null = null;
  /** Injected hangs in force, by VM (`faults.ts`: a hung device worker takes no other crash). */
  readonly #hangs = new Map<string, InjectedHang>();
  /** Mid-pass crashes armed and not yet come, by VM: the worker's epoch (`faults.ts`). */
  readonly #midPass = new Map<string, number>();
  /** The stop under way or done (`stop`). */
  #stopping: Promise<void> | undefined;
  #unplace: (() => void) | undefined;
  /** How long host workers wait hot after work, ms (`LabStartOptions.hostWait`). */
  #hostHotMs = HOT_MS;
  /** How long guests wait hot after work, ms (`LabStartOptions.guestWait`). */
  #guestHotMs = HOT_MS;
  /** Each VM's host vsock socket (`vsockSocket`), by VM name. */
  readonly #vsockSockets = new Map<string, string>();
  /** Each link's state as the user set it (`setLink`). */
  #linkUp = new Map<string, boolean>();
  /**
   * Net links with a VM at an end that crashed and has not rebooted yet (or whose guest worker
   * failed), with those VMs: no carrier, as a cable to a machine that lost power (`#setCarrier`). A link is up when the user
   * set it up and it has carrier.
   */
  readonly #noCarrier = new Map<string, Set<string>>();
  readonly #captures = new Map<string, LinkCapture>();
  /** Replaces dead or hung device workers; tracks `restarting` and `resetting` VMs. */
  readonly #supervisor: DeviceSupervisor;
  /** Each VM's guest start message (a reboot after `vm-crash` boots the guest from it). */
  readonly #guestStarts = new Map<string, VmStart>();
  /** VMs rebooting after `vm-crash`: name → when the crash was (performance.now, ms). */
  readonly #rebooting = new Map<string, number>();
  /**
   * Where each VM's latest reboot after `vm-crash` is (`rebootOf`): its boot time, its phase and
   * when that began (performance.now, ms). Read only while the VM is in `#rebooting`.
   */
  readonly #reboots = new Map<string, { bootMs: number; phase: VmReboot["phase"]; at: number }>();
  /** Guests' boot times under way (`vm-crash --ms`): each ends its wait, early when the lab stops. */
  readonly #bootWaits = new Set<() => void>();
  /** Guest workers kept spawned ahead: none until a VM first crashes (`vm-crash`), then one. */
  #guestStandbyWanted = 0;
  /** The timer of the next standby worker to spawn after a reboot (`#refillStandby`). */
  #refillTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * Workloads in flight: request id → its guest, so that `stop` can ask each to finish, and
   * `stopping`, which marks it cut short by the stop (its answer is then no whole run).
   */
  readonly #execs = new Map<
    number,
    { handle: WorkerHandle; done: Promise<unknown>; stopping: () => void }
  >();

  /** Where this lab's workers load their code from (bundles, or the sources). */
  readonly #entries: WorkerEntries;
  /** What the helpers of `vm_reboot.ts` need of the lab. */
  readonly #rebootParts: RebootParts;

  private constructor(
    plan: LabPlan,
    events: EventLog,
    entries: WorkerEntries,
    startedAt: number,
  ) {
    this.plan = plan;
    this.#entries = entries;
    this.events = events;
    this.startedAt = startedAt;
    this.#bells = createDoorbells(plan.threads.length);
    this.#memories = plan.vms.map((vm) => new SharedArrayBuffer(vm.memoryBytes));
    this.#controls = plan.vms.map((vm) => new SharedArrayBuffer(vm.controlBytes));
    this.#rebootParts = { plan, controls: this.#controls, bells: this.#bells };
    this.#iommus = plan.vms.map((vm) => {
      const d = vm.devices.find((d) => d.kind === "iommu");
      return d?.kind === "iommu" ? viommuBuffer(iommuCapacity(d)) : null;
    });
    this.#rings = plan.rings.map((r) => LinkRing.create(r.slots, r.slotBytes, r.framePhase));
    this.#taps = plan.rings.map((r) => {
      const { snaplen } = ringCaptureFormat(r);
      return TapReader.create(tapCapacity(snaplen), snaplen);
    });
    this.#workers = new WorkerSet(this.#bells, {
      stopped: () => this.#stopped,
      startAgain: () => startAgain(plan),
      // The lab goes on without it: a reboot or restart that finds none constructs its worker.
      standbyFailed: (worker, message) =>
        this.events.emit("standby-failed", plan.name, { worker, message }),
      event: (h, kind, detail) => {
        // A guest hears only the endpoint of a refused access; the vIOMMU's logs say who.
        const by = kind === "iommu-fault" ? this.#faultConsumer(h.owner, detail) : null;
        const d = by === null ? detail : { ...detail, by };
        if (this.#supervisor.noteEvent(h.owner, kind, d)) this.events.emit(kind, h.owner, d);
      },
      failed: (h, message, hint) => {
        if (h.kind === "guest") {
          // A failed guest serves its vhost-pci links no more: each frontend takes its link down
          // (it stayed up with nobody serving it), and the vIOMMUs it served through stop waiting
          // for it, as for a crashed VM.
          dropServedLinks(
            this.#rebootParts,
            h.owner,
            this.events,
            "guest-failed",
            (i) => this.iommuOf(i),
          );
          // Nor does it refill its receive rings: its links lose their carrier for good, as
          // a crashed VM's do until it reboots, so that its peers drop what they send to it
          // (`link down`) instead of stalling on a link ring it never drains.
          this.#setCarrier(h.owner, false, "guest-failed");
        }
        const detail = hint === undefined ? { message } : { message, hint };
        this.events.emit(`${h.kind}-failed`, h.owner, detail);
      },
    });
    for (const link of plan.links) this.#linkUp.set(link.name, true);
    for (const link of plan.vhostPciLinks ?? []) this.#linkUp.set(link.name, true);
    this.links = new LinkControl(plan, events, (kind, owner, message) => {
      const w = this.#workers.find(owner, kind);
      if (w) this.#workers.postControl(w, message);
    }, () => this.#stopped);
    this.#supervisor = new DeviceSupervisor({
      plan,
      events,
      bells: this.#bells,
      controls: this.#controls,
      stopped: () => this.#stopped,
      spawn: (vm, start) => this.#spawnDevice(vm, start),
      take: (vm) => this.#workers.take(vm, "device")?.worker,
      // What a replacement must know (links down, partitions) acts on its next pass too.
      post: (vm, m) => {
        const w = this.#workers.find(vm, "device");
        if (w) this.#workers.postControl(w, m);
      },
      linkUp: (link) => this.#linkUp.get(link) ?? true,
      cuts: () => this.links.cuts(),
      vsockCuts: () => this.links.vsockCuts(),
      ringImpairment: (ring) => this.links.ringImpairment(ring),
    });
  }

  /** Start a planned lab; resolves when every guest has brought its NICs up. */
  static async start(plan: LabPlan, options: LabStartOptions = {}): Promise<Lab> {
    const t0 = performance.now();
    const startedAt = options.startedAt ?? Date.now();
    const entries = await workerEntries();
    const lab = new Lab(plan, options.events ?? new EventLog(null), entries, startedAt);
    if (entries.reason !== undefined) {
      lab.events.emit("workers-from-sources", plan.name, { reason: entries.reason });
    }
    if (options.stateDir !== undefined) {
      for (const vm of plan.vms) {
        if (!vm.devices.some((d) => d.kind === "vsock")) continue;
        Deno.mkdirSync(`${options.stateDir}/${vm.name}`, { recursive: true, mode: 0o700 });
        lab.#vsockSockets.set(vm.name, `${options.stateDir}/${vm.name}/vsock.sock`);
      }
    }
    lab.#supervisor.keepReplaced = options.keepReplacedWorkers ?? false;
    const hotMs = (mode: WaitMode | undefined) =>
      (mode ?? defaultWaitMode()) === "hot" ? envHotMs() || HOT_MS : 0;
    lab.#hostHotMs = hotMs(options.hostWait);
    lab.#guestHotMs = hotMs(options.guestWait);
    try {
      await lab.#spawnAll(options.readyTimeoutMs ?? readyTimeoutFor(plan.vms.length));
    } catch (e) {
      await lab.stop();
      throw e;
    }
    lab.#supervisor.start(options.watchdogMs ?? 1000);
    lab.#startPlacement(options.placement ?? defaultPlacement());
    lab.#warmStandby();
    lab.upMs = performance.now() - t0;
    // Counted as `vlab up` and `vlab validate` print them: every link (vhost-pci links have no
    // rings, so they are not in `plan.links`), and vsock routers apart from switches.
    const routers = plan.switches.filter((sw) => sw.vsockCids !== undefined).length;
    lab.events.emit("lab-up", plan.name, {
      // The event log outlives the lab: it says which seed to rerun it with.
      seed: plan.seed,
      vms: plan.vms.length,
      switches: plan.switches.length - routers,
      routers,
      links: plan.links.length + (plan.vhostPciLinks?.length ?? 0),
      upMs: Math.round(lab.upMs),
      workers: entries.bundled ? "bundles" : "sources",
      // Part of upMs: finding the bundles (building them, the first time after an edit).
      workersMs: Math.round(entries.ms),
    });
    return lab;
  }

  /**
   * Start placing the VMs' threads on CPUs (see `placement.ts`), unless `off` or impossible: in
   * the process's one placement, which every lab of the process shares.
   */
  #startPlacement(mode: PlacementMode): void {
    if (mode === "off" || this.plan.vms.length === 0) return;
    const placement = processPlacement();
    if ("reason" in placement) {
      this.events.emit("placement-off", this.plan.name, { reason: placement.reason });
      return;
    }
    if (placement.cpus.length < 2) return; // one CPU: nothing to choose
    const remove = placement.add({
      bells: this.#bells,
      vms: this.plan.vms.map((v) => ({ vm: v.name, threads: [v.guestThread, v.deviceThread] })),
      onChange: (next) => this.events.emit("placement", this.plan.name, Object.fromEntries(next)),
    });
    this.#unplace = () => {
      remove();
      if (placement.labs === 0) endProcessPlacement();
    };
  }

  #workerRing(ring: RingPlan): WorkerRing {
    return {
      index: ring.index,
      buffer: this.#rings[ring.index].buffer,
      tap: this.#taps[ring.index].buffer,
      consumerThread: ring.consumer.thread,
      producerThread: ring.producer.thread,
      impair: this.links.ringImpairment(ring.index),
      seed: ring.seed,
      consumerMac: consumerMac(this.plan, ring),
      label: ring.seedLabel,
    };
  }

  async #spawnAll(timeoutMs: number): Promise<void> {
    const ready: Promise<void>[] = [];
    const urls = this.#entries.urls;
    for (const vm of this.plan.vms) {
      const rings = this.plan.rings.filter((r) =>
        (r.producer.kind !== "switch" && r.producer.vm === vm.name) ||
        (r.consumer.kind !== "switch" && r.consumer.vm === vm.name)
      ).map((r) => this.#workerRing(r));
      const base: Omit<VmStart, "thread"> = {
        type: "start",
        vm: vm.name,
        seed: vm.seed,
        guestThread: vm.guestThread,
        deviceThread: vm.deviceThread,
        pollUs: vm.pollUs,
        memory: this.#memories[vm.index],
        control: this.#controls[vm.index],
        iommu: this.#iommus[vm.index],
        doorbells: this.#bells.buffer as SharedArrayBuffer,
        devices: vm.devices,
        layout: vm.control,
        rings,
        vsockSocket: this.#vsockSockets.get(vm.name) ?? null,
        epoch: 0,
        restore: false,
      };
      const deviceStart: VmStart = { ...base, thread: vm.deviceThread, hotMs: this.#hostHotMs };
      this.#supervisor.setStart(vm.name, deviceStart);
      ready.push(this.#spawnDevice(vm.name, deviceStart));
      const guestStart: VmStart = {
        ...base,
        thread: vm.guestThread,
        rings: [],
        frontends: this.#frontendsOf(vm.name),
        hotMs: this.#guestHotMs,
      };
      this.#guestStarts.set(vm.name, guestStart);
      ready.push(this.#spawnGuest(vm.name, guestStart));
    }
    for (const sw of this.plan.switches) {
      const stats = new SharedArrayBuffer(THREAD_STATS_SLOTS * 8);
      const start: SwitchStart = {
        type: "start",
        name: sw.name,
        thread: sw.thread,
        doorbells: this.#bells.buffer as SharedArrayBuffer,
        portsMax: sw.portsMax,
        ports: sw.ports.map((p) => ({
          link: p.link,
          rx: this.#workerRing(this.plan.rings[p.rxRing]),
          tx: this.#workerRing(this.plan.rings[p.txRing]),
        })),
        stats,
        ...(sw.vsockCids ? { vsockCids: sw.vsockCids } : {}),
        hotMs: this.#hostHotMs,
      };
      const entry = sw.vsockCids ? urls.vsockRouter : urls.switch;
      ready.push(this.#workers.spawn(entry, {
        thread: sw.thread,
        owner: sw.name,
        kind: "switch",
        stats: new Float64Array(stats),
      }, start));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`The lab did not come up within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
    });
    try {
      // Each worker marks its thread RUNNING before it says ready (see the worker entries).
      await Promise.race([Promise.all(ready), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Keep {@linkcode STANDBY_DEVICE_WORKERS} device workers spawned ahead, with every device kind
   * of the plan loaded, for backend restarts (`WorkerSet.warmStandby`).
   */
  #warmStandby(): void {
    if (this.#stopped || this.plan.vms.length === 0) return;
    const kinds = new Set(this.plan.vms.flatMap((v) => v.devices.map((d) => d.kind)));
    this.#workers.warmStandby(this.#entries.urls.device, [...kinds], STANDBY_DEVICE_WORKERS);
  }

  /**
   * Spawn ahead the workers that `reboots` reboots after `vm-crash` and `restarts` backend
   * restarts will take (each at most {@linkcode MAX_RESERVED_REBOOTS}), beyond the ones the lab
   * keeps: a reboot then constructs no `Worker` (each blocks the main thread 10 to 105 ms on a
   * loaded 2-core machine) and spawns none back while these last. One worker an event-loop turn,
   * device workers first: the lab's timers and control socket answer between them (all in one turn
   * held them about 1 s for the largest reservation). Resolves once all are spawned (fewer when
   * one could not be constructed: a `standby-failed` event says why, or when the lab stopped).
   * The drill runner awaits it before its timeline starts, with the runs of its timeline's faults.
   *
   * @example
   * ```ts ignore
   * await lab.reserveStandby({ reboots: 2, restarts: 0 }); // 3 guests, 4 device workers ahead
   * ```
   */
  async reserveStandby(counts: { reboots: number; restarts: number }): Promise<void> {
    const cap = (n: number) => Math.min(MAX_RESERVED_REBOOTS, Math.max(0, Math.floor(n)));
    const reboots = cap(counts.reboots);
    if (this.#stopped || this.plan.vms.length === 0 || reboots + cap(counts.restarts) === 0) {
      return;
    }
    const kinds = [...new Set(this.plan.vms.flatMap((v) => v.devices.map((d) => d.kind)))];
    const devices = STANDBY_DEVICE_WORKERS + reboots + cap(counts.restarts);
    // One more guest than reboots: the last reboot leaves the one a lab keeps after a crash, and
    // spawns none back while the drill runs.
    const guests = reboots > 0 ? reboots + 1 : 0;
    if (reboots > 0) this.#guestStandbyWanted = 1;
    // A device worker that could not be constructed ends the device ones, not the guests. No more
    // constructions than workers wanted: workers that fail as they load (`onerror`) loop no more.
    let devicesFailed = false;
    for (let spawns = 0; spawns < devices + guests; spawns++) {
      if (this.#stopped) return;
      const haveDevices = this.#workers.standbyCount("device");
      const haveGuests = this.#workers.standbyCount("guest");
      if (!devicesFailed && haveDevices < devices) {
        devicesFailed = !this.#workers.warmStandby(
          this.#entries.urls.device,
          kinds,
          haveDevices + 1,
        );
      } else if (haveGuests < guests) {
        if (!this.#workers.warmGuestStandby(this.#entries.urls.guest, haveGuests + 1)) return;
      } else return;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /**
   * Spawn back, after a reboot, the standby workers it took: one a turn, each in a turn of its own
   * (a `Worker` blocks the main thread while its runtime is made), none while a VM still reboots
   * (the last reboot's end spawns them).
   */
  #refillStandby(): void {
    if (this.#stopped || this.#refillTimer !== undefined || this.#rebooting.size > 0) return;
    const kinds = [...new Set(this.plan.vms.flatMap((v) => v.devices.map((d) => d.kind)))];
    const next = () => {
      this.#refillTimer = undefined;
      if (this.#stopped || this.#rebooting.size > 0) return;
      const guests = this.#workers.standbyCount("guest");
      const devices = this.#workers.standbyCount("device");
      let spawned: boolean;
      if (guests < this.#guestStandbyWanted) {
        spawned = this.#workers.warmGuestStandby(this.#entries.urls.guest, guests + 1);
      } else if (devices < STANDBY_DEVICE_WORKERS) {
        spawned = this.#workers.warmStandby(this.#entries.urls.device, kinds, devices + 1);
      } else return;
      // One that could not be constructed (a `standby-failed` event says why) is not tried again
      // every turn: the next reboot's end tries again.
      if (spawned) this.#refillTimer = setTimeout(next, 0);
    };
    this.#refillTimer = setTimeout(next, 0);
  }

  /** What VM `name`'s guest worker reaches of the VMs whose NICs it serves (vhost-pci). */
  #frontendsOf(name: string): VhostPciFrontendMemory[] {
    const out: VhostPciFrontendMemory[] = [];
    for (const l of this.plan.vhostPciLinks ?? []) {
      if (l.peer.vm !== name || out.some((f) => f.vm === l.frontend.vm)) continue;
      const a = this.plan.vms.find((v) => v.name === l.frontend.vm)!;
      out.push({
        vm: a.name,
        memory: this.#memories[a.index],
        control: this.#controls[a.index],
        layout: a.control,
        iommu: this.#iommus[a.index],
      });
    }
    return out;
  }

  /**
   * Start VM `vm`'s guest worker from `start`, in `standby` when given (a reboot's), as the
   * generation its thread is at (a `vm-crash` ended the one before: `lab/wire/fence.ts`).
   */
  #spawnGuest(vm: string, start: VmStart, standby?: Worker): Promise<void> {
    const v = this.plan.vms.find((x) => x.name === vm)!;
    const generation = guestGeneration(this.#bells, v.guestThread);
    return this.#workers.spawn(
      this.#entries.urls.guest,
      {
        thread: v.guestThread,
        owner: vm,
        kind: "guest",
        stats: new Float64Array(this.#controls[v.index], v.control.guestStats, THREAD_STATS_SLOTS),
      },
      { ...start, generation },
      undefined,
      standby,
    );
  }

  #spawnDevice(vm: string, start: VmStart): Promise<void> {
    const v = this.plan.vms.find((x) => x.name === vm)!;
    // A backend restart's successor, or a reboot's power-on worker, takes one spawned ahead. A
    // restart spawns it back at once; a reboot once it is over (`#refillStandby`).
    const standby = start.restore || start.reboot ? this.#workers.takeStandby() : undefined;
    if (standby !== undefined && start.restore) queueMicrotask(() => this.#warmStandby());
    return this.#workers.spawn(
      this.#entries.urls.device,
      {
        thread: v.deviceThread,
        owner: vm,
        kind: "device",
        stats: new Float64Array(this.#controls[v.index], v.control.deviceStats, THREAD_STATS_SLOTS),
      },
      start,
      (message) => this.#supervisor.replace(vm, "exit", message),
      standby,
    );
  }

  /**
   * Inject a fault (`vlab fault …`, `POST /faults`): see `faults.ts` for the kinds. Every fault
   * is an event; the outcome says why the lab could not inject one (`unknown-vm`,
   * `vm-not-running`, `lab-stopping`, …). It resolves once the fault is in place: for a guest
   * bug, once the guest said whether it wrote it. `f` is checked as a request's body is
   * (`parseFault`), since a script's object may be anything at run time: one that is no object
   * rejects with a `TypeError`, one the lab cannot read (an unknown kind, a key the kind does not
   * take, a value of the wrong type or range) with a `LabError` `bad-fault` that names the key.
   */
  // Async: a refused argument rejects, as every answer of it comes as a promise.
  // deno-lint-ignore require-await
  async fault(f: Fault): Promise<FaultOutcome> {
    // A plain object: a Map's entries are no keys (it read as a fault that "names no kind").
    expectArg(
      isPlainObject(f),
      `lab.fault: fault must be an object such as { kind: "backend-crash", vm: "a" }, got ${
        typeName(f)
      }`,
    );
    const parsed = parseFault(f);
    // A script's mistake, not the lab's refusal: a result it might not read would drop it.
    if (!parsed.ok) throw new LabError("bad-fault", parsed.message, parsed.hint);
    if (this.#stopped) {
      return Promise.resolve({
        ok: false,
        code: "lab-stopping",
        message: `Cannot inject a fault: lab "${this.plan.name}" is stopped or stopping`,
        // Asked by the control socket (the CLI) or by a script's `lab.lab.fault`.
        hint: `Start it again with ${startAgain(this.plan)}`,
      });
    }
    return injectFault(parsed.value, {
      plan: this.plan,
      vmState: (vm) => this.vmState(vm),
      control: (index) => this.#controls[index],
      post: (vm, kind, m) => {
        const w = this.#workers.find(vm, kind);
        w?.worker.postMessage(m);
        return w !== undefined;
      },
      emit: (kind, subject, detail) => this.events.emit(kind, subject, detail),
      askGuestBug: (vm, bug) => this.#askGuestBug(vm, bug),
      hangs: this.#hangs,
      midPass: this.#midPass,
      crashVm: (vm, bootMs) => this.#crashVm(vm, bootMs),
      bootLeft: (vm) => bootLeft(this.rebootOf(vm)),
    });
  }

  /**
   * `vm-crash`: crash VM `vm` and reboot it, as a hypervisor with a restart policy does
   * (`crashAndReboot` in `vm_reboot.ts`, docs/design.md), its guest booting `bootMs` after its
   * devices are back. The VM is `restarting` meanwhile.
   */
  #crashVm(vm: string, bootMs: number): void {
    this.#reboots.set(vm, { bootMs, phase: "power-on", at: performance.now() });
    // A lab that crashed a VM keeps a guest worker spawned ahead for the next reboot.
    this.#guestStandbyWanted = 1;
    void crashAndReboot(vm, {
      bootMs,
      wait: (ms) => this.#bootWait(ms),
      phase: (phase) => this.#reboots.set(vm, { bootMs, phase, at: performance.now() }),
      parts: this.#rebootParts,
      workers: this.#workers,
      events: this.events,
      rebooting: this.#rebooting,
      iommuOf: (i) => this.iommuOf(i),
      powerCycle: (name, between) => this.#supervisor.powerCycle(name, between),
      // A guest spawned ahead, if any: constructing one here blocked the main thread.
      bootGuest: (name) =>
        this.#spawnGuest(name, this.#guestStarts.get(name)!, this.#workers.takeStandby("guest")),
      stopped: () => this.#stopped,
      linkUp: (link) => this.#linkUp.get(link) ?? false,
      carrier: (up) => this.#setCarrier(vm, up),
      cuts: () => this.links.cuts(),
    }).then(() => this.#refillStandby());
  }

  /**
   * Where VM `vm`'s reboot after `vm-crash` is (its devices powering on, its guest waiting out its
   * boot time, its guest starting), while it reboots; null when it does not (`vlab status` and
   * the dashboard say it). A name the lab has no VM of is null too.
   */
  rebootOf(vm: string): VmReboot | null {
    const r = this.#reboots.get(vm);
    if (r === undefined || !this.#rebooting.has(vm) || this.#stopped) return null;
    return {
      ms: r.bootMs,
      phase: r.phase,
      ...(r.phase === "boot"
        ? { bootsInMs: Math.max(0, Math.round(r.at + r.bootMs - performance.now())) }
        : {}),
    };
  }

  /**
   * Resolves after `ms`, or at once when the lab stops (a rebooting guest's boot time, its wait
   * for the old guest's sections: `oldGuestOut`). Never before `ms`: its timer is given `ms`
   * rounded up to whole ms (Deno truncates a fractional delay).
   */
  #bootWait(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    const done = () => {
      clearTimeout(timer);
      this.#bootWaits.delete(done);
      resolve();
    };
    const timer = setTimeout(done, Math.ceil(ms));
    this.#bootWaits.add(done);
    return promise;
  }

  /**
   * Ask VM `vm`'s guest to write a guest bug and await its verdict: null when written, else why
   * it refused (a queue being reset or already broken, no room for the bug, no answer in time).
   */
  async #askGuestBug(
    vm: string,
    bug: { device: number; queue: number; bug: GuestFaultKind },
  ): Promise<string | { message: string; hint: string } | { busy: string } | null> {
    const handle = this.#guest(vm);
    if (!handle) return `Cannot inject ${bug.bug}: VM "${vm}" has no guest worker`;
    const m = await this.#workers.requestWithin(
      handle,
      { type: "guest-bug", id: this.#workers.nextId(), ...bug },
      GUEST_BUG_ANSWER_MS,
    );
    if (m === null) {
      return `Cannot tell whether ${bug.bug} was written: VM "${vm}"'s guest did not answer within ${GUEST_BUG_ANSWER_MS} ms`;
    }
    if (m.type === "exec-result" && !m.ok) {
      // Not the guest's verdict: it crashed (`vm-crash`) or failed before it answered.
      return { message: `Cannot inject ${bug.bug}: ${m.message}`, hint: m.hint };
    }
    if (m.type !== "guest-bug-result") return `Cannot inject ${bug.bug}: the lab stopped`;
    return m.busy && m.refused !== null ? { busy: m.refused } : m.refused;
  }

  /** Whether `stop` has been called (by a script, `POST /down` or a signal): the lab is going or gone. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * How the lab's threads sleep after work, as {@linkcode LabStartOptions.hostWait} and
   * {@linkcode LabStartOptions.guestWait} (or their default) chose: `hot` or `async`.
   */
  get waits(): { host: WaitMode; guest: WaitMode } {
    const mode = (hotMs: number): WaitMode => hotMs > 0 ? "hot" : "async";
    return { host: mode(this.#hostHotMs), guest: mode(this.#guestHotMs) };
  }

  /**
   * How long the lab has run, in seconds to a tenth: until now, or, once `stop` was called, until
   * then (a stopped lab's status and metrics keep the length of its run, not the time since).
   */
  uptimeSeconds(): number {
    return Math.round(((this.#stoppedAt ?? Date.now()) - this.startedAt) / 100) / 10;
  }

  /**
   * Why VM `vm` is `failed`: which of its workers failed, its message and, when the worker said
   * what to do, its hint (a guest driver that could not start its device); null while none has.
   */
  vmFailure(vm: string): { worker: "guest" | "device"; message: string; hint?: string } | null {
    const h = this.#workers.all.find((w) =>
      w.owner === vm && w.failed !== null && w.kind !== "switch"
    );
    if (h === undefined || h.failed === null || h.kind === "switch") return null;
    const hint = h.failedHint;
    return { worker: h.kind, message: h.failed, ...(hint === undefined ? {} : { hint }) };
  }

  /**
   * The state of a VM. A name the lab has no VM of is a `LabError` (`unknown-vm`; it answered
   * "stopped", as if there were one), a name that is no string a `TypeError`.
   */
  vmState(vm: string): VmState {
    const v = this.plan.vms.find((x) => x.name === vm);
    if (!v) {
      expectString("lab.vmState", "vm", vm, 'a VM\'s name, as "a"');
      throw new LabError(
        "unknown-vm",
        `The lab has no VM ${quote(vm)}`,
        vmsHint(this.plan.vms.map((x) => x.name)),
      );
    }
    const handles = this.#workers.all.filter((w) => w.owner === vm);
    if (handles.some((w) => w.failed !== null)) return "failed";
    if (this.#rebooting.has(vm) && !this.#stopped) return "restarting";
    const recovering = this.#stopped ? null : this.#supervisor.state(vm);
    if (recovering !== null) return recovering;
    const states = [v.guestThread, v.deviceThread].map((t) =>
      readDoorbellWord(this.#bells, t, DoorbellWord.STATE)
    );
    if (states.some((s) => s === ThreadState.FAILED)) return "failed";
    if (states.every((s) => s === ThreadState.RUNNING)) return "running";
    if (states.every((s) => s === ThreadState.STOPPED)) return "stopped";
    return "starting";
  }

  /**
   * Named statistics of every worker. A device worker's statistics are counts since the lab
   * started: a replaced worker's last values plus its successor's (`WorkerSet.stats`).
   */
  workerStats(): { kind: string; owner: string; stats: Record<string, number> }[] {
    return this.#workers.stats();
  }

  /** Which consumer of VM `vm`'s vIOMMU made the access an `iommu-fault` event reports. */
  #faultConsumer(vm: string, detail: Record<string, unknown>): string | null {
    const i = this.plan.vms.findIndex((v) => v.name === vm);
    const spec = this.plan.vms[i]?.devices.find((d) => d.kind === "iommu");
    const buffer = this.iommuOf(i);
    return spec?.kind === "iommu" && buffer !== null
      ? faultConsumer(buffer, spec, vm, detail)
      : null;
  }

  /** The vIOMMU tables of a VM (IOTLB counters and faults are read from them), or null. */
  iommuOf(vm: number): SharedArrayBuffer | null {
    return this.#iommus[vm] ?? null;
  }

  /** The control block of a VM (counters are read from it). */
  controlOf(vm: number): SharedArrayBuffer {
    return this.#controls[vm];
  }

  /**
   * The guest memory of a VM, for tests and fault drills (a test corrupts a ring in it to check
   * that the device, not the lab, pays for it). Throws a `RangeError` for an unknown VM.
   */
  memoryOf(vm: string): SharedArrayBuffer {
    const v = this.plan.vms.find((x) => x.name === vm);
    if (!v) throw new RangeError(`no VM ${vm}`);
    return this.#memories[v.index];
  }

  /** A link ring (for its counters). */
  ring(index: number): LinkRing {
    return this.#rings[index];
  }

  /** The capture tap's counters of a link ring (frames and bytes captured, frames it dropped). */
  tapCounters(index: number): TapCounters {
    return this.#taps[index].counters();
  }

  /** Doorbell words of a thread (state, heartbeat, wake-ups). */
  threadWord(thread: number, word: number): number {
    return readDoorbellWord(this.#bells, thread, word);
  }

  /**
   * The CPU VM `vm`'s guest and device workers are placed on (`placement.ts`), or null while they
   * run wherever the scheduler puts them.
   */
  vmCpu(vm: string): number | null {
    const v = this.plan.vms.find((x) => x.name === vm);
    return v === undefined ? null : cpuOf(this.#bells, v.guestThread);
  }

  /**
   * Whether a link is up: the user set it up (`setLink`) and it has carrier (no VM at one of its
   * ends is down after a `vm-crash`).
   */
  linkUp(link: string): boolean {
    return (this.#linkUp.get(link) ?? false) && !this.#noCarrier.has(link);
  }

  #guest(vm: string): WorkerHandle | undefined {
    return this.#workers.find(vm, "guest");
  }

  /**
   * Run a workload in a VM's guest (`argv` as typed after `vlab exec VM --`) and await its result.
   * `options` is an `AbortSignal` (stop it) or {@linkcode ExecOptions} (`signal`, and `onLine`
   * for its lines as they happen). Stopped by `signal`, it answers what it had measured as its
   * result; cut short by the lab's stop, as a failure (`code` `no-lab`, that as `partial`).
   */
  async exec(
    vm: string,
    argv: string[],
    options?: AbortSignal | ExecOptions,
  ): Promise<ExecOutcome> {
    // A VM that is no name, a signal that is no AbortSignal: the script's bug, a TypeError (a
    // signal failed deep inside with "addEventListener is not a function").
    expectString("lab.exec", "vm", vm, 'a VM\'s name, as "a"');
    const { signal, onLine } = expectExecOptions("lab.exec", options);
    // A script may hand anything in (this is the library's entry point): refuse it here, in words.
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
      return {
        ok: false,
        message: `Cannot run a workload: its words must be a non-empty array of strings, got ${
          describeArgv(argv)
        }`,
        hint: 'Pass them as typed after `vlab exec VM --`, e.g. ["ping", "10.0.0.2", "-c", "3"]',
      };
    }
    if (this.#rebooting.has(vm) && !this.#stopped) {
      return {
        ok: false,
        message:
          `Cannot run a workload: VM "${vm}" crashed and is rebooting (its guest is not running)`,
        hint: `Wait for its vm-restarted event (or \`vlab status\` showing it running${
          bootLeft(this.rebootOf(vm))
        }), then run it again`,
      };
    }
    const handle = this.#guest(vm);
    if (!handle) {
      return {
        ok: false,
        message: `Cannot run a workload: the lab has no VM "${vm}"`,
        hint: vmsHint(this.plan.vms.map((v) => v.name)),
      };
    }
    if (this.#stopped) {
      return {
        ok: false,
        message: `Cannot run a workload: lab "${this.plan.name}" is stopped or stopping`,
        hint: `Start it again with ${startAgain(this.plan)}`,
      };
    }
    if (!guestServes(this.vmState(vm))) {
      const state = this.vmState(vm);
      return {
        ok: false,
        message: `Cannot run a workload: VM "${vm}" ${
          state === "failed" ? "has failed" : `is ${state}`
        }`,
        hint: state === "failed" ? FAILED_VM_HINT : "See `vlab status` and the event log",
      };
    }
    const id = this.#workers.nextId();
    // Who cut the run short first: the caller (`signal`: it asked for what it had so far) or the
    // lab's stop (its result is then no whole run, and is answered as a failure: `cut` below).
    let cutBy: "signal" | "lab-stopped" | null = null;
    const onAbort = () => {
      cutBy ??= "signal";
      handle.worker.postMessage({ type: "cancel", id } satisfies ToWorker);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    // What a listened-to workload said, to answer with when its guest cannot (a `vm-crash`).
    const tally = onLine === undefined ? undefined : new ExecTally();
    // A listener's error is its script's, reported as uncaught; the workload and the lab go on.
    const heard = onLine === undefined || tally === undefined ? undefined : {
      line: (line: string) => {
        tally.line(line);
        try {
          onLine(line);
        } catch (e) {
          queueMicrotask(() => reportError(e));
        }
      },
      progress: (p: unknown) => tally.progress(p),
    };
    const reply = this.#workers.request(
      handle,
      { type: "exec", id, argv, ...(heard !== undefined ? { lines: true } : {}) },
      heard,
    );
    // Cancelled before it started: it starts and is cancelled at once, as if cancelled now.
    if (signal?.aborted) onAbort();
    this.#execs.set(id, { handle, done: reply, stopping: () => cutBy ??= "lab-stopped" });
    try {
      const m = await reply;
      if (m.type !== "exec-result") throw new Error("unexpected reply");
      // The lab's stop cancelled it, or answered it (`answerPending`): what it answers is what it
      // had done when the lab stopped, never a whole run.
      if (cutBy === "lab-stopped") {
        return this.#cut(m.ok ? m.result : tally?.partial() ?? undefined);
      }
      const partial = m.ok ? null : tally?.partial() ?? null;
      return m.ok ? { ok: true, result: m.result } : {
        ok: false,
        message: m.message,
        hint: this.#refusedHint(m.refusedBy) ?? m.hint,
        code: m.code,
        ...(partial !== null ? { partial } : {}),
      };
    } finally {
      this.#execs.delete(id);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * The outcome of a workload the lab's stop cut short (`vlab down`, `lab.stop()`, a signal to
   * the lab's process): a failure (`no-lab`) with `partial`, what it had done then, so that no
   * caller takes the rest of a run for the whole of it (a `ping -c 100` cut at 15 read as a run
   * of 15 that ended well).
   */
  #cut(partial: unknown): ExecOutcome {
    const { message, hint } = workloadCutError(this.plan.name, startAgain(this.plan));
    return {
      ok: false,
      code: "no-lab",
      message,
      hint,
      ...(partial !== undefined && partial !== null ? { partial } : {}),
    };
  }

  /**
   * Why VM `cid`'s vsock device refused a connection, when the lab knows better than the guest
   * that asked (which heard only RST): that VM reboots after `vm-crash`, its device running with
   * no driver (and none of its old listeners coming back). Null otherwise.
   */
  #refusedHint(cid: number | undefined): string | null {
    if (cid === undefined) return null;
    const vm = this.plan.vms.find((v) =>
      v.devices.some((d) => d.kind === "vsock" && d.cid === cid)
    );
    if (
      vm === undefined || this.vmState(vm.name) !== "restarting" || !this.#rebooting.has(vm.name)
    ) {
      return null;
    }
    const r = this.rebootOf(vm.name);
    const left = bootLeft(r);
    return `VM ${quote(vm.name)} (CID ${cid}) crashed and is rebooting${
      left === "" ? "" : ` (${left.slice(2)})`
    }: until its guest ` +
      "runs, its vsock device has no driver and refuses every connection. Once `vlab status` " +
      "shows it running, start a listener there again (the rebooted guest runs none of the old " +
      "ones), then connect";
  }

  /**
   * Start a workload in a VM's guest and resolve once it runs (a `sink`'s or `udp-echo`'s port
   * is bound, a `vsock-sink` listens), with `result`, which resolves at its end as `exec` does.
   * A guest handles requests in order and starts each workload as it receives it, so the answer
   * to a request sent after it proves it started. A sink started this way misses no datagram of
   * a flood started afterwards, where one started with `exec` races the flood.
   * `started` is false when the workload never ran (a port already bound, bad words, a stopped
   * lab): its failure, which `result` holds, came back before that answer. `options` as `exec`'s.
   */
  async spawn(
    vm: string,
    argv: string[],
    options?: AbortSignal | ExecOptions,
  ): Promise<{ result: Promise<ExecOutcome>; started: boolean }> {
    expectString("lab.spawn", "vm", vm, 'a VM\'s name, as "a"');
    const checked = expectExecOptions("lab.spawn", options);
    let failed = false;
    const result = this.exec(vm, argv, checked).then((r) => {
      failed = !r.ok;
      return r;
    });
    await this.inspect(vm);
    // The failure's reply came before the inspect's; a microtask turn lets its `then` run.
    await Promise.resolve();
    return { result, started: !failed };
  }

  /** What a guest reports about itself (NIC link state, ARP cache). */
  async inspect(vm: string): Promise<unknown> {
    expectString("lab.inspect", "vm", vm, 'a VM\'s name, as "a"');
    const handle = this.#guest(vm);
    if (!handle || this.#rebooting.has(vm) || !guestServes(this.vmState(vm))) return null;
    const m = await this.#workers.request(handle, { type: "inspect", id: this.#workers.nextId() });
    return m.type === "inspect-result" ? m.info : null;
  }

  /**
   * The MAC table of switch `name`, what `bridge fdb show` lists: each station it has learned,
   * the port it was last seen on (its link and the NIC or switch behind it) and its age. Null
   * for a name that is no L2 switch of the plan (a vsock router keeps no MAC table), a switch
   * worker that is not running, or one that did not answer within 2 s.
   */
  async macTable(name: string): Promise<SwitchMacTable | null> {
    expectString("lab.macTable", "name", name, 'a switch\'s name, as "sw0"');
    const sw = this.plan.switches.find((s) => s.name === name && s.vsockCids === undefined);
    const w = this.#workers.find(name, "switch");
    if (sw === undefined || w === undefined || w.failed !== null || this.#stopped) return null;
    const m = await this.#workers.requestWithin(
      w,
      { type: "inspect", id: this.#workers.nextId() },
      SWITCH_ANSWER_MS,
    );
    return m?.type === "inspect-result" ? switchMacTable(this.plan, sw, m.info) : null;
  }

  /**
   * Bring a link down or up: each device on it hears it from its device worker (a NIC changes
   * its config-space link status and raises a configuration interrupt, so its guest sees the
   * change; a vsock device answers RST instead of sending); each switch on it stops (or resumes)
   * sending into it. Returns false for an unknown link.
   */
  setLink(link: string, up: boolean): boolean {
    // `setLink("a-b", "down")` brought the link up (a non-empty string is truthy), and a missing
    // `up` took it down: refused, naming the argument.
    expectString("lab.setLink", "link", link, 'a link\'s name, as "a-b"');
    expectBoolean("lab.setLink", "up", up);
    if (!this.#linkUp.has(link)) return false;
    // Stopped, it reached no worker, and its event followed `lab-down` in the log.
    if (this.#stopped) {
      throw labStoppedError(this.plan.name, `bring link ${quote(link)} ${up ? "up" : "down"}`);
    }
    if (this.#linkUp.get(link) === up) return true;
    this.#linkUp.set(link, up);
    this.#postLinkState(link, this.linkUp(link));
    this.events.emit(up ? "link-up" : "link-down", link);
    return true;
  }

  /** Tell every end of `link` whether it is up (see `setLink`). */
  #postLinkState(link: string, up: boolean): void {
    for (const vm of this.plan.vms) {
      const dev = this.#workers.find(vm.name, "device");
      for (const d of vm.devices) {
        if (d.txRing < 0 || this.plan.rings[d.txRing]?.link !== link) continue;
        if (dev) this.#workers.postControl(dev, { type: "link", device: d.index, up });
      }
    }
    // A vhost-pci link: the serving VM's guest sets its link down (it keeps serving, dropping every
    // frame both ways) or up; a sees its link go.
    for (const l of this.plan.vhostPciLinks ?? []) {
      if (l.name !== link) continue;
      const g = this.#guest(l.peer.vm);
      if (g) this.#workers.postControl(g, { type: "link", device: l.peer.slot, up });
    }
    // A switch end of the link stops sending into it (a NIC end stops through its device).
    for (const sw of this.plan.switches) {
      if (!sw.ports.some((p) => p.link === link)) continue;
      const w = this.#workers.find(sw.name, "switch");
      if (w) this.#workers.postControl(w, { type: "port-link", link, up });
    }
  }

  /**
   * The carrier of VM `vm`'s net links while it crashes and reboots: lost at the crash, back once
   * it runs again, as a cable to a machine that lost power (containerlab's and mininet's veth
   * peers go NO-CARRIER with a node that restarts). Each far end hears it as it hears `setLink`
   * (a NIC's link status and a configuration interrupt, a switch port that stops sending), so
   * what it sends meanwhile is dropped and counted at once (`link down`) instead of filling the
   * link ring and stalling its sender until the new device worker drains it. Events `link-down` or
   * `link-up` with `reason` (a link the user set down stays down, with no event). A VM whose guest
   * worker failed loses its carrier the same way (`why` "guest-failed"), for good.
   */
  #setCarrier(vm: string, up: boolean, why: "vm-crash" | "guest-failed" = "vm-crash"): void {
    for (const l of this.plan.links) {
      const ends = [this.plan.rings[l.forwardRing], this.plan.rings[l.reverseRing]];
      if (!ends.some((r) => r?.consumer.kind === "nic" && r.consumer.vm === vm)) continue;
      const down = this.#noCarrier.get(l.name) ?? new Set<string>();
      const had = down.size === 0;
      if (up) down.delete(vm);
      else down.add(vm);
      if (down.size === 0) this.#noCarrier.delete(l.name);
      else this.#noCarrier.set(l.name, down);
      // Only a change of carrier is told: both ends down, one back, is still no carrier.
      if ((down.size === 0) === had || !(this.#linkUp.get(l.name) ?? false)) continue;
      this.#postLinkState(l.name, up);
      this.events.emit(up ? "link-up" : "link-down", l.name, {
        reason: up ? "vm-restarted" : why,
        vm,
      });
    }
  }

  /**
   * Make VM `vm`'s vsock device lose its connections, as a restarted backend or a migration
   * does: every peer (VMs and the host) gets RST and the guest gets TRANSPORT_RESET on its event
   * queue (virtio 1.2 §5.10.6.7). False when there is no such VM or it has no vsock.
   */
  vsockTransportReset(vm: string): boolean {
    expectString("lab.vsockTransportReset", "vm", vm, 'a VM\'s name, as "a"');
    const spec = this.plan.vms.find((v) => v.name === vm);
    const dev = spec?.devices.find((d) => d.kind === "vsock");
    const w = this.#workers.find(vm, "device");
    if (dev === undefined || w === undefined) return false;
    w.worker.postMessage({ type: "transport-reset", device: dev.index } satisfies ToWorker);
    this.events.emit("vsock-transport-reset", vm);
    return true;
  }

  /**
   * Capture both directions of a link: `onRecords` receives pcap records (without the global
   * header) as they are drained. Several captures of one link each get every frame; `onEnd`
   * is called if the lab stops first, or with the error if `onRecords` throws (see
   * {@linkcode CaptureOptions.onEnd}). Returns the function that stops the capture. A link that
   * has no ring (unknown, or a vhost-pci link) is a `LabError` (`unknown-link`,
   * `vhost-pci-link`); arguments of the wrong type are a `TypeError` naming them.
   */
  capture(
    link: string,
    onRecords: (records: Uint8Array) => void,
    options: CaptureOptions = {},
  ): () => void {
    expectString("lab.capture", "link", link, 'a link\'s name, as "a-b"');
    expectArg(
      typeof onRecords === "function",
      `lab.capture: onRecords must be a function (it receives each batch of pcap records), got ${
        typeName(onRecords)
      }`,
    );
    const opts = options ?? {};
    expectArg(
      typeof opts === "object" && !Array.isArray(opts),
      `lab.capture: options must be an object ({ intervalMs?, onEnd? }), got ${typeName(options)}`,
    );
    expectArg(
      opts.onEnd === undefined || typeof opts.onEnd === "function",
      `lab.capture: options.onEnd must be a function, got ${typeName(opts.onEnd)}`,
    );
    expectArg(
      opts.intervalMs === undefined ||
        (typeof opts.intervalMs === "number" && opts.intervalMs >= 1 && opts.intervalMs <= 60_000),
      `lab.capture: options.intervalMs must be a number of milliseconds 1 to 60000, got ${
        typeof opts.intervalMs === "number" ? opts.intervalMs : typeName(opts.intervalMs)
      }`,
      (m) => typeof opts.intervalMs === "number" ? new RangeError(m) : new TypeError(m),
    );
    const problem = ringLinkProblem(this.plan, link, "capture");
    if (problem !== null) throw new LabError(problem.code, problem.message, problem.hint);
    const l = this.plan.links.find((x) => x.name === link)!;
    if (this.#stopped) {
      opts.onEnd?.();
      return () => {};
    }
    // One drain per link, shared by every capture of it: each reader gets every frame.
    let hub = this.#captures.get(link);
    if (!hub) {
      const taps = [this.#taps[l.forwardRing], this.#taps[l.reverseRing]];
      hub = new LinkCapture(taps, mergePcapRecords, opts.intervalMs);
      this.#captures.set(link, hub);
    }
    return hub.add(onRecords, opts.onEnd);
  }

  /**
   * Stop the lab: every workload in flight gets its stop signal and answers with what it
   * measured so far (bounded by `workloadGraceMs`), which `exec` answers as a run cut short
   * (`no-lab`, that as its `partial`), every capture ends, then every worker is
   * asked to return and terminated. Each worker tears itself down before this returns (about
   * 0.1 s of CPU a worker on our VMs, so 7 s for 64 VMs on two cores). With `exiting`, for a
   * process that exits right after (it must: the workers stay), the stopped workers are left
   * for the process's exit to end, with no teardown at all. Safe to call twice: every call
   * resolves when the first one has stopped the lab.
   */
  stop(options: { workloadGraceMs?: number; exiting?: boolean } = {}): Promise<void> {
    // A second call gets the first one's promise: it resolves once the lab has stopped, not at
    // once while the workers still run. Kept before the stop begins: a call from a `lab-down`
    // listener can come within its first synchronous steps, and began another stop (and that one
    // another: a stack overflow).
    if (this.#stopping !== undefined) return this.#stopping;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#stopping = promise;
    this.#stop(options).then(resolve, reject);
    return promise;
  }

  async #stop(options: { workloadGraceMs?: number; exiting?: boolean }): Promise<void> {
    this.#stopped = true;
    this.#stoppedAt = Date.now();
    clearTimeout(this.#refillTimer);
    this.#supervisor.stop();
    for (const done of [...this.#bootWaits]) done();
    this.#unplace?.();
    this.#unplace = undefined;
    const execs = [...this.#execs];
    for (const [id, { handle, stopping }] of execs) {
      stopping();
      handle.worker.postMessage({ type: "cancel", id } satisfies ToWorker);
    }
    if (execs.length > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.allSettled(execs.map(([, e]) => e.done)),
        new Promise((r) => timer = setTimeout(r, options.workloadGraceMs ?? 3000)),
      ]);
      clearTimeout(timer);
    }
    for (const hub of this.#captures.values()) hub.close();
    const mode = options.exiting ? StopMode.EXIT : StopMode.CLOSE;
    for (const w of this.#workers.all) requestStop(this.#bells, w.thread, mode);
    const deadline = performance.now() + 2000;
    while (performance.now() < deadline) {
      const running = this.#workers.all.some((w) =>
        w.failed === null &&
        readDoorbellWord(this.#bells, w.thread, DoorbellWord.STATE) === ThreadState.RUNNING
      );
      if (!running) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    // Exiting, a worker is left as it is, stopped: terminating it would start its teardown,
    // which the process's exit makes moot but which would take the CPU from what is left to do.
    const standby = this.#workers.drainStandby();
    if (!options.exiting) {
      for (const w of this.#workers.all) w.worker.terminate();
      for (const w of standby) w.terminate();
    }
    this.#removeVsockSockets();
    this.#workers.answerPending(null, {
      message: "The lab stopped before the workload answered",
      hint: `Start the lab again with ${startAgain(this.plan)}`,
    });
    this.events.emit("lab-down", this.plan.name);
  }

  /** The host vsock socket of VM `vm` (null: it has no vsock, or the lab no state folder). */
  vsockSocket(vm: string): string | null {
    return this.#vsockSockets.get(vm) ?? null;
  }

  /** Remove the `vsock.sock` files the device workers made, and their folders once empty (host
   * software's `vsock.sock_PORT` listeners are theirs: they stay, and so does the folder). */
  #removeVsockSockets(): void {
    for (const path of this.#vsockSockets.values()) {
      for (const p of [path, path.slice(0, path.lastIndexOf("/"))]) {
        try {
          Deno.removeSync(p);
        } catch {
          // Gone already, or not empty.
        }
      }
    }
  }
}

/**
 * Whether a VM's guest takes workloads in `state`: while it runs, and while its backend restarts
 * or a device resets, since its guest worker runs throughout and a recovery only pauses traffic
 * (a ping started then waits for it, as in a VM whose vhost backend restarts).
 */
function guestServes(state: VmState): boolean {
  return state === "running" || state === "restarting" || state === "resetting";
}
