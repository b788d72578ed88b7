/**
 * The messages between the main thread and the workers (postMessage, control only: the data
 * path never uses messages). Everything here is structured-clone data.
 *
 * @module
 */

import type { ControlLayout } from "./control.ts";
import type { DeviceSpec, Impairment } from "./specs.ts";
import type { GuestFaultKind } from "../../devices/virtio/guest_faults.ts";

/** A directed link ring as a worker sees it. */
export interface WorkerRing {
  /** Ring index. */
  index: number;
  /** The ring's buffer. */
  buffer: SharedArrayBuffer;
  /** Its tap ring (capture), written by the consumer. */
  tap: SharedArrayBuffer;
  /** The thread to ring when frames are published into it. */
  consumerThread: number;
  /** The thread to ring when room appears in it (back-pressure). */
  producerThread: number;
  /** The impairment (applied by the producer). */
  impair: Impairment;
  /** PRNG seed of the impairment stage. */
  seed: number;
  /** MAC of the NIC that consumes the ring, or null when a switch does (partitions). */
  consumerMac: string | null;
  /** Link name and direction, for logs. */
  label: string;
}

/** Start message of a guest or device worker. */
export interface VmStart {
  /** Message type. */
  type: "start";
  /** VM name. */
  vm: string;
  /** Lab seed. */
  seed: number;
  /** This worker's thread. */
  thread: number;
  /**
   * The thread's `CONTROL` doorbell word when this message was posted (`WorkerSet.spawn` sets
   * it): control messages numbered up to it went to a predecessor on the thread, every later one
   * comes to this worker, after this message (`worker_scope.ts`).
   */
  controlSeq?: number;
  /** The VM's guest thread. */
  guestThread: number;
  /** The VM's device thread. */
  deviceThread: number;
  /** Busy-poll budget, µs. */
  pollUs: number;
  /**
   * How long the worker waits hot (blocking slices) after its last work, ms: for a device worker
   * the lab's `hostWait` option (absent: the default of `HOST_WAIT`, `wire/loop.ts`), for a guest
   * its `guestWait` (absent: 0, never).
   */
  hotMs?: number;
  /** Guest memory. */
  memory: SharedArrayBuffer;
  /** Control block. */
  control: SharedArrayBuffer;
  /** The vIOMMU's tables (`Viommu.create(cap, buffer)`), on a VM with a virtio-iommu device. */
  iommu: SharedArrayBuffer | null;
  /** Lab doorbells. */
  doorbells: SharedArrayBuffer;
  /** Its devices, one per control-block slot (the plan's, unchanged). */
  devices: DeviceSpec[];
  /** The control block's layout (the plan's). */
  layout: ControlLayout;
  /** Rings this worker touches (device worker only). */
  rings: WorkerRing[];
  /** The VM's host vsock socket (`<lab folder>/<vm>/vsock.sock`), when it has vsock and the
   * lab a state folder. */
  vsockSocket?: string | null;
  /** Guest worker of a VM serving vhost-pci links: each frontend VM's memory and control block. */
  frontends?: VhostPciFrontendMemory[];
  /** Device worker: the epoch it owns (it stops once the control block's fencing word moves on). */
  epoch: number;
  /**
   * Guest worker: the generation it runs as (its thread's `GENERATION` word when it started; a
   * `vm-crash` ends it: `lab/wire/fence.ts`). Left out, 0.
   */
  generation?: number;
  /** Device worker: restore every device from its register file and queue state records. */
  restore: boolean;
  /**
   * Device worker at power-on after a VM crash (`vm-crash`, `restore` false): what the devices
   * held outside the VM (a vsock device's connections at its peers) is reset too.
   */
  reboot?: boolean;
}

/** What a vhost-pci peer reaches of a frontend VM (its window is checked inside). */
export interface VhostPciFrontendMemory {
  /** The frontend VM's name. */
  vm: string;
  /** Its guest memory. */
  memory: SharedArrayBuffer;
  /** Its control block. */
  control: SharedArrayBuffer;
  /** Its control block's layout. */
  layout: ControlLayout;
  /** Its vIOMMU's tables, or null. */
  iommu: SharedArrayBuffer | null;
}

/** How an injected backend crash breaks a device worker (`vlab fault backend-crash`). */
export type BackendCrashMode = "exit" | "hang" | "slow" | "mid-pass";

/** Start message of a switch worker. */
export interface SwitchStart {
  /** Message type. */
  type: "start";
  /** Switch name. */
  name: string;
  /** This worker's thread. */
  thread: number;
  /** The thread's `CONTROL` word when this message was posted (see {@linkcode VmStart.controlSeq}). */
  controlSeq?: number;
  /** Lab doorbells. */
  doorbells: SharedArrayBuffer;
  /** MAC-table bound. */
  portsMax: number;
  /**
   * How long a station stays in the MAC table after its last frame, ms (default 300 000, Linux's
   * `ageing_time`; tests shorten it).
   */
  agingMs?: number;
  /** Ports: the ring read and the ring written. */
  ports: { link: string; rx: WorkerRing; tx: WorkerRing }[];
  /** Statistics region. */
  stats: SharedArrayBuffer;
  /** A vsock router: the CID of the VM on each port (absent for an L2 switch). */
  vsockCids?: number[];
  /** How long it waits hot after its last work, ms (see {@linkcode VmStart.hotMs}). */
  hotMs?: number;
}

