import assert from "node:assert/strict";
import { readFloodSentAt, readFloodSeq, writeFloodPayload } from "./flood_payload.ts";

Deno.test("flood payload round-trips the sequence number and send time", () => {
  const b = new Uint8Array(20);
  writeFloodPayload(b, 2, 0xfffffffe, { now: () => 1234.5678 });
  const p = b.subarray(2);
  assert.deepEqual([...p.subarray(0, 4)], [0x56, 0x4c, 0x46, 0x44]); // "VLFD"
  assert.equal(readFloodSeq(p), 0xfffffffe);
  assert.equal(readFloodSentAt(p), 1234.5678);
  assert.equal(readFloodSeq(new Uint8Array(16)), -1); // no magic
  assert.equal(readFloodSeq(p.subarray(0, 15)), -1);
});
