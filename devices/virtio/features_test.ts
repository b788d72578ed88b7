import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { Feature } from "./constants.ts";
import {
  featureBits,
  featureName,
  featureNames,
  featureSet,
  featureWord,
  formatFeatureError,
  hasFeature,
  ringOfferBits,
  validateDriverFeatures,
  withFeatureWord,
} from "./features.ts";

const NET_NAMES = { 0: "CSUM", 17: "CTRL_VQ", 18: "CTRL_RX" };
const CTRL_RX_NEEDS_CTRL_VQ = { dependencies: [{ bit: 18, requires: [17] }] };

Deno.test("featureSet and featureBits round-trip bits 0 to 63", () => {
  const bits = [0, 17, 31, 32, 40, 63];
  strictEqual(
    featureSet(bits),
    (1n << 0n) | (1n << 17n) | (1n << 31n) | (1n << 32n) |
      (1n << 40n) | (1n << 63n),
  );
  deepStrictEqual(featureBits(featureSet(bits)), bits);
  deepStrictEqual(featureBits(0n), []);
});

Deno.test("featureSet rejects bits outside 0 to 63 as programmer errors", () => {
  for (const bit of [-1, 64, 1.5, NaN]) throws(() => featureSet([bit]), RangeError);
});

Deno.test("hasFeature reports set and clear bits", () => {
  const set = featureSet([Feature.VERSION_1, Feature.EVENT_IDX]);
  strictEqual(hasFeature(set, Feature.VERSION_1), true);
  strictEqual(hasFeature(set, Feature.EVENT_IDX), true);
  strictEqual(hasFeature(set, Feature.RING_PACKED), false);
  strictEqual(hasFeature(set, 0), false);
});

Deno.test("feature functions reject sets that do not fit in 64 bits", () => {
  throws(() => hasFeature(-1n, 0), RangeError);
  throws(() => featureBits(1n << 64n), RangeError);
  throws(() => featureWord(1n << 64n, 0), RangeError);
});

Deno.test("featureNames decodes device-independent bits by spec name (virtio 1.2 §6)", () => {
  const all = featureSet(Object.values(Feature));
  deepStrictEqual(featureNames(all), [
    "INDIRECT_DESC",
    "EVENT_IDX",
    "VERSION_1",
    "ACCESS_PLATFORM",
    "RING_PACKED",
    "IN_ORDER",
    "ORDER_PLATFORM",
    "NOTIFICATION_DATA",
    "RING_RESET",
  ]);
});

Deno.test("featureNames renders unknown bits as bit N and uses device-specific names", () => {
  deepStrictEqual(featureNames(featureSet([0, 17, 30, 32, 50])), [
    "bit 0",
    "bit 17",
    "bit 30",
    "VERSION_1",
    "bit 50",
  ]);
  deepStrictEqual(featureNames(featureSet([0, 17, 30, 32]), NET_NAMES), [
    "CSUM",
    "CTRL_VQ",
    "bit 30",
    "VERSION_1",
  ]);
  strictEqual(featureName(30, { 30: "PROTOCOL_FEATURES" }), "PROTOCOL_FEATURES");
});

Deno.test("featureWord selects 32 bits like DeviceFeaturesSel (virtio 1.2 §4.2.2)", () => {
  const set = featureSet([0, 29, 31, 32, 34, 63]);
  strictEqual(featureWord(set, 0), 0xa000_0001);
  strictEqual(featureWord(set, 1), 0x8000_0005);
  strictEqual(featureWord(0n, 1), 0);
});

Deno.test("featureWord rejects a select other than 0 or 1 as a programmer error", () => {
  for (const select of [-1, 2, 0.5]) throws(() => featureWord(0n, select), RangeError);
});

Deno.test("withFeatureWord replaces one word and keeps the other", () => {
  const set = featureSet([1, 33]);
  strictEqual(withFeatureWord(set, 0, 0xffff_ffff), 0x2_ffff_ffffn);
  strictEqual(withFeatureWord(set, 1, 0), 0x2n);
  strictEqual(withFeatureWord(set, 1, 0xffff_ffff), 0xffff_ffff_0000_0002n);
  const rebuilt = withFeatureWord(
    withFeatureWord(0n, 0, featureWord(set, 0)),
    1,
    featureWord(set, 1),
  );
  strictEqual(rebuilt, set);
});

Deno.test("withFeatureWord rejects a non-u32 value or bad select as programmer errors", () => {
  for (const value of [-1, 2 ** 32, 1.5]) throws(() => withFeatureWord(0n, 0, value), RangeError);
  throws(() => withFeatureWord(0n, 2, 0), RangeError);
});

Deno.test("accepts any offered subset and returns it as the negotiated set (virtio 1.2 §3.1.1)", () => {
  const offered = featureSet([17, 18, Feature.EVENT_IDX, Feature.VERSION_1]);
  for (const accepted of [offered, featureSet([Feature.VERSION_1]), featureSet([17, 32])]) {
    deepStrictEqual(validateDriverFeatures(offered, accepted, CTRL_RX_NEEDS_CTRL_VQ), {
      ok: true,
      value: accepted,
    });
  }
});

