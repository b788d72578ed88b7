/**
 * The control block of one VM: a shared buffer, beside guest memory, holding for each device
 * slot (in slot order, each region 64-byte aligned), whatever the device's kind:
 *
 * - the **register mailbox**: the trap of a config-register access, a FIFO of requests. The
 *   guest worker writes the operation, offset, value and size into the next entry, publishes
 *   its sequence number and rings the device worker's doorbell; the device worker performs the
 *   queued accesses in order on its transport, stores each read's result in its entry and
 *   publishes the acknowledged sequence number, then notifies the waiting guest. Writes are
 *   posted (the guest goes on), reads wait for their answer: the simulated MMIO exit
 *   (`lab/wire/mailbox.ts`).
 * - the **register file** of the transport (`devices/virtio/mmio.ts`), so that a restarted device
 *   worker can rebuild its transport; guest kicks and interrupt status live there too (the
 *   ioeventfd/irqfd fast path, without a trap);
 * - the **queue state records** of the device's queues (`devices/virtio/state.ts`), as many as
 *   the kind has queues;
 * - the device's **counters** and the guest driver's counters, as many as the kind declares.
 *
 * After the slots, the two **fencing words** ({@linkcode FenceWord}): `EPOCH`, the number of the
 * device worker that may write to this VM's rings, and `INSIDE`, the device worker's sections
 * under way. Everything a device worker may write runs as a section of its epoch
 * (`lab/wire/fence.ts`); the supervisor moves `EPOCH` on, then starts a replacement once `INSIDE`
 * reads 0, so a replaced worker that wakes up late writes nothing (`lab/supervisor.ts`).
 *
 * The layout is generic over queue and counter counts: the planner computes it once from each
 * device's slot description (`SlotShape`, given by the device's kind) and hands it to both workers
 * as plain data. No worker recomputes it.
 *
 * @module
 */

import { regFileWords } from "../../devices/virtio/mmio.ts";
import { stateBytes } from "../../devices/virtio/state.ts";
import type { Layout } from "../../devices/virtio/queue.ts";

/**
 * Int32 words of a register mailbox: two sequence numbers (wrapping Int32s), then a FIFO of
 * {@linkcode MAILBOX_FIFO_ENTRIES} requests of {@linkcode MailboxEntryWord} each. Request number
 * `s` lives in entry `s & (MAILBOX_FIFO_ENTRIES - 1)`.
 */
export const MailboxWord = {
  /** Sequence number of the latest request published (guest writes). */
  REQ: 0,
  /** Sequence number of the latest request performed (device writes). */
  ACK: 1,
  /** First word of the FIFO's entries. */
  FIFO: 16,
} as const;

/** Int32 words of one FIFO entry of a register mailbox, relative to the entry. */
export const MailboxEntryWord = {
  /** 0 = read, 1 = write. */
  OP: 0,
  /** Register offset. */
  OFFSET: 1,
  /** Value to write; for a read, the value read (the device stores it before `ACK`). */
  VALUE: 2,
  /** Access width in bytes. */
  SIZE: 3,
} as const;

/** Requests a register mailbox's FIFO holds (a power of two). */
export const MAILBOX_FIFO_ENTRIES = 32;
/** Int32 words of one FIFO entry. */
export const MAILBOX_ENTRY_WORDS = 4;

/** Float64 slots of a worker's published statistics (stack, impairment, switch counters). */
export const THREAD_STATS_SLOTS = 256;
/** Int32 words of a register mailbox region (its sequence numbers and its FIFO). */
export const MAILBOX_WORDS: number = MailboxWord.FIFO + MAILBOX_FIFO_ENTRIES * MAILBOX_ENTRY_WORDS;

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** What the control block needs to know of one device slot (its kind says). */
export interface SlotShape {
  /** Its virtqueues, in queue-index order. */
  queues: ReadonlyArray<{ layout: Layout; size: number }>;
  /** Float64 slots of the device model's counters. */
  deviceCounters: number;
  /** Float64 slots of the guest driver's counters. */
  driverCounters: number;
}

/** Byte offsets of one device slot's regions in the control block. */
export interface SlotControlLayout {
  /** Register mailbox (Int32 words). */
  mailbox: number;
  /** Register file (Int32 words). */
  regFile: number;
  /** Words of the register file. */
  regFileWords: number;
  /** Queue state records, one per queue. */
  queueState: number[];
  /** Bytes of each queue's state record region. */
  queueStateBytes: number[];
  /** Device counters (Float64). */
  deviceCounters: number;
  /** Slots of the device counters. */
  deviceCounterCount: number;
  /** Driver counters (Float64). */
  driverCounters: number;
  /** Slots of the driver counters. */
  driverCounterCount: number;
}

/** The layout of a VM's control block (plain data, computed once by the planner). */
export interface ControlLayout {
  /** Total bytes. */
  bytes: number;
  /** Per device slot. */
  devices: SlotControlLayout[];
  /** The guest worker's statistics (Float64). */
  guestStats: number;
  /** The device worker's statistics (Float64). */
  deviceStats: number;
  /** The fencing words (two Int32, {@linkcode FenceWord}): the epoch, then the sections inside. */
  epoch: number;
}

