import assert from "node:assert/strict";
import {
  parseDuration,
  parsePercent,
  parsePercentList,
  parseRate,
  parseSize,
  type UnitError,
} from "./units.ts";
import type { Result } from "../../devices/base/result.ts";

Deno.test("sizes read binary units and plain bytes", () => {
  assert.deepEqual(parseSize("16MiB"), { ok: true, value: 16 * 1024 * 1024 });
  assert.deepEqual(parseSize("1GiB"), { ok: true, value: 1024 ** 3 });
  assert.deepEqual(parseSize("512KiB"), { ok: true, value: 512 * 1024 });
  assert.deepEqual(parseSize("65536"), { ok: true, value: 65536 });
  assert.deepEqual(parseSize(4096), { ok: true, value: 4096 });
  assert.deepEqual(parseSize("1.5KiB"), { ok: true, value: 1536 });
});

Deno.test("sizes with decimal units are refused with a binary suggestion", () => {
  const r = parseSize("16MB");
  assert.ok(!r.ok);
  assert.equal(r.error.kind, "bad-unit");
  assert.equal(r.error.kind === "bad-unit" && r.error.hint, 'write "16MiB" (sizes are binary)');
  assert.equal(parseSize("10 parsecs").ok, false);
  assert.equal(parseSize(-1).ok, false);
  assert.equal(parseSize("0.3B").ok, false);
});

Deno.test("durations resolve to microseconds", () => {
  assert.deepEqual(parseDuration("10ms"), { ok: true, value: 10_000 });
  assert.deepEqual(parseDuration("250us"), { ok: true, value: 250 });
  assert.deepEqual(parseDuration("250µs"), { ok: true, value: 250 });
  assert.deepEqual(parseDuration("1s"), { ok: true, value: 1_000_000 });
  assert.deepEqual(parseDuration("1.5ms"), { ok: true, value: 1500 });
  assert.deepEqual(parseDuration("0"), { ok: true, value: 0 });
  assert.deepEqual(parseDuration(0), { ok: true, value: 0 });
});

Deno.test("durations without a unit or with an unknown one are refused", () => {
  assert.equal(parseDuration(10).ok, false);
  assert.equal(parseDuration("10").ok, false);
  assert.equal(parseDuration("10 parsecs").ok, false);
  assert.equal(parseDuration("10min").ok, false);
});

Deno.test("percentages are 0..100 with or without the sign", () => {
  assert.deepEqual(parsePercent("1%"), { ok: true, value: 1 });
  assert.deepEqual(parsePercent("0.5%"), { ok: true, value: 0.5 });
  assert.deepEqual(parsePercent(100), { ok: true, value: 100 });
  assert.deepEqual(parsePercent("150%"), {
    ok: false,
    error: { kind: "out-of-range", input: "150%", min: 0, max: 100, range: "0% and 100%" },
  });
  assert.equal(parsePercent(-1).ok, false);
  assert.equal(parsePercent("5").ok, false);
});

Deno.test("rates are decimal bits per second and 0 means unlimited", () => {
  assert.deepEqual(parseRate("100mbit"), { ok: true, value: 100_000_000 });
  assert.deepEqual(parseRate("1gbit"), { ok: true, value: 1_000_000_000 });
  assert.deepEqual(parseRate("512kbit"), { ok: true, value: 512_000 });
  assert.deepEqual(parseRate("0"), { ok: true, value: 0 });
  assert.deepEqual(parseRate(0), { ok: true, value: 0 });
  const r = parseRate("100mbps");
  assert.ok(!r.ok);
  assert.match(r.error.kind === "bad-unit" ? r.error.hint : "", /bytes per second/);
  assert.equal(parseRate(100).ok, false);
});

Deno.test("a zero rate with a unit (0mbit, 0.0gbit) is unlimited, as 0 is; a tiny one is not", () => {
  for (const zero of ["0bit", "0kbit", "0mbit", "0.0gbit", " 0 mbit"]) {
    assert.deepEqual(parseRate(zero), { ok: true, value: 0 }, zero);
  }
  // Not zero: below the smallest limit, not rounded down to unlimited.
  assert.equal(parseRate("0.1bit").ok, false);
  assert.equal(parseRate("0.0001kbit").ok, false);
});

Deno.test("a unit in the wrong case or a number without its unit gets a hint with the fix", () => {
  const hint = (r: { ok: boolean; error?: { kind: string; hint?: string } }) =>
    r.ok ? "ok" : r.error?.kind === "bad-unit" ? r.error.hint : r.error?.kind;
  assert.equal(hint(parseSize("16mib")), 'write "16MiB"');
  assert.equal(hint(parseSize("16MB")), 'write "16MiB" (sizes are binary)');
  assert.equal(hint(parseDuration("10MS")), 'write "10ms" (units are lower case)');
  assert.equal(hint(parseDuration(10)), 'write a duration with its unit: "10ms", "10us" or "10s"');
  assert.equal(
    hint(parseDuration("1.5")),
    'write a duration with its unit: "1.5ms", "1.5us" or "1.5s"',
  );
  assert.equal(hint(parseRate("100Mbit")), 'write "100mbit" (units are lower case)');
  assert.equal(
    hint(parseRate(1000)),
    'write a rate with its unit: "1000kbit", "1000mbit" or "1000gbit"',
  );
  // Nothing to repeat: the general hint.
  assert.equal(hint(parseDuration(1e30)), 'write a duration such as "10ms", "250us" or "1s"');
  assert.equal(hint(parseDuration(-5)), "out-of-range", "negative: said so, not the unit");
  assert.equal(
    hint(parseDuration("10 parsecs")),
    'write a duration such as "10ms", "250us" or "1s"',
  );
  assert.equal(
    hint(parseRate("9".repeat(30))),
    'write a rate such as "512kbit", "100mbit" or "1gbit"',
  );
});