Deno.test("refuses bits that were not offered and lists them all (virtio 1.2 §2.2, reliability G1)", () => {
  const offered = featureSet([Feature.VERSION_1]);
  const accepted = featureSet([Feature.VERSION_1, Feature.RING_PACKED, 50, 3]);
  deepStrictEqual(validateDriverFeatures(offered, accepted), {
    ok: false,
    error: { kind: "not-offered", bits: [3, 34, 50] },
  });
});

Deno.test("refuses a dependent bit without its prerequisite (virtio 1.2 §2.2, reliability G1)", () => {
  const offered = featureSet([17, 18, 20, Feature.VERSION_1]);
  const rules = { dependencies: [{ bit: 18, requires: [17] }, { bit: 20, requires: [17, 18] }] };
  deepStrictEqual(validateDriverFeatures(offered, featureSet([18, 32]), rules), {
    ok: false,
    error: { kind: "missing-prerequisite", bit: 18, requires: 17 },
  });
  deepStrictEqual(validateDriverFeatures(offered, featureSet([17, 20, 32]), rules), {
    ok: false,
    error: { kind: "missing-prerequisite", bit: 20, requires: 18 },
  });
  strictEqual(validateDriverFeatures(offered, featureSet([17, 18, 20, 32]), rules).ok, true);
});

Deno.test("reports unoffered bits before missing prerequisites", () => {
  const offered = featureSet([18, Feature.VERSION_1]);
  const result = validateDriverFeatures(offered, featureSet([18, 19, 32]), CTRL_RX_NEEDS_CTRL_VQ);
  deepStrictEqual(result, { ok: false, error: { kind: "not-offered", bits: [19] } });
});

Deno.test("a modern-only device refuses a driver that drops VERSION_1 (virtio 1.2 §6)", () => {
  const offered = featureSet([Feature.VERSION_1, Feature.EVENT_IDX]);
  deepStrictEqual(validateDriverFeatures(offered, featureSet([Feature.EVENT_IDX])), {
    ok: false,
    error: { kind: "version-1-required" },
  });
  const lenient = validateDriverFeatures(offered, featureSet([Feature.EVENT_IDX]), {
    requireVersion1: false,
  });
  strictEqual(lenient.ok, true);
});

Deno.test("VERSION_1 is not required when it was not offered", () => {
  const offered = featureSet([Feature.EVENT_IDX]);
  strictEqual(validateDriverFeatures(offered, 0n).ok, true);
});

Deno.test("refuses a dropped ACCESS_PLATFORM only when the rule asks for it (reliability G1, QEMU)", () => {
  const offered = featureSet([Feature.VERSION_1, Feature.ACCESS_PLATFORM]);
  const accepted = featureSet([Feature.VERSION_1]);
  strictEqual(validateDriverFeatures(offered, accepted).ok, true);
  deepStrictEqual(validateDriverFeatures(offered, accepted, { requireAccessPlatform: true }), {
    ok: false,
    error: { kind: "access-platform-required" },
  });
  strictEqual(validateDriverFeatures(offered, offered, { requireAccessPlatform: true }).ok, true);
  strictEqual(
    validateDriverFeatures(featureSet([32]), featureSet([32]), { requireAccessPlatform: true }).ok,
    true,
  );
});

Deno.test("formatFeatureError renders each error as one line quoting the bits", () => {
  strictEqual(
    formatFeatureError({ kind: "not-offered", bits: [34] }),
    "Cannot accept features: bit 34 (RING_PACKED) was not offered",
  );
  strictEqual(
    formatFeatureError({ kind: "not-offered", bits: [3, 34] }),
    "Cannot accept features: bit 3, bit 34 (RING_PACKED) were not offered",
  );
  strictEqual(
    formatFeatureError({ kind: "missing-prerequisite", bit: 18, requires: 17 }, NET_NAMES),
    "Cannot accept features: bit 18 (CTRL_RX) requires bit 17 (CTRL_VQ), which was not accepted",
  );
  strictEqual(
    formatFeatureError({ kind: "version-1-required" }),
    "Cannot accept features: bit 32 (VERSION_1) was offered but not accepted, " +
      "and the device is modern-only",
  );
  strictEqual(
    formatFeatureError({ kind: "access-platform-required" }),
    "Cannot accept features: bit 33 (ACCESS_PLATFORM) was offered but not accepted, " +
      "and the device requires platform memory access",
  );
});

Deno.test("a ring offer is VERSION_1 plus exactly the ring features asked for", () => {
  deepStrictEqual(ringOfferBits({ packed: false, eventIdx: false, indirect: false }), [
    Feature.VERSION_1,
  ]);
  deepStrictEqual(
    ringOfferBits({ packed: true, eventIdx: true, indirect: true, inOrder: true }),
    [
      Feature.VERSION_1,
      Feature.RING_PACKED,
      Feature.EVENT_IDX,
      Feature.INDIRECT_DESC,
      Feature.IN_ORDER,
    ],
  );
});
