/**
 * The guest driver's side of the virtio-mmio transport: device initialisation exactly as
 * virtio 1.2 §3.1.1 and §4.2.3 describe it, the configuration-generation loop (§2.5), reset,
 * and the interrupt fast path.
 *
 * It runs on the guest worker. Register accesses go through a `RegisterPort` (in the lab a
 * mailbox to the device worker, in tests a direct call). A port may post writes (the lab's
 * mailbox does: a write resolves before the device performs it, a read is answered after every
 * earlier access): the driver reads wherever a write must have taken effect (Status after a
 * reset, FEATURES_OK, QueueReady, DRIVER_OK), so a bring-up ends with a read and nothing is
 * left posted, and it issues independent reads together (`Promise.all`), so that each batch
 * costs one round trip: 6 for `initDevice`, 5 for a reset's bring-up, whatever the queue
 * count. What the device answers is peer input: a refusal or an odd value ends initialisation
 * with a `DriverInitError` (and FAILED in Status), never a throw. `throw` is kept for the
 * driver's own programmer errors (a requested queue size that is not 1…32768).
 *
 * @module
 */

import type { PageAllocator } from "../memory/allocator.ts";
import type { GuestMemory } from "../memory/memory.ts";
import { err, ok, OK_VOID, type Result } from "../base/result.ts";
import { Feature, MAX_QUEUE_SIZE, Status } from "./constants.ts";
import type { QueueSetupError } from "./errors.ts";
import { queueErrorParts } from "./errors.ts";
import { type FeatureSet, featureWord, hasFeature } from "./features.ts";
import {
  layoutOf,
  MMIO_MAGIC,
  MMIO_VERSION,
  MmioReg,
  RegFileWord,
  ringFeaturesOf,
} from "./mmio.ts";
import { packedAreaSizes } from "./packed_layout.ts";
import { createDriverQueue } from "./driver_queue.ts";
import type { DriverQueue, Layout, QueueConfig } from "./queue.ts";
import type { RingAccess } from "./ring_access.ts";
import type { IndirectArea } from "./setup.ts";
import { splitAreaSizes } from "./split_layout.ts";

/**
 * The driver's access to one register block. Sizes default to 4; the control registers take
 * only 32-bit accesses, the config space also 8 and 16-bit ones.
 *
 * @example
 * ```ts
 * import type { RegisterPort } from "./mmio_driver.ts";
 * const regs = new Map<number, number>();
 * const port: RegisterPort = {
 *   read: (offset) => Promise.resolve(regs.get(offset) ?? 0),
 *   write: (offset, value) => { regs.set(offset, value); return Promise.resolve(); },
 * };
 * ```
 */
export interface RegisterPort {
  /** Read `size` bytes at `offset`. */
  read(offset: number, size?: 1 | 2 | 4): Promise<number>;
  /** Write `size` bytes of `value` at `offset`. */
  write(offset: number, value: number, size?: 1 | 2 | 4): Promise<void>;
}

/** What `initDevice` needs. */
export interface DriverInitOptions {
  /** The device ID the driver is for (1 = network). */
  readonly deviceId: number;
  /** Every feature the driver understands. */
  readonly supported: FeatureSet;
  /** The queues to set up, in queue order, with the size the driver would like. */
  readonly queues: ReadonlyArray<{ readonly size: number }>;
  /** Guest memory. */
  readonly mem: GuestMemory;
  /** Where the rings' pages come from. */
  readonly alloc: PageAllocator;
  /** Ring access for the driver halves. */
  readonly ring: RingAccess;
  /** Descriptors per indirect table, when INDIRECT_DESC is negotiated; none by default. */
  readonly indirectEntries?: number;
  /**
   * Run `fn`, which writes guest memory (a queue's rings), or answer `otherwise` when the driver's
   * CPU is gone (a crashed VM's guest: `lab/wire/fence.ts`), in which case the initialisation
   * goes no further and never settles. Default: run it.
   */
  readonly section?: <T>(fn: () => T, otherwise: T) => T;
}

/** A device the driver initialised: DRIVER_OK is set. */
export interface InitializedDevice {
  /** The features both sides agreed on. */
  readonly negotiated: FeatureSet;
  /** The driver halves, in queue order. */
  readonly queues: DriverQueue[];
  /** The ring layout of every queue. */
  readonly layout: Layout;
  /** First GPAs of every page allocation made for the queues (free them after a reset). */
  readonly pages: readonly number[];
}

