/**
 * The seqlock walk under an owner that is mid-write: it waits for the write to end instead of
 * refusing a valid access, and refuses (`"busy"`) only an owner stuck past the deadline.
 */
import assert from "node:assert/strict";
import { Hdr } from "./layout.ts";
import { newWalkResult, walk } from "./table.ts";
import { Viommu } from "./viommu.ts";

function table(): Viommu {
  const v = Viommu.create({ mappings: 8, endpoints: 1, consumers: 1, faults: 4 });
  v.attach(1, 0);
  v.map(1, { start: 0x1000, end: 0x1fff, gpa: 0x5000, perms: 3 });
  return v;
}

// An owner on another thread: SEQ odd (mid-write), a flag for "started", then SEQ even after
// `ms` (its write is over).
const OWNER = `
self.onmessage = (e) => {
  const { buffer, flag, ms } = e.data;
  const i32 = new Int32Array(buffer);
  const f = new Int32Array(flag);
  Atomics.add(i32, ${Hdr.SEQ}, 1);
  Atomics.store(f, 0, 1);
  Atomics.notify(f, 0);
  Atomics.wait(f, 1, 0, ms);
  Atomics.add(i32, ${Hdr.SEQ}, 1);
  self.postMessage("done");
};`;

Deno.test("a walk waits out an owner descheduled mid-write instead of refusing", async () => {
  const v = table();
  const flag = new Int32Array(new SharedArrayBuffer(8));
  const url = URL.createObjectURL(new Blob([OWNER], { type: "application/javascript" }));
  const owner = new Worker(url, { type: "module" });
  try {
    const done = new Promise((r) => owner.onmessage = r);
    owner.postMessage({ buffer: v.buffer, flag: flag.buffer, ms: 60 });
    Atomics.wait(flag, 0, 0, 5000); // the owner holds the table now
    const t0 = performance.now();
    const r = newWalkResult();
    walk(v.views, 0, 0x1800, r);
    const waited = performance.now() - t0;
    assert.equal(r.miss, null, "a valid access is translated, not refused");
    assert.equal(r.gpa, 0x5000);
    assert.ok(waited >= 20, `it waited for the write to end (${waited.toFixed(1)} ms)`);
    await done;
  } finally {
    owner.terminate();
    URL.revokeObjectURL(url);
  }
});

Deno.test("a walk refuses as busy only an owner stuck mid-write past the deadline", () => {
  const v = table();
  Atomics.add(v.views.i32, Hdr.SEQ, 1); // mid-write, and never done
  const t0 = performance.now();
  const r = newWalkResult();
  walk(v.views, 0, 0x1800, r, 30);
  const waited = performance.now() - t0;
  assert.equal(r.miss, "busy");
  assert.ok(waited >= 30, `after its deadline (${waited.toFixed(1)} ms)`);
  Atomics.add(v.views.i32, Hdr.SEQ, 1); // the write ends: the same walk succeeds
  walk(v.views, 0, 0x1800, r, 30);
  assert.equal(r.miss, null);
});
