/**
 * Units in topology files: sizes (`"16MiB"`), durations (`"10ms"`), percentages (`"1%"`) and
 * rates (`"100mbit"`), in the vocabulary of netem. Each parser takes the YAML value as written
 * (a string or a number) and returns a `Result`; it never throws.
 *
 * @module
 */

import { err, ok, type Result } from "../../devices/base/result.ts";

/**
 * Why a value with a unit could not be read. An out-of-range error carries the range as numbers
 * (in the unit the parser returns) and as text in the file's units (`"0 and 60s"`), and
 * `negative` when the value is below 0 (`"-1ms"`, `-5`), which reads better said so. A number
 * YAML reads as infinite or NaN (`1e400`, `.inf`, `.nan`) is out of range too.
 */
export type UnitError =
  | { kind: "bad-unit"; input: string; expected: string; hint: string }
  | {
    kind: "out-of-range";
    input: string;
    min: number;
    max: number;
    range: string;
    negative?: boolean;
  };

/** Longest delay or jitter, µs: a minute (netem's own limit is about 71 minutes). */
export const DURATION_MAX_US = 60_000_000;
/** Slowest and fastest rate limit, bit/s (0 means unlimited and is always allowed). */
export const RATE_RANGE = { min: 1_000, max: 100_000_000_000 } as const;
/** Largest size, bytes: sizes beyond this cannot be counted exactly. */
export const SIZE_MAX = Number.MAX_SAFE_INTEGER;
/** Digits a number in a unit value may have at most (keeps 400-digit inputs out). */
const MAX_DIGITS = 24;

const NUMBER = String.raw`(\d+(?:\.\d+)?)`;
/** The minus of a negative value, read so that it is told as such (`"-1ms"`: not negative). */
const SIGN = "(-?)";
const SIZE_RE = new RegExp(`^${SIGN}${NUMBER}\\s*(B|KiB|MiB|GiB)?$`);
const DURATION_RE = new RegExp(`^${SIGN}${NUMBER}\\s*(us|µs|ms|s)$`);
const PERCENT_RE = new RegExp(`^${SIGN}${NUMBER}\\s*%$`);
const RATE_RE = new RegExp(`^${SIGN}${NUMBER}\\s*(bit|kbit|mbit|gbit)$`);
/** A number without its unit, where a duration or a rate needs one. */
const BARE_NUMBER = new RegExp(`^${NUMBER}$`);

const SIZE_FACTOR: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
/**
 * The duration units, tc's: no `m`. tc has none, and a link duration is at most a minute, so
 * `"1m"` is far likelier `"1ms"` mistyped than a minute of delay (a drill's `wait: 2m` is minutes).
 */
const DURATION_FACTOR: Record<string, number> = { us: 1, "µs": 1, ms: 1000, s: 1_000_000 };
const RATE_FACTOR: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

/** A number as the parsers read it, and the whitespace they trim around a value. */
const NUM = String.raw`\d+(?:\.\d+)?`;
/** A value's minus, which the parsers read (to say it must not be negative). */
const NEG = "-?";
const WS = String.raw`\s*`;
const unitsOf = (factors: Record<string, number>) => Object.keys(factors).join("|");

/**
 * JSON Schema patterns (ECMAScript regular expressions) of the strings each parser can read: the
 * same spelling, with the whitespace it trims. What they leave to the parsers is the range of a
 * value written in a unit (`"61s"`, `"3GiB"`, `"150%"`) and whether a size's fraction comes to
 * whole bytes (`"1.0001KiB"`). `vlab schema` puts them in the editors' schema;
 * `schema_units_test.ts` checks them against the parsers.
 *
 * @example
 * ```ts
 * import { UNIT_PATTERNS } from "./units.ts";
 * new RegExp(UNIT_PATTERNS.rate, "u").test("100mbps"); // false
 * ```
 */