/**
 * Before its start message, to a warm standby device worker: load the code of these device
 * kinds now (the kinds of the lab's plan), so that the VM it takes over pays no import.
 */
export interface WorkerPreload {
  /** Discriminant. */
  type: "preload";
  /** Kind tags. */
  kinds: string[];
}

/**
 * Messages to a worker after start. Those that change what the worker does to frames (`link`,
 * `port-link`, `impair`, `partitions`) carry `seq` when posted through the doorbell's `CONTROL`
 * word (`publishControl`): the worker's loop reads them before its next pass.
 */
export type ToWorker =
  /**
   * Run a workload. `lines`: its caller listens to its lines as they happen (`exec-line`);
   * without it the workload posts none.
   */
  | { type: "exec"; id: number; argv: string[]; lines?: boolean }
  | { type: "cancel"; id: number }
  | { type: "inspect"; id: number }
  | { type: "link"; device: number; up: boolean; seq?: number }
  /** A vsock device loses its connections (a restarted backend, a migration): it sends RST to
   * every peer and TRANSPORT_RESET to its guest (virtio 1.2 §5.10.6.7). */
  | { type: "transport-reset"; device: number }
  /** A switch port's link went down or up: a down port sends nothing (switch workers). */
  | { type: "port-link"; link: string; up: boolean; seq?: number }
  /** Change the impairment of the ring this worker produces into (netem's `change`). */
  | { type: "impair"; ring: number; impair: Impairment; seq?: number }
  /**
   * The (source MAC, destination MAC) pairs that partitions cut, all of them, and the
   * (source CID, destination CID) pairs of vsock they cut (absent: none).
   */
  | {
    type: "partitions";
    cuts: [string, string][];
    vsockCuts?: [number, number][];
    seq?: number;
  }
  /**
   * An injected backend crash (device workers): `exit` throws out of the worker, `hang` blocks
   * its thread for `ms` (its loop stops, the thread lives), `slow` adds a busy wait to each loop
   * pass for `ms`, `mid-pass` throws out of a loop pass right after the `after`-th descriptor
   * (a frame into a link or into a receiveq) from now, before the pass publishes anything.
   */
  | { type: "crash"; mode: BackendCrashMode; ms: number; after?: number }
  /**
   * Guest workers: corrupt queue `queue` of device slot `device` the way a buggy driver would;
   * the guest answers request `id` with `guest-bug-result` (written, or refused and why).
   */
  | { type: "guest-bug"; id: number; device: number; queue: number; bug: GuestFaultKind };

/** Messages from a worker. */
export type FromWorker =
  | { type: "ready" }
  /**
   * The worker could not go on: `message` says why; `hint`, when the worker knows what the user
   * can do (a guest driver that could not start its device), says that.
   */
  | { type: "failed"; message: string; hint?: string }
  | { type: "stats-names"; names: string[] }
  /**
   * A line of workload `id`'s output as it happens (a ping's reply), posted only when its `exec`
   * asked for `lines`; every one comes before the workload's `exec-result`.
   */
  | {
    type: "exec-line";
    id: number;
    line: string;
    /** The counts the line's event changed (a ping's reply), said with it (`exec-progress`). */
    progress?: unknown;
  }
  /**
   * Workload `id`'s counts so far (a ping's `PingProgress` in `guest/workloads/options.ts`: with
   * each request sent and each reply), posted only beside its lines; each comes before its
   * `exec-result`. The lab answers from them when the guest cannot (a `vm-crash` mid-run).
   */
  | { type: "exec-progress"; id: number; progress: unknown }
  | { type: "exec-result"; id: number; ok: true; result: unknown }
  | {
    type: "exec-result";
    id: number;
    ok: false;
    message: string;
    hint: string;
    /** The failure's own code (`WorkloadError.code` in `guest/workloads/options.ts`), if any. */
    code?: "no-such-cid";
    /** The CID of the VM that refused a vsock connection (`WorkloadError.refusedBy`), if any. */
    refusedBy?: number;
  }
  | { type: "inspect-result"; id: number; info: unknown }
  /** A guest's verdict on `guest-bug` request `id`: null when written, else why it refused. */
  | {
    type: "guest-bug-result";
    id: number;
    refused: string | null;
    /**
     * With `refused`: the queue has no room for the bug now (every descriptor is the device's,
     * under a flood), and may have some in a moment: the lab asks again (lab/faults.ts).
     */
    busy?: true;
  }
  | { type: "event"; kind: string; detail: Record<string, unknown> };