/**
 * Why the driver could not initialise the device. Each variant's doc line is its message.
 *
 * @example
 * ```ts
 * import { type DriverInitError, formatDriverInitError } from "./mmio_driver.ts";
 * const e: DriverInitError = { kind: "queue-unavailable", queue: 1 };
 * formatDriverInitError(e); // "Cannot initialise the device: queue 1 is not available (QueueSizeMax 0)"
 * ```
 */
export type DriverInitError =
  /** MagicValue is not "virt". */
  | { readonly kind: "bad-magic"; readonly value: number }
  /** Version is not 2 (legacy or unknown). */
  | { readonly kind: "bad-version"; readonly value: number }
  /** DeviceID is not the driver's (0 is an empty slot). */
  | { readonly kind: "wrong-device"; readonly expected: number; readonly found: number }
  /** Status did not read 0 after a reset. */
  | { readonly kind: "reset-timeout"; readonly status: number }
  /** The device does not offer VERSION_1. */
  | { readonly kind: "legacy-device"; readonly offered: FeatureSet }
  /** FEATURES_OK did not stick: the device refused the accepted features. */
  | { readonly kind: "features-refused"; readonly accepted: FeatureSet; readonly status: number }
  /** QueueReady was already 1 before the driver configured the queue. */
  | { readonly kind: "queue-already-ready"; readonly queue: number }
  /** QueueSizeMax is 0. */
  | { readonly kind: "queue-unavailable"; readonly queue: number }
  /** No pages left for a queue area. */
  | {
    readonly kind: "queue-out-of-memory";
    readonly queue: number;
    readonly bytes: number;
    readonly freePages: number;
  }
  /** The driver half refused the queue configuration. */
  | { readonly kind: "queue-setup"; readonly queue: number; readonly cause: QueueSetupError }
  /** QueueReady read back 0 after the driver wrote 1. */
  | { readonly kind: "queue-refused"; readonly queue: number }
  /** Status did not show DRIVER_OK (or showed DEVICE_NEEDS_RESET) after the driver set it. */
  | { readonly kind: "driver-ok-refused"; readonly status: number };

/** The config space kept changing while the driver read it. */
export interface ConfigUnstableError {
  /** Discriminant. */
  readonly kind: "config-unstable";
  /** Reads tried. */
  readonly attempts: number;
}

/**
 * Render a `DriverInitError` as one sentence-case line.
 *
 * @example
 * ```ts
 * import { formatDriverInitError } from "./mmio_driver.ts";
 * formatDriverInitError({ kind: "bad-magic", value: 0 });
 * // "Cannot initialise the device: MagicValue is 0x0, not 0x74726976"
 * ```
 */
export function formatDriverInitError(e: DriverInitError): string {
  return `Cannot initialise the device: ${driverInitReason(e)}`;
}

/**
 * Why the driver could not initialise the device, as the part of
 * {@linkcode formatDriverInitError}'s line after "Cannot initialise the device: ", for a caller
 * that names the device itself. `queueNames` gives the queues' names in queue order (a queue is
 * then `queue 0 (receiveq)`, not only `queue 0`).
 *
 * @example
 * ```ts
 * import { driverInitReason } from "./mmio_driver.ts";
 * driverInitReason({ kind: "queue-unavailable", queue: 1 }, ["receiveq", "transmitq"]);
 * // "queue 1 (transmitq) is not available (QueueSizeMax 0)"
 * ```
 */
export function driverInitReason(
  e: DriverInitError,
  queueNames: readonly string[] = [],
): string {
  const hex = (n: number | bigint) => `0x${n.toString(16)}`;
  const queue = (i: number) => {
    const name = queueNames[i];
    return name === undefined ? `queue ${i}` : `queue ${i} (${name})`;
  };
  switch (e.kind) {
    case "bad-magic":
      return `MagicValue is ${hex(e.value)}, not ${hex(MMIO_MAGIC)}`;
    case "bad-version":
      return `Version is ${e.value}, not ${MMIO_VERSION}`;
    case "wrong-device":
      return `DeviceID is ${e.found}, expected ${e.expected}`;
    case "reset-timeout":
      return `Status reads ${hex(e.status)} after a reset, not 0`;
    case "legacy-device":
      return `VERSION_1 is not offered (features ${hex(e.offered)})`;
    case "features-refused":
      return `the device refused features ${hex(e.accepted)} (Status ${hex(e.status)})`;
    case "queue-already-ready":
      return `${queue(e.queue)} is already ready before configuration`;
    case "queue-unavailable":
      return `${queue(e.queue)} is not available (QueueSizeMax 0)`;
    case "queue-out-of-memory":
      return `no memory for ${e.bytes} bytes of ${queue(e.queue)} (${e.freePages} pages free)`;
    case "queue-setup":
      // "queue 0: size 300 is not allowed …", not a second "Cannot enable the queue:" in it.
      return `${queue(e.queue)}: ${queueErrorParts(e.cause).reason}`;
    case "queue-refused":
      return `the device refused ${queue(e.queue)} (QueueReady reads 0)`;
    case "driver-ok-refused":
      return `the device did not accept DRIVER_OK (Status ${hex(e.status)})`;
  }
}

