import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import { Feature, Status } from "./constants.ts";
import { featureSet, featureWord, type NegotiationRules } from "./features.ts";
import { DeviceStatusMachine, type StatusCounters } from "./status.ts";

const { ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, DEVICE_NEEDS_RESET, FAILED } = Status;
const OFFERED = featureSet([17, 18, Feature.EVENT_IDX, Feature.VERSION_1, Feature.RING_PACKED]);
const RULES: NegotiationRules = { dependencies: [{ bit: 18, requires: [17] }] };

function machine(options: { offered?: bigint; rules?: NegotiationRules } = {}) {
  const resets: number[] = [];
  const m = new DeviceStatusMachine({
    offered: options.offered ?? OFFERED,
    rules: options.rules ?? RULES,
    onReset: () => resets.push(m.readStatus()),
  });
  return { m, resets };
}

/** Driver steps 2–4 of virtio 1.2 §3.1.1: ACKNOWLEDGE, DRIVER, write the accepted features. */
function acknowledgeAndAccept(m: DeviceStatusMachine, accepted: bigint): void {
  m.writeStatus(ACKNOWLEDGE);
  m.writeStatus(ACKNOWLEDGE | DRIVER);
  m.writeDriverFeatures(0, featureWord(accepted, 0));
  m.writeDriverFeatures(1, featureWord(accepted, 1));
}

/** The whole §3.1.1 sequence up to DRIVER_OK. */
function bringUp(m: DeviceStatusMachine, accepted = OFFERED): void {
  acknowledgeAndAccept(m, accepted);
  m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
  m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
}

function delta(before: StatusCounters, after: Readonly<StatusCounters>): Partial<StatusCounters> {
  const changed: Partial<StatusCounters> = {};
  for (const key of Object.keys(before) as (keyof StatusCounters)[]) {
    if (after[key] !== before[key]) changed[key] = after[key] - before[key];
  }
  return changed;
}

function assertPowerOn(m: DeviceStatusMachine): void {
  strictEqual(m.readStatus(), 0);
  strictEqual(m.driverFeatures, 0n);
  strictEqual(m.negotiated, 0n);
  strictEqual(m.needsReset, false);
  strictEqual(m.needsResetReason, undefined);
  strictEqual(m.isLive(), false);
}

Deno.test("starts in the power-on state with status 0 (virtio 1.2 §2.1)", () => {
  const { m } = machine();
  assertPowerOn(m);
  strictEqual(m.configGeneration, 0);
  deepStrictEqual({ ...m.counters }, {
    ignoredWrites: 0,
    refusedNegotiations: 0,
    refusedDriverOk: 0,
    resets: 0,
    needsResets: 0,
  });
});

Deno.test("the full init sequence reaches DRIVER_OK with the accepted set (virtio 1.2 §3.1.1)", () => {
  const { m } = machine();
  const accepted = featureSet([17, 18, Feature.VERSION_1]);
  strictEqual(m.writeStatus(ACKNOWLEDGE).kind, "applied");
  strictEqual(m.writeStatus(ACKNOWLEDGE | DRIVER).kind, "applied");
  strictEqual(m.readDeviceFeatures(0), featureWord(OFFERED, 0));
  strictEqual(m.readDeviceFeatures(1), featureWord(OFFERED, 1));
  deepStrictEqual(m.writeDriverFeatures(0, featureWord(accepted, 0)), { kind: "applied" });
  deepStrictEqual(m.writeDriverFeatures(1, featureWord(accepted, 1)), { kind: "applied" });
  strictEqual(m.negotiated, 0n, "nothing is negotiated before FEATURES_OK");
  deepStrictEqual(m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK), {
    kind: "applied",
    status: ACKNOWLEDGE | DRIVER | FEATURES_OK,
  });
  strictEqual(m.readStatus() & FEATURES_OK, FEATURES_OK, "step 6: driver re-reads FEATURES_OK");
  strictEqual(m.isLive(), false);
  m.writeStatus(m.readStatus() | DRIVER_OK);
  strictEqual(m.readStatus(), ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
  strictEqual(m.negotiated, accepted);
  strictEqual(m.hasNegotiated(18), true);
  strictEqual(m.hasNegotiated(Feature.EVENT_IDX), false);
  strictEqual(m.isLive(), true);
});

Deno.test("device features read 0 past select 1 and reject a non-u32 select", () => {
  const { m } = machine();
  strictEqual(m.readDeviceFeatures(2), 0);
  strictEqual(m.readDeviceFeatures(0xffff_ffff), 0);
  for (const select of [-1, 2 ** 32, 0.5]) throws(() => m.readDeviceFeatures(select), RangeError);
});

Deno.test("refuses FEATURES_OK when the driver accepts an unoffered bit (virtio 1.2 §3.1.1, reliability G1)", () => {
  const { m } = machine();
  const before = { ...m.counters };
  acknowledgeAndAccept(m, featureSet([Feature.VERSION_1, Feature.IN_ORDER]));
  deepStrictEqual(m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK), {
    kind: "features-refused",
    error: { kind: "not-offered", bits: [Feature.IN_ORDER] },
  });
  strictEqual(m.readStatus(), ACKNOWLEDGE | DRIVER, "FEATURES_OK stays clear");
  strictEqual(m.negotiated, 0n);
  deepStrictEqual(delta(before, m.counters), { refusedNegotiations: 1 });
});

