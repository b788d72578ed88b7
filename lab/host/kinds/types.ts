/**
 * What a device kind's host slice gives the device worker: it is started once per VM with the
 * VM's devices of that kind (in slot order), builds each device's model, its virtio-mmio
 * transport and its backend (link ends for `net`), and is then driven by the worker's generic
 * loop: serve the register mailboxes and move data (pump), arm notifications before sleeping,
 * report its next timer and publish statistics; control messages (link up/down) reach it too.
 *
 * @module
 */

import type { DirectDma, GuestMemory } from "../../../devices/memory/mod.ts";
import type { SharedRingAccess } from "../../../devices/virtio/ring_access.ts";
import type { ControlLayout } from "../../wire/control.ts";
import type { ControlGate } from "../../wire/control_gate.ts";
import type { FromWorker, ToWorker, WorkerRing } from "../../wire/messages.ts";
import type { DeviceSpec } from "../../wire/specs.ts";
import type { StatsWriter } from "../../wire/stats.ts";
import type { Fence } from "../../wire/fence.ts";

/** What the device worker hands every kind at start. */
export interface HostContext {
  /** VM name (for messages). */
  vm: string;
  /** Guest memory. */
  mem: GuestMemory;
  /** The devices' view of guest memory. */
  dma: DirectDma;
  /** Ring access over guest memory. */
  ring: SharedRingAccess;
  /** Lab doorbells. */
  bells: Int32Array;
  /** This worker's own thread (rung to re-plan its next wake-up). */
  thread: number;
  /**
   * The worker's control gate: every producer asks it right after the load that reveals new
   * frames (a transmitq's chains, a link ring's frames) and takes none while it is pending.
   */
  gate: ControlGate;
  /** The VM's guest thread (rung on an interrupt or a served register access). */
  guestThread: number;
  /** The control block. */
  control: SharedArrayBuffer;
  /** The vIOMMU's tables on a VM with a virtio-iommu device (the iommu kind owns them; the
   * devices behind it translate through their own IOTLB over them), else null. */
  iommu: SharedArrayBuffer | null;
  /** Its layout (the plan's). */
  layout: ControlLayout;
  /** The link rings this worker touches, by ring index. */
  rings: ReadonlyMap<number, WorkerRing>;
  /** Where the VM's vsock device listens for the host (`…/vsock.sock`); null: no host end. */
  vsockSocket: string | null;
  /** Post a message to the main thread. */
  post: (m: FromWorker) => void;
  /** A replacement worker: restore each device from the control block instead of resetting. */
  restore: boolean;
  /**
   * At power-on after a VM crash (`restore` false): the devices start at reset state over state
   * a previous guest used, and tell whoever held state with it (a vsock device's peers).
   */
  reboot: boolean;
  /**
   * The worker's fence (`lab/wire/fence.ts`): the worker's loop hooks and message handler run as
   * its sections already; what a kind writes from elsewhere (a promise of its host end) runs as
   * one too, and writes nothing once the worker was replaced.
   */
  fence: Fence;
}

/** A running kind in one device worker. */
export interface HostKindInstance {
  /** Serve register accesses and move every device's data forward; true if anything happened. */
  pump(): boolean;
  /** Arm notifications before sleeping; true if work is pending (do not sleep). */
  prepareSleep(): boolean;
  /** Milliseconds until the next timer (Infinity: none). */
  nextTimerMs(): number;
  /** Publish statistics (about once a second). */
  periodic(stats: StatsWriter): void;
  /** A control message from the main thread (ignore what is not for this kind: `link` and
   * `impair` name a device slot or a ring, `partitions` is for every producer of frames). */
  control(m: ToWorker): void;
}

/** A device kind's host slice. */
export interface HostKind {
  /** The plan's kind tag. */
  kind: string;
  /** Start the VM's devices of this kind (maybe none). */
  start(ctx: HostContext, devices: DeviceSpec[]): HostKindInstance;
}
