/**
 * The guest's own virtio-iommu requests (`guestIommuRequests`) over the in-process rig, on an
 * injected clock: each 1 ms pause runs the world one step (the device completes what was
 * published, then another NIC's driver takes its completions and stages new MAPs), so the
 * requestq is as busy as under a flood on a second NIC behind the same vIOMMU.
 */
import assert from "node:assert/strict";
import { iommuRig } from "../../../devices/iommu/testing.ts";
import { IOMMU_DRIVER_COUNTER_COUNT } from "../../wire/iommu.ts";
import { guestIommuRequests, type GuestIommuRequestsOptions } from "./iommu_requests.ts";
import { RENOTIFY_MS } from "./iommu_dma.ts";

/** Requests the rig's requestq holds (16 descriptors, two per request). */
const CAPACITY = 8;
const TIMEOUT_MS = 50;
const WINDOW = { gpa: 0x40000, len: 0x10000 };

/** The options every case shares: VM a, NIC eth0 as endpoint 0 in static mode, no kicks or posts. */
function eth0Static(driver: GuestIommuRequestsOptions["driver"]) {
  return {
    driver,
    spec: {
      mode: "static" as const,
      endpoints: [{ endpoint: 0, device: 1, name: "eth0", iovaPages: 16384 }],
    },
    vm: "a",
    counters: new Float64Array(IOMMU_DRIVER_COUNTER_COUNT),
    kick: () => {},
    post: () => {},
  };
}

/**
 * A world whose other NIC (endpoint 1) refills the requestq after every step, leaving `room(t)`
 * requests free at ms `t`: never empty, and full whenever `room` says 0.
 */
function world(room: (t: number) => number) {
  const r = iommuRig("split", { size: 16 });
  // `gate.held`: the world stands still (each pause waits for it) until the test moves on.
  const clock = { t: 0 };
  const gate: { held: Promise<void> | null } = { held: null };
  let mapped = 0;
  const refill = () => {
    // Bounded: at most CAPACITY requests fit.
    while (r.driver.inFlight < CAPACITY - room(clock.t)) {
      const at = 0x100000 + (mapped++ % 64) * 0x1000;
      if (!r.driver.map(2, { start: at, end: at + 0xfff, gpa: 0x20000, flags: 3 }).ok) break;
    }
    r.driver.publish();
  };
  const requests = guestIommuRequests({
    ...eth0Static(r.driver),
    now: () => clock.t,
    pause: async () => {
      if (gate.held) await gate.held;
      clock.t += 1;
      // The device worker: what was published is done (an invalidation needs its consumer).
      r.device.service(clock.t);
      r.dma.beginBatch();
      r.device.service(clock.t);
      // The other NIC's driver, in the guest loop: its completions, then new MAPs.
      requests.collect();
      refill();
    },
    timeoutMs: TIMEOUT_MS,
  });
  refill();
  return { r, clock, requests, refill, gate };
}

Deno.test("prepare waits for room in a requestq another NIC keeps busy, not for it to drain (it failed with 'ring-full')", async () => {
  // Room for 3 requests from 5 to 10 ms; full at every other step, and never empty.
  const { r, clock, requests } = world((t) => t >= 5 && t < 10 ? 3 : 0);
  assert.equal(r.driver.attach(1, 0).ok, false, "the requestq is full when the reset comes");
  await requests.service.prepare(0, WINDOW, WINDOW);
  assert.ok(clock.t < TIMEOUT_MS, `set up at ${clock.t} ms, within its ${TIMEOUT_MS} ms`);
  assert.ok(r.dma.resolve(WINDOW.gpa, 64, "write") >= 0, "the window is mapped");
});

