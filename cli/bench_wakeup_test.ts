import assert from "node:assert/strict";
import { formatWakeupOutput, parseWakeupOptions } from "./bench_wakeup.ts";

Deno.test("bench wakeup takes its defaults and refuses rounds out of range", () => {
  assert.deepEqual(parseWakeupOptions({}), {
    modes: ["async", "block"],
    rounds: 2000,
    sliceMs: 2,
    vsC: false,
  });
  assert.equal(parseWakeupOptions({ vsC: true }).vsC, true);
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

Deno.test("bench wakeup --vs-c gives each median against C's, and says why C did not run", () => {
  const options = parseWakeupOptions({ rounds: "10", vsC: true });
  const rows = [
    { mode: "block" as const, rounds: 9, medianUs: 60, p99Us: 90 },
    { mode: "c-futex" as const, rounds: 9, medianUs: 40, p99Us: 80 },
  ];
  const c = { ran: true as const, compiler: "cc" };
  const table = formatWakeupOutput(options, rows, false, c);
  assert.match(table, /^mode +rounds +median µs +p99 µs +×C$/m);
  assert.match(table, /^block +9 +60\.0 +90\.0 +1\.50$/m);
  assert.match(table, /^c-futex +9 +40\.0 +80\.0 +1\.00$/m);
  assert.deepEqual(JSON.parse(formatWakeupOutput(options, rows, true, c)), { options, rows, c });

  const skipped = { ran: false as const, reason: "no C compiler: `cc` is not on PATH" };
  const text = formatWakeupOutput(options, rows.slice(0, 1), false, skipped);
  assert.doesNotMatch(text, /×C/);
  assert.match(text, /\nC futex: not measured: no C compiler: `cc` is not on PATH$/);
  assert.deepEqual(JSON.parse(formatWakeupOutput(options, rows, true, skipped)).c, skipped);
});