/**
 * Reset the device (§2.4, §4.2.3.1): write 0 to Status, then read it until it is 0, at most
 * `maxReads` times.
 *
 * @example
 * ```ts
 * import { resetDevice, type RegisterPort } from "./mmio_driver.ts";
 * async function recover(port: RegisterPort): Promise<boolean> {
 *   return (await resetDevice(port)).ok;
 * }
 * ```
 */
export async function resetDevice(
  port: RegisterPort,
  maxReads = 16,
): Promise<Result<void, { kind: "reset-timeout"; status: number }>> {
  await port.write(MmioReg.STATUS, 0);
  let status = 0;
  for (let i = 0; i < maxReads; i++) {
    status = await port.read(MmioReg.STATUS);
    if (status === 0) return OK_VOID;
  }
  return err({ kind: "reset-timeout", status });
}

/**
 * Read the config space consistently (§2.5, §4.2.3.4): read ConfigGeneration, run `read`,
 * read ConfigGeneration again, and retry while they differ, at most `maxAttempts` times.
 *
 * @example
 * ```ts
 * import { MmioReg } from "./mmio.ts";
 * import { readConfigStable, type RegisterPort } from "./mmio_driver.ts";
 * async function mac(port: RegisterPort) {
 *   return await readConfigStable(port, async () => {
 *     const out: number[] = [];
 *     for (let i = 0; i < 6; i++) out.push(await port.read(MmioReg.CONFIG + i, 1));
 *     return out;
 *   });
 * }
 * ```
 */
export async function readConfigStable<T>(
  port: RegisterPort,
  read: () => Promise<T>,
  maxAttempts = 8,
): Promise<Result<T, ConfigUnstableError>> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const before = await port.read(MmioReg.CONFIG_GENERATION);
    const value = await read();
    const after = await port.read(MmioReg.CONFIG_GENERATION);
    if (before === after) return ok(value);
  }
  return err({ kind: "config-unstable", attempts: maxAttempts });
}

/**
 * The interrupt fast path: the InterruptStatus bits straight from the register file (no trap).
 *
 * @example
 * ```ts
 * import { InterruptBit, regFileWords } from "./mmio.ts";
 * import { readInterruptStatus } from "./mmio_driver.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * (readInterruptStatus(regs) & InterruptBit.USED) !== 0; // false
 * ```
 */
export function readInterruptStatus(regs: Int32Array): number {
  // observe interrupt bits: pairs with the device's Atomics.or in MmioDeviceTransport.#raise.
  return Atomics.load(regs, RegFileWord.INTERRUPT_STATUS) >>> 0;
}

/**
 * The interrupt fast path: acknowledge `bits` in the register file (InterruptACK without a trap).
 * Acknowledge before handling, so a bit raised meanwhile is not lost.
 *
 * @example
 * ```ts
 * import { InterruptBit, regFileWords } from "./mmio.ts";
 * import { ackInterrupt, readInterruptStatus } from "./mmio_driver.ts";
 * const regs = new Int32Array(new SharedArrayBuffer(regFileWords(1) * 4));
 * const bits = readInterruptStatus(regs);
 * ackInterrupt(regs, bits);
 * const reclaim = (bits & InterruptBit.USED) !== 0; // then take the used buffers
 * ```
 */
export function ackInterrupt(regs: Int32Array, bits: number): void {
  Atomics.and(regs, RegFileWord.INTERRUPT_STATUS, ~bits);
}

