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

/** Byte by byte, the reference the copies are checked against. */
function referenceGather(mem: Uint8Array, segs: { gpa: number; len: number }[], skip: number) {
  const out: number[] = [];
  for (const s of segs) for (let i = 0; i < s.len; i++) out.push(mem[s.gpa + i]);
  return out.slice(skip);
}

Deno.test("byte-loop and memcpy copies agree with a byte-by-byte copy at every alignment and length", () => {
  // Guest memory shared (as a lab's is) and a flat buffer that is a view at an offset, as a link
  // slot is: every alignment of either end, lengths around the byte loop's limit (128) and beyond.
  const mem = new Uint8Array(new SharedArrayBuffer(4096));
  for (let i = 0; i < mem.length; i++) mem[i] = (i * 31 + 7) & 0xff;
  const backing = new Uint8Array(new SharedArrayBuffer(2048));
  for (const gpa of [64, 65, 66, 67]) {
    for (const viewAt of [0, 1, 2, 3, 12]) {
      for (const len of [1, 3, 4, 5, 12, 63, 64, 65, 127, 128, 129, 700]) {
        const segs = [{ gpa, len: Math.ceil(len / 2) + 1 }, { gpa: 2048 + gpa, len }];
        const into = backing.subarray(viewAt, viewAt + len);
        into.fill(0);
        gatherSegments(mem, segs, 1, into, len);
        assert.deepEqual(
          [...into],
          referenceGather(mem, segs, 1).slice(0, len),
          `gather ${gpa} ${viewAt} ${len}`,
        );
        const dst = new Uint8Array(new SharedArrayBuffer(4096));
        const src = backing.subarray(viewAt, viewAt + len);
        scatterSegments(dst, segs, 1, src, 0, len);
        assert.deepEqual(
          referenceGather(dst, segs, 1).slice(0, len),
          [...src],
          `scatter ${gpa} ${viewAt} ${len}`,
        );
        // Nothing written outside the segments: the bytes around them stay zero.
        assert.equal(dst[gpa - 1], 0);
        assert.equal(dst[2048 + gpa + len], 0);
      }
    }
  }
});
