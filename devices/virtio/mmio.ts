/**
 * The virtio-mmio register map (virtio 1.2 §4.2.2) and the shared register file that holds a
 * transport's whole state in the VM's control block.
 *
 * The guest driver's register accesses are trapped: they reach the device worker, which answers
 * them from `MmioDeviceTransport` (`mmio_device.ts`). Everything the transport must remember
 * lives in the register file, an `Int32Array` of words in shared memory, so a device worker
 * restarted after a crash rebuilds the transport from it (`MmioDeviceTransport.restore`).
 *
 * Writers: the device worker writes every word, in its `write`; two words have a fast path that
 * bypasses the trap, as a real VMM's irqfd and ioeventfd do:
 * - `INTERRUPT_STATUS`: the device raises bits with `Atomics.or`, the driver acknowledges them
 *   with `Atomics.and` (`readInterruptStatus` / `ackInterrupt` in `mmio_driver.ts`).
 * - a queue's `NOTIFY_COUNT`: the guest kicks with `Atomics.add` (`kickQueue`); the device
 *   worker compares it with the count it last served.
 *
 * Layout (i32 words):
 * ```
 * 0 magic ("VMIO")   1 queueCount   2 status   3 driverFeatures lo   4 driverFeatures hi
 * 5 deviceFeaturesSel   6 driverFeaturesSel   7 queueSel   8 configGeneration
 * 9 interruptStatus   10 vhostConn   11 vhostSeq   12 vhostPeer   13..15 reserved
 * 16 + 14q + field   queue q: size, ready, desc lo/hi, driver lo/hi, device lo/hi,
 *                    notifyCount, dropKicks, dropInterrupts, droppedKicks,
 *                    droppedInterrupts, notifyThread
 * ```
 *
 * The vhost words (`vhostConn`, `vhostSeq`, `vhostPeer`, each queue's `notifyThread`) are the
 * handover of a device whose queues another VM serves (a vhost-pci link; see
 * `devices/vhost_pci/config.ts`): a kick of such a queue rings the serving thread
 * (`kickTarget`), not the device worker.
 *
 * The four drop words are the lost-notification fault injector (issue 13): the lab sets
 * "drop the next N kicks / used-buffer interrupts" of a queue (`dropNotifications`), the kick
 * paths (`kickQueue`, a trapped QueueNotify) and the interrupt path (`signalUsed(queue)`)
 * consume one each (`consumeDrop`) and count what they dropped. A reset leaves them alone: they
 * belong to the injector, not to the device.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import { Feature, Status } from "./constants.ts";
import { type FeatureSet, hasFeature } from "./features.ts";
import type { Layout, QueueConfig, RingFeatures } from "./queue.ts";

/** MMIO register offsets (virtio 1.2 §4.2.2), in bytes from the register block's base. */
export const MmioReg = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_SIZE_MAX: 0x034,
  QUEUE_SIZE: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  QUEUE_RESET: 0x0c0,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** The MagicValue register: "virt" in little-endian. */
export const MMIO_MAGIC = 0x74726976;

/** The Version register of a modern (non-legacy) MMIO device. */
export const MMIO_VERSION = 2;

/** InterruptStatus / InterruptACK bits (virtio 1.2 §4.2.2). */
export const InterruptBit = {
  /** Used Buffer Notification. */
  USED: 1,
  /** Configuration Change Notification. */
  CONFIG: 2,
} as const;

/** The VendorID register's default: "vlab" in little-endian. */
export const VLAB_VENDOR_ID = 0x62616c76;