Deno.test("an ATTACH that completes while its MAP waits for room is not lost (its status was awaited from staging)", async () => {
  // Room for one request at a time until 10 ms: the MAP waits a step after the ATTACH, which the
  // device completes (and the other NIC's driver collects) meanwhile.
  const { r, clock, requests } = world((t) => t < 10 ? 1 : 3);
  await requests.service.prepare(0, WINDOW, WINDOW);
  assert.ok(clock.t < TIMEOUT_MS, `set up at ${clock.t} ms`);
  assert.ok(r.dma.resolve(WINDOW.gpa, 64, "read") >= 0);
});

Deno.test("a requestq that stays full fails prepare at its deadline, saying so; revoke alike", async () => {
  const full = world(() => 0);
  await assert.rejects(
    full.requests.service.prepare(0, WINDOW, WINDOW),
    /^Error: Cannot attach endpoint 0: the vIOMMU's request queue stayed full for 0.05 s$/,
  );
  assert.equal(full.clock.t, TIMEOUT_MS);
  // Set up while there is room; then the queue stays full for the revocation.
  let busy = false;
  const w = world(() => busy ? 0 : 3);
  await w.requests.service.prepare(0, WINDOW, WINDOW);
  busy = true;
  w.refill();
  const t0 = w.clock.t;
  const revoked = await w.requests.revoke("eth0");
  assert.ok(!revoked.ok);
  assert.equal(
    revoked.message,
    `Cannot revoke "eth0": the vIOMMU's request queue stayed full for 0.05 s`,
  );
  assert.equal(w.clock.t - t0, TIMEOUT_MS);
  // Room again: the revocation goes through, and the window is refused.
  busy = false;
  const again = await w.requests.revoke("eth0");
  assert.ok(again.ok, again.ok ? "" : again.message);
  assert.equal(again.request, "UNMAP", "a static window is revoked by an UNMAP, and says so");
  assert.equal(w.r.dma.resolve(WINDOW.gpa, 64, "read"), -1);
  assert.equal(w.requests.service.revoked(0), true);
  assert.equal(await w.requests.service.restore(0), true, "the reset maps it again");
  assert.ok(w.r.dma.resolve(WINDOW.gpa, 64, "read") >= 0);
});

Deno.test("a revocation while a reset maps the window again is refused, not let unmap it under the reset", async () => {
  const w = world(() => 3);
  await w.requests.service.prepare(0, WINDOW, WINDOW);
  assert.ok((await w.requests.revoke("eth0")).ok);
  // The NIC's reset maps it again; the world stands still with its MAP staged, not completed.
  let go = () => {};
  w.gate.held = new Promise<void>((resolve) => go = resolve);
  const restoring = w.requests.service.restore(0);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  const during = await w.requests.revoke("eth0");
  assert.ok(!during.ok, "refused");
  assert.match(during.message, /its window is revoked already, and its reset has not mapped it/);
  w.gate.held = null;
  go();
  assert.equal(await restoring, true);
  assert.ok(w.r.dma.resolve(WINDOW.gpa, 64, "read") >= 0, "the reset's window stays mapped");
  assert.equal(w.requests.service.revoked(0), false);
  // Once the reset mapped it, it can be revoked again.
  assert.ok((await w.requests.revoke("eth0")).ok);
  assert.equal(w.r.dma.resolve(WINDOW.gpa, 64, "read"), -1);
});

Deno.test("a NIC whose reset holds its window cannot have it revoked until the reset releases it", async () => {
  const w = world(() => 3);
  await w.requests.service.prepare(0, WINDOW, WINDOW);
  const release = w.requests.service.hold(0);
  const during = await w.requests.revoke("eth0");
  assert.ok(!during.ok);
  assert.equal(
    during.message,
    `Cannot revoke "eth0": its NIC is being reset, which needs the window until its queues are live`,
  );
  // The name was right: the hint is about when, not about another name.
  assert.match(during.hint ?? "", /once the reset is over \(event device-reset\)/);
  const wrong = await w.requests.revoke("eth9");
  assert.ok(!wrong.ok);
  assert.equal(wrong.hint, undefined, "a wrong name: the caller's hint");
  release();
  release(); // once only
  assert.ok((await w.requests.revoke("eth0")).ok);
});

