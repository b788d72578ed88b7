/**
 * Feature sets and the device's check of the subset a driver accepts (virtio 1.2 §2.2, §3.1.1,
 * §6; reliability G1).
 *
 * A feature set is a `bigint` holding bits 0…63 (`FeatureSet`). A bigint keeps bit 32 and up
 * (VERSION_1, ACCESS_PLATFORM, RING_PACKED…) as plain bit operations without juggling two u32
 * words; negotiation is not a hot path, and the transports see the set 32 bits at a time through
 * `featureWord` / `withFeatureWord`, like the MMIO `DeviceFeaturesSel` / `DriverFeaturesSel`
 * registers. Bits 64 and up are reserved (§2.2) and are not represented.
 *
 * @module
 */

import { err, ok, type Result } from "../base/result.ts";
import { Feature } from "./constants.ts";

/** A set of feature bits 0…63 as a `bigint` in [0, 2^64). */
export type FeatureSet = bigint;

/** Number of 32-bit feature words a `FeatureSet` spans (select 0 and 1). */
export const FEATURE_WORDS = 2;

const FEATURE_BITS = 32 * FEATURE_WORDS;
const SET_MASK = (1n << BigInt(FEATURE_BITS)) - 1n;
const WORD_MASK = 0xffff_ffffn;

/** Spec names of the device-independent bits, by bit number (from `Feature`). */
const INDEPENDENT_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(Feature).map(([name, bit]) => [bit, name]),
);

/** A device-specific dependency: accepting `bit` needs every bit in `requires` accepted too. */
export interface FeatureDependency {
  /** The dependent bit. */
  readonly bit: number;
  /** Bits that must be accepted whenever `bit` is. */
  readonly requires: readonly number[];
}

/** What a device insists on when it checks the driver's accepted subset. */
export interface NegotiationRules {
  /** Device-specific dependencies, e.g. virtio-net `{ bit: 18, requires: [17] }`. */
  readonly dependencies?: readonly FeatureDependency[];
  /** Refuse a driver that leaves an offered VERSION_1 unaccepted (modern-only). Default true. */
  readonly requireVersion1?: boolean;
  /** Refuse a driver that leaves an offered ACCESS_PLATFORM unaccepted (QEMU). Default false. */
  readonly requireAccessPlatform?: boolean;
}

/** The driver accepted bits the device did not offer. */
export interface NotOfferedError {
  /** Discriminant. */
  readonly kind: "not-offered";
  /** The unoffered bits, ascending. */
  readonly bits: readonly number[];
}

/** The driver accepted a bit without one of its prerequisites. */
export interface MissingPrerequisiteError {
  /** Discriminant. */
  readonly kind: "missing-prerequisite";
  /** The accepted, dependent bit. */
  readonly bit: number;
  /** The prerequisite bit that was not accepted. */
  readonly requires: number;
}

/** VERSION_1 was offered but not accepted, and the device is modern-only. */
export interface Version1RequiredError {
  /** Discriminant. */
  readonly kind: "version-1-required";
}

/** ACCESS_PLATFORM was offered but not accepted, and the device requires it. */
export interface AccessPlatformRequiredError {
  /** Discriminant. */
  readonly kind: "access-platform-required";
}

/**
 * Why a device refuses the driver's accepted features (it leaves FEATURES_OK clear).
 *
 * @example
 * ```ts
 * import type { FeatureError } from "./features.ts";
 * const e: FeatureError = { kind: "missing-prerequisite", bit: 18, requires: 17 };
 * ```
 */
export type FeatureError =
  | NotOfferedError
  | MissingPrerequisiteError
  | Version1RequiredError
  | AccessPlatformRequiredError;

/**
 * Build a feature set from bit numbers. Throws a `RangeError` for a bit outside 0…63.
 *
 * @example
 * ```ts
 * import { featureSet } from "./features.ts";
 * import { Feature } from "./constants.ts";
 * const set = featureSet([Feature.VERSION_1, Feature.EVENT_IDX]); // 0x1_2000_0000n
 * ```
 */
export function featureSet(bits: readonly number[]): FeatureSet {
  let set = 0n;
  for (const bit of bits) set |= 1n << BigInt(checkBit(bit));
  return set;
}

/**
 * Whether `bit` is in `set`. Throws a `RangeError` for a bit outside 0…63.
 *
 * @example
 * ```ts
 * import { featureSet, hasFeature } from "./features.ts";
 * hasFeature(featureSet([32]), 32); // true
 * ```
 */