Deno.test("refuses FEATURES_OK for a dependent bit without its prerequisite (reliability G1)", () => {
  const { m } = machine();
  acknowledgeAndAccept(m, featureSet([18, Feature.VERSION_1]));
  deepStrictEqual(m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK), {
    kind: "features-refused",
    error: { kind: "missing-prerequisite", bit: 18, requires: 17 },
  });
});

Deno.test("a modern-only device refuses FEATURES_OK without VERSION_1 (virtio 1.2 §6)", () => {
  const { m } = machine();
  acknowledgeAndAccept(m, featureSet([Feature.EVENT_IDX]));
  const outcome = m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
  deepStrictEqual(outcome, { kind: "features-refused", error: { kind: "version-1-required" } });
});

Deno.test("refuses FEATURES_OK without an offered ACCESS_PLATFORM when the rule asks (QEMU, reliability G1)", () => {
  const offered = featureSet([Feature.VERSION_1, Feature.ACCESS_PLATFORM]);
  const { m } = machine({ offered, rules: { requireAccessPlatform: true } });
  acknowledgeAndAccept(m, featureSet([Feature.VERSION_1]));
  const outcome = m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
  deepStrictEqual(outcome, {
    kind: "features-refused",
    error: { kind: "access-platform-required" },
  });
});

Deno.test("a refused write still sets its other new bits", () => {
  const { m } = machine();
  m.writeDriverFeatures(0, 1 << 3);
  strictEqual(m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK).kind, "features-refused");
  strictEqual(m.readStatus(), ACKNOWLEDGE | DRIVER);
});

Deno.test("refuses DRIVER_OK before FEATURES_OK (virtio 1.2 §3.1.1)", () => {
  const { m } = machine();
  acknowledgeAndAccept(m, featureSet([Feature.VERSION_1]));
  const before = { ...m.counters };
  deepStrictEqual(m.writeStatus(ACKNOWLEDGE | DRIVER | DRIVER_OK), { kind: "driver-ok-refused" });
  strictEqual(m.readStatus(), ACKNOWLEDGE | DRIVER);
  strictEqual(m.isLive(), false);
  deepStrictEqual(delta(before, m.counters), { refusedDriverOk: 1 });
});

Deno.test("FEATURES_OK and DRIVER_OK in one write succeed together or are refused together", () => {
  const good = machine().m;
  acknowledgeAndAccept(good, OFFERED);
  strictEqual(good.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK).kind, "applied");
  strictEqual(good.isLive(), true);

  const bad = machine().m;
  acknowledgeAndAccept(bad, featureSet([Feature.IN_ORDER]));
  const before = { ...bad.counters };
  const outcome = bad.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
  strictEqual(outcome.kind, "features-refused");
  strictEqual(bad.readStatus(), ACKNOWLEDGE | DRIVER);
  deepStrictEqual(delta(before, bad.counters), { refusedNegotiations: 1, refusedDriverOk: 1 });
});

Deno.test("ignores and counts driver feature writes after FEATURES_OK (virtio 1.2 §2.2, reliability G2)", () => {
  const { m } = machine();
  const accepted = featureSet([Feature.VERSION_1]);
  acknowledgeAndAccept(m, accepted);
  m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
  const before = { ...m.counters };
  for (const select of [0, 1]) {
    deepStrictEqual(m.writeDriverFeatures(select, 0xffff_ffff), {
      kind: "ignored",
      reason: "features-ok-set",
    });
  }
  strictEqual(m.negotiated, accepted);
  strictEqual(m.driverFeatures, accepted);
  deepStrictEqual(delta(before, m.counters), { ignoredWrites: 2 });
});

Deno.test("ignores non-zero driver feature words past select 1, like QEMU's PCI transport", () => {
  const { m } = machine();
  deepStrictEqual(m.writeDriverFeatures(2, 0), { kind: "applied" });
  deepStrictEqual(m.writeDriverFeatures(2, 1), { kind: "ignored", reason: "select-out-of-range" });
  strictEqual(m.driverFeatures, 0n);
  strictEqual(m.counters.ignoredWrites, 1);
  throws(() => m.writeDriverFeatures(0, -1), RangeError);
  throws(() => m.writeDriverFeatures(-1, 0), RangeError);
});

