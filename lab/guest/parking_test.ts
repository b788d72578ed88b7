import assert from "node:assert/strict";
import { WorkloadParking } from "./parking.ts";

Deno.test("no workload: a guest may block for ever; a running one: not at all", () => {
  const p = new WorkloadParking();
  assert.equal(p.blockUntil(), Infinity);
  p.begin();
  assert.equal(p.blockUntil(), -Infinity);
  p.end();
  assert.equal(p.blockUntil(), Infinity);
});

Deno.test("parked workloads let the guest block until the first of their timers", () => {
  const p = new WorkloadParking();
  p.begin();
  p.begin();
  const a = p.park(500);
  assert.equal(p.blockUntil(), -Infinity, "the other one still runs");
  const b = p.park(200);
  assert.equal(p.blockUntil(), 200);
  b();
  assert.equal(p.blockUntil(), -Infinity, "b runs again");
  p.park(300);
  assert.equal(p.blockUntil(), 300);
  a();
  b(); // a second unpark of one wait does nothing
  assert.equal(p.running, 1);
  assert.equal(p.blockUntil(), -Infinity);
});

Deno.test("a wait without a timer lets the guest block until it settles", () => {
  const p = new WorkloadParking();
  p.begin();
  const settled = p.park(Infinity);
  assert.equal(p.blockUntil(), Infinity);
  settled();
  assert.equal(p.blockUntil(), -Infinity);
});
