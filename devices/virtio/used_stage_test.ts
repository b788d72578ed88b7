import assert from "node:assert/strict";
import type { DescriptorChain } from "./chain.ts";
import { UsedStage } from "./used_stage.ts";

function chain(id: number, writableBytes: number, descCount = 1): DescriptorChain {
  return {
    id,
    descCount,
    readable: [],
    writable: [],
    readableBytes: 0,
    writableBytes,
    indirect: false,
  };
}

Deno.test("stages in push order, clamping the length to the writable part", () => {
  const stage = new UsedStage(8);
  assert.equal(stage.add(chain(5, 64, 3), 100, true).ok, true);
  assert.equal(stage.add(chain(2, 64), 10, true).ok, true);
  assert.equal(stage.add(chain(7, 0), -4, true).ok, true);
  assert.equal(stage.count, 3);
  assert.deepEqual([...stage.id.subarray(0, 3)], [5, 2, 7]);
  assert.deepEqual([...stage.len.subarray(0, 3)], [64, 10, 0]);
  assert.deepEqual([...stage.descs.subarray(0, 3)], [3, 1, 1]);
  assert.deepEqual([...stage.full.subarray(0, 3)], [1, 0, 1]);
});

Deno.test("refuses a chain not in flight, out of range, or staged twice (reliability A22)", () => {
  const stage = new UsedStage(4);
  assert.deepEqual(stage.add(chain(1, 8), 8, false), {
    ok: false,
    error: { kind: "not-in-flight", id: 1 },
  });
  assert.deepEqual(stage.add(chain(4, 8), 8, true), {
    ok: false,
    error: { kind: "not-in-flight", id: 4 },
  });
  assert.equal(stage.add(chain(1, 8), 8, true).ok, true);
  assert.deepEqual(stage.add(chain(1, 8), 8, true), {
    ok: false,
    error: { kind: "not-in-flight", id: 1 },
  });
  assert.equal(stage.count, 1, "a refused push changes nothing");
});

Deno.test("clear forgets the entries and lets the same ids be staged again", () => {
  const stage = new UsedStage(4);
  stage.add(chain(0, 8), 8, true);
  stage.add(chain(3, 8), 8, true);
  stage.clear();
  assert.equal(stage.count, 0);
  assert.equal(stage.add(chain(3, 8), 1, true).ok, true);
  assert.equal(stage.len[0], 1);
});
