/**
 * Integer and seconds options, one way for every command: decimal digits only (no sign, no `0x`,
 * no exponent, no blanks: `Number()` would take `""` as 0 and `"1e3"` as 1000), within bounds,
 * and an option that takes one value refuses a list instead of keeping its first item. A bad
 * value is a usage error (`bad-option`) naming the option, with an example as the hint.
 *
 * @module
 */

import { quote } from "../devices/base/quote.ts";
import { VlabError } from "./errors.ts";
import { parseDuration } from "../lab/topology/units.ts";

/**
 * The bounds of an integer option, `[min, max]`: one constant feeds both the option's help
 * (`rangeText`) and its parser (`intOption`), so the two cannot drift apart.
 */
export type IntRange = readonly [min: number, max: number];

/**
 * An integer option's bounds as its help says them: `"1 to 60"`.
 *
 * @example
 * ```ts
 * import { rangeText } from "./int_option.ts";
 * rangeText([1, 60]); // "1 to 60"
 * ```
 */
export function rangeText(range: IntRange): string {
  return `${range[0]} to ${range[1]}`;
}

/** The largest value these parsers accept (exact in a double). */
const MAX_DIGITS = 15;

/** The integer `text` writes in decimal digits, or undefined. */
function digits(text: string): number | undefined {
  if (!new RegExp(`^[0-9]{1,${MAX_DIGITS}}$`).test(text)) return undefined;
  return Number(text);
}

/**
 * One integer from `min` to `max`.
 *
 * @example
 * ```ts
 * import { intOption } from "./int_option.ts";
 * intOption("--runs", "5", 1, 50); // 5
 * // intOption("--runs", "5,6", 1, 50) throws: --runs must be an integer from 1 to 50, got "5,6"
 * ```
 */
export function intOption(
  option: string,
  text: string,
  min: number,
  max: number,
  example = String(min),
): number {
  const n = digits(text);
  if (n === undefined || n < min || n > max) {
    // An option in milliseconds given a duration with its unit (`--ms 2s`): the number it means.
    const us = n === undefined && /(^|-)ms$/.test(option) ? parseDuration(text) : null;
    const meant = us?.ok === true && us.value % 1000 === 0 ? us.value / 1000 : null;
    throw new VlabError(
      "bad-option",
      `${option} must be an integer from ${min} to ${max}, got ${quote(text)}`,
      {
        hint: meant !== null && meant >= min && meant <= max
          ? `${option} takes milliseconds, without a unit: ${option} ${meant}`
          : `For example ${option} ${example}`,
      },
    );
  }
  return n;
}

/**
 * A comma list of integers from `min` to `max` (blanks around items allowed), in the order given.
 *
 * @example
 * ```ts
 * import { intListOption } from "./int_option.ts";
 * intListOption("--sizes", "64, 1500", 60, 1514); // [64, 1500]
 * ```
 */
export function intListOption(
  option: string,
  text: string,
  min: number,
  max: number,
  example = `${min},${max}`,
): number[] {
  const values = text.split(",").map((s) => digits(s.trim()));
  if (values.some((v) => v === undefined || v < min || v > max)) {
    throw new VlabError(
      "bad-option",
      `${option} must be a comma list of integers from ${min} to ${max}, got ${quote(text)}`,
      { hint: `For example ${option} ${example}` },
    );
  }
  return values as number[];
}

/**
 * A number of seconds from `min` to `max`, written as decimal digits with an optional fraction
 * (`5`, `0.5`; not `1e1`, `0x5` or `.5`).
 *
 * @example
 * ```ts
 * import { secondsOption } from "./int_option.ts";
 * secondsOption("--timeout", "0.5", 0.01, 60); // 0.5
 * ```
 */
export function secondsOption(
  option: string,
  text: string,
  min: number,
  max: number,
  example = "1",
): number {
  // Any number of decimals: "1.0000000001" is a number of seconds in range, refused before.
  const ok = /^[0-9]{1,9}(\.[0-9]+)?$/.test(text);
  const v = Number(text);
  if (!ok || v < min || v > max) {
    throw new VlabError(
      "bad-option",
      `${option} must be a number of seconds from ${min} to ${max}, got ${quote(text)}`,
      { hint: `For example ${option} ${example}` },
    );
  }
  return v;
}
