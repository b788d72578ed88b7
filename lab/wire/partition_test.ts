import assert from "node:assert/strict";
import { macNumber, macNumberOf, PartitionFilter } from "./partition.ts";

const A = "02:00:00:00:00:01", B = "02:00:00:00:01:00", C = "02:00:00:00:02:00";

function frame(dst: string, src: string): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst.split(":").map((h) => parseInt(h, 16)), 0);
  f.set(src.split(":").map((h) => parseInt(h, 16)), 6);
  return f;
}

Deno.test("a cut pair drops unicast frames from its source to its destination only", () => {
  const f = new PartitionFilter();
  assert.equal(f.cuts(frame(B, A), -1), false, "no partition: nothing is cut");
  f.set([[A, B]]);
  assert.equal(f.cuts(frame(B, A), -1), true);
  assert.equal(f.cuts(frame(A, B), -1), false, "the other way is not cut");
  assert.equal(f.cuts(frame(C, A), -1), false);
});

Deno.test("a broadcast is cut on the hop into a NIC of the other side", () => {
  const f = new PartitionFilter();
  f.set([[A, B]]);
  const bcast = frame("ff:ff:ff:ff:ff:ff", A);
  assert.equal(f.cuts(bcast, -1), false, "towards a switch the broadcast goes on");
  assert.equal(f.cuts(bcast, macNumber(B)), true);
  assert.equal(f.cuts(bcast, macNumber(C)), false);
});

Deno.test("setting the pairs again replaces them; an empty set heals", () => {
  const f = new PartitionFilter();
  f.set([[A, B]]);
  f.set([[A, C]]);
  assert.equal(f.cuts(frame(B, A), -1), false);
  assert.equal(f.cuts(frame(C, A), -1), true);
  f.set([]);
  assert.equal(f.active, false);
  assert.equal(f.cuts(frame(C, A), -1), false);
});

Deno.test("MAC numbers read the high octets exactly (no 32-bit overflow)", () => {
  assert.equal(macNumber("ff:ff:ff:ff:ff:ff"), 2 ** 48 - 1);
  assert.equal(macNumber("not a mac"), -1);
  const f = new PartitionFilter();
  f.set([["fe:00:00:00:00:01", "fe:ff:00:00:00:02"]]);
  assert.equal(f.cuts(frame("fe:ff:00:00:00:02", "fe:00:00:00:00:01"), -1), true);
});

Deno.test("a MAC from a spec's bytes is the number a MAC from text is", () => {
  assert.equal(macNumberOf([2, 0, 0, 1, 0, 0xab]), macNumber("02:00:00:01:00:ab"));
  assert.equal(macNumberOf([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), 2 ** 48 - 1);
});
