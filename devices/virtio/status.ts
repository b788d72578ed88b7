/**
 * The device's side of the status byte and feature negotiation (virtio 1.2 §2.1, §2.4, §3.1;
 * reliability G1, G2, G13), independent of the transport.
 *
 * A transport (simulated PCI or MMIO registers) owns one `DeviceStatusMachine` per device and
 * forwards the driver's register accesses to it: `Status`, `DeviceFeatures` with its select,
 * `DriverFeatures` with its select. The device model asks it whether it may touch its queues
 * (`isLive`), marks it broken with `markNeedsReset`, and bumps the configuration generation when
 * its config space changes. It runs on whichever thread runs the device model; it holds no
 * shared memory.
 *
 * Everything the driver writes is guest input: a write the spec forbids is ignored and counted,
 * and a refused negotiation leaves FEATURES_OK clear; the outcome of each write is returned as
 * a value. Only a transport bug (a select or value the register cannot hold) throws.
 *
 * @module
 */

import { Status } from "./constants.ts";
import {
  FEATURE_WORDS,
  type FeatureError,
  type FeatureSet,
  featureWord,
  formatFeatureError,
  hasFeature,
  type NegotiationRules,
  validateDriverFeatures,
  withFeatureWord,
} from "./features.ts";

/** Counters of a `DeviceStatusMachine`; they survive resets. */
export interface StatusCounters {
  /**
   * Driver writes ignored: status bits cleared without a reset, driver features after
   * FEATURES_OK, non-zero feature words past select 1.
   */
  ignoredWrites: number;
  /** FEATURES_OK writes refused because the accepted features failed validation. */
  refusedNegotiations: number;
  /** DRIVER_OK writes refused because FEATURES_OK was not set. */
  refusedDriverOk: number;
  /** Resets (status writes of 0). */
  resets: number;
  /** `markNeedsReset` calls that set DEVICE_NEEDS_RESET. */
  needsResets: number;
}

/**
 * What became of one driver write to the status byte.
 *
 * @example
 * ```ts
 * import type { StatusWriteOutcome } from "./status.ts";
 * const o: StatusWriteOutcome = { kind: "ignored-clear", cleared: 2 };
 * ```
 */
export type StatusWriteOutcome =
  /** The write was 0: the device is back in its power-on state. */
  | { readonly kind: "reset" }
  /** The new bits were set; `status` is the status byte now. */
  | { readonly kind: "applied"; readonly status: number }
  /** The write would have cleared `cleared` bits without a reset; nothing changed. */
  | { readonly kind: "ignored-clear"; readonly cleared: number }
  /** FEATURES_OK (and any DRIVER_OK in the same write) stays clear; other new bits were set. */
  | { readonly kind: "features-refused"; readonly error: FeatureError }
  /** DRIVER_OK stays clear because FEATURES_OK is not set; other new bits were set. */
  | { readonly kind: "driver-ok-refused" };

/** What became of one driver write to a driver-features word. */
export type DriverFeaturesWriteOutcome =
  | { readonly kind: "applied" }
  | { readonly kind: "ignored"; readonly reason: "features-ok-set" | "select-out-of-range" };

/** Why the device set DEVICE_NEEDS_RESET: any error value with a `kind`. */
export interface NeedsResetReason {
  /** Discriminant of the error that broke the device. */
  readonly kind: string;
}

/** Options of a `DeviceStatusMachine`. */
export interface DeviceStatusOptions {
  /** The features the device offers. They must satisfy `rules.dependencies` themselves. */
  readonly offered: FeatureSet;
  /** What the device insists on when the driver sets FEATURES_OK. */
  readonly rules?: NegotiationRules;
  /** Called after every reset, once the machine is in its power-on state: reset queues here. */
  readonly onReset?: () => void;
}

/** Status bits the driver may set; DEVICE_NEEDS_RESET belongs to the device. */
const DRIVER_BITS = 0xff & ~Status.DEVICE_NEEDS_RESET;