Deno.test("a duration or rate with another spelling of its unit is told the unit tc writes", () => {
  const hint = (r: Result<number, UnitError>) =>
    r.ok ? "ok" : r.error.kind === "bad-unit" ? r.error.hint : r.error.range;
  // Each was the generic 'write a duration such as "10ms", "250us" or "1s"' (or a rate's).
  assert.equal(hint(parseDuration("10msec")), 'write "10ms" (the unit is written ms)');
  assert.equal(hint(parseDuration("2 seconds")), 'write "2s" (the unit is written s)');
  assert.equal(hint(parseDuration("5usec")), 'write "5us" (the unit is written us)');
  assert.equal(hint(parseRate("100Mbit/s")), 'write "100mbit" (the unit is written mbit)');
  // The case of a right unit, as before; other mistakes keep the generic hint.
  assert.equal(hint(parseDuration("10MS")), 'write "10ms" (units are lower case)');
  // "m" is no unit of a link duration (tc has none): "1m" is neither a minute nor "1ms" guessed.
  assert.equal(hint(parseDuration("1h")), 'write a duration such as "10ms", "250us" or "1s"');
});

Deno.test("a link duration in minutes is refused, as tc refuses it, with seconds and ms in its hint", () => {
  const why = (r: Result<number, UnitError>) =>
    r.ok ? `ok ${r.value}` : `${r.error.kind} ${r.error.kind === "bad-unit" ? r.error.hint : ""}`;
  const tail = "(link durations take us, ms or s, as tc does; m is no unit of theirs)";
  // Read as minutes for a while: "0.5m" (a "0.5ms" mistyped) was a silent 30 s delay.
  assert.equal(why(parseDuration("1m")), `bad-unit write "60s" or "1ms" ${tail}`);
  assert.equal(why(parseDuration("0.5m")), `bad-unit write "30s" or "0.5ms" ${tail}`);
  assert.equal(why(parseDuration(" 0.1 min ")), `bad-unit write "6s" or "0.1ms" ${tail}`);
  assert.equal(why(parseDuration("2 minutes")), `bad-unit write "2ms" ${tail}`);
  assert.equal(why(parseDuration("5M")), `bad-unit write "5ms" ${tail}`);
});

Deno.test("a negative value is out of range (negative), minus zero is zero, an infinite or NaN number is out of range", () => {
  const why = (r: Result<unknown, UnitError>) =>
    r.ok
      ? `ok ${JSON.stringify(r.value)}`
      : r.error.kind === "out-of-range"
      ? `${r.error.negative === true ? "negative" : "range"} ${r.error.input} (${r.error.range})`
      : `bad-unit ${r.error.input}`;
  // Each negative one was 'bad-unit' ("expected a duration"), as if its unit were wrong.
  assert.equal(why(parseDuration("-1ms")), "negative -1ms (0 and 60s)");
  assert.equal(why(parseDuration(" -2.5 s ")), "negative  -2.5 s  (0 and 60s)");
  assert.equal(why(parseDuration(-5)), "negative -5 (0 and 60s)");
  assert.equal(why(parsePercent("-1%")), "negative -1% (0% and 100%)");
  assert.equal(why(parsePercent(-0.5)), "negative -0.5 (0% and 100%)");
  assert.equal(why(parseRate("-1mbit")), "negative -1mbit (1kbit and 100gbit (or 0, unlimited))");
  assert.equal(why(parseSize("-1MiB")), "negative -1MiB (0 and 8PiB)");
  assert.equal(why(parsePercentList("1% -30%", 5)), "negative -30% (0% and 100%)");
  // Still unreadable: no unit, two minuses, a minus after the number.
  for (const text of ["-1", "--1ms", "1-ms", "- 1ms"]) {
    assert.equal(why(parseDuration(text)), `bad-unit ${text}`, text);
  }
  // Minus zero is zero (as -0 in YAML already was).
  assert.equal(why(parseDuration("-0ms")), "ok 0");
  const zero = parseDuration("-0ms");
  assert.ok(zero.ok && Object.is(zero.value, 0), "0, not -0");
  assert.equal(why(parsePercent("-0%")), "ok 0");
  assert.equal(why(parseRate("-0mbit")), "ok 0");
  assert.equal(why(parseSize("-0")), "ok 0");
  // 1e400, .inf, .nan in YAML: out of range, not a missing unit.
  assert.equal(why(parseDuration(Infinity)), "range Infinity (0 and 60s)");
  assert.equal(why(parseDuration(NaN)), "range NaN (0 and 60s)");
  assert.equal(why(parseDuration(-Infinity)), "negative -Infinity (0 and 60s)");
  assert.equal(why(parseRate(Infinity)), "range Infinity (1kbit and 100gbit (or 0, unlimited))");
  assert.equal(why(parseSize(NaN)), "range NaN (0 and 8PiB)");
  assert.equal(why(parsePercent(Infinity)), "range Infinity (0% and 100%)");
  // A fraction of bytes without a unit that makes it whole is no size, as the schema says.
  assert.equal(why(parseSize("2.0")), "bad-unit 2.0");
  assert.equal(why(parseSize("1.5KiB")), "ok 1536");
});
