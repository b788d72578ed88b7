/**
 * What a device kind's guest slice gives the guest worker: it is started once per VM with the
 * VM's devices of that kind (in slot order), brings their drivers up through the generic mmio
 * init, and then is driven by the worker's generic loop (pump, prepare-sleep, timers, stats,
 * inspect). It contributes the services workloads use (the network stack for `net`).
 *
 * @module
 */

import type { GuestMemory, PageAllocator } from "../../../devices/memory/mod.ts";
import type { SharedRingAccess } from "../../../devices/virtio/ring_access.ts";
import type { ControlLayout } from "../../wire/control.ts";
import type { ControlGate } from "../../wire/control_gate.ts";
import type { FromWorker, ToWorker, VhostPciFrontendMemory } from "../../wire/messages.ts";
import type { DeviceSpec } from "../../wire/specs.ts";
import type { StatsWriter } from "../../wire/stats.ts";
import type { GuestClock } from "../clock.ts";
import type { NetStack } from "../net/stack.ts";
import type { VsockSockets } from "../../../devices/vsock/sockets.ts";
import type { IommuWorkloadService } from "../workloads/options.ts";
import type { NetDma } from "../../../devices/net/dma.ts";
import type { Fence } from "../../wire/fence.ts";

/** What the guest worker hands every kind at start. */
export interface GuestContext {
  /** VM name (for messages). */
  vm: string;
  /** The VM's seed. */
  seed: number;
  /** Guest memory. */
  mem: GuestMemory;
  /** The guest page allocator (rings, buffers). */
  alloc: PageAllocator;
  /** Ring access over guest memory. */
  ring: SharedRingAccess;
  /** Lab doorbells. */
  bells: Int32Array;
  /** The VM's device thread (rung after a kick or a register access). */
  deviceThread: number;
  /** Wake this worker if it sleeps (a workload queued work). */
  wakeSelf: () => void;
  /**
   * True while this worker's loop waits on its doorbell: a workload runs then (a timer, a
   * message), and work it queues is published by the workload itself or by a `wakeSelf`.
   */
  sleeping: () => boolean;
  /**
   * Work queued while the loop sleeps may have armed a deadline (a transmit watchdog, a stack
   * timer): ring the loop if it would wake after the earliest one.
   */
  timersChanged: () => void;
  /** The control block. */
  control: SharedArrayBuffer;
  /**
   * The worker's control gate: a kind that moves another VM's frames (a vhost-pci peer popping
   * `a`'s transmitq) asks it right after the load that reveals them and takes none while it is
   * pending.
   */
  gate: ControlGate;
  /** Its layout (the plan's). */
  layout: ControlLayout;
  /** The guest clock. */
  clock: GuestClock;
  /** Post a message to the main thread. */
  post: (m: FromWorker) => void;
  /** The VMs whose NICs this VM serves over vhost-pci links, by VM name. */
  frontends: ReadonlyMap<string, VhostPciFrontendMemory>;
  /** This worker's own thread. */
  thread: number;
  /**
   * This guest's fence (`lab/wire/fence.ts`): what may write guest memory outside the loop's pass and
   * the worker's message handler (a workload's send) runs as its section.
   */
  fence: Fence;
  /** The VM's vIOMMU, set by the iommu kind (started first) on a VM that has one, else null. */
  iommu: GuestIommu | null;
}

/** What the iommu kind offers the kinds of devices behind it. */
export interface GuestIommu {
  /** The VM's DMA mode. */
  mode: "strict" | "lazy" | "static" | "passthrough";
  /**
   * Make a device's DMA window reachable before its driver starts, by its mode (passthrough:
   * ATTACH in bypass; static: ATTACH and one MAP of the window, IOVA = GPA; strict and lazy:
   * ATTACH and one MAP of `rings`, the part of the window that holds its rings, IOVA = GPA).
   * Resolves once the device completed the requests; throws if it refused them or did not
   * answer in time.
   */
  prepare(
    endpoint: number,
    window: { gpa: number; len: number },
    rings: { gpa: number; len: number },
  ): Promise<void>;
  /**
   * Make a window that `iommu-unmap` revoked reachable again, as `prepare` did (a driver that
   * resets its device maps its DMA pool again). Resolves true once the device completed the
   * requests, false when the endpoint's window was not revoked; throws if the device refused
   * them or did not answer in time.
   */
  restore(endpoint: number): Promise<boolean>;
  /** Whether `iommu-unmap` revoked the endpoint's window (and no `restore` made it whole yet). */
  revoked(endpoint: number): boolean;
  /**
   * The endpoint's driver begins a reset: `iommu-unmap` refuses its window until the returned
   * release is called (the reset ended, well or not). A window unmapped while the reset brings
   * the queues up leaves the device rings it cannot reach: it refuses them, and the reset fails.
   */
  hold(endpoint: number): () => void;
  /** Strict and lazy: the per-buffer mapping of a prepared endpoint's driver; else null. */
  dma(endpoint: number): NetDma | null;
}

/** The services the kinds of a VM offer its workloads. */
export interface GuestServices {
  /** The network stack over the VM's NICs (every VM has one, maybe with no interface). */
  net: NetStack;
  /** The vsock socket table, on a VM with a vsock device. */
  vsock?: VsockService;
  /** The vIOMMU's revocation, on a VM with a virtio-iommu device. */
  iommu?: IommuWorkloadService;
}

/** The vsock socket table and how to wake the loop after queueing packets. */
export interface VsockService {
  /** The socket table. */
  sockets: VsockSockets;
  /** Wake the guest worker's loop (it moves queued packets into the TX ring). */
  wake: () => void;
  /** The lab's VMs with vsock by CID (for a workload's messages). */
  labCids?: ReadonlyMap<number, string>;
  /** The CIDs of the VMs a vsock link or router joins this one to, when known (for messages). */
  joinedCids?: ReadonlySet<number>;
  /** For each of those CIDs, the path that joins the two VMs (for messages), when known. */
  joinedPaths?: ReadonlyMap<number, string>;
}

/** A running kind in one guest worker. */
export interface GuestKindInstance {
  /** Move every device's work forward; true if anything happened. */
  pump(): boolean;
  /** Re-enable interrupts before sleeping; true if work is pending (do not sleep). */
  prepareSleep(): boolean;
  /** Milliseconds until the next timer (Infinity: none). */
  nextTimerMs(): number;
  /**
   * Publish statistics, and run timers that must not wait for a sleep (about every 100 ms, while
   * the loop is busy too).
   */
  periodic(stats: StatsWriter): void;
  /** The kind's part of `inspect`. */
  inspect(): Record<string, unknown>;
  /** Contribute the kind's services to workloads. */
  provide(services: Partial<GuestServices>): void;
  /** A control message for the kind's devices (`link`, `partitions`), if it takes any. */
  control?(m: ToWorker): void;
  /**
   * A guest bug for one of the kind's devices (`vlab fault guest-bug`): `undefined` when device
   * slot `m.device` is not the kind's, else null when the bug was written, or why it was refused
   * (the kind also logs `guest-bug` or `guest-bug-refused`), or `{ busy }` when the queue has no
   * room for it now but may in a moment (not logged: the lab asks again, and logs the last).
   */
  guestBug?(
    m: Extract<ToWorker, { type: "guest-bug" }>,
  ): string | { busy: string } | null | undefined;
}

/** A device kind's guest slice. */
export interface GuestKind {
  /** The plan's kind tag. */
  kind: string;
  /** Bring up the VM's devices of this kind (maybe none). */
  start(ctx: GuestContext, devices: DeviceSpec[]): Promise<GuestKindInstance>;
}
