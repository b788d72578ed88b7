import assert from "node:assert/strict";
import { parseWakeupOptions } from "./bench_wakeup.ts";

Deno.test("bench wakeup takes its defaults and refuses rounds out of range", () => {
  assert.deepEqual(parseWakeupOptions({}), { modes: ["async", "block"], rounds: 2000, sliceMs: 2 });
  assert.equal(parseWakeupOptions({ rounds: "10", sliceMs: "5" }).sliceMs, 5);
  assert.throws(() => parseWakeupOptions({ rounds: "0" }), { code: "bad-option" });
  assert.throws(() => parseWakeupOptions({ rounds: "1e9" }), /--rounds must be an integer/);
});