Deno.test("a wait for the device does not sleep on timers while the guest's loop is busy (they ran 300 ms late)", async () => {
  // The guest's loop under a flood: a turn of 2 ms of work after another, each a macrotask, as
  // `runLoop` yields; the device worker (another thread in the lab) answers at each turn.
  const r = iommuRig("split", { size: 16 });
  const channel = new MessageChannel();
  let busy = true;
  channel.port1.onmessage = () => {
    const t = performance.now();
    while (performance.now() - t < 2) { /* the pump's work */ }
    r.device.service(performance.now());
    if (busy) channel.port2.postMessage(0);
  };
  channel.port2.postMessage(0);
  try {
    const requests = guestIommuRequests({
      ...eth0Static(r.driver),
    });
    const t0 = performance.now();
    await requests.service.prepare(0, WINDOW, WINDOW);
    const ms = performance.now() - t0;
    assert.ok(ms < 100, `set up in ${ms.toFixed(1)} ms`);
  } finally {
    busy = false;
    channel.port1.close();
  }
});

Deno.test("a request whose token is handed out again before its waiter looks keeps its own status (a reset failed: 'statuses ')", async () => {
  const w = world(() => 3);
  await w.requests.service.prepare(0, WINDOW, WINDOW);
  // eth0's revocation is staged, and its waiter pauses while the world stands still.
  let go = () => {};
  w.gate.held = new Promise<void>((resolve) => go = resolve);
  const revoking = w.requests.revoke("eth0");
  for (let i = 0; i < 10; i++) await Promise.resolve();
  // The device completes the UNMAP and the guest's pump collects it: its token is free, and the
  // next request staged, eth1's reset's ATTACH, gets that same token.
  w.r.device.service(w.clock.t);
  w.r.dma.beginBatch();
  w.r.device.service(w.clock.t);
  w.requests.collect();
  const other = { gpa: 0x60000, len: 0x10000 };
  const preparing = w.requests.service.prepare(1, other, other);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  w.gate.held = null;
  go();
  const revoked = await revoking;
  assert.ok(revoked.ok, revoked.ok ? "" : revoked.message);
  await preparing; // threw "The vIOMMU of a did not set up endpoint 1: statuses "
  assert.equal(w.r.dma.resolve(WINDOW.gpa, 64, "read"), -1, "eth0's window revoked");
});

Deno.test("a device that does not answer fails prepare saying so, not with an empty status", async () => {
  const r = iommuRig("split", { size: 16 });
  const clock = { t: 0 };
  const requests = guestIommuRequests({
    ...eth0Static(r.driver),
    now: () => clock.t,
    pause: () => (clock.t += 1, Promise.resolve()), // the device worker never runs
    timeoutMs: TIMEOUT_MS,
  });
  await assert.rejects(
    requests.service.prepare(0, WINDOW, WINDOW),
    /did not set up endpoint 0: statuses none within 0.05 s, none within 0.05 s$/,
  );
});