/** Word indices of the register file header. */
export const RegFileWord = {
  MAGIC: 0,
  QUEUE_COUNT: 1,
  STATUS: 2,
  DRIVER_FEATURES_LO: 3,
  DRIVER_FEATURES_HI: 4,
  DEVICE_FEATURES_SEL: 5,
  DRIVER_FEATURES_SEL: 6,
  QUEUE_SEL: 7,
  CONFIG_GENERATION: 8,
  INTERRUPT_STATUS: 9,
  /** vhost-pci: the connection the queues are handed over as (0: the device worker owns them). */
  VHOST_CONN: 10,
  /** vhost-pci: the last connection number given out. */
  VHOST_SEQ: 11,
  /** vhost-pci: the connection the serving VM serves (0: none; it stores 0 to acknowledge). */
  VHOST_PEER: 12,
  /**
   * vhost-pci: 1 while the serving VM serves the connection with its link set down (`vlab link
   * … down`): it drops every frame both ways, and the frontend's link is down; 0 otherwise.
   */
  VHOST_PEER_LINK_DOWN: 13,
  /**
   * vhost-pci: how many times the serving VM stopped serving (it stopped, reset, crashed, failed
   * or set its link down), counted after the store that ended it. The frontend's device worker
   * compares it with the count it saw last: a count that moved is a link flap even when the
   * peer serves again before the worker's next pass.
   */
  VHOST_PEER_DOWNS: 14,
} as const;

/** Word offsets of one queue's record, relative to `queueWord(q, 0)`. */
export const QueueWord = {
  SIZE: 0,
  READY: 1,
  DESC_LO: 2,
  DESC_HI: 3,
  DRIVER_LO: 4,
  DRIVER_HI: 5,
  DEVICE_LO: 6,
  DEVICE_HI: 7,
  NOTIFY_COUNT: 8,
  /** Kicks still to drop (fault injection). */
  DROP_KICKS: 9,
  /** Used-buffer interrupts still to drop (fault injection). */
  DROP_INTERRUPTS: 10,
  /** Kicks dropped so far. */
  DROPPED_KICKS: 11,
  /** Used-buffer interrupts dropped so far. */
  DROPPED_INTERRUPTS: 12,
  /** The thread + 1 a kick of the queue rings (0: the device worker); set by a vhost handover. */
  NOTIFY_THREAD: 13,
} as const;

/** One of the `QueueWord` fields. */
export type QueueWordField = typeof QueueWord[keyof typeof QueueWord];

/**
 * The queue configuration registers (QueueSize and the area addresses) and the register-file
 * word each one is stored in.
 *
 * @example
 * ```ts
 * import { MmioReg, QUEUE_CONFIG_REGS } from "./mmio.ts";
 * QUEUE_CONFIG_REGS.get(MmioReg.QUEUE_DESC_HIGH); // 3 (QueueWord.DESC_HI)
 * ```
 */
export const QUEUE_CONFIG_REGS: ReadonlyMap<number, QueueWordField> = new Map([
  [MmioReg.QUEUE_SIZE, QueueWord.SIZE],
  [MmioReg.QUEUE_DESC_LOW, QueueWord.DESC_LO],
  [MmioReg.QUEUE_DESC_HIGH, QueueWord.DESC_HI],
  [MmioReg.QUEUE_DRIVER_LOW, QueueWord.DRIVER_LO],
  [MmioReg.QUEUE_DRIVER_HIGH, QueueWord.DRIVER_HI],
  [MmioReg.QUEUE_DEVICE_LOW, QueueWord.DEVICE_LO],
  [MmioReg.QUEUE_DEVICE_HIGH, QueueWord.DEVICE_HI],
]);

/**
 * Registers the driver only writes: reads return 0.
 *
 * @example
 * ```ts
 * import { MmioReg, WRITE_ONLY_REGS } from "./mmio.ts";
 * WRITE_ONLY_REGS.has(MmioReg.QUEUE_NOTIFY); // true
 * ```
 */
export const WRITE_ONLY_REGS: ReadonlySet<number> = new Set([
  MmioReg.DEVICE_FEATURES_SEL,
  MmioReg.DRIVER_FEATURES,
  MmioReg.DRIVER_FEATURES_SEL,
  MmioReg.QUEUE_SEL,
  MmioReg.QUEUE_NOTIFY,
  MmioReg.INTERRUPT_ACK,
  MmioReg.SHM_SEL,
  ...QUEUE_CONFIG_REGS.keys(),
]);

