/**
 * `coalescedConfigReads`: one read at a time; interrupts during a read make one more read after
 * it, however many came; a failed read is reported and made again while the guest lives.
 */

import assert from "node:assert/strict";
import { coalescedConfigReads } from "./config_reads.ts";

/** Reads that the test settles by hand. */
function reads() {
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  let started = 0;
  const read = () =>
    new Promise<void>((resolve, reject) => {
      started++;
      pending.push({ resolve, reject });
    });
  return { read, pending, started: () => started };
}

/** Let settled reads' continuations run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("interrupts during a read coalesce into one more read after it", async () => {
  const r = reads();
  const refresh = coalescedConfigReads(r.read, () => assert.fail("no read failed"));
  refresh();
  refresh();
  refresh();
  assert.equal(r.started(), 1, "one read at a time");
  r.pending.shift()!.resolve();
  await settle();
  assert.equal(r.started(), 2, "the three interrupts during it made one more");
  r.pending.shift()!.resolve();
  await settle();
  assert.equal(r.started(), 2, "nothing came during the second");
});

Deno.test("a failed read is reported and made again while the guest lives, not after", async () => {
  const r = reads();
  const failures: string[] = [];
  let live = true;
  const refresh = coalescedConfigReads(r.read, (m) => failures.push(m), () => live);
  refresh();
  r.pending.shift()!.reject(new Error("no answer"));
  await settle();
  assert.deepEqual(failures, ["no answer"]);
  assert.equal(r.started(), 2, "read again");
  live = false;
  r.pending.shift()!.reject(new Error("no answer"));
  await settle();
  assert.equal(failures.length, 2);
  assert.equal(r.started(), 2, "a stopped guest reads no more");
});
