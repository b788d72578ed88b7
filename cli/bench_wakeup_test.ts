import assert from "node:assert/strict";
import { formatWakeupOutput, parseWakeupOptions } from "./bench_wakeup.ts";
import { vlabChildEnv, vlabRunArgs } from "./deno_run.ts";

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
  const cold = { lines: 256, points: [{ sleepUs: 10_000, rounds: 180, coldNs: 120, warmNs: 4 }] };
  const both = formatWakeupOutput(options, rows, false, c, cold);
  assert.ok(both.startsWith(`${table}\n\nmemory after a sleep`), both);
  assert.match(both, /^ +10 +180 +120\.0 +4\.0 +30\.0$/m);
  assert.deepEqual(JSON.parse(formatWakeupOutput(options, rows, true, c, cold)), {
    options,
    rows,
    c,
    cold,
  });

  const skipped = { ran: false as const, reason: "no C compiler: `cc` is not on PATH" };
  const text = formatWakeupOutput(options, rows.slice(0, 1), false, skipped);
  assert.doesNotMatch(text, /×C/);
  assert.match(text, /\nC futex: not measured: no C compiler: `cc` is not on PATH$/);
  assert.deepEqual(JSON.parse(formatWakeupOutput(options, rows, true, skipped)).c, skipped);
});

Deno.test("a C pair that fails is a bench-failed error: one line and a hint, exit code 1", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "vlab-fake-cc-" });
  try {
    // A "compiler" whose program prints nonsense instead of its round trips.
    const cc = `${dir}/cc`;
    Deno.writeTextFileSync(
      cc,
      '#!/bin/sh\nwhile [ "$1" != "-o" ]; do shift; done\n' +
        'printf \'#!/bin/sh\\necho nonsense\\n\' > "$2"\nchmod +x "$2"\n',
    );
    Deno.chmodSync(cc, 0o755);
    const out = await new Deno.Command(Deno.execPath(), {
      args: vlabRunArgs(["bench", "wakeup", "--vs-c", "--rounds", "20"]),
      env: vlabChildEnv({ CC: cc, NO_COLOR: "1" }),
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n");
    assert.equal(out.code, 1);
    assert.equal(
      stderr[0],
      'vlab: Cannot run bench wakeup: C futex: unexpected output "nonsense\\n"',
    );
    assert.match(stderr[1], /^hint: .*without --vs-c to leave the C pair out/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