/**
 * Registers the driver only reads: writes are ignored.
 *
 * @example
 * ```ts
 * import { MmioReg, READ_ONLY_REGS } from "./mmio.ts";
 * READ_ONLY_REGS.has(MmioReg.CONFIG_GENERATION); // true
 * ```
 */
export const READ_ONLY_REGS: ReadonlySet<number> = new Set([
  MmioReg.MAGIC_VALUE,
  MmioReg.VERSION,
  MmioReg.DEVICE_ID,
  MmioReg.VENDOR_ID,
  MmioReg.DEVICE_FEATURES,
  MmioReg.QUEUE_SIZE_MAX,
  MmioReg.INTERRUPT_STATUS,
  MmioReg.SHM_LEN_LOW,
  MmioReg.SHM_LEN_HIGH,
  MmioReg.SHM_BASE_LOW,
  MmioReg.SHM_BASE_HIGH,
  MmioReg.CONFIG_GENERATION,
]);

/** The register file's magic word ("VMIO"). */
export const REG_FILE_MAGIC = 0x564d494f;
/** Words of the register file header. */
export const REG_FILE_HEADER_WORDS = 16;
/** Words per queue record. */
export const QUEUE_RECORD_WORDS = 14;

/**
 * Words of a register file for a device with `queueCount` queues. Throws a `RangeError` for a
 * negative or non-integer count (a programmer error).
 *
 * @example
 * ```ts
 * import { regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
 * regs.length; // 44
 * ```
 */
export function regFileWords(queueCount: number): number {
  if (!Number.isInteger(queueCount) || queueCount < 0 || queueCount > 0xffff) {
    throw new RangeError(
      `Cannot size a register file: queue count must be 0 to 65535, got ${queueCount}`,
    );
  }
  return REG_FILE_HEADER_WORDS + QUEUE_RECORD_WORDS * queueCount;
}

/**
 * The word index of `field` of queue `q` in the register file.
 *
 * @example
 * ```ts
 * import { queueWord, QueueWord } from "./mmio.ts";
 * queueWord(1, QueueWord.NOTIFY_COUNT); // 38
 * ```
 */
export function queueWord(q: number, field: QueueWordField): number {
  return REG_FILE_HEADER_WORDS + QUEUE_RECORD_WORDS * q + field;
}

/**
 * The guest's fast-path kick of queue `q` (the ioeventfd of a real VMM): count it in the
 * register file without a trapped QueueNotify write. Returns the new count, or -1 when an armed
 * lost-kick fault swallowed the kick (then ring no doorbell either: the device never saw it).
 *
 * @example
 * ```ts
 * import { kickQueue, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
 * kickQueue(regs, 0); // 1
 * ```
 */
export function kickQueue(regs: Int32Array, q: number): number {
  const count = queueWord(q, QueueWord.NOTIFY_COUNT);
  // A lost kick (fault injection): the device never sees it.
  if (consumeDrop(regs, q, "kick")) return -1;
  // publish kick: pairs with the device worker's Atomics.load of NOTIFY_COUNT.
  return Atomics.add(regs, count, 1) + 1;
}

/**
 * The thread a kick of queue `q` must ring: the one a vhost handover named (another VM serves
 * the queue), or -1 for the device's own worker.
 *
 * @example
 * ```ts
 * import { kickTarget, QueueWord, queueWord, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * kickTarget(regs, 0); // -1
 * Atomics.store(regs, queueWord(0, QueueWord.NOTIFY_THREAD), 5);
 * kickTarget(regs, 0); // 4
 * ```
 */
export function kickTarget(regs: Int32Array, q: number): number {
  // observe the handover: pairs with the frontend's Atomics.store of NOTIFY_THREAD.
  return Atomics.load(regs, queueWord(q, QueueWord.NOTIFY_THREAD)) - 1;
}

/** Which notification of a queue: a kick (driver to device) or a used-buffer interrupt. */
export type NotificationKind = "kick" | "interrupt";