export const UNIT_PATTERNS = {
  // A fraction needs a unit ("1.5MiB"); whether it comes to whole bytes is the parser's.
  size: `^${WS}${NEG}(?:${NUM}${WS}(?:${
    Object.keys(SIZE_FACTOR).filter((u) => u !== "B").join("|")
  })|\\d+${WS}B?)${WS}$`,
  duration: `^0$|^${WS}${NEG}${NUM}${WS}(?:${unitsOf(DURATION_FACTOR)})${WS}$`,
  percent: `^${WS}${NEG}${NUM}${WS}%${WS}$`,
  rate: `^0$|^${WS}${NEG}${NUM}${WS}(?:${unitsOf(RATE_FACTOR)})${WS}$`,
  /** 1 to `max` percentages separated by spaces or commas (`parsePercentList`). */
  percentList: (max: number): string =>
    `^[\\s,]*${NEG}${NUM}%(?:[\\s,]+${NEG}${NUM}%){0,${max - 1}}[\\s,]*$`,
} as const;

/** Longest text `parsePercentList` reads, characters. */
export const PERCENT_LIST_MAX_LENGTH = 200;

function show(value: string | number): string {
  return typeof value === "number" ? String(value) : value;
}

function tooLong(value: string): boolean {
  return value.replace(/[^0-9]/g, "").length > MAX_DIGITS;
}

/**
 * The hint for a number written without its unit (`10`, `"1.5"`): the same number with each
 * unit (`write a duration with its unit: "10ms", "10us" or "10s"`). Null for a number that is not
 * plain digits (negative, `1e+300`) or too long to repeat.
 */
function withUnits(value: string | number, what: string, units: readonly string[]): string | null {
  const n = show(value).trim();
  if (!BARE_NUMBER.test(n) || tooLong(n)) return null;
  const written = units.map((u) => `"${n}${u}"`);
  return `write ${what} with its unit: ${written.slice(0, -1).join(", ")} or ${written.at(-1)}`;
}

/** Other spellings of the duration units, as people write them (`10msec`, `2 seconds`). */
const DURATION_ALIASES: ReadonlyMap<string, string> = new Map([
  ["msec", "ms"],
  ["msecs", "ms"],
  ["millisecond", "ms"],
  ["milliseconds", "ms"],
  ["usec", "us"],
  ["usecs", "us"],
  ["microsecond", "us"],
  ["microseconds", "us"],
  ["sec", "s"],
  ["secs", "s"],
  ["second", "s"],
  ["seconds", "s"],
]);

/** Minutes, as a drill's durations write them: no unit of a link's (netem's) durations. */
const MINUTES = new RegExp(`^${NUMBER}\\s*(m|min|mins|minute|minutes)$`, "i");

/**
 * The hint for a link duration in minutes (`"1m"`, `"0.5 min"`): the same in seconds if that is
 * in range, and in milliseconds, which `m` may have meant. Null for any other unit.
 */
function minutesHint(value: string): string | null {
  const m = MINUTES.exec(value.trim());
  if (m === null || tooLong(m[1])) return null;
  const seconds = Number((Number(m[1]) * 60).toFixed(6)); // 0.1m: 6s, not 6.000000000000001s
  const inSeconds = seconds <= DURATION_MAX_US / 1_000_000 ? `"${seconds}s" or ` : "";
  return `write ${inSeconds}"${
    m[1]
  }ms" (link durations take us, ms or s, as tc does; m is no unit of theirs)`;
}

/** Other spellings of the rate units: per second written out (`100mbit/s`). */
const RATE_ALIASES: ReadonlyMap<string, string> = new Map([
  ["bit/s", "bit"],
  ["kbit/s", "kbit"],
  ["mbit/s", "mbit"],
  ["gbit/s", "gbit"],
]);