Deno.test("ignores and counts a status write that clears a bit without a reset (virtio 1.2 §2.1)", () => {
  const { m, resets } = machine();
  bringUp(m);
  const before = { ...m.counters };
  deepStrictEqual(m.writeStatus(ACKNOWLEDGE | DRIVER), {
    kind: "ignored-clear",
    cleared: FEATURES_OK | DRIVER_OK,
  });
  strictEqual(m.readStatus(), ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
  strictEqual(m.isLive(), true);
  deepStrictEqual(delta(before, m.counters), { ignoredWrites: 1 });
  deepStrictEqual(resets, []);
});

Deno.test("rewriting the current status, FEATURES_OK included, changes nothing", () => {
  const { m } = machine();
  bringUp(m);
  const before = { ...m.counters };
  const status = m.readStatus();
  deepStrictEqual(m.writeStatus(status), { kind: "applied", status });
  deepStrictEqual(delta(before, m.counters), {});
});

Deno.test("rejects a status value that is not a u8 as a transport bug", () => {
  const { m } = machine();
  for (const value of [-1, 0x100, 1.5]) throws(() => m.writeStatus(value), RangeError);
});

Deno.test("reset returns exactly to the power-on state and calls onReset once (virtio 1.2 §2.4, reliability G13)", () => {
  const { m, resets } = machine();
  bringUp(m);
  m.markNeedsReset({ kind: "bad-avail-index" });
  m.bumpConfigGeneration();
  const before = { ...m.counters };
  deepStrictEqual(m.writeStatus(0), { kind: "reset" });
  assertPowerOn(m);
  deepStrictEqual(resets, [0], "onReset runs once, after the status is back to 0");
  deepStrictEqual(delta(before, m.counters), { resets: 1 });
  strictEqual(m.configGeneration, 1, "the generation is a change counter and keeps counting");
});

Deno.test("sets DEVICE_NEEDS_RESET and asks for a config-change notification after DRIVER_OK (virtio 1.2 §2.1.2)", () => {
  const { m } = machine();
  bringUp(m);
  strictEqual(m.markNeedsReset({ kind: "bad-avail-index" }), true);
  strictEqual(m.readStatus() & DEVICE_NEEDS_RESET, DEVICE_NEEDS_RESET);
  strictEqual(m.needsReset, true);
  strictEqual(m.isLive(), false, "the device stays inert until reset");
  deepStrictEqual(m.needsResetReason, { kind: "bad-avail-index" });
  strictEqual(m.markNeedsReset({ kind: "other" }), false, "no second notification");
  deepStrictEqual(m.needsResetReason, { kind: "bad-avail-index" }, "the first reason is kept");
  strictEqual(m.counters.needsResets, 1);
});

Deno.test("sets DEVICE_NEEDS_RESET without a notification before DRIVER_OK (virtio 1.2 §2.1.2)", () => {
  const { m } = machine();
  acknowledgeAndAccept(m, OFFERED);
  m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK);
  strictEqual(m.markNeedsReset({ kind: "bad-queue-address" }), false);
  strictEqual(m.readStatus(), ACKNOWLEDGE | DRIVER | FEATURES_OK | DEVICE_NEEDS_RESET);
  deepStrictEqual(m.writeStatus(m.readStatus() | DRIVER_OK), {
    kind: "applied",
    status: ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK | DEVICE_NEEDS_RESET,
  });
  strictEqual(m.isLive(), false);
});

Deno.test("DEVICE_NEEDS_RESET belongs to the device: driver writes neither set nor clear it", () => {
  const { m } = machine();
  bringUp(m);
  m.writeStatus(m.readStatus() | DEVICE_NEEDS_RESET);
  strictEqual(m.needsReset, false);
  m.markNeedsReset({ kind: "bad-avail-index" });
  const outcome = m.writeStatus(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK | FAILED);
  strictEqual(outcome.kind, "applied");
  strictEqual(m.needsReset, true);
  strictEqual(m.counters.ignoredWrites, 0);
});

Deno.test("FAILED takes the device out of service until reset (virtio 1.2 §2.1)", () => {
  const { m } = machine();
  bringUp(m);
  m.writeStatus(m.readStatus() | FAILED);
  strictEqual(m.isLive(), false);
  m.writeStatus(0);
  assertPowerOn(m);
});

Deno.test("re-negotiating the same set after reset succeeds (virtio 1.2 §3.1.1)", () => {
  const { m } = machine();
  const accepted = featureSet([17, 18, Feature.VERSION_1, Feature.RING_PACKED]);
  bringUp(m, accepted);
  m.markNeedsReset({ kind: "bad-descriptor" });
  m.writeStatus(0);
  bringUp(m, accepted);
  strictEqual(m.isLive(), true);
  strictEqual(m.negotiated, accepted);
  strictEqual(m.counters.refusedNegotiations, 0);
});

Deno.test("config generation bumps and asks for a notification only after DRIVER_OK (virtio 1.2 §2.5)", () => {
  const { m } = machine();
  strictEqual(m.bumpConfigGeneration(), false);
  strictEqual(m.configGeneration, 1);
  bringUp(m);
  strictEqual(m.bumpConfigGeneration(), true);
  strictEqual(m.configGeneration, 2);
});

Deno.test("refuses to build a device whose offer breaks its own dependency rules (virtio 1.2 §2.2)", () => {
  throws(
    () => new DeviceStatusMachine({ offered: featureSet([18, 32]), rules: RULES }),
    {
      name: "RangeError",
      message: "Cannot offer features: bit 18 requires bit 17, which was not offered",
    },
  );
});