/**
 * Initialise the device as §3.1.1 and §4.2.3.2 say: reset, ACKNOWLEDGE, DRIVER, negotiate
 * (accept `offered & supported`), FEATURES_OK and its check, set up every queue (QueueSizeMax,
 * size, areas from the page allocator, QueueReady read back), DRIVER_OK. On any failure after
 * the reset it sets FAILED, frees the pages it took and returns the error.
 *
 * @example
 * ```ts
 * import { GuestMemory, PageAllocator } from "../memory/mod.ts";
 * import { SharedRingAccess } from "./ring_access.ts";
 * import { formatDriverInitError, initDevice, type RegisterPort } from "./mmio_driver.ts";
 * async function probe(port: RegisterPort, mem: GuestMemory) {
 *   const r = await initDevice(port, { deviceId: 1, supported: 1n << 32n, queues: [{ size: 256 }],
 *     mem, alloc: new PageAllocator(0x10000, 0x40000), ring: new SharedRingAccess(mem) });
 *   return r.ok ? r.value.queues : formatDriverInitError(r.error);
 * }
 * ```
 */
export async function initDevice(
  port: RegisterPort,
  opts: DriverInitOptions,
): Promise<Result<InitializedDevice, DriverInitError>> {
  for (const { size } of opts.queues) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_QUEUE_SIZE) {
      throw new RangeError(`Cannot request queue size ${size}: it must be 1 to ${MAX_QUEUE_SIZE}`);
    }
  }
  // The three identity reads in one round trip (reads have no side effects).
  const [magic, version, found] = await Promise.all([
    port.read(MmioReg.MAGIC_VALUE),
    port.read(MmioReg.VERSION),
    port.read(MmioReg.DEVICE_ID),
  ]);
  if (magic !== MMIO_MAGIC) return err({ kind: "bad-magic", value: magic });
  if (version !== MMIO_VERSION) return err({ kind: "bad-version", value: version });
  if (found !== opts.deviceId) return err({ kind: "wrong-device", expected: opts.deviceId, found });
  const reset = await resetDevice(port);
  if (!reset.ok) return reset;
  return await initAfterReset(port, opts);
}

/**
 * `initDevice` from the step after the reset (§3.1.1 step 2 on): for a driver that has just
 * reset a device it already identified (`reinitDevice` in `mmio_reinit.ts`), so one recovery is
 * one reset.
 *
 * @example
 * ```ts
 * import { initAfterReset, type DriverInitOptions, type RegisterPort, resetDevice } from "./mmio_driver.ts";
 * async function again(port: RegisterPort, opts: DriverInitOptions) {
 *   return (await resetDevice(port)).ok ? await initAfterReset(port, opts) : null;
 * }
 * ```
 */