/**
 * Lay out the control block for a VM's device slots.
 *
 * @example
 * ```ts
 * import { controlLayout } from "./control.ts";
 * const q = { layout: "split", size: 256 } as const;
 * controlLayout([{ queues: [q, q], deviceCounters: 22, driverCounters: 32 }]).bytes > 0; // true
 * ```
 */
export function controlLayout(slots: ReadonlyArray<SlotShape>): ControlLayout {
  let at = 0;
  const take = (bytes: number) => {
    const start = at;
    at = align(at + bytes);
    return start;
  };
  const devices: SlotControlLayout[] = slots.map((slot) => {
    const words = regFileWords(slot.queues.length);
    const mailbox = take(MAILBOX_WORDS * 4);
    const regFile = take(words * 4);
    const queueStateBytes = slot.queues.map((q) => align(stateBytes(q.layout, q.size)));
    const queueState = queueStateBytes.map((b) => take(b));
    return {
      mailbox,
      regFile,
      regFileWords: words,
      queueState,
      queueStateBytes,
      deviceCounters: take(slot.deviceCounters * 8),
      deviceCounterCount: slot.deviceCounters,
      driverCounters: take(slot.driverCounters * 8),
      driverCounterCount: slot.driverCounters,
    };
  });
  const guestStats = take(THREAD_STATS_SLOTS * 8);
  const deviceStats = take(THREAD_STATS_SLOTS * 8);
  const epoch = take(8);
  return { bytes: at, devices, guestStats, deviceStats, epoch };
}

/** Views over one device slot's regions of a control block. */
export interface DeviceControl {
  /** Register mailbox. */
  mailbox: Int32Array;
  /** Register file. */
  regs: Int32Array;
  /** Queue state record views, one per queue (whole region; the queue uses its prefix). */
  queueState: Uint32Array[];
  /** Device counters. */
  deviceCounters: Float64Array;
  /** Driver counters. */
  driverCounters: Float64Array;
}

/**
 * Views over one device slot of a control block.
 *
 * @example
 * ```ts
 * import { controlLayout, deviceControl } from "./control.ts";
 * const q = { layout: "packed", size: 64 } as const;
 * const layout = controlLayout([{ queues: [q, q], deviceCounters: 4, driverCounters: 4 }]);
 * const views = deviceControl(new SharedArrayBuffer(layout.bytes), layout.devices[0]);
 * views.queueState.length; // 2
 * ```
 */
export function deviceControl(buffer: SharedArrayBuffer, slot: SlotControlLayout): DeviceControl {
  return {
    mailbox: new Int32Array(buffer, slot.mailbox, MAILBOX_WORDS),
    regs: new Int32Array(buffer, slot.regFile, slot.regFileWords),
    queueState: slot.queueState.map((at, q) =>
      new Uint32Array(buffer, at, slot.queueStateBytes[q] / 4)
    ),
    deviceCounters: new Float64Array(buffer, slot.deviceCounters, slot.deviceCounterCount),
    driverCounters: new Float64Array(buffer, slot.driverCounters, slot.driverCounterCount),
  };
}

/** A worker's statistics region (names are announced by the worker, values live here). */
export function threadStats(
  buffer: SharedArrayBuffer,
  layout: ControlLayout,
  kind: "guest" | "device",
): Float64Array {
  return new Float64Array(
    buffer,
    kind === "guest" ? layout.guestStats : layout.deviceStats,
    THREAD_STATS_SLOTS,
  );
}

/** The fencing words of a control block ({@linkcode fenceWords}), by index. */
export const FenceWord = {
  /** The epoch of the device worker allowed to write to the VM's rings (the supervisor moves it on). */
  EPOCH: 0,
  /** The device workers' sections under way (`lab/wire/fence.ts`). */
  INSIDE: 1,
} as const;

/**
 * The fencing words of a control block ({@linkcode FenceWord}): a device worker's fence
 * (`deviceFence` in `fence.ts`).
 *
 * @example
 * ```ts
 * import { controlLayout, FenceWord, fenceWords } from "./control.ts";
 * const layout = controlLayout([]);
 * const words = fenceWords(new SharedArrayBuffer(layout.bytes), layout);
 * Atomics.load(words, FenceWord.INSIDE); // 0
 * ```
 */
export function fenceWords(buffer: SharedArrayBuffer, layout: ControlLayout): Int32Array {
  return new Int32Array(buffer, layout.epoch, 2);
}

/**
 * The epoch word of a control block (one Int32, {@linkcode FenceWord}'s `EPOCH`: the epoch of the
 * device worker allowed to write to the VM's rings).
 *
 * @example
 * ```ts
 * import { controlLayout, epochWord } from "./control.ts";
 * const layout = controlLayout([]);
 * const word = epochWord(new SharedArrayBuffer(layout.bytes), layout);
 * Atomics.load(word, 0); // 0
 * ```
 */
export function epochWord(buffer: SharedArrayBuffer, layout: ControlLayout): Int32Array {
  return new Int32Array(buffer, layout.epoch, 1);
}