export function hasFeature(set: FeatureSet, bit: number): boolean {
  return ((checkSet(set) >> BigInt(checkBit(bit))) & 1n) === 1n;
}

/**
 * The bit numbers in `set`, ascending.
 *
 * @example
 * ```ts
 * import { featureBits } from "./features.ts";
 * featureBits(0x1_2000_0000n); // [29, 32]
 * ```
 */
export function featureBits(set: FeatureSet): number[] {
  checkSet(set);
  const bits: number[] = [];
  for (let bit = 0; bit < FEATURE_BITS; bit++) {
    if (((set >> BigInt(bit)) & 1n) === 1n) bits.push(bit);
  }
  return bits;
}

/**
 * The name of one bit: a device-specific name if given, else the device-independent spec name,
 * else `bit N`.
 *
 * @example
 * ```ts
 * import { featureName } from "./features.ts";
 * featureName(34); // "RING_PACKED"
 * featureName(17, { 17: "CTRL_VQ" }); // "CTRL_VQ"
 * featureName(50); // "bit 50"
 * ```
 */
export function featureName(
  bit: number,
  deviceSpecificNames?: Readonly<Record<number, string>>,
): string {
  return deviceSpecificNames?.[bit] ?? INDEPENDENT_NAMES.get(bit) ?? `bit ${bit}`;
}

/**
 * Decode `set` into names, in bit order (see `featureName`).
 *
 * @example
 * ```ts
 * import { featureNames } from "./features.ts";
 * featureNames(0x1_2000_0001n, { 0: "CSUM" }); // ["CSUM", "EVENT_IDX", "VERSION_1"]
 * ```
 */
export function featureNames(
  set: FeatureSet,
  deviceSpecificNames?: Readonly<Record<number, string>>,
): string[] {
  return featureBits(set).map((bit) => featureName(bit, deviceSpecificNames));
}

/**
 * The 32 bits of `set` starting at bit `32 * select`, as a u32. Throws a `RangeError` unless
 * `select` is 0 or 1 (a transport answers higher selects itself).
 *
 * @example
 * ```ts
 * import { featureWord } from "./features.ts";
 * featureWord(0x1_2000_0000n, 0); // 0x2000_0000
 * featureWord(0x1_2000_0000n, 1); // 1
 * ```
 */
export function featureWord(set: FeatureSet, select: number): number {
  const shift = BigInt(32 * checkSelect(select));
  return Number((checkSet(set) >> shift) & WORD_MASK);
}

/**
 * `set` with its 32-bit word `select` replaced by the u32 `value`. Throws a `RangeError` unless
 * `select` is 0 or 1 and `value` is a u32.
 *
 * @example
 * ```ts
 * import { withFeatureWord } from "./features.ts";
 * withFeatureWord(0x2000_0000n, 1, 1); // 0x1_2000_0000n
 * ```
 */
export function withFeatureWord(set: FeatureSet, select: number, value: number): FeatureSet {
  const shift = BigInt(32 * checkSelect(select));
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new RangeError(`Cannot set feature word: value must be a u32, got ${value}`);
  }
  return (checkSet(set) & ~(WORD_MASK << shift)) | (BigInt(value) << shift);
}

/**
 * The device's check of the driver's accepted subset before it sets FEATURES_OK (virtio 1.2
 * §3.1.1, §2.2; reliability G1). Checks, first failure wins: unoffered bits, then the
 * dependencies in order, then VERSION_1, then ACCESS_PLATFORM. On success the value is the
 * negotiated set.
 *
 * @example
 * ```ts
 * import { featureSet, validateDriverFeatures } from "./features.ts";
 * const offered = featureSet([17, 18, 32]);
 * const rules = { dependencies: [{ bit: 18, requires: [17] }] };
 * validateDriverFeatures(offered, featureSet([18, 32]), rules);
 * // { ok: false, error: { kind: "missing-prerequisite", bit: 18, requires: 17 } }
 * ```
 */