export async function initAfterReset(
  port: RegisterPort,
  opts: DriverInitOptions,
): Promise<Result<InitializedDevice, DriverInitError>> {
  for (const { size } of opts.queues) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_QUEUE_SIZE) {
      throw new RangeError(`Cannot request queue size ${size}: it must be 1 to ${MAX_QUEUE_SIZE}`);
    }
  }
  let status = 0;
  const setStatus = async (bits: number) => {
    status |= bits;
    await port.write(MmioReg.STATUS, status);
  };
  const pages: number[] = [];
  const fail = async (e: DriverInitError): Promise<{ ok: false; error: DriverInitError }> => {
    await setStatus(Status.FAILED);
    for (const gpa of pages) opts.alloc.free(gpa);
    return err(e);
  };
  await setStatus(Status.ACKNOWLEDGE);
  await setStatus(Status.DRIVER);

  const [, low, , high] = await Promise.all([
    port.write(MmioReg.DEVICE_FEATURES_SEL, 0),
    port.read(MmioReg.DEVICE_FEATURES),
    port.write(MmioReg.DEVICE_FEATURES_SEL, 1),
    port.read(MmioReg.DEVICE_FEATURES),
  ]);
  const offered = BigInt(low >>> 0) | (BigInt(high >>> 0) << 32n);
  if (!hasFeature(offered, Feature.VERSION_1)) {
    return await fail({ kind: "legacy-device", offered });
  }
  const accepted = offered & opts.supported;
  for (const select of [0, 1]) {
    await port.write(MmioReg.DRIVER_FEATURES_SEL, select);
    await port.write(MmioReg.DRIVER_FEATURES, featureWord(accepted, select));
  }
  // FEATURES_OK, its read-back and every queue's QueueReady and QueueSizeMax in one round trip:
  // the queue reads come after FEATURES_OK took effect, and count only if it did.
  status |= Status.FEATURES_OK;
  const probe: Promise<unknown>[] = [port.write(MmioReg.STATUS, status), port.read(MmioReg.STATUS)];
  for (let queue = 0; queue < opts.queues.length; queue++) {
    probe.push(
      port.write(MmioReg.QUEUE_SEL, queue),
      port.read(MmioReg.QUEUE_READY),
      port.read(MmioReg.QUEUE_SIZE_MAX),
    );
  }
  const probed = (await Promise.all(probe)) as number[];
  const afterFeatures = probed[1];
  if ((afterFeatures & Status.FEATURES_OK) === 0) {
    return await fail({ kind: "features-refused", accepted, status: afterFeatures });
  }

  const layout = layoutOf(accepted);
  const features = ringFeaturesOf(accepted);
  const queues: DriverQueue[] = [];
  for (let queue = 0; queue < opts.queues.length; queue++) {
    if (probed[3 + 3 * queue] !== 0) return await fail({ kind: "queue-already-ready", queue });
    if (probed[4 + 3 * queue] === 0) return await fail({ kind: "queue-unavailable", queue });
  }
  for (let queue = 0; queue < opts.queues.length; queue++) {
    const max = probed[4 + 3 * queue];
    let size = Math.min(opts.queues[queue].size, max >>> 0);
    if (layout === "split") size = 1 << (31 - Math.clz32(size)); // round down to a power of 2
    const sizes = layout === "split" ? splitAreaSizes(size) : packedAreaSizes(size);
    // One page allocation per area: pages are 4096-aligned, above every area alignment.
    const addrs: number[] = [];
    const indirectBytes = features.indirect && (opts.indirectEntries ?? 0) > 0
      ? 16 * opts.indirectEntries! * size
      : 0;
    for (const bytes of [sizes.descriptor, sizes.driver, sizes.device, indirectBytes]) {
      if (bytes === 0) continue;
      const a = opts.alloc.allocBytes(bytes);
      if (!a.ok) {
        return await fail({
          kind: "queue-out-of-memory",
          queue,
          bytes,
          freePages: a.error.freePages,
        });
      }
      pages.push(a.value);
      addrs.push(a.value);
    }
    const config: QueueConfig = {
      layout,
      size,
      descAddr: addrs[0],
      driverAddr: addrs[1],
      deviceAddr: addrs[2],
      features,
    };
    const indirect: IndirectArea | null = indirectBytes > 0
      ? { gpa: addrs[3], entries: opts.indirectEntries! }
      : null;
    const make = () => createDriverQueue(opts.mem, opts.ring, config, indirect);
    const q = opts.section === undefined ? make() : opts.section<ReturnType<typeof make> | null>(
      make,
      null,
    );
    // A gone CPU's initialisation goes no further (it never settles).
    if (q === null) return await new Promise<never>(() => {});
    if (!q.ok) return await fail({ kind: "queue-setup", queue, cause: q.error });
    await port.write(MmioReg.QUEUE_SEL, queue);
    await port.write(MmioReg.QUEUE_SIZE, size);
    const pairs = [
      [MmioReg.QUEUE_DESC_LOW, config.descAddr],
      [MmioReg.QUEUE_DRIVER_LOW, config.driverAddr],
      [MmioReg.QUEUE_DEVICE_LOW, config.deviceAddr],
    ] as const;
    for (const [low, addr] of pairs) {
      await port.write(low, addr >>> 0);
      await port.write(low + 4, Math.floor(addr / 2 ** 32));
    }
    await port.write(MmioReg.QUEUE_READY, 1);
    queues.push(q.value);
  }
  // Every queue's QueueReady read back, in one round trip.
  const readBack: Promise<unknown>[] = [];
  for (let queue = 0; queue < opts.queues.length; queue++) {
    readBack.push(port.write(MmioReg.QUEUE_SEL, queue), port.read(MmioReg.QUEUE_READY));
  }
  const ready = (await Promise.all(readBack)) as number[];
  for (let queue = 0; queue < opts.queues.length; queue++) {
    if (ready[1 + 2 * queue] !== 1) return await fail({ kind: "queue-refused", queue });
  }

  await setStatus(Status.DRIVER_OK);
  const final = await port.read(MmioReg.STATUS);
  if ((final & Status.DRIVER_OK) === 0 || (final & Status.DEVICE_NEEDS_RESET) !== 0) {
    return await fail({ kind: "driver-ok-refused", status: final });
  }
  return ok({ negotiated: accepted, queues, layout, pages });
}