/**
 * Arm the lost-notification fault of queue `q`: drop its next `kicks` kicks and its next
 * `interrupts` used-buffer interrupts (0 disarms). Throws a `RangeError` for a count that is
 * not 0 to 2^31 − 1 (a programmer error: the control surface checks user input first).
 *
 * @example
 * ```ts
 * import { dropNotifications, kickQueue, notifyCount, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * dropNotifications(regs, 0, { kicks: 1, interrupts: 0 });
 * kickQueue(regs, 0);
 * notifyCount(regs, 0); // 0: the kick was lost
 * ```
 */
export function dropNotifications(
  regs: Int32Array,
  q: number,
  counts: { readonly kicks: number; readonly interrupts: number },
): void {
  for (const n of [counts.kicks, counts.interrupts]) {
    if (!Number.isInteger(n) || n < 0 || n > 0x7fff_ffff) {
      throw new RangeError(`Cannot drop notifications: count must be 0 to 2147483647, got ${n}`);
    }
  }
  Atomics.store(regs, queueWord(q, QueueWord.DROP_KICKS), counts.kicks);
  Atomics.store(regs, queueWord(q, QueueWord.DROP_INTERRUPTS), counts.interrupts);
}

/**
 * Arm `n` more drops of `kind` on queue `q`, on top of those still armed (the other kind's are
 * left as they are): the lost-notification injector's `lost-kick`/`lost-irq -n N`, which must not
 * cancel what an earlier fault armed. Returns how many are armed now. Atomic against `consumeDrop`
 * on another thread. Throws a `RangeError` for an `n` that is not 1 or more, or that would take
 * the armed count past 2^31 − 1 (a programmer error: the control surface checks first).
 *
 * @example
 * ```ts
 * import { armDrops, dropNotifications, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * dropNotifications(regs, 0, { kicks: 3, interrupts: 0 });
 * armDrops(regs, 0, "interrupt", 1); // 1: the 3 kicks stay armed
 * armDrops(regs, 0, "kick", 2); // 5
 * ```
 */
export function armDrops(regs: Int32Array, q: number, kind: NotificationKind, n: number): number {
  const word = queueWord(q, kind === "kick" ? QueueWord.DROP_KICKS : QueueWord.DROP_INTERRUPTS);
  const armed = Math.max(0, Atomics.load(regs, word));
  if (!Number.isInteger(n) || n < 1 || armed + n > 0x7fff_ffff) {
    throw new RangeError(`Cannot arm ${n} more drops over ${armed}: at most 2147483647 in all`);
  }
  return Atomics.add(regs, word, n) + n;
}

/**
 * Consume one armed drop of `kind` on queue `q`: true if this notification must be dropped
 * (and then it is counted). The decrement is a compare-and-swap, so the injector re-arming
 * concurrently loses no count; it gives up (delivers) after a few contended tries.
 *
 * @example
 * ```ts
 * import { consumeDrop, dropNotifications, droppedNotifications, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * dropNotifications(regs, 0, { kicks: 0, interrupts: 1 });
 * consumeDrop(regs, 0, "interrupt"); // true
 * consumeDrop(regs, 0, "interrupt"); // false
 * droppedNotifications(regs, 0).interrupts; // 1
 * ```
 */
export function consumeDrop(regs: Int32Array, q: number, kind: NotificationKind): boolean {
  const armed = queueWord(q, kind === "kick" ? QueueWord.DROP_KICKS : QueueWord.DROP_INTERRUPTS);
  for (let attempt = 0; attempt < 8; attempt++) {
    const n = Atomics.load(regs, armed);
    if (n <= 0) return false;
    if (Atomics.compareExchange(regs, armed, n, n - 1) === n) {
      const counted = kind === "kick" ? QueueWord.DROPPED_KICKS : QueueWord.DROPPED_INTERRUPTS;
      Atomics.add(regs, queueWord(q, counted), 1);
      return true;
    }
  }
  return false;
}

/**
 * Notifications of queue `q` dropped so far, and those still armed.
 *
 * @example
 * ```ts
 * import { droppedNotifications, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * droppedNotifications(regs, 0); // { kicks: 0, interrupts: 0, armedKicks: 0, armedInterrupts: 0 }
 * ```
 */