export function validateDriverFeatures(
  offered: FeatureSet,
  accepted: FeatureSet,
  rules: NegotiationRules = {},
): Result<FeatureSet, FeatureError> {
  const unoffered = checkSet(accepted) & ~checkSet(offered);
  if (unoffered !== 0n) return err({ kind: "not-offered", bits: featureBits(unoffered) });
  for (const { bit, requires } of rules.dependencies ?? []) {
    if (!hasFeature(accepted, bit)) continue;
    const missing = requires.find((required) => !hasFeature(accepted, required));
    if (missing !== undefined) return err({ kind: "missing-prerequisite", bit, requires: missing });
  }
  if ((rules.requireVersion1 ?? true) && leftOut(offered, accepted, Feature.VERSION_1)) {
    return err({ kind: "version-1-required" });
  }
  if (
    (rules.requireAccessPlatform ?? false) && leftOut(offered, accepted, Feature.ACCESS_PLATFORM)
  ) {
    return err({ kind: "access-platform-required" });
  }
  return ok(accepted);
}

/**
 * Render a feature error as one sentence-case line, naming bits (see `featureName`).
 *
 * @example
 * ```ts
 * import { formatFeatureError } from "./features.ts";
 * formatFeatureError({ kind: "not-offered", bits: [34] });
 * // "Cannot accept features: bit 34 (RING_PACKED) was not offered"
 * ```
 */
export function formatFeatureError(
  error: FeatureError,
  deviceSpecificNames?: Readonly<Record<number, string>>,
): string {
  const label = (bit: number) => {
    const name = featureName(bit, deviceSpecificNames);
    return name === `bit ${bit}` ? name : `bit ${bit} (${name})`;
  };
  const prefix = "Cannot accept features: ";
  switch (error.kind) {
    case "not-offered":
      return prefix + error.bits.map(label).join(", ") +
        (error.bits.length === 1 ? " was" : " were") + " not offered";
    case "missing-prerequisite":
      return `${prefix}${label(error.bit)} requires ${label(error.requires)}, ` +
        "which was not accepted";
    case "version-1-required":
      return `${prefix}${label(Feature.VERSION_1)} was offered but not accepted, ` +
        "and the device is modern-only";
    case "access-platform-required":
      return `${prefix}${label(Feature.ACCESS_PLATFORM)} was offered but not accepted, ` +
        "and the device requires platform memory access";
  }
}

function leftOut(offered: FeatureSet, accepted: FeatureSet, bit: number): boolean {
  return hasFeature(offered, bit) && !hasFeature(accepted, bit);
}

function checkBit(bit: number): number {
  if (!Number.isInteger(bit) || bit < 0 || bit >= FEATURE_BITS) {
    throw new RangeError(`Cannot use feature bit ${bit}: bits are 0 to ${FEATURE_BITS - 1}`);
  }
  return bit;
}

function checkSet(set: FeatureSet): FeatureSet {
  if (set < 0n || set > SET_MASK) {
    throw new RangeError(`Cannot use feature set 0x${set.toString(16)}: it must fit in 64 bits`);
  }
  return set;
}

function checkSelect(select: number): number {
  if (select !== 0 && select !== 1) {
    throw new RangeError(`Cannot select feature word ${select}: select must be 0 or 1`);
  }
  return select;
}

/** The transport and ring features a device model offers: its ring layout and options. */
export interface RingOffer {
  /** Offer VIRTIO_F_RING_PACKED. */
  packed: boolean;
  /** Offer VIRTIO_F_EVENT_IDX. */
  eventIdx: boolean;
  /** Offer VIRTIO_F_INDIRECT_DESC. */
  indirect: boolean;
  /** Offer VIRTIO_F_IN_ORDER (default false). */
  inOrder?: boolean;
}

/**
 * The feature bits of a ring offer, with VIRTIO_F_VERSION_1 (every vlab device is modern), to
 * which a device adds its own.
 *
 * @example
 * ```ts
 * import { Feature } from "./constants.ts";
 * import { ringOfferBits } from "./features.ts";
 * ringOfferBits({ packed: true, eventIdx: false, indirect: false }); // [VERSION_1, RING_PACKED]
 * ```
 */
export function ringOfferBits(ring: Readonly<RingOffer>): number[] {
  const bits: number[] = [Feature.VERSION_1];
  if (ring.packed) bits.push(Feature.RING_PACKED);
  if (ring.eventIdx) bits.push(Feature.EVENT_IDX);
  if (ring.indirect) bits.push(Feature.INDIRECT_DESC);
  if (ring.inOrder) bits.push(Feature.IN_ORDER);
  return bits;
}
