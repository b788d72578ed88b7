/** The dry-run's memory line: the plan's shared memory against the machine's, in units that read. */

import assert from "node:assert/strict";
import { memoryFit, memoryFitError } from "./memory_fit.ts";
import { formatPlan, planLab } from "./plan.ts";
import { parseTopology } from "./topology/mod.ts";

const MACHINE = { total: 24 * 2 ** 30, available: 23 * 2 ** 30 };

Deno.test("a small plan's shared memory is given in MiB, a large one in GiB", () => {
  assert.equal(
    memoryFit(32 * 2 ** 20, MACHINE).line,
    "32 MiB of shared memory planned; this machine has 24 GiB (23 GiB available)",
  );
  assert.match(memoryFit(1.5 * 2 ** 30, MACHINE).line, /^1\.5 GiB of shared memory planned/);
  assert.match(memoryFit(100, MACHINE).line, /^1 KiB of shared memory planned/);
  assert.equal(memoryFit(30 * 2 ** 30, MACHINE).verdict, "too-big");
});

Deno.test("the dry-run's memory line says the plan's figures: 0 MiB of an empty lab, 33.5 MiB of a pair", () => {
  // `vms: {}` printed "0 MiB … reserved" and then "1 MiB of shared memory planned"; a pair's
  // "33.5 MiB reserved" was "34 MiB" on the line below.
  for (const yaml of ["name: empty\nvms: {}\n", "name: p\nvms: { a: { nics: { eth0: {} } } }\n"]) {
    const t = parseTopology(yaml, "t.yaml");
    assert.ok(t.ok);
    const plan = planLab(t.value);
    const reserved = /, ([0-9.]+ [KMG]iB) of shared memory reserved/.exec(formatPlan(plan))?.[1];
    const line = memoryFit(plan.sharedBytes, MACHINE, plan.threads.length).line;
    const shared = /([0-9.]+ [KMG]iB) of shared memory/.exec(line)?.[1];
    assert.ok(reserved !== undefined, formatPlan(plan));
    assert.equal(shared, reserved, `${formatPlan(plan)}\n${line}`);
  }
  assert.match(memoryFit(0, MACHINE).line, /^0 MiB of shared memory planned/);
  assert.match(memoryFit(33.5 * 2 ** 20, MACHINE, 4).line, /^65\.5 MiB \(33\.5 MiB of shared/);
});

Deno.test("a plan's workers count: 700 VMs that fit by shared memory alone do not fit with theirs", () => {
  // 700 VMs of 16 MiB with a link each (two rings of 512 × 9216 B): 17.1 GiB shared, under the
  // 23 GiB available; 1401 workers of 8 MiB each add 10.9 GiB: 28 GiB, over the 24 GiB of the machine.
  const shared = 700 * 16 * 2 ** 20 + 1400 * 512 * 9216;
  assert.equal(memoryFit(shared, MACHINE).verdict, "fits");
  const fit = memoryFit(shared, MACHINE, 1401);
  assert.equal(fit.verdict, "too-big");
  assert.equal(
    fit.line,
    "28 GiB (17 GiB of shared memory, 11 GiB for 1401 workers) planned; this machine has 24 GiB " +
      "(23 GiB available): the plan does not fit, `vlab up` refuses it (not-enough-memory)",
  );
  const refused = memoryFitError("big", shared, MACHINE, 1401);
  assert.equal(refused?.code, "not-enough-memory");
  assert.equal(
    refused?.message,
    'Cannot start lab "big": it plans 28 GiB (17 GiB of shared memory, 11 GiB for 1401 workers) ' +
      "and this machine has 24 GiB",
  );
  assert.equal(memoryFitError("small", 2 ** 30, MACHINE, 129), null);
});

Deno.test("a plan that only workers push over the memory available is tight, not refused", () => {
  const fit = memoryFit(20 * 2 ** 30, MACHINE, 400);
  assert.equal(fit.verdict, "tight");
  assert.match(fit.line, /^23 GiB \(20 GiB of shared memory, 3\.1 GiB for 400 workers\) planned/);
});