export function droppedNotifications(
  regs: Int32Array,
  q: number,
): { kicks: number; interrupts: number; armedKicks: number; armedInterrupts: number } {
  return {
    kicks: Atomics.load(regs, queueWord(q, QueueWord.DROPPED_KICKS)),
    interrupts: Atomics.load(regs, queueWord(q, QueueWord.DROPPED_INTERRUPTS)),
    armedKicks: Atomics.load(regs, queueWord(q, QueueWord.DROP_KICKS)),
    armedInterrupts: Atomics.load(regs, queueWord(q, QueueWord.DROP_INTERRUPTS)),
  };
}

/**
 * How many kicks queue `q` has received (trapped QueueNotify writes and fast-path kicks).
 *
 * @example
 * ```ts
 * import { kickQueue, notifyCount, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * kickQueue(regs, 0);
 * notifyCount(regs, 0); // 1
 * ```
 */
export function notifyCount(regs: Int32Array, q: number): number {
  return Atomics.load(regs, queueWord(q, QueueWord.NOTIFY_COUNT));
}

/**
 * The layout a negotiated feature set selects: packed with RING_PACKED, else split.
 *
 * @example
 * ```ts
 * import { layoutOf } from "./mmio.ts";
 * layoutOf(1n << 34n); // "packed"
 * ```
 */
export function layoutOf(negotiated: FeatureSet): Layout {
  return hasFeature(negotiated, Feature.RING_PACKED) ? "packed" : "split";
}

/**
 * The ring features a negotiated feature set turns on.
 *
 * @example
 * ```ts
 * import { ringFeaturesOf } from "./mmio.ts";
 * ringFeaturesOf(1n << 29n); // { eventIdx: true, indirect: false, inOrder: false }
 * ```
 */
export function ringFeaturesOf(negotiated: FeatureSet): RingFeatures {
  return {
    eventIdx: hasFeature(negotiated, Feature.EVENT_IDX),
    indirect: hasFeature(negotiated, Feature.INDIRECT_DESC),
    inOrder: hasFeature(negotiated, Feature.IN_ORDER),
  };
}

/**
 * The configuration of queue `q` as the register file holds it, with the layout and ring
 * features of `negotiated`. The values are guest input: check them (`checkQueueConfig`).
 *
 * @example
 * ```ts
 * import { queueConfigOf, QueueWord, queueWord, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * regs[queueWord(0, QueueWord.SIZE)] = 256;
 * regs[queueWord(0, QueueWord.DESC_HI)] = 1;
 * queueConfigOf(regs, 0, 1n << 32n).descAddr; // 0x1_0000_0000
 * ```
 */
export function queueConfigOf(regs: Int32Array, q: number, negotiated: FeatureSet): QueueConfig {
  const addr = (lo: QueueWordField, hi: QueueWordField) =>
    (regs[queueWord(q, lo)] >>> 0) + (regs[queueWord(q, hi)] >>> 0) * 2 ** 32;
  return {
    layout: layoutOf(negotiated),
    size: regs[queueWord(q, QueueWord.SIZE)] >>> 0,
    descAddr: addr(QueueWord.DESC_LO, QueueWord.DESC_HI),
    driverAddr: addr(QueueWord.DRIVER_LO, QueueWord.DRIVER_HI),
    deviceAddr: addr(QueueWord.DEVICE_LO, QueueWord.DEVICE_HI),
    features: ringFeaturesOf(negotiated),
  };
}

/**
 * A register file word that does not hold what a transport writes there.
 *
 * @example
 * ```ts
 * import type { RegFileError } from "./mmio.ts";
 * const e: RegFileError = { kind: "reg-file-header", field: "magic", value: 0, expected: "VMIO" };
 * ```
 */
export interface RegFileError {
  /** Discriminant. */
  readonly kind: "reg-file-header";
  /** The word's name. */
  readonly field: string;
  /** What it holds. */
  readonly value: number;
  /** What it should hold. */
  readonly expected: string;
}

