import assert from "node:assert/strict";
import { readStats, snake, StatsWriter } from "./stats.ts";

function writer(slots = 8) {
  const region = new Float64Array(slots);
  const announced: string[][] = [];
  const w = new StatsWriter(region, (names) => announced.push(names));
  return { region, announced, w };
}

Deno.test("values land in slots in the order names first appear", () => {
  const { region, w } = writer();
  w.set("a", 1);
  w.set("b", 2.5);
  w.set("a", 3);
  assert.deepEqual([...region.subarray(0, 3)], [3, 2.5, 0]);
});

Deno.test("names are announced once, and again only when new names appear", () => {
  const { announced, w } = writer();
  w.flush();
  assert.deepEqual(announced, [], "nothing to announce");
  w.set("x", 1);
  w.set("y", 2);
  w.flush();
  w.set("x", 5); // a new value, no new name
  w.flush();
  w.flush();
  assert.deepEqual(announced, [["x", "y"]]);
  w.set("z", 3);
  w.flush();
  assert.deepEqual(announced, [["x", "y"], ["x", "y", "z"]], "the full list again");
  // The announced list is a copy: later names do not change what was announced.
  w.set("w", 4);
  assert.deepEqual(announced[1], ["x", "y", "z"]);
});

Deno.test("setAll snake_cases numeric fields, prefixes them and skips the rest", () => {
  const { region, announced, w } = writer();
  w.setAll("stack_", { framesIn: 4, arpMisses: 2, label: "eth0", ok: true, rxBytesTotal: 9000 });
  w.flush();
  assert.deepEqual(announced, [["stack_frames_in", "stack_arp_misses", "stack_rx_bytes_total"]]);
  assert.deepEqual([...region.subarray(0, 3)], [4, 2, 9000]);
});

Deno.test("setAll flattens a nested object one level, so a new drop cause is published", () => {
  const { region, announced, w } = writer();
  w.setAll("stack_", { framesIn: 1, drops: { badChecksum: 2, noListener: 3, deeper: { x: 9 } } });
  w.flush();
  assert.deepEqual(announced, [[
    "stack_frames_in",
    "stack_drops_bad_checksum",
    "stack_drops_no_listener",
  ]]);
  assert.deepEqual([...region.subarray(0, 3)], [1, 2, 3]);
});

Deno.test("names beyond the region's slots are ignored", () => {
  const { region, announced, w } = writer(2);
  w.set("a", 1);
  w.set("b", 2);
  w.set("c", 3);
  w.flush();
  assert.deepEqual(announced, [["a", "b"]]);
  assert.deepEqual([...region], [1, 2]);
  w.set("b", 7); // a known name still updates
  w.set("d", 4);
  w.flush();
  assert.deepEqual(announced, [["a", "b"]], "an ignored name announces nothing");
  assert.deepEqual([...region], [1, 7]);
});

Deno.test("readStats pairs announced names with their slots", () => {
  const { region, announced, w } = writer();
  w.set("frames", 10);
  w.setAll("sw_", { floods: 3 });
  w.flush();
  assert.deepEqual(readStats(region, announced.at(-1)!), { frames: 10, sw_floods: 3 });
  assert.deepEqual(readStats(region, []), {});
  // Another thread's view of the same shared region reads the same values.
  const shared = new Float64Array(new SharedArrayBuffer(8 * 4));
  const names: string[][] = [];
  const w2 = new StatsWriter(shared, (n) => names.push(n));
  w2.set("drops", 1);
  w2.flush();
  const other = new Float64Array(shared.buffer);
  w2.set("drops", 2);
  assert.deepEqual(readStats(other, names[0]), { drops: 2 });
});

Deno.test("snake turns camelCase into snake_case", () => {
  assert.equal(snake("framesIn"), "frames_in");
  assert.equal(snake("rxBytesTotal"), "rx_bytes_total");
  assert.equal(snake("plain"), "plain");
});
