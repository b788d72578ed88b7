import assert from "node:assert/strict";
import { formatWakeupOutput, parseWakeupOptions } from "./bench_wakeup.ts";

Deno.test("bench wakeup takes its defaults and refuses rounds out of range", () => {
  assert.deepEqual(parseWakeupOptions({}), { modes: ["async", "block"], rounds: 2000, sliceMs: 2 });
  assert.equal(parseWakeupOptions({ rounds: "10", sliceMs: "5" }).sliceMs, 5);
  assert.throws(() => parseWakeupOptions({ rounds: "0" }), { code: "bad-option" });
  assert.throws(() => parseWakeupOptions({ rounds: "1e9" }), /--rounds must be an integer/);
});

Deno.test("bench wakeup --json gives every figure of the table, with the options", () => {
  const options = parseWakeupOptions({ rounds: "10" });
  const rows = [
    { mode: "async" as const, rounds: 9, medianUs: 41.25, p99Us: 90.5 },
    { mode: "block" as const, rounds: 9, medianUs: 12.5, p99Us: 30 },
  ];
  const json = JSON.parse(formatWakeupOutput(options, rows, true));
  assert.deepEqual(json, { options, rows });
  const table = formatWakeupOutput(options, rows, false);
  assert.match(table, /^async +9 +41\.3 +90\.5$/m);
});