/**
 * The status byte, the offered and accepted features and the configuration generation of one
 * device, with the spec's rules for driver writes.
 *
 * @example
 * ```ts
 * import { DeviceStatusMachine } from "./status.ts";
 * import { Status } from "./constants.ts";
 * const m = new DeviceStatusMachine({ offered: 1n << 32n, onReset: () => {} });
 * m.writeStatus(Status.ACKNOWLEDGE | Status.DRIVER);
 * m.writeDriverFeatures(1, m.readDeviceFeatures(1));
 * m.writeStatus(Status.ACKNOWLEDGE | Status.DRIVER | Status.FEATURES_OK);
 * m.writeStatus(m.readStatus() | Status.DRIVER_OK);
 * m.isLive(); // true
 * ```
 */
export class DeviceStatusMachine {
  /** The features the device offers. */
  readonly offered: FeatureSet;
  /** Counters; they survive resets. Read them, do not write them. */
  readonly counters: Readonly<StatusCounters>;
  #counters: StatusCounters;
  #rules: NegotiationRules;
  #onReset: (() => void) | undefined;
  #status = 0;
  #accepted: FeatureSet = 0n;
  #generation = 0;
  #needsResetReason: NeedsResetReason | undefined;

  /** Throws if the offered features break their own dependency rules (§2.2; programmer error). */
  constructor(options: DeviceStatusOptions) {
    const selfCheck = validateDriverFeatures(options.offered, options.offered, options.rules);
    if (!selfCheck.ok) {
      // Offered == accepted, so only a dependency can fail: §2.2 forbids offering such a set.
      const e = selfCheck.error;
      throw new RangeError(
        e.kind === "missing-prerequisite"
          ? `Cannot offer features: bit ${e.bit} requires bit ${e.requires}, which was not offered`
          : formatFeatureError(e),
      );
    }
    this.offered = options.offered;
    this.#rules = options.rules ?? {};
    this.#onReset = options.onReset;
    this.#counters = {
      ignoredWrites: 0,
      refusedNegotiations: 0,
      refusedDriverOk: 0,
      resets: 0,
      needsResets: 0,
    };
    this.counters = this.#counters;
  }

  /** The features the driver has written so far, whether or not FEATURES_OK is set. */
  get driverFeatures(): FeatureSet {
    return this.#accepted;
  }

  /** The negotiated features: the accepted set once FEATURES_OK is set, else 0n. */
  get negotiated(): FeatureSet {
    return (this.#status & Status.FEATURES_OK) !== 0 ? this.#accepted : 0n;
  }

  /** The configuration generation (u32, wraps), for the transport's ConfigGeneration register. */
  get configGeneration(): number {
    return this.#generation;
  }

  /** Whether DEVICE_NEEDS_RESET is set. */
  get needsReset(): boolean {
    return (this.#status & Status.DEVICE_NEEDS_RESET) !== 0;
  }

  /** The reason given to the first `markNeedsReset` since the last reset. */
  get needsResetReason(): NeedsResetReason | undefined {
    return this.#needsResetReason;
  }

  /** The status byte as the driver reads it. */
  readStatus(): number {
    return this.#status;
  }

  /**
   * Apply a driver write of the status byte (§2.1, §2.4, §3.1.1). 0 resets. Otherwise the
   * driver may only add bits: a write that clears one is ignored; the written value of
   * DEVICE_NEEDS_RESET is ignored (the device owns it). New FEATURES_OK runs validation and is
   * refused by leaving it clear; DRIVER_OK is refused while FEATURES_OK is clear.
   * Throws a `RangeError` if `value` is not a u8 (the transport's bug).
   */
  writeStatus(value: number): StatusWriteOutcome {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) {
      throw new RangeError(`Cannot write status: value must be a u8, got ${value}`);
    }
    if (value === 0) {
      this.#reset();
      return { kind: "reset" };
    }
    const current = this.#status & DRIVER_BITS;
    const written = value & DRIVER_BITS;
    const cleared = current & ~written;
    if (cleared !== 0) {
      this.#counters.ignoredWrites++;
      return { kind: "ignored-clear", cleared };
    }
    let added = written & ~current;
    let outcome: StatusWriteOutcome | undefined;
    if ((added & Status.FEATURES_OK) !== 0) {
      const check = validateDriverFeatures(this.offered, this.#accepted, this.#rules);
      if (!check.ok) {
        this.#counters.refusedNegotiations++;
        added &= ~Status.FEATURES_OK;
        outcome = { kind: "features-refused", error: check.error };
      }
    }
    if ((added & Status.DRIVER_OK) !== 0 && ((this.#status | added) & Status.FEATURES_OK) === 0) {
      this.#counters.refusedDriverOk++;
      added &= ~Status.DRIVER_OK;
      outcome ??= { kind: "driver-ok-refused" };
    }
    this.#status |= added;
    return outcome ?? { kind: "applied", status: this.#status };
  }

  /**
   * The 32-bit word `select` of the offered features (the DeviceFeatures register). Words past
   * select 1 read 0. Throws a `RangeError` if `select` is not a u32.
   */
  readDeviceFeatures(select: number): number {
    checkU32("feature select", select);
    return select < FEATURE_WORDS ? featureWord(this.offered, select) : 0;
  }

  /**
   * Store the driver's accepted features word `select` (the DriverFeatures register). Ignored
   * and counted once FEATURES_OK is set (§2.2, reliability G2), and for a non-zero word past
   * select 1, like QEMU's PCI transport. Throws a `RangeError` if `select` or `value` is not a u32.
   */
  writeDriverFeatures(select: number, value: number): DriverFeaturesWriteOutcome {
    checkU32("feature select", select);
    checkU32("driver features", value);
    if ((this.#status & Status.FEATURES_OK) !== 0) {
      this.#counters.ignoredWrites++;
      return { kind: "ignored", reason: "features-ok-set" };
    }
    if (select >= FEATURE_WORDS) {
      if (value === 0) return { kind: "applied" };
      this.#counters.ignoredWrites++;
      return { kind: "ignored", reason: "select-out-of-range" };
    }
    this.#accepted = withFeatureWord(this.#accepted, select, value);
    return { kind: "applied" };
  }

  /** Whether the device may use its queues: DRIVER_OK set, DEVICE_NEEDS_RESET and FAILED clear. */
  isLive(): boolean {
    return (this.#status & (Status.DRIVER_OK | Status.DEVICE_NEEDS_RESET | Status.FAILED)) ===
      Status.DRIVER_OK;
  }

  /**
   * Set DEVICE_NEEDS_RESET because of `reason` (kept if it is the first since the last reset).
   * Returns whether the owner must raise a configuration-change notification: only when this
   * call set the bit and DRIVER_OK is set (§2.1.2, reliability G13).
   */
  markNeedsReset(reason: NeedsResetReason): boolean {
    if (this.needsReset) return false;
    this.#status |= Status.DEVICE_NEEDS_RESET;
    this.#needsResetReason = reason;
    this.#counters.needsResets++;
    return (this.#status & Status.DRIVER_OK) !== 0;
  }

  /**
   * Record a change of the device configuration space: bump the generation (§2.5) and return
   * whether the owner must raise a configuration-change notification (DRIVER_OK is set).
   */
  bumpConfigGeneration(): boolean {
    this.#generation = (this.#generation + 1) >>> 0;
    return (this.#status & Status.DRIVER_OK) !== 0;
  }

  /** Whether `bit` was negotiated (always false before FEATURES_OK). */
  hasNegotiated(bit: number): boolean {
    return hasFeature(this.negotiated, bit);
  }

  #reset(): void {
    // Power-on state (§2.4): status 0, no accepted features, no broken flag. The configuration
    // generation is a change counter, not negotiated state, so it keeps counting.
    this.#status = 0;
    this.#accepted = 0n;
    this.#needsResetReason = undefined;
    this.#counters.resets++;
    this.#onReset?.();
  }
}

function checkU32(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new RangeError(`Cannot use ${what} ${n}: it must be a u32`);
  }
}
