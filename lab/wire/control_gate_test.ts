import assert from "node:assert/strict";
import { CONTROL_WAIT_MS, ControlGate } from "./control_gate.ts";
import { createDoorbells, nextControl, publishControl } from "./doorbell.ts";

Deno.test("the gate is pending from a post until the loop has read the message, and only that long", async () => {
  const bells = createDoorbells(2);
  let applied = 0;
  const gate = new ControlGate(bells, 1, () => applied);
  assert.equal(gate.pending(), false);
  publishControl(bells, 0, nextControl(bells, 0)); // another thread's message: not this one's
  assert.equal(gate.pending(), false);
  publishControl(bells, 1, nextControl(bells, 1));
  assert.equal(gate.pending(), true);
  applied = 1; // handled, not yet read by the loop: still pending (frames wait for the next pass)
  assert.equal(gate.pending(), true);
  const t0 = performance.now();
  await gate.read();
  assert.ok(performance.now() - t0 < CONTROL_WAIT_MS, "a handled message is read at once");
  assert.equal(gate.pending(), false);
});

Deno.test("a message that never comes holds frames back for CONTROL_WAIT_MS at most, once", async () => {
  const bells = createDoorbells(1);
  const gate = new ControlGate(bells, 0, () => 0);
  publishControl(bells, 0, nextControl(bells, 0));
  const t0 = performance.now();
  await gate.read();
  const waited = performance.now() - t0;
  assert.ok(waited >= CONTROL_WAIT_MS - 1 && waited < CONTROL_WAIT_MS + 500, `waited ${waited} ms`);
  assert.equal(gate.pending(), false, "no stall: frames go on under what the worker knows");
  publishControl(bells, 0, nextControl(bells, 0));
  assert.equal(gate.pending(), true, "a later post holds them again");
});
