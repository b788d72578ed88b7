/**
 * The control block of one VM: a shared buffer, beside guest memory, holding for each virtio-net
 * device (in this order, each region 64-byte aligned):
 *
 * - the **register mailbox**: the trap of a config-register access. The guest worker writes the
 *   operation, offset, value and size, publishes a new request sequence number and rings the
 *   device worker's doorbell; the device worker performs the access on its transport, stores the
 *   result and the acknowledged sequence number and notifies the waiting guest. It is the
 *   simulated MMIO exit: the vCPU waits until the VMM has emulated the access.
 * - the **register file** of the transport (`devices/virtio/mmio.ts`), so that a restarted device
 *   worker can rebuild its transport; guest kicks and interrupt status live there too (the
 *   ioeventfd/irqfd fast path, without a trap);
 * - the **queue state records** of the device's two queues (`devices/virtio/state.ts`);
 * - the device's **counters** (`devices/net/metrics.ts`) and the guest driver's counters.
 *
 * Both workers compute the same layout from the NIC list of the plan.
 *
 * @module
 */

import { regFileWords } from "../../devices/virtio/mmio.ts";
import { stateBytes } from "../../devices/virtio/state.ts";
import { NET_COUNTER_COUNT } from "../../devices/net/metrics.ts";
import type { Layout } from "../../devices/virtio/queue.ts";

/** Int32 words of a register mailbox. */
export const MailboxWord = {
  /** Sequence number of the latest request (guest writes). */
  REQ: 0,
  /** 0 = read, 1 = write. */
  OP: 1,
  /** Register offset. */
  OFFSET: 2,
  /** Value to write. */
  VALUE: 3,
  /** Access width in bytes. */
  SIZE: 4,
  /** Sequence number of the latest completed request (device writes). */
  ACK: 5,
  /** Value read. */
  RESULT: 6,
} as const;

/** Float64 slots of the guest driver's counters for one NIC. */
export const DRIVER_COUNTER_SLOTS = 32;
/** Float64 slots of a worker's published statistics (stack, impairment, switch counters). */
export const THREAD_STATS_SLOTS = 256;

const ALIGN = 64;
const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/** Byte offsets of one NIC's regions in the control block. */
export interface NicControlLayout {
  /** Register mailbox (Int32 words). */
  mailbox: number;
  /** Register file (Int32 words). */
  regFile: number;
  /** Words of the register file. */
  regFileWords: number;
  /** Queue state records, receiveq then transmitq. */
  queueState: [number, number];
  /** Bytes of one queue state record. */
  queueStateBytes: number;
  /** Device counters (Float64). */
  deviceCounters: number;
  /** Driver counters (Float64). */
  driverCounters: number;
}

/** The layout of a VM's control block. */
export interface ControlLayout {
  /** Total bytes. */
  bytes: number;
  /** Per NIC. */
  nics: NicControlLayout[];
  /** The guest worker's statistics (Float64). */
  guestStats: number;
  /** The device worker's statistics (Float64). */
  deviceStats: number;
}

/**
 * Lay out the control block for a VM's NICs.
 *
 * @example
 * ```ts
 * import { controlLayout } from "./control.ts";
 * controlLayout([{ layout: "split", queueSize: 256 }]).bytes > 0; // true
 * ```
 */
export function controlLayout(
  nics: ReadonlyArray<{ layout: Layout; queueSize: number }>,
): ControlLayout {
  let at = 0;
  const take = (bytes: number) => {
    const start = at;
    at = align(at + bytes);
    return start;
  };
  const out: NicControlLayout[] = nics.map((nic) => {
    const words = regFileWords(2);
    const qBytes = align(stateBytes(nic.layout, nic.queueSize));
    return {
      mailbox: take(16 * 4),
      regFile: take(words * 4),
      regFileWords: words,
      queueState: [take(qBytes), take(qBytes)],
      queueStateBytes: qBytes,
      deviceCounters: take(NET_COUNTER_COUNT * 8),
      driverCounters: take(DRIVER_COUNTER_SLOTS * 8),
    };
  });
  const guestStats = take(THREAD_STATS_SLOTS * 8);
  const deviceStats = take(THREAD_STATS_SLOTS * 8);
  return { bytes: at, nics: out, guestStats, deviceStats };
}

/** Views over one NIC's regions of a control block. */
export interface NicControl {
  /** Register mailbox. */
  mailbox: Int32Array;
  /** Register file. */
  regs: Int32Array;
  /** Queue state record views for queue 0 and 1 (whole region; the queue uses its prefix). */
  queueState: [Uint32Array, Uint32Array];
  /** Device counters. */
  deviceCounters: Float64Array;
  /** Driver counters. */
  driverCounters: Float64Array;
}

/**
 * Views over the NIC regions of a control block.
 *
 * @example
 * ```ts
 * import { controlLayout, nicControl } from "./control.ts";
 * const layout = controlLayout([{ layout: "packed", queueSize: 64 }]);
 * const views = nicControl(new SharedArrayBuffer(layout.bytes), layout, 0);
 * ```
 */
export function nicControl(
  buffer: SharedArrayBuffer,
  layout: ControlLayout,
  nic: number,
): NicControl {
  const l = layout.nics[nic];
  const qWords = l.queueStateBytes / 4;
  return {
    mailbox: new Int32Array(buffer, l.mailbox, 16),
    regs: new Int32Array(buffer, l.regFile, l.regFileWords),
    queueState: [
      new Uint32Array(buffer, l.queueState[0], qWords),
      new Uint32Array(buffer, l.queueState[1], qWords),
    ],
    deviceCounters: new Float64Array(buffer, l.deviceCounters, NET_COUNTER_COUNT),
    driverCounters: new Float64Array(buffer, l.driverCounters, DRIVER_COUNTER_SLOTS),
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