Deno.test("a device that needs a reset fails the kind's requests at once, saying why (they waited out their timeout)", async () => {
  // Set up, then the device stops on a queue the guest broke (DEVICE_NEEDS_RESET, read on its
  // configuration interrupt): this driver does not reset it, and the device answers no more.
  let needsReset = false;
  const r = iommuRig("split", { size: 16 });
  const clock = { t: 0 };
  let answering = true;
  const requests = guestIommuRequests({
    ...eth0Static(r.driver),
    now: () => clock.t,
    pause: () => {
      clock.t += 1;
      if (answering) r.device.service(clock.t);
      if (clock.t === 3) needsReset = true; // the interrupt comes while the UNMAP waits
      return Promise.resolve();
    },
    timeoutMs: TIMEOUT_MS,
    needsReset: () => needsReset,
  });
  await requests.service.prepare(0, WINDOW, WINDOW);
  answering = false;
  clock.t = 0;
  const waited = await requests.revoke("eth0");
  assert.ok(!waited.ok);
  const message = `Cannot revoke "eth0": the vIOMMU's device stopped on an error and needs a ` +
    "reset, which this guest's driver does not do";
  assert.equal(waited.message, message);
  assert.match(waited.hint ?? "", /device-error event .*`vlab fault vm-crash a`/);
  assert.equal(clock.t, 3, `given up at the interrupt, not at its ${TIMEOUT_MS} ms`);
  assert.equal(requests.service.revoked(0), false, "the window is left as it was");
  // Asked again: refused at once, nothing staged.
  const inFlight = r.driver.inFlight;
  const again = await requests.revoke("eth0");
  assert.ok(!again.ok && again.message === message);
  assert.equal(clock.t, 3);
  assert.equal(r.driver.inFlight, inFlight);
  await assert.rejects(
    requests.service.prepare(0, WINDOW, WINDOW),
    /^Error: The vIOMMU of a did not set up endpoint 0: its device stopped on an error/,
  );
});

Deno.test("a revocation the driver refuses for a reason other than room says why in words, with a hint", async () => {
  const w = world(() => 3);
  await w.requests.service.prepare(0, WINDOW, WINDOW);
  // A driver bug: the UNMAP's chain refused (never a full queue, which is waited out).
  w.r.driver.unmap = () => ({
    ok: false,
    error: { kind: "bad-chain-length", length: 0, size: 16 },
  });
  const refused = await w.requests.revoke("eth0");
  assert.ok(!refused.ok);
  // It said `Cannot revoke "eth0": bad-chain-length`, with no hint.
  assert.equal(
    refused.message,
    'Cannot revoke "eth0": its driver could not add a chain of 0 descriptors to the requestq: ' +
      "the queue holds 16",
  );
  assert.match(refused.hint ?? "", /please report it/);
});

Deno.test("a crashed guest's iommu requests stage and publish nothing (its fence refuses them)", async () => {
  // Before, a workload's request staged after the crash (the rest of the old guest's task) wrote
  // the requestq the new guest's driver had taken.
  const r = iommuRig("split", { size: 16 });
  let current = true;
  const requests = guestIommuRequests({
    ...eth0Static(r.driver),
    timeoutMs: TIMEOUT_MS,
    guard: (fn, otherwise) => current ? fn() : otherwise,
  });
  current = false;
  const inFlight = r.driver.inFlight;
  await assert.rejects(requests.service.prepare(0, WINDOW, WINDOW), /no request/);
  assert.equal(r.driver.inFlight, inFlight);
  assert.equal(requests.collect(), 0);
  assert.ok(r.dma.resolve(WINDOW.gpa, 64, "write") < 0, "nothing was mapped");
});

Deno.test("a guest that crashed while its request waits for the device kicks the requestq no more", async () => {
  // Before, the wait's kick again (every RENOTIFY_MS unanswered), in a continuation after its
  // pause, ran outside any section: a guest that crashed while a NIC's reset mapped its window
  // again kicked the requestq its successor's driver had taken.
  const r = iommuRig("split", { size: 16 });
  let current = true;
  const clock = { t: 0 };
  // Each kick, and whether the guest's generation still ran then.
  const kicks: boolean[] = [];
  const requests = guestIommuRequests({
    ...eth0Static(r.driver),
    kick: () => kicks.push(current),
    now: () => clock.t,
    // The device never answers; the guest crashes during the first pause.
    pause: () => {
      clock.t += RENOTIFY_MS;
      current = false;
      return Promise.resolve();
    },
    timeoutMs: 5 * RENOTIFY_MS,
    guard: (fn, otherwise) => current ? fn() : otherwise,
  });
  await assert.rejects(requests.service.prepare(0, WINDOW, WINDOW), /statuses none within/);
  assert.deepEqual(kicks, [true], "one kick, the publish's, before the crash");
});
