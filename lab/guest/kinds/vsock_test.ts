import assert from "node:assert/strict";
import { createDoorbells, endGeneration, guestsInside } from "../../wire/doorbell.ts";
import { guestFence } from "../../wire/fence.ts";
import type { VsockHeader } from "../../../devices/vsock/mod.ts";
import { fencedSink } from "./vsock.ts";

Deno.test("a guest's vsock sends from a workload are sections of its generation: a crashed guest's write nothing", async () => {
  // Before, the socket table sent straight into the driver: a workload's write or connect, from
  // its own continuation outside the loop's pass, wrote a TX buffer and the ring's entries with
  // no section, so the reboot's wait for the old guest's sections did not hold for it.
  const bells = createDoorbells(1);
  const fence = guestFence(bells, 0, 0);
  const sent: number[] = [];
  const sink = fencedSink({ send: () => sent.push(guestsInside(bells, 0)) > 0 }, fence);
  const h = {} as VsockHeader;
  // A burst of a workload's sends: one section, over when its microtasks have run.
  assert.equal(sink.send(h, null), true);
  assert.equal(sink.send(h, null), true);
  assert.deepEqual(sent, [1, 1]);
  await null;
  assert.equal(guestsInside(bells, 0), 0);
  // Inside the loop's pass: nested, no count of its own.
  assert.equal(fence.guard(() => sink.send(h, null), false), true);
  assert.deepEqual(sent, [1, 1, 1]);
  assert.equal(guestsInside(bells, 0), 0);
  // The guest crashed: its workload's next send writes nothing (the table keeps the packet).
  endGeneration(bells, 0);
  assert.equal(sink.send(h, null), false);
  assert.equal(sent.length, 3);
  assert.equal(guestsInside(bells, 0), 0);
});
