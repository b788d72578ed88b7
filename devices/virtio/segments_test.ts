/** Copies between descriptor-chain segments and flat buffers, short (byte loop) and long (memcpy). */

import assert from "node:assert/strict";
import { gatherSegments, scatterSegments } from "./segments.ts";

Deno.test("gather and scatter cross segment boundaries with an offset", () => {
  const mem = new Uint8Array(32);
  const segs = [{ gpa: 4, len: 3 }, { gpa: 20, len: 5 }];
  scatterSegments(mem, segs, 2, new Uint8Array([9, 8, 7, 6, 5, 4, 3]), 1, 5);
  assert.deepEqual([...mem.subarray(4, 7)], [0, 0, 8]);
  assert.deepEqual([...mem.subarray(20, 25)], [7, 6, 5, 4, 0]);
  const out = new Uint8Array(5);
  gatherSegments(mem, segs, 2, out, 5);
  assert.deepEqual([...out], [8, 7, 6, 5, 4]);
});

Deno.test("long copies (memcpy path) cross segment boundaries the same way", () => {
  const mem = new Uint8Array(1024);
  const segs = [{ gpa: 10, len: 200 }, { gpa: 500, len: 300 }];
  const src = Uint8Array.from({ length: 450 }, (_, i) => (i * 7) & 0xff);
  scatterSegments(mem, segs, 150, src, 50, 300);
  assert.deepEqual([...mem.subarray(160, 210)], [...src.subarray(50, 100)]);
  assert.deepEqual([...mem.subarray(500, 750)], [...src.subarray(100, 350)]);
  const out = new Uint8Array(300);
  gatherSegments(mem, segs, 150, out, 300);
  assert.deepEqual([...out], [...src.subarray(50, 350)]);
});
