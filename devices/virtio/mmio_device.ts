/**
 * The device side of the virtio-mmio transport (virtio 1.2 §4.2): it answers the guest
 * driver's trapped register accesses, owns status and feature negotiation (through a
 * `DeviceStatusMachine`), checks and enables queues, and hands them to the device model when
 * the driver sets DRIVER_OK.
 *
 * It runs on the device worker. The lab's mailbox calls `read` / `write` synchronously for each
 * trapped access; the device model calls `signalUsed`, `signalConfigChange` and
 * `markNeedsReset`. All transport state is kept in the shared register file (`mmio.ts`), so a
 * device worker restarted after a crash rebuilds the transport with `restore`, and the queues
 * resume from their state records.
 *
 * Every register access is guest input: an access the spec forbids is ignored and counted,
 * never thrown. Crash ordering: the Status word shows DRIVER_OK only after the queues' state
 * records were reset, and a reset clears Status before anything else, so a restarted worker
 * never trusts a stale state record.
 *
 * @module
 */

import type { DmaView } from "../memory/dma.ts";
import { ok, type Result } from "../base/result.ts";
import type { DescriptorChain } from "./chain.ts";
import { Feature, Status } from "./constants.ts";
import type { ActivateError, VirtioDeviceModel } from "./device_model.ts";
import { type FeatureSet, hasFeature, type NegotiationRules } from "./features.ts";
import {
  checkRegFile,
  consumeDrop,
  initRegFile,
  InterruptBit,
  MMIO_MAGIC,
  MMIO_VERSION,
  MmioReg,
  QUEUE_CONFIG_REGS,
  queueConfigOf,
  QueueWord,
  queueWord,
  type QueueWordField,
  READ_ONLY_REGS,
  RegFileWord,
  regFileWords,
  resetRegFile,
  VLAB_VENDOR_ID,
  WRITE_ONLY_REGS,
} from "./mmio.ts";
import type { DeviceQueue, Layout, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import { type MmioRestoreError, replayRegFile, resumeQueue } from "./mmio_restore.ts";
import { activateQueue, type QueueRefusal, queueRefusal, recheckQueueAreas } from "./mmio_queue.ts";
import { checkQueueConfig, type QueueAreas } from "./setup.ts";
import { DeviceStatusMachine, type NeedsResetReason } from "./status.ts";

export type { QueueActivateFailure, QueueAreaRevoked, QueueRefusal } from "./mmio_queue.ts";
export type { MmioRestoreError, QueueRestoreFailure } from "./mmio_restore.ts";

/** What an `MmioDeviceTransport` needs. */
export interface MmioDeviceOptions {
  /** The device model behind the registers. */
  readonly model: VirtioDeviceModel;
  /** The device's view of guest memory while `VIRTIO_F_ACCESS_PLATFORM` is not negotiated. */
  readonly dma: DmaView;
  /**
   * The view once the driver negotiated `VIRTIO_F_ACCESS_PLATFORM` (the device's `IommuDma`
   * behind the vIOMMU: every address it sees, rings included, is then an IOVA). The choice is
   * made at FEATURES_OK, not here; without this option ACCESS_PLATFORM changes nothing.
   */
  readonly platformDma?: DmaView;
  /** Ring access for the device halves of the queues. */
  readonly ring: RingAccess;
  /** The shared register file, at least `regFileWords(model.queueCount)` words. */
  readonly regs: Int32Array;
  /** The state record of `queue` in shared memory (`stateBytes(layout, size)` bytes). */
  readonly queueState: (queue: number, layout: Layout, size: number) => Uint32Array;
  /** The VendorID register; `VLAB_VENDOR_ID` by default. */
  readonly vendorId?: number;
  /** What the device insists on at FEATURES_OK (VERSION_1 by default). */
  readonly rules?: NegotiationRules;
  /** Called after interrupt bits were raised in the register file: ring the guest's doorbell. */
  readonly onInterrupt?: (bits: number) => void;
}

/** Counters of one transport (they restart with a restored transport). */
export interface MmioCounters {
  /** Writes the spec forbids: queue registers while ready or past the queues, read-only registers, status bits cleared without a reset, driver features after FEATURES_OK. */
  ignoredWrites: number;
  /** Accesses that are not register accesses at all: unknown offsets, bad sizes or alignment, values that do not fit. */
  invalidAccesses: number;
  /** Resets (Status written 0). */
  resets: number;
  /** QueueReady writes of 1 refused by the queue checks. */
  refusedQueueConfigs: number;
  /** Model activations (DRIVER_OK, or a restore of a live device). */
  activations: number;
  /** Activations the model or a queue refused (the device then needs a reset). */
  failedActivations: number;
  /** QueueNotify writes for an existing queue. */
  kicks: number;
}

const NO_QUEUES: ReadonlyArray<DeviceQueue | null> = Object.freeze([]);
const NO_CHAINS: ReadonlyArray<ReadonlyArray<DescriptorChain>> = Object.freeze([]);

/**
 * The device side of one virtio-mmio register block.
 *
 * @example
 * ```ts
 * import { GuestMemory } from "../memory/memory.ts";
 * import { DirectDma } from "../memory/dma.ts";
 * import { OK_VOID } from "../base/result.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { createState } from "./state.ts";
 * import { MmioReg, regFileWords } from "./mmio.ts";
 * import { MmioDeviceTransport } from "./mmio_device.ts";
 * const mem = GuestMemory.create(1 << 20);
 * const model = { deviceId: 1, queueCount: 1, queueMaxSize: 256, offered: 1n << 32n, configSize: 0,
 *   readConfig: () => 0, activate: () => OK_VOID, reset: () => {} };
 * const t = new MmioDeviceTransport({ model, dma: new DirectDma(mem), ring: new SharedRingAccess(mem),
 *   regs: new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4)),
 *   queueState: (_q, layout, size) => createState(layout, size) });
 * t.read(MmioReg.MAGIC_VALUE); // 0x74726976
 * ```
 */
export class MmioDeviceTransport {
  /** Counters; read them, do not write them. */
  readonly counters: Readonly<MmioCounters>;
  /** The last queue configuration QueueReady refused, for diagnostics; null after a reset. */
  lastQueueRefusal: QueueRefusal | null = null;
  #counters: MmioCounters;
  #opts: MmioDeviceOptions;
  #model: VirtioDeviceModel;
  #regs: Int32Array;
  #machine: DeviceStatusMachine;
  #queues: ReadonlyArray<DeviceQueue | null> = NO_QUEUES;
  // Guest-physical areas of each live queue, as translated when it opened (null: not ready).
  #areas: ReadonlyArray<QueueAreas | null> = [];
  #restoredInFlight: ReadonlyArray<ReadonlyArray<DescriptorChain>> = NO_CHAINS;
  /** Set while `restore` constructs: the constructor then leaves the register file alone. */
  static #restoring = false;

  /**
   * A transport at power-on state over a fresh register file (it writes the whole file).
   * Throws a `RangeError` if `regs` is too short or the model offers an inconsistent feature
   * set (programmer errors).
   */
  constructor(opts: MmioDeviceOptions) {
    const words = regFileWords(opts.model.queueCount);
    if (opts.regs.length < words) {
      throw new RangeError(
        `Cannot use the register file: ${opts.regs.length} words, need ${words}`,
      );
    }
    this.#opts = opts;
    this.#model = opts.model;
    this.#regs = opts.regs;
    this.#machine = new DeviceStatusMachine({ offered: opts.model.offered, rules: opts.rules });
    this.#counters = {
      ignoredWrites: 0,
      invalidAccesses: 0,
      resets: 0,
      refusedQueueConfigs: 0,
      activations: 0,
      failedActivations: 0,
      kicks: 0,
    };
    this.counters = this.#counters;
    if (MmioDeviceTransport.#restoring) return;
    initRegFile(this.#regs, opts.model.queueCount);
  }

  /** The status machine (status byte, negotiated features, its own counters). */
  get statusMachine(): DeviceStatusMachine {
    return this.#machine;
  }

  /**
   * The DMA view in force: `platformDma` once ACCESS_PLATFORM is negotiated (FEATURES_OK set
   * with it accepted), else `dma`. Queues are built over it, so a device without
   * ACCESS_PLATFORM pays nothing per access.
   */
  get dma(): DmaView {
    const platform = this.#opts.platformDma;
    return platform && hasFeature(this.#machine.negotiated, Feature.ACCESS_PLATFORM)
      ? platform
      : this.#opts.dma;
  }

  /**
   * After the device's IOMMU invalidated translations (`IommuDma.beginBatch()` returned true):
   * translate every live queue's areas again. An area that is no longer mapped, or maps to other
   * guest pages, stops the device (DEVICE_NEEDS_RESET with a `queue-area-revoked` reason): it
   * never keeps using ring pages through a mapping the guest removed. Returns false then.
   */
  recheckQueues(): boolean {
    if (!this.#machine.isLive()) return true;
    const negotiated = this.#machine.negotiated;
    for (let q = 0; q < this.#queues.length; q++) {
      const inUse = this.#areas[q];
      if (!this.#queues[q] || !inUse) continue;
      const config = queueConfigOf(this.#regs, q, negotiated);
      const revoked = recheckQueueAreas(this.dma, q, config, inUse);
      if (revoked) {
        this.markNeedsReset(revoked);
        return false;
      }
    }
    return true;
  }

  /** The device halves of the queues while the device is live, indexed by queue; else empty. */
  get queues(): ReadonlyArray<DeviceQueue | null> {
    return this.#machine.isLive() ? this.#queues : NO_QUEUES;
  }

  /** After `restore`: the chains each queue had in flight, in fetch order; complete each once. */
  get restoredInFlight(): ReadonlyArray<ReadonlyArray<DescriptorChain>> {
    return this.#restoredInFlight;
  }

  /** Whether the device may use its queues (DRIVER_OK, no DEVICE_NEEDS_RESET, no FAILED). */
  isLive(): boolean {
    return this.#machine.isLive();
  }

  /** A driver read of `size` bytes at `offset`; anything invalid reads 0 and is counted. */
  read(offset: number, size: 1 | 2 | 4 = 4): number {
    if (!this.#validAccess(offset, size)) return 0;
    if (offset >= MmioReg.CONFIG) {
      return this.#model.readConfig(offset - MmioReg.CONFIG, size) >>> 0;
    }
    const regs = this.#regs;
    const sel = regs[RegFileWord.QUEUE_SEL] >>> 0;
    const hasQueue = sel < this.#model.queueCount;
    switch (offset) {
      case MmioReg.MAGIC_VALUE:
        return MMIO_MAGIC;
      case MmioReg.VERSION:
        return MMIO_VERSION;
      case MmioReg.DEVICE_ID:
        return this.#model.deviceId >>> 0;
      case MmioReg.VENDOR_ID:
        return (this.#opts.vendorId ?? VLAB_VENDOR_ID) >>> 0;
      case MmioReg.DEVICE_FEATURES:
        return this.#machine.readDeviceFeatures(regs[RegFileWord.DEVICE_FEATURES_SEL] >>> 0);
      case MmioReg.QUEUE_SIZE_MAX:
        return hasQueue ? this.#model.queueMaxSize : 0;
      case MmioReg.QUEUE_READY:
        return hasQueue ? regs[queueWord(sel, QueueWord.READY)] : 0;
      case MmioReg.INTERRUPT_STATUS:
        // observe interrupt bits: pairs with Atomics.or in #raise and Atomics.and in ackInterrupt.
        return Atomics.load(regs, RegFileWord.INTERRUPT_STATUS) >>> 0;
      case MmioReg.STATUS:
        return regs[RegFileWord.STATUS];
      case MmioReg.CONFIG_GENERATION:
        return regs[RegFileWord.CONFIG_GENERATION] >>> 0;
      case MmioReg.SHM_LEN_LOW:
      case MmioReg.SHM_LEN_HIGH:
      case MmioReg.SHM_BASE_LOW:
      case MmioReg.SHM_BASE_HIGH:
        return 0xffff_ffff; // no shared memory regions: length -1 (§4.2.2)
      case MmioReg.QUEUE_RESET:
        return 0;
    }
    if (WRITE_ONLY_REGS.has(offset)) return 0;
    this.#counters.invalidAccesses++;
    return 0;
  }

  /** A driver write of `size` bytes at `offset`; anything invalid is ignored and counted. */
  write(offset: number, value: number, size: 1 | 2 | 4 = 4): void {
    if (!this.#validAccess(offset, size)) return;
    // A 32-bit value may come as an i32 (a register file word); narrower ones only unsigned.
    const min = size === 4 ? -(2 ** 31) : 0;
    if (!Number.isInteger(value) || value < min || value >= 2 ** (8 * size)) {
      this.#counters.invalidAccesses++;
      return;
    }
    const v = value >>> 0;
    const regs = this.#regs;
    if (offset >= MmioReg.CONFIG || READ_ONLY_REGS.has(offset)) {
      this.#counters.ignoredWrites++; // the config space of the model contract is read-only
      return;
    }
    const field = QUEUE_CONFIG_REGS.get(offset);
    if (field !== undefined) return this.#writeQueueWord(field, v);
    switch (offset) {
      case MmioReg.DEVICE_FEATURES_SEL:
        regs[RegFileWord.DEVICE_FEATURES_SEL] = v;
        return;
      case MmioReg.DRIVER_FEATURES_SEL:
        regs[RegFileWord.DRIVER_FEATURES_SEL] = v;
        return;
      case MmioReg.DRIVER_FEATURES: {
        const out = this.#machine.writeDriverFeatures(
          regs[RegFileWord.DRIVER_FEATURES_SEL] >>> 0,
          v,
        );
        if (out.kind === "ignored") this.#counters.ignoredWrites++;
        const accepted = this.#machine.driverFeatures;
        regs[RegFileWord.DRIVER_FEATURES_LO] = Number(accepted & 0xffff_ffffn);
        regs[RegFileWord.DRIVER_FEATURES_HI] = Number(accepted >> 32n);
        return;
      }
      case MmioReg.QUEUE_SEL:
        regs[RegFileWord.QUEUE_SEL] = v;
        return;
      case MmioReg.QUEUE_READY:
        return this.#writeQueueReady(v);
      case MmioReg.QUEUE_NOTIFY: {
        const q = v & 0xffff; // the queue index, also with NOTIFICATION_DATA (§2.9)
        if (q >= this.#model.queueCount) {
          this.#counters.ignoredWrites++;
          return;
        }
        if (consumeDrop(regs, q, "kick")) return; // a lost kick (fault injection)
        this.#counters.kicks++;
        // publish kick: pairs with the device worker's Atomics.load of NOTIFY_COUNT.
        Atomics.add(regs, queueWord(q, QueueWord.NOTIFY_COUNT), 1);
        return;
      }
      case MmioReg.INTERRUPT_ACK:
        Atomics.and(regs, RegFileWord.INTERRUPT_STATUS, ~v);
        return;
      case MmioReg.STATUS:
        return this.#writeStatus(v);
      case MmioReg.SHM_SEL:
        return;
      case MmioReg.QUEUE_RESET:
        this.#counters.ignoredWrites++; // RING_RESET is not supported by this transport
        return;
    }
    this.#counters.invalidAccesses++;
  }

  /**
   * Raise a used-buffer interrupt for `queue` (only while live: §2.1 forbids it before
   * DRIVER_OK); false if none was raised. With a queue index, an armed lost-interrupt fault of
   * that queue (`dropNotifications`) drops it; -1 (the default) names no queue.
   */
  signalUsed(queue = -1): boolean {
    if (!this.#machine.isLive()) return false;
    if (
      queue >= 0 && queue < this.#model.queueCount && consumeDrop(this.#regs, queue, "interrupt")
    ) {
      return false;
    }
    this.#raise(InterruptBit.USED);
    return true;
  }

  /** The config space changed: bump ConfigGeneration and raise a config interrupt after DRIVER_OK. */
  signalConfigChange(): void {
    const regs = this.#regs;
    regs[RegFileWord.CONFIG_GENERATION] = (regs[RegFileWord.CONFIG_GENERATION] + 1) | 0;
    if (this.#machine.bumpConfigGeneration()) this.#raise(InterruptBit.CONFIG);
  }

  /**
   * Set DEVICE_NEEDS_RESET because of `reason`, stop using the queues, and raise a config
   * interrupt if DRIVER_OK is set (§2.1.2). The model must stop too: it sees `isLive()` false.
   */
  markNeedsReset(reason: NeedsResetReason): void {
    const raise = this.#machine.markNeedsReset(reason);
    this.#queues = NO_QUEUES;
    this.#regs[RegFileWord.STATUS] = this.#machine.readStatus();
    if (raise) this.#raise(InterruptBit.CONFIG);
  }

  /**
   * Rebuild a transport from a register file written by a previous device worker (crashed or
   * replaced): status and negotiated features are replayed into a new status machine, live
   * queues resume from their state records (`SplitDeviceQueue.restore` /
   * `PackedDeviceQueue.restore`) and the model is activated again. The chains in flight are in
   * `restoredInFlight`. A register file this transport could not have written is an error; a
   * queue that cannot resume (corrupt record or ring) leaves the device in DEVICE_NEEDS_RESET
   * so the guest recovers by resetting.
   */
  static restore(opts: MmioDeviceOptions): Result<MmioDeviceTransport, MmioRestoreError> {
    const count = opts.model.queueCount;
    const checked = checkRegFile(opts.regs, count);
    if (!checked.ok) return checked;
    const status = checked.value;
    MmioDeviceTransport.#restoring = true;
    let t: MmioDeviceTransport;
    try {
      t = new MmioDeviceTransport(opts);
    } finally {
      MmioDeviceTransport.#restoring = false;
    }
    // Without FEATURES_OK no queue can be ready: this also finishes a reset cut short by the crash.
    const replayed = replayRegFile(t.#machine, t.#regs, { status, queueCount: count });
    if (!replayed.ok) return replayed;
    if (t.#machine.isLive()) t.#resume();
    return ok(t);
  }

  /** Restore: resume every ready queue from its state record, then activate the model. */
  #resume(): void {
    const inFlight: DescriptorChain[][] = [];
    this.#open(resumeQueue(this.dma, this.#opts.ring, inFlight));
    for (let q = 0; q < this.#model.queueCount; q++) inFlight[q] ??= [];
    this.#restoredInFlight = inFlight;
  }

  /** DRIVER_OK: start every ready queue at power-on state, then activate the model. */
  #activate(): void {
    this.#open(activateQueue(this.dma, this.#opts.ring));
  }

  /**
   * Open the device half of every ready queue with `openQueue` and activate the model over
   * them; the first queue that cannot open sets DEVICE_NEEDS_RESET and nothing is activated.
   */
  #open(
    openQueue: (
      q: number,
      config: QueueConfig,
      st: Uint32Array,
    ) => Result<DeviceQueue, NeedsResetReason>,
  ): void {
    const negotiated = this.#machine.negotiated;
    const queues: (DeviceQueue | null)[] = [];
    for (let q = 0; q < this.#model.queueCount; q++) {
      if (this.#regs[queueWord(q, QueueWord.READY)] !== 1) {
        queues.push(null);
        continue;
      }
      const config = queueConfigOf(this.#regs, q, negotiated);
      const r = openQueue(q, config, this.#opts.queueState(q, config.layout, config.size));
      if (!r.ok) {
        this.#counters.failedActivations++;
        this.markNeedsReset(r.error);
        return;
      }
      queues.push(r.value);
    }
    this.#areas = queues.map((queue, q) => {
      if (queue === null) return null;
      const a = checkQueueConfig(this.dma, queueConfigOf(this.#regs, q, negotiated));
      return a.ok ? a.value : null;
    });
    this.#start(negotiated, queues);
  }

  #start(negotiated: FeatureSet, queues: ReadonlyArray<DeviceQueue | null>): void {
    this.#queues = queues;
    const a: Result<void, ActivateError> = this.#model.activate({ negotiated, queues });
    if (!a.ok) {
      this.#counters.failedActivations++;
      this.markNeedsReset(a.error);
      return;
    }
    this.#counters.activations++;
  }

  #validAccess(offset: number, size: number): boolean {
    const valid = Number.isInteger(offset) && offset >= 0 &&
      (size === 1 || size === 2 || size === 4) &&
      offset % size === 0 &&
      // Control registers are 32-bit only (§4.2.2); config space takes 8, 16 and 32-bit accesses.
      (offset < MmioReg.CONFIG
        ? size === 4
        : offset - MmioReg.CONFIG + size <= this.#model.configSize);
    if (!valid) this.#counters.invalidAccesses++;
    return valid;
  }

  #writeQueueWord(field: QueueWordField, v: number): void {
    const q = this.#regs[RegFileWord.QUEUE_SEL] >>> 0;
    if (q >= this.#model.queueCount || this.#regs[queueWord(q, QueueWord.READY)] !== 0) {
      this.#counters.ignoredWrites++; // §4.2.3.2: a ready queue's configuration is fixed
      return;
    }
    this.#regs[queueWord(q, field)] = v;
  }

  #writeQueueReady(v: number): void {
    const q = this.#regs[RegFileWord.QUEUE_SEL] >>> 0;
    const status = this.#machine.readStatus();
    if (q >= this.#model.queueCount || v > 1 || (status & Status.DRIVER_OK) !== 0) {
      this.#counters.ignoredWrites++; // no per-queue start or stop once live (no RING_RESET)
      return;
    }
    const ready = queueWord(q, QueueWord.READY);
    if (v === 0 || this.#regs[ready] === 1) {
      this.#regs[ready] = v;
      return;
    }
    // The layout is known only once FEATURES_OK is set (§3.1.1 step 7 comes after step 5).
    const config = queueConfigOf(this.#regs, q, this.#machine.negotiated);
    const max = this.#model.queueMaxSize;
    const refusal = queueRefusal(this.dma, { config, status, max });
    if (refusal) {
      this.#counters.refusedQueueConfigs++;
      this.lastQueueRefusal = refusal;
      return;
    }
    this.#regs[ready] = 1;
  }

  #writeStatus(v: number): void {
    if (v > 0xff) {
      this.#counters.invalidAccesses++;
      return;
    }
    const m = this.#machine;
    const wasDriverOk = (m.readStatus() & Status.DRIVER_OK) !== 0;
    const out = m.writeStatus(v);
    if (out.kind === "reset") return this.#reset();
    if (out.kind === "ignored-clear") this.#counters.ignoredWrites++;
    // Activate before the Status word shows DRIVER_OK: a restore then never sees DRIVER_OK
    // with state records that were not reset for this activation.
    if (!wasDriverOk && m.isLive()) this.#activate();
    this.#regs[RegFileWord.STATUS] = m.readStatus();
  }

  #reset(): void {
    resetRegFile(this.#regs, this.#model.queueCount);
    this.#queues = NO_QUEUES;
    this.#areas = [];
    this.#restoredInFlight = NO_CHAINS;
    this.lastQueueRefusal = null;
    this.#counters.resets++;
    this.#model.reset();
  }

  #raise(bits: number): void {
    // publish interrupt bits: pairs with the driver's Atomics.load in readInterruptStatus.
    Atomics.or(this.#regs, RegFileWord.INTERRUPT_STATUS, bits);
    this.#opts.onInterrupt?.(bits);
  }
}
