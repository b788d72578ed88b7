import assert from "node:assert/strict";
import { count } from "./plural.ts";

Deno.test("count agrees in number: singular for 1 only", () => {
  assert.equal(count(0, "frame"), "0 frames");
  assert.equal(count(1, "frame"), "1 frame");
  assert.equal(count(2, "frame"), "2 frames");
  assert.equal(count(1, "miss", { plural: "misses" }), "1 miss");
  assert.equal(count(3, "miss", { plural: "misses" }), "3 misses");
  assert.equal(count(1500, "fault", { shown: "1.5k" }), "1.5k faults");
});
