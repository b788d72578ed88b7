/** `HeadTail` and the gap's line: what a long run's result keeps of its lines and replies. */

import assert from "node:assert/strict";
import { gapLine, gapOfLine, HeadTail, keptLines } from "./kept.ts";

Deno.test("HeadTail keeps the first and last items in order and counts those between", () => {
  const k = new HeadTail<number>(3, 2);
  for (let i = 1; i <= 4; i++) k.push(i);
  assert.deepEqual(k.items(), [1, 2, 3, 4]);
  assert.equal(k.skipped, 0);
  for (let i = 5; i <= 11; i++) k.push(i);
  assert.deepEqual(k.head, [1, 2, 3]);
  assert.deepEqual(k.tail(), [10, 11]);
  assert.equal(k.skipped, 6);
  assert.equal(k.count, 11);
  const none = new HeadTail<number>(1, 0);
  for (let i = 1; i <= 3; i++) none.push(i);
  assert.deepEqual([none.items(), none.skipped, none.count], [[1], 2, 3]);
});

Deno.test("keptLines marks the gap with a line that says how many were not kept", () => {
  const k = new HeadTail<string>(1, 1);
  for (const l of ["a", "b", "c", "d"]) k.push(l);
  assert.deepEqual(keptLines(k), ["a", gapLine(2, 1, 1), "d"]);
  assert.equal(
    gapLine(2, 1, 1),
    "[2 lines not kept: a result's text keeps its first 1 and last 1 lines]",
  );
  assert.equal(gapOfLine(gapLine(1)), 1);
  assert.equal(gapOfLine("64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=0.254 ms"), null);
});