/**
 * The hint for a duration or rate whose unit is right but for its case (`"10MS"`, `"100Mbit"`),
 * or is another spelling of one (`"10msec"`, `"2 seconds"`, `"100Mbit/s"`): the value with the
 * unit as tc writes it. Null for any other mistake.
 */
function lowerCaseUnit(
  value: string,
  factors: Record<string, number>,
  aliases: ReadonlyMap<string, string> = new Map(),
): string | null {
  const m = new RegExp(`^${NUMBER}\\s*(\\S+)$`).exec(value.trim());
  if (m === null) return null;
  const unit = m[2].toLowerCase();
  const alias = aliases.get(unit);
  if (alias !== undefined) return `write "${m[1]}${alias}" (the unit is written ${alias})`;
  if (m[2] === unit) return null;
  return Object.hasOwn(factors, unit) ? `write "${m[1]}${unit}" (units are lower case)` : null;
}

function outOfRange(input: string | number, min: number, max: number, range: string): UnitError {
  return { kind: "out-of-range", input: show(input), min, max, range };
}

/** `outOfRange` for a value below 0: said so (`must not be negative`). */
function negative(input: string | number, min: number, max: number, range: string): UnitError {
  return { kind: "out-of-range", input: show(input), min, max, range, negative: true };
}

/**
 * A number YAML read that no unit can make right, or null: infinite or NaN (`1e400`, `.inf`,
 * `.nan`) is out of range, a negative one is told so.
 */
function badNumber(value: number, min: number, max: number, range: string): UnitError | null {
  if (Number.isNaN(value) || value === Infinity) return outOfRange(value, min, max, range);
  return value < 0 ? negative(value, min, max, range) : null;
}

/**
 * Read a size in bytes: `"16MiB"`, `"1GiB"`, `"512KiB"`, `"65536"` or a number of bytes.
 *
 * @example
 * ```ts
 * import { parseSize } from "./units.ts";
 * parseSize("16MiB"); // { ok: true, value: 16777216 }
 * ```
 */
export function parseSize(value: string | number): Result<number, UnitError> {
  const hint = 'write a size such as "16MiB", "1GiB" or a number of bytes';
  const range = "0 and 8PiB";
  if (typeof value === "number") {
    const bad = badNumber(value, 0, SIZE_MAX, range);
    if (bad !== null) return err(bad);
    if (Number.isInteger(value) && value > SIZE_MAX) {
      return err(outOfRange(value, 0, SIZE_MAX, range));
    }
    return Number.isInteger(value) && value >= 0
      ? ok(value)
      : err({ kind: "bad-unit", input: show(value), expected: "a size", hint });
  }
  if (tooLong(value)) return err(outOfRange(value, 0, SIZE_MAX, range));
  const m = SIZE_RE.exec(value.trim());
  if (m === null) {
    // "16MB" (decimal) or "16mib" (the case): the binary unit it is closest to.
    const near = /^(\d+(?:\.\d+)?)\s*([KMG])(i?)B?$/i.exec(value.trim());
    const better = near
      ? `write "${near[1]}${near[2].toUpperCase()}iB"${near[3] === "" ? " (sizes are binary)" : ""}`
      : hint;
    return err({ kind: "bad-unit", input: value, expected: "a size", hint: better });
  }
  const bytes = Number(m[2]) * SIZE_FACTOR[m[3] ?? "B"];
  if (bytes > SIZE_MAX) return err(outOfRange(value, 0, SIZE_MAX, range));
  // A fraction needs a unit that makes it whole bytes ("1.5KiB"); "2.0" bytes is no spelling.
  const fraction = m[2].includes(".") && (m[3] ?? "B") === "B";
  if (fraction || !Number.isInteger(bytes)) {
    return err({ kind: "bad-unit", input: value, expected: "a whole number of bytes", hint });
  }
  if (m[1] === "-" && bytes > 0) return err(negative(value, 0, SIZE_MAX, range));
  return ok(bytes + 0); // -0 is 0
}

