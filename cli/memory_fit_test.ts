/** The dry-run's memory line: the plan's shared memory against the machine's, in units that read. */

import assert from "node:assert/strict";
import { memoryFit } from "./memory_fit.ts";

const MACHINE = { total: 24 * 2 ** 30, available: 23 * 2 ** 30 };

Deno.test("a small plan's shared memory is given in MiB, a large one in GiB", () => {
  assert.equal(
    memoryFit(32 * 2 ** 20, MACHINE).line,
    "32 MiB of shared memory planned; this machine has 24 GiB (23 GiB available)",
  );
  assert.match(memoryFit(1.5 * 2 ** 30, MACHINE).line, /^1\.5 GiB of shared memory planned/);
  assert.match(memoryFit(100, MACHINE).line, /^1 MiB of shared memory planned/);
  assert.equal(memoryFit(30 * 2 ** 30, MACHINE).verdict, "too-big");
});