/**
 * Check that `regs` is a register file a transport for `queueCount` queues wrote (length,
 * magic, queue count, a status byte with DRIVER_OK only after FEATURES_OK) and return its
 * status byte. A restarted device worker runs this before it trusts the file.
 *
 * @example
 * ```ts
 * import { checkRegFile, regFileWords } from "./mmio.ts";
 * checkRegFile(new Int32Array(regFileWords(1)), 1).ok; // false: no magic
 * ```
 */
export function checkRegFile(regs: Int32Array, queueCount: number): Result<number, RegFileError> {
  const header = (field: string, value: number, expected: string) =>
    err<RegFileError>({ kind: "reg-file-header", field, value, expected });
  const words = regFileWords(queueCount);
  if (regs.length < words) return header("length", regs.length, `at least ${words}`);
  if (regs[RegFileWord.MAGIC] !== REG_FILE_MAGIC) {
    return header("magic", regs[RegFileWord.MAGIC], "VMIO");
  }
  if (regs[RegFileWord.QUEUE_COUNT] !== queueCount) {
    return header("queueCount", regs[RegFileWord.QUEUE_COUNT], String(queueCount));
  }
  const status = regs[RegFileWord.STATUS];
  if (status < 0 || status > 0xff) return header("status", status, "a u8");
  if ((status & Status.DRIVER_OK) !== 0 && (status & Status.FEATURES_OK) === 0) {
    return header("status", status, "DRIVER_OK only with FEATURES_OK");
  }
  return ok(status);
}

/**
 * Put a register file in the power-on state of a transport for `queueCount` queues (all
 * words 0 but the magic and the queue count).
 *
 * @example
 * ```ts
 * import { checkRegFile, initRegFile, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(2) * 4));
 * initRegFile(regs, 2);
 * checkRegFile(regs, 2); // { ok: true, value: 0 }
 * ```
 */
export function initRegFile(regs: Int32Array, queueCount: number): void {
  regs.fill(0, 0, regFileWords(queueCount));
  regs[RegFileWord.MAGIC] = REG_FILE_MAGIC;
  regs[RegFileWord.QUEUE_COUNT] = queueCount;
}

/**
 * The register-file side of a device reset (§2.4): Status first (a device worker that dies
 * mid-reset leaves a file whose Status says reset), then features, selects, InterruptStatus
 * and every queue's configuration. ConfigGeneration, the kick counters and the lost-notification
 * words are kept.
 *
 * @example
 * ```ts
 * import { initRegFile, regFileWords, resetRegFile, RegFileWord } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * initRegFile(regs, 1);
 * regs[RegFileWord.STATUS] = 0x0f;
 * resetRegFile(regs, 1);
 * regs[RegFileWord.STATUS]; // 0
 * ```
 */
export function resetRegFile(regs: Int32Array, queueCount: number): void {
  regs[RegFileWord.STATUS] = 0;
  regs[RegFileWord.DRIVER_FEATURES_LO] = 0;
  regs[RegFileWord.DRIVER_FEATURES_HI] = 0;
  regs[RegFileWord.DEVICE_FEATURES_SEL] = 0;
  regs[RegFileWord.DRIVER_FEATURES_SEL] = 0;
  regs[RegFileWord.QUEUE_SEL] = 0;
  Atomics.store(regs, RegFileWord.INTERRUPT_STATUS, 0);
  for (let q = 0; q < queueCount; q++) clearQueueWords(regs, q);
}

/**
 * Clear queue `q`'s configuration words (size, ready, addresses); its kick counter and the
 * lost-notification words stay.
 *
 * @example
 * ```ts
 * import { clearQueueWords, QueueWord, queueWord, regFileWords } from "./mmio.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * regs[queueWord(0, QueueWord.READY)] = 1;
 * clearQueueWords(regs, 0);
 * regs[queueWord(0, QueueWord.READY)]; // 0
 * ```
 */
export function clearQueueWords(regs: Int32Array, q: number): void {
  regs.fill(0, queueWord(q, QueueWord.SIZE), queueWord(q, QueueWord.NOTIFY_COUNT));
}