/**
 * A byte count in the largest binary unit that divides it exactly (`"16MiB"`, `"16388KiB"`), or
 * the plain number of bytes: a size written back the way a topology file would write it.
 *
 * @example
 * ```ts
 * import { formatSize } from "./units.ts";
 * formatSize(16781312); // "16388KiB"
 * ```
 */
export function formatSize(bytes: number): string {
  for (const unit of ["GiB", "MiB", "KiB"]) {
    const factor = SIZE_FACTOR[unit];
    if (bytes !== 0 && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

/**
 * Read a duration in microseconds: `"250us"`, `"10ms"`, `"1s"`, `"0"` or `0`, at most a minute
 * ({@linkcode DURATION_MAX_US}). Fractions are rounded to the nearest microsecond. Minutes
 * (`"1m"`) are refused, as tc refuses them, with a hint to write seconds or milliseconds.
 *
 * @example
 * ```ts
 * import { parseDuration } from "./units.ts";
 * parseDuration("1.5ms"); // { ok: true, value: 1500 }
 * ```
 */
export function parseDuration(value: string | number): Result<number, UnitError> {
  const hint = 'write a duration such as "10ms", "250us" or "1s"';
  const range = "0 and 60s";
  if (value === 0 || value === "0") return ok(0);
  if (typeof value === "number") {
    const bad = badNumber(value, 0, DURATION_MAX_US, range);
    if (bad !== null) return err(bad);
  }
  if (typeof value === "number" || BARE_NUMBER.test(value.trim())) {
    const n = withUnits(value, "a duration", ["ms", "us", "s"]) ?? hint;
    return err({
      kind: "bad-unit",
      input: show(value),
      expected: "a duration with a unit",
      hint: n,
    });
  }
  if (tooLong(value)) return err(outOfRange(value, 0, DURATION_MAX_US, range));
  const m = DURATION_RE.exec(value.trim());
  if (m === null) {
    const better = minutesHint(value) ??
      lowerCaseUnit(value, DURATION_FACTOR, DURATION_ALIASES) ?? hint;
    return err({ kind: "bad-unit", input: value, expected: "a duration", hint: better });
  }
  const us = Math.round(Number(m[2]) * DURATION_FACTOR[m[3]]);
  // "-0ms" is 0; "-1ms" is no delay netem takes (tc's negative jitter is its absolute value).
  if (m[1] === "-" && Number(m[2]) > 0) return err(negative(value, 0, DURATION_MAX_US, range));
  if (!(us <= DURATION_MAX_US)) return err(outOfRange(value, 0, DURATION_MAX_US, range));
  return ok(us + 0);
}

/**
 * Read a percentage 0..100: `"1%"`, `"0.5%"`, or a plain number read as percent.
 *
 * @example
 * ```ts
 * import { parsePercent } from "./units.ts";
 * parsePercent("0.5%"); // { ok: true, value: 0.5 }
 * ```
 */
export function parsePercent(value: string | number): Result<number, UnitError> {
  let pct: number;
  if (typeof value === "number") {
    const bad = badNumber(value, 0, 100, "0% and 100%");
    if (bad !== null) return err(bad);
    pct = value;
  } else {
    if (tooLong(value)) return err(outOfRange(value, 0, 100, "0% and 100%"));
    const m = PERCENT_RE.exec(value.trim());
    if (m === null) {
      return err({
        kind: "bad-unit",
        input: value,
        expected: "a percentage",
        hint: 'write a percentage such as "1%" or "0.5%"',
      });
    }
    pct = Number(m[2]);
    if (m[1] === "-" && pct > 0) return err(negative(value, 0, 100, "0% and 100%"));
  }
  if (!Number.isFinite(pct) || pct < 0 || pct > 100) {
    return err(outOfRange(value, 0, 100, "0% and 100%"));
  }
  return ok(pct + 0);
}

/**
 * Read a rate in bits per second: `"512kbit"`, `"100mbit"`, `"1gbit"`; `"0"`, `0` or zero in
 * any unit (`"0mbit"`) means unlimited. Units are decimal (1kbit = 1000 bit/s), as in netem. A
 * limit is between 1kbit (a full frame every 12 s) and 100gbit ({@linkcode RATE_RANGE}).
 *
 * @example
 * ```ts
 * import { parseRate } from "./units.ts";
 * parseRate("100mbit"); // { ok: true, value: 100000000 }
 * ```
 */
export function parseRate(value: string | number): Result<number, UnitError> {
  if (value === 0 || value === "0") return ok(0);
  const input = show(value);
  const bytesUnit = typeof value === "string" && /^\d+(\.\d+)?\s*[kmg]?bps$/i.test(value.trim());
  const hint = bytesUnit
    ? 'write bits per second such as "100mbit" (in netem "bps" means bytes per second)'
    : 'write a rate such as "512kbit", "100mbit" or "1gbit"';
  const range = "1kbit and 100gbit (or 0, unlimited)";
  if (typeof value === "number") {
    const bad = badNumber(value, RATE_RANGE.min, RATE_RANGE.max, range);
    if (bad !== null) return err(bad);
  }
  if (typeof value === "number" || BARE_NUMBER.test(value.trim())) {
    const better = withUnits(value, "a rate", ["kbit", "mbit", "gbit"]) ?? hint;
    return err({ kind: "bad-unit", input, expected: "a rate with a unit", hint: better });
  }
  if (tooLong(value)) return err(outOfRange(value, RATE_RANGE.min, RATE_RANGE.max, range));
  const m = RATE_RE.exec(value.trim());
  if (m === null) {
    const better = lowerCaseUnit(value, RATE_FACTOR, RATE_ALIASES) ?? hint;
    return err({ kind: "bad-unit", input, expected: "a rate", hint: better });
  }
  // Zero in any unit is unlimited, as "0" is (the range says "or 0"); a tiny rate is not zero.
  if (Number(m[2]) === 0) return ok(0);
  if (m[1] === "-") return err(negative(value, RATE_RANGE.min, RATE_RANGE.max, range));
  const bps = Math.round(Number(m[2]) * RATE_FACTOR[m[3]]);
  if (!(bps >= RATE_RANGE.min && bps <= RATE_RANGE.max)) {
    return err(outOfRange(value, RATE_RANGE.min, RATE_RANGE.max, range));
  }
  return ok(bps);
}

/**
 * Read 1 to `max` percentages separated by spaces or commas (`"1% 30% 5%"`), as netem's loss
 * models take them; a single number is one percentage.
 *
 * @example
 * ```ts
 * import { parsePercentList } from "./units.ts";
 * parsePercentList("1% 30%", 5); // { ok: true, value: [1, 30] }
 * ```
 */
export function parsePercentList(value: string | number, max: number): Result<number[], UnitError> {
  if (typeof value === "number") {
    const r = parsePercent(value);
    return r.ok ? ok([r.value]) : r;
  }
  if (value.length > PERCENT_LIST_MAX_LENGTH) {
    return err({
      kind: "bad-unit",
      input: value,
      expected: `1 to ${max} percentages`,
      hint: 'write percentages separated by spaces, e.g. "1% 30%"',
    });
  }
  const parts = value.trim().split(/[\s,]+/).filter((p) => p !== "");
  if (parts.length === 0 || parts.length > max) {
    return err({
      kind: "bad-unit",
      input: value,
      expected: `1 to ${max} percentages`,
      hint: 'write percentages separated by spaces, e.g. "1% 30%"',
    });
  }
  const out: number[] = [];
  for (const p of parts) {
    const r = parsePercent(p);
    if (!r.ok) return r.error.kind === "bad-unit" ? err({ ...r.error, input: value }) : r;
    out.push(r.value);
  }
  return ok(out);
}
