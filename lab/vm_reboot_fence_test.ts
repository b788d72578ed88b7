/**
 * A crashed guest that was mid-task writes nothing into the rings its successor owns:
 * `terminate()` lets the old guest's current task run to its end (Deno interrupts no running
 * JavaScript), and one descheduled mid-pass resumes whenever its CPU comes back. The reboot ends
 * the old guest's generation and starts the new guest only once the old one's sections under way
 * are over (`lab/wire/fence.ts`).
 */

import assert from "node:assert/strict";
import { fakeCrashHost, rebootParts } from "./vm_reboot_testing.ts";
import { crashAndReboot, oldGuestOut } from "./vm_reboot.ts";
import { waitForValue, within } from "./testing.ts";
import type { WorkerHandle, WorkerSet } from "./workers.ts";
import { createDoorbells, endGeneration, guestGeneration } from "./wire/doorbell.ts";
import { guestFence } from "./wire/fence.ts";

/** Longer than the 20 ms the reboot gave the old guest before (`OLD_GUEST_GRACE_MS`). */
const STALL_MS = 100;

Deno.test("a crashed guest stalled mid-pass: its successor starts once the pass is over, and the rest of its task writes no ring", async () => {
  // Before, the new guest started 20 ms after the crash, with the stop word cleared, whatever
  // the old guest was doing: one descheduled mid-pass resumed afterwards and finished its pass
  // (descriptors, avail entries) in rings the new guest had taken.
  const p = rebootParts("pair");
  const b = p.plan.vms.find((v) => v.name === "b")!;
  const thread = b.guestThread;
  // A ring word of b's guest memory: its avail index, say.
  const availIdx = new Uint16Array(new SharedArrayBuffer(2));
  const old = guestFence(p.bells, thread, guestGeneration(p.bells, thread));
  // The old guest is mid-pass (a section under way) when its thread loses its CPU.
  assert.ok(old.enter());
  let held = true;
  availIdx[0] = 7;
  let terminated = false;
  const worker = { terminate: () => terminated = true, onmessage: null, onerror: null };
  const guest = { owner: "b", kind: "guest", worker } as unknown as WorkerHandle;
  const workers = {
    take: (owner: string, kind: string) => owner === "b" && kind === "guest" ? guest : undefined,
    find: () => undefined,
    postControl: () => {},
    answerPending: () => {},
  } as unknown as WorkerSet;
  let started: number | null = null;
  const host = fakeCrashHost(p, {
    workers,
    bootGuest: () => {
      started = performance.now();
      // The new guest takes the ring: it starts it at 0.
      availIdx[0] = 0;
      return Promise.resolve();
    },
  });
  const done = crashAndReboot("b", host);
  try {
    assert.ok(terminated);
    await new Promise((resolve) => setTimeout(resolve, STALL_MS));
    assert.equal(started, null, `the new guest started while the old one was mid-pass`);
    // The old guest gets its CPU back: the rest of its pass, then the rest of its task, whose
    // next pass (or a workload's send) would write the ring again.
    availIdx[0] = 8;
    old.exit();
    held = false;
    const resumedAt = performance.now();
    assert.equal(old.guard(() => availIdx[0] = 9, null), null);
    await within(5000, "the reboot's end", done);
    assert.ok(started! >= resumedAt);
    // The new guest's ring as it made it: nothing of the old guest's came after its start.
    assert.equal(availIdx[0], 0);
    // The new guest's sections run (its generation is the thread's), the old one's never again.
    const fresh = guestFence(p.bells, thread, guestGeneration(p.bells, thread));
    assert.equal(fresh.guard(() => "written", null), "written");
    assert.equal(old.guard(() => "written", null), null);
    assert.equal(old.current(), false);
  } finally {
    if (held) old.exit(); // a failed check: the reboot's wait ends
    await done;
  }
});

Deno.test("a crashed guest with no section under way: its successor starts at once", async () => {
  // "At once" against the bound on the wait for the old guest's sections: a long one here, so
  // that a reboot that waited it out (or most of it) fails, however loaded the machine.
  const boundMs = 5_000;
  const p = rebootParts("pair");
  const b = p.plan.vms.find((v) => v.name === "b")!;
  const before = guestGeneration(p.bells, b.guestThread);
  let startedAs: number | null = null;
  let startedAt: number | null = null;
  const worker = { terminate: () => {}, onmessage: null, onerror: null };
  const host = fakeCrashHost(p, {
    workers: {
      take: () => ({ owner: "b", kind: "guest", worker }),
      find: () => undefined,
      postControl: () => {},
      answerPending: () => {},
    } as unknown as WorkerSet,
    oldGuestWaitMs: boundMs,
    bootGuest: () => {
      startedAt = performance.now();
      startedAs = guestGeneration(p.bells, b.guestThread);
      return Promise.resolve();
    },
  });
  const crashedAt = performance.now();
  await within(2 * boundMs, "the reboot's end", crashAndReboot("b", host));
  await waitForValue("the new guest's start", () => startedAs, 1000);
  assert.equal(startedAs, before + 1);
  const tookMs = startedAt! - crashedAt;
  assert.ok(tookMs < boundMs / 2, `the new guest started ${Math.round(tookMs)} ms after the crash`);
  assert.deepEqual(host.events.recent().filter((e) => e.kind === "fence-timeout"), []);
});

Deno.test("the wait for a crashed guest's sections ends when the lab stops, and at its bound", async () => {
  // The lab's wait resolves at once once it stops: without a look at `stopped`, the wait for a
  // section that never ends spun the main thread to its bound.
  const bells = createDoorbells(1);
  const old = guestFence(bells, 0, 0);
  assert.ok(old.enter());
  endGeneration(bells, 0);
  let waits = 0;
  const at = (ms: number) => (waits++, new Promise<void>((r) => setTimeout(r, ms)));
  assert.equal(await oldGuestOut(bells, 0, () => Promise.resolve(), () => true, 60_000), false);
  assert.equal(await oldGuestOut(bells, 0, at, () => false, 20), false);
  assert.ok(waits >= 1);
  old.exit();
  assert.equal(await oldGuestOut(bells, 0, at, () => false, 20), true);
});

Deno.test("a crashed guest stuck inside a section holds its successor back only to the bound, and an event says so", async () => {
  const p = rebootParts("pair");
  const b = p.plan.vms.find((v) => v.name === "b")!;
  const old = guestFence(p.bells, b.guestThread, guestGeneration(p.bells, b.guestThread));
  assert.ok(old.enter()); // never ends
  let booted = false;
  const host = fakeCrashHost(p, {
    workers: {
      take: () => ({ owner: "b", kind: "guest", worker: { terminate: () => {} } }),
      find: () => undefined,
      postControl: () => {},
      answerPending: () => {},
    } as unknown as WorkerSet,
    oldGuestWaitMs: 30,
    bootGuest: () => {
      booted = true;
      return Promise.resolve();
    },
  });
  try {
    await within(5000, "the reboot's end", crashAndReboot("b", host));
    assert.ok(booted);
    const timeouts = host.events.recent().filter((e) => e.kind === "fence-timeout");
    assert.equal(timeouts.length, 1);
    assert.equal(timeouts[0].subject, "b");
    assert.equal(timeouts[0].detail?.worker, "guest");
    assert.equal(timeouts[0].detail?.generation, 0);
    assert.equal(timeouts[0].detail?.inside, 1);
    assert.ok(Number(timeouts[0].detail?.waitedMs) >= 30);
  } finally {
    old.exit();
  }
});
